"""Whitelist parsers for sympy ``srepr`` text and for typed math answers; nothing is evaluated.

Both parsers hand the text to :func:`ast.parse`, which only builds a syntax tree and runs
nothing, then walk that tree themselves. Sympy objects are built solely by calling the
constructors listed in the one table of :mod:`grader.parse.vocabulary`; any
other construct, name, call or literal is refused with :class:`~grader.errors.ParseError`,
whose message names what was refused and whose ``offset`` points into the text.

Because the text is hostile, the work it can cause is bounded too: text length, syntax
node count and nesting depth are limited before anything is built, literals are limited
in size, and the few sympy operations that can blow up on small input (powers of numbers,
``exp`` of logarithms, factorials, ``Max``/``Min``/``Union`` with many arguments,
``Piecewise`` pieces, order terms) are checked before sympy gets to run them. Sums,
products, integrals and derivatives are built unevaluated and never carried out. Sympy
still does ordinary automatic simplification while building, so a caller that needs a
hard guarantee on time should still run these parsers under a wall-clock limit.

The modules, each importing only those above it:

- :mod:`~grader.parse.limits`: the ``MAX_*`` limits;
- :mod:`~grader.parse.source`: the text and its offsets, errors, the checked syntax tree;
- :mod:`~grader.parse.sizes`: checks that stop sympy making huge or costly numbers;
- :mod:`~grader.parse.builders`: the whitelisted constructors, each checking its arguments;
- :mod:`~grader.parse.vocabulary`: the table of every function and constant, for both parsers;
- :mod:`~grader.parse.srepr`: :func:`parse_srepr`;
- :mod:`~grader.parse.math_syntax`: ``^`` and implicit products rewritten as Python;
- :mod:`~grader.parse.expression`: :func:`parse_expression`, :func:`expression_syntax`,
  :func:`expression_names`.
"""

from __future__ import annotations

from grader.parse.expression import expression_names, expression_syntax, parse_expression
from grader.parse.limits import (
    EXPR_MAX_NODES,
    EXPR_MAX_NUMBER_CHARS,
    MAX_BOUND_VARIABLES,
    MAX_DEPTH,
    MAX_DERIVATIVE_ORDER,
    MAX_EXP_FLOAT_ARG,
    MAX_EXPLICIT_TERMS,
    MAX_FACTORIAL_ARG,
    MAX_FLOAT_DIGITS,
    MAX_FLOAT_MAGNITUDE,
    MAX_FLOAT_PRECISION,
    MAX_INT_DIGITS,
    MAX_NAME_LENGTH,
    MAX_ORDER_OPS,
    MAX_PIECES,
    MAX_PIECES_TOTAL,
    MAX_POLY_GENERATORS,
    MAX_POW_EXPONENT,
    MAX_RESULT_DIGITS,
    MAX_ROOT_WORK,
    MAX_ROOTS,
    MAX_ROUNDING_DIGITS,
    MAX_VARIADIC_ARGS,
    MAX_VARIADIC_TOTAL,
)
from grader.parse.srepr import parse_srepr

__all__ = [
    "EXPR_MAX_NODES",
    "EXPR_MAX_NUMBER_CHARS",
    "MAX_BOUND_VARIABLES",
    "MAX_DEPTH",
    "MAX_DERIVATIVE_ORDER",
    "MAX_EXPLICIT_TERMS",
    "MAX_EXP_FLOAT_ARG",
    "MAX_FACTORIAL_ARG",
    "MAX_FLOAT_DIGITS",
    "MAX_FLOAT_MAGNITUDE",
    "MAX_FLOAT_PRECISION",
    "MAX_INT_DIGITS",
    "MAX_NAME_LENGTH",
    "MAX_ORDER_OPS",
    "MAX_PIECES",
    "MAX_PIECES_TOTAL",
    "MAX_POLY_GENERATORS",
    "MAX_POW_EXPONENT",
    "MAX_RESULT_DIGITS",
    "MAX_ROOTS",
    "MAX_ROOT_WORK",
    "MAX_ROUNDING_DIGITS",
    "MAX_VARIADIC_ARGS",
    "MAX_VARIADIC_TOTAL",
    "expression_names",
    "expression_syntax",
    "parse_expression",
    "parse_srepr",
]
