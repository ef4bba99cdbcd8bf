"""The whitelisted constructors: a builder per name, each checking its arguments first.

A builder gets a :class:`~grader.parse.source._Call` whose arguments are already built,
refuses what the constructor must not see (wrong kinds, keywords, sizes, unknown
assumptions) and calls it through :func:`_construct`, which turns any failure into a
:class:`~grader.errors.ParseError` and size-checks the result. ``_SREPR_CONSTANTS`` and
``_SREPR_CALLS`` are the whole of what srepr text can name; the typed-expression table
reuses their builders.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import sympy
from sympy.functions.elementary.piecewise import ExprCondPair

from grader.errors import ParseError
from grader.parse.limits import (
    MAX_FACTORIAL_ARG,
    MAX_FLOAT_DIGITS,
    MAX_FLOAT_MAGNITUDE,
    MAX_FLOAT_PRECISION,
    MAX_NAME_LENGTH,
    MAX_VARIADIC_ARGS,
    MAX_VARIADIC_TOTAL,
)
from grader.parse.sizes import (
    _check_add,
    _check_built,
    _check_exp,
    _check_mul,
    _check_pow,
    _exceeds,
)
from grader.parse.source import _Builder, _Call, _exc_text, _kind, _snippet

_FLOAT_TEXT = re.compile(r"[-+]?(?:\d+\.?\d*|\.\d+)(?:[eE]([-+]?\d+))?")

# Every assumption sympy defines (sympy.core.assumptions._assume_defined, spelled out so a
# sympy upgrade cannot silently widen what a student may pass).
_ASSUMPTIONS = frozenset(
    {
        "algebraic", "antihermitian", "commutative", "complex", "composite", "even",
        "extended_negative", "extended_nonnegative", "extended_nonpositive",
        "extended_nonzero", "extended_positive", "extended_real", "finite", "hermitian",
        "imaginary", "infinite", "integer", "irrational", "negative", "noninteger",
        "nonnegative", "nonpositive", "nonzero", "odd", "polar", "positive", "prime",
        "rational", "real", "transcendental", "zero",
    }
)  # fmt: skip


def _construct(
    call: _Call,
    ctor: Callable[..., Any],
    args: Sequence[Any],
    kwargs: Mapping[str, Any] | None = None,
) -> Any:
    """Call a whitelisted constructor, turning any failure into a ParseError."""
    try:
        result = ctor(*args, **(kwargs or {}))
    except ParseError:
        raise
    except RecursionError:
        raise call.src.error("the expression is nested too deeply", call.node) from None
    except MemoryError:
        raise call.src.error("the expression is too large", call.node) from None
    except Exception as exc:
        raise call.src.error(
            f"{call.name}(...) was refused by sympy ({_exc_text(exc)})", call.node
        ) from None
    _check_built(call, result)
    return result


def _sympy_args(
    call: _Call, low: int = 0, high: int | None = None, kind: type[Any] = sympy.Basic
) -> list[Any]:
    """The call's arguments, which must all be sympy objects of ``kind``; no keywords."""
    if call.kwargs:
        call.fail(f"{call.name}() takes no keyword arguments (got {next(iter(call.kwargs))!r})")
    for arg in call.args:
        if not isinstance(arg, kind):
            wanted = "expressions" if kind is sympy.Expr else "sympy arguments"
            call.fail(f"{call.name}() takes {wanted}, not {_kind(arg)}")
    count = len(call.args)
    if count < low or (high is not None and count > high):
        expected = str(low) if low == high else f"{low} to {high}" if high else f"at least {low}"
        call.fail(f"{call.name}() takes {expected} arguments, got {count}")
    return call.args


def _plain(
    ctor: Callable[..., Any],
    low: int = 0,
    high: int | None = None,
    check: Callable[[_Call, list[Any]], None] | None = None,
    *,
    kind: type[Any] = sympy.Basic,
) -> _Builder:
    """Builder for a constructor that takes only sympy positional arguments of ``kind``."""

    def build(call: _Call) -> Any:
        args = _sympy_args(call, low, high, kind)
        if check is not None:
            check(call, args)
        return _construct(call, ctor, args)

    return build


def _math(
    ctor: Callable[..., Any],
    low: int = 1,
    high: int | None = 1,
    check: Callable[[_Call, list[Any]], None] | None = None,
) -> _Builder:
    """Builder for arithmetic and math functions, whose arguments must be expressions."""
    return _plain(ctor, low, high, check, kind=sympy.Expr)


def _pow_check(call: _Call, args: list[Any]) -> None:
    _check_pow(call, args[0], args[1])


def _exp_check(call: _Call, args: list[Any]) -> None:
    _check_exp(call, args[0])


def _factorial_check(call: _Call, args: list[Any]) -> None:
    if isinstance(args[0], sympy.Rational | sympy.Float) and _exceeds(args[0], MAX_FACTORIAL_ARG):
        call.fail(f"{call.name} of a number larger than {MAX_FACTORIAL_ARG} is not allowed")


def _variadic_check(cls: type[Any]) -> Callable[[_Call, list[Any]], None]:
    """Cap Max/Min/Union arguments: sympy compares them pairwise, at a high cost each."""

    def check(call: _Call, args: list[Any]) -> None:
        # nested calls of the same class are flattened into this one by sympy
        count = sum(len(a.args) if isinstance(a, cls) else 1 for a in args)
        if count > MAX_VARIADIC_ARGS:
            call.fail(f"{call.name}() with more than {MAX_VARIADIC_ARGS} arguments is not allowed")
        call.budget.variadic_args += count
        if call.budget.variadic_args > MAX_VARIADIC_TOTAL:
            call.fail(f"more than {MAX_VARIADIC_TOTAL} Max/Min/Union arguments in all")

    return check


def _lambda_check(call: _Call, args: list[Any]) -> None:
    if not isinstance(args[0], sympy.Tuple):
        call.fail("Lambda() takes a Tuple of its parameters first")


def _build_sqrt(call: _Call) -> Any:
    (arg,) = _sympy_args(call, 1, 1, sympy.Expr)
    _check_pow(call, arg, sympy.S.Half)
    return _construct(call, sympy.sqrt, [arg])


def _build_symbol(call: _Call) -> Any:
    """Symbol('x', real=True, ...); a Dummy becomes the Symbol of the same name."""
    if len(call.args) != 1 or not isinstance(call.args[0], str):
        call.fail(f"{call.name}() takes exactly one string, the name")
    name = call.args[0]
    if not name or len(name) > MAX_NAME_LENGTH:
        call.fail(f"a symbol name must have 1 to {MAX_NAME_LENGTH} characters")
    assumptions: dict[str, bool] = {}
    for key, value in call.kwargs.items():
        if call.name == "Dummy" and key == "dummy_index":
            if type(value) is not int:
                call.fail(f"dummy_index must be an integer, not {_kind(value)}")
            continue
        if key not in _ASSUMPTIONS:
            call.fail(f"unknown assumption {_snippet(key)!r} for {call.name}")
        if not isinstance(value, bool):
            call.fail(f"assumption {key!r} must be True or False, not {_kind(value)}")
        assumptions[key] = value
    return _construct(call, sympy.Symbol, [name], assumptions)


def _int_arg(call: _Call, value: Any) -> int:
    if type(value) is not int:
        call.fail(f"{call.name}() takes integer literals, not {_kind(value)}")
    return value


def _build_integer(call: _Call) -> Any:
    if len(call.args) != 1 or call.kwargs:
        call.fail("Integer() takes exactly one integer literal")
    return _construct(call, sympy.Integer, [_int_arg(call, call.args[0])])


def _build_rational(call: _Call) -> Any:
    if len(call.args) not in (1, 2) or call.kwargs:
        call.fail("Rational() takes one or two integer literals")
    return _construct(call, sympy.Rational, [_int_arg(call, a) for a in call.args])


def _float_text(call: _Call, text: str) -> None:
    """Refuse a Float literal sympy would be slow to even read (huge exponents hang mpmath)."""
    if len(text) > MAX_FLOAT_DIGITS + 10:
        call.fail(f"a float literal has more than {MAX_FLOAT_DIGITS} digits")
    match = _FLOAT_TEXT.fullmatch(text)
    if match is None:
        call.fail(f"malformed float literal {_snippet(text)!r}")
    exponent = match.group(1)
    if exponent is not None and (
        len(exponent) > 8 or abs(int(exponent)) > MAX_FLOAT_MAGNITUDE + MAX_FLOAT_DIGITS
    ):
        call.fail(f"the exponent of float literal {_snippet(text)!r} is out of range")


def _build_float(call: _Call) -> Any:
    """Float('0.10000000000000001', precision=53), the form srepr prints."""
    if len(call.args) != 1 or not isinstance(call.args[0], str):
        call.fail("Float() takes one string, the digits, and optionally precision=")
    _float_text(call, call.args[0])
    kwargs: dict[str, int] = {}
    for key, value in call.kwargs.items():
        if key != "precision":
            call.fail(f"Float() takes no keyword {_snippet(key)!r}, only precision=")
        if type(value) is not int or not 1 <= value <= MAX_FLOAT_PRECISION:
            call.fail(f"Float precision must be an integer from 1 to {MAX_FLOAT_PRECISION} bits")
        kwargs["precision"] = value
    return _construct(call, sympy.Float, [call.args[0]], kwargs)


def _build_matrix(call: _Call) -> Any:
    """MutableDenseMatrix([[...], ...]) or (rows, cols, [...]), rebuilt as ImmutableMatrix."""
    if call.kwargs:
        call.fail(f"{call.name}() takes no keyword arguments")
    if len(call.args) == 3:
        rows, cols, flat = call.args
        if type(rows) is not int or type(cols) is not int or not isinstance(flat, list):
            call.fail(f"{call.name}(rows, cols, [...]) takes two integers and a list")
        if rows < 0 or cols < 0 or rows * cols != len(flat):
            call.fail(f"{call.name}(): the list does not have rows*cols entries")
        _matrix_entries(call, flat)
        return _construct(call, sympy.ImmutableMatrix, [rows, cols, flat])
    if len(call.args) != 1 or not isinstance(call.args[0], list):
        call.fail(f"{call.name}() takes one list of rows")
    rows_list: list[Any] = call.args[0]
    if rows_list and all(isinstance(row, list) for row in rows_list):
        for row in rows_list:
            _matrix_entries(call, row)
    else:
        _matrix_entries(call, rows_list)
    return _construct(call, sympy.ImmutableMatrix, [rows_list])


def _matrix_entries(call: _Call, entries: list[Any]) -> None:
    for entry in entries:
        if not isinstance(entry, sympy.Basic):
            call.fail(f"{call.name}() entries must be sympy objects, not {_kind(entry)}")


def _build_undefined_function(call: _Call, name: Any) -> Any:
    """Function('sigma')(args): an undefined function applied to sympy arguments."""
    if not isinstance(name, str) or not name.isidentifier() or len(name) > MAX_NAME_LENGTH:
        shown = _snippet(name) if isinstance(name, str) else _kind(name)
        call.fail(f"function name {shown!r} is not an identifier")
    args = _sympy_args(call)
    return _construct(call, sympy.Function(name), args)


_SREPR_CONSTANTS: dict[str, Any] = {
    "pi": sympy.pi,
    "E": sympy.E,
    "I": sympy.I,
    "oo": sympy.oo,
    "zoo": sympy.zoo,
    "nan": sympy.nan,
    "EulerGamma": sympy.EulerGamma,
    "GoldenRatio": sympy.GoldenRatio,
    "Catalan": sympy.Catalan,
    "true": sympy.true,
    "false": sympy.false,
    "Half": sympy.S.Half,
    "One": sympy.S.One,
    "Zero": sympy.S.Zero,
    "NegativeOne": sympy.S.NegativeOne,
    "Infinity": sympy.S.Infinity,
    "NegativeInfinity": sympy.S.NegativeInfinity,
    "ComplexInfinity": sympy.S.ComplexInfinity,
    "NaN": sympy.S.NaN,
    "EmptySet": sympy.S.EmptySet,
    "UniversalSet": sympy.S.UniversalSet,
    "Reals": sympy.S.Reals,
    "Integers": sympy.S.Integers,
    "Naturals": sympy.S.Naturals,
    "Naturals0": sympy.S.Naturals0,
    "Rationals": sympy.S.Rationals,
    "Complexes": sympy.S.Complexes,
}

# Names that srepr prints with a leading minus sign, as in Interval(-oo, ...).
_NEGATABLE = frozenset({"oo", "Infinity"})

_SREPR_CALLS: dict[str, _Builder] = {
    "Symbol": _build_symbol,
    "Dummy": _build_symbol,
    "Integer": _build_integer,
    "Rational": _build_rational,
    "Float": _build_float,
    "Add": _math(sympy.Add, 0, None, _check_add),
    "Mul": _math(sympy.Mul, 0, None, _check_mul),
    "Pow": _math(sympy.Pow, 2, 2, _pow_check),
    "exp": _math(sympy.exp, 1, 1, _exp_check),
    "log": _math(sympy.log, 1, 2),
    "sin": _math(sympy.sin),
    "cos": _math(sympy.cos),
    "tan": _math(sympy.tan),
    "cot": _math(sympy.cot),
    "asin": _math(sympy.asin),
    "acos": _math(sympy.acos),
    "atan": _math(sympy.atan),
    "atan2": _math(sympy.atan2, 2, 2),
    "sinh": _math(sympy.sinh, 1, 1, _exp_check),
    "cosh": _math(sympy.cosh, 1, 1, _exp_check),
    "tanh": _math(sympy.tanh, 1, 1, _exp_check),
    "asinh": _math(sympy.asinh),
    "acosh": _math(sympy.acosh),
    "atanh": _math(sympy.atanh),
    "Abs": _math(sympy.Abs),
    "sign": _math(sympy.sign),
    "re": _math(sympy.re),
    "im": _math(sympy.im),
    "conjugate": _math(sympy.conjugate),
    "Max": _math(sympy.Max, 1, None, _variadic_check(sympy.Max)),
    "Min": _math(sympy.Min, 1, None, _variadic_check(sympy.Min)),
    "Heaviside": _math(sympy.Heaviside, 1, 2),
    "DiracDelta": _math(sympy.DiracDelta, 1, 2),
    "floor": _math(sympy.floor),
    "ceiling": _math(sympy.ceiling),
    "Mod": _math(sympy.Mod, 2, 2),
    "erf": _math(sympy.erf),
    "gamma": _math(sympy.gamma, 1, 1, _factorial_check),
    "factorial": _math(sympy.factorial, 1, 1, _factorial_check),
    "Piecewise": _plain(sympy.Piecewise, 1),
    "ExprCondPair": _plain(ExprCondPair, 2, 2),
    "Equality": _plain(sympy.Equality, 2, 2),
    "Unequality": _plain(sympy.Unequality, 2, 2),
    "StrictLessThan": _plain(sympy.StrictLessThan, 2, 2),
    "LessThan": _plain(sympy.LessThan, 2, 2),
    "StrictGreaterThan": _plain(sympy.StrictGreaterThan, 2, 2),
    "GreaterThan": _plain(sympy.GreaterThan, 2, 2),
    "And": _plain(sympy.And),
    "Or": _plain(sympy.Or),
    "Not": _plain(sympy.Not, 1, 1),
    "ITE": _plain(sympy.ITE, 3, 3),
    "Tuple": _plain(sympy.Tuple),
    "Derivative": _plain(sympy.Derivative, 1),
    "Lambda": _plain(sympy.Lambda, 2, 2, _lambda_check),
    "Integral": _plain(sympy.Integral, 1),
    "Sum": _plain(sympy.Sum, 1),
    "Product": _plain(sympy.Product, 1),
    "Subs": _plain(sympy.Subs, 3, 3),
    "Interval": _plain(sympy.Interval, 2, 4),
    "FiniteSet": _plain(sympy.FiniteSet),
    "Union": _plain(sympy.Union, 0, None, _variadic_check(sympy.Union)),
    "ImmutableDenseMatrix": _build_matrix,
    "MutableDenseMatrix": _build_matrix,
    "ImmutableMatrix": _build_matrix,
    "Matrix": _build_matrix,
}
