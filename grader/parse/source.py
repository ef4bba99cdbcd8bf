"""Plumbing of both parsers: the text and its offsets, errors, and the checked syntax tree.

:class:`_Source` maps syntax-tree positions back into the original text (through the
math-syntax rewrite), so that every :class:`~grader.errors.ParseError` points at what it
refuses. :func:`_parse_tree` bounds length, digits and nesting, then hands the text to
:func:`ast.parse`, which only builds a tree and runs nothing. :class:`_Call` is what a
builder gets; the remaining helpers word refusals, and read the literals both accept.
"""

from __future__ import annotations

import ast
import math
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, NoReturn

from grader.errors import ParseError
from grader.parse.limits import MAX_DEPTH, MAX_INT_DIGITS

_INT_LIMIT = 10**MAX_INT_DIGITS
_LONG_DIGITS = re.compile(rf"\d{{{MAX_INT_DIGITS + 1},}}")
_BRACKETS = re.compile(r"[()\[\]{}]")

_OPERATORS: dict[type[ast.AST], str] = {
    ast.Add: "+", ast.Sub: "-", ast.Mult: "*", ast.Div: "/", ast.FloorDiv: "//",
    ast.Mod: "%", ast.Pow: "**", ast.LShift: "<<", ast.RShift: ">>", ast.BitOr: "|",
    ast.BitXor: "^", ast.BitAnd: "&", ast.MatMult: "@", ast.USub: "-", ast.UAdd: "+",
    ast.Not: "not", ast.Invert: "~",
}  # fmt: skip

_CONSTRUCTS: dict[type[ast.AST], str] = {
    ast.Subscript: "a subscript",
    ast.Slice: "a slice",
    ast.Lambda: "a lambda expression",
    ast.ListComp: "a comprehension",
    ast.SetComp: "a comprehension",
    ast.DictComp: "a comprehension",
    ast.GeneratorExp: "a generator expression",
    ast.IfExp: "a conditional expression ('a if b else c')",
    ast.BoolOp: "'and'/'or'",
    ast.Dict: "a dict literal",
    ast.Set: "a set literal",
    ast.JoinedStr: "an f-string",
    ast.FormattedValue: "an f-string",
    ast.NamedExpr: "an assignment expression (':=')",
    ast.Starred: "a starred argument",
    ast.Await: "'await'",
    ast.Yield: "'yield'",
    ast.YieldFrom: "'yield'",
}


class _Source:
    """The text being parsed, for turning syntax-tree positions into offsets in it."""

    def __init__(self, original: str, parsed: str, origin: Sequence[int] | None = None) -> None:
        self.original = original
        self.parsed = parsed
        # origin[i] is where parsed[i] came from in the original (math syntax rewrites it)
        self.origin = origin
        self._line_starts = [0] + [m.end() for m in re.finditer(r"\r\n|\r|\n", parsed)]

    def offset(self, node: ast.AST | None) -> int | None:
        """Character offset of ``node`` in the original text, when it is known."""
        lineno = getattr(node, "lineno", None)
        col = getattr(node, "col_offset", None)
        if lineno is None or col is None or lineno > len(self._line_starts):
            return None
        start = self._line_starts[lineno - 1]
        # col_offset counts UTF-8 bytes, not characters
        line = self.parsed[start : start + col * 4 + 4]
        chars = len(line.encode("utf-8")[:col].decode("utf-8", errors="ignore"))
        return self.map(start + chars)

    def map(self, position: int) -> int:
        """Map a position in the parsed text back to the original text."""
        if self.origin is None:
            return position
        if not self.origin:
            return 0
        return self.origin[min(max(position, 0), len(self.origin) - 1)]

    def error(self, message: str, node: ast.AST | None = None) -> ParseError:
        """A :class:`ParseError` for ``node`` (or for the whole text)."""
        return ParseError(message, text=self.original, offset=self.offset(node))


@dataclass
class _Budget:
    """Work counted across one parse, for limits that no single node can enforce."""

    variadic_args: int = 0
    pieces: int = 0
    roots: set[tuple[Any, Any]] = field(default_factory=set)


@dataclass
class _Call:
    """One whitelisted call with its already-built arguments, handed to a builder."""

    name: str
    args: list[Any]
    kwargs: dict[str, Any]
    node: ast.AST | None
    src: _Source
    budget: _Budget = field(default_factory=_Budget)

    def fail(self, message: str) -> NoReturn:
        raise self.src.error(message, self.node)


_Builder = Callable[[_Call], Any]


def _snippet(text: str, limit: int = 60) -> str:
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _kind(value: object) -> str:
    """How a non-sympy argument is described in messages."""
    if isinstance(value, bool):
        return "a boolean literal"
    if isinstance(value, (int, float)):
        return "a number literal"
    if isinstance(value, str):
        return "a string literal"
    if isinstance(value, list):
        return "a list"
    if isinstance(value, tuple):
        return "a tuple"
    return f"a {type(value).__name__}"


def _exc_text(exc: BaseException) -> str:
    try:
        text = str(exc)
    except Exception:  # str() of a huge number inside a message can itself fail
        text = ""
    text = " ".join(text.split())
    return f"{type(exc).__name__}: {_snippet(text, 120)}" if text else type(exc).__name__


def _count_nodes(tree: ast.AST, src: _Source, max_nodes: int) -> None:
    """Refuse a tree with too many expression nodes (walked iteratively: it may be deep)."""
    count = 0
    for node in ast.walk(tree):
        if isinstance(node, ast.expr | ast.keyword):
            count += 1
            if count > max_nodes:
                raise src.error(f"the expression has more than {max_nodes} parts")


def _parse_tree(src: _Source, max_length: int) -> ast.Expression:
    """Length, digit and bracket checks, then ``ast.parse``; every failure is a ParseError."""
    text = src.parsed
    # math syntax at most doubles the text ('^' -> '**', one '*' per token)
    if len(src.original) > max_length or len(text) > 2 * max_length + 1:
        raise src.error(f"the text is longer than {max_length} characters")
    if _LONG_DIGITS.search(text):
        raise src.error(f"a number has more than {MAX_INT_DIGITS} digits")
    depth = 0
    for match in _BRACKETS.finditer(text):
        depth += 1 if match.group() in "([{" else -1
        if depth > MAX_DEPTH:
            raise ParseError(
                f"the expression is nested more than {MAX_DEPTH} levels deep",
                text=src.original,
                offset=src.map(match.start()),
            )
    try:
        return ast.parse(text, mode="eval")
    except SyntaxError as exc:
        offset = None
        if exc.lineno is not None and exc.offset is not None:
            line_starts = [0] + [m.end() for m in re.finditer(r"\r\n|\r|\n", text)]
            if exc.lineno <= len(line_starts):
                offset = src.map(line_starts[exc.lineno - 1] + max(exc.offset - 1, 0))
        raise ParseError(
            f"invalid syntax: {_snippet(exc.msg, 120)}", text=src.original, offset=offset
        ) from None
    except (RecursionError, MemoryError):
        raise src.error(
            "the expression is nested too deeply, or is too long a chain of operators"
        ) from None
    except ValueError as exc:  # e.g. null bytes on older Pythons
        raise src.error(f"invalid text: {_exc_text(exc)}") from None


def _refuse_node(node: ast.AST, src: _Source, *, srepr: bool) -> NoReturn:
    """Raise the ParseError that names a construct neither parser accepts."""
    if isinstance(node, ast.Attribute):
        raise src.error(f"attribute access ('.{node.attr}') is not allowed", node)
    if isinstance(node, ast.BinOp):
        symbol = _OPERATORS.get(type(node.op), type(node.op).__name__)
        if srepr:
            raise src.error(f"operator '{symbol}' is not allowed in srepr text", node)
        if isinstance(node.op, ast.BitXor):
            raise src.error(
                "'^' is not allowed: in Python syntax it is XOR; write '**' for a power", node
            )
        raise src.error(f"operator '{symbol}' is not allowed", node)
    if isinstance(node, ast.UnaryOp):
        symbol = _OPERATORS.get(type(node.op), type(node.op).__name__)
        raise src.error(f"unary '{symbol}' is not allowed here", node)
    if isinstance(node, ast.Compare):
        raise src.error("a comparison is not allowed in srepr text", node)
    what = _CONSTRUCTS.get(type(node), f"'{type(node).__name__}'")
    raise src.error(f"{what} is not allowed", node)


def _literal(node: ast.Constant, src: _Source) -> Any:
    """The value of a literal of an allowed type (bool, int, float, str)."""
    value = node.value
    if isinstance(value, bool | str):
        return value
    if type(value) is int:
        if abs(value) >= _INT_LIMIT:
            raise src.error(f"an integer has more than {MAX_INT_DIGITS} digits", node)
        return value
    if type(value) is float:
        if not math.isfinite(value):
            raise src.error("a float literal that is not finite is not allowed", node)
        return value
    if isinstance(value, bytes):
        raise src.error("a bytes literal is not allowed", node)
    if isinstance(value, complex):
        raise src.error("a complex literal is not allowed (write I for the imaginary unit)", node)
    if value is None:
        raise src.error("None is not allowed", node)
    if value is Ellipsis:
        raise src.error("'...' is not allowed", node)
    raise src.error(f"a literal of type {type(value).__name__} is not allowed", node)


def _call_parts(node: ast.Call, src: _Source) -> None:
    """Refuse ``*args`` and ``**kwargs``, which could smuggle in anything."""
    for arg in node.args:
        if isinstance(arg, ast.Starred):
            raise src.error("a starred argument ('*') is not allowed", arg)
    for kw in node.keywords:
        if kw.arg is None:
            raise src.error("a '**' argument is not allowed", kw.value)


def _callee_text(node: ast.AST, src: _Source) -> str:
    return _snippet(ast.get_source_segment(src.parsed, node) or type(node).__name__)
