# ruff: noqa
"""Recursion 20000 frames deep: IPython needs far longer than the cell timeout to format
the RecursionError's traceback, so the timeout's interrupt lands in the formatting. The
report must still say what happened to the cell (a timeout, or the RecursionError)."""
# %%
import sys

k = 661


def down(n):
    return down(n + 1)
# %%
sys.setrecursionlimit(20_000)
v = down(0)
# %%
flag = False
