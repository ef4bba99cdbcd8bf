"""Numeric answers: numbers, arrays, nested lists, tuples and dicts, within tolerances.

Tolerance rule: a received number ``a`` equals the expected ``e`` when
``|a - e| <= atol + rtol * |e|`` (relative to the *expected* value; for complex
numbers ``|.|`` is the complex modulus). Defaults when a tolerance is ``None``:
``rtol = 1e-6`` and ``atol = 1e-9``. When the expected value is an integer (a Python
``int`` or numpy integer, scalar or array) and *neither* tolerance is given, equality
is exact, but an exactly integral float (``661.0``) equals ``661``. When only one
tolerance is given the other takes its default above.

Other rules: a bool is not a number (``True`` is not ``1`` and ``1`` is not ``True``);
NaN never equals anything; an infinity equals only the same infinity; shapes must match
exactly (no broadcasting). Text received where a number is expected is read by a small
parser of numbers, fractions and bracketed lists (nothing is evaluated), falling back
to the whitelist parser :func:`grader.parse.parse_expression` for expressions such as
``sqrt(2)/2``.

``compare`` never raises: a comparison the grader itself cannot do (its own bug) comes
back as ``Comparison(equal=None)`` with a message saying so.
"""

from __future__ import annotations

import math
import re
import sys
from collections.abc import Mapping
from fractions import Fraction
from typing import Any

import numpy as np

from grader.checks import (
    MISSING,
    CallableAnswer,
    Comparison,
    Evidence,
    Rejected,
    absent_result,
    make_result,
)
from grader.results import CheckResult
from grader.rubric import CheckSpec, Mistake

DEFAULT_RTOL = 1e-6
DEFAULT_ATOL = 1e-9

_MAX_TEXT = 100_000  # longest text answer we try to read as numbers
_MAX_DEPTH = 32  # deepest nesting of lists we accept (text or data)
_MAX_EXPR_TEXT = 5_000  # longest text we hand to the expression parser


class _Tol:
    """The tolerances of one comparison, with the exact-integer rule spelled out."""

    def __init__(self, rtol: float | None, atol: float | None) -> None:
        self.given = rtol is not None or atol is not None
        self.rtol = DEFAULT_RTOL if rtol is None else float(rtol)
        self.atol = DEFAULT_ATOL if atol is None else float(atol)


class _NotNumbers(Exception):
    """A received value (or text) that cannot be read as numbers; the text says why."""


# --------------------------------------------------------------------------- public API


def compare(
    expected: Any, received: Any, *, rtol: float | None = None, atol: float | None = None
) -> Comparison:
    """Compare a received value with the expected one within tolerances.

    Defaults: ``rtol=1e-6``, ``atol=1e-9`` for floats; exact equality for an integer
    expected value when neither tolerance is given (``661.0`` still equals ``661``).
    See the module docstring for the full rule. Never raises.
    """
    try:
        return _compare(expected, received, _Tol(rtol, atol))
    except RecursionError:
        return Comparison(equal=False, message="the value is nested too deeply to compare")
    except Exception as exc:  # a comparison must never raise; this is our bug
        return Comparison(
            equal=None,
            message=f"the grader failed to compare this answer (a grader problem, not your "
            f"answer): {type(exc).__name__}: {exc}",
        )


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


# --------------------------------------------------------------------------- grading


def _grade(spec: CheckSpec, evidence: Evidence, max_score: float, expected: Any,
           received: Any, received_text: str) -> CheckResult:
    expected_text = format_value(expected)

    def result(fraction: float, message: str, mistake: str | None = None,
               status: Any = None) -> CheckResult:
        if status is None:
            status = "passed" if fraction >= 1 else "partial" if fraction > 0 else "failed"
        return make_result(spec, max_score, fraction=fraction, status=status, message=message,
                           expected=expected_text, received=received_text, mistake=mistake)

    comparison = compare(expected, received, rtol=spec.rtol, atol=spec.atol)
    if comparison.equal:
        return result(1.0, "Correct.")
    if comparison.equal is None:
        return result(0.0, comparison.message, status="error")

    share = 0.0
    if spec.partial and _is_container(expected):
        share = _share(expected, received, _Tol(spec.rtol, spec.atol))
    matched = _matched_mistake(spec.mistakes, evidence, received, spec)
    if matched is not None:
        # The mistake names what went wrong; partial credit may still be worth more.
        fraction = max(matched.credit, share)
        return result(min(fraction, _BELOW_ONE), matched.feedback, mistake=matched.id)
    message = _with_hint(comparison)
    if share > 0:
        return result(min(share, _BELOW_ONE), message)
    return result(0.0, message)


# A failed comparison never earns full marks, even if every element "matched" (extra keys).
_BELOW_ONE = 0.999999


def _matched_mistake(mistakes: tuple[Mistake, ...], evidence: Evidence, received: Any,
                     spec: CheckSpec) -> Mistake | None:
    for m in mistakes:
        value = m.value if m.reference is None else getattr(evidence.reference, m.reference)
        if compare(value, received, rtol=spec.rtol, atol=spec.atol).equal:
            return m
    return None


def _with_hint(comparison: Comparison) -> str:
    message = comparison.message or "not equal to the expected value"
    message = message[0].upper() + message[1:] + ("" if message.endswith(".") else ".")
    if comparison.hint:
        message += f" Hint: {comparison.hint}."
    return message


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
    except _NotNumbers:
        return 0.0
    if e_arr.shape != a_arr.shape or e_arr.size == 0 or e_arr.dtype.kind == "b" or (
            a_arr.dtype.kind == "b"):
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
        return _compare_bools(e, a)
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
    if _is_nan(e):
        return Comparison(equal=False, message="the expected value is NaN, and NaN never "
                          "equals anything")
    if _is_nan(a):
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
    if isinstance(e, int | Fraction) and isinstance(a, int | Fraction):
        # Exact arithmetic: no rounding error near the tolerance boundary, no overflow.
        bound = Fraction(tol.atol) + Fraction(tol.rtol) * abs(Fraction(e))
        return abs(Fraction(a) - Fraction(e)) <= bound
    try:
        if isinstance(e, complex) or isinstance(a, complex):
            ec: float | complex = complex(e)
            ac: float | complex = complex(a)
        else:
            ec, ac = float(e), float(a)
    except OverflowError:
        return False
    diff = abs(ac - ec)
    return bool(diff <= tol.atol + tol.rtol * abs(ec))


def _scalar_hint(e: Number, a: Number, tol: _Tol) -> str:
    try:
        if e != 0 and _close_scalar(e, -a, _Tol(tol.rtol, tol.atol)):
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
        e_arr = _to_array(expected, "expected")
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
        a_arr = _received_array(received)
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


def _compare_arrays(e: np.ndarray, a: np.ndarray, tol: _Tol) -> Comparison:
    if e.shape != a.shape:
        hint = ""
        if a.ndim == 2 and a.T.shape == e.shape and _all_close(e, a.T, tol):
            hint = "transposed"
        elif a.size == e.size and a.size > 1 and _all_close(e.ravel(), a.ravel(), tol):
            hint = "the values are right but the shape is not"
        return Comparison(equal=False, hint=hint, message=f"shape {_shape_text(e.shape)} "
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
    if any(_is_nan(v) for v in (_scalar(e[first]), _scalar(a[first])) if v is not None):
        nan_note = " (NaN never equals anything)"
    message = f"{count}at index {where}: expected {e_text}, got {a_text}{nan_note}"
    return Comparison(equal=False, message=message, hint=_array_hint(e, a, tol))


def _index_text(index: tuple[int, ...]) -> str:
    return str(index[0]) if len(index) == 1 else str(index)


def _close(e: np.ndarray, a: np.ndarray, tol: _Tol) -> np.ndarray:
    """Elementwise equality under the tolerance rule (arrays of the same shape)."""
    if e.dtype.kind == "b" or a.dtype.kind == "b":
        return np.asarray(e == a)
    with np.errstate(all="ignore"):
        if e.dtype.kind in "iu" and not tol.given:
            return _exact_int_close(e, a)
        ef = e.astype(complex if e.dtype.kind == "c" else float)
        af = a.astype(complex if a.dtype.kind == "c" else float)
        diff = np.abs(af - ef)
        bound = tol.atol + tol.rtol * np.abs(ef)
        finite = np.isfinite(ef) & np.isfinite(af)
        same_inf = np.isinf(ef) & (af == ef)
        return np.asarray((finite & (diff <= bound)) | same_inf)


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
    loose = _Tol(tol.rtol, tol.atol)  # hints use the tolerance even for exact ints
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
    return ""


def _to_array(value: Any, who: str) -> np.ndarray:
    """A numeric ndarray from an array, matrix, nested list or scalar; raises _NotNumbers."""
    if isinstance(value, np.ndarray):
        if value.dtype.kind not in "biufc":
            raise _NotNumbers(f"an array of dtype {value.dtype}, not numbers")
        return value
    if _is_matrix(value):
        rows, cols = value.shape
        flat = [_entry(v, (i // max(cols, 1), i % max(cols, 1))) for i, v in
                enumerate(list(value))]
        return _build(flat, (rows, cols))
    flat_values: list[Number] = []
    shape = _walk(value, 0, (), flat_values)
    return _build(flat_values, shape)


def _received_array(value: Any) -> np.ndarray:
    if isinstance(value, str):
        parsed = _parse_text(value)
        return parsed if isinstance(parsed, np.ndarray) else _build([parsed], ())
    return _to_array(value, "received")


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


def _build(flat: list[Number], shape: tuple[int, ...]) -> np.ndarray:
    if any(isinstance(v, bool) for v in flat):
        if not all(isinstance(v, bool) for v in flat):
            raise _NotNumbers("a list mixing True/False with numbers")
        return np.array(flat, dtype=bool).reshape(shape)
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
