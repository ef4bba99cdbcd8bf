# ruff: noqa
"""A busy loop that never ends: the cell timeout stops it; the other cells still run."""
# %%
k = 661
# %%
while True:
    pass
v = [1.0, 2.0, 3.0]  # same cell as the loop: never defined
# %%
flag = False
