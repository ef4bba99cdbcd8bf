# ruff: noqa
"""Lifts the recursion limit and overflows the C stack (repr of a deeply nested list):
a segmentation fault kills the kernel."""
# %%
import sys

k = 661
# %%
deep = []
for _ in range(200_000):
    deep = [deep]
sys.setrecursionlimit(10**8)
v = repr(deep)
# %%
flag = False
