"""Comparing two numbers: bools, NaN and infinities, exact integers, tolerances, rounding."""

from __future__ import annotations

import math
from decimal import ROUND_HALF_UP, Context, Decimal, InvalidOperation, localcontext
from fractions import Fraction
from typing import Any

import numpy as np

from grader.checks import Comparison
from grader.checks.common import Number, _num, _scalar, _short_text
from grader.checks.numbers.display import _describe_for_numbers, _pair
from grader.checks.numbers.reading import _is_array_like, _NotNumbers, _parse_text, _received_array
from grader.checks.numbers.rule import _Tol
from grader.messages import say

_TIE = 1e-9  # relative distance to the tolerance boundary that is decided exactly
# Enough digits for any float (17 significant, exponents to 308) and decimals <= 50.
_DECIMALS = Context(prec=420, rounding=ROUND_HALF_UP, Emax=10**6, Emin=-(10**6))


def _compare_scalar(e: Number, expected: Any, received: Any, tol: _Tol) -> Comparison:
    if isinstance(received, str):
        try:
            parsed = _parse_text(received)
        except _NotNumbers as exc:
            return Comparison(equal=False, message=say(
                "check.num.got_text", text=_short_text(received), why=exc.why))
        if isinstance(parsed, np.ndarray):
            return Comparison(equal=False, message=say("check.num.single_got_list",
                                                       shape=parsed.shape))
        received = parsed
    if _is_array_like(received):
        try:
            arr = _received_array(received)
            shape: str = say("check.num.array_of_shape", shape=arr.shape)
        except _NotNumbers:
            shape = _describe_for_numbers(received)
        return Comparison(equal=False, message=say("check.num.single_got", got=shape))
    a = _scalar(received)
    if a is None:
        return Comparison(equal=False, message=say("check.num.number_got",
                                                   got=_describe_for_numbers(received)))
    if isinstance(e, bool) or isinstance(a, bool):
        if not tol.bool_as_number or (isinstance(e, bool) and isinstance(a, bool)):
            return _compare_bools(e, a)
        e, a = (int(v) if isinstance(v, bool) else v for v in (e, a))
    return _compare_numbers(e, a, tol)


def _compare_bools(e: Number, a: Number) -> Comparison:
    if isinstance(e, bool) and isinstance(a, bool):
        ok = e == a
        return Comparison(equal=ok, message="" if ok else say("check.num.expected_got",
                                                              expected=e, got=a))
    if isinstance(e, bool):
        return Comparison(equal=False, message=say("check.num.bool_got_number", expected=e,
                                                   got=_num(a)))
    return Comparison(equal=False, message=say("check.num.number_got_bool", expected=_num(e),
                                               got=a))


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
            return Comparison(equal=True, message=say("check.num.both_nan"))
        if _is_nan(e):
            return Comparison(equal=False, message=say(
                "check.num.nan_expected" if tol.equal_nan else "check.num.nan_expected_unless"))
        return Comparison(equal=False, message=say("check.num.got_nan", expected=_num(e)))
    if _is_inf(e) or _is_inf(a):
        ok = e == a
        return Comparison(equal=ok, message="" if ok else _differ(e, a))
    if isinstance(e, int) and not tol.given:
        ok = _exact_int_equal(e, a)
        if ok:
            return Comparison(equal=True)
        integer = isinstance(a, float | Fraction | complex)
        e_text, a_text = _pair(e, a)
        return Comparison(equal=False, message=say(
            "check.num.exactly_integer" if integer else "check.num.exactly", expected=e_text,
            got=a_text),
                          hint=_scalar_hint(e, a, tol))
    if tol.rounding:
        return _compare_rounded(e, a, tol)
    ok = _close_scalar(e, a, tol)
    return Comparison(equal=ok, message="" if ok else _differ(e, a),
                      hint="" if ok else _scalar_hint(e, a, tol))


def _numbers_equal(e: Number, a: Number, tol: _Tol) -> bool:
    """:func:`_compare_numbers`'s verdict without its message (for entries one by one)."""
    if (isinstance(e, bool) or isinstance(a, bool) or _is_nan(e) or _is_nan(a)
            or _is_inf(e) or _is_inf(a)):
        return _compare_numbers(e, a, tol).equal is True
    if isinstance(e, int) and not tol.given:
        return _exact_int_equal(e, a)
    return _close_scalar(e, a, tol)


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
        # A number past a float's range (1e400 kept exact): decide in exact arithmetic.
        return not isinstance(e, complex) and not isinstance(a, complex) and _exact_close(
            e, a, tol)
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
    rule = (say("check.num.sigfigs", n=tol.sigfigs) if tol.sigfigs is not None
            else say("check.num.decimals", n=tol.decimals))
    try:
        if isinstance(e, complex) or isinstance(a, complex):
            shown: str = say("check.num.expected_got", expected=_num(e), got=_num(a))
        else:
            shown = say("check.num.expected_got_rounded",
                        expected=_decimal_text(_rounded(e, tol)),
                        got=_decimal_text(_rounded(a, tol)))
    except (InvalidOperation, ValueError, OverflowError, TypeError):
        shown = _differ(e, a)
    return Comparison(equal=False, message=say("check.num.to_rule", detail=shown, rule=rule),
                      hint=_scalar_hint(e, a, tol))


def _decimal_text(d: Decimal) -> str:
    text = format(d, "f") if -30 < d.adjusted() < 30 else format(d, "E")
    return text


def _scalar_hint(e: Number, a: Number, tol: _Tol) -> str:
    try:
        if e != 0 and _close_scalar(e, -a, tol.floats()):
            return say("check.num.sign_flipped")
    except (TypeError, OverflowError):
        pass
    return ""


def _differ(e: Number, a: Number) -> str:
    e_text, a_text = _pair(e, a)
    return say("check.num.expected_got", expected=e_text, got=a_text)
