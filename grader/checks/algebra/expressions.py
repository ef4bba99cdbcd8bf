"""Expressions compared by value: sampling, an exact difference, then the CAS (steps 2-4)."""

from __future__ import annotations

import math
from typing import Any

import sympy as sp

from grader.checks import Comparison
from grader.checks.algebra.cas import CAS_BUDGET, _cas_zero, _expandable
from grader.checks.algebra.display import _describe_for_expressions, _display
from grader.checks.algebra.form import _with_form
from grader.checks.algebra.reading import _normalise, _Refused
from grader.checks.algebra.sampling import CONFIDENT_POINTS, _sample
from grader.checks.algebra.setup import _Setup
from grader.checks.common import _budget


def _compare_expression(e: Any, a: Any, setup: _Setup, *, text: str | None = None) -> Comparison:
    if not isinstance(a, sp.Expr) or isinstance(a, sp.MatrixBase):
        return Comparison(equal=False, message=f"expected an expression, got "
                          f"{_describe_for_expressions(a)}")
    try:
        e_n = _normalise(e, setup)
    except _Refused as exc:
        return Comparison(equal=None, message=f"the expected answer {exc} (a grader problem)")
    try:
        a_n = _normalise(a, setup)
    except _Refused as exc:
        return Comparison(equal=False, message=f"the answer {exc}")
    return _with_form(_compare_values(e_n, a_n, setup), a, setup, text)


def _compare_values(e_n: Any, a_n: Any, setup: _Setup) -> Comparison:
    """Steps 2-4 of the decision rule on normalised expressions."""
    if e_n == a_n:
        return Comparison(equal=True, message="identical")
    sampled = _sample(e_n, a_n, setup)
    if sampled.counterexample:
        return Comparison(equal=False, message=sampled.counterexample, hint=sampled.hint)
    difference = _exact_difference(e_n, a_n)
    if difference is not None:
        # Exact rational functions whose difference is not zero: the tolerance hid it.
        return Comparison(equal=False, message=f"differs from the expected answer by exactly "
                          f"{_display(difference, 200)} (within the tolerance at the sample "
                          "points, but not zero)", hint="a small exact difference")
    if sampled.exact or sampled.distinct >= CONFIDENT_POINTS:
        return Comparison(equal=True, message=sampled.agreement)
    if _cas_zero(e_n - a_n):
        return Comparison(equal=True, message="equal (proved by simplification)")
    if sampled.distinct >= math.ceil(setup.samples / 2):
        return Comparison(equal=True, message=sampled.agreement)
    return Comparison(equal=None, message=sampled.undecided)


def _exact_difference(e_n: Any, a_n: Any) -> Any:
    """``e - a`` when both are rational functions over the rationals and it is not zero.

    ``cancel`` gives a canonical form of such a difference, so a nonzero result proves
    the answers differ, even when the tolerance hides it at every sample point (a
    constant off by one in a polynomial of size 1e13). Anything else (floats, radicals,
    pi, functions) gives None: there the tolerance rules.
    """
    if not (_exact_rational(e_n) and _exact_rational(a_n)):
        return None
    if any(s.is_integer for s in e_n.free_symbols | a_n.free_symbols):
        return None  # a polynomial may vanish on every integer a domain allows
    if not _expandable(e_n - a_n):
        return None
    found: list[Any] = []
    with _budget(CAS_BUDGET):
        found.append(sp.cancel(e_n - a_n))
    if not found or found[0] == 0:
        return None
    return found[0]


def _exact_rational(expr: Any) -> bool:
    symbols = expr.free_symbols
    for node in sp.preorder_traversal(expr):
        if node.is_Symbol:
            continue
        if node.is_Number:
            if not node.is_Rational:
                return False
            continue
        if node.is_Add or node.is_Mul:
            continue
        if node.is_Pow and node.exp.is_Integer and node.base.free_symbols:
            continue
        return False
    return bool(symbols)
