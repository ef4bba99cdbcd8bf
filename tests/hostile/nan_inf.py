# ruff: noqa
"""NaN and infinity everywhere: none of it may pass, and the report must still be valid
JSON (which has no NaN)."""
# %%
import math

import numpy as np

k = 661
# %%
flag = float("nan")
v = np.array([np.nan, np.inf, -np.inf])
curve = {"n": [1, 2, 4, 8, 16], "steps": [math.inf, math.nan, -math.inf, math.nan, 0.0]}


def double(a):
    return np.full(np.shape(a), np.nan)


def stats(a):
    return (math.inf, math.nan)
