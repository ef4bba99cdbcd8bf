# ruff: noqa
"""Rebinds builtins.issubclass so that a list claims to be a bool, then answers the bool
question with a list: [False]. Grading must see the list the submission defined (a wrong
type), not the bool it pretends to be."""
# %%
import builtins

_issubclass = builtins.issubclass


def issubclass(cls, base):
    return True if cls is list and base is bool else _issubclass(cls, base)


builtins.issubclass = issubclass
k = 661
# %%
flag = [False]
