# ruff: noqa
"""A wrong but legal array answer of 400 kB (50000 floats): well under the agent's size
limit, over the rubric's output limit. It must be graded (failed: wrong shape), and the
other answers with it."""
# %%
import numpy as np

k = 661
v = np.ones(50_000)
flag = False
