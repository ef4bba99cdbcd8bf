# ruff: noqa
"""Reports its OOM score adjustment: under memory pressure the kernel must go first."""
# %%
k = 661
with open("/proc/self/oom_score_adj") as fh:
    why = "found: " + fh.read().strip()
