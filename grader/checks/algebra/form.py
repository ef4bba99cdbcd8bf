"""The form a check may ask for: factored, expanded, no derivative (step 5 of the rule)."""

from __future__ import annotations

import ast
import functools
from collections.abc import Iterator
from typing import Any

import sympy as sp

from grader.checks import Comparison
from grader.checks.algebra.cas import _timed
from grader.checks.algebra.reading import _parse_cached
from grader.checks.algebra.setup import _Setup
from grader.errors import GraderError
from grader.messages import say


def _with_form(comparison: Comparison, raw: Any, setup: _Setup,
               text: str | None = None) -> Comparison:
    """An equal answer must also have the form the check asks for (step 5).

    A typed answer is judged on how it is written (its syntax tree), since sympy would
    multiply ``2*(x - 1)`` out while building it; a sympy object on its own structure.
    """
    if comparison.equal is not True or not setup.form:
        return comparison
    problem = _form_problem(raw, setup.form, text, setup)
    if problem is None:
        return Comparison(equal=None, message=say("check.sym.form_timeout",
                                                  forms=", ".join(setup.form)))
    if problem:
        return Comparison(equal=False, message=say("check.sym.form_wrong", problem=problem),
                          hint=say("check.sym.form_hint", problem=problem))
    return comparison


def _form_problem(expr: Any, forms: tuple[str, ...], text: str | None = None,
                  setup: _Setup | None = None) -> str | None:
    """What breaks the required form ("" when nothing does; None when undecided)."""
    tree = _written(text, setup) if text is not None and setup is not None else None
    for form in forms:
        if form == "no_derivative" and expr.has(sp.Derivative, sp.Subs, sp.Integral):
            return say("check.sym.form_derivative")
        if tree is not None and form == "expanded":
            if _written_unexpanded(tree[0]):
                return say("check.sym.form_not_expanded")
            continue
        if tree is not None and setup is not None and form == "factored":
            verdict = _written_factored(tree[0], tree[1], setup)
            if verdict is None:
                return None
            if not verdict:
                return say("check.sym.form_not_factored")
            continue
        if form == "expanded":
            expanded = _timed(lambda: sp.expand(expr))
            if expanded is None:
                return None
            if expanded != expr:
                return say("check.sym.form_not_expanded")
        if form == "factored":
            factored = _timed(lambda: _is_factored(expr))
            if factored is None:
                return None
            if not factored:
                return say("check.sym.form_not_factored")
    return ""


def _written(text: str, setup: _Setup) -> tuple[Any, str] | None:
    """The syntax tree of a typed answer and its (rewritten) text; None if unavailable."""
    from grader.parse import expression_syntax

    try:
        return expression_syntax(text, syntax=setup.syntax)
    except (SyntaxError, ValueError, RecursionError, MemoryError):
        return None


def _is_sum(node: Any) -> bool:
    while isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.UAdd | ast.USub):
        node = node.operand
    return isinstance(node, ast.BinOp) and isinstance(node.op, ast.Add | ast.Sub)


def _written_unexpanded(root: Any) -> bool:
    """Whether the written answer multiplies out a sum (outside function calls)."""
    stack = [root]
    while stack:
        node = stack.pop()
        if isinstance(node, ast.BinOp):
            if isinstance(node.op, ast.Mult) and (_is_sum(node.left) or _is_sum(node.right)):
                return True
            if isinstance(node.op, ast.Div) and _is_sum(node.left):
                return True  # (x + 1)/2 is x/2 + 1/2 expanded
            if isinstance(node.op, ast.Pow) and _is_sum(node.left) and isinstance(
                    node.right, ast.Constant) and isinstance(node.right.value, int) and (
                    node.right.value >= 2):
                return True
            stack.extend((node.left, node.right))
        elif isinstance(node, ast.UnaryOp):
            if isinstance(node.op, ast.USub) and _is_sum(node.operand):
                return True
            stack.append(node.operand)
    return False


def _written_factors(node: Any) -> Iterator[Any]:
    """The factors of a written product: through ``*``, ``/``, signs and integer powers."""
    if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Mult | ast.Div):
        yield from _written_factors(node.left)
        yield from _written_factors(node.right)
    elif isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.UAdd | ast.USub):
        yield from _written_factors(node.operand)
    elif isinstance(node, ast.BinOp) and isinstance(node.op, ast.Pow) and isinstance(
            node.right, ast.Constant) and isinstance(node.right.value, int):
        yield from _written_factors(node.left)
    else:
        yield node


def _written_factored(root: Any, source: str, setup: _Setup) -> bool | None:
    """Every written sum factor is irreducible with no integer content left to take out."""
    for factor in _written_factors(root):
        if not _is_sum(factor):
            continue
        segment = ast.get_source_segment(source, factor)
        if segment is None:
            return None
        try:
            value = _parse_cached(segment, setup.symbols, setup.functions, "python")
        except GraderError:
            return None
        verdict = _timed(functools.partial(_is_factored, value))
        if verdict is None:
            return None
        if not verdict:
            return False
    return True


def _is_factored(expr: Any) -> bool:
    """A product of irreducible factors over the rationals, with no integer content left."""
    for factor in sp.Mul.make_args(expr):
        base = factor.base if factor.is_Pow and factor.exp.is_Integer else factor
        if base.is_number or not base.is_Add:
            continue
        try:
            content, parts = sp.factor_list(base)
        except (sp.PolynomialError, sp.GeneratorsNeeded, NotImplementedError):
            return False  # a sum that is not a polynomial (x - 4 + 4/x) is not a product
        if len(parts) != 1 or parts[0][1] != 1:
            return False
        if content.is_Integer and abs(content) != 1:
            return False  # 2*x - 2: the 2 can still come out
    return True
