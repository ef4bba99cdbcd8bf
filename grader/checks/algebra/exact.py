"""Exact decisions where neither side has a float: identity testing modulo a large prime.

Two rational functions over the rationals (sums, products and integer powers of
symbols and rational numbers, of any degree and size) are compared by evaluating
both at random points modulo the prime ``P = 2**61 - 1``. Evaluation modulo ``P``
respects every field operation wherever it is defined, so a point where the two values
differ proves that the functions differ (and then they differ at all but finitely many
real points, and at all but finitely many integers). Agreement at ``_POINTS`` random
points proves identity with an error probability below ``(d / P) ** _POINTS`` by the
Schwartz-Zippel lemma, where ``d`` bounds the degree of the difference: with ``d``
below ``2**40`` that is below ``2**-84``. Constants are compared exactly: rationals as
they are, others by sympy's adaptive ``evalf`` (strict: an unresolved difference is
not taken for zero) and the CAS.
"""

from __future__ import annotations

import random
from dataclasses import replace
from typing import Any

import sympy as sp

from grader.checks.algebra.cas import CAS_BUDGET, _cas_zero
from grader.checks.algebra.setup import _Setup
from grader.checks.common import _budget

P = 2**61 - 1  # a Mersenne prime
_POINTS = 4  # random points of an identity test
_MAX_DEGREE = 2**40  # a larger degree bound: no "identical" from this test
_EXACT_RTOL = 1e-20  # the sampling's tolerance when no side has a float (precision only)
_EXACT_ATOL = 1e-25
_CONSTANT_DIGITS = 40  # digits sympy's evalf must resolve of a constant difference
_CONSTANT_MAXN = 1000  # the working precision it may use for that


def exact_mode(setup: _Setup, *values: Any) -> bool:
    """Whether to decide exactly: the rubric gave no tolerance and no value has a float."""
    return not setup.tolerant and not any(_has_float(v) for v in values)


def _has_float(value: Any) -> bool:
    return isinstance(value, sp.Basic) and bool(value.atoms(sp.Float))


def tight(setup: _Setup) -> _Setup:
    """The setup with the tolerance of exact values: what 30 digits can resolve."""
    return replace(setup, rtol=_EXACT_RTOL, atol=_EXACT_ATOL)


def rational_function(expr: Any) -> bool:
    """Whether ``expr`` is built of symbols and rationals by ``+``, ``*`` and integer powers."""
    for node in sp.preorder_traversal(expr):
        if node.is_Symbol:
            continue
        if node.is_Number:
            if not node.is_Rational:
                return False
            continue
        if node.is_Add or node.is_Mul:
            continue
        if node.is_Pow and node.exp.is_Integer:
            continue
        return False
    return True


def applicable(e: Any, a: Any, setup: _Setup) -> bool:
    """Whether the identity test decides ``e`` against ``a`` on the declared values.

    Both must be rational functions; an integer symbol with an explicit (finite) domain
    is left to sampling, since a nonzero polynomial may vanish on every integer allowed.
    """
    if not (rational_function(e) and rational_function(a)):
        return False
    bounded = {name for name, _ in setup.domain}
    return not any(s.is_integer and s.name in bounded
                   for s in e.free_symbols | a.free_symbols)


def degree_bound(expr: Any) -> int:
    """An upper bound of the degree of numerator and denominator of ``expr`` (with memo)."""
    memo: dict[Any, int] = {}

    def walk(node: Any) -> int:
        if node in memo:
            return memo[node]
        if node.is_Symbol:
            out = 1
        elif node.is_Number:
            out = 0
        elif node.is_Add or node.is_Mul:
            out = sum(walk(a) for a in node.args)
        elif node.is_Pow:
            out = abs(int(node.exp)) * walk(node.base)
        else:
            raise ValueError("not a rational function")
        memo[node] = min(out, 2 * _MAX_DEGREE)
        return memo[node]

    return walk(expr)


class _Undefined(Exception):
    """A division by something that is zero modulo P: pick another point."""


def _inverse(v: int) -> int:
    if v % P == 0:
        raise _Undefined
    return pow(v, P - 2, P)


def modular_value(expr: Any, point: dict[Any, int]) -> int:
    """``expr`` at ``point`` modulo P; raises ``_Undefined`` where a denominator vanishes."""
    memo: dict[Any, int] = {}

    def walk(node: Any) -> int:
        got = memo.get(node)
        if got is not None:
            return got
        if node.is_Symbol:
            out = point[node]
        elif node.is_Integer:
            out = int(node) % P
        elif node.is_Rational:
            out = int(node.p) * _inverse(int(node.q)) % P
        elif node.is_Add:
            out = sum(walk(a) for a in node.args) % P
        elif node.is_Mul:
            out = 1
            for a in node.args:
                out = out * walk(a) % P
        elif node.is_Pow:
            base, n = walk(node.base), int(node.exp)
            if n < 0:
                base, n = _inverse(base), -n
            out = pow(base, n, P)
        else:
            raise ValueError("not a rational function")
        memo[node] = out
        return out

    return walk(expr)


def identical(e: Any, a: Any, seed: int = 0) -> bool | None:
    """Whether two rational functions are identical (see the module); None: no verdict."""
    rng = random.Random(seed * 7919 + 13)
    return _holds(lambda point: modular_value(e, point) == modular_value(a, point), e, a, rng)


def constant_ratio(d_e: Any, d_a: Any, seed: int = 0) -> bool | None:
    """Whether ``d_a / d_e`` is a nonzero constant, for rational functions (None: no verdict).

    The ratio at one random point modulo P, ``k``, is a constant multiple exactly when
    ``d_a - k*d_e`` is identically zero.
    """
    symbols = sorted(d_e.free_symbols | d_a.free_symbols, key=str)
    rng = random.Random(seed * 104729 + 7)
    for _ in range(4 * _POINTS):
        point = {s: rng.randrange(2, P - 1) for s in symbols}
        try:
            num, den = modular_value(d_a, point), modular_value(d_e, point)
            if den == 0 or num == 0:
                continue
            k = num * _inverse(den) % P
        except _Undefined:
            continue
        break
    else:
        return None
    return _holds(lambda point: modular_value(d_a, point) == k * modular_value(d_e, point) % P,
                  d_e, d_a, rng)


def _holds(test: Any, e: Any, a: Any, rng: random.Random) -> bool | None:
    """``test`` at ``_POINTS`` random points where it is defined: False at the first failure.

    True when it held everywhere and the degree bound makes a false "True" negligible.
    """
    symbols = sorted(e.free_symbols | a.free_symbols, key=str)
    agreeing = 0
    for _ in range(4 * _POINTS):
        point = {s: rng.randrange(2, P - 1) for s in symbols}
        try:
            if not test(point):
                return False
        except _Undefined:
            continue
        agreeing += 1
        if agreeing >= _POINTS:
            break
    if agreeing < _POINTS or degree_bound(e) + degree_bound(a) > _MAX_DEGREE:
        return None
    return True


def constants_equal(e: Any, a: Any) -> bool | None:
    """Whether two exact constants are equal; None when neither evalf nor the CAS can tell.

    Rationals compare as they are. Otherwise the difference is evaluated by sympy's
    adaptive ``evalf`` in strict mode: a resolved nonzero value proves them different;
    zero needs the CAS (agreement to many digits is not a proof).
    """
    if e == a:
        return True
    if e.is_Rational and a.is_Rational:
        return False
    difference = e - a
    if difference.has(sp.Integral, sp.Sum, sp.Product):
        done: list[Any] = []
        with _budget(CAS_BUDGET):  # an unevaluated integral of a course is usually doable
            done.append(difference.doit())
        difference = done[0] if done else difference
    if difference == 0:
        return True
    if difference.is_Rational:
        return False
    found: list[Any] = []  # the value; None: below the precision; False: no value
    with _budget(CAS_BUDGET):
        try:
            # Quadrature at 1000 digits is slow: an unevaluated integral gets fewer.
            maxn = 60 if difference.has(sp.Integral, sp.Sum, sp.Product) else _CONSTANT_MAXN
            found.append(difference.evalf(_CONSTANT_DIGITS, maxn=maxn, strict=True))
        except sp.core.evalf.PrecisionExhausted:
            found.append(None)
        except (ArithmeticError, ValueError, TypeError, AttributeError):
            found.append(False)
    value: Any = found[0] if found else False  # False too when it ran out of time
    if value is False:
        return _cas_zero(difference) or None
    if value is not None and value.is_number and value != 0 and not value.has(
            sp.nan, sp.zoo):
        return False
    if value is None and not _extreme_part(difference):
        # |e - a| is below 10**-1000 of the terms' size, and no part of either side is
        # astronomically small or large: no closed form of moderate size differs by that.
        return True
    algebraic = _algebraic_zero(difference)
    if algebraic is not None:
        return algebraic
    if _cas_zero(difference):
        return True
    return None


_EXTREME = 300  # decimal digits of size beyond which a part is astronomically small/large


def _extreme_part(expr: Any, digits: int = _EXTREME,
                  point: dict[Any, Any] | None = None) -> bool:
    """Whether some part of ``expr`` (at ``point``) is below ``10**-digits`` or above."""
    from grader.checks.common import _evaluate, _mp

    ctx = _mp()
    for node in sp.preorder_traversal(expr):
        if node.is_Atom:
            if node.is_Rational and (abs(node.p) > 10**digits or node.q > 10**digits):
                return True
            continue
        if not isinstance(node, sp.Expr):
            continue  # a condition of a Piecewise, a tuple: no size of its own
        value = _evaluate(node, point or {})
        if value is None:
            continue  # undefined there (a branch not taken): no size
        if not ctx.isfinite(value):
            return True
        if value != 0 and abs(ctx.log10(abs(value))) > digits:
            return True
    return False


def _algebraic_zero(difference: Any) -> bool | None:
    """For an algebraic constant: zero exactly when its minimal polynomial is ``t``."""
    t = sp.Dummy("t")
    found: list[Any] = []
    with _budget(CAS_BUDGET):
        try:
            found.append(sp.minimal_polynomial(difference, t))
        except Exception:  # NotAlgebraic and the like: no verdict from this step
            found.append(None)
    polynomial = found[0] if found else None
    if polynomial is None:
        return None
    return bool(polynomial == t)


_CHECK_DIGITS = 120  # digits of the exact check of a sample point
_CHECK_NOISE = 20  # digits of those allowed to be lost to rounding


def differs_exactly(e: Any, a: Any, point: dict[Any, Any]) -> bool:
    """Whether ``e`` and ``a`` differ at ``point``, evaluated to 120 digits.

    A difference below what 30 digits show (``log(x - 1 + 10**-30)``) is caught here; a
    value that lost its digits to cancellation is no evidence either way.
    """
    from grader.checks.common import _evaluate_checked, _mp, _precision

    with _precision(_CHECK_DIGITS):
        ctx = _mp()
        e_val, e_sure = _evaluate_checked(e, point)
        a_val, a_sure = _evaluate_checked(a, point)
        if not (e_sure and a_sure) or e_val is None or a_val is None:
            return False
        if not (ctx.isfinite(e_val) and ctx.isfinite(a_val)):
            return False
        scale = max(abs(e_val), abs(a_val), ctx.mpf(1))
        return bool(abs(e_val - a_val) > scale * ctx.mpf(10) ** (_CHECK_NOISE - _CHECK_DIGITS))


def beyond_check(e: Any, a: Any, point: dict[Any, Any]) -> bool:
    """Whether a part of ``e - a`` at ``point`` is too small or large for the 120-digit check.

    Then agreement there is no evidence of equality (``sin(x) + exp(-10000)``).
    """
    # Evaluated at the point, not substituted: sympy would work out rational powers.
    return _extreme_part(e - a, _CHECK_DIGITS - 2 * _CHECK_NOISE, point)
