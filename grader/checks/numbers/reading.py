"""Reading received values as numbers: text, nested lists, matrices and arrays.

Text is read by a small parser of numbers, fractions and bracketed lists (nothing is
evaluated), falling back to the whitelist parser :func:`grader.parse.parse_expression`
for expressions such as ``sqrt(2)/2``.
"""

from __future__ import annotations

import re
from fractions import Fraction
from typing import Any

import numpy as np

from grader.checks.common import Number, _scalar, _short_text, _sympy
from grader.checks.numbers.display import _describe_for_numbers, _index_text

_MAX_TEXT = 100_000  # longest text answer we try to read as numbers
_MAX_DEPTH = 32  # deepest nesting of lists we accept (text or data)
_MAX_EXPR_TEXT = 5_000  # longest text we hand to the expression parser


class _NotNumbers(Exception):
    """A received value (or text) that cannot be read as numbers; the text says why."""


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
        what = _describe_for_numbers(value)
        raise _NotNumbers(f"an entry at index {where} that is {what}, not a number"
                          if where else f"{what}, not a number")
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
