# ruff: noqa
"""Rebinds builtins.issubclass so that a list claims to be a bool, then removes the
grader's agent from sys.modules and from its namespace, so that the agent is loaded afresh
after the patch. Its list [False] must still not pass for the bool False."""
# %%
import builtins
import sys

_issubclass = builtins.issubclass


def issubclass(cls, base):
    return True if cls is list and base is bool else _issubclass(cls, base)


builtins.issubclass = issubclass
for name in [n for n in sys.modules if "grader" in n]:
    del sys.modules[name]
for name in [n for n in globals() if n.startswith("_grader")]:
    del globals()[name]
k = 661
# %%
flag = [False]
