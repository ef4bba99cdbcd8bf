# ruff: noqa
"""Deletes every name of the grader's from its namespace (and from sys.modules) before the
harvest. The submission can only hurt itself: its answers must still be read."""
# %%
k = 661
# %%
import sys

for name in [n for n in globals() if n.startswith("_grader")]:
    del globals()[name]
for name in [n for n in sys.modules if "grader" in n]:
    del sys.modules[name]
flag = False
