"""Mutants of the reference's code: one operator, one change at one node of its AST.

Each operator of :data:`OPERATORS` models an error a student makes (a flipped sign, a
dropped ``sqrt``, ``beta2`` written for ``beta1``, an off-by-one ``range``). Which code is
mutated for an answer is its *slice* (:func:`slice_of`): for a function answer the
function's definition and those of the reference's private helpers it calls (``_gd_step``
for ``q3_3_gd_step``); for a value answer the statement that assigns the name and the
private top-level statements it depends on, transitively. Public names of the slice's
code (another answer, ``np``) are not followed: their errors are counted under their own
answer.

A :class:`Mutant` holds the mutated statements of the slice (what is run), the line it
changes as the reference writes it and as mutated, and the whole mutated module source.
Two operators that give the same code give one mutant, the first operator's.
"""

from __future__ import annotations

import ast
import copy
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

SQRT_NAMES = frozenset({"np", "numpy", "math", "sp", "sympy", "cmath", "torch"})
# Operands whose order matters (a swap is a student's error).
NON_COMMUTATIVE = (ast.Sub, ast.Div, ast.FloorDiv, ast.Mod, ast.Pow, ast.MatMult)
ORDERED = {ast.Lt: ast.Gt, ast.LtE: ast.GtE, ast.Gt: ast.Lt, ast.GtE: ast.LtE}
EXPRESSION_PARENTS = (ast.BinOp, ast.UnaryOp, ast.Compare, ast.Attribute, ast.Subscript,
                      ast.BoolOp, ast.Await, ast.Starred)


@dataclass(frozen=True, kw_only=True)
class Scope:
    """What an operator may know of a node besides its parent."""

    names: tuple[str, ...] = ()  # parameters and locals of the enclosing function
    returned: bool = False  # what a function returns or a statement assigns (or one element)


@dataclass(frozen=True, kw_only=True)
class Operator:
    """One kind of student error: replacements for a node, given its parent."""

    name: str
    description: str
    mutate: Callable[[ast.AST, ast.AST | None, Scope], Iterator[ast.AST]]


# --------------------------------------------------------------------------- operators


def _num(value: float) -> ast.expr:
    return ast.Constant(value=value) if value >= 0 else ast.UnaryOp(
        op=ast.USub(), operand=ast.Constant(value=-value))


def _number(node: ast.AST) -> Any:
    """The int or float a node is written as (None: it is not a number)."""
    if (isinstance(node, ast.Constant) and isinstance(node.value, int | float)
            and not isinstance(node.value, bool)):
        return node.value
    return None


def _neg(node: ast.expr) -> ast.expr:
    return ast.UnaryOp(op=ast.USub(), operand=copy.deepcopy(node))


def _sign(node: ast.AST, parent: ast.AST | None, scope: Scope) -> Iterator[ast.AST]:
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.USub):
        yield copy.deepcopy(node.operand)
        return
    if not isinstance(node, ast.expr) or isinstance(node, ast.Tuple | ast.Dict | ast.List
                                                       | ast.DictComp | ast.Constant):
        return
    factor = (isinstance(parent, ast.BinOp) and isinstance(parent.op, ast.Mult | ast.Div
                                                           | ast.MatMult))
    if factor or scope.returned:
        yield _neg(node)


def _swapped_op(node: ast.AST, swap: dict[type, type]) -> Iterator[ast.AST]:
    if isinstance(node, ast.BinOp | ast.AugAssign) and type(node.op) in swap:
        new = copy.deepcopy(node)
        new.op = swap[type(node.op)]()
        yield new


def _add_sub(node: ast.AST, parent: ast.AST | None, scope: Scope) -> Iterator[ast.AST]:
    yield from _swapped_op(node, {ast.Add: ast.Sub, ast.Sub: ast.Add})


def _mul_div(node: ast.AST, parent: ast.AST | None, scope: Scope) -> Iterator[ast.AST]:
    yield from _swapped_op(node, {ast.Mult: ast.Div, ast.Div: ast.Mult})


def _constant(node: ast.AST, parent: ast.AST | None, scope: Scope) -> Iterator[ast.AST]:
    if isinstance(node, ast.Constant) and isinstance(node.value, bool):
        yield ast.Constant(value=not node.value)
        return
    c = _number(node)
    if c is None:
        return
    half = c // 2 if isinstance(c, int) else c / 2
    seen = {c}
    for value in (c + 1, c - 1, c * 2, half):
        if value not in seen:
            seen.add(value)
            yield _num(value)


def _swap_operands(node: ast.AST, parent: ast.AST | None, scope: Scope
                   ) -> Iterator[ast.AST]:
    if isinstance(node, ast.BinOp) and isinstance(node.op, NON_COMMUTATIVE):
        yield ast.BinOp(left=copy.deepcopy(node.right), op=copy.deepcopy(node.op),
                        right=copy.deepcopy(node.left))
    if (isinstance(node, ast.Compare) and len(node.ops) == 1
            and type(node.ops[0]) in ORDERED):
        yield ast.Compare(left=copy.deepcopy(node.comparators[0]), ops=[copy.deepcopy(
            node.ops[0])], comparators=[copy.deepcopy(node.left)])


def _swap_args(node: ast.AST, parent: ast.AST | None, scope: Scope) -> Iterator[ast.AST]:
    if not isinstance(node, ast.Call) or any(isinstance(a, ast.Starred) for a in node.args):
        return
    for i in range(len(node.args) - 1):
        new = copy.deepcopy(node)
        new.args[i], new.args[i + 1] = new.args[i + 1], new.args[i]
        yield new


def _drop_term(node: ast.AST, parent: ast.AST | None, scope: Scope) -> Iterator[ast.AST]:
    if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Add | ast.Sub):
        yield copy.deepcopy(node.left)
        yield copy.deepcopy(node.right) if isinstance(node.op, ast.Add) else _neg(node.right)


def _is_sqrt(node: ast.AST) -> bool:
    func = node.func if isinstance(node, ast.Call) else None
    return len(getattr(node, "args", ())) == 1 and (
        (isinstance(func, ast.Name) and func.id == "sqrt")
        or (isinstance(func, ast.Attribute) and func.attr == "sqrt"
            and isinstance(func.value, ast.Name) and func.value.id in SQRT_NAMES))


def _is_root(node: ast.AST) -> bool:
    return (isinstance(node, ast.BinOp) and isinstance(node.op, ast.Pow)
            and isinstance(node.right, ast.Constant) and node.right.value == 0.5)


def _sqrt(node: ast.AST, parent: ast.AST | None, scope: Scope) -> Iterator[ast.AST]:
    if isinstance(node, ast.Call) and _is_sqrt(node):
        yield copy.deepcopy(node.args[0])
    elif _is_root(node):
        assert isinstance(node, ast.BinOp)
        yield copy.deepcopy(node.left)
    elif isinstance(node, ast.expr) and not isinstance(node, ast.Constant) and (
            (isinstance(parent, ast.BinOp) and isinstance(parent.op, ast.Div)
             and parent.right is node)
            or (scope.returned and not isinstance(node, ast.Tuple | ast.Dict | ast.List))):
        # `**0.5` takes the root of a float, an array and a sympy expression alike.
        yield ast.BinOp(left=copy.deepcopy(node), op=ast.Pow(), right=ast.Constant(value=0.5))


def _range(node: ast.AST, parent: ast.AST | None, scope: Scope) -> Iterator[ast.AST]:
    if not (isinstance(node, ast.Call) and isinstance(node.func, ast.Name)
            and node.func.id == "range" and 1 <= len(node.args) <= 3):
        return
    for i in range(min(len(node.args), 2)):
        for step in (1, -1):
            new = copy.deepcopy(node)
            new.args[i] = _shifted(new.args[i], step)
            yield new


def _shifted(node: ast.expr, step: int) -> ast.expr:
    """``node + step``, written ``n`` rather than ``n + 1 - 1``."""
    undo = ast.Sub if step > 0 else ast.Add
    if (isinstance(node, ast.BinOp) and isinstance(node.op, undo)
            and isinstance(node.right, ast.Constant) and node.right.value == 1):
        return node.left
    if _number(node) is not None:
        return _num(_number(node) + step)
    if (isinstance(node, ast.BinOp) and isinstance(node.op, ast.Add | ast.Sub)
            and _number(node.right) is not None):
        sign = 1 if isinstance(node.op, ast.Add) else -1
        moved = sign * _number(node.right) + step
        return ast.BinOp(left=node.left, op=ast.Add() if moved >= 0 else ast.Sub(),
                         right=ast.Constant(value=abs(moved)))
    return ast.BinOp(left=node, op=ast.Add() if step > 0 else ast.Sub(),
                     right=ast.Constant(value=1))


def _compare(node: ast.AST, parent: ast.AST | None, scope: Scope) -> Iterator[ast.AST]:
    swap = {ast.Lt: ast.LtE, ast.LtE: ast.Lt, ast.Gt: ast.GtE, ast.GtE: ast.Gt}
    if isinstance(node, ast.Compare):
        for i, op in enumerate(node.ops):
            if type(op) in swap:
                new = copy.deepcopy(node)
                new.ops[i] = swap[type(op)]()
                yield new


def _alike(a: str, b: str) -> bool:
    """Names a student confuses: one character apart (``beta1``/``beta2``, ``m_hat``/``v_hat``)."""
    if a == b or len(a) != len(b):
        return False
    return sum(x != y for x, y in zip(a, b, strict=True)) == 1


def _swap_names(node: ast.AST, parent: ast.AST | None, scope: Scope) -> Iterator[ast.AST]:
    if isinstance(node, ast.Name) and isinstance(node.ctx, ast.Load) and node.id in scope.names:
        for other in scope.names:
            if _alike(node.id, other):
                yield ast.Name(id=other, ctx=ast.Load())


def _is_bias(node: ast.AST) -> bool:
    if isinstance(node, ast.Constant):
        return node.value == 1 and not isinstance(node.value, bool)
    return isinstance(node, ast.Name) and (node.id in ("b", "bias") or node.id.startswith(
        ("b_", "bias")))


def _bias(node: ast.AST, parent: ast.AST | None, scope: Scope) -> Iterator[ast.AST]:
    if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Add | ast.Sub):
        if _is_bias(node.right):
            yield copy.deepcopy(node.left)
        if _is_bias(node.left) and isinstance(node.op, ast.Add):
            yield copy.deepcopy(node.right)


def _square(node: ast.AST, parent: ast.AST | None, scope: Scope) -> Iterator[ast.AST]:
    if (isinstance(node, ast.BinOp) and isinstance(node.op, ast.Pow)
            and isinstance(node.right, ast.Constant) and node.right.value == 2):
        yield copy.deepcopy(node.left)


# The more specific operators first: when two give the same code, the first one names it.
OPERATORS: tuple[Operator, ...] = (
    Operator(name="sqrt", description="a square root dropped (np/math/sp.sqrt, **0.5) or "
             "added (to a denominator or a returned value)", mutate=_sqrt),
    Operator(name="square", description="**2 dropped", mutate=_square),
    Operator(name="bias", description="a + 1 or a bias term (b, bias) dropped", mutate=_bias),
    Operator(name="range", description="off by one in range(): an end moved by +1 or -1",
             mutate=_range),
    Operator(name="compare", description="< for <= and > for >= (and back)", mutate=_compare),
    Operator(name="sign", description="a unary minus added (to a factor or a returned or "
             "assigned value) or removed", mutate=_sign),
    Operator(name="add-sub", description="+ for - and - for +", mutate=_add_sub),
    Operator(name="mul-div", description="* for / and / for *", mutate=_mul_div),
    Operator(name="swap-operands", description="operands of a non-commutative operator "
             "swapped (-, /, **, @, <)", mutate=_swap_operands),
    Operator(name="swap-args", description="two neighbouring arguments of a call swapped",
             mutate=_swap_args),
    Operator(name="swap-names", description="a parameter or local used for another of the "
             "same function one character apart (beta1 for beta2)", mutate=_swap_names),
    Operator(name="drop-term", description="one term of a sum or difference dropped",
             mutate=_drop_term),
    Operator(name="constant", description="a number c replaced by c + 1, c - 1, 2c or c/2 "
             "(a bool by its negation)", mutate=_constant),
)


# --------------------------------------------------------------------------- slices


@dataclass(frozen=True, kw_only=True)
class Slice:
    """The statements of the reference that compute one answer, in module order."""

    name: str
    statements: tuple[ast.stmt, ...]
    function: bool  # the answer is a function (else a value)


def _defines(stmt: ast.stmt) -> set[str]:
    if isinstance(stmt, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
        return {stmt.name}
    targets: list[ast.expr] = []
    if isinstance(stmt, ast.Assign):
        targets = list(stmt.targets)
    elif isinstance(stmt, ast.AnnAssign | ast.AugAssign):
        targets = [stmt.target]
    return {n.id for t in targets for n in ast.walk(t) if isinstance(n, ast.Name)}


def _loads(stmt: ast.stmt) -> set[str]:
    return {n.id for n in ast.walk(stmt) if isinstance(n, ast.Name)
            and isinstance(n.ctx, ast.Load)}


def slice_of(tree: ast.Module, name: str) -> Slice | None:
    """The statements computing ``name``: its own and its private dependencies' (None: absent)."""
    body = [s for s in tree.body if not isinstance(s, ast.Import | ast.ImportFrom)]
    own = [s for s in body if name in _defines(s)]
    if not own:
        return None
    function = isinstance(own[-1], ast.FunctionDef | ast.AsyncFunctionDef)
    chosen = {id(s) for s in own}
    todo = list(own)
    while todo:
        stmt = todo.pop()
        wanted = {n for n in _loads(stmt) if n.startswith("_") and not n.startswith("__")}
        for dep in body:
            if id(dep) in chosen or not (_defines(dep) & wanted):
                continue
            # A function answer's slice is code: its private helper functions, not constants.
            if function and not isinstance(dep, ast.FunctionDef | ast.AsyncFunctionDef):
                continue
            chosen.add(id(dep))
            todo.append(dep)
    return Slice(name=name, statements=tuple(s for s in body if id(s) in chosen),
                 function=function)


# --------------------------------------------------------------------------- mutants


@dataclass(frozen=True, kw_only=True)
class Mutant:
    """One change at one node of an answer's slice."""

    answer: str
    index: int  # its place among the answer's mutants
    operator: str
    line: int
    original: str  # the changed line as the reference writes it
    mutated: str  # and as mutated
    statements: tuple[ast.stmt, ...] = field(repr=False)  # the mutated slice, to run
    source: str = field(repr=False, default="")  # the whole mutated module


def _skipped(stmt: ast.stmt) -> set[int]:
    """Nodes never mutated: annotations and docstrings."""
    out: set[int] = set()
    for node in ast.walk(stmt):
        if isinstance(node, ast.arg) and node.annotation is not None:
            out.update(id(n) for n in ast.walk(node.annotation))
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef) and node.returns:
            out.update(id(n) for n in ast.walk(node.returns))
        if isinstance(node, ast.AnnAssign):
            out.update(id(n) for n in ast.walk(node.annotation))
    return out


def _scope_names(func: ast.FunctionDef | ast.AsyncFunctionDef) -> tuple[str, ...]:
    a = func.args
    names = [x.arg for x in (*a.posonlyargs, *a.args, *a.kwonlyargs)]
    names += [x.arg for x in (a.vararg, a.kwarg) if x is not None]
    for node in ast.walk(func):
        if isinstance(node, ast.Name) and isinstance(node.ctx, ast.Store):
            names.append(node.id)
    return tuple(dict.fromkeys(names))


def _is_value(node: ast.AST, parent: ast.AST | None) -> bool:
    return (isinstance(parent, ast.Return | ast.Assign | ast.AnnAssign | ast.AugAssign)
            and getattr(parent, "value", None) is node)


def _sites(stmt: ast.stmt) -> Iterator[tuple[int, ast.AST, ast.AST | None, Scope]]:
    """(position in ast.walk order, node, parent, scope) for every node that may change."""
    parents: dict[int, ast.AST] = {}
    names: dict[int, tuple[str, ...]] = {}
    for node in ast.walk(stmt):
        mine = names.get(id(node), ())
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            mine = _scope_names(node)
        for child in ast.iter_child_nodes(node):
            parents[id(child)] = node
            names[id(child)] = mine
    skipped = _skipped(stmt)
    for i, node in enumerate(ast.walk(stmt)):
        if id(node) in skipped:
            continue
        parent = parents.get(id(node))
        grandparent = parents.get(id(parent)) if parent is not None else None
        returned = _is_value(node, parent) or (
            isinstance(parent, ast.Tuple) and isinstance(grandparent, ast.Return)
            and _is_value(parent, grandparent))
        yield i, node, parent, Scope(names=names.get(id(node), ()), returned=returned)


def _replaced(stmt: ast.stmt, position: int, new: ast.AST) -> ast.stmt:
    """A copy of ``stmt`` with its node at ``position`` (ast.walk order) replaced by ``new``."""
    tree = copy.deepcopy(stmt)
    target = next(n for i, n in enumerate(ast.walk(tree)) if i == position)
    if target is tree:
        assert isinstance(new, ast.stmt)
        return ast.copy_location(new, tree)
    for parent in ast.walk(tree):
        for fname, value in ast.iter_fields(parent):
            if value is target:
                setattr(parent, fname, ast.copy_location(new, target))
                return ast.fix_missing_locations(tree)
            if isinstance(value, list) and any(v is target for v in value):
                value[next(i for i, v in enumerate(value) if v is target)] = \
                    ast.copy_location(new, target)
                return ast.fix_missing_locations(tree)
    raise AssertionError("a node of ast.walk has a parent")  # pragma: no cover


def mutants(piece: Slice, source: str, *, operators: Sequence[Operator] = OPERATORS
            ) -> list[Mutant]:
    """Every distinct mutant of ``piece`` (a slice of the module ``source``), in source order."""
    lines = source.splitlines(keepends=True)
    out: list[Mutant] = []
    seen: set[str] = set()
    for s, stmt in enumerate(piece.statements):
        for position, node, parent, scope in _sites(stmt):
            for op in operators:
                for new in op.mutate(node, parent, scope):
                    changed = _replaced(stmt, position, new)
                    key = ast.dump(changed)
                    if key in seen or key == ast.dump(stmt):
                        continue
                    seen.add(key)
                    text, original, mutated = _texts(lines, node, new, parent)
                    statements = (*piece.statements[:s], changed, *piece.statements[s + 1:])
                    out.append(Mutant(answer=piece.name, index=0, operator=op.name,
                                      line=getattr(node, "lineno", stmt.lineno),
                                      original=original, mutated=mutated,
                                      statements=statements, source=text))
    out.sort(key=lambda m: m.line)  # stable: source order, operators in table order
    return [_numbered(m, i) for i, m in enumerate(out)]


def _numbered(m: Mutant, i: int) -> Mutant:
    return Mutant(answer=m.answer, index=i, operator=m.operator, line=m.line,
                  original=m.original, mutated=m.mutated, statements=m.statements,
                  source=m.source)


# --------------------------------------------------------------------------- display


def _needs_parens(new: ast.AST, parent: ast.AST | None, before: str, after: str) -> bool:
    atom = isinstance(new, ast.Name | ast.Constant | ast.Call | ast.Attribute | ast.Subscript
                      | ast.List | ast.Tuple | ast.Dict) and not (
        isinstance(new, ast.Constant) and isinstance(new.value, int | float)
        and new.value < 0)
    wrapped = before.rstrip().endswith("(") and after.lstrip().startswith(")")
    return not atom and not wrapped and isinstance(parent, EXPRESSION_PARENTS)


def _texts(lines: list[str], node: ast.AST, new: ast.AST, parent: ast.AST | None
           ) -> tuple[str, str, str]:
    """(mutated module source, original line, mutated line): the node's text replaced."""
    start, end = node.lineno - 1, node.end_lineno or node.lineno  # type: ignore[attr-defined]
    raw = [ln.encode("utf-8") for ln in lines[start:end]]
    col = node.col_offset  # type: ignore[attr-defined]
    end_col = node.end_col_offset  # type: ignore[attr-defined]
    before = raw[0][:col].decode("utf-8")
    after = raw[-1][end_col:].decode("utf-8")
    if isinstance(node, ast.stmt):
        text = ast.unparse(new)
        indent = before
        body = "\n".join(indent + ln for ln in text.splitlines())
        replacement_lines = [body + after]
    else:
        text = ast.unparse(new)
        if _needs_parens(new, parent, before, after):
            text = f"({text})"
        replacement_lines = [before + text + after]
    joined = "".join(replacement_lines)
    module = "".join(lines[:start]) + joined + "".join(lines[end:])
    original_line = lines[start].rstrip("\n").strip() if end - start == 1 else " ".join(
        ln.strip() for ln in lines[start:end])
    mutated_line = " ".join(ln.strip() for ln in joined.splitlines())
    return module, original_line, mutated_line
