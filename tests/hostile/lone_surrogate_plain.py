# ruff: noqa
"""Strings holding half of a UTF-16 pair, sent with the kernel's own packer: the agent must
send them as U+FFFD, or the whole harvest (and the right answer ``k``) would be lost."""
# %%
k = 661
# %%
v = "half a pair: \ud800"
flag = {"\udfff": 1}
