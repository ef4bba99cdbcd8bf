"""Words and digits of numeric messages: what was received, and numbers told apart."""

from __future__ import annotations

import math
from decimal import Context, Decimal, localcontext
from fractions import Fraction
from typing import Any

import numpy as np

from grader.answers import CallableAnswer
from grader.checks.common import Number, _big_int, _describe_plain, _format, _num, _sympy
from grader.messages import say


def _describe_for_numbers(value: Any) -> str:
    """Name what was received where numbers are expected ("None", "a function", ...)."""
    plain = _describe_plain(value)
    if plain is not None:
        return plain
    if isinstance(value, CallableAnswer):
        return say("check.num.a_function", name=value.name)
    if isinstance(value, bool | np.bool_):
        return say("check.num.a_bool", value=bool(value))
    if isinstance(value, np.ndarray):
        return say("check.num.array_dtype", shape=value.shape, dtype=value.dtype)
    if isinstance(value, frozenset | set):
        return say("check.num.a_set", n=len(value))
    sp = _sympy()
    if sp is not None and isinstance(value, sp.Basic | sp.MatrixBase):
        free = sorted(str(s) for s in getattr(value, "free_symbols", ()))
        if free:
            return say("check.num.sympy_expr", expr=_format(value, 0), symbols=", ".join(free))
        return say("check.num.sympy_object", expr=_format(value, 0))
    return say("check.num.value_of_type", type=type(value).__name__)


def _pair(e: Number | None, a: Number | None) -> tuple[str, str]:
    """Display two numbers with just enough digits to tell them apart."""
    if e is None or a is None:
        return str(e), str(a)
    for digits in (6, 8, 10, 12, 15, 17):
        e_text, a_text = _number_text(e, digits), _number_text(a, digits)
        if e_text != a_text:
            return e_text, a_text
    return e_text, a_text


def _number_text(x: Number, digits: int = 6) -> str:
    """A number in a message: a huge Fraction (``1e400`` as written) by its leading digits."""
    if isinstance(x, Fraction) and (abs(x.numerator) >= _HUGE or x.denominator >= _HUGE):
        if x.denominator == 1:
            return _num(x.numerator, digits)
        with localcontext(Context(prec=digits, Emax=10**6, Emin=-(10**6))):
            return format(Decimal(x.numerator) / Decimal(x.denominator), "e")
    return _num(x, digits)


_HUGE = 10**40  # numerators and denominators from here on are shown by leading digits


def _index_text(index: tuple[int, ...]) -> str:
    return str(index[0]) if len(index) == 1 else str(index)


def _shape_text(shape: tuple[int, ...]) -> str:
    return say("check.num.scalar_shape") if shape == () else str(shape)


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
