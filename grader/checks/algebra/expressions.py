"""Expressions compared by value: sampling, an exact difference, then the CAS (steps 2-4)."""

from __future__ import annotations

import math
from typing import Any

import sympy as sp

from grader.checks import Comparison
from grader.checks.algebra.boundaries import check_boundaries, switching
from grader.checks.algebra.cas import CAS_BUDGET, _cas_zero, _expandable
from grader.checks.algebra.display import _describe_for_expressions, _display
from grader.checks.algebra.exact import (
    applicable,
    beyond_check,
    constants_equal,
    degree_bound,
    differs_exactly,
    exact_mode,
    identical,
    tight,
)
from grader.checks.algebra.form import _with_form
from grader.checks.algebra.reading import _normalise, _Refused
from grader.checks.algebra.sampling import (
    CONFIDENT_POINTS,
    _box_candidates,
    _probe_constants,
    _sample,
    complex_symbol,
)
from grader.checks.algebra.setup import _Setup
from grader.checks.common import _budget, _evaluate, _mp
from grader.messages import say


def _compare_expression(e: Any, a: Any, setup: _Setup, *, text: str | None = None) -> Comparison:
    if not isinstance(a, sp.Expr) or isinstance(a, sp.MatrixBase):
        return Comparison(equal=False, message=say("check.sym.expression_got",
                                                   got=_describe_for_expressions(a)))
    try:
        e_n = _normalise(e, setup)
    except _Refused as exc:
        return Comparison(equal=None, message=say("check.sym.expected_refused", why=exc.reason))
    try:
        a_n = _normalise(a, setup)
    except _Refused as exc:
        return Comparison(equal=False, message=say("check.sym.answer_refused", why=exc.reason))
    if e_n.has(sp.Order) or a_n.has(sp.Order):
        parts = _without_order(e_n, a_n, setup)
        if isinstance(parts, Comparison):
            return parts
        e_n, a_n = parts
    return _with_form(_compare_values(e_n, a_n, setup), a, setup, text)


def _without_order(e_n: Any, a_n: Any, setup: _Setup) -> tuple[Any, Any] | Comparison:
    """Both sides without their order terms ``O(...)``, or why they cannot be compared.

    With ``series_order = n`` the polynomial parts are compared below ``x**n``. Without
    it the order terms must be the same (a mistake value can hold one), and an answer
    with an order term where the expected value has none is not accepted.
    """
    e_order, a_order = _order_term(e_n), _order_term(a_n)
    if setup.series_order is not None:
        order = a_order or e_order
        variables: tuple[Any, ...] = tuple(order.variables) if order is not None else ()
        e_p, a_p = e_n.removeO(), a_n.removeO()
        if len(variables) == 1:
            var = variables[0]
            cut = sp.Order(var**setup.series_order, var)
            e_p, a_p = (e_p + cut).removeO(), (a_p + cut).removeO()
        return e_p, a_p
    if a_order is not None and e_order is None:
        return Comparison(equal=False, message=say("check.sym.order_term",
                                                   term=_display(a_order)),
                          hint=say("check.sym.order_term_hint"))
    if a_order is not None and a_order != e_order:
        return Comparison(equal=False, message=say("check.sym.order_wrong",
                                                   got=_display(a_order),
                                                   expected=_display(e_order)),
                          hint=say("check.sym.order_hint"))
    return e_n.removeO(), a_n.removeO()


def _order_term(expr: Any) -> Any:
    """The ``O(...)`` of an expression, None when it has none."""
    if isinstance(expr, sp.Order):
        return expr
    found = expr.getO() if expr.is_Add else None
    if found is None and expr.has(sp.Order):
        found = next(iter(expr.atoms(sp.Order)))
    return found


_NOT_FINITE = (sp.zoo, sp.nan, sp.oo, -sp.oo)


def _compare_values(e_n: Any, a_n: Any, setup: _Setup) -> Comparison:
    """Steps 2-4 of the decision rule on normalised expressions.

    Where neither side has a float and the rubric gave no tolerance, the values are
    exact: rational functions are decided by an identity test, constants exactly, and
    sampling compares other expressions to the precision of the evaluation only.
    """
    if e_n == a_n:
        return Comparison(equal=True, message=say("check.sym.identical"))
    exact = exact_mode(setup, e_n, a_n)
    if exact:
        setup = tight(setup)
        # oo may be a limit of an integral; an infinite value itself is left to sampling
        if not (e_n.free_symbols or a_n.free_symbols or e_n in _NOT_FINITE
                or a_n in _NOT_FINITE or e_n.has(sp.zoo, sp.nan) or a_n.has(sp.zoo, sp.nan)):
            return _compare_constants(e_n, a_n, setup)
    same = identical(e_n, a_n, setup.seed) if exact and applicable(e_n, a_n, setup) else None
    if same:
        # the identity test is a proof; sampling could only be fooled by cancellation
        return Comparison(equal=True, message=say("check.sym.same_rational"))
    sampled = _sample(e_n, a_n, setup)
    if sampled.counterexample:
        return Comparison(equal=False, message=sampled.counterexample, hint=sampled.hint)
    if same is False:
        return Comparison(equal=False, message=_exact_difference_message(e_n, a_n),
                          hint=say("check.sym.small_difference"))
    probe, where = _probe_constants(e_n, a_n, setup)
    if probe:
        return Comparison(equal=False, message=probe, hint=where)
    if exact and not applicable(e_n, a_n, setup) and (e_n.free_symbols or a_n.free_symbols):
        difference = e_n - a_n
        if difference.is_Rational and difference != 0 and sampled.distinct:
            # sympy cancelled the rest: sin(x) and sin(x) + 10**-200 differ by a number
            return Comparison(equal=False, message=say("check.sym.differs_by",
                                                       difference=_display(-difference, 200)),
                              hint=say("check.sym.small_difference"))
        real = [p for p in _box_candidates(setup)[:6] if _real_value(e_n, p, setup)]
        for point in real[:2]:
            if differs_exactly(e_n, a_n, point):
                shown = ", ".join(f"{s.name}={_display(v)}" for s, v in sorted(
                    point.items(), key=lambda item: item[0].name) if s in e_n.free_symbols
                    | a_n.free_symbols)
                return Comparison(equal=False, message=say("check.sym.differs_tiny",
                                                           point=shown),
                                  hint=say("check.sym.small_difference"))
        if any(beyond_check(e_n, a_n, point) for point in real[:2]) and not _cas_zero(
                e_n - a_n):
            return Comparison(equal=None, message=say("check.sym.agree_many_digits"))
    if switching(e_n, a_n) and not sampled.exact:
        boundary = check_boundaries(e_n, a_n, setup, exact=exact)
        if boundary.counterexample:
            return Comparison(equal=False, message=boundary.counterexample, hint=boundary.hint)
        if boundary.unresolved and not _cas_zero(e_n - a_n):
            # a jump sampling cannot see: the sides may differ at that one point
            return Comparison(equal=None, message=say(
                "check.sym.boundary_unresolved",
                agreement=sampled.agreement or say("check.sym.no_difference"),
                unresolved=boundary.unresolved))
    if sampled.exact or sampled.distinct >= CONFIDENT_POINTS:
        return Comparison(equal=True, message=sampled.agreement)
    if _cas_zero(e_n - a_n):
        return Comparison(equal=True, message=say("check.sym.proved"))
    if sampled.distinct >= math.ceil(setup.samples / 2):
        return Comparison(equal=True, message=sampled.agreement)
    return Comparison(equal=None, message=sampled.undecided)


def _compare_constants(e_n: Any, a_n: Any, setup: _Setup) -> Comparison:
    """Two exact constants: equal, different, or undecidable (never within a tolerance)."""
    same = constants_equal(e_n, a_n)
    if same:
        return Comparison(equal=True, message=say("check.sym.equal_exactly"))
    if same is False:
        sampled = _sample(e_n, a_n, setup)
        shown = sampled.counterexample or say("check.sym.differs_number",
                                              expected=_display(e_n), got=_display(a_n))
        return Comparison(equal=False, message=say("check.sym.compared_exactly", detail=shown),
                          hint=sampled.hint)
    return Comparison(equal=None, message=say("check.sym.constants_undecided",
                                              got=_display(a_n), expected=_display(e_n)))


def _exact_difference_message(e_n: Any, a_n: Any) -> str:
    """What an exact difference is, when it is cheap to show; a plain statement otherwise."""
    if _expandable(e_n - a_n) and degree_bound(e_n - a_n) <= 400:
        found: list[Any] = []
        with _budget(CAS_BUDGET):
            found.append(sp.cancel(e_n - a_n))
        if found and found[0] != 0:
            return say("check.sym.differs_by_small", difference=_display(found[0], 200))
    return say("check.sym.not_same_rational")


def _real_value(expr: Any, point: dict[Any, Any], setup: _Setup) -> bool:
    """Whether ``expr`` has a finite real value at ``point`` (30 digits).

    Where a symbol is complex, a finite complex value will do: the point itself is complex.
    """
    ctx = _mp()
    value = _evaluate(expr, point)
    if value is None or not ctx.isfinite(value):
        return False
    return not isinstance(value, ctx.mpc) or any(complex_symbol(s) for _, s in setup.symbols)
