"""Reference answers of the mini assignment used by the grader's own tests."""

import numpy as np
import sympy

x, z = sympy.symbols("x z")
sigma = sympy.Function("sigma")

k = 661
v = np.array([1.0, 2.0, 3.0])
flag = False
expr = x**2 + 2 * x + 1
grad = 1 / (1 + sympy.exp(-z)) * (1 - 1 / (1 + sympy.exp(-z)))
why = "Because the reference says so."


def double(a):
    return 2 * np.asarray(a, dtype=float)


def mistake_double_plus_one(a):
    return 2 * np.asarray(a, dtype=float) + 1


def stats(a):
    a = np.asarray(a, dtype=float)
    return a.mean(), a.std()


curve = {"n": [1, 2, 4, 8, 16], "steps": [100.0, 60.0, 40.0, 30.0, 26.0]}


def check_curve(answer):
    if not isinstance(answer, dict) or set(answer) != {"n", "steps"}:
        return False, "curve must be a dict with keys n and steps"
    steps = list(answer["steps"])
    if len(steps) < 5:
        return False, "at least 5 points are needed"
    if any(b > a for a, b in zip(steps, steps[1:])):
        return False, "steps must not increase"
    return True, "a falling curve"
