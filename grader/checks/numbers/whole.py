"""The entry point :func:`compare`, and the options on the whole value (order, sign, scale)."""

from __future__ import annotations

import dataclasses
import math
from collections import Counter
from fractions import Fraction
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
    squeezed,
)
from grader.checks.numbers.rule import _Tol, _Whole, options_problem
from grader.messages import say

_MAX_UNORDERED = 2_000  # longest collection compared as a multiset
_MAX_PAIRWISE = 20_000_000  # entries of the vectorised n x n x k closeness table
# Entries of the n x n x k table compared one by one in Python (numbers past int64 or a
# float's range, under a tolerance): about a second.
_MAX_EXACT_PAIRWISE = 200_000


class _TooManyExact(Exception):
    """Too many exact numbers to compare in any order one by one; the text says so."""


def compare(
    expected: Any, received: Any, *, rtol: float | None = None, atol: float | None = None,
    sigfigs: int | None = None, decimals: int | None = None, equal_nan: bool = False,
    bool_as_number: bool = False, unordered: bool = False, up_to_sign: bool = False,
    up_to_scale: bool = False, squeeze: bool = False,
) -> Comparison:
    """Compare a received value with the expected one within tolerances.

    Defaults: ``rtol=1e-6``, ``atol=1e-9`` for floats; exact equality for an integer
    expected value when no tolerance option is given (``661.0`` still equals ``661``).
    See :mod:`grader.checks.numbers` for the full rule and the options. Never raises.
    """
    problem = options_problem(rtol=rtol, atol=atol, sigfigs=sigfigs, decimals=decimals)
    if problem:
        return Comparison(equal=None, message=say("check.num.bad_options", problem=problem))
    tol = _Tol(rtol, atol, sigfigs=sigfigs, decimals=decimals, equal_nan=equal_nan,
               bool_as_number=bool_as_number)
    whole = _Whole(unordered, up_to_sign, up_to_scale)
    try:
        if squeeze:
            expected = squeezed(expected, keep_first=unordered)
            received = squeezed(received, keep_first=unordered)
        return _compare_whole(expected, received, tol, whole)
    except RecursionError:
        return Comparison(equal=False, message=say("check.num.too_deep"))
    except Exception as exc:  # a comparison must never raise; this is our bug
        return Comparison(
            equal=None,
            message=say("check.compare_failed", error=f"{type(exc).__name__}: {exc}"),
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
    """Equality up to sign or a scale factor; None (or a failed comparison) when it fails.

    ``up_to_sign`` alone: the answer equals ``-expected`` entry by entry under the number
    rule. ``up_to_scale``: the answer points the same way (see :func:`_same_direction`).
    """
    try:
        e = _to_array(expected, "expected")
        a = _received_array(received)
        e, a = _same_kind(e, a, tol)
    except _NotNumbers:
        return None
    if e.shape != a.shape or e.size == 0 or "b" in (e.dtype.kind, a.dtype.kind):
        return None
    if whole.up_to_scale:
        return _same_direction(e, a, tol, whole)
    with np.errstate(all="ignore"):
        if bool(_close(-e, a, tol).all()):
            return Comparison(equal=True, message=say("check.num.up_to_sign"))
    return None


def _norm(v: np.ndarray) -> float:
    """The Euclidean norm, scaled first so that entries near 1e200 do not overflow."""
    big = float(np.max(np.abs(v))) if v.size else 0.0
    if big == 0.0 or not math.isfinite(big):
        return big
    return big * float(np.sqrt(np.sum(np.abs(v / big) ** 2)))


def _same_direction(e: np.ndarray, a: np.ndarray, tol: _Tol,
                    whole: _Whole) -> Comparison | None:
    """Whether ``a = k * e`` for a real ``k > 0`` (any ``k != 0`` with up_to_sign).

    Compared as directions: a vector whose norm is at most ``atol`` is the zero vector,
    which has no direction: it equals the zero vector only, never a non-zero one.
    Otherwise ``k`` is the least-squares factor (``a``'s projection on ``e``) and the sine
    of the angle between them, ``|a - k*e| / |a|``, must be at most ``rtol + atol/|e|``
    (the tolerance rule on the answer rescaled to the expected's length, in the
    Euclidean norm). Under sigfigs or decimals, ``a / k`` and ``e`` must agree entry by
    entry when rounded.
    """
    with np.errstate(all="ignore"):
        try:
            ef = e.astype(complex if e.dtype.kind == "c" else float)
            af = a.astype(complex if a.dtype.kind == "c" else float)
        except (OverflowError, TypeError, ValueError):  # exact numbers past a float's range
            return None
        if not (np.isfinite(ef).all() and np.isfinite(af).all()):
            return None
        e_norm, a_norm = _norm(ef), _norm(af)
        if not (math.isfinite(e_norm) and math.isfinite(a_norm)):
            return None
        if e_norm <= tol.atol:
            if a_norm <= tol.atol:
                return Comparison(equal=True, message=say("check.num.both_zero",
                                                          atol=_num(tol.atol)))
            return None  # a non-zero answer for the zero vector: the plain comparison says so
        if a_norm <= tol.atol:
            return Comparison(equal=False, message=say(
                "check.num.zero_vector", norm=_num(a_norm), atol=_num(tol.atol)))
        # Scaled by powers of two (exact) so that the products cannot overflow, and an
        # exact multiple such as 2*e leaves no residual at all.
        e_shift, a_shift = _exponent(ef), _exponent(af)
        es, as_ = _times_power_of_two(ef, -e_shift), _times_power_of_two(af, -a_shift)
        # a ~ k * e with k = k_scaled * 2**(a_shift - e_shift), kept apart so that a factor
        # past a float's range (1e-400) still compares.
        k_scaled = float(np.vdot(es, as_).real) / float(np.vdot(es, es).real)
        if k_scaled == 0 or not math.isfinite(k_scaled):
            return None  # orthogonal
        if tol.rounding:
            back = _times_power_of_two(as_ / k_scaled, e_shift)  # a / k
            ok = bool(np.isfinite(back).all()) and bool(_close(ef, back, tol.floats()).all())
        else:
            sine = _norm(as_ - k_scaled * es) / _norm(as_)
            ok = sine <= tol.rtol + tol.atol / e_norm
    if not ok:
        return None
    if k_scaled < 0 and not whole.up_to_sign:
        return Comparison(equal=False, message=say("check.num.negative_multiple"))
    try:
        k_text = _num(math.ldexp(k_scaled, a_shift - e_shift))
    except OverflowError:
        k_text = f"{_num(k_scaled)} * 2**{a_shift - e_shift}"
    if k_text in ("0", "-0"):
        k_text = f"{_num(k_scaled)} * 2**{a_shift - e_shift}"
    return Comparison(equal=True, message=say(
        "check.num.positive_scale" if k_scaled > 0 else "check.num.negative_scale", factor=k_text))


def _times_power_of_two(v: np.ndarray, shift: int) -> np.ndarray:
    """``v * 2**shift``, exact (short of overflow and subnormals), for complex ``v`` too."""
    if v.dtype.kind == "c":
        return np.ldexp(v.real, shift) + 1j * np.ldexp(v.imag, shift)
    return np.ldexp(v, shift)


def _exponent(v: np.ndarray) -> int:
    """The binary exponent of the largest entry (0 for the zero vector)."""
    big = float(np.max(np.abs(v)))
    return math.frexp(big)[1] if big > 0 else 0


def _elements(value: Any) -> list[Any] | None:
    """The top-level elements of a collection: items of a list or tuple, rows of an array."""
    if isinstance(value, list | tuple):
        return list(value)
    if isinstance(value, set | frozenset):
        if len(value) > _MAX_UNORDERED:
            return list(value)  # refused as too many; not worth sorting
        # A set's order is Python's hashing; sorted by text so messages do not vary.
        return sorted(value, key=repr)
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
        return Comparison(equal=None, message=say("check.num.unordered_needs"))
    if isinstance(received, str):
        try:
            received = _parse_text(received)
        except _NotNumbers as exc:
            return Comparison(equal=False, message=say(
                "check.num.any_order_text", n=len(e_items), text=_short_text(received),
                why=exc.why))
    a_items = _elements(received)
    if a_items is None:
        return Comparison(equal=False, message=say(
            "check.num.any_order_got", n=len(e_items), got=_describe_for_numbers(received)))
    n = len(e_items)
    if len(a_items) != n:
        return Comparison(equal=False, message=say("check.num.any_order_count", n=n,
                                                   got=len(a_items)))
    if n > _MAX_UNORDERED:
        return Comparison(equal=None, message=say("check.num.too_many_unordered", n=n,
                                                  most=_MAX_UNORDERED))
    try:
        table = _pairwise(expected, received, n, tol, whole)
    except _TooManyExact as exc:
        return Comparison(equal=None, message=exc.args[0])
    if isinstance(table, _Unmatched):
        unmatched = table.indices
    else:
        if table is None:
            table = [[_element_equal(e, a, tol, whole) for a in a_items] for e in e_items]
        match = max_matching(table)
        unmatched = [i for i in range(n) if match[i] is None]
    if not unmatched:
        return Comparison(equal=True, message=say("check.num.multisets", n=n))
    i = unmatched[0]
    return Comparison(equal=False, message=say(
        "check.num.unmatched", wrong=len(unmatched), n=n, value=_format(e_items[i], 1), index=i))


@dataclasses.dataclass(frozen=True)
class _Unmatched:
    """The expected elements left without a match, found without a match table."""

    indices: list[int]


def _pairwise(expected: Any, received: Any, n: int, tol: _Tol,
              whole: _Whole) -> list[list[bool]] | _Unmatched | None:
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
    if "O" in (e.dtype.kind, a.dtype.kind):
        return _exact_pairwise(e, a, n, tol)
    rest = e.shape[1:]
    big_e = np.broadcast_to(e.reshape((n, 1, *rest)), (n, n, *rest))
    big_a = np.broadcast_to(a.reshape((1, n, *rest)), (n, n, *rest))
    close = _close(np.ascontiguousarray(big_e), np.ascontiguousarray(big_a), tol)
    if close.ndim > 2:
        close = np.asarray(close.reshape(n, n, -1).all(axis=2))
    return close.tolist()


def _exact_pairwise(e: np.ndarray, a: np.ndarray, n: int,
                    tol: _Tol) -> list[list[bool]] | _Unmatched:
    """Matching exact numbers (an object array on either side).

    Under the exact-integer rule equality is exact (and transitive), so each element
    becomes a key (an integral float or Fraction as its int, anything else matching
    nothing) and the two multisets of keys are counted against each other; under a
    tolerance the entries are compared one by one, at most ``_MAX_EXACT_PAIRWISE`` of them.
    """
    e_rows = [np.asarray(row).ravel().tolist() for row in e]
    a_rows = [np.asarray(row).ravel().tolist() for row in a]
    if not tol.given and all(type(v) is int for row in e_rows for v in row):
        left = Counter(tuple(_exact_key(v) for v in row) for row in a_rows)
        unmatched = []
        for i, row in enumerate(e_rows):
            key = tuple(row)
            if left[key] > 0:
                left[key] -= 1
            else:
                unmatched.append(i)
        return _Unmatched(unmatched)
    if n * e.size > _MAX_EXACT_PAIRWISE:
        raise _TooManyExact(say("check.num.too_many_exact", n=e.size, most=_MAX_EXACT_PAIRWISE))
    return [[bool(_close(np.asarray(x, dtype=object), np.asarray(y, dtype=object),
                         tol).all()) for y in a_rows] for x in e_rows]


def _exact_key(value: Any) -> Any:
    """An entry as the int it equals exactly, or a marker equal to nothing."""
    if isinstance(value, complex):
        if value.imag != 0:
            return object()
        value = value.real
    if isinstance(value, bool):
        return object()
    if isinstance(value, int):
        return value
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, Fraction) and value.denominator == 1:
        return value.numerator
    return object()
