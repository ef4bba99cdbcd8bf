"""The entry point :func:`compare`, and the options on the whole value (order, sign, scale)."""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from grader.checks import Comparison
from grader.checks.common import _format, _num, _short_text, max_matching
from grader.checks.numbers.arrays import _close, _same_kind
from grader.checks.numbers.comparing import _compare
from grader.checks.numbers.display import _describe_for_numbers
from grader.checks.numbers.reading import (
    _is_matrix,
    _NotNumbers,
    _parse_text,
    _received_array,
    _to_array,
)
from grader.checks.numbers.rule import _Tol, _Whole, options_problem

_MAX_UNORDERED = 2_000  # longest collection compared as a multiset
_MAX_PAIRWISE = 20_000_000  # entries of the vectorised n x n x k closeness table


def compare(
    expected: Any, received: Any, *, rtol: float | None = None, atol: float | None = None,
    sigfigs: int | None = None, decimals: int | None = None, equal_nan: bool = False,
    bool_as_number: bool = False, unordered: bool = False, up_to_sign: bool = False,
    up_to_scale: bool = False,
) -> Comparison:
    """Compare a received value with the expected one within tolerances.

    Defaults: ``rtol=1e-6``, ``atol=1e-9`` for floats; exact equality for an integer
    expected value when no tolerance option is given (``661.0`` still equals ``661``).
    See :mod:`grader.checks.numbers` for the full rule and the options. Never raises.
    """
    problem = options_problem(rtol=rtol, atol=atol, sigfigs=sigfigs, decimals=decimals)
    if problem:
        return Comparison(equal=None, message=f"the check's options are wrong (a grader "
                          f"problem, not your answer): {problem}")
    tol = _Tol(rtol, atol, sigfigs=sigfigs, decimals=decimals, equal_nan=equal_nan,
               bool_as_number=bool_as_number)
    whole = _Whole(unordered, up_to_sign, up_to_scale)
    try:
        return _compare_whole(expected, received, tol, whole)
    except RecursionError:
        return Comparison(equal=False, message="the value is nested too deeply to compare")
    except Exception as exc:  # a comparison must never raise; this is our bug
        return Comparison(
            equal=None,
            message=f"the grader failed to compare this answer (a grader problem, not your "
            f"answer): {type(exc).__name__}: {exc}",
        )


def _compare_whole(expected: Any, received: Any, tol: _Tol, whole: _Whole) -> Comparison:
    if whole.unordered:
        return _compare_unordered(expected, received, tol, whole)
    comparison = _compare(expected, received, tol)
    if comparison.equal is not False or not (whole.up_to_sign or whole.up_to_scale):
        return comparison
    return _up_to_factor(expected, received, tol, whole) or comparison


def _element_equal(expected: Any, received: Any, tol: _Tol, whole: _Whole) -> bool:
    try:
        if _compare(expected, received, tol).equal is True:
            return True
        if whole.up_to_sign or whole.up_to_scale:
            found = _up_to_factor(expected, received, tol, whole)
            return found is not None and found.equal is True
    except Exception:  # only used to build the matching; a failure counts as no match
        return False
    return False


def _up_to_factor(expected: Any, received: Any, tol: _Tol,
                  whole: _Whole) -> Comparison | None:
    """Equality up to sign or a scale factor, or None when that does not hold."""
    try:
        e = _to_array(expected, "expected")
        a = _received_array(received)
        e, a = _same_kind(e, a, tol)
    except _NotNumbers:
        return None
    if e.shape != a.shape or e.size == 0 or "b" in (e.dtype.kind, a.dtype.kind):
        return None
    with np.errstate(all="ignore"):
        ef = e.astype(complex if e.dtype.kind == "c" else float)
        af = a.astype(complex if a.dtype.kind == "c" else float)
        if not (np.isfinite(ef).all() and np.isfinite(af).all()):
            return None
        if whole.up_to_scale:
            norm = float(np.vdot(ef, ef).real)
            if norm == 0.0:
                return None  # the zero vector: the plain comparison has decided
            k = float(np.vdot(ef, af).real / norm)  # least squares: a ~ k * e
            if not math.isfinite(k) or k == 0.0 or (k < 0 and not whole.up_to_sign):
                return None
            if bool(_close(k * ef, af, tol.floats()).all()):
                kind = "a positive" if k > 0 else "a negative"
                return Comparison(equal=True, message=f"equal up to {kind} scale factor "
                                  f"({_num(k)})")
            return None
        if bool(_close(-e, a, tol).all()):
            return Comparison(equal=True, message="equal up to sign (the answer is -expected)")
    return None


def _elements(value: Any) -> list[Any] | None:
    """The top-level elements of a collection: items of a list or tuple, rows of an array."""
    if isinstance(value, list | tuple):
        return list(value)
    if isinstance(value, np.ndarray) and value.ndim > 0:
        return list(value)
    if _is_matrix(value):
        rows, cols = value.shape
        return [value[i, 0] for i in range(rows)] if cols == 1 else [
            value.row(i) for i in range(rows)]
    return None


def _compare_unordered(expected: Any, received: Any, tol: _Tol, whole: _Whole) -> Comparison:
    e_items = _elements(expected)
    if e_items is None:
        return Comparison(equal=None, message="unordered comparison needs a list, tuple or "
                          "array as the expected value (a grader problem)")
    if isinstance(received, str):
        try:
            received = _parse_text(received)
        except _NotNumbers as exc:
            return Comparison(equal=False, message=f"expected {len(e_items)} values in any "
                              f"order, got the text {_short_text(received)}, {exc}")
    a_items = _elements(received)
    if a_items is None:
        return Comparison(equal=False, message=f"expected {len(e_items)} values in any order, "
                          f"got {_describe_for_numbers(received)}")
    n = len(e_items)
    if len(a_items) != n:
        return Comparison(equal=False, message=f"expected {n} values in any order, got "
                          f"{len(a_items)}")
    if n > _MAX_UNORDERED:
        return Comparison(equal=None, message=f"too many values ({n}) to compare in any order; "
                          f"at most {_MAX_UNORDERED}")
    table = _pairwise(expected, received, n, tol, whole)
    if table is None:
        table = [[_element_equal(e, a, tol, whole) for a in a_items] for e in e_items]
    match = max_matching(table)
    unmatched = [i for i in range(n) if match[i] is None]
    if not unmatched:
        return Comparison(equal=True, message=f"equal as multisets of {n} values")
    i = unmatched[0]
    return Comparison(equal=False, message=f"{len(unmatched)} of {n} expected values have no "
                      f"match in the answer (compared in any order); the first is "
                      f"{_format(e_items[i], 1)} at index {i}")


def _pairwise(expected: Any, received: Any, n: int, tol: _Tol,
              whole: _Whole) -> list[list[bool]] | None:
    """The n x n table of which elements match, vectorised when both are numeric arrays."""
    if whole.up_to_sign or whole.up_to_scale or n == 0:
        return None
    try:
        e = _to_array(expected, "expected")
        a = _received_array(received)
        e, a = _same_kind(e, a, tol)
    except _NotNumbers:
        return None
    if e.shape != a.shape or e.ndim == 0 or n * e.size > _MAX_PAIRWISE:
        return None
    if (e.dtype.kind == "b") != (a.dtype.kind == "b"):
        return [[False] * n for _ in range(n)]
    rest = e.shape[1:]
    big_e = np.broadcast_to(e.reshape((n, 1, *rest)), (n, n, *rest))
    big_a = np.broadcast_to(a.reshape((1, n, *rest)), (n, n, *rest))
    close = _close(np.ascontiguousarray(big_e), np.ascontiguousarray(big_a), tol)
    if close.ndim > 2:
        close = np.asarray(close.reshape(n, n, -1).all(axis=2))
    return close.tolist()
