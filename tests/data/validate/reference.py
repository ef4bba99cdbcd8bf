"""Reference answers of the rubric whose mistakes ``grader validate`` finds fault with."""

import math

import sympy

x = sympy.Symbol("x")

k = 661
rate = 0.25
expr = 2 * x + 1
twice = 2 * x
square = (x + 1) ** 2


def batch_std(sigma, m):
    return sigma / math.sqrt(m)


def mistake_sigma_over_m(sigma, m):
    return sigma / m


def double(a):
    return 2 * a


def mistake_plus_one(a):
    return 2 * a + 1


def mistake_plus_one_again(a):
    return a + a + 1


def root(a):
    return math.sqrt(abs(a))


def mistake_no_abs(a):
    return math.sqrt(a)


def mistake_undefined(a):
    return math.nan
