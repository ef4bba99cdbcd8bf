# ruff: noqa
"""A function that is right on easy inputs and hangs forever on the empty list (one of the
hidden inputs): the per-call timeout stops that call; the other checks are graded."""
# %%
import numpy as np

k = 661


def double(a):
    if len(np.atleast_1d(a)) == 0:
        while True:
            pass
    return 2 * np.asarray(a, dtype=float)


def stats(a):
    a = np.asarray(a, dtype=float)
    return a.mean(), a.std()
