"""Reading received values as numbers: text, nested lists, matrices and arrays.

Text is read by a small parser of numbers, fractions and bracketed lists (nothing is
evaluated), falling back to the whitelist parser :func:`grader.parse.parse_expression`
for expressions such as ``sqrt(2)/2``.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from decimal import Decimal, InvalidOperation
from fractions import Fraction
from typing import Any

import numpy as np

from grader.checks.common import Number, _scalar, _short_text, _sympy
from grader.checks.numbers.display import _describe_for_numbers, _index_text
from grader.messages import say

_MAX_TEXT = 100_000  # longest text answer we try to read as numbers
_MAX_DEPTH = 32  # deepest nesting of lists we accept (text or data)
_MAX_EXPR_TEXT = 5_000  # longest text we hand to the expression parser
# A decimal literal past a float's range is kept exact as a Fraction up to this decimal
# exponent; beyond it, it is refused (10**4000 has as many digits as int() will read).
MAX_EXPONENT = 4000
_INT64 = 2**63


class _NotNumbers(Exception):
    """A received value (or text) that cannot be read as numbers; the text says why."""

    @property
    def why(self) -> str:
        """Why, as it was raised: a check message keeps its parts (``str(exc)`` would not)."""
        return self.args[0] if self.args else ""


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


def _is_matrix(value: Any) -> bool:
    sp = _sympy()
    return sp is not None and isinstance(value, sp.MatrixBase)


def _is_array_like(value: Any) -> bool:
    return isinstance(value, list | tuple) or _is_matrix(value) or (
        isinstance(value, np.ndarray) and value.ndim > 0)


# --------------------------------------------------------------------------- arrays


def _to_array(value: Any, who: str, *, bools: bool = False) -> np.ndarray:
    """A numeric ndarray from an array, matrix, nested list or scalar; raises _NotNumbers."""
    if isinstance(value, np.ndarray):
        if value.dtype.kind == "O":
            # Exact numbers (ints past int64, Fractions): each entry read as a number.
            flat = [_entry(v, tuple(int(i) for i in np.unravel_index(k, value.shape)))
                    for k, v in enumerate(value.ravel().tolist())]
            return _build(flat, value.shape, bools=bools)
        if value.dtype.kind not in "biufc":
            raise _NotNumbers(say("check.num.array_not_numbers", dtype=value.dtype))
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
        if isinstance(parsed, frozenset):
            raise _NotNumbers(say("check.num.set_not_list", n=len(parsed)))
        return parsed if isinstance(parsed, np.ndarray) else _build([parsed], ())
    return _to_array(value, "received", bools=bools)


def _entry(value: Any, index: tuple[int, ...]) -> Number:
    number = _scalar(value)
    if number is None:
        where = _index_text(index) if index else ""
        what = _describe_for_numbers(value)
        raise _NotNumbers(say("check.num.entry_not_number", index=where, what=what)
                          if where else say("check.num.not_a_number", what=what))
    return number


def _needs_exact(value: Number) -> bool:
    """An int past int64, or a Fraction a float would round to infinity or zero."""
    if isinstance(value, bool):
        return False
    if isinstance(value, int):
        return not -_INT64 <= value < _INT64
    if isinstance(value, Fraction):
        try:
            as_float = float(value)
        except OverflowError:
            return True
        return math.isinf(as_float) or (as_float == 0 and value != 0)
    return False


def _walk(value: Any, depth: int, index: tuple[int, ...], out: list[Number]) -> tuple[int, ...]:
    """Append the numbers of a nested list to ``out`` and return its shape."""
    if depth > _MAX_DEPTH:
        raise _NotNumbers(say("check.num.nested_too_deeply"))
    if isinstance(value, np.ndarray) and value.ndim > 0:
        arr = _to_array(value, "")
        out.extend(arr.ravel().tolist())  # plain Python bools/ints/floats/complexes
        return tuple(arr.shape)
    if _is_matrix(value):
        arr = _to_array(value, "")
        out.extend(arr.ravel().tolist())
        return tuple(arr.shape)
    if isinstance(value, list | tuple):
        shapes = [_walk(item, depth + 1, (*index, i), out) for i, item in enumerate(value)]
        if any(s != shapes[0] for s in shapes):
            j = next(i for i, s in enumerate(shapes) if s != shapes[0])
            raise _NotNumbers(say("check.num.ragged", index=_index_text((*index, j)),
                                  shape=shapes[j], first=_index_text((*index, 0)),
                                  first_shape=shapes[0]))
        return (len(value), *(shapes[0] if shapes else ()))
    out.append(_entry(value, index))
    return ()


def _build(flat: list[Number], shape: tuple[int, ...], *, bools: bool = False) -> np.ndarray:
    if any(isinstance(v, bool) for v in flat):
        if all(isinstance(v, bool) for v in flat):
            return np.array(flat, dtype=bool).reshape(shape)
        if not bools:
            raise _NotNumbers(say("check.num.mixed_bools"))
        flat = [int(v) if isinstance(v, bool) else v for v in flat]
    if any(isinstance(v, complex) for v in flat):
        dtype: Any = complex
    elif all(isinstance(v, int) and -_INT64 <= v < _INT64 for v in flat):
        dtype = np.int64
    elif any(_needs_exact(v) for v in flat):
        # Integers past int64, or exact numbers past a float's range: kept as Python
        # numbers in an object array, compared one by one by the scalar rule.
        arr = np.empty(len(flat), dtype=object)
        arr[:] = flat
        return arr.reshape(shape)
    else:
        dtype = float
    try:
        values = [complex(v) if isinstance(v, complex) or dtype is complex
                  else float(v) if dtype is float else v for v in flat]
    except OverflowError:
        raise _NotNumbers(say("check.num.too_large")) from None
    return np.array(values, dtype=dtype).reshape(shape)


def squeezed(value: Any, *, keep_first: bool = False) -> Any:
    """The value with its length-1 axes dropped (``squeeze = true``), a (3, 1) column as (3,).

    Arrays, matrices, nested lists of numbers and texts of them become arrays without
    length-1 axes (a single number when nothing is left); dicts and lists that are not
    one array are squeezed part by part; anything else is kept as it is. ``keep_first``
    keeps the top axis (under ``unordered`` it holds the elements, even a single one).
    """
    if isinstance(value, Mapping):
        return {k: squeezed(v) for k, v in value.items()}
    if isinstance(value, str):
        try:
            value = _parse_text(value)
        except _NotNumbers:
            return value
    if not _is_array_like(value):
        return value
    try:
        arr = _to_array(value, "")
    except _NotNumbers:
        if isinstance(value, list | tuple):
            return type(value)(squeezed(v) for v in value)
        return value
    if keep_first and arr.ndim >= 1:
        return arr.reshape((arr.shape[0], *[n for n in arr.shape[1:] if n != 1]))
    out = arr.reshape([n for n in arr.shape if n != 1])
    return out[()] if out.ndim == 0 else out


# --------------------------------------------------------------------------- text


_NUM = r"[+-]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?"
_NUMBER = re.compile(_NUM)
_RATIO = re.compile(rf"({_NUM})\s*/\s*({_NUM})")
_SPECIAL = re.compile(r"([+-]?)(inf|infinity|nan)", re.IGNORECASE)
_COMPLEX = re.compile(r"\(?[0-9.eE+\-]*[jJ]\)?|\(?[0-9.eE+\-]+[+-][0-9.eE]*[jJ]\)?")
_TOKEN = re.compile(r"\s*([\[\]\(\),]|[^\s\[\]\(\),]+)")


def _parse_text(text: str) -> Number | np.ndarray | frozenset[Number]:
    """Read a number or a bracketed list of numbers from text, evaluating nothing."""
    if len(text) > _MAX_TEXT:
        raise _NotNumbers(say("check.num.text_too_long"))
    stripped = text.strip()
    number = None if stripped.startswith("[") else _parse_number(stripped)
    if number is not None:
        return number
    if stripped.startswith("{") and stripped.endswith("}"):
        return _parse_set(stripped)
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
    raise _NotNumbers(say("check.num.text_not_number"))


def _parse_set(text: str) -> frozenset[Number]:
    """``{1, 2.5, 1/3}``: a set of numbers, as Python writes one (equal numbers merge)."""
    inner = text[1:-1].strip()
    if not inner or "{" in inner or "}" in inner:
        raise _NotNumbers(say("check.num.text_not_set"))
    items = [item.strip() for item in inner.split(",")]
    if items[-1] == "":
        items.pop()  # a trailing comma, as Python allows
    numbers = []
    for item in items:
        number = _parse_number(item) if item else None
        if number is None:
            raise _NotNumbers(say("check.num.text_entry", entry=_short_text(item)))
        numbers.append(number)
    return frozenset(numbers)


def _parse_number(token: str) -> Number | None:
    try:
        return _parse_number_unchecked(token)
    except ValueError:  # int() refuses more than 4300 digits
        raise _NotNumbers(say("check.num.text_many_digits")) from None


def _parse_number_unchecked(token: str) -> Number | None:
    if _NUMBER.fullmatch(token):
        if re.fullmatch(r"[+-]?\d+", token):
            return int(token)
        return _decimal_literal(token)
    m = _RATIO.fullmatch(token)
    if m:
        den = _exact_literal(m.group(2))
        if den == 0:
            return None
        return _exact_literal(m.group(1)) / den
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


def _exact_literal(token: str) -> Fraction:
    """A decimal literal as the exact number it writes; refused past 10**±MAX_EXPONENT."""
    try:
        d = Decimal(token)
    except InvalidOperation:
        raise ValueError(f"not a number: {token!r}") from None
    if d and abs(d.adjusted()) > MAX_EXPONENT:
        # Fraction(1e999999999) would build a billion-digit integer.
        raise _NotNumbers(say("check.num.text_beyond_range", number=_short_text(token),
                              exp=MAX_EXPONENT))
    return Fraction(d)


def _decimal_literal(token: str) -> float | Fraction:
    """A literal with a point or exponent: a float, or exact where a float cannot hold it.

    ``1e400`` would be ``inf`` as a float (so equal to ``2e400``), and ``1e-400`` would be
    ``0.0``; such literals stay the exact Fraction they write.
    """
    value = float(token)
    if math.isinf(value) or (value == 0 and _exact_literal(token) != 0):
        return _exact_literal(token)
    return value


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
            return _to_array([_expression_number(sp, v) for v in expr], "received")
        except _NotNumbers:
            return None
    value = _expression_number(sp, expr)
    return None if isinstance(value, bool) else value


def _expression_number(sp: Any, value: Any) -> Any:
    """A parsed constant as a number, never a finite value turned into inf or 0.0.

    A sympy Float past a float's range (``2*1e400``) stays exact as a Fraction; another
    finite constant a float cannot hold (``sqrt(2)*1e400``) is refused.
    """
    number = _scalar(value)
    if not isinstance(number, float | complex) or not isinstance(value, sp.Basic):
        return value if number is None else number
    parts = (number.real, number.imag) if isinstance(number, complex) else (number,)
    lost = any(math.isinf(p) for p in parts) or (number == 0 and value != 0)
    if not lost or value.has(sp.oo, -sp.oo, sp.zoo, sp.nan) or value.is_finite is False:
        return number
    if isinstance(value, sp.Float):
        # The decimal digits the Float carries (3e-400 as 3e-400, not its binary value).
        written = Decimal(str(value))
        if abs(written.adjusted()) <= MAX_EXPONENT:
            return Fraction(written)
    raise _NotNumbers(say("check.num.text_constant_range", constant=_short_text(str(value))))


def _parse_list(text: str) -> np.ndarray:
    tokens = [m.group(1) for m in _TOKEN.finditer(text)]
    if "".join(tokens) != re.sub(r"\s+", "", text):
        raise _NotNumbers(say("check.num.text_not_list"))
    pos = 0
    close_of = {"[": "]", "(": ")"}

    def parse(depth: int) -> Any:
        nonlocal pos
        if depth > _MAX_DEPTH:
            raise _NotNumbers(say("check.num.text_too_deep"))
        if pos >= len(tokens):
            raise _NotNumbers(say("check.num.text_ends_early"))
        tok = tokens[pos]
        pos += 1
        if tok in close_of:
            closing = close_of[tok]
            items: list[Any] = []
            while True:
                if pos >= len(tokens):
                    raise _NotNumbers(say("check.num.text_unclosed", closing=repr(closing)))
                if tokens[pos] == closing:
                    pos += 1
                    return items
                if tokens[pos] == ",":
                    if not items:
                        raise _NotNumbers(say("check.num.text_comma"))
                    pos += 1
                    if pos < len(tokens) and tokens[pos] == closing:
                        continue  # trailing comma, as Python allows
                items.append(parse(depth + 1))
        number = _parse_number(tok)
        if number is None:
            raise _NotNumbers(say("check.num.text_entry", entry=_short_text(tok)))
        return number

    value = parse(0)
    if pos != len(tokens):
        raise _NotNumbers("which has text after the closing bracket")
    return _to_array(value, "received")
