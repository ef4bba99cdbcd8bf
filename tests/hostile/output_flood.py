# ruff: noqa
"""Prints 50 MB as fast as it can: output is capped while it streams."""
# %%
import sys

k = 661
# %%
line = "x" * 999 + "\n"
for _ in range(50_000):
    sys.stdout.write(line)
v = [1.0, 2.0, 3.0]
# %%
flag = False
