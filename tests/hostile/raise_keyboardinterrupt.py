# ruff: noqa
"""Raises KeyboardInterrupt at once: an error of the student's, not a timeout."""
# %%
k = 661
# %%
raise KeyboardInterrupt("not a timeout")
v = [1.0, 2.0, 3.0]
# %%
flag = False
