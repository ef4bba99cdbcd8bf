"""The whitelist parsers: srepr round trips, refusals that run nothing, typed math answers."""

from __future__ import annotations

import ast
import builtins
import re
from pathlib import Path

import pytest
import sympy
import sympy.parsing.sympy_parser
from sympy import (
    Derivative,
    Dummy,
    E,
    Eq,
    FiniteSet,
    Float,
    Function,
    I,
    ImmutableMatrix,
    Integer,
    Integral,
    Interval,
    Lambda,
    Matrix,
    Piecewise,
    Rational,
    Symbol,
    Tuple,
    Union,
    exp,
    oo,
    pi,
    sqrt,
    symbols,
)

from grader.errors import ParseError
from grader.parse import (
    EXPR_MAX_NODES,
    MAX_DEPTH,
    MAX_INT_DIGITS,
    expression_names,
    parse_expression,
    parse_srepr,
    vocabulary,
)
from grader.parse.vocabulary import ENTRIES, vocabulary_lines

x, y, z, t, w, lam, beta1 = symbols("x y z t w lam beta1")
xr = Symbol("x", real=True)
xp = Symbol("x", positive=True, integer=True)
sigma = Function("sigma")


@pytest.fixture(autouse=True)
def no_code_runs(monkeypatch):
    """Fail the test if parsing compiles or runs text as code, or hands it to sympy's parser.

    ``ast.parse`` calls ``compile`` with ``PyCF_ONLY_AST``, which only builds a tree, and
    imports compile and exec module files; compiling any other source to code, ``eval`` or
    ``exec`` of a string, and every ``parse_expr`` is a breach.
    """
    real_compile, real_eval, real_exec = builtins.compile, builtins.eval, builtins.exec

    def guarded_compile(source, filename, mode, flags=0, *args, **kwargs):
        if not flags & ast.PyCF_ONLY_AST and str(filename).startswith("<"):
            raise AssertionError(f"compile() of text during parsing: {source!r:.80}")
        return real_compile(source, filename, mode, flags, *args, **kwargs)

    def guarded(real):
        def run(source, *args, **kwargs):
            if isinstance(source, str | bytes):
                raise AssertionError(f"eval/exec of text during parsing: {source!r:.80}")
            return real(source, *args, **kwargs)

        return run

    def forbidden(*args, **kwargs):
        raise AssertionError(f"sympy's string parser called during parsing: {args!r:.80}")

    monkeypatch.setattr(builtins, "compile", guarded_compile)
    monkeypatch.setattr(builtins, "eval", guarded(real_eval))
    monkeypatch.setattr(builtins, "exec", guarded(real_exec))
    monkeypatch.setattr(sympy.parsing.sympy_parser, "parse_expr", forbidden)


def test_the_guard_catches_a_naive_parser():
    with pytest.raises(AssertionError):
        builtins.eval("1")
    with pytest.raises(AssertionError):
        sympy.sympify("x + 1")


# --------------------------------------------------------------------------- srepr round trips

ROUND_TRIPS = [
    x,
    Symbol("x", real=True, positive=True),
    Symbol("n", integer=True, nonnegative=True),
    Symbol("A", commutative=False),
    Integer(0),
    Integer(-5),
    Integer(10) ** 100,
    -(Integer(10) ** 999),
    Rational(-3, 7),
    Rational(1, 2),
    Float(0.1),
    Float("0.1", 100),
    Float("0.1", precision=1000),
    Float(-1.5e-300),
    Float(1e300),
    pi,
    E,
    I,
    oo,
    -oo,
    sympy.zoo,
    sympy.nan,
    sympy.EulerGamma,
    sympy.true,
    sympy.false,
    x + 2 * y,
    -2 * x,
    x - y,
    x / y,
    2 + 3 * I,
    x**-1,
    sqrt(x),
    2 * sqrt(2) * x,
    xr**2 + sympy.Abs(xr),
    exp(-z) + sympy.log(x) + sympy.log(x, 2),
    1 / (1 + exp(-z)),
    sympy.sin(x) + sympy.cos(x) + sympy.tan(x) + sympy.tanh(x) + sympy.sinh(x) + sympy.cosh(x),
    sympy.asin(x) + sympy.acos(x) + sympy.atan(x),
    sympy.sign(x) * sympy.Max(x, y) - sympy.Min(x, 0),
    sympy.Heaviside(x) + sympy.Heaviside(y, 0),
    sympy.diff(sympy.Heaviside(x), x) + sympy.conjugate(x) + sympy.re(x) * sympy.im(y),
    sympy.erf(x) + sympy.gamma(x) + sympy.factorial(xp),
    sympy.floor(x) + sympy.ceiling(x) + sympy.Mod(x, 3),
    Piecewise((x, x > 0), (x**2, True)),
    Eq(x, y),
    sympy.Ne(x, 1),
    x < y,
    x <= y,
    x > y,
    x >= y,
    sympy.And(x > 0, y < 1),
    sympy.Or(x > 0, sympy.Not(y > 1)),
    Tuple(1, x, Tuple()),
    Derivative(sigma(z), z),
    Derivative(Function("f")(x, y), x, y, x),
    sympy.diff(sigma(2 * x), x),  # Subs of a Derivative, with Dummy variables
    sigma(z) * (1 - sigma(z)),
    Lambda(x, x**2),
    Lambda((x, y), x + y),
    Integral(x**2, (x, 0, 1)),
    Integral(x, x),
    sympy.Sum(x**2, (x, 1, 10)),
    Interval(0, 1),
    Interval.open(0, oo),
    Interval.Ropen(-oo, 1),
    FiniteSet(1, 2, 3),
    Union(Interval(0, 1), Interval(2, 3)),
    sympy.S.EmptySet,
    sympy.S.Reals,
    Matrix([[1, x], [0, 2]]),
    ImmutableMatrix([[1, 2]]),
    Matrix([1, 2]),
    sympy.zeros(0, 3),
]


@pytest.mark.parametrize("obj", ROUND_TRIPS, ids=lambda o: sympy.srepr(o)[:50])
def test_srepr_round_trip(obj):
    text = sympy.srepr(obj)
    assert parse_srepr(text) == obj


def test_srepr_forms_this_parser_relies_on():
    # If sympy ever prints these differently the whitelist needs to follow.
    assert sympy.srepr(Float(0.1)) == "Float('0.10000000000000001', precision=53)"
    assert sympy.srepr(Derivative(sigma(z), z)) == (
        "Derivative(Function('sigma')(Symbol('z')), Tuple(Symbol('z'), Integer(1)))"
    )
    assert sympy.srepr(-oo) == "-oo"
    assert sympy.srepr(Matrix([[1, x]])) == "MutableDenseMatrix([[Integer(1), Symbol('x')]])"


def test_matrices_come_back_immutable():
    back = parse_srepr(sympy.srepr(Matrix([[1, x], [0, 2]])))
    assert isinstance(back, ImmutableMatrix)
    assert back.shape == (2, 2)


def test_dummy_comes_back_as_symbol_of_its_name():
    back = parse_srepr(sympy.srepr(Dummy("d", real=True)))
    assert back == Symbol("d", real=True)


def test_float_precision_is_kept():
    value = Float("0.1", 100)
    back = parse_srepr(sympy.srepr(value))
    assert back._prec == value._prec


def test_leading_and_trailing_space_is_accepted():
    assert parse_srepr("  Symbol('x')\n") == x


# --------------------------------------------------------------------------- srepr refusals

SREPR_REFUSALS = [
    ("__import__('os').system('echo hi')", "call of \"__import__('os').system\""),
    ("Symbol('x').__class__", "attribute access"),
    ("Function('sigma').__globals__", "attribute access"),
    ("getattr(Symbol, 'x')", "the answer contains getattr(...)"),
    ("eval('1')", "the answer contains eval(...)"),
    ("exec('1')", "the answer contains exec(...)"),
    ("open('/etc/passwd')", "the answer contains open(...)"),
    ("sympify('x')", "the answer contains sympify(...)"),
    ("Symbol('x')[0]", "subscript"),
    ("lambda: 1", "lambda"),
    ("[x for x in ()]", "comprehension"),
    ("Integer(1) + Integer(2)", "operator '+'"),
    ("Symbol('x') if true else Symbol('y')", "conditional expression"),
    ("f'{1}'", "f-string"),
    ("{'a': 1}", "dict"),
    ("Function('os.system')(Symbol('x'))", "not an identifier"),
    ("Function(Symbol('x'))(Symbol('y'))", "Function() takes exactly one string literal"),
    ("Function('f')", "only allowed as Function('name')(arguments)"),
    ("Function('f', real=True)(Symbol('x'))", "Function() takes exactly one string literal"),
    ("Symbol('x', __class__=True)", "unknown assumption '__class__'"),
    ("Symbol('x', real=1)", "must be True or False"),
    ("Symbol('x', real=True, real=False)", "repeated"),
    ("Symbol('x', positive=True, negative=True)", "refused by sympy"),
    ("Symbol(**{'a': 1})", "'**' argument"),
    ("Symbol(*['x'])", "starred"),
    ("Symbol(b'x')", "bytes literal"),
    ("Symbol(...)", "'...'"),
    ("Symbol(None)", "None"),
    ("Integer(1j)", "complex literal"),
    ("Symbol('')", "symbol name"),
    ("Add(Symbol('x'), evaluate=False)", "'evaluate'"),
    ("Pow(Integer(9), Integer(99999999))", "exponent larger than 1000"),
    ("Pow(Pow(Integer(10), Integer(999)), Integer(100))", "more than 10000 digits"),
    ("Pow(Mul(Symbol('x'), Pow(Integer(2), Rational(1, 2))), Integer(100000))", "exponent"),
    ("exp(Mul(Integer(1000000), log(Integer(2))))", "exponent larger than 1000"),
    ("exp(Add(Symbol('x'), Mul(Integer(1000000), log(Integer(2)))))", "exponent"),
    ("Pow(E, Mul(Integer(1000000), log(Integer(2))))", "exponent larger than 1000"),
    ("Pow(Integer(" + "7" * 500 + "), Rational(1, 3))", "fractional power"),
    ("factorial(Integer(100000))", "factorial of a number larger than 1000"),
    ("gamma(Integer(5000))", "gamma of a number larger than 1000"),
    ("Integer(" + "9" * 5000 + ")", f"more than {MAX_INT_DIGITS} digits"),
    ("Integer(" + "9" * (MAX_INT_DIGITS + 1) + ")", f"more than {MAX_INT_DIGITS} digits"),
    ("Integer(0x" + "f" * 900 + ")", f"more than {MAX_INT_DIGITS} digits"),
    ("Integer(True)", "integer literals"),
    ("Rational(1.5, 2)", "integer literals"),
    ("Float('1e1', precision=100000)", "precision"),
    ("Float('1e1000000000')", "out of range"),
    ("Float('nan')", "malformed float literal"),
    ("Float('0." + "1" * 400 + "')", "more than 350 digits"),
    ("Float(1.5)", "Float() takes one string"),
    ("exp(Float('1.0e+300', precision=53))", "exp of a float larger than 1000"),
    ("Pow(Float('1.0e+300', precision=53), Integer(2))", "float larger than 1e400"),
    ("Max(" + ", ".join(f"Symbol('x{i}')" for i in range(11)) + ")", "more than 10 arguments"),
    ("Add(Interval(Integer(0), Integer(1)), Integer(1))", "takes expressions"),
    ("Lambda(Symbol('x'), Symbol('x'))", "Tuple of its parameters"),
    ("Interval(Integer(0), 1)", "sympy arguments, not a number literal"),
    ("MutableDenseMatrix(1000000, 1000000, [])", "rows*cols"),
    ("MutableDenseMatrix([[Integer(1)], 3])", "entries must be sympy objects"),
    ("-Symbol('x')", "unary '-'"),
    ("Symbol('x') < Symbol('y')", "comparison"),
    ("x", "name 'x' is not allowed"),
    ("Integer", "name 'Integer' is not allowed"),
    ("1", "must describe a sympy object"),
    ("'x'", "must describe a sympy object"),
    ("Symbol('x'", "invalid syntax"),
    ("", "invalid syntax"),
]


@pytest.mark.parametrize(("text", "fragment"), SREPR_REFUSALS, ids=lambda v: str(v)[:40])
def test_srepr_refusal(text, fragment):
    with pytest.raises(ParseError) as info:
        parse_srepr(text)
    assert fragment in str(info.value)
    assert info.value.text == text


def test_srepr_refuses_text_longer_than_max_length():
    text = "Symbol('x')" + " " * 200_000
    with pytest.raises(ParseError, match="longer than 200000"):
        parse_srepr(text)
    with pytest.raises(ParseError, match="longer than 5"):
        parse_srepr("Symbol('x')", max_length=5)


def test_srepr_refuses_deep_nesting():
    text = "(" * 100_000 + "Symbol('x')" + ")" * 100_000
    with pytest.raises(ParseError, match="nested"):
        parse_srepr(text, max_length=1_000_000)
    deep = "Tuple(" * (MAX_DEPTH + 1) + ")" * (MAX_DEPTH + 1)
    with pytest.raises(ParseError, match="nested"):
        parse_srepr(deep)


def test_srepr_accepts_nesting_just_under_the_limit():
    deep = "sin(" * (MAX_DEPTH - 10) + "Symbol('x')" + ")" * (MAX_DEPTH - 10)
    expected = x
    for _ in range(MAX_DEPTH - 10):
        expected = sympy.sin(expected)
    assert parse_srepr(deep) == expected


def test_srepr_refuses_too_many_nodes():
    text = sympy.srepr(sum(symbols("a0:50")))
    with pytest.raises(ParseError, match="more than 20 parts"):
        parse_srepr(text, max_nodes=20)
    assert parse_srepr(text) == sum(symbols("a0:50"))


def test_srepr_error_points_at_the_offending_node():
    text = "Add(Symbol('x'), Symbol('y').__class__)"
    with pytest.raises(ParseError) as info:
        parse_srepr(text)
    assert info.value.offset == text.index("Symbol('y')")


def test_srepr_refuses_non_text():
    with pytest.raises(ParseError):
        parse_srepr(b"Symbol('x')")  # type: ignore[arg-type]


def _payloads(marker):
    path = str(marker)
    touch = f"__import__('pathlib').Path({path!r}).touch()"
    return [
        touch,
        f"open({path!r}, 'w')",
        f"Symbol({touch})",
        f"Symbol('x', real={touch})",
        f"Function('f')({touch})",
        f"Add(Symbol('x'), {touch})",
        f"[{touch} for _ in (1,)]",
        f"(lambda: {touch})()",
        f"Symbol('x') if {touch} else Symbol('y')",
        f"Integer(1).__class__.__init__.__globals__['__builtins__']['exec']({touch!r})",
        f"__import__('os').system('touch {path}')",
        f"MutableDenseMatrix([[{touch}]])",
    ]


def test_refused_srepr_payloads_never_run(tmp_path):
    marker = tmp_path / "pwned"
    for payload in _payloads(marker):
        with pytest.raises(ParseError):
            parse_srepr(payload)
        assert not marker.exists(), payload


def test_refused_typed_payloads_never_run(tmp_path):
    marker = tmp_path / "pwned"
    for payload in _payloads(marker):
        for syntax in ("python", "math"):
            with pytest.raises(ParseError):
                parse_expression(payload, syntax=syntax, max_length=1000)
            assert not marker.exists(), payload


# --------------------------------------------------------------------------- typed expressions

SIGMA = {"sigma": sigma}
LOGISTIC = {"sigma": Lambda(z, 1 / (1 + exp(-z)))}

EXPRESSIONS = [
    ("lam*w + x*(y - t)", {}, lam * w + x * (y - t)),
    ("1/(1 + exp(-z))", {}, 1 / (1 + exp(-z))),
    ("sigma(z)*(1 - sigma(z))", {"functions": SIGMA}, sigma(z) * (1 - sigma(z))),
    ("sigma(z)", {"functions": LOGISTIC}, 1 / (1 + exp(-z))),
    ("beta1**t", {}, beta1**t),
    ("0.099 - 0.1*x", {}, Float("0.099") - Float("0.1") * x),
    ("2.5e-3", {}, Float("2.5e-3")),
    ("1e400", {}, Float("1e400")),
    ("1/2", {}, Rational(1, 2)),
    ("2**10", {}, Integer(1024)),
    ("-x**2", {}, -(x**2)),
    ("+x", {}, x),
    ("x - y - z", {}, x - y - z),
    ("x/y/z", {}, x / y / z),
    ("(1, x)", {}, Tuple(1, x)),
    ("x == y", {}, Eq(x, y)),
    ("x == x", {}, Eq(x, x, evaluate=False)),
    ("x != 1", {}, sympy.Ne(x, 1)),
    ("x < y", {}, x < y),
    ("x <= 2", {}, x <= 2),
    ("x > y", {}, x > y),
    ("x >= y", {}, x >= y),
    ("sqrt(2)/2", {}, sqrt(2) / 2),
    ("ln(x) + log(x, 2)", {}, sympy.log(x) + sympy.log(x, 2)),
    ("abs(x) + max(x, 1) + min(x, y)", {}, sympy.Abs(x) + sympy.Max(x, 1) + sympy.Min(x, y)),
    ("E**x + exp(1) + pi + I + oo", {}, exp(x) + E + pi + I + oo),
    ("inf", {}, oo),
    ("e*x", {}, Symbol("e") * x),
    ("gamma**t", {}, Symbol("gamma") ** t),
    ("gamma(5)", {}, Integer(24)),
    (
        "factorial(5) + floor(x) + ceiling(x) + sign(x)",
        {},
        120 + sympy.floor(x) + sympy.ceiling(x) + sympy.sign(x),
    ),
    ("erf(x) + Heaviside(x) + tanh(x)", {}, sympy.erf(x) + sympy.Heaviside(x) + sympy.tanh(x)),
    ("diff(x**3, x)", {}, 3 * x**2),
    ("Derivative(sigma(z), z)", {"functions": SIGMA}, Derivative(sigma(z), z)),
    (
        "a*b",
        {"symbols": {"a": Symbol("a"), "b": Symbol("b", positive=True)}},
        Symbol("a") * Symbol("b", positive=True),
    ),
    ("  x +\n 1 ", {}, x + 1),
    ("10**1000", {}, Integer(10) ** 1000),
    # math syntax
    ("2x", {"syntax": "math"}, 2 * x),
    ("x^2", {"syntax": "math"}, x**2),
    ("x**2", {"syntax": "math"}, x**2),
    ("2(x+1)", {"syntax": "math"}, 2 * (x + 1)),
    ("(x+1)(x-1)", {"syntax": "math"}, (x + 1) * (x - 1)),
    ("(x+1)y", {"syntax": "math"}, (x + 1) * y),
    ("x y", {"syntax": "math"}, x * y),
    ("2 sin(x)", {"syntax": "math"}, 2 * sympy.sin(x)),
    ("2.5e-3x", {"syntax": "math"}, Float("2.5e-3") * x),
    ("beta1^2 t", {"syntax": "math"}, beta1**2 * t),
    ("beta1**t", {"syntax": "math"}, beta1**t),
    ("3sigma(z)", {"syntax": "math", "functions": SIGMA}, 3 * sigma(z)),
    ("2^3^2", {"syntax": "math"}, Integer(2) ** 9),
]


@pytest.mark.parametrize(("text", "kwargs", "expected"), EXPRESSIONS, ids=lambda v: str(v)[:30])
def test_parse_expression(text, kwargs, expected):
    assert parse_expression(text, **kwargs) == expected


def test_float_literal_is_built_from_its_digits():
    value = parse_expression("0.1")
    assert value == Float("0.1")
    assert isinstance(value, Float)
    assert isinstance(parse_expression("3"), Integer)


def test_top_level_list_is_a_python_list():
    value = parse_expression("[1, x, (2, 3)]")
    assert isinstance(value, list)
    assert value == [Integer(1), x, Tuple(2, 3)]


def test_declared_symbols_are_used_as_given():
    a = Symbol("a", positive=True)
    assert parse_expression("a + 1", symbols={"a": a}) == a + 1
    assert parse_expression("a", symbols={"a": a}).is_positive


def test_unknown_syntax_is_a_programming_error():
    with pytest.raises(ValueError):
        parse_expression("x", syntax="latex")


EXPRESSION_REFUSALS = [
    ("x.__class__", {}, "attribute access"),
    ("os.system('x')", {}, "call of 'os.system'"),
    ("__import__('os')", {}, "__import__(...) is not a function the grader knows"),
    ("(lambda: 1)()", {}, "call of 'lambda: 1'"),
    ("lambda: 1", {}, "lambda"),
    ("9**9**9**9", {}, "exponent larger than 1000"),
    ("2**(10**6)", {}, "exponent larger than 1000"),
    ("(2*x)**100000", {}, "exponent larger than 1000"),
    ("(10**999)**11", {}, "more than 10000 digits"),
    ("*".join(["9**999"] * 12), {}, "more than 10000 digits"),
    ("*".join(f"sqrt({10**40 + i})" for i in range(5)), {}, "roots of too large numbers"),
    ("factorial(10**6)", {}, "factorial of a number larger than 1000"),
    ("exp(10**6*log(2))", {}, "exponent larger than 1000"),
    ("E**(10**6*log(2))", {}, "exponent larger than 1000"),
    ("x^2", {}, "write '**' for a power"),
    ("a if b else c", {}, "conditional expression"),
    ("a if b else c", {"syntax": "math"}, "conditional expression"),
    ("sin(x=1)", {}, "keyword arguments"),
    ("sin(*[x])", {}, "starred"),
    ("f(**{'x': 1})", {}, "'**' argument"),
    ("q + x", {"symbols": {"x": x}}, "unknown name 'q'; allowed symbols: x"),
    ("x", {"symbols": {}}, "unknown name 'x'"),
    ("x(y)", {"symbols": {"x": x, "y": y}}, "is a symbol, not a function"),
    ("f(x)", {}, "f(...) is not a function the grader knows"),
    ("sigma", {"functions": SIGMA}, "is a function"),
    ("x[0]", {}, "subscript"),
    ("[x for x in y]", {}, "comprehension"),
    ("[[1, 2], [3, 4]]", {}, "list is only allowed as the whole answer"),
    ("x and y", {}, "'and'/'or'"),
    ("not x", {}, "unary 'not'"),
    ("~x", {}, "unary '~'"),
    ("x < y < z", {}, "chained comparison"),
    ("x in y", {}, "'in'"),
    ("(x < 1) + 1", {}, "needs numbers or expressions"),
    ("x // 2", {}, "operator '//'"),
    ("x % 2", {}, "operator '%'"),
    ("x @ y", {}, "operator '@'"),
    ("'x'", {}, "not allowed in a math answer"),
    ("True", {}, "not allowed in a math answer"),
    ("None", {}, "not allowed in a math answer"),
    ("2j", {}, "complex literal"),
    ("{x}", {}, "set literal"),
    ("{x: 1}", {}, "dict literal"),
    ("f'{x}'", {}, "f-string"),
    ("(y := 1)", {}, "assignment expression"),
    ("__class__", {}, "name '__class__' is not allowed"),
    ("diff(x**2, 2)", {}, "with respect to symbols only"),
    ("max(" + ",".join(f"x{i}" for i in range(11)) + ")", {}, "more than 10 arguments"),
    ("1e999999999", {}, "out of range"),
    ("0." + "1" * 200, {}, "more than 100 characters"),
    ("2x", {}, "write '*' for multiplication"),
    ("y = 2*x", {}, "write '==' for an equation"),
    ("lambda*w", {}, "'lambda' is a reserved word"),
    ("x +", {}, "invalid syntax"),
    ("", {}, "empty"),
    ("   ", {}, "empty"),
    ("x" * 10_001, {}, "longer than 10000"),
    ("(" * 300 + "x" + ")" * 300, {}, "nested"),
    ("-" * 5000 + "x", {}, "nested"),
    ("x**" * 1000 + "x", {}, "nested"),
    ("+".join(["x"] * (EXPR_MAX_NODES // 2 + 1)), {"max_length": 100_000}, "parts"),
]


@pytest.mark.parametrize(
    ("text", "kwargs", "fragment"), EXPRESSION_REFUSALS, ids=lambda v: str(v)[:30]
)
def test_parse_expression_refusal(text, kwargs, fragment):
    with pytest.raises(ParseError) as info:
        parse_expression(text, **kwargs)
    assert fragment in str(info.value)
    assert info.value.offset is None or 0 <= info.value.offset <= len(text)


def test_error_offset_maps_back_through_the_math_rewrite():
    text = "2x + q"  # parsed as '2*x + q'
    with pytest.raises(ParseError) as info:
        parse_expression(text, symbols={"x": x}, syntax="math")
    assert info.value.offset == text.index("q")
    assert info.value.text == text


def test_error_offset_in_python_syntax():
    text = "x + y.real"
    with pytest.raises(ParseError) as info:
        parse_expression(text)
    assert info.value.offset == text.index("y")


def test_long_sums_are_flattened_not_nested():
    count = EXPR_MAX_NODES // 3
    text = "+".join(f"x{i}" for i in range(count))
    value = parse_expression(text, max_length=100_000)
    assert value == sympy.Add(*symbols(f"x0:{count}"))


# --------------------------------------------------------------------------- the vocabulary

k, n = symbols("k n")

# For each function of the table: a typed text that parses, and what it builds.
VOCABULARY_ACCEPTS = [
    ("Abs(x) + Max(x, 1) - Min(x, 1) + sign(x) + floor(x) + ceiling(x)",
     sympy.Abs(x) + sympy.Max(x, 1) - sympy.Min(x, 1) + sympy.sign(x) + sympy.floor(x)
     + sympy.ceiling(x)),
    ("sin(x) + cos(x) + tan(x) + asin(x) + acos(x) + atan(x)",
     sympy.sin(x) + sympy.cos(x) + sympy.tan(x) + sympy.asin(x) + sympy.acos(x)
     + sympy.atan(x)),
    ("sinh(x) + cosh(x) + tanh(x) + exp(x) + log(x) + ln(y) + sqrt(x)",
     sympy.sinh(x) + sympy.cosh(x) + sympy.tanh(x) + exp(x) + sympy.log(x) + sympy.log(y)
     + sqrt(x)),
    ("factorial(n) + gamma(x) + erf(x) + Heaviside(x)",
     sympy.factorial(n) + sympy.gamma(x) + sympy.erf(x) + sympy.Heaviside(x)),
    ("Derivative(x**3, x) + diff(x**3, x)", Derivative(x**3, x) + 3 * x**2),
    ("sec(x) + csc(x) + cot(x)", sympy.sec(x) + sympy.csc(x) + sympy.cot(x)),
    ("asec(x) + acsc(x) + acot(x)", sympy.asec(x) + sympy.acsc(x) + sympy.acot(x)),
    ("arcsin(x) + arccos(x) + arctan(x)", sympy.asin(x) + sympy.acos(x) + sympy.atan(x)),
    ("atan2(y, x)", sympy.atan2(y, x)),
    ("atan2(1, 1)", pi / 4),
    ("coth(x) + sech(x) + csch(x)", sympy.coth(x) + sympy.sech(x) + sympy.csch(x)),
    ("asinh(x) + acosh(x) + atanh(x)", sympy.asinh(x) + sympy.acosh(x) + sympy.atanh(x)),
    ("acoth(x) + asech(x) + acsch(x)", sympy.acoth(x) + sympy.asech(x) + sympy.acsch(x)),
    ("log(8, 2)", Integer(3)),
    ("log(x, 10)", sympy.log(x) / sympy.log(10)),
    ("cbrt(x)", x ** Rational(1, 3)),
    ("cbrt(27)", Integer(3)),
    ("root(x, 4)", x ** Rational(1, 4)),
    ("root(-8, 3, 1)", sympy.root(-8, 3, 1)),
    ("LambertW(x)", sympy.LambertW(x)),
    ("frac(x) + frac(7/2)", sympy.frac(x) + Rational(1, 2)),
    ("arg(x) + re(x) + im(x) + conjugate(x)",
     sympy.arg(x) + sympy.re(x) + sympy.im(x) + sympy.conjugate(x)),
    ("Mod(x, 3)", sympy.Mod(x, 3)),
    ("binomial(5, 2) + binomial(n, 2)", 10 + sympy.binomial(n, 2)),
    ("beta(x, y)", sympy.beta(x, y)),
    ("erfc(x)", sympy.erfc(x)),
    ("DiracDelta(x) + DiracDelta(x, 2)", sympy.DiracDelta(x) + sympy.DiracDelta(x, 2)),
    ("Heaviside(x, 1/2)", sympy.Heaviside(x, Rational(1, 2))),
    ("Piecewise((x, x > 0), (0, True))", Piecewise((x, x > 0), (0, True))),
    ("Piecewise((x**2, x < 1), (2*x, x >= 1))", Piecewise((x**2, x < 1), (2 * x, x >= 1))),
    ("Sum(k**2, (k, 1, n))", sympy.Sum(k**2, (k, 1, n))),
    ("Sum(k**3 + 1/(k + 1), (k, 1, 500)) + Sum(k, (k, 10**6, oo))",
     sympy.Sum(k**3 + 1 / (k + 1), (k, 1, 500)) + sympy.Sum(k, (k, 10**6, oo))),
    ("Sum(x**k/factorial(k), (k, 0, oo))", sympy.Sum(x**k / sympy.factorial(k), (k, 0, oo))),
    ("Sum((-1)**k/(2*k + 1), (k, 0, oo))", sympy.Sum((-1) ** k / (2 * k + 1), (k, 0, oo))),
    ("Sum(binomial(n, k)*2**k*sin(k*x), (k, 0, n))",
     sympy.Sum(sympy.binomial(n, k) * 2**k * sympy.sin(k * x), (k, 0, n))),
    ("Product(1 + 1/k**2, (k, 1, oo))", sympy.Product(1 + 1 / k**2, (k, 1, oo))),
    ("Product(k, (k, 1, n))", sympy.Product(k, (k, 1, n))),
    ("Integral(x**2, (x, 0, 1))", Integral(x**2, (x, 0, 1))),
    ("Integral(exp(-x**2), (x, -oo, oo))", Integral(exp(-(x**2)), (x, -oo, oo))),
    ("Integral(sin(x), x)", Integral(sympy.sin(x), x)),
    ("Integral(exp(exp(x)), x) + Integral(exp(-x)*2**x, (x, 0, 1))",
     Integral(exp(exp(x)), x) + Integral(exp(-x) * 2**x, (x, 0, 1))),
    ("O(x**5)", sympy.O(x**5)),
    ("1 + x + O(x**2)", 1 + x + sympy.O(x**2)),
    ("Order(x**3, (x, 0))", sympy.O(x**3)),
    ("O(1/x, (x, oo))", sympy.O(1 / x, (x, oo))),
    ("O(x*y, x, y)", sympy.O(x * y, x, y)),
    ("Poly(x**2 + 2*x + 1, x)", x**2 + 2 * x + 1),
    ("Poly(x*y + 1)", x * y + 1),
    ("Eq(x + y, 1)", Eq(x + y, 1)),
    ("Eq(x, x)", Eq(x, x, evaluate=False)),
    ("Ne(x, 1) ", sympy.Ne(x, 1)),
    ("Lt(x, 1)", x < 1),
    ("Le(x, 1)", x <= 1),
    ("Gt(x, 1)", x > 1),
    ("Ge(x, 1)", x >= 1),
    ("And(x > 0, Or(y < 1, Not(y > 2)))", sympy.And(x > 0, sympy.Or(y < 1, y <= 2))),
    ("Complement(Reals, FiniteSet(0))", sympy.Complement(sympy.S.Reals, FiniteSet(0))),
    ("Intersection(Interval(0, 2), Interval(1, 3))", Interval(1, 2)),
]


@pytest.mark.parametrize(("text", "expected"), VOCABULARY_ACCEPTS, ids=lambda v: str(v)[:30])
def test_vocabulary_parses(text, expected):
    assert parse_expression(text) == expected
    assert parse_expression(text, syntax="math") == expected


def test_relation_calls_are_the_operators():
    for call, operator in [("Eq(x + y, 1)", "x + y == 1"), ("Ne(x, 1)", "x != 1"),
                           ("Lt(x, y)", "x < y"), ("Le(x, y)", "x <= y"),
                           ("Gt(x, y)", "x > y"), ("Ge(x, y)", "x >= y")]:
        assert parse_expression(call) == parse_expression(operator)


def test_number_sets_are_constants():
    assert parse_expression("Integers") is sympy.S.Integers
    assert parse_expression("Naturals0") is sympy.S.Naturals0
    assert parse_expression("Complexes") is sympy.S.Complexes
    assert parse_expression("Rationals") is sympy.S.Rationals


def test_a_bare_function_name_is_still_a_symbol():
    assert parse_expression("O*x") == Symbol("O") * x
    assert parse_expression("beta + gamma") == Symbol("beta") + Symbol("gamma")
    assert parse_expression("2 beta(x, y)", syntax="math") == 2 * sympy.beta(x, y)


def test_bound_variables_need_no_declaration():
    declared = {"n": n, "x": x}
    assert parse_expression("Sum(k**2, (k, 1, n))", symbols=declared) == sympy.Sum(
        k**2, (k, 1, n))
    assert parse_expression("Integral(t*x, (t, 0, x))", symbols=declared) == Integral(
        t * x, (t, 0, x))
    # the declared symbol is used when the limit names it
    xr_ = Symbol("x", real=True)
    value = parse_expression("Integral(x, (x, 0, 1))", symbols={"x": xr_})
    assert value == Integral(xr_, (xr_, 0, 1))
    with pytest.raises(ParseError, match="unknown name 'k'"):
        parse_expression("k + Sum(k, (k, 1, n))", symbols=declared)


# Made at import: building a Poly compiles sympy's own monomial code, which the guard forbids.
POLY_SREPRS = [(sympy.srepr(sympy.Poly(x**2 + 3 * x, x)), x**2 + 3 * x),
               (sympy.srepr(sympy.Poly(x * y + sqrt(2), x)), x * y + sqrt(2)),
               (sympy.srepr(sympy.Poly(Float("0.5") * x, x)), Float("0.5") * x)]


def test_poly_reads_as_its_expression_never_expanded():
    value = parse_expression("Poly((x + 1)**1000, x)")
    assert value == (x + 1) ** 1000
    for text, expected in POLY_SREPRS:
        assert text.startswith("Poly(")
        assert parse_srepr(text) == expected
    assert parse_srepr(POLY_SREPRS[0][0][:-1] + ", domain='ZZ')") == x**2 + 3 * x
    with pytest.raises(ParseError, match="domain="):
        parse_srepr(POLY_SREPRS[0][0][:-1] + ", modulus=Integer(7))")


def test_calculus_is_never_carried_out(monkeypatch):
    def refuse(self, **hints):
        raise AssertionError(f"doit() of {self!r} while parsing")

    monkeypatch.setattr(sympy.Basic, "doit", refuse)
    for text in ["Sum(k, (k, 1, 10))", "Product(k, (k, 1, 10))", "Integral(x, (x, 0, 1))",
                 "Derivative(x**2, x)", "Integral(exp(x), x) + Sum(1/k**2, (k, 1, oo))"]:
        value = parse_expression(text)
        assert value.atoms(sympy.Sum, sympy.Product, sympy.Integral, Derivative), text
    assert parse_srepr(sympy.srepr(sympy.Sum(k, (k, 1, 10)))) == sympy.Sum(k, (k, 1, 10))


VOCABULARY_SREPR = [
    sympy.sec(x) + sympy.csc(x) + sympy.acot(x) + sympy.asec(x) + sympy.acsc(x),
    sympy.coth(x) + sympy.sech(x) + sympy.csch(x),
    sympy.acoth(x) + sympy.asech(x) + sympy.acsch(x),
    sympy.frac(x) + sympy.arg(x) + sympy.erfc(x) + sympy.LambertW(x),
    sympy.binomial(x, 2) + sympy.beta(x, y),
    x + x**2 + sympy.O(x**3),
    sympy.O(1 / x, (x, oo)),
    sympy.Complement(Interval(0, 1), FiniteSet(Rational(1, 2))),
    sympy.Intersection(Interval(0, x), Interval(y, 2)),
    sympy.S.Integers,
    sympy.Product(k, (k, 1, n)),
]


@pytest.mark.parametrize("obj", VOCABULARY_SREPR, ids=lambda o: sympy.srepr(o)[:50])
def test_vocabulary_srepr_round_trip(obj):
    assert parse_srepr(sympy.srepr(obj)) == obj


# Near misses and limits: each refused, with what the message must say.
VOCABULARY_REFUSALS = [
    ("sine(x)", "sine(...) is not a function the grader knows (did you mean sin?)"),
    ("log10(x)", "write log(x, 10) instead"),
    ("ceil(x)", "write ceiling(x) instead"),
    ("series(sin(x), x)", "series(...) is not a function the grader knows"),
    ("besselj(0, x)", "see docs/rubrics.md"),
    ("Eq(x)", "Eq() takes 2 arguments, got 1"),
    ("Eq(x, y, z)", "Eq() takes 2 arguments, got 3"),
    ("Lt(x, y, 1)", "Lt() takes 2 arguments"),
    ("Lt(x)", "Lt() takes 2 arguments, got 1"),
    ("Eq(x, y=1)", "keyword arguments are not allowed"),
    ("atan2(x)", "atan2() takes 2 arguments"),
    ("sec(x, y)", "sec() takes 1 arguments"),
    ("root(x)", "root() takes 2 to 3 arguments"),
    ("root(2, 10**6)", "fractional power"),
    ("cbrt(10**300)", "fractional power"),
    ("root(x, 3, 10**6)", "exponent larger than 1000"),
    ("binomial(10**6, 3)", "binomial of a number larger than 1000"),
    ("binomial(3, 10**6)", "binomial of a number larger than 1000"),
    ("beta(2000, 1)", "beta of a number larger than 1000"),
    ("gamma(5000)", "gamma of a number larger than 1000"),
    ("factorial(1001)", "factorial of a number larger than 1000"),
    ("sinh(2000.0)", "sinh of a float larger than 1000"),
    ("sech(-2e3)", "sech of a float larger than 1000"),
    ("coth(2000.0)", "coth of a float larger than 1000"),
    ("frac(10**200*pi)", "frac of an expression with a number of more than 100 digits"),
    ("floor(10**200*pi)", "floor of an expression"),
    ("DiracDelta(x, 11)", "DiracDelta(x, k) takes an integer k from 0 to 10"),
    ("DiracDelta(x, 1/2)", "takes an integer k"),
    ("Piecewise(x)", "takes pairs (expression, condition)"),
    ("Piecewise((x, x > 0, 1))", "takes pairs"),
    ("Piecewise((x, False))", "not allowed in a math answer"),
    ("Piecewise(" + ", ".join(f"(x, x > {i})" for i in range(21)) + ")",
     "takes 1 to 20 arguments"),
    ("+".join("Piecewise(" + ", ".join(f"(x, x > {i})" for i in range(20)) + ")"
              for _ in range(6)), "more than 100 Piecewise pieces"),
    ("Sum(k, k**2)", "takes limits such as (k, 1, n)"),
    ("Sum(k, (k, 1, 2, 3))", "takes limits such as"),
    ("Sum(k, " + ", ".join(f"(k{i}, 1, 2)" for i in range(11)) + ")",
     "Sum() takes 1 to 11 arguments"),
    ("Sum(k, (k, 1, 10**6))", "Sum() of more than 500 terms between two numbers"),
    ("Product(k, (k, -10**6, 0))", "Product() of more than 500 terms"),
    ("Sum(k**k, (k, 1, oo))", "Sum() of this term is not allowed"),
    ("Sum(k**k, (k, 1, n))", "Sum() of this term is not allowed"),
    ("Product(factorial(factorial(k)), (k, 1, 3))", "Product() of this term is not allowed"),
    ("Sum(2**(k**2), (k, 1, 10))", "Sum() of this term"),
    ("Sum(factorial(100*k), (k, 1, 10))", "Sum() of this term"),
    ("Sum(k**5000, (k, 1, 10))", "Sum() of this term"),
    ("Sum(log(k), (k, 1, 10))", "Sum() of this term"),
    ("Sum(sin(sin(k)), (k, 1, 10))", "Sum() of this term"),
    ("Integral(x < 1, x)", "takes an expression first"),
    ("Integral(exp(exp(exp(x))), (x, 0, 10))", "a tower of exponentials"),
    ("Integral(x**x**x, (x, 0, 5))", "a tower of exponentials"),
    ("Integral(cosh(2**x), (x, -oo, oo))", "a tower of exponentials"),
    ("O(x, (x, y))", "(variable, point) with a number or oo"),
    ("O(x, 1)", "(variable, point)"),
    ("O(x < 1)", "takes an expression first"),
    ("O(" + "*".join(f"(x + {i})" for i in range(120)) + ")", "more than 200 operations"),
    ("Poly(1/x, x)", "takes a polynomial in x"),
    ("Poly(x < 1)", "takes an expression"),
    ("Poly(x, " + ", ".join(f"y{i}" for i in range(11)) + ")", "takes 1 to 11 arguments"),
    ("Complement(Reals)", "Complement() takes 2 arguments"),
    ("Integers + 0", "needs numbers or expressions"),
    ("Matrix([1], [2])", "Matrix() takes one list of rows"),
]


@pytest.mark.parametrize(("text", "fragment"), VOCABULARY_REFUSALS, ids=lambda v: str(v)[:30])
def test_vocabulary_refusal(text, fragment):
    test_parse_expression_refusal(text, {"max_length": 20_000}, fragment)


TYPED_ENTRIES = [entry for entry in ENTRIES if entry.names]


@pytest.mark.parametrize("entry", TYPED_ENTRIES, ids=lambda e: e.names[0])
def test_every_function_is_refused_outside_its_arity(entry):
    counts = [entry.low - 1] if entry.low > 0 else []
    if entry.high is not None:
        counts.append(entry.high + 1)
    for count in counts:
        for name in entry.names:
            text = f"{name}({', '.join(['x'] * count)})"
            with pytest.raises(ParseError, match=rf"{re.escape(name)}\(\) takes"):
                parse_expression(text)


def test_every_typed_name_has_a_row_that_parses():
    texts = " ".join(row[0] for row in [*VOCABULARY_ACCEPTS, *EXPRESSIONS])
    called = set(re.findall(r"([A-Za-z_]\w*)\(", texts)) | {"Matrix", "Interval", "FiniteSet",
                                                            "Union", "Mod"}
    missing = {name for entry in TYPED_ENTRIES for name in entry.names} - called
    assert not missing, sorted(missing)


def test_the_tables_are_generated_from_the_one_list():
    assert set(vocabulary.EXPR_CALLS) == {n for e in ENTRIES for n in e.names}
    assert set(vocabulary.SREPR_CALLS) == {n for e in ENTRIES for n in e.srepr}
    for entry in ENTRIES:
        for name in (*entry.names, *entry.srepr):
            table = vocabulary.EXPR_CALLS if name in entry.names else vocabulary.SREPR_CALLS
            assert table[name] is entry.build


def test_the_docs_list_the_table():
    text = (Path(__file__).parents[1] / "docs" / "rubrics.md").read_text("utf-8")
    section = text.split("### The expression vocabulary", 1)[1].split("\n#", 1)[0]
    for line in vocabulary_lines():
        assert line in section, line


@pytest.mark.parametrize(("text", "syntax", "functions", "names"), [
    ("x - x", "python", (), ("x",)),  # sympy builds 0: the text still uses x
    ("x/x + 1", "python", (), ("x",)),
    ("0*y", "python", (), ("y",)),
    ("x**2 - x*x + z", "python", (), ("x", "z")),
    ("sin(pi*x) + E + I", "python", (), ("x",)),  # constants and called names are not symbols
    ("Sum(k**2, (k, 1, n))", "python", (), ("n",)),  # k is bound by the limits
    ("Sum(k, (k, 1, n)) + k", "python", (), ("k", "n")),  # ... and also used outside them
    ("Integral(x, x)", "python", (), ("x",)),  # an indefinite integral leaves x free
    ("Integral(t, (t, 0, y))", "python", (), ("y",)),
    ("Interval.open(a, b)", "python", (), ("a", "b")),
    ("Piecewise((x, x > 0), (0, True))", "python", (), ("x",)),
    ("f(x) - f(x)", "python", ("f",), ("x",)),
    ("2x y^2 - 2x y^2", "math", (), ("x", "y")),
    ("[a - a, b]", "python", (), ("a", "b")),
])
def test_expression_names_are_read_from_the_text(text, syntax, functions, names):
    assert expression_names(text, syntax=syntax, functions=functions) == names
