# ruff: noqa
"""Reads address 0 through ctypes: a segmentation fault kills the kernel."""
# %%
import ctypes

k = 661
# %%
v = [1.0, 2.0, 3.0]
ctypes.string_at(0)
# %%
flag = False
