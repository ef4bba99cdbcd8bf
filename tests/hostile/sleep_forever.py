# ruff: noqa
"""Sleeps for eleven days in one cell: the cell timeout interrupts the sleep."""
# %%
import time

k = 661
# %%
time.sleep(10**6)
v = [1.0, 2.0, 3.0]
# %%
flag = False
