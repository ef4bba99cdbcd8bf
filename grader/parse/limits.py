"""The limits on what a hostile text may make the parsers build or do.

The parsers refuse a text beyond any of them with a :class:`~grader.errors.ParseError`
whose message names the limit. :mod:`grader.parse` re-exports them all.
"""

from __future__ import annotations

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
MAX_FACTORIAL_ARG = 1000  # |n| for factorial, binomial, gamma, beta of a number
MAX_EXP_FLOAT_ARG = 1000  # |x| for exp and the hyperbolic functions of a Float
MAX_VARIADIC_ARGS = 10  # arguments of one Max/Min/Union (sympy compares them pairwise)
MAX_VARIADIC_TOTAL = 100  # Max/Min/Union arguments in one text
MAX_NAME_LENGTH = 200  # characters of a Symbol or Function name
MAX_DERIVATIVE_ORDER = 10  # variables of one Derivative/diff in a typed expression
MAX_BOUND_VARIABLES = 10  # limits of one Sum/Product/Integral, variables of one Order
MAX_EXPLICIT_TERMS = 500  # terms of a Sum/Product between two numbers (sympy adds them up)
MAX_PIECES = 20  # (expression, condition) pairs of one Piecewise
MAX_PIECES_TOTAL = 100  # Piecewise pairs in one text (sympy folds nested ones together)
MAX_ORDER_OPS = 200  # operations in the argument of one O(...) (sympy finds its leading term)
MAX_ROUNDING_DIGITS = 100  # digits of a number inside floor/ceiling/frac of a non-number
MAX_POLY_GENERATORS = 10  # generators of one Poly
EXPR_MAX_NODES = 5_000  # syntax nodes of a typed expression
EXPR_MAX_NUMBER_CHARS = 100  # characters of a typed float literal
