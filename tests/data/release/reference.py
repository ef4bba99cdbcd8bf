"""Reference of a small numerical-methods assignment: the release tests' second rubric."""

import numpy as np
import sympy as sp

x = sp.symbols("x")

# LU factors of A = [[4, 3], [6, 3]] without pivoting.
lu_l = np.array([[1.0, 0.0], [1.5, 1.0]])
lu_u = np.array([[4.0, 3.0], [0.0, -1.5]])
taylor_cos = 1 - x**2 / 2 + x**4 / 24
eigenvalues = np.array([2.381966011250105, 4.618033988749895])  # of [[3, 1], [1, 4]]
iterations = 1234
converges = True
why = "Because the iteration matrix has spectral radius below one."


def newton_sqrt(a, steps):
    guess = float(a)
    for _ in range(steps):
        guess = (guess + a / guess) / 2
    return guess


def mistake_newton_no_half(a, steps):
    guess = float(a)
    for _ in range(steps):
        guess = guess + a / guess
    return guess


def trapezoid(f_values, h):
    f = np.asarray(f_values, dtype=float)
    return float(h * (f.sum() - (f[0] + f[-1]) / 2))


def check_monotone(answer):
    values = list(answer)
    if len(values) < 3:
        return False, "give at least three residuals"
    return all(b <= a for a, b in zip(values, values[1:])), "residuals must not grow"
