# ruff: noqa
"""Seven answers of 60 MB each (lists of one 1 MB string, 60 times: the kernel holds 1 MB,
the wire 60 MB an answer), each under the 64 MB an answer may take. Together they made
the grader hold several times 420 MB. The submission's answers share max_answers_mb (128
MB): the first two fit, the others are too large to grade."""
# %%
k = 661
# %%
s = "x" * 1_000_000
v = [s] * 60
flag = [s] * 60
expr = [s] * 60
grad = [s] * 60
double = [s] * 60
stats = [s] * 60
curve = [s] * 60
