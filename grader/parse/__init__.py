"""Whitelist parsers for sympy ``srepr`` text and for typed math answers; nothing is evaluated.

Both parsers hand the text to :func:`ast.parse`, which only builds a syntax tree and runs
nothing, then walk that tree themselves, building sympy objects only through whitelisted
constructors; anything else is refused with :class:`~grader.errors.ParseError`.
"""

from __future__ import annotations

from grader.parse.expression import (
    EXPR_MAX_NODES,
    MAX_DEPTH,
    MAX_INT_DIGITS,
    expression_syntax,
    parse_expression,
    parse_srepr,
)

__all__ = [
    "EXPR_MAX_NODES",
    "MAX_DEPTH",
    "MAX_INT_DIGITS",
    "expression_syntax",
    "parse_expression",
    "parse_srepr",
]
