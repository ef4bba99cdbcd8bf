"""Rebuild a sympy object from ``sympy.srepr`` text, which comes from a student's kernel.

The text is hostile: its syntax tree is walked node by node, and only the names and calls
of the srepr side of :mod:`grader.parse.vocabulary`'s table build anything.
"""

from __future__ import annotations

import ast
from typing import Any

import sympy

from grader.errors import ParseError
from grader.parse.builders import _build_undefined_function
from grader.parse.limits import MAX_DEPTH
from grader.parse.sizes import _check_final
from grader.parse.source import (
    _Budget,
    _Call,
    _call_parts,
    _callee_text,
    _count_nodes,
    _kind,
    _literal,
    _parse_tree,
    _refuse_node,
    _snippet,
    _Source,
)
from grader.parse.vocabulary import NEGATABLE, SREPR_CALLS, SREPR_CONSTANTS, unknown_function


def parse_srepr(text: str, *, max_length: int = 200_000, max_nodes: int = 20_000) -> sympy.Basic:
    """Rebuild a sympy object from ``sympy.srepr`` text, calling only whitelisted constructors.

    ``text`` comes from a student's kernel and is treated as hostile: it is parsed with
    :func:`ast.parse` and rebuilt node by node from the table of
    :mod:`grader.parse.vocabulary`. Add, Mul, Pow and functions are built with sympy's usual
    evaluation, so the result is ``==`` to the object that was printed. Dummies come back
    as Symbols of the same name, matrices as ``ImmutableMatrix``. Raises
    :class:`ParseError` for anything outside the whitelist or beyond the size limits (see
    :mod:`grader.parse.limits`).
    """
    if not isinstance(text, str):
        raise ParseError(f"srepr text must be a string, not {type(text).__name__}")
    src = _Source(text, text.strip(), None)
    shift = len(text) - len(text.lstrip())
    src.origin = None if not shift else range(shift, shift + len(src.parsed) + 1)
    tree = _parse_tree(src, max_length)
    _count_nodes(tree, src, max_nodes)
    budget = _Budget()
    try:
        result = _srepr_node(tree.body, src, budget, 0)
    except RecursionError:
        raise src.error("the expression is nested too deeply") from None
    if not isinstance(result, sympy.Basic):
        raise src.error(f"srepr text must describe a sympy object, not {_kind(result)}")
    _check_final(src, result)
    return result


def _srepr_node(node: ast.AST, src: _Source, budget: _Budget, depth: int) -> Any:
    if depth > MAX_DEPTH:
        raise src.error(f"the expression is nested more than {MAX_DEPTH} levels deep", node)
    if isinstance(node, ast.Call):
        return _srepr_call(node, src, budget, depth)
    if isinstance(node, ast.Name):
        if node.id in SREPR_CONSTANTS:
            return SREPR_CONSTANTS[node.id]
        raise src.error(f"name {_snippet(node.id)!r} is not allowed", node)
    if isinstance(node, ast.Constant):
        return _literal(node, src)
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.USub):
        operand = node.operand
        if isinstance(operand, ast.Constant) and type(operand.value) in (int, float):
            return -_literal(operand, src)
        if isinstance(operand, ast.Name) and operand.id in NEGATABLE:
            return sympy.S.NegativeInfinity
        raise src.error("unary '-' is only allowed before a number or oo", node)
    if isinstance(node, ast.List | ast.Tuple):
        items = [_srepr_node(item, src, budget, depth + 1) for item in node.elts]
        return items if isinstance(node, ast.List) else tuple(items)
    _refuse_node(node, src, srepr=True)


def _srepr_call(node: ast.Call, src: _Source, budget: _Budget, depth: int) -> Any:
    _call_parts(node, src)
    func = node.func
    undefined_name: Any = None
    if isinstance(func, ast.Name):
        if func.id == "Function":
            raise src.error("Function(...) is only allowed as Function('name')(arguments)", node)
        builder = SREPR_CALLS.get(func.id)
        if builder is None:
            raise src.error(unknown_function(_snippet(func.id), srepr=True), node)
        name = func.id
    elif (
        isinstance(func, ast.Call)
        and isinstance(func.func, ast.Name)
        and func.func.id == "Function"
    ):
        _call_parts(func, src)
        if len(func.args) != 1 or func.keywords or not isinstance(func.args[0], ast.Constant):
            raise src.error("Function() takes exactly one string literal, the name", func)
        undefined_name = _literal(func.args[0], src)
        builder = None
        name = "Function"
    else:
        raise src.error(f"call of {_callee_text(func, src)!r} is not allowed", node)

    args = [_srepr_node(arg, src, budget, depth + 1) for arg in node.args]
    kwargs: dict[str, Any] = {}
    for kw in node.keywords:
        assert kw.arg is not None  # refused above
        if kw.arg in kwargs:
            raise src.error(f"keyword {kw.arg!r} is repeated", kw.value)
        if kw.arg == "evaluate":
            raise src.error("the keyword 'evaluate' is not allowed", kw.value)
        kwargs[kw.arg] = _srepr_node(kw.value, src, budget, depth + 1)
    call = _Call(name, args, kwargs, node, src, budget)
    if builder is None:
        return _build_undefined_function(call, undefined_name)
    return builder(call)
