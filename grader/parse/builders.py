"""The whitelisted constructors: a builder per name, each checking its arguments first.

A builder gets a :class:`~grader.parse.source._Call` whose arguments are already built,
refuses what the constructor must not see (wrong kinds, keywords, sizes, unknown
assumptions) and calls it through :func:`_construct`, which turns any failure into a
:class:`~grader.errors.ParseError` and size-checks the result. Which name gets which
builder is the table of :mod:`grader.parse.vocabulary`, the one both parsers read.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import sympy
from sympy.functions.elementary.piecewise import ExprCondPair

from grader.errors import ParseError
from grader.parse.limits import (
    MAX_BOUND_VARIABLES,
    MAX_DERIVATIVE_ORDER,
    MAX_EXPLICIT_TERMS,
    MAX_FACTORIAL_ARG,
    MAX_FLOAT_DIGITS,
    MAX_FLOAT_MAGNITUDE,
    MAX_FLOAT_PRECISION,
    MAX_NAME_LENGTH,
    MAX_ORDER_OPS,
    MAX_PIECES,
    MAX_PIECES_TOTAL,
    MAX_POLY_GENERATORS,
    MAX_POW_EXPONENT,
    MAX_ROUNDING_DIGITS,
    MAX_VARIADIC_ARGS,
    MAX_VARIADIC_TOTAL,
)
from grader.parse.sizes import (
    _check_built,
    _check_exp,
    _check_pow,
    _digits,
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
    """factorial, binomial, gamma, beta: sympy computes them exactly for numbers."""
    for arg in args:
        if isinstance(arg, sympy.Rational | sympy.Float) and _exceeds(arg, MAX_FACTORIAL_ARG):
            call.fail(f"{call.name} of a number larger than {MAX_FACTORIAL_ARG} is not allowed")


def _rounding_check(call: _Call, args: list[Any]) -> None:
    """floor/ceiling/frac of a non-number with huge numbers in it: evalf to all digits."""
    if isinstance(args[0], sympy.Number):
        return
    for number in args[0].atoms(sympy.Number):
        if _digits(number) > MAX_ROUNDING_DIGITS:
            call.fail(f"{call.name} of an expression with a number of more than "
                      f"{MAX_ROUNDING_DIGITS} digits is not allowed")


def _dirac_check(call: _Call, args: list[Any]) -> None:
    """DiracDelta(x, k): the k-th derivative, a small non-negative integer."""
    if len(args) == 2 and (not isinstance(args[1], sympy.Integer)
                           or not 0 <= int(args[1]) <= MAX_DERIVATIVE_ORDER):
        call.fail(f"{call.name}(x, k) takes an integer k from 0 to {MAX_DERIVATIVE_ORDER}")


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


def _build_cbrt(call: _Call) -> Any:
    (arg,) = _sympy_args(call, 1, 1, sympy.Expr)
    _check_pow(call, arg, sympy.Rational(1, 3))
    return _construct(call, sympy.cbrt, [arg])


def _build_root(call: _Call) -> Any:
    """root(x, n) is x**(1/n); root(x, n, k) the k-th branch, x**(1/n)*(-1)**(2*k/n)."""
    args = _sympy_args(call, 2, 3, sympy.Expr)
    index = args[1]
    if isinstance(index, sympy.Rational) and index != 0:
        _check_pow(call, args[0], 1 / index)
        if len(args) == 3 and isinstance(args[2], sympy.Rational):
            _check_pow(call, sympy.S.NegativeOne, 2 * args[2] / index)
    return _construct(call, sympy.root, args)


def _relation(ctor: Callable[..., Any]) -> _Builder:
    """Eq(a, b) and the other relations, built unevaluated like ``a == b`` is."""

    def build(call: _Call) -> Any:
        args = _sympy_args(call, 2, 2)
        return _construct(call, ctor, args, {"evaluate": False})

    return build


def _build_piecewise(call: _Call) -> Any:
    """Piecewise((expr, cond), ...): a few pairs each, and a few in the whole text."""
    args = _sympy_args(call, 1, MAX_PIECES)
    for pair in args:
        if not isinstance(pair, sympy.Tuple | ExprCondPair) or len(pair.args) != 2:
            call.fail(f"{call.name}() takes pairs (expression, condition), "
                      "as in Piecewise((x, x > 0), (0, True))")
    call.budget.pieces += len(args)
    if call.budget.pieces > MAX_PIECES_TOTAL:
        call.fail(f"more than {MAX_PIECES_TOTAL} Piecewise pieces in all")
    return _construct(call, sympy.Piecewise, args)


def _limits_check(call: _Call, args: list[Any]) -> None:
    """Sum/Product/Integral(f, (k, a, b), ...): a few limits, each led by a symbol.

    A Sum or Product between two numbers is bounded too: sympy adds up, term by term,
    one whose closed form it does not know, when anything carries it out.
    """
    if not isinstance(args[0], sympy.Expr):
        call.fail(f"{call.name}() takes an expression first, not {_kind(args[0])}")
    limits = args[1:]
    if len(limits) > MAX_BOUND_VARIABLES:
        call.fail(f"{call.name}() with more than {MAX_BOUND_VARIABLES} limits is not allowed")
    for limit in limits:
        variable = limit.args[0] if isinstance(limit, sympy.Tuple) and limit.args else limit
        if not isinstance(variable, sympy.Symbol) or (
                isinstance(limit, sympy.Tuple) and len(limit.args) > 3):
            call.fail(f"{call.name}() takes limits such as (k, 1, n), (x, 0, 1) or x")
        ends: tuple[Any, ...] = limit.args[1:] if isinstance(limit, sympy.Tuple) else ()
        if (call.name in ("Sum", "Product") and len(ends) == 2
                and all(isinstance(end, sympy.Rational) for end in ends)
                and ends[1] - ends[0] >= MAX_EXPLICIT_TERMS):
            call.fail(f"{call.name}() of more than {MAX_EXPLICIT_TERMS} terms between two "
                      "numbers is not allowed; write its value, or the sum to n")
        if call.name == "Integral" and len(ends) == 2 and _tower(args[0], variable) > 1:
            call.fail("a definite Integral() of a tower of exponentials (exp(exp(x)), "
                      "x**x**x) is not allowed; write its value instead")
        if call.name in ("Sum", "Product") and not _tame_term(args[0], variable):
            call.fail(f"{call.name}() of this term is not allowed: the grader reads sums and "
                      "products of polynomial, rational, geometric (2**k, x**k) and factorial "
                      "terms; write the value instead")


# What a Sum/Product term may do with its index: anything else (k**k, factorial(k!),
# sin(k) summed to oo) sympy may try to add up term by term, or to evaluate numerically
# to no end, as soon as the value is printed or compared.
_MAX_INDEX_FACTOR = 10
_TAME_FUNCTIONS = (sympy.factorial, sympy.gamma, sympy.binomial, sympy.sin, sympy.cos,
                   sympy.exp)


def _tame_term(term: Any, index: Any) -> bool:
    """Whether a Sum/Product term grows at most geometrically (or factorially) in ``index``."""
    if not term.has(index) or term == index:
        return True
    if isinstance(term, sympy.Add | sympy.Mul):
        return all(_tame_term(arg, index) for arg in term.args)
    if isinstance(term, sympy.Pow):
        base, exponent = term.args
        if not exponent.has(index):
            small = not isinstance(exponent, sympy.Number) or _within(exponent, MAX_POW_EXPONENT)
            return small and _tame_term(base, index)
        return not base.has(index) and _linear(exponent, index)
    if isinstance(term, _TAME_FUNCTIONS):
        return all(_linear(arg, index) for arg in term.args)
    return False


def _tower(expr: Any, variable: Any) -> int:
    """How deep exponentials of ``variable`` nest in ``expr`` (``exp(exp(x))`` is 2).

    Sympy evaluates a definite integral numerically whenever its value is printed or
    sorted into a sum; the quadrature of a tower of exponentials does not end.
    """
    if not isinstance(expr, sympy.Basic) or not expr.has(variable):
        return 0
    inner = max((_tower(arg, variable) for arg in expr.args), default=0)
    grows = isinstance(expr, sympy.exp | sympy.sinh | sympy.cosh) or (
        isinstance(expr, sympy.Pow) and expr.exp.has(variable))
    return inner + 1 if grows else inner


def _linear(expr: Any, index: Any) -> bool:
    """Whether ``expr`` is ``a*index + b``, ``a`` and ``b`` free of the index, a number
    ``a`` at most ``_MAX_INDEX_FACTOR`` in size (``factorial(10**6*k)`` is not tame)."""
    if not expr.has(index):
        return True
    _constant, rest = expr.as_independent(index, as_Add=True)
    factor, tail = rest.as_independent(index, as_Add=False)
    small = not isinstance(factor, sympy.Number) or _within(factor, _MAX_INDEX_FACTOR)
    return bool(tail == index) and small


def _within(number: Any, limit: int) -> bool:
    return isinstance(number, sympy.Rational | sympy.Float) and not _exceeds(number, limit)


def _build_order(call: _Call) -> Any:
    """O(f), O(f, x), O(f, (x, point)): an order term, as ``series`` leaves it."""
    args = _sympy_args(call, 1, MAX_BOUND_VARIABLES + 1)
    if not isinstance(args[0], sympy.Expr):
        call.fail(f"{call.name}() takes an expression first, not {_kind(args[0])}")
    if sympy.count_ops(args[0]) > MAX_ORDER_OPS:
        call.fail(f"the argument of {call.name}() has more than {MAX_ORDER_OPS} operations")
    for spec in args[1:]:
        if isinstance(spec, sympy.Symbol):
            continue
        if (not isinstance(spec, sympy.Tuple) or len(spec.args) != 2
                or not isinstance(spec.args[0], sympy.Symbol)
                or not (isinstance(spec.args[1], sympy.Number) or spec.args[1] in (
                    sympy.oo, -sympy.oo))):
            call.fail(f"{call.name}() takes variables, or (variable, point) with a number "
                      "or oo for the point, as in O(x**5), O(x**5, (x, 0)), O(1/x, (x, oo))")
    return _construct(call, sympy.Order, args)


def _build_poly(call: _Call) -> Any:
    """Poly(p, x, ...) reads as its expression p, the polynomial it stands for."""
    for key, value in call.kwargs.items():
        if key != "domain" or not isinstance(value, str) or len(value) > MAX_NAME_LENGTH:
            call.fail(f"{call.name}() takes its expression and generators "
                      "(and, from a kernel, domain='...')")
    plain = _Call(call.name, call.args, {}, call.node, call.src, call.budget)
    args = _sympy_args(plain, 1, MAX_POLY_GENERATORS + 1)
    expr, generators = args[0], args[1:]
    if not isinstance(expr, sympy.Expr) or not all(isinstance(g, sympy.Expr)
                                                    for g in generators):
        call.fail(f"{call.name}() takes an expression and its generators")
    symbols = [g for g in generators if isinstance(g, sympy.Symbol)]
    if len(symbols) == len(generators) and generators and not expr.is_polynomial(*symbols):
        call.fail(f"{call.name}() takes a polynomial in {', '.join(map(str, symbols))}")
    return expr


def _build_interval(call: _Call) -> Any:
    """Interval(a, b) typed: the closed interval (Interval.open and friends for the rest)."""
    return _construct(call, sympy.Interval, _sympy_args(call, 2, 2, sympy.Expr))


def _build_derivative(evaluate: bool) -> _Builder:
    """Derivative(f, x, y) / diff(f, x, y): variables must be symbols, a few at most."""

    def build(call: _Call) -> Any:
        args = _sympy_args(call, 2, MAX_DERIVATIVE_ORDER + 1)
        for var in args[1:]:
            if not isinstance(var, sympy.Symbol):
                call.fail(f"{call.name}() differentiates with respect to symbols only")
        ctor = sympy.diff if evaluate else sympy.Derivative
        return _construct(call, ctor, args)

    return build


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
