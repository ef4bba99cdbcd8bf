"""Numeric answers: numbers, arrays, nested lists, tuples and dicts, within tolerances.

Tolerance rule: a received number ``a`` equals the expected ``e`` when
``|a - e| <= atol + rtol * |e|`` (relative to the *expected* value; for complex
numbers ``|.|`` is the complex modulus). Defaults when a tolerance is ``None``:
``rtol = 1e-6`` and ``atol = 1e-9``. When the expected value is an integer (a Python
``int`` or numpy integer, scalar or array) and *no* tolerance option is given, equality
is exact, but an exactly integral float (``661.0``) equals ``661``. When only one
tolerance is given the other takes its default above. A float within a billionth of the
boundary is decided again in exact decimal arithmetic on the numbers as written (their
shortest ``repr``), so ``1.05`` is within 5% of ``1`` although ``1.05 - 1`` is
``0.050000000000000044`` in binary.

Instead of ``rtol``/``atol`` a check may ask for ``sigfigs = n`` (both numbers, rounded
half-up to ``n`` significant figures, are the same number: ``0.1429`` and ``0.14285``
both round to ``0.1429`` = 1/7 at 4 figures) or ``decimals = d`` (the same, rounded to
``d`` digits after the point). Rounding works on the decimal text of each number, so
``0.04985`` rounds up to ``0.0499`` as a person would; the number of digits the student
wrote is not checked.

Other rules: a bool is not a number (``True`` is not ``1`` and ``1`` is not ``True``)
unless ``bool_as_number``; NaN never equals anything unless ``equal_nan`` (then NaN
equals NaN); an infinity equals only the same infinity; complex numbers compare both
parts; shapes must match exactly (no broadcasting), and a mismatch names both shapes;
a wrong entry is named by its first index. Dicts compare by key, naming missing and
extra keys. Text received where a number is expected is read by a small parser of
numbers, fractions and bracketed lists (nothing is evaluated), falling back to the
whitelist parser :func:`grader.parse.parse_expression` for expressions such as
``sqrt(2)/2``.

Options on the whole value: ``unordered`` compares the top-level list, tuple or array
(its rows, for 2-D) as a multiset: every expected element is matched to a different
received one by a maximum bipartite matching under the tolerance (never by sorting, so
``[1.0, 1.0000001]`` against ``[1.0000001, 1.0]`` and near-equal neighbours are safe).
``up_to_sign`` accepts ``e`` or ``-e`` as a whole (eigenvectors); ``up_to_scale``
accepts ``k * e`` for one positive factor ``k`` (any nonzero ``k`` together with
``up_to_sign``), fitted by least squares and then checked entry by entry with the float
tolerance. With ``unordered`` these two apply to each element.

``compare`` never raises: a comparison the grader itself cannot do (its own bug, or
options that contradict each other) comes back as ``Comparison(equal=None)`` with a
message saying so.
"""

from __future__ import annotations

import dataclasses
import math
import re
import sys
from collections.abc import Mapping
from decimal import ROUND_HALF_UP, Context, Decimal, InvalidOperation, localcontext
from fractions import Fraction
from typing import Any

import numpy as np

from grader.answers import MISSING, CallableAnswer, Rejected
from grader.checks import Comparison, Evidence, absent_result, make_result
from grader.results import CheckResult
from grader.rubric import CheckSpec, Mistake

DEFAULT_RTOL = 1e-6
DEFAULT_ATOL = 1e-9
MAX_ROUNDING_DIGITS = 50  # sigfigs and decimals above this are a rubric error
DIFF_MAX_ENTRIES = 200  # arrays up to this size get an entry-by-entry diff for the report

_MAX_TEXT = 100_000  # longest text answer we try to read as numbers
_MAX_DEPTH = 32  # deepest nesting of lists we accept (text or data)
_MAX_EXPR_TEXT = 5_000  # longest text we hand to the expression parser
_MAX_UNORDERED = 2_000  # longest collection compared as a multiset
_MAX_PAIRWISE = 20_000_000  # entries of the vectorised n x n x k closeness table
_TIE = 1e-9  # relative distance to the tolerance boundary that is decided exactly
# Enough digits for any float (17 significant, exponents to 308) and decimals <= 50.
_DECIMALS = Context(prec=420, rounding=ROUND_HALF_UP, Emax=10**6, Emin=-(10**6))

OPTION_NAMES = ("rtol", "atol", "sigfigs", "decimals", "equal_nan", "bool_as_number",
                "unordered", "up_to_sign", "up_to_scale")


class _Tol:
    """The number rule of one comparison: tolerances or rounding, and the special values."""

    def __init__(self, rtol: float | None = None, atol: float | None = None, *,
                 sigfigs: int | None = None, decimals: int | None = None,
                 equal_nan: bool = False, bool_as_number: bool = False) -> None:
        self.sigfigs = sigfigs
        self.decimals = decimals
        self.rounding = sigfigs is not None or decimals is not None
        # Any option that says how close is close turns the exact-integer rule off.
        self.given = rtol is not None or atol is not None or self.rounding
        self.rtol = DEFAULT_RTOL if rtol is None else float(rtol)
        self.atol = DEFAULT_ATOL if atol is None else float(atol)
        self.equal_nan = equal_nan
        self.bool_as_number = bool_as_number

    def floats(self) -> _Tol:
        """The same rule without the exact-integer case (for scaled or negated values)."""
        out = _Tol(self.rtol, self.atol, sigfigs=self.sigfigs, decimals=self.decimals,
                   equal_nan=self.equal_nan, bool_as_number=self.bool_as_number)
        out.given = True
        return out


@dataclasses.dataclass(frozen=True)
class _Whole:
    """Options that apply to the value as a whole rather than number by number."""

    unordered: bool = False
    up_to_sign: bool = False
    up_to_scale: bool = False


class _NotNumbers(Exception):
    """A received value (or text) that cannot be read as numbers; the text says why."""


# --------------------------------------------------------------------------- public API


def compare(
    expected: Any, received: Any, *, rtol: float | None = None, atol: float | None = None,
    sigfigs: int | None = None, decimals: int | None = None, equal_nan: bool = False,
    bool_as_number: bool = False, unordered: bool = False, up_to_sign: bool = False,
    up_to_scale: bool = False,
) -> Comparison:
    """Compare a received value with the expected one within tolerances.

    Defaults: ``rtol=1e-6``, ``atol=1e-9`` for floats; exact equality for an integer
    expected value when no tolerance option is given (``661.0`` still equals ``661``).
    See the module docstring for the full rule and the options. Never raises.
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


def options_problem(*, rtol: Any = None, atol: Any = None, sigfigs: Any = None,
                    decimals: Any = None) -> str:
    """What is wrong with a set of number options ("" when nothing is)."""
    for name, value in (("rtol", rtol), ("atol", atol)):
        if value is not None and (isinstance(value, bool) or not isinstance(value, int | float)
                                  or not math.isfinite(value) or value < 0):
            return f"{name} must be a finite number >= 0"
    for name, value, low in (("sigfigs", sigfigs, 1), ("decimals", decimals, 0)):
        if value is not None and (isinstance(value, bool) or not isinstance(value, int)
                                  or not low <= value <= MAX_ROUNDING_DIGITS):
            return f"{name} must be an integer from {low} to {MAX_ROUNDING_DIGITS}"
    if sigfigs is not None and decimals is not None:
        return "give sigfigs or decimals, not both"
    if (sigfigs is not None or decimals is not None) and (rtol is not None or atol is not None):
        return "sigfigs and decimals replace rtol and atol; give one kind of rule"
    return ""


def spec_options(spec: CheckSpec) -> dict[str, Any]:
    """The keyword arguments of :func:`compare` that a check's spec sets."""
    return {name: getattr(spec, name) for name in OPTION_NAMES if hasattr(spec, name)}


def grade(spec: CheckSpec, evidence: Evidence, max_score: float) -> CheckResult:
    """Grade a numeric answer: exact match, then known mistakes, then partial credit."""
    received = evidence.received
    absent = absent_result(spec, received, max_score)
    if absent is not None:
        return absent
    received_text = _safe_format(received)
    try:
        expected = (spec.value if spec.value is not None
                    else getattr(evidence.reference, spec.reference_name))
        return _grade(spec, evidence, max_score, expected, received, received_text)
    except Exception as exc:  # grading must never raise; this is our bug
        return make_result(
            spec, max_score, fraction=0.0, status="error",
            message=f"The grader failed on this check (a grader problem, not your answer): "
            f"{type(exc).__name__}: {exc}",
            received=received_text)


def format_value(value: Any) -> str:
    """Compact display text of a value: 6 significant digits, long arrays truncated."""
    text = _format(value, 0)
    return text if len(text) <= 400 else text[:399] + "…"


def parse_text(text: str) -> Any:
    """A number or (nested) list of numbers read from text, evaluating nothing.

    Integers stay ``int``, ``1/7`` is a ``Fraction``, lists become numpy arrays, and
    expressions of constants (``sqrt(2)/2``, ``[pi, 1/3]``) go through the whitelist
    expression parser. Raises ``ValueError`` saying why the text is not numbers.
    """
    try:
        return _parse_text(text)
    except _NotNumbers as exc:
        raise ValueError(f"the text {_short_text(text)} is not numbers: {exc}") from None


def array_diff(expected: Any, received: Any, **options: Any) -> dict[str, Any] | None:
    """Entry-by-entry display of two 1-D or 2-D arrays of up to 200 entries, for the report.

    ``{"expected": rows, "received": rows, "mismatch": [[i, j], ...]}``: rows are lists of
    display strings (a flat list for 1-D, where ``i`` is 0); ``mismatch`` lists the
    entries that differ under the options of :func:`compare` (empty when the shapes
    differ, since entries do not correspond). None when either side is not such an array.
    """
    try:
        e = _to_array(expected, "expected")
        a = _received_array(received)
    except (_NotNumbers, TypeError, ValueError, OverflowError):
        return None
    if not all(1 <= arr.ndim <= 2 and 0 < arr.size <= DIFF_MAX_ENTRIES for arr in (e, a)):
        return None
    tol = _Tol(options.get("rtol"), options.get("atol"), sigfigs=options.get("sigfigs"),
               decimals=options.get("decimals"), equal_nan=bool(options.get("equal_nan")),
               bool_as_number=bool(options.get("bool_as_number")))
    mismatch: list[list[int]] = []
    if e.shape == a.shape:
        try:
            close = _close(*_same_kind(e, a, tol), tol)
        except _NotNumbers:
            close = np.zeros(e.shape, dtype=bool)
        for index in np.argwhere(~close):
            mismatch.append([0, int(index[0])] if e.ndim == 1 else [int(i) for i in index])
    return {"expected": _rows(e), "received": _rows(a), "mismatch": mismatch}


# --------------------------------------------------------------------------- grading


def _grade(spec: CheckSpec, evidence: Evidence, max_score: float, expected: Any,
           received: Any, received_text: str) -> CheckResult:
    expected_text = format_value(expected)
    options = spec_options(spec)
    comparison = compare(expected, received, **options)
    diff = None
    if not comparison.equal and spec.visible and _is_array_like(expected):
        diff = array_diff(expected, received, **options)

    def result(fraction: float, message: str, mistake: str | None = None,
               status: Any = None) -> CheckResult:
        if status is None:
            status = "passed" if fraction >= 1 else "partial" if fraction > 0 else "failed"
        out = make_result(spec, max_score, fraction=fraction, status=status, message=message,
                          expected=expected_text, received=received_text, mistake=mistake)
        if comparison.equal or not (comparison.hint or diff):
            return out
        return dataclasses.replace(out, hint=comparison.hint, diff=diff)

    if comparison.equal:
        return result(1.0, "Correct.")
    if comparison.equal is None:
        return result(0.0, comparison.message, status="error")

    share = 0.0
    if spec.partial and _is_container(expected):
        share = _share(expected, received, _tol_of(options))
    matched = _matched_mistake(spec.mistakes, evidence, received, options)
    if matched is not None:
        # The mistake names what went wrong; partial credit may still be worth more.
        fraction = max(matched.credit, share)
        return result(min(fraction, _BELOW_ONE), matched.feedback, mistake=matched.id)
    message = _sentence(comparison.message)
    if share > 0:
        return result(min(share, _BELOW_ONE), message)
    return result(0.0, message)


# A failed comparison never earns full marks, even if every element "matched" (extra keys).
_BELOW_ONE = 0.999999


def _tol_of(options: Mapping[str, Any]) -> _Tol:
    return _Tol(options.get("rtol"), options.get("atol"), sigfigs=options.get("sigfigs"),
                decimals=options.get("decimals"), equal_nan=bool(options.get("equal_nan")),
                bool_as_number=bool(options.get("bool_as_number")))


def _matched_mistake(mistakes: tuple[Mistake, ...], evidence: Evidence, received: Any,
                     options: Mapping[str, Any]) -> Mistake | None:
    for m in mistakes:
        value = m.value if m.reference is None else getattr(evidence.reference, m.reference)
        if compare(value, received, **options).equal:
            return m
    return None


def _sentence(message: str) -> str:
    message = message or "not equal to the expected value"
    return message[0].upper() + message[1:] + ("" if message.endswith(".") else ".")


def _is_container(value: Any) -> bool:
    return isinstance(value, Mapping | list | tuple) or (
        isinstance(value, np.ndarray) and value.ndim > 0)


def _share(expected: Any, received: Any, tol: _Tol) -> float:
    """The share of keys or elements that match (0 when the shapes do not)."""
    if isinstance(expected, Mapping):
        if not isinstance(received, Mapping):
            return 0.0
        keys = list(expected) + [k for k in received if k not in expected]
        good = sum(1 for k in expected
                   if k in received and _safe_equal(expected[k], received[k], tol))
        return good / len(keys) if keys else 0.0
    if _is_multi(expected):
        items = _as_sequence(received)
        if items is None or len(items) != len(expected):
            return 0.0
        good = sum(1 for e, a in zip(expected, items, strict=True) if _safe_equal(e, a, tol))
        return good / len(expected) if len(expected) else 0.0
    try:
        e_arr = _to_array(expected, "expected")
        a_arr = _received_array(received)
        e_arr, a_arr = _same_kind(e_arr, a_arr, tol)
    except _NotNumbers:
        return 0.0
    if e_arr.shape != a_arr.shape or e_arr.size == 0 or (
            (e_arr.dtype.kind == "b") != (a_arr.dtype.kind == "b")):
        return 0.0
    return float(np.mean(_close(e_arr, a_arr, tol)))


def _safe_equal(expected: Any, received: Any, tol: _Tol) -> bool:
    try:
        return _compare(expected, received, tol).equal is True
    except Exception:  # only used for counting; a failure counts as wrong
        return False


def _safe_format(value: Any) -> str:
    try:
        return format_value(value)
    except Exception:  # display text must never break grading
        return f"<{type(value).__name__}>"


# --------------------------------------------------------------------------- whole value


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
                          f"got {_describe(received)}")
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


def max_matching(table: list[list[bool]]) -> list[int | None]:
    """A maximum bipartite matching, expected i -> received j, by augmenting paths (Kuhn)."""
    n = len(table)
    adjacency = [[j for j, ok in enumerate(row) if ok] for row in table]
    owner: list[int | None] = [None] * n  # received j -> the expected i it is matched to
    for root in range(n):
        seen: set[int] = set()
        # Iterative depth-first search: a long chain of re-assignments must not recurse.
        stack: list[tuple[int, Any]] = [(root, iter(adjacency[root]))]
        via: list[int] = []  # via[d]: the received j that frame d hands over to frame d + 1
        while stack:
            i, edges = stack[-1]
            step = None
            for j in edges:
                if j not in seen:
                    seen.add(j)
                    step = j
                    break
            if step is None:
                stack.pop()
                if via:
                    via.pop()
                continue
            holder = owner[step]
            if holder is None:
                # Augment: the last frame takes the free j, each earlier frame the j it
                # descended through.
                owner[step] = i
                for d in range(len(via) - 1, -1, -1):
                    owner[via[d]] = stack[d][0]
                break
            via.append(step)
            stack.append((holder, iter(adjacency[holder])))
    match: list[int | None] = [None] * n
    for j, owned_by in enumerate(owner):
        if owned_by is not None:
            match[owned_by] = j
    return match


# --------------------------------------------------------------------------- comparing


def _compare(expected: Any, received: Any, tol: _Tol) -> Comparison:
    if isinstance(expected, Mapping):
        return _compare_dict(expected, received, tol)
    if _is_multi(expected):
        return _compare_multi(expected, received, tol)
    if isinstance(expected, str):
        if isinstance(received, str) and received == expected:
            return Comparison(equal=True)
        return Comparison(equal=False, message=f"expected {_format(expected, 0)}, got "
                          f"{_describe(received)}")
    if expected is None:
        ok = received is None
        return Comparison(equal=ok, message="" if ok else f"expected None, got "
                          f"{_describe(received)}")
    if _is_array_like(expected):
        return _compare_array(expected, received, tol)
    e_scalar = _scalar(expected)
    if e_scalar is not None:
        return _compare_scalar(e_scalar, expected, received, tol)
    return Comparison(equal=None, message=f"the grader cannot compare an expected value of "
                      f"type {type(expected).__name__} (a grader problem)")


def _compare_dict(expected: Mapping[Any, Any], received: Any, tol: _Tol) -> Comparison:
    if not isinstance(received, Mapping):
        keys = ", ".join(repr(k) for k in list(expected)[:8])
        return Comparison(equal=False, message=f"expected a dict with keys {keys}, got "
                          f"{_describe(received)}")
    missing = [k for k in expected if k not in received]
    extra = [k for k in received if k not in expected]
    wrong: list[tuple[Any, Comparison]] = []
    undecided: list[tuple[Any, Comparison]] = []
    for key in expected:
        if key in received:
            c = _compare(expected[key], received[key], tol)
            if c.equal is False:
                wrong.append((key, c))
            elif c.equal is None:
                undecided.append((key, c))
    if not (missing or extra or wrong):
        if undecided:
            key, c = undecided[0]
            return Comparison(equal=None, message=f"at key {key!r}: {c.message}")
        return Comparison(equal=True)
    parts = []
    if missing:
        parts.append("missing keys: " + ", ".join(repr(k) for k in missing))
    if extra:
        parts.append("extra keys: " + ", ".join(repr(k) for k in extra))
    if wrong:
        parts.append("wrong values at keys: " + ", ".join(repr(k) for k, _ in wrong))
    message = "; ".join(parts)
    hint = ""
    if wrong:
        key, c = wrong[0]
        message += f" (at key {key!r}: {c.message})"
        hint = c.hint
    elif missing and extra and len(missing) == len(extra):
        hint = "the keys are named differently"
    return Comparison(equal=False, message=message, hint=hint)


def _is_multi(value: Any) -> bool:
    """A tuple holding containers: several return values, compared element by element."""
    return isinstance(value, tuple) and any(
        isinstance(v, list | tuple | Mapping) or (isinstance(v, np.ndarray) and v.ndim > 0)
        or _is_matrix(v) for v in value)


def _as_sequence(value: Any) -> list[Any] | None:
    if isinstance(value, list | tuple):
        return list(value)
    if isinstance(value, np.ndarray) and value.ndim > 0:
        return list(value)
    return None


def _compare_multi(expected: tuple[Any, ...], received: Any, tol: _Tol) -> Comparison:
    items = _as_sequence(received)
    if items is None:
        return Comparison(equal=False, message=f"expected a tuple of {len(expected)} values, "
                          f"got {_describe(received)}")
    if len(items) != len(expected):
        return Comparison(equal=False, message=f"expected a tuple of {len(expected)} values, "
                          f"got {len(items)} values")
    undecided = None
    for i, (e, a) in enumerate(zip(expected, items, strict=True)):
        c = _compare(e, a, tol)
        if c.equal is False:
            return Comparison(equal=False, hint=c.hint,
                              message=f"element {i} of the returned tuple: {c.message}")
        if c.equal is None and undecided is None:
            undecided = Comparison(equal=None,
                                   message=f"element {i} of the returned tuple: {c.message}")
    return undecided or Comparison(equal=True)


# --------------------------------------------------------------------------- scalars


def _sympy() -> Any:
    """The sympy module if some sympy object exists already (never imports it)."""
    return sys.modules.get("sympy")


def _is_matrix(value: Any) -> bool:
    sp = _sympy()
    return sp is not None and isinstance(value, sp.MatrixBase)


def _is_array_like(value: Any) -> bool:
    return isinstance(value, list | tuple) or _is_matrix(value) or (
        isinstance(value, np.ndarray) and value.ndim > 0)


Number = bool | int | Fraction | float | complex


def _scalar(value: Any) -> Number | None:
    """The value as a Python number (bool kept apart), or None when it is not one."""
    if isinstance(value, bool | np.bool_):
        return bool(value)
    if isinstance(value, int | np.integer):
        return int(value)
    if isinstance(value, float | np.floating):
        return float(value)
    if isinstance(value, complex | np.complexfloating):
        return complex(value)
    if isinstance(value, Fraction):
        return value
    if isinstance(value, np.ndarray):
        if value.ndim == 0 and value.dtype.kind in "biufc":
            return _scalar(value[()])
        return None
    sp = _sympy()
    if sp is not None and isinstance(value, sp.Basic) and not isinstance(value, sp.MatrixBase):
        return _sympy_scalar(sp, value)
    return None


def _sympy_scalar(sp: Any, value: Any) -> Number | None:
    if value is sp.true or value is sp.false:
        return bool(value)
    if not isinstance(value, sp.Expr) or value.free_symbols or not value.is_number:
        return None
    if value.is_Integer:
        return int(value)
    if value.is_Rational:
        return Fraction(int(value.p), int(value.q))
    if value.is_Float:
        return float(value)
    if value.has(sp.zoo):
        return complex(math.inf, math.inf)
    if value.has(sp.nan):
        return math.nan
    if value == sp.oo:
        return math.inf
    if value == -sp.oo:
        return -math.inf
    # Guarded evaluation (huge exponentials, time budget) shared with the symbolic check.
    from grader.checks.symbolic import numeric_value

    return numeric_value(value)


def _compare_scalar(e: Number, expected: Any, received: Any, tol: _Tol) -> Comparison:
    if isinstance(received, str):
        try:
            parsed = _parse_text(received)
        except _NotNumbers as exc:
            return Comparison(equal=False, message=f"expected a number, got the text "
                              f"{_short_text(received)}, {exc}")
        if isinstance(parsed, np.ndarray):
            return Comparison(equal=False, message=f"expected a single number, got a list of "
                              f"shape {parsed.shape}")
        received = parsed
    if _is_array_like(received):
        try:
            arr = _received_array(received)
            shape = f"an array of shape {arr.shape}"
        except _NotNumbers:
            shape = _describe(received)
        return Comparison(equal=False, message=f"expected a single number, got {shape}")
    a = _scalar(received)
    if a is None:
        return Comparison(equal=False, message=f"expected a number, got {_describe(received)}")
    if isinstance(e, bool) or isinstance(a, bool):
        if not tol.bool_as_number or (isinstance(e, bool) and isinstance(a, bool)):
            return _compare_bools(e, a)
        e, a = (int(v) if isinstance(v, bool) else v for v in (e, a))
    return _compare_numbers(e, a, tol)


def _compare_bools(e: Number, a: Number) -> Comparison:
    if isinstance(e, bool) and isinstance(a, bool):
        ok = e == a
        return Comparison(equal=ok, message="" if ok else f"expected {e}, got {a}")
    if isinstance(e, bool):
        return Comparison(equal=False, message=f"expected {e} (a bool), got the number "
                          f"{_num(a)}: a number is not a bool, {_num(a)} is not {e}")
    return Comparison(equal=False, message=f"expected the number {_num(e)}, got {a} (a bool): "
                      f"a bool is not a number, {a} is not {_num(e)}")


def _is_nan(x: Number) -> bool:
    if isinstance(x, complex):
        return math.isnan(x.real) or math.isnan(x.imag)
    return isinstance(x, float) and math.isnan(x)


def _is_inf(x: Number) -> bool:
    if isinstance(x, complex):
        return math.isinf(x.real) or math.isinf(x.imag)
    return isinstance(x, float) and math.isinf(x)


def _compare_numbers(e: Number, a: Number, tol: _Tol) -> Comparison:
    if _is_nan(e) or _is_nan(a):
        if tol.equal_nan and _is_nan(e) and _is_nan(a):
            return Comparison(equal=True, message="both NaN (equal_nan)")
        if _is_nan(e):
            return Comparison(equal=False, message="the expected value is NaN, and NaN never "
                              "equals anything" + ("" if tol.equal_nan else
                                                   " (unless the check sets equal_nan)"))
        return Comparison(equal=False, message=f"expected {_num(e)}, got NaN (not a number)")
    if _is_inf(e) or _is_inf(a):
        ok = e == a
        return Comparison(equal=ok, message="" if ok else _differ(e, a))
    if isinstance(e, int) and not tol.given:
        ok = _exact_int_equal(e, a)
        if ok:
            return Comparison(equal=True)
        what = " (an integer)" if isinstance(a, float | Fraction | complex) else ""
        e_text, a_text = _pair(e, a)
        return Comparison(equal=False, message=f"expected exactly {e_text}{what}, got {a_text}",
                          hint=_scalar_hint(e, a, tol))
    if tol.rounding:
        return _compare_rounded(e, a, tol)
    ok = _close_scalar(e, a, tol)
    return Comparison(equal=ok, message="" if ok else _differ(e, a),
                      hint="" if ok else _scalar_hint(e, a, tol))


def _exact_int_equal(e: int, a: Number) -> bool:
    if isinstance(a, complex):
        if a.imag != 0:
            return False
        a = a.real
    # Python compares int with float and Fraction exactly, so 2**60 + 1 != float(2**60).
    return bool(a == e)


def _close_scalar(e: Number, a: Number, tol: _Tol) -> bool:
    if tol.rounding:
        return _rounded_equal(e, a, tol)
    if isinstance(e, int | Fraction) and isinstance(a, int | Fraction):
        # Exact arithmetic: no rounding error near the tolerance boundary, no overflow.
        return _exact_close(e, a, tol)
    try:
        if isinstance(e, complex) or isinstance(a, complex):
            ec: float | complex = complex(e)
            ac: float | complex = complex(a)
        else:
            ec, ac = float(e), float(a)
    except OverflowError:
        return False
    diff = abs(ac - ec)
    bound = tol.atol + tol.rtol * abs(ec)
    if (not isinstance(ec, complex) and bound > 0 and math.isfinite(diff)
            and abs(diff - bound) <= _TIE * bound):
        # On the boundary in binary: decide on the numbers as written (1.05 vs 1 at 5%).
        return _exact_close(e, a, tol)
    return bool(diff <= bound)


def _exact(x: Number) -> Fraction:
    """A real number as a Fraction; a float as the decimal its shortest repr shows."""
    if isinstance(x, float):
        return Fraction(Decimal(repr(x)))
    return Fraction(x)  # type: ignore[arg-type]


def _exact_close(e: Number, a: Number, tol: _Tol) -> bool:
    try:
        bound = _exact(tol.atol) + _exact(tol.rtol) * abs(_exact(e))
        return abs(_exact(a) - _exact(e)) <= bound
    except (ValueError, OverflowError, InvalidOperation, TypeError):
        return False


def _decimal(x: Number) -> Decimal:
    """A real number as an exact Decimal (a Fraction to 420 significant digits)."""
    if isinstance(x, Fraction):
        with localcontext(_DECIMALS):
            return Decimal(x.numerator) / Decimal(x.denominator)
    if isinstance(x, float):
        return Decimal(repr(x))
    if isinstance(x, int):
        return Decimal(x)
    raise TypeError(f"not a real number: {x!r}")


def _rounded(x: Number, tol: _Tol) -> Decimal:
    """``x`` rounded half-up to the check's significant figures or decimals."""
    d = _decimal(x)
    if d == 0:
        return Decimal(0)
    with localcontext(_DECIMALS):
        if tol.sigfigs is not None:
            quantum = Decimal(1).scaleb(d.adjusted() - tol.sigfigs + 1)
        else:
            quantum = Decimal(1).scaleb(-(tol.decimals or 0))
        return d.quantize(quantum)


def _rounded_equal(e: Number, a: Number, tol: _Tol) -> bool:
    try:
        if isinstance(e, complex) or isinstance(a, complex):
            ec, ac = complex(e), complex(a)
            return (_rounded(ec.real, tol) == _rounded(ac.real, tol)
                    and _rounded(ec.imag, tol) == _rounded(ac.imag, tol))
        return _rounded(e, tol) == _rounded(a, tol)
    except (InvalidOperation, ValueError, OverflowError, TypeError):
        return False


def _compare_rounded(e: Number, a: Number, tol: _Tol) -> Comparison:
    if _rounded_equal(e, a, tol):
        return Comparison(equal=True)
    rule = (f"{tol.sigfigs} significant figures" if tol.sigfigs is not None
            else f"{tol.decimals} decimals")
    try:
        if isinstance(e, complex) or isinstance(a, complex):
            shown = f"expected {_num(e)}, got {_num(a)}"
        else:
            shown = (f"expected {_decimal_text(_rounded(e, tol))}, got "
                     f"{_decimal_text(_rounded(a, tol))} when rounded")
    except (InvalidOperation, ValueError, OverflowError, TypeError):
        shown = _differ(e, a)
    return Comparison(equal=False, message=f"{shown} to {rule}",
                      hint=_scalar_hint(e, a, tol))


def _decimal_text(d: Decimal) -> str:
    text = format(d, "f") if -30 < d.adjusted() < 30 else format(d, "E")
    return text


def _scalar_hint(e: Number, a: Number, tol: _Tol) -> str:
    try:
        if e != 0 and _close_scalar(e, -a, tol.floats()):
            return "sign flipped"
    except (TypeError, OverflowError):
        pass
    return ""


def _differ(e: Number, a: Number) -> str:
    e_text, a_text = _pair(e, a)
    return f"expected {e_text}, got {a_text}"


# --------------------------------------------------------------------------- arrays


def _compare_array(expected: Any, received: Any, tol: _Tol) -> Comparison:
    try:
        e_arr = _to_array(expected, "expected", bools=tol.bool_as_number)
    except _NotNumbers:
        # A ragged or mixed expected list (trusted): compare element by element.
        return _compare_list(list(expected), received, tol)
    if isinstance(received, str):
        try:
            parsed = _parse_text(received)
        except _NotNumbers as exc:
            return Comparison(equal=False, message=f"expected numbers of shape {e_arr.shape}, "
                              f"got the text {_short_text(received)}, {exc}")
        received = parsed
    try:
        a_arr = _received_array(received, bools=tol.bool_as_number)
    except _NotNumbers as exc:
        return Comparison(equal=False, message=f"expected numbers of shape {e_arr.shape}, "
                          f"got {exc}")
    return _compare_arrays(e_arr, a_arr, tol)


def _compare_list(expected: list[Any], received: Any, tol: _Tol) -> Comparison:
    items = _as_sequence(received)
    if items is None or len(items) != len(expected):
        return Comparison(equal=False, message=f"expected a list of {len(expected)} values, "
                          f"got {_describe(received)}")
    for i, (e, a) in enumerate(zip(expected, items, strict=True)):
        c = _compare(e, a, tol)
        if not c.equal:
            return Comparison(equal=c.equal, hint=c.hint, message=f"at index {i}: {c.message}")
    return Comparison(equal=True)


def _shape_text(shape: tuple[int, ...]) -> str:
    return "() (a single number)" if shape == () else str(shape)


def _same_kind(e: np.ndarray, a: np.ndarray, tol: _Tol) -> tuple[np.ndarray, np.ndarray]:
    """Arrays ready to compare: bools as 0/1 when the check allows it, no unsigned ints."""

    def fix(arr: np.ndarray) -> np.ndarray:
        if arr.dtype.kind == "b" and tol.bool_as_number:
            return arr.astype(np.int64)
        if arr.dtype.kind == "u":  # negating or subtracting unsigned ints wraps around
            return arr.astype(np.int64 if arr.size == 0 or arr.max() < 2**62 else float)
        return arr

    return fix(e), fix(a)


def _compare_arrays(e: np.ndarray, a: np.ndarray, tol: _Tol) -> Comparison:
    e, a = _same_kind(e, a, tol)
    if e.shape != a.shape:
        hint = ""
        if a.ndim == 2 and a.T.shape == e.shape and _all_close(e, a.T, tol):
            hint = "transposed"
        elif a.size == e.size and a.size > 1 and _all_close(e.ravel(), a.ravel(), tol):
            hint = "the values are right but the shape is not"
        return Comparison(equal=False, hint=hint or f"shape {_shape_text(a.shape)} instead of "
                          f"{_shape_text(e.shape)}", message=f"shape {_shape_text(e.shape)} "
                          f"expected, got {_shape_text(a.shape)}")
    if (e.dtype.kind == "b") != (a.dtype.kind == "b"):
        if e.dtype.kind == "b":
            return Comparison(equal=False, message="expected True/False values (bools), got "
                              "numbers: a number is not a bool")
        return Comparison(equal=False, message="expected numbers, got True/False values "
                          "(bools): a bool is not a number")
    if e.size == 0:
        return Comparison(equal=True)
    close = _close(e, a, tol)
    if bool(close.all()):
        return Comparison(equal=True)
    bad = np.argwhere(~close)
    first = tuple(int(i) for i in bad[0])
    where = _index_text(first)
    e_text, a_text = _pair(_scalar(e[first]), _scalar(a[first]))
    count = f"{len(bad)} of {e.size} entries differ; " if e.size > 1 else ""
    nan_note = ""
    if not tol.equal_nan and any(_is_nan(v) for v in (_scalar(e[first]), _scalar(a[first]))
                                 if v is not None):
        nan_note = " (NaN never equals anything)"
    message = f"{count}at index {where}: expected {e_text}, got {a_text}{nan_note}"
    return Comparison(equal=False, message=message, hint=_array_hint(e, a, tol))


def _index_text(index: tuple[int, ...]) -> str:
    return str(index[0]) if len(index) == 1 else str(index)


def _close(e: np.ndarray, a: np.ndarray, tol: _Tol) -> np.ndarray:
    """Elementwise equality under the number rule (arrays of the same shape)."""
    shape = e.shape
    e, a = e.reshape(-1), a.reshape(-1)  # flat: 0-d arrays have no nonzero() to loop over
    if e.dtype.kind == "b" or a.dtype.kind == "b":
        return np.asarray(e == a).reshape(shape)
    with np.errstate(all="ignore"):
        if e.dtype.kind in "iu" and not tol.given:
            return _exact_int_close(e, a).reshape(shape)
        ef = e.astype(complex if e.dtype.kind == "c" else float)
        af = a.astype(complex if a.dtype.kind == "c" else float)
        finite = np.isfinite(ef) & np.isfinite(af)
        same_inf = np.isinf(ef) & (af == ef)
        both_nan = (np.isnan(ef) & np.isnan(af)) if tol.equal_nan else np.zeros(e.shape, bool)
        if tol.rounding:
            ok = np.zeros(e.shape, dtype=bool)
            for i in np.flatnonzero(finite):
                ok[i] = _rounded_equal(_number(e[i]), _number(a[i]), tol)
            return np.asarray(ok | same_inf | both_nan).reshape(shape)
        diff = np.abs(af - ef)
        bound = tol.atol + tol.rtol * np.abs(ef)
        ok = finite & (diff <= bound)
        if ef.dtype.kind == "f" and af.dtype.kind == "f":
            # Entries on the boundary in binary are decided on their decimal values.
            near = finite & (bound > 0) & (np.abs(diff - bound) <= _TIE * bound)
            for i in np.flatnonzero(near):
                ok[i] = _exact_close(_number(e[i]), _number(a[i]), tol)
        return np.asarray(ok | same_inf | both_nan).reshape(shape)


def _number(value: Any) -> Number:
    number = _scalar(value)
    return 0 if number is None else number


def _exact_int_close(e: np.ndarray, a: np.ndarray) -> np.ndarray:
    if a.dtype.kind in "iu":
        return np.asarray(e == a)
    if a.dtype.kind == "c":
        real_ok = a.imag == 0
        a = a.real
    else:
        real_ok = np.ones(a.shape, dtype=bool)
    # Compare as integers: a float equals an int only if it is exactly integral, and
    # converting ints to float would merge neighbours above 2**53.
    ok = real_ok & np.isfinite(a) & (np.floor(a) == a) & (np.abs(a) < 2.0**63)
    a_int = np.where(ok, a, 0).astype(np.int64)
    return np.asarray(ok & (a_int == e))


def _all_close(e: np.ndarray, a: np.ndarray, tol: _Tol) -> bool:
    if e.shape != a.shape or e.dtype.kind == "b" or a.dtype.kind == "b":
        return False
    return bool(_close(e, a, tol).all())


def _array_hint(e: np.ndarray, a: np.ndarray, tol: _Tol) -> str:
    if e.dtype.kind == "b" or a.dtype.kind == "b":
        return ""
    loose = _Tol(tol.rtol, tol.atol)  # hints use the float tolerance even for exact ints
    with np.errstate(all="ignore"):
        ef = e.astype(complex if e.dtype.kind == "c" else float)
        af = a.astype(complex if a.dtype.kind == "c" else float)
        if not (np.isfinite(ef).all() and np.isfinite(af).all()):
            return ""
        nonzero = np.abs(ef) > tol.atol
        if nonzero.any() and _all_close(ef, -af, loose):
            return "sign flipped"
        if e.ndim == 2 and e.shape[0] == e.shape[1] and _all_close(ef, af.T, loose):
            return "transposed"
        if int(nonzero.sum()) >= 2:
            i = np.unravel_index(int(np.argmax(np.abs(ef))), ef.shape)
            k = af[i] / ef[i]
            if np.isfinite(k) and abs(k) > 1e-12 and abs(abs(k) - 1) > 1e-9 and _all_close(
                    k * ef, af, loose):
                return f"off by a constant factor {_num(_scalar(k) or 0)}"
        if e.ndim == 1 and e.size > 1 and _all_close(np.sort(ef.real), np.sort(af.real),
                                                      loose) and not np.iscomplexobj(ef):
            return "the right values in another order"
    return ""


def _rows(arr: np.ndarray) -> list[Any]:
    """Display strings of a 1-D (a flat list) or 2-D (a list of rows) array."""
    if arr.ndim == 1:
        return [_exact_text(v) for v in arr.tolist()]
    return [[_exact_text(v) for v in row] for row in arr.tolist()]


def _exact_text(v: Any) -> str:
    """A number with every digit it has (the report shortens it), for array diffs."""
    if isinstance(v, bool):
        return str(v)
    if isinstance(v, int):
        return str(v) if abs(v) < 10**40 else _big_int(v, 17)
    if isinstance(v, complex):
        sign = "-" if v.imag < 0 or (v.imag == 0 and math.copysign(1, v.imag) < 0) else "+"
        return f"({v.real!r}{sign}{abs(v.imag)!r}j)"
    if isinstance(v, float):
        return repr(v)
    return str(v)


def _to_array(value: Any, who: str, *, bools: bool = False) -> np.ndarray:
    """A numeric ndarray from an array, matrix, nested list or scalar; raises _NotNumbers."""
    if isinstance(value, np.ndarray):
        if value.dtype.kind not in "biufc":
            raise _NotNumbers(f"an array of dtype {value.dtype}, not numbers")
        return value
    if _is_matrix(value):
        rows, cols = value.shape
        flat = [_entry(v, (i // max(cols, 1), i % max(cols, 1))) for i, v in
                enumerate(list(value))]
        return _build(flat, (rows, cols), bools=bools)
    flat_values: list[Number] = []
    shape = _walk(value, 0, (), flat_values)
    return _build(flat_values, shape, bools=bools)


def _received_array(value: Any, *, bools: bool = False) -> np.ndarray:
    if isinstance(value, str):
        parsed = _parse_text(value)
        return parsed if isinstance(parsed, np.ndarray) else _build([parsed], ())
    return _to_array(value, "received", bools=bools)


def _entry(value: Any, index: tuple[int, ...]) -> Number:
    number = _scalar(value)
    if number is None:
        where = _index_text(index) if index else ""
        raise _NotNumbers(f"an entry at index {where} that is {_describe(value)}, not a number"
                          if where else f"{_describe(value)}, not a number")
    return number


def _walk(value: Any, depth: int, index: tuple[int, ...], out: list[Number]) -> tuple[int, ...]:
    """Append the numbers of a nested list to ``out`` and return its shape."""
    if depth > _MAX_DEPTH:
        raise _NotNumbers("a list nested too deeply")
    if isinstance(value, np.ndarray) and value.ndim > 0:
        if value.dtype.kind not in "biufc":
            raise _NotNumbers(f"an array of dtype {value.dtype}, not numbers")
        out.extend(value.ravel().tolist())  # plain Python bools/ints/floats/complexes
        return tuple(value.shape)
    if _is_matrix(value):
        arr = _to_array(value, "")
        out.extend(arr.ravel().tolist())
        return tuple(arr.shape)
    if isinstance(value, list | tuple):
        shapes = [_walk(item, depth + 1, (*index, i), out) for i, item in enumerate(value)]
        if any(s != shapes[0] for s in shapes):
            j = next(i for i, s in enumerate(shapes) if s != shapes[0])
            raise _NotNumbers(f"a ragged nested list: the entry at index "
                              f"{_index_text((*index, j))} has shape {shapes[j]}, the entry "
                              f"at index {_index_text((*index, 0))} has shape {shapes[0]}")
        return (len(value), *(shapes[0] if shapes else ()))
    out.append(_entry(value, index))
    return ()


def _build(flat: list[Number], shape: tuple[int, ...], *, bools: bool = False) -> np.ndarray:
    if any(isinstance(v, bool) for v in flat):
        if all(isinstance(v, bool) for v in flat):
            return np.array(flat, dtype=bool).reshape(shape)
        if not bools:
            raise _NotNumbers("a list mixing True/False with numbers")
        flat = [int(v) if isinstance(v, bool) else v for v in flat]
    if any(isinstance(v, complex) for v in flat):
        dtype: Any = complex
    elif all(isinstance(v, int) and -(2**63) <= v < 2**63 for v in flat):
        dtype = np.int64
    else:
        dtype = float
    try:
        values = [complex(v) if isinstance(v, complex) or dtype is complex
                  else float(v) if dtype is float else v for v in flat]
    except OverflowError:
        raise _NotNumbers("a number too large to compare") from None
    return np.array(values, dtype=dtype).reshape(shape)


# --------------------------------------------------------------------------- text


_NUM = r"[+-]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?"
_NUMBER = re.compile(_NUM)
_RATIO = re.compile(rf"({_NUM})\s*/\s*({_NUM})")
_SPECIAL = re.compile(r"([+-]?)(inf|infinity|nan)", re.IGNORECASE)
_COMPLEX = re.compile(r"\(?[0-9.eE+\-]*[jJ]\)?|\(?[0-9.eE+\-]+[+-][0-9.eE]*[jJ]\)?")
_TOKEN = re.compile(r"\s*([\[\]\(\),]|[^\s\[\]\(\),]+)")


def _parse_text(text: str) -> Number | np.ndarray:
    """Read a number or a bracketed list of numbers from text, evaluating nothing."""
    if len(text) > _MAX_TEXT:
        raise _NotNumbers("which is too long to read")
    stripped = text.strip()
    number = None if stripped.startswith("[") else _parse_number(stripped)
    if number is not None:
        return number
    if stripped.startswith(("[", "(")):
        try:
            return _parse_list(stripped)
        except _NotNumbers:
            # "[sqrt(2)/2, 1/3]": entries written as expressions
            parsed = _parse_with_expression_parser(stripped)
            if parsed is not None:
                return parsed
            raise
    parsed = _parse_with_expression_parser(stripped)
    if parsed is not None:
        return parsed
    raise _NotNumbers("which is not a number")


def _parse_number(token: str) -> Number | None:
    try:
        return _parse_number_unchecked(token)
    except ValueError:  # int() refuses more than 4300 digits
        raise _NotNumbers("which has a number with too many digits") from None


def _parse_number_unchecked(token: str) -> Number | None:
    if _NUMBER.fullmatch(token):
        if re.fullmatch(r"[+-]?\d+", token):
            return int(token)
        return float(token)
    m = _RATIO.fullmatch(token)
    if m:
        den = Fraction(m.group(2))
        if den == 0:
            return None
        return Fraction(m.group(1)) / den
    m = _SPECIAL.fullmatch(token)
    if m:
        return float(m.group(1) + m.group(2))
    if token in ("True", "False"):
        return token == "True"  # a bool, which is not a number unless bool_as_number
    if _COMPLEX.fullmatch(token):
        try:
            return complex(token)
        except ValueError:
            return None
    return None


def _parse_with_expression_parser(text: str) -> Number | np.ndarray | None:
    """Numbers written as expressions (``sqrt(2)/2``, ``[pi, 1/3]``) via the whitelist parser."""
    if len(text) > _MAX_EXPR_TEXT or not text:
        return None
    try:
        from grader.errors import GraderError
        from grader.parse import parse_expression
    except ImportError:
        return None
    try:
        expr = parse_expression(text, symbols={})
    except (GraderError, ValueError, TypeError, SyntaxError, RecursionError, OverflowError):
        return None
    sp = _sympy()
    if sp is None:
        return None
    if isinstance(expr, list | sp.Tuple):
        try:
            return _to_array(list(expr), "received")
        except _NotNumbers:
            return None
    value = _scalar(expr)
    return None if isinstance(value, bool) else value


def _parse_list(text: str) -> np.ndarray:
    tokens = [m.group(1) for m in _TOKEN.finditer(text)]
    if "".join(tokens) != re.sub(r"\s+", "", text):
        raise _NotNumbers("which is not a list of numbers")
    pos = 0
    close_of = {"[": "]", "(": ")"}

    def parse(depth: int) -> Any:
        nonlocal pos
        if depth > _MAX_DEPTH:
            raise _NotNumbers("which is nested too deeply")
        if pos >= len(tokens):
            raise _NotNumbers("which ends too early")
        tok = tokens[pos]
        pos += 1
        if tok in close_of:
            closing = close_of[tok]
            items: list[Any] = []
            while True:
                if pos >= len(tokens):
                    raise _NotNumbers(f"which lacks a closing {closing!r}")
                if tokens[pos] == closing:
                    pos += 1
                    return items
                if tokens[pos] == ",":
                    if not items:
                        raise _NotNumbers("which has a misplaced comma")
                    pos += 1
                    if pos < len(tokens) and tokens[pos] == closing:
                        continue  # trailing comma, as Python allows
                items.append(parse(depth + 1))
        number = _parse_number(tok)
        if number is None:
            raise _NotNumbers(f"whose entry {_short_text(tok)} is not a number")
        return number

    value = parse(0)
    if pos != len(tokens):
        raise _NotNumbers("which has text after the closing bracket")
    return _to_array(value, "received")


# --------------------------------------------------------------------------- display


def _describe(value: Any) -> str:
    """Name what was received, for messages ("None", "a function", "a str ...")."""
    if value is None:
        return "None"
    if value is MISSING:
        return "nothing (the name is not defined)"
    if isinstance(value, Rejected):
        return f"a value that could not be read ({value.reason})"
    if isinstance(value, CallableAnswer):
        return f"a function ({value.name}), not a value"
    if isinstance(value, str):
        return f"the text {_short_text(value)}"
    if isinstance(value, bool | np.bool_):
        return f"{bool(value)} (a bool)"
    if isinstance(value, Mapping):
        return f"a dict with {len(value)} keys"
    if isinstance(value, np.ndarray):
        return f"an array of shape {value.shape} and dtype {value.dtype}"
    if isinstance(value, list | tuple):
        return f"a {type(value).__name__} of {len(value)} items"
    if isinstance(value, frozenset | set):
        return f"a set of {len(value)} items"
    sp = _sympy()
    if sp is not None and isinstance(value, sp.Basic | sp.MatrixBase):
        free = sorted(str(s) for s in getattr(value, "free_symbols", ()))
        if free:
            return f"the sympy expression {_format(value, 0)} with symbols {', '.join(free)}"
        return f"the sympy object {_format(value, 0)}"
    return f"a value of type {type(value).__name__}"


def _short_text(text: str, limit: int = 60) -> str:
    return repr(text if len(text) <= limit else text[:limit] + "…")


def _num(x: Number, digits: int = 6) -> str:
    if isinstance(x, bool):
        return str(x)
    if isinstance(x, int):
        return str(x) if abs(x) < 10**40 else _big_int(x, digits)
    if isinstance(x, Fraction):
        return f"{x.numerator}/{x.denominator}" if x.denominator != 1 else str(x.numerator)
    if isinstance(x, complex):
        return f"({_num(x.real, digits)}{'+' if x.imag >= 0 else '-'}{_num(abs(x.imag), digits)}j)"
    if math.isnan(x):
        return "NaN"
    if math.isinf(x):
        return "inf" if x > 0 else "-inf"
    if x == int(x) and abs(x) < 1e15 and digits <= 15:
        return str(int(x))
    return f"{x:.{digits}g}"


def _big_int(x: int, digits: int) -> str:
    # str() of a huge int is slow and limited; show its leading digits and exponent.
    exponent = int(abs(x).bit_length() * math.log10(2))
    while 10**exponent > abs(x):
        exponent -= 1
    lead = str(abs(x) // 10 ** max(exponent - digits + 1, 0))
    sign = "-" if x < 0 else ""
    return f"{sign}{lead[0]}.{lead[1:]}e+{exponent}"


def _pair(e: Number | None, a: Number | None) -> tuple[str, str]:
    """Display two numbers with just enough digits to tell them apart."""
    if e is None or a is None:
        return str(e), str(a)
    for digits in (6, 8, 10, 12, 15, 17):
        e_text, a_text = _num(e, digits), _num(a, digits)
        if e_text != a_text:
            return e_text, a_text
    return e_text, a_text


def _format(value: Any, depth: int) -> str:
    if depth > 6:
        return "…"
    if value is None or value is MISSING:
        return repr(value)
    if isinstance(value, Rejected):
        return f"<unreadable: {value.reason}>"
    if isinstance(value, CallableAnswer):
        return f"<function {value.name}{value.signature}>"
    if isinstance(value, str):
        return _short_text(value, 200)
    if isinstance(value, np.ndarray) and value.ndim > 0:
        return _format_array(value)
    if isinstance(value, Mapping):
        items = list(value.items())
        body = ", ".join(f"{_format(k, depth + 1)}: {_format(v, depth + 1)}"
                         for k, v in items[:10])
        return "{" + body + (", …" if len(items) > 10 else "") + "}"
    if isinstance(value, list | tuple):
        shown = [_format(v, depth + 1) for v in value[:20]]
        if len(value) > 20:
            shown.append(f"… ({len(value)} items)")
        if isinstance(value, tuple):
            return "(" + ", ".join(shown) + ("," if len(value) == 1 else "") + ")"
        return "[" + ", ".join(shown) + "]"
    if isinstance(value, frozenset | set):
        return "{" + ", ".join(_format(v, depth + 1) for v in list(value)[:20]) + "}"
    sp = _sympy()
    if sp is not None and isinstance(value, sp.Basic | sp.MatrixBase):
        text = sp.sstr(value)
        return text if len(text) <= 300 else text[:299] + "…"
    number = _scalar(value)
    if number is not None:
        return _num(number)
    text = repr(value)
    return text if len(text) <= 100 else text[:99] + "…"


def _format_array(arr: np.ndarray) -> str:
    limit = max(2, int(20 ** (1 / arr.ndim)))
    truncated = any(n > limit for n in arr.shape)

    def rec(a: np.ndarray) -> str:
        if a.ndim == 0:
            return _num(_scalar(a[()]) or 0) if a.dtype.kind != "b" else str(bool(a[()]))
        items = [rec(a[i]) for i in range(min(len(a), limit))]
        if len(a) > limit:
            items.append("…")
        return "[" + ", ".join(items) + "]"

    text = rec(arr)
    return f"{text} (shape {arr.shape})" if truncated else text
