"""Whitelist parsers for sympy ``srepr`` text and for typed math answers; nothing is evaluated.

Both parsers hand the text to :func:`ast.parse`, which only builds a syntax tree and runs
nothing, then walk that tree themselves. Sympy objects are built solely by calling the
constructors listed in the tables of this module (name -> builder); any other construct,
name, call or literal is refused with :class:`~grader.errors.ParseError`, whose message
names what was refused and whose ``offset`` points into the text.

Because the text is hostile, the work it can cause is bounded too: text length, syntax
node count and nesting depth are limited before anything is built, literals are limited
in size, and the few sympy operations that can blow up on small input (powers of numbers,
``exp`` of logarithms, factorials, ``Max``/``Min``/``Union`` with many arguments) are
checked before sympy gets to run them. Sympy still does ordinary automatic simplification
while building, so a caller that needs a hard guarantee on time should still run these
parsers under a wall-clock limit.
"""

from __future__ import annotations

import ast
import keyword
import math
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, NoReturn

import sympy
from sympy.functions.elementary.piecewise import ExprCondPair

from grader.errors import ParseError

__all__ = ["expression_syntax", "parse_expression", "parse_srepr"]

# Limits. Each bounds something a hostile text could otherwise make arbitrarily large.
MAX_DEPTH = 200  # bracket / syntax-tree nesting; CPython's tokenizer stops at 200 anyway
MAX_INT_DIGITS = 1000  # digits of an integer literal
MAX_FLOAT_DIGITS = 350  # digits of a Float literal (sympy reads its precision from them)
MAX_FLOAT_PRECISION = 1000  # bits of a srepr Float
MAX_FLOAT_MAGNITUDE = 400  # largest decimal exponent of any Float kept (double range + margin)
MAX_POW_EXPONENT = 1000  # |exponent| of a power whose base contains numbers
MAX_RESULT_DIGITS = 10_000  # digits of any exact number built, literal or computed
MAX_ROOT_WORK = 200  # digits of a number times the root taken of it (sympy factors it)
MAX_ROOTS = 500  # distinct fractional powers of numbers in one text (each is factored)
MAX_FACTORIAL_ARG = 1000  # |n| for factorial(n) and gamma(n) of a number
MAX_EXP_FLOAT_ARG = 1000  # |x| for exp/sinh/cosh/tanh of a Float
MAX_VARIADIC_ARGS = 10  # arguments of one Max/Min/Union (sympy compares them pairwise)
MAX_VARIADIC_TOTAL = 100  # Max/Min/Union arguments in one text
MAX_NAME_LENGTH = 200  # characters of a Symbol or Function name
MAX_DERIVATIVE_ORDER = 10  # variables of one Derivative/diff in a typed expression
EXPR_MAX_NODES = 5_000  # syntax nodes of a typed expression
EXPR_MAX_NUMBER_CHARS = 100  # characters of a typed float literal

_LOG10_2 = math.log10(2)
_INT_LIMIT = 10**MAX_INT_DIGITS
_MAX_RESULT_BITS = math.ceil(MAX_RESULT_DIGITS / _LOG10_2)
_FLOAT_TEXT = re.compile(r"[-+]?(?:\d+\.?\d*|\.\d+)(?:[eE]([-+]?\d+))?")
_LONG_DIGITS = re.compile(rf"\d{{{MAX_INT_DIGITS + 1},}}")
_BRACKETS = re.compile(r"[()\[\]{}]")

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


# --------------------------------------------------------------------------- plumbing


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


# --------------------------------------------------------------------------- size checks


def _digits(number: Any) -> float:
    """Decimal size of a number: digits of numerator/denominator, or of a Float's magnitude."""
    if isinstance(number, sympy.Rational):
        return max(number.p.bit_length(), number.q.bit_length()) * _LOG10_2
    if isinstance(number, sympy.Float):
        _sign, mantissa, exponent, bits = number._mpf_
        return abs(exponent + bits) * _LOG10_2 if mantissa else 0.0
    return 0.0


def _exceeds(number: Any, limit: int) -> bool:
    """Whether ``|number| > limit`` for a Rational or Float, without making huge values."""
    if isinstance(number, sympy.Rational):
        return bool(abs(number.p) > limit * number.q)
    return bool(abs(float(number)) > limit)


def _check_number(call: _Call, number: Any) -> None:
    if isinstance(number, sympy.Rational):
        if max(number.p.bit_length(), number.q.bit_length()) > _MAX_RESULT_BITS:
            call.fail(f"{call.name}(...) gives a number with more than {MAX_RESULT_DIGITS} digits")
    elif isinstance(number, sympy.Float):
        _sign, mantissa, exponent, bits = number._mpf_
        if mantissa and (exponent + bits) * _LOG10_2 > MAX_FLOAT_MAGNITUDE + 1:
            call.fail(f"{call.name}(...) gives a float larger than 1e{MAX_FLOAT_MAGNITUDE}")


def _check_built(call: _Call, result: Any) -> None:
    """Refuse a just-built object whose own numbers are too large (deeper ones were checked)."""
    if isinstance(result, sympy.Number):
        _check_number(call, result)
    elif isinstance(result, sympy.Add | sympy.Mul) and result.args:
        _check_number(call, result.args[0])  # the numeric term/coefficient sorts first


def _raised_numbers(base: Any) -> list[Any]:
    """The numbers sympy would actually raise to a power when it evaluates ``base**e``."""
    found = []
    stack = [base]
    while stack:
        item = stack.pop()
        if isinstance(item, sympy.Rational | sympy.Float):
            found.append(item)
        elif isinstance(item, sympy.Mul):  # (a*b)**n distributes over the factors
            stack.extend(item.args)
        elif isinstance(item, sympy.Pow):  # (b**c)**n may become b**(c*n)
            stack.append(item.base)
    return found


def _check_pow(call: _Call, base: Any, exponent: Any) -> None:
    """Refuse a power of numbers whose value would be huge or costly to simplify."""
    if base is sympy.E:  # E**x is exp(x), which turns exp(k*log(n)) into n**k
        _check_exp(call, exponent)
        return
    if not isinstance(exponent, sympy.Rational | sympy.Float):
        return
    numbers = _raised_numbers(base)
    if not numbers:
        return
    if _exceeds(exponent, MAX_POW_EXPONENT):
        call.fail(
            f"a power of a number with an exponent larger than {MAX_POW_EXPONENT} is not allowed"
        )
    if max(_digits(n) for n in numbers) * abs(float(exponent)) > MAX_RESULT_DIGITS:
        call.fail(f"the power would have more than {MAX_RESULT_DIGITS} digits")
    if isinstance(exponent, sympy.Rational) and exponent.q != 1:
        for number in numbers:
            if not isinstance(number, sympy.Rational):
                continue
            if _root_work(number, exponent) > MAX_ROOT_WORK:
                call.fail(
                    "a fractional power of so large a number is not allowed "
                    f"(digits times root index is over {MAX_ROOT_WORK})"
                )
            call.budget.roots.add((number, exponent.q))
        if len(call.budget.roots) > MAX_ROOTS:
            call.fail(f"more than {MAX_ROOTS} different roots of numbers in one expression")


def _root_work(number: Any, exponent: Any) -> float:
    """How hard sympy works to simplify ``number**(p/q)``: digits times ``q``.

    Sympy factors the number and may build powers up to ``q - 1`` of its factors.
    """
    digits = (number.p.bit_length() + number.q.bit_length()) * _LOG10_2
    return float(digits * exponent.q)


def _check_exp(call: _Call, argument: Any) -> None:
    """Refuse exp(x) that sympy would turn into a huge power or a costly float."""
    for term in sympy.Add.make_args(argument):
        if isinstance(term, sympy.Float) and _exceeds(term, MAX_EXP_FLOAT_ARG):
            call.fail(f"{call.name} of a float larger than {MAX_EXP_FLOAT_ARG} is not allowed")
        if not isinstance(term, sympy.Expr):
            continue  # sympy refuses it later, with its own message
        coeff, rest = term.as_coeff_Mul()
        if isinstance(rest, sympy.log) and len(rest.args) == 1:
            _check_pow(call, rest.args[0], coeff)


def _check_add(call: _Call, args: Sequence[Any]) -> None:
    """Refuse a sum whose exact coefficients, once combined, could have too many digits."""
    sizes: dict[Any, float] = {}
    for arg in args:
        for term in sympy.Add.make_args(arg):
            if not isinstance(term, sympy.Expr):
                continue  # sympy refuses it later, with its own message
            coeff, rest = term.as_coeff_Mul()
            if isinstance(coeff, sympy.Rational):
                sizes[rest] = sizes.get(rest, 0.0) + _digits(coeff)
                if sizes[rest] > MAX_RESULT_DIGITS:
                    call.fail(
                        f"the sum would have a number with more than {MAX_RESULT_DIGITS} digits"
                    )


def _check_mul(call: _Call, args: Sequence[Any]) -> None:
    """Refuse a product whose numbers, or numbers under roots, sympy would multiply out."""
    exact = 0.0
    radical = 0.0
    for arg in args:
        for factor in sympy.Mul.make_args(arg):
            if isinstance(factor, sympy.Rational):
                exact += _digits(factor)
            elif (
                isinstance(factor, sympy.Pow)
                and isinstance(factor.base, sympy.Rational)
                and isinstance(factor.exp, sympy.Rational)
                and factor.exp.q != 1
            ):
                radical += _root_work(factor.base, factor.exp)
    if exact > MAX_RESULT_DIGITS:
        call.fail(f"the product would have more than {MAX_RESULT_DIGITS} digits")
    if radical > MAX_ROOT_WORK:
        call.fail(
            "the product has roots of too large numbers "
            f"(digits times root index is over {MAX_ROOT_WORK} in all)"
        )


def _check_final(src: _Source, result: Any) -> None:
    """Last pass over every number in the result, whatever sympy did while building."""
    numbers = result.atoms(sympy.Number) if isinstance(result, sympy.Basic) else ()
    call = _Call("the expression", [], {}, None, src)
    for number in numbers:
        _check_number(call, number)


# --------------------------------------------------------------------------- builders


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


# --------------------------------------------------------------------------- srepr


def parse_srepr(text: str, *, max_length: int = 200_000, max_nodes: int = 20_000) -> sympy.Basic:
    """Rebuild a sympy object from ``sympy.srepr`` text, calling only whitelisted constructors.

    ``text`` comes from a student's kernel and is treated as hostile: it is parsed with
    :func:`ast.parse` and rebuilt node by node from the tables in this module. Add, Mul,
    Pow and functions are built with sympy's usual evaluation, so the result is ``==`` to
    the object that was printed. Dummies come back as Symbols of the same name, matrices
    as ``ImmutableMatrix``. Raises :class:`ParseError` for anything outside the whitelist
    or beyond the size limits (see the module constants).
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
        if node.id in _SREPR_CONSTANTS:
            return _SREPR_CONSTANTS[node.id]
        raise src.error(f"name {_snippet(node.id)!r} is not allowed", node)
    if isinstance(node, ast.Constant):
        return _literal(node, src)
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.USub):
        operand = node.operand
        if isinstance(operand, ast.Constant) and type(operand.value) in (int, float):
            return -_literal(operand, src)
        if isinstance(operand, ast.Name) and operand.id in _NEGATABLE:
            return sympy.S.NegativeInfinity
        raise src.error("unary '-' is only allowed before a number or oo", node)
    if isinstance(node, ast.List | ast.Tuple):
        items = [_srepr_node(item, src, budget, depth + 1) for item in node.elts]
        return items if isinstance(node, ast.List) else tuple(items)
    _refuse_node(node, src, srepr=True)


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


def _srepr_call(node: ast.Call, src: _Source, budget: _Budget, depth: int) -> Any:
    _call_parts(node, src)
    func = node.func
    undefined_name: Any = None
    if isinstance(func, ast.Name):
        if func.id == "Function":
            raise src.error("Function(...) is only allowed as Function('name')(arguments)", node)
        builder = _SREPR_CALLS.get(func.id)
        if builder is None:
            raise src.error(f"call of {_snippet(func.id)!r} is not allowed", node)
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


# --------------------------------------------------------------------------- typed expressions


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


_EXPR_CONSTANTS: dict[str, Any] = {
    "pi": sympy.pi,
    "E": sympy.E,  # not 'e': students use e as a variable far too often
    "I": sympy.I,
    "oo": sympy.oo,
    "inf": sympy.oo,
    "EmptySet": sympy.S.EmptySet,
    "Reals": sympy.S.Reals,
}

_EXPR_CALLS: dict[str, _Builder] = {
    "exp": _SREPR_CALLS["exp"],
    "log": _SREPR_CALLS["log"],
    "ln": _SREPR_CALLS["log"],
    "sqrt": _build_sqrt,
    "sin": _SREPR_CALLS["sin"],
    "cos": _SREPR_CALLS["cos"],
    "tan": _SREPR_CALLS["tan"],
    "tanh": _SREPR_CALLS["tanh"],
    "sinh": _SREPR_CALLS["sinh"],
    "cosh": _SREPR_CALLS["cosh"],
    "asin": _SREPR_CALLS["asin"],
    "acos": _SREPR_CALLS["acos"],
    "atan": _SREPR_CALLS["atan"],
    "Abs": _SREPR_CALLS["Abs"],
    "abs": _SREPR_CALLS["Abs"],
    "sign": _SREPR_CALLS["sign"],
    "Max": _SREPR_CALLS["Max"],
    "max": _SREPR_CALLS["Max"],
    "Min": _SREPR_CALLS["Min"],
    "min": _SREPR_CALLS["Min"],
    "floor": _SREPR_CALLS["floor"],
    "ceiling": _SREPR_CALLS["ceiling"],
    "factorial": _SREPR_CALLS["factorial"],
    "gamma": _SREPR_CALLS["gamma"],
    "erf": _SREPR_CALLS["erf"],
    "Heaviside": _SREPR_CALLS["Heaviside"],
    "Derivative": _build_derivative(evaluate=False),
    "diff": _build_derivative(evaluate=True),
    # sets and conditions, for answers compared by the set they denote
    "Interval": _plain(sympy.Interval, 2, 2, kind=sympy.Expr),
    "FiniteSet": _SREPR_CALLS["FiniteSet"],
    "Union": _SREPR_CALLS["Union"],
    "Intersection": _plain(sympy.Intersection, 1, None, _variadic_check(sympy.Intersection)),
    "And": _SREPR_CALLS["And"],
    "Or": _SREPR_CALLS["Or"],
    "Not": _SREPR_CALLS["Not"],
}

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

_MATH_TOKEN = re.compile(
    r"(?P<number>(?:\d[\d_]*(?:\.[\d_]*)?|\.\d[\d_]*)(?:[eE][-+]?\d+)?)"
    r"|(?P<name>[^\W\d]\w*)"
    r"|(?P<space>\s+)"
    r"|(?P<other>\*\*|.)",
    re.DOTALL,
)


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
    new ``Symbol``, otherwise an unknown name is refused. ``functions`` maps names to
    callables (a sympy ``Lambda`` or ``Function``) the caller trusts. Besides those, only
    the math functions of ``_EXPR_CALLS`` and the constants ``pi, E, I, oo, inf`` exist.

    Sets and conditions: ``Interval(a, b)`` (closed), ``Interval.open``, ``Interval.Lopen``,
    ``Interval.Ropen``, ``FiniteSet``, ``Union``, ``Intersection``, ``EmptySet``, ``Reals``,
    and ``And``, ``Or``, ``Not`` of comparisons. ``Matrix([[a, b], [c, d]])`` builds an
    immutable matrix (``Matrix([a, b])`` a column).

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


def _rewrite_math(text: str) -> tuple[str, list[int]]:
    """Rewrite math syntax as Python: ``^`` -> ``**``, implicit products get ``*``.

    Works on tokens, so digits inside names (``beta1``) are never split. Returns the new
    text and, per character, its position in the original.
    """
    out: list[str] = []
    origin: list[int] = []
    previous: tuple[str, str] | None = None  # (kind, text) of the last non-space token
    for match in _MATH_TOKEN.finditer(text):
        kind = match.lastgroup or "other"
        token = match.group()
        start = match.start()
        if kind == "space":
            out.append(token)
            origin.extend(range(start, match.end()))
            continue
        if previous is not None and _implicit_product(previous, (kind, token)):
            out.append("*")
            origin.append(start)
        if token == "^":
            token = "**"
            origin.extend((start, start))
        else:
            origin.extend(range(start, match.end()))
        out.append(token)
        previous = (kind, token)
    origin.append(len(text))
    return "".join(out), origin


def _implicit_product(left: tuple[str, str], right: tuple[str, str]) -> bool:
    """Whether math syntax reads ``left right`` as ``left * right``."""
    left_kind, left_text = left
    right_kind, right_text = right
    if keyword.iskeyword(left_text) or keyword.iskeyword(right_text):
        return False
    if left_kind == "number":
        return right_kind == "name" or right_text == "("
    if left_text == ")":
        return right_kind == "name" or right_text == "("
    if left_kind == "name":  # 'x y'; a name before '(' stays a function call
        return right_kind == "name"
    return False


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
    if name in _EXPR_CONSTANTS:
        return _EXPR_CONSTANTS[name]
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
    builder = _EXPR_CALLS.get(name)
    if builder is None:
        known = ", ".join(sorted({*st.functions, *_EXPR_CALLS}))
        raise src.error(f"call of {_snippet(name)!r} is not allowed; functions: {known}", node)
    args = [_expr(arg, st, depth + 1) for arg in node.args]
    return builder(_Call(name, args, {}, node, src, st.budget))


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
