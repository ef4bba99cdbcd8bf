"""The expression vocabulary: one table of every function and constant the parsers know.

Each :class:`Entry` names a function as a student types it (``names``) and as sympy's
``srepr`` prints it (``srepr``), with its arity, the builder that checks the arguments
and the size limits (:mod:`grader.parse.builders`, :mod:`grader.parse.sizes`) before
the sympy constructor runs, and a note for the documentation. The typed-expression
parser reads :data:`EXPR_CALLS` and :data:`EXPR_CONSTANTS`, the srepr parser
:data:`SREPR_CALLS` and :data:`SREPR_CONSTANTS`; all four are generated from
:data:`ENTRIES`, so a function is added once, for both. Nothing outside the table is
ever called. :func:`unknown_function` words the refusal of any other name, and
:func:`vocabulary_lines` is the list docs/rubrics.md shows.
"""

from __future__ import annotations

import difflib
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import sympy
from sympy.functions.elementary.piecewise import ExprCondPair

from grader.parse.builders import (
    _build_cbrt,
    _build_derivative,
    _build_float,
    _build_integer,
    _build_interval,
    _build_matrix,
    _build_order,
    _build_piecewise,
    _build_poly,
    _build_rational,
    _build_root,
    _build_sqrt,
    _build_symbol,
    _dirac_check,
    _exp_check,
    _factorial_check,
    _lambda_check,
    _limits_check,
    _plain,
    _pow_check,
    _relation,
    _rounding_check,
    _variadic_check,
)
from grader.parse.sizes import _check_add, _check_mul
from grader.parse.source import _Builder, _Call

DOCS = "docs/rubrics.md, \"The expression vocabulary\""


@dataclass(frozen=True)
class Entry:
    """One function of the vocabulary: its typed and srepr names, arity, builder, note."""

    names: tuple[str, ...]  # as typed; the first is the one the documentation shows
    srepr: tuple[str, ...]  # as sympy.srepr prints it (class names)
    low: int  # fewest arguments
    high: int | None  # most arguments (None: any number)
    build: _Builder
    family: str
    note: str = ""


def _fn(names: str, ctor: Callable[..., Any], low: int = 1, high: int | None = 1,
        check: Callable[[_Call, list[Any]], None] | None = None, *, family: str,
        note: str = "", srepr: str | None = None, kind: type[Any] = sympy.Expr) -> Entry:
    """An entry whose builder takes ``low..high`` sympy arguments of ``kind``.

    ``names`` and ``srepr`` are space-separated; ``srepr`` defaults to the first name.
    """
    typed = tuple(names.split())
    printed = tuple((srepr if srepr is not None else typed[0]).split())
    return Entry(typed, printed, low, high, _plain(ctor, low, high, check, kind=kind),
                 family, note)


def _custom(names: str, build: _Builder, low: int, high: int | None, *, family: str,
            note: str = "", srepr: str | None = None) -> Entry:
    """An entry with a builder of its own (which checks the arity given here)."""
    typed = tuple(names.split())
    printed = tuple((srepr if srepr is not None else typed[0]).split())
    return Entry(typed, printed, low, high, build, family, note)


_TRIG = "trigonometric"
_HYP = "hyperbolic"
_POWERS = "exponentials, logarithms and roots"
_PARTS = "rounding, signs and parts"
_SPECIAL = "combinatorial and special"
_CALCULUS = "calculus and series"
_LOGIC = "relations and logic"
_SETS = "sets and intervals"
_MATRIX = "matrices"
_KERNEL = "kernel values only (srepr)"

ENTRIES: tuple[Entry, ...] = (
    # trigonometric and their inverses
    *(_fn(name, getattr(sympy, name), family=_TRIG)
      for name in ("sin", "cos", "tan", "cot", "sec", "csc")),
    _fn("asin arcsin", sympy.asin, family=_TRIG, srepr="asin"),
    _fn("acos arccos", sympy.acos, family=_TRIG, srepr="acos"),
    _fn("atan arctan", sympy.atan, family=_TRIG, srepr="atan"),
    *(_fn(name, getattr(sympy, name), family=_TRIG) for name in ("acot", "asec", "acsc")),
    _fn("atan2", sympy.atan2, 2, 2, family=_TRIG,
        note="atan2(y, x), the angle of the point (x, y), in (-pi, pi]"),
    # hyperbolic and their inverses; of a float they compute exp, hence its check
    *(_fn(name, getattr(sympy, name), 1, 1, _exp_check, family=_HYP)
      for name in ("sinh", "cosh", "tanh", "coth", "sech", "csch")),
    *(_fn(name, getattr(sympy, name), family=_HYP)
      for name in ("asinh", "acosh", "atanh", "acoth", "asech", "acsch")),
    # exponentials, logarithms, roots
    _fn("exp", sympy.exp, 1, 1, _exp_check, family=_POWERS, note="also E**x"),
    _fn("log ln", sympy.log, 1, 2, family=_POWERS,
        note="natural; log(x, b) to base b (log(x, 10) for log10)"),
    _custom("sqrt", _build_sqrt, 1, 1, family=_POWERS, srepr="",
            note="principal root; becomes x**(1/2)"),
    _custom("cbrt", _build_cbrt, 1, 1, family=_POWERS, srepr="",
            note="principal cube root x**(1/3), complex for x < 0"),
    _custom("root", _build_root, 2, 3, family=_POWERS, srepr="",
            note="root(x, n) = x**(1/n); root(x, n, k) the k-th branch"),
    _fn("LambertW", sympy.LambertW, 1, 2, family=_POWERS, note="LambertW(x, k): branch k"),
    # rounding, signs, parts, extremes
    _fn("Abs abs", sympy.Abs, family=_PARTS, srepr="Abs"),
    _fn("sign", sympy.sign, family=_PARTS),
    _fn("floor", sympy.floor, 1, 1, _rounding_check, family=_PARTS),
    _fn("ceiling", sympy.ceiling, 1, 1, _rounding_check, family=_PARTS),
    _fn("frac", sympy.frac, 1, 1, _rounding_check, family=_PARTS, note="x - floor(x)"),
    _fn("Mod", sympy.Mod, 2, 2, family=_PARTS, note="Mod(a, b), the remainder with the sign of b"),
    _fn("Max max", sympy.Max, 1, None, _variadic_check(sympy.Max), family=_PARTS,
        srepr="Max", note="at most 10 arguments"),
    _fn("Min min", sympy.Min, 1, None, _variadic_check(sympy.Min), family=_PARTS,
        srepr="Min", note="at most 10 arguments"),
    _fn("re", sympy.re, family=_PARTS),
    _fn("im", sympy.im, family=_PARTS),
    _fn("conjugate", sympy.conjugate, family=_PARTS),
    _fn("arg", sympy.arg, family=_PARTS, note="the argument (angle) of a complex number"),
    # combinatorial and special functions
    _fn("factorial", sympy.factorial, 1, 1, _factorial_check, family=_SPECIAL,
        note="of numbers up to 1000"),
    _fn("binomial", sympy.binomial, 2, 2, _factorial_check, family=_SPECIAL,
        note="of numbers up to 1000"),
    _fn("gamma", sympy.gamma, 1, 1, _factorial_check, family=_SPECIAL,
        note="of numbers up to 1000; a bare name gamma is a symbol"),
    _fn("beta", sympy.beta, 2, 2, _factorial_check, family=_SPECIAL,
        note="beta(a, b) = gamma(a)*gamma(b)/gamma(a + b); a bare name beta is a symbol"),
    _fn("erf", sympy.erf, family=_SPECIAL),
    _fn("erfc", sympy.erfc, family=_SPECIAL, note="1 - erf(x)"),
    _fn("Heaviside", sympy.Heaviside, 1, 2, family=_SPECIAL,
        note="Heaviside(x, h0): h0 is the value at 0 (1/2 if not given)"),
    _fn("DiracDelta", sympy.DiracDelta, 1, 2, _dirac_check, family=_SPECIAL,
        note="DiracDelta(x, k): its k-th derivative, k at most 10"),
    _custom("Piecewise", _build_piecewise, 1, 20, family=_SPECIAL,
            note="Piecewise((x, x > 0), (0, True)); at most 100 pieces in one answer"),
    # calculus and series: built unevaluated, never carried out on a student's text
    _custom("Derivative", _build_derivative(evaluate=False), 2, 11, family=_CALCULUS,
            srepr="", note="Derivative(f, x, y): unevaluated, at most 10 variables"),
    _custom("diff", _build_derivative(evaluate=True), 2, 11, family=_CALCULUS, srepr="",
            note="diff(f, x): the derivative, carried out"),
    _fn("Integral", sympy.Integral, 1, 11, _limits_check, family=_CALCULUS,
        kind=sympy.Basic, note="Integral(f, (x, a, b)) or Integral(f, x): unevaluated; "
             "no definite integral of a tower of exponentials such as exp(exp(x))"),
    _fn("Sum", sympy.Sum, 1, 11, _limits_check, family=_CALCULUS, kind=sympy.Basic,
        note="Sum(f, (k, a, b)): unevaluated; terms polynomial, rational, geometric "
             "(2**k, x**k) or factorial in k; at most 500 terms between two numbers"),
    _fn("Product", sympy.Product, 1, 11, _limits_check, family=_CALCULUS,
        kind=sympy.Basic, note="Product(f, (k, a, b)): unevaluated; terms as for Sum"),
    _custom("O Order", _build_order, 1, 11, family=_CALCULUS, srepr="Order",
            note="O(x**5), O(x**5, (x, 0)), O(1/x, (x, oo)): an order term, as series leaves it"),
    _custom("Poly", _build_poly, 1, 11, family=_CALCULUS,
            note="Poly(p, x) reads as the expression p"),
    # relations and logic; Eq(a, b) is a == b, built unevaluated
    _custom("Eq", _relation(sympy.Eq), 2, 2, family=_LOGIC, srepr="Equality",
            note="a == b"),
    _custom("Ne", _relation(sympy.Ne), 2, 2, family=_LOGIC, srepr="Unequality",
            note="a != b"),
    _custom("Lt", _relation(sympy.Lt), 2, 2, family=_LOGIC, srepr="StrictLessThan",
            note="a < b"),
    _custom("Le", _relation(sympy.Le), 2, 2, family=_LOGIC, srepr="LessThan", note="a <= b"),
    _custom("Gt", _relation(sympy.Gt), 2, 2, family=_LOGIC, srepr="StrictGreaterThan",
            note="a > b"),
    _custom("Ge", _relation(sympy.Ge), 2, 2, family=_LOGIC, srepr="GreaterThan",
            note="a >= b"),
    _fn("And", sympy.And, 0, None, family=_LOGIC, kind=sympy.Basic),
    _fn("Or", sympy.Or, 0, None, family=_LOGIC, kind=sympy.Basic),
    _fn("Not", sympy.Not, 1, 1, family=_LOGIC, kind=sympy.Basic),
    # sets and intervals
    _custom("Interval", _build_interval, 2, 2, family=_SETS, srepr="",
            note="closed; Interval.open(a, b), Interval.Lopen, Interval.Ropen for the others"),
    _fn("FiniteSet", sympy.FiniteSet, 0, None, family=_SETS, kind=sympy.Basic,
        note="FiniteSet(1, 2, 3)"),
    _fn("Union", sympy.Union, 0, None, _variadic_check(sympy.Union), family=_SETS,
        kind=sympy.Basic, note="at most 10 arguments"),
    _fn("Intersection", sympy.Intersection, 1, None, _variadic_check(sympy.Intersection),
        family=_SETS, kind=sympy.Basic, note="at most 10 arguments"),
    _fn("Complement", sympy.Complement, 2, 2, family=_SETS, kind=sympy.Basic,
        note="Complement(A, B): A without B"),
    # matrices
    _custom("Matrix", _build_matrix, 1, 1, family=_MATRIX,
            srepr="Matrix ImmutableMatrix ImmutableDenseMatrix MutableDenseMatrix",
            note="Matrix([[a, b], [c, d]]); Matrix([a, b]) is a column"),
    # what only a kernel's srepr text contains: the atoms and the tree sympy prints
    _custom("", _build_symbol, 1, 1, family=_KERNEL, srepr="Symbol Dummy",
            note="Symbol('x', real=True); a Dummy reads as the Symbol of its name"),
    _custom("", _build_integer, 1, 1, family=_KERNEL, srepr="Integer"),
    _custom("", _build_rational, 1, 2, family=_KERNEL, srepr="Rational"),
    _custom("", _build_float, 1, 1, family=_KERNEL, srepr="Float"),
    _fn("", sympy.Add, 0, None, _check_add, family=_KERNEL, srepr="Add"),
    _fn("", sympy.Mul, 0, None, _check_mul, family=_KERNEL, srepr="Mul"),
    _fn("", sympy.Pow, 2, 2, _pow_check, family=_KERNEL, srepr="Pow"),
    _fn("", ExprCondPair, 2, 2, family=_KERNEL, srepr="ExprCondPair", kind=sympy.Basic),
    _fn("", sympy.ITE, 3, 3, family=_KERNEL, srepr="ITE", kind=sympy.Basic),
    _fn("", sympy.Tuple, 0, None, family=_KERNEL, srepr="Tuple", kind=sympy.Basic),
    _fn("", sympy.Derivative, 1, None, family=_KERNEL, srepr="Derivative",
        kind=sympy.Basic),
    _fn("", sympy.Lambda, 2, 2, _lambda_check, family=_KERNEL, srepr="Lambda",
        kind=sympy.Basic),
    _fn("", sympy.Subs, 3, 3, family=_KERNEL, srepr="Subs", kind=sympy.Basic),
    _fn("", sympy.Interval, 2, 4, family=_KERNEL, srepr="Interval", kind=sympy.Basic),
)

# Constants by name. 'E' and not 'e': students use e as a variable far too often.
EXPR_CONSTANTS: dict[str, Any] = {
    "pi": sympy.pi,
    "E": sympy.E,
    "I": sympy.I,
    "oo": sympy.oo,
    "inf": sympy.oo,
    "EmptySet": sympy.S.EmptySet,
    "Reals": sympy.S.Reals,
    "Integers": sympy.S.Integers,
    "Naturals": sympy.S.Naturals,
    "Naturals0": sympy.S.Naturals0,
    "Rationals": sympy.S.Rationals,
    "Complexes": sympy.S.Complexes,
}

SREPR_CONSTANTS: dict[str, Any] = {
    **{name: value for name, value in EXPR_CONSTANTS.items() if name != "inf"},
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
    "UniversalSet": sympy.S.UniversalSet,
}

# Names that srepr prints with a leading minus sign, as in Interval(-oo, ...).
NEGATABLE = frozenset({"oo", "Infinity"})

EXPR_CALLS: dict[str, _Builder] = {name: e.build for e in ENTRIES for name in e.names}
SREPR_CALLS: dict[str, _Builder] = {name: e.build for e in ENTRIES for name in e.srepr}

# Calls whose limits bind a variable: its name needs no declaration inside the call.
BINDING = frozenset({"Sum", "Product", "Integral"})

# Names students reach for that are spelled otherwise here.
_SPELLED_OTHERWISE = {
    "log10": "log(x, 10)", "log2": "log(x, 2)", "lg": "log(x, 10)", "ceil": "ceiling(x)",
    "arcsec": "asec(x)", "arccsc": "acsc(x)", "arccot": "acot(x)", "arcsinh": "asinh(x)",
    "arccosh": "acosh(x)", "arctanh": "atanh(x)", "arctan2": "atan2(y, x)",
    "fact": "factorial(n)", "choose": "binomial(n, k)", "nCr": "binomial(n, k)",
    "Integrate": "Integral(f, (x, a, b))", "integrate": "Integral(f, (x, a, b))",
    "summation": "Sum(f, (k, a, b))", "sgn": "sign(x)",
    "Equality": "Eq(a, b) or a == b", "Rational": "p/q", "Integer": "the number itself",
    "Symbol": "the name itself", "series": "the series with its O(...) term",
}


def function_names(extra: tuple[str, ...] = ()) -> str:
    """The typed function names, sorted, with ``extra`` (the rubric's functions) first."""
    names = sorted({name for e in ENTRIES for name in e.names}, key=str.lower)
    return ", ".join([*sorted(extra), *names])


def unknown_function(name: str, extra: tuple[str, ...] = (), *, srepr: bool = False) -> str:
    """The refusal of a call of ``name``: what it is, what to write instead, where to look.

    A srepr text comes from a kernel value, so its refusal speaks of the answer to change,
    not of a spelling.
    """
    if srepr:
        return (f"the answer contains {name}(...), which the grader cannot read back; "
                f"write the answer with the functions the grader knows: "
                f"{function_names()} (see {DOCS})")
    if name in _SPELLED_OTHERWISE:
        instead = f"; write {_SPELLED_OTHERWISE[name]} instead"
    else:
        close = difflib.get_close_matches(name, [*extra, *EXPR_CALLS], n=1, cutoff=0.8)
        instead = f" (did you mean {close[0]}?)" if close else ""
    return (f"{name}(...) is not a function the grader knows{instead}. The functions are: "
            f"{function_names(extra)} (see {DOCS})")


def _arity(entry: Entry) -> str:
    if entry.high is None:
        return f"{entry.low} or more arguments"
    if entry.low == entry.high:
        return f"{entry.low} argument{'' if entry.low == 1 else 's'}"
    return f"{entry.low} to {entry.high} arguments"


def _shown(entry: Entry) -> str:
    first, *aliases = entry.names or entry.srepr
    return f"`{first}`" + (f" (or {', '.join(f'`{a}`' for a in aliases)})" if aliases else "")


def vocabulary_lines() -> list[str]:
    """The table as the Markdown list docs/rubrics.md shows, family by family.

    One line per function with its arity and note; functions of one family and arity
    without a note share a line.
    """
    lines: list[str] = []
    family = ""
    plain: list[Entry] = []

    def flush() -> None:
        if plain:
            lines.append(f"- {', '.join(_shown(e) for e in plain)}: {_arity(plain[0])}")
            plain.clear()

    for entry in ENTRIES:
        if entry.family != family:
            flush()
            family = entry.family
            lines.extend(["", f"**{family}**", ""] if lines else [f"**{family}**", ""])
        if not entry.note:
            if plain and _arity(plain[0]) != _arity(entry):
                flush()
            plain.append(entry)
            continue
        flush()
        lines.append(f"- {_shown(entry)}: {_arity(entry)}; {entry.note}")
    flush()
    return lines
