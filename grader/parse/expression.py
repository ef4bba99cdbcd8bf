"""Parse a typed math answer such as ``1/(1 + exp(-z))`` into a sympy object.

The answer's syntax tree is walked node by node: operators and comparisons are built
here, names come from the caller's symbols and functions or from the constants of
:mod:`grader.parse.vocabulary`, and calls go through the builders of its table. With
``syntax="math"`` the text is first rewritten by :mod:`grader.parse.math_syntax`.
"""

from __future__ import annotations

import ast
import keyword
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from typing import Any

import sympy

from grader.errors import ParseError
from grader.parse.builders import _build_matrix, _construct, _float_text, _sympy_args
from grader.parse.limits import EXPR_MAX_NODES, EXPR_MAX_NUMBER_CHARS, MAX_DEPTH, MAX_NAME_LENGTH
from grader.parse.math_syntax import _rewrite_math
from grader.parse.sizes import _check_add, _check_final, _check_mul, _check_pow
from grader.parse.source import (
    _OPERATORS,
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
from grader.parse.vocabulary import BINDING, EXPR_CALLS, EXPR_CONSTANTS, unknown_function

# Interval.open(a, b) and friends: the only attribute calls a typed answer may make.
_INTERVAL_KINDS: dict[str, Callable[..., Any]] = {
    "open": sympy.Interval.open,
    "Lopen": sympy.Interval.Lopen,
    "Ropen": sympy.Interval.Ropen,
}

_COMPARISONS: dict[type[ast.AST], Any] = {
    ast.Eq: sympy.Eq,
    ast.NotEq: sympy.Ne,
    ast.Lt: sympy.Lt,
    ast.LtE: sympy.Le,
    ast.Gt: sympy.Gt,
    ast.GtE: sympy.Ge,
}


@dataclass
class _ExprState:
    src: _Source
    symbols: Mapping[str, Any] | None
    functions: Mapping[str, Any]
    budget: _Budget = field(default_factory=_Budget)


def parse_expression(
    text: str,
    *,
    symbols: Mapping[str, sympy.Symbol] | None = None,
    functions: Mapping[str, object] | None = None,
    syntax: str = "python",
    max_length: int = 10_000,
) -> sympy.Basic | list[sympy.Basic]:
    """Parse a typed math answer such as ``1/(1 + exp(-z))`` into a sympy object.

    Operators: ``+ - * / **``, unary ``-``/``+``, and one comparison (``== != < <= > >=``,
    built unevaluated, so ``x == y`` is ``Eq(x, y)``). Integers are exact, float literals
    become ``Float`` from their digits (``0.1`` is ``Float('0.1')``). A top-level list
    literal gives a Python list, a tuple gives a sympy ``Tuple``.

    Names: ``symbols`` maps names to symbols; if it is None any other identifier becomes a
    new ``Symbol``, otherwise an unknown name is refused (except the variable of a
    ``Sum``/``Product``/``Integral`` limit, bound inside that call). ``functions`` maps
    names to callables (a sympy ``Lambda`` or ``Function``) the caller trusts. Besides
    those, only the functions and constants of :mod:`grader.parse.vocabulary` exist
    (``Eq(a, b)`` is ``a == b``, ``O(x**5)`` an order term, ``Poly(p, x)`` reads as ``p``,
    ``Piecewise((x, x > 0), (0, True))``); a call of any other name is refused with a
    message that lists them. ``Interval.open``, ``Interval.Lopen`` and ``Interval.Ropen``
    are the only attribute calls. ``Matrix([[a, b], [c, d]])`` builds an immutable
    matrix (``Matrix([a, b])`` a column).

    ``syntax="math"`` also reads ``^`` as a power and accepts implicit multiplication
    (``2x``, ``2(x+1)``, ``(a)(b)``, ``(a+b)c``, ``x y``); in ``"python"`` syntax ``^`` is
    refused, since it is XOR there. Raises :class:`ParseError` for anything else.
    """
    if not isinstance(text, str):
        raise ParseError(f"the answer must be text, not {type(text).__name__}")
    if syntax not in ("python", "math"):
        raise ValueError(f"syntax must be 'python' or 'math', not {syntax!r}")
    if len(text) > max_length:
        raise ParseError(f"the answer is longer than {max_length} characters", text=text)
    functions = functions or {}
    # a pasted answer may span lines; newlines mean nothing in a formula
    text_one_line = re.sub(r"[\r\n]", " ", text)
    if syntax == "math":
        parsed, origin = _rewrite_math(text_one_line)
    else:
        parsed, origin = text_one_line, list(range(len(text) + 1))
    # ast.parse refuses leading whitespace in eval mode, so strip and keep the offsets
    lead = len(parsed) - len(parsed.lstrip())
    stripped = parsed.strip()
    src = _Source(text, stripped, origin[lead : lead + len(stripped) + 1])
    if not stripped:
        raise src.error("the answer is empty")
    try:
        tree = _parse_tree(src, max_length)
    except ParseError as exc:
        raise ParseError(_syntax_hint(str(exc), text), text=text, offset=exc.offset) from None
    _count_nodes(tree, src, EXPR_MAX_NODES)
    state = _ExprState(src, symbols, functions)
    body = tree.body
    try:
        if isinstance(body, ast.List):
            items = [_expr(item, state, 1) for item in body.elts]
            for item in items:
                _check_final(src, item)
            return items
        result = _expr(body, state, 0)
    except RecursionError:
        raise src.error("the expression is nested too deeply") from None
    _check_final(src, result)
    return result


def expression_syntax(text: str, *, syntax: str = "python") -> tuple[ast.expr, str]:
    """The syntax tree of a typed answer (after the math-syntax rewrite) and that text.

    Only :func:`ast.parse` runs: nothing is built or evaluated. Meant for checks of how
    an answer is *written* (factored, expanded), on text that :func:`parse_expression`
    has already accepted; raises ``SyntaxError`` or ``ValueError`` otherwise.
    """
    if syntax not in ("python", "math"):
        raise ValueError(f"syntax must be 'python' or 'math', not {syntax!r}")
    one_line = re.sub(r"[\r\n]", " ", text)
    parsed = _rewrite_math(one_line)[0] if syntax == "math" else one_line
    stripped = parsed.strip()
    return ast.parse(stripped, mode="eval").body, stripped


def expression_names(text: str, *, syntax: str = "python",
                     functions: tuple[str, ...] = ()) -> tuple[str, ...]:
    """The symbol names a typed answer is written with, sorted, read from its syntax tree.

    These are the names the text uses, whatever sympy makes of them while building:
    ``x - x`` and ``0*y`` use ``x`` and ``y`` although their values have no free symbol.
    Called names, the vocabulary's constants, the caller's ``functions`` and the
    variables bound by the limits of a ``Sum``/``Product``/``Integral`` (``k`` in
    ``Sum(k, (k, 1, n))``, unless also used outside it) are not symbols. Only
    :func:`ast.parse` runs; for text :func:`parse_expression` has accepted (raises
    ``SyntaxError`` or ``ValueError`` otherwise).
    """
    body, _ = expression_syntax(text, syntax=syntax)
    used: set[str] = set()

    def visit(node: ast.AST, inside: frozenset[str]) -> None:
        # iterative over siblings, recursive only into calls that bind (bounded by MAX_DEPTH)
        stack = [node]
        while stack:
            current = stack.pop()
            if isinstance(current, ast.Name):
                if current.id not in inside:
                    used.add(current.id)
                continue
            if isinstance(current, ast.Call) and isinstance(current.func, ast.Name):
                limits = _bound_names(current) if current.func.id in BINDING else frozenset()
                for child in [*current.args, *(k.value for k in current.keywords)]:
                    visit(child, inside | limits)
                continue
            if isinstance(current, ast.Attribute):
                continue  # Interval.open: the only attribute a parsed text can hold
            stack.extend(ast.iter_child_nodes(current))

    visit(body, frozenset())
    skip = set(EXPR_CONSTANTS) | set(functions)
    return tuple(sorted(name for name in used if name not in skip))


def _bound_names(node: ast.Call) -> frozenset[str]:
    """The variables of a binding call's limits with both ends: ``k`` of ``(k, 1, n)``.

    An indefinite ``Integral(f, x)`` leaves ``x`` free, so it binds nothing.
    """
    return frozenset(arg.elts[0].id for arg in node.args[1:]
                     if isinstance(arg, ast.Tuple) and len(arg.elts) == 3
                     and isinstance(arg.elts[0], ast.Name))


def _syntax_hint(message: str, text: str) -> str:
    """Add a hint to a syntax error for the mistakes students make most."""
    if not message.startswith("invalid syntax"):
        return message
    if re.search(r"(?<![=!<>])=(?!=)", text):
        return message + " (write '==' for an equation)"
    words = set(re.findall(r"[^\W\d]\w*", text))
    reserved = sorted(w for w in words if keyword.iskeyword(w))
    if reserved:
        return message + f" ({reserved[0]!r} is a reserved word and cannot be a name)"
    if re.search(r"\d[^\W\d]|\d\s*\(|\)\s*[(\w]", text):
        return message + " (write '*' for multiplication)"
    return message


def _expr(node: ast.AST, st: _ExprState, depth: int) -> Any:
    src = st.src
    if depth > MAX_DEPTH:
        raise src.error(f"the expression is nested more than {MAX_DEPTH} levels deep", node)
    if isinstance(node, ast.Constant):
        return _expr_number(node, st)
    if isinstance(node, ast.Name):
        return _expr_name(node, st)
    if isinstance(node, ast.BinOp):
        if isinstance(node.op, ast.Add | ast.Sub):
            return _expr_sum(node, st, depth)
        if isinstance(node.op, ast.Mult | ast.Div):
            return _expr_product(node, st, depth)
        if isinstance(node.op, ast.Pow):
            base = _operand(node.left, st, depth + 1, "**")
            exponent = _operand(node.right, st, depth + 1, "**")
            return _expr_pow(node, st, base, exponent)
        _refuse_node(node, src, srepr=False)
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.USub | ast.UAdd):
        operand = _operand(node.operand, st, depth + 1, _OPERATORS[type(node.op)])
        if isinstance(node.op, ast.UAdd):
            return operand
        return _construct(_Call("'-'", [], {}, node, src), _negate, [operand])
    if isinstance(node, ast.Compare):
        if len(node.ops) != 1:
            raise src.error("a chained comparison such as 'a < b < c' is not allowed", node)
        relation = _COMPARISONS.get(type(node.ops[0]))
        if relation is None:
            op = {ast.Is: "is", ast.IsNot: "is not", ast.In: "in", ast.NotIn: "not in"}
            raise src.error(f"'{op.get(type(node.ops[0]), '?')}' is not allowed", node)
        lhs = _expr(node.left, st, depth + 1)
        rhs = _expr(node.comparators[0], st, depth + 1)
        call = _Call("the comparison", [], {}, node, src, st.budget)
        return _construct(call, relation, [lhs, rhs], {"evaluate": False})
    if isinstance(node, ast.Call):
        return _expr_call(node, st, depth)
    if isinstance(node, ast.Tuple):
        items = [_expr(item, st, depth + 1) for item in node.elts]
        return _construct(_Call("a tuple", [], {}, node, src, st.budget), sympy.Tuple, items)
    if isinstance(node, ast.List):
        raise src.error("a list is only allowed as the whole answer; use ( ) inside it", node)
    _refuse_node(node, src, srepr=False)


def _expr_number(node: ast.Constant, st: _ExprState) -> Any:
    value = node.value
    call = _Call("the number", [], {}, node, st.src, st.budget)
    if type(value) is float:
        # rebuilt from its digits, so 0.1 is exactly Float('0.1') and 1e400 is not inf
        segment = ast.get_source_segment(st.src.parsed, node) or repr(value)
        literal = segment.replace("_", "")
        if len(literal) > EXPR_MAX_NUMBER_CHARS:
            call.fail(f"a number has more than {EXPR_MAX_NUMBER_CHARS} characters")
        _float_text(call, literal)
        return _construct(call, sympy.Float, [literal])
    if type(value) is int:
        return _construct(call, sympy.Integer, [_literal(node, st.src)])
    if isinstance(value, bool) or value is None or isinstance(value, str | bytes):
        call.fail(f"{_snippet(repr(value), 40)} is not allowed in a math answer")
    _literal(node, st.src)  # raises with the right message for the remaining types
    call.fail("this literal is not allowed in a math answer")


def _expr_name(node: ast.Name, st: _ExprState) -> Any:
    name = node.id
    if st.symbols is not None and name in st.symbols:
        return st.symbols[name]
    if name in st.functions:
        raise st.src.error(f"{name!r} is a function: call it, as in {name}(...)", node)
    if name in EXPR_CONSTANTS:
        return EXPR_CONSTANTS[name]
    if name.startswith("__"):
        raise st.src.error(f"name {_snippet(name)!r} is not allowed", node)
    if st.symbols is not None:
        allowed = sorted(st.symbols)
        listed = ", ".join(allowed[:20]) + (", ..." if len(allowed) > 20 else "")
        raise st.src.error(
            f"unknown name {_snippet(name)!r}; allowed symbols: {listed or '(none)'}", node
        )
    if len(name) > MAX_NAME_LENGTH:
        raise st.src.error(f"a name has more than {MAX_NAME_LENGTH} characters", node)
    return sympy.Symbol(name)


def _negate(value: Any) -> Any:
    return -value


def _operand(node: ast.AST, st: _ExprState, depth: int, operator: str) -> Any:
    """Build one operand of an arithmetic operator, which must be an expression."""
    value = _expr(node, st, depth)
    if not isinstance(value, sympy.Expr):
        raise st.src.error(f"'{operator}' needs numbers or expressions, not {_kind(value)}", node)
    return value


def _chain(node: ast.BinOp, ops: tuple[type[ast.operator], ...]) -> list[tuple[ast.AST, bool]]:
    """Flatten a left-leaning chain ``a - b + c`` into operands with 'inverted' flags.

    Iterative, so a long sum costs no recursion depth, and sympy gets one n-ary Add/Mul
    instead of n nested binary ones (which it would rebuild n times).
    """
    operands: list[tuple[ast.AST, bool]] = []
    current: ast.AST = node
    while isinstance(current, ast.BinOp) and isinstance(current.op, ops):
        operands.append((current.right, isinstance(current.op, ast.Sub | ast.Div)))
        current = current.left
    operands.append((current, False))
    operands.reverse()
    return operands


def _expr_sum(node: ast.BinOp, st: _ExprState, depth: int) -> Any:
    terms = []
    for operand, negate in _chain(node, (ast.Add, ast.Sub)):
        term = _operand(operand, st, depth + 1, "-" if negate else "+")
        if negate:
            term = _construct(_Call("'-'", [], {}, operand, st.src), _negate, [term])
        terms.append(term)
    call = _Call("'+'", terms, {}, node, st.src, st.budget)
    _check_add(call, terms)
    return _construct(call, sympy.Add, terms)


def _expr_product(node: ast.BinOp, st: _ExprState, depth: int) -> Any:
    factors = []
    for operand, invert in _chain(node, (ast.Mult, ast.Div)):
        factor = _operand(operand, st, depth + 1, "/" if invert else "*")
        if invert:
            factor = _expr_pow(operand, st, factor, sympy.S.NegativeOne)
        factors.append(factor)
    call = _Call("'*'", factors, {}, node, st.src, st.budget)
    _check_mul(call, factors)
    return _construct(call, sympy.Mul, factors)


def _expr_pow(node: ast.AST, st: _ExprState, base: Any, exponent: Any) -> Any:
    call = _Call("'**'", [base, exponent], {}, node, st.src, st.budget)
    _check_pow(call, base, exponent)
    return _construct(call, sympy.Pow, [base, exponent])


def _expr_call(node: ast.Call, st: _ExprState, depth: int) -> Any:
    src = st.src
    func = node.func
    if (isinstance(func, ast.Attribute) and isinstance(func.value, ast.Name)
            and func.value.id == "Interval" and func.attr in _INTERVAL_KINDS):
        _call_parts(node, src)
        if node.keywords:
            raise src.error("keyword arguments are not allowed (in Interval)", node)
        args = [_expr(arg, st, depth + 1) for arg in node.args]
        call = _Call(f"Interval.{func.attr}", args, {}, node, src, st.budget)
        return _construct(call, _INTERVAL_KINDS[func.attr], _sympy_args(call, 2, 2, sympy.Expr))
    if not isinstance(func, ast.Name):
        raise src.error(f"call of {_callee_text(func, src)!r} is not allowed", node)
    name = func.id
    _call_parts(node, src)
    if node.keywords:
        raise src.error(f"keyword arguments are not allowed (in the call of {name!r})", node)
    if name == "Matrix" and (st.symbols is None or name not in st.symbols):
        return _expr_matrix(node, st, depth)
    if name in st.functions:
        args = [_expr(arg, st, depth + 1) for arg in node.args]
        call = _Call(name, args, {}, node, src, st.budget)
        _sympy_args(call)
        result = _construct(call, st.functions[name], args)
        if not isinstance(result, sympy.Basic):
            call.fail(f"{name}(...) did not give a sympy expression")
        return result
    if st.symbols is not None and name in st.symbols:
        raise src.error(f"{name!r} is a symbol, not a function; write '*' to multiply", node)
    builder = EXPR_CALLS.get(name)
    if builder is None:
        raise src.error(unknown_function(_snippet(name), tuple(st.functions)), node)
    if name in BINDING:
        st = _binding_state(node, st)
    if name == "Piecewise":
        args = [_expr_piece(arg, st, depth + 1) for arg in node.args]
    else:
        args = [_expr(arg, st, depth + 1) for arg in node.args]
    return builder(_Call(name, args, {}, node, src, st.budget))


def _binding_state(node: ast.Call, st: _ExprState) -> _ExprState:
    """Sum((k**2, (k, 1, n)): the limits' variables exist inside the call, declared or not."""
    if st.symbols is None:
        return st
    bound: dict[str, Any] = {}
    for arg in node.args[1:]:
        target = arg.elts[0] if isinstance(arg, ast.Tuple) and arg.elts else arg
        if (isinstance(target, ast.Name) and target.id not in st.symbols
                and target.id not in st.functions and target.id not in EXPR_CONSTANTS
                and not target.id.startswith("__") and len(target.id) <= MAX_NAME_LENGTH):
            bound[target.id] = sympy.Symbol(target.id)
    return replace(st, symbols={**st.symbols, **bound}) if bound else st


def _expr_piece(node: ast.AST, st: _ExprState, depth: int) -> Any:
    """One (expression, condition) pair of a Piecewise, where ``True`` may be the condition."""
    if (isinstance(node, ast.Tuple) and len(node.elts) == 2
            and isinstance(node.elts[1], ast.Constant) and node.elts[1].value is True):
        value = _expr(node.elts[0], st, depth + 1)
        return _construct(_Call("a tuple", [], {}, node, st.src, st.budget), sympy.Tuple,
                          [value, sympy.true])
    return _expr(node, st, depth)


def _expr_matrix(node: ast.Call, st: _ExprState, depth: int) -> Any:
    """``Matrix([[a, b], [c, d]])`` (rows) or ``Matrix([a, b])`` (a column)."""
    if len(node.args) != 1 or not isinstance(node.args[0], ast.List):
        raise st.src.error("Matrix() takes one list of rows, as in Matrix([[1, 2], [3, 4]])",
                           node)
    items = node.args[0].elts
    rows: list[Any] = []
    if items and all(isinstance(row, ast.List) for row in items):
        for row in items:
            assert isinstance(row, ast.List)  # checked just above
            rows.append([_expr(item, st, depth + 3) for item in row.elts])
    elif any(isinstance(row, ast.List) for row in items):
        raise st.src.error("Matrix() takes rows that are all lists, or no lists at all", node)
    else:
        rows = [_expr(item, st, depth + 2) for item in items]
    return _build_matrix(_Call("Matrix", [rows], {}, node, st.src, st.budget))
