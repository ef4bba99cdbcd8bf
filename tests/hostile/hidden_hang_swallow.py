# ruff: noqa
"""A function that hangs on a hidden input and swallows the per-call alarm and every
interrupt: only the whole-run deadline stops it. Answers harvested before still count."""
# %%
import time

import numpy as np

k = 661


def double(a):
    if len(np.atleast_1d(a)) == 0:
        while True:
            try:
                time.sleep(0.05)
            except BaseException:
                pass
    return 2 * np.asarray(a, dtype=float)
