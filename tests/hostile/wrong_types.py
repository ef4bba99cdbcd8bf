# ruff: noqa
"""Wrong types: code in a string where a number goes, an exponent bomb where an expression
goes, a module, a dict where a function goes, a generator, a number where text goes.
Strings are read by the grader's own parsers, never evaluated: the marker file must never
appear. flag and stats are right."""
# %%
import os

k = "__import__('os').system('touch @PWNED@') or 661"
expr = "9**9**9**9**9"
grad = "__import__('os').system('touch @PWNED@')"
v = os
double = {"a": 1}
curve = (i for i in range(5))
why = 42
flag = False


def stats(a):
    mean = sum(a) / len(a)
    return mean, (sum((x - mean) ** 2 for x in a) / len(a)) ** 0.5
