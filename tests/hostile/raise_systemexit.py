# ruff: noqa
"""Raises SystemExit in a cell."""
# %%
k = 661
# %%
raise SystemExit(3)
v = [1.0, 2.0, 3.0]
# %%
flag = False
