# ruff: noqa
"""A correct answer beside modules that shadow the standard library and numpy: they must
not stand in for the agent's own imports in the kernel."""
k = 661
flag = False


def double(a):
    return a * 2  # numpy arrays in, numpy arrays out: no import of numpy needed here
