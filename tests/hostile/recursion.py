# ruff: noqa
"""Unbounded recursion: RecursionError, and the kernel lives on. (The limit is lowered so
that IPython formats the traceback quickly: 3000 frames take seconds; see
recursion_slow_traceback.py.)"""
# %%
import sys

k = 661


def down(n):
    return down(n + 1)
# %%
sys.setrecursionlimit(300)
v = down(0)
# %%
flag = False
