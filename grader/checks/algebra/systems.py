"""Systems of equations compared by their solution sets (``compare = "system"``)."""

from __future__ import annotations

from typing import Any

import sympy as sp

from grader.checks import Comparison
from grader.checks.algebra.cas import CAS_BUDGET
from grader.checks.algebra.display import _describe_for_expressions, _display
from grader.checks.algebra.reading import _normalise, _parse, _Refused
from grader.checks.algebra.sampling import _agree, _candidates
from grader.checks.algebra.setup import _Setup
from grader.checks.common import _budget, _evaluate, _mp
from grader.errors import GraderError
from grader.messages import say

_SYSTEM_POINTS = 5  # sample points per solution family of a system
_MAX_SOLUTIONS = 50  # more solutions than this: the system is not compared


def _compare_system(expected: Any, received: Any, setup: _Setup) -> Comparison:
    """Lists of equations by their solution sets (see :mod:`grader.checks.algebra`)."""
    e_items = _equations(expected, setup)
    if isinstance(e_items, str):
        return Comparison(equal=None, message=say("check.sym.system_expected_bad", why=e_items))
    a_items = _equations(received, setup)
    if isinstance(a_items, str):
        return Comparison(equal=False, message=say("check.sym.system_answer_bad", why=a_items))
    try:
        e_eqs = [_normalise(d, setup) for d in e_items]
    except _Refused as exc:
        return Comparison(equal=None, message=say("check.sym.system_expected_bad",
                                                  why=exc.reason))
    try:
        a_eqs = [_normalise(d, setup) for d in a_items]
    except _Refused as exc:
        return Comparison(equal=False, message=say("check.sym.answer_refused", why=exc.reason))
    order = {name: i for i, (name, _) in enumerate(setup.symbols)}
    unknowns = sorted({s for d in e_eqs + a_eqs for s in d.free_symbols},
                      key=lambda s: order.get(s.name, len(order)))
    if {d for d in e_eqs if d != 0} <= {d for d in a_eqs} | {-d for d in a_eqs} and {
            d for d in a_eqs if d != 0} <= {d for d in e_eqs} | {-d for d in e_eqs}:
        return Comparison(equal=True, message=say("check.sym.same_equations"))
    e_sols = _solve(e_eqs, unknowns)
    if e_sols is None:
        return Comparison(equal=None, message=say("check.sym.system_unsolved"))
    bad = _violation(e_sols, a_eqs, unknowns, setup)
    if bad:
        return Comparison(equal=False, message=say("check.sym.solution_lost", point=bad),
                          hint=say("check.sym.solution_lost_hint"))
    a_sols = _solve(a_eqs, unknowns)
    if a_sols is None:
        return Comparison(equal=None, message=say("check.sym.converse_unsolved"))
    bad = _violation(a_sols, e_eqs, unknowns, setup)
    if bad:
        return Comparison(equal=False, message=say("check.sym.extra_solution", point=bad),
                          hint=say("check.sym.extra_solution_hint"))
    if not all(_polynomial(d, unknowns) for d in e_eqs + a_eqs):
        return Comparison(equal=None, message=say("check.sym.not_polynomial"))
    same = _same_variety(e_eqs, a_eqs, unknowns)
    complex_unknowns = all(u.is_extended_real is None and u.is_integer is None
                           and u.name not in dict(setup.domain) for u in unknowns)
    if same is False and complex_unknowns:
        return Comparison(equal=False, message=say("check.sym.varieties_differ"),
                          hint=say("check.sym.different_solutions"))
    if same is None and not (e_sols and a_sols):
        # sympy's "no solutions" is not a proof (a quintic it cannot solve gives none too)
        return Comparison(equal=None, message=say("check.sym.no_solutions_found"))
    if same is False:
        return Comparison(equal=None, message=say("check.sym.complex_solutions_differ"))
    if same:
        return Comparison(equal=True, message=say("check.sym.same_solutions_exact"))
    return Comparison(equal=True, message=say("check.sym.same_solutions_n", n=len(e_sols)))


def _same_variety(e_eqs: list[Any], a_eqs: list[Any], unknowns: list[Any]) -> bool | None:
    """Whether two polynomial systems have the same complex solutions (None: no verdict).

    Exactly when every polynomial of each lies in the radical of the other's ideal:
    ``f`` is in the radical of ``I`` when ``1`` is in ``I + (1 - t*f)`` (Rabinowitsch),
    which a Groebner basis decides. Equations with a denominator are not compared here.
    """
    def numerators(eqs: list[Any]) -> list[Any] | None:
        out = []
        for d in eqs:
            numerator, denominator = sp.together(d).as_numer_denom()
            if denominator.free_symbols & set(unknowns) or not numerator.is_polynomial(
                    *unknowns):
                return None
            out.append(sp.expand(numerator))
        return out

    e_polys, a_polys = numerators(e_eqs), numerators(a_eqs)
    if e_polys is None or a_polys is None or not unknowns:
        return None
    for source, target in ((a_polys, e_polys), (e_polys, a_polys)):
        for f in source:
            inside = _in_radical(f, target, unknowns)
            if inside is not True:
                return inside
    return True


def _in_radical(f: Any, ideal: list[Any], unknowns: list[Any]) -> bool | None:
    if f == 0:
        return True
    t = sp.Dummy("t")
    found: list[Any] = []
    with _budget(CAS_BUDGET):
        try:
            basis = sp.groebner([*ideal, 1 - t * f], *unknowns, t, order="grevlex")
            found.append(list(basis.exprs) == [1])
        except (NotImplementedError, ValueError, TypeError, sp.PolynomialError):
            found.append(None)
    return found[0] if found else None


def _equations(value: Any, setup: _Setup) -> list[Any] | str:
    """A system as the list of ``lhs - rhs``; a string saying what is wrong otherwise."""
    if isinstance(value, str):
        try:
            value = _parse(value, setup)
        except GraderError as exc:
            return say("check.sym.system_unreadable", error=exc)
    if isinstance(value, sp.Tuple):
        value = list(value.args)
    if not isinstance(value, list | tuple):
        value = [value]
    out = []
    for item in value:
        if isinstance(item, str):
            try:
                item = _parse(item, setup)
            except GraderError as exc:
                return say("check.sym.system_unreadable", error=exc)
        if isinstance(item, sp.Equality):
            out.append(item.lhs - item.rhs)
        elif isinstance(item, sp.Expr) and not isinstance(item, sp.MatrixBase):
            out.append(item)
        elif item is sp.true:
            continue  # 0 = 0: holds everywhere
        elif item is sp.false:
            out.append(sp.Integer(1))  # 1 = 0: holds nowhere
        else:
            return say("check.sym.system_not_equation", what=_describe_for_expressions(item))
    return out


def _solve(eqs: list[Any], unknowns: list[Any]) -> list[dict[Any, Any]] | None:
    if not eqs or all(d == 0 for d in eqs):
        return [{}]  # no condition at all: every point is a solution
    found: list[Any] = []
    with _budget(CAS_BUDGET * 2):
        try:
            found.append(sp.solve(eqs, unknowns, dict=True))
        except (NotImplementedError, ValueError, TypeError, sp.PolynomialError):
            return None
    if not found or not isinstance(found[0], list) or len(found[0]) > _MAX_SOLUTIONS:
        return None
    return found[0]


def _violation(solutions: list[dict[Any, Any]], eqs: list[Any], unknowns: list[Any],
               setup: _Setup) -> str:
    """A solution (a point of a family) that breaks one of ``eqs``, described; "" if none."""
    points = _candidates(setup)
    for solution in solutions:
        free = [u for u in unknowns if u not in solution]
        chosen = points[:_SYSTEM_POINTS] if free else ({},)
        for point in chosen:
            fixed = {u: point[u] for u in free}
            full = dict(fixed)
            undefined = False
            for u, value in solution.items():
                v = value.xreplace(fixed) if hasattr(value, "xreplace") else value
                if v.free_symbols or v.has(sp.zoo, sp.nan):
                    undefined = True
                    break
                full[u] = v
            if undefined:
                continue
            for d in eqs:
                residual = _evaluate(d.xreplace(full), {})
                if residual is None:
                    break  # undefined there (a denominator vanishes): no verdict
                if not _agree(_mp().mpf(0), residual, setup):
                    shown = ", ".join(f"{u.name}={_display(full[u], 40)}" for u in unknowns
                                      if u in full)
                    return shown or say("check.sym.any_point")
    return ""


def _polynomial(d: Any, unknowns: list[Any]) -> bool:
    try:
        numerator = sp.together(d).as_numer_denom()[0]
        return bool(numerator.is_polynomial(*unknowns))
    except (TypeError, ValueError, sp.PolynomialError):
        return False
