"""Reading values as sympy objects: parsing text, plain data, matrices, then normalising."""

from __future__ import annotations

import functools
import math
from collections.abc import Mapping
from fractions import Fraction
from typing import Any

import numpy as np
import sympy as sp
from sympy.core.function import AppliedUndef

from grader.checks import Comparison
from grader.checks.algebra.display import _describe_for_expressions
from grader.checks.algebra.setup import _Setup
from grader.checks.common import _short_text
from grader.errors import GraderError
from grader.messages import say

_MAX_FUNCTION_ROUNDS = 30  # nesting depth of sigma(sigma(...)) we unfold


class _Refused(Exception):
    """An expression we will not compare (undeclared symbol, unknown function...)."""

    @property
    def reason(self) -> str:
        """Why, as it was raised: a check message keeps its parts (``str(exc)`` would not)."""
        return self.args[0] if self.args and isinstance(self.args[0], str) else str(self)


def _why(exc: Exception) -> str:
    """An exception's reason as a message value: a refusal's own parts, else its text."""
    return exc.reason if isinstance(exc, _Refused) else str(exc)


# --------------------------------------------------------------------------- parsing


def parse_text(text: str, setup: _Setup) -> Any:
    """Read a typed answer as the check would; raises ``GraderError`` when it is refused."""
    return _parse(text, setup)


def _parse(text: str, setup: _Setup) -> Any:
    """Parse math text with the whitelist parser (cached); raises GraderError subclasses."""
    return _parse_cached(text, setup.symbols, setup.functions, setup.syntax)


@functools.lru_cache(maxsize=1024)
def _parse_cached(text: str, symbols: tuple[tuple[str, Any], ...],
                  functions: tuple[tuple[str, Any], ...], syntax: str = "python") -> Any:
    from grader.parse import parse_expression

    return parse_expression(text, symbols=dict(symbols), functions=dict(functions),
                            syntax=syntax)


def _rubric_value(value: Any, setup: _Setup) -> Any:
    """Rubric text (a string, or a dict/list of strings) parsed into sympy objects."""
    if isinstance(value, str):
        return _parse(value, setup)
    if isinstance(value, Mapping):
        return {k: _rubric_value(v, setup) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return type(value)(_rubric_value(v, setup) for v in value)
    return value


def _for_display(received: Any, setup: _Setup) -> Any:
    """A text answer parsed (for MathML); other values as they are."""
    if isinstance(received, str):
        try:
            return _parse(received, setup)
        except GraderError:
            return None
    return received


# --------------------------------------------------------------------------- values


def _expected_object(expected: Any, setup: _Setup) -> Any:
    """The expected value as a sympy object, or a Comparison saying why it cannot be."""
    if isinstance(expected, str):
        try:
            return _parse(expected, setup)
        except GraderError as exc:
            return Comparison(equal=None, message=say("check.sym.expected_unreadable",
                                                      expression=repr(expected), error=exc))
    converted = _sympify_plain(expected)
    if converted is None:
        return Comparison(equal=None, message=say("check.num.cannot_compare",
                                                  type=type(expected).__name__))
    return converted


def _received_object(received: Any, setup: _Setup, *,
                     shape: tuple[int, int] | None) -> Any:
    """The received value as a sympy object, or a not-equal Comparison naming what it is.

    ``shape`` is the expected matrix's: lists (and text read as a list) become matrices
    of rows, and a flat list takes the orientation of an expected vector.
    """
    if isinstance(received, str):
        try:
            received = _parse(received, setup)
        except GraderError as exc:
            return Comparison(equal=False, message=say("check.sym.unreadable_expression",
                                                       text=_short_text(received), error=exc))
        if shape is None:
            return received
    if shape is not None and isinstance(received, list | tuple | np.ndarray | sp.Tuple):
        try:
            rows = _matrix_rows(received)
        except (_Refused, ValueError, TypeError) as exc:
            return Comparison(equal=False, message=say(
                "check.sym.matrix_got_why", got=_describe_for_expressions(received),
                why=_why(exc)))
        flat = bool(rows) and all(len(r) == 1 for r in rows) and not _nested(received)
        if flat and shape[0] == 1 and shape[1] == len(rows):
            rows = [[r[0] for r in rows]]  # a flat list has no orientation: a row here
        return sp.ImmutableMatrix(rows)
    converted = _sympify_plain(received)
    if converted is None:
        return Comparison(equal=False, message=say("check.sym.expression_got",
                                                   got=_describe_for_expressions(received)))
    return converted


def _nested(value: Any) -> bool:
    items = value.tolist() if isinstance(value, np.ndarray) else list(value)
    return any(isinstance(v, list | tuple | np.ndarray | sp.Tuple) for v in items)


def _sympify_plain(value: Any) -> Any:
    """Plain data as a sympy object without parsing anything; None when not possible."""
    if isinstance(value, bool | np.bool_) or value is None:
        return None
    if isinstance(value, np.ndarray) and value.ndim == 0 and value.dtype.kind in "iufc":
        return _sympify_plain(value[()])
    if isinstance(value, sp.MatrixBase):
        return sp.ImmutableMatrix(value)
    if isinstance(value, sp.Poly):
        return value.as_expr()  # a polynomial compares as its expression
    if isinstance(value, sp.Basic):
        return value
    if isinstance(value, int | np.integer):
        return sp.Integer(int(value))
    if isinstance(value, Fraction):
        return sp.Rational(value.numerator, value.denominator)
    if isinstance(value, float | np.floating):
        return _float(float(value))
    if isinstance(value, complex | np.complexfloating):
        z = complex(value)
        return _float(z.real) + sp.I * _float(z.imag)
    return None


def _float(x: float) -> Any:
    if math.isnan(x):
        return sp.nan
    if math.isinf(x):
        return sp.oo if x > 0 else -sp.oo
    return sp.Float(x)


def _matrix_rows(value: Any) -> list[list[Any]]:
    if isinstance(value, np.ndarray):
        rows = value.tolist()
    elif isinstance(value, sp.Tuple):
        rows = list(value.args)
    else:
        rows = list(value)
    if rows and not isinstance(rows[0], list | tuple | np.ndarray | sp.Tuple):
        rows = [[v] for v in rows]  # a flat list is a column vector
    out = []
    for row in rows:
        if not isinstance(row, list | tuple | np.ndarray | sp.Tuple):
            raise _Refused(say("check.sym.rows_kinds"))
        items = (row.tolist() if isinstance(row, np.ndarray)
                 else list(row.args) if isinstance(row, sp.Tuple) else row)
        entries = []
        for v in items:
            s = _sympify_plain(v)
            if s is None or not isinstance(s, sp.Expr):
                raise _Refused(say("check.sym.entry_is", what=_describe_for_expressions(v)))
            entries.append(s)
        out.append(entries)
    if any(len(r) != len(out[0]) for r in out):
        raise _Refused(say("check.sym.rows_lengths"))
    return out


# --------------------------------------------------------------------------- normalising


def _normalise(expr: Any, setup: _Setup) -> Any:
    """Declared symbols, functions expanded, derivatives done; raises _Refused."""
    return _normalise_cached(expr, setup)


@functools.lru_cache(maxsize=512)
def _normalise_cached(expr: Any, setup: _Setup) -> Any:
    declared = setup.declared
    functions = dict(setup.functions)
    # Merge same-named symbols first, so that a derivative by the student's w acts on
    # every w of the expression.
    mapping = {s: declared[s.name] for s in expr.free_symbols
               if isinstance(s, sp.Symbol) and s.name in declared and s != declared[s.name]}
    if mapping:
        expr = expr.xreplace(mapping)
    for _ in range(_MAX_FUNCTION_ROUNDS):
        applied = expr.atoms(AppliedUndef)
        if not applied:
            break
        replace = {}
        for f in applied:
            name = f.func.__name__
            lam = functions.get(name)
            if lam is None:
                raise _Refused(say("check.sym.unknown_function", name=name,
                                   allowed=", ".join(functions)) if functions else
                               say("check.sym.no_functions", name=name))
            if len(f.args) not in lam.nargs:
                raise _Refused(say("check.sym.wrong_arity", name=name, n=len(f.args)))
            replace[f] = lam(*f.args)
        expr = expr.xreplace(replace)
    else:
        raise _Refused(say("check.sym.nests_too_deeply"))
    if expr.has(sp.Derivative, sp.Subs):
        expr = expr.replace(lambda n: isinstance(n, sp.Derivative | sp.Subs),
                            lambda n: n.doit())
    free = expr.free_symbols
    for s in sorted(free, key=str):
        if not isinstance(s, sp.Symbol):
            raise _Refused(say("check.sym.not_plain_symbol", symbol=repr(sp.sstr(s))))
        if s.name not in declared:
            raise _Refused(say("check.sym.unknown_symbol", symbol=s.name, names=setup.names))
    mapping = {s: declared[s.name] for s in free if s != declared[s.name]}
    return expr.xreplace(mapping) if mapping else expr
