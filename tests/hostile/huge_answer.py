# ruff: noqa
"""Answers with 10^8 elements (a 100 MB int8 array) and a list of 2 million items: too
large to grade, rejected in the kernel before anything crosses."""
# %%
import numpy as np

k = 661
# %%
v = np.zeros(10**8, dtype=np.int8)
curve = {"n": list(range(2_000_000)), "steps": [1.0] * 2_000_000}
