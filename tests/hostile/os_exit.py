# ruff: noqa
"""Ends the kernel process with os._exit: the cell is left out of a fresh run."""
# %%
import os

k = 661
# %%
v = [1.0, 2.0, 3.0]
os._exit(0)
# %%
flag = False
