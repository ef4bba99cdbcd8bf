# ruff: noqa
"""Calls sys.exit() in a cell: IPython turns it into an error; the kernel lives on."""
# %%
import sys

k = 661
# %%
sys.exit("goodbye, grader")
v = [1.0, 2.0, 3.0]
# %%
flag = False
