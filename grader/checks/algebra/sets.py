"""Equations, inequalities, intervals and sets, compared by what they denote."""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import sympy as sp
from sympy.logic.boolalg import Boolean, BooleanFunction

from grader.checks import Comparison
from grader.checks.algebra.cas import CAS_BUDGET, _cas_constant_ratio
from grader.checks.algebra.display import _describe_for_expressions, _display
from grader.checks.algebra.exact import (
    applicable,
    constant_ratio,
    constants_equal,
    exact_mode,
    tight,
)
from grader.checks.algebra.expressions import _compare_values
from grader.checks.algebra.reading import _normalise, _Refused
from grader.checks.algebra.sampling import (
    CONFIDENT_POINTS,
    _agree,
    _candidates,
    _coordinate,
    _expected_points,
    _sample,
)
from grader.checks.algebra.setup import _Setup
from grader.checks.common import (
    _EVALF_BUDGET,
    _budget,
    _evaluate,
    _evaluate_checked,
    _mp,
    _precision,
    max_matching,
)
from grader.messages import say

_SET_LIKE = (sp.Set, sp.core.relational.Relational, BooleanFunction)


# --------------------------------------------------------------------------- equations


def _compare_equation(e: Any, a: Any, setup: _Setup) -> Comparison:
    if a is sp.true or a is sp.false:
        return Comparison(equal=False, message=say("check.sym.equation_evaluated", value=a))
    if not isinstance(a, sp.Equality):
        if isinstance(a, _SET_LIKE) and len(_free_names(e) | _free_names(a)) == 1:
            return _compare_sets(e, a, setup)  # x = 1 against 1 <= x <= 1: the same set
        return Comparison(equal=False, message=say("check.sym.equation_got",
                                                   got=_describe_for_expressions(a)))
    try:
        d_e = _normalise(e.lhs - e.rhs, setup)
    except _Refused as exc:
        return Comparison(equal=None, message=say("check.sym.expected_refused", why=exc.reason))
    try:
        d_a = _normalise(a.lhs - a.rhs, setup)
    except _Refused as exc:
        return Comparison(equal=False, message=say("check.sym.answer_refused", why=exc.reason))
    if d_e == d_a or d_e == -d_a:
        return Comparison(equal=True, message=say("check.sym.same_equation"))
    multiple, witness = _constant_multiple(d_e, d_a, setup)
    if multiple:
        return Comparison(equal=True, message=say("check.sym.equation_multiple",
                                                  witness=witness))
    solutions = _same_solutions(d_e, d_a, setup)
    if solutions is not None:
        return solutions
    if multiple is False:
        return Comparison(equal=None, message=say("check.sym.equation_undecided",
                                                  witness=witness))
    return Comparison(equal=None, message=witness)


def _constant_multiple(d_e: Any, d_a: Any, setup: _Setup) -> tuple[bool | None, str]:
    """Whether ``d_a`` is a nonzero constant times ``d_e``, and what showed it."""
    exact = exact_mode(setup, d_e, d_a)
    if exact and applicable(d_e, d_a, setup):
        found = constant_ratio(d_e, d_a, setup.seed)
        if found is not None:
            return found, say("check.sym.an_exact_test")
    sampled = _sample(d_e, d_a, tight(setup) if exact else setup, proportional=True)
    if sampled.counterexample:
        return False, sampled.counterexample
    if sampled.exact or sampled.distinct >= CONFIDENT_POINTS:
        return True, sampled.agreement
    if _cas_constant_ratio(d_a, d_e):
        return True, say("check.sym.by_simplification")
    if sampled.distinct >= math.ceil(setup.samples / 2):
        return True, sampled.agreement
    return None, sampled.undecided


def _witness(d_e: Any, d_a: Any, setup: _Setup) -> Comparison | None:
    """A solution of one equation that is not one of the other (NOT equal); None if none.

    At a few points of the box all variables but one are fixed and the equation is
    solved for the last one; where the variable may take every real value its real
    solutions are enough (a real counterexample is one for the complex numbers too).
    """
    from grader.checks.algebra.sampling import _box_candidates

    free = sorted(d_e.free_symbols | d_a.free_symbols, key=str)
    found: list[tuple[dict[Any, Any], str]] = []
    with _budget(CAS_BUDGET):  # the whole search; each solve may also give up on its own
        found.extend(_first_root_off(d_e, d_a, free, setup, _box_candidates(setup)[:3]))
    if not found:
        return None
    point, which = found[0]
    shown = ", ".join(f"{s.name}={_display(point[s], 30)}" for s in free if s in point)
    return Comparison(equal=False, message=say("check.sym.root_of_expected" if which == "expected"
                                               else "check.sym.root_of_answer", point=shown),
                      hint=say("check.sym.different_solutions"))


def _first_root_off(d_e: Any, d_a: Any, free: list[Any], setup: _Setup,
                    seeds: tuple[dict[Any, Any], ...]) -> list[tuple[dict[Any, Any], str]]:
    for source, other, which in ((d_e, d_a, "expected"), (d_a, d_e, "answer's")):
        for var in [s for s in free if s in source.free_symbols][:2]:
            for seed in seeds:
                point = _root_off(source, other, var, seed, setup)
                if point:
                    return [(point, which)]
    return []


def _root_off(source: Any, other: Any, var: Any, seed: Mapping[Any, Any],
              setup: _Setup) -> dict[Any, Any] | None:
    """A root of ``source`` in ``var`` (others fixed at ``seed``) where ``other`` is not 0."""
    fixed = {s: v for s, v in seed.items() if s != var and s in (
        source.free_symbols | other.free_symbols)}
    unrestricted = var.is_integer is None and var.is_nonnegative is None and (
        var.is_nonpositive is None) and var.name not in dict(setup.domain)
    solve_for = sp.Dummy("r", real=True) if unrestricted else var
    found: list[Any] = []
    with _budget(CAS_BUDGET):
        try:
            found.append(sp.solve(source.xreplace({**fixed, var: solve_for}), solve_for))
        except (NotImplementedError, ValueError, TypeError, AttributeError,
                sp.PolynomialError):
            found.append(None)
    roots = found[0] if found and isinstance(found[0], list) else []
    for root in roots[:4]:
        if not (isinstance(root, sp.Expr) and root.is_number) or root.has(sp.Float):
            continue
        point = {**fixed, var: root}
        with _precision(60):
            residual, sure_r = _evaluate_checked(source.xreplace(point), {})
            value, sure_v = _evaluate_checked(other.xreplace(point), {})
            ctx = _mp()
            if (residual is not None and sure_r and abs(residual) < 1e-40 and value is not None
                    and sure_v and ctx.isfinite(value) and abs(value) > 1e-20):
                return point
    return None


def _inclusions(e_set: Any, a_set: Any) -> bool | None:
    """Whether two sets are equal by sympy's ``is_subset`` both ways (None: unknown)."""
    found: list[Any] = []
    with _budget(CAS_BUDGET):
        found.append((e_set.is_subset(a_set), a_set.is_subset(e_set)))
    if not found:
        return None
    forward, backward = found[0]
    if forward is False or backward is False:
        return False
    return True if forward and backward else None


def _solution_domain(var: Any, setup: _Setup) -> Any:
    """Where a variable's solutions are sought: its assumptions and its domain."""
    if var.is_integer:
        domain = sp.S.Integers
    elif var.is_extended_real:
        domain = sp.S.Reals
    else:
        return sp.S.Complexes
    if var.is_positive:
        domain = domain.intersect(sp.Interval.open(0, sp.oo))
    elif var.is_nonnegative:
        domain = domain.intersect(sp.Interval(0, sp.oo))
    elif var.is_negative:
        domain = domain.intersect(sp.Interval.open(-sp.oo, 0))
    elif var.is_nonpositive:
        domain = domain.intersect(sp.Interval(-sp.oo, 0))
    bounds = dict(setup.domain).get(var.name)
    if bounds is not None:
        low, high = (sp.nsimplify(b) for b in bounds)
        domain = domain.intersect(sp.Interval(low, high))
    return domain


def _solution_set(d: Any, var: Any, domain: Any) -> Any:
    found: list[Any] = []
    with _budget(CAS_BUDGET):
        try:
            found.append(sp.solveset(d, var, domain))
        except (NotImplementedError, ValueError, TypeError, AttributeError):
            found.append(None)
    result = found[0] if found else None
    if not isinstance(result, sp.Set) or result.has(sp.ConditionSet):
        return None
    return result


def _same_solutions(d_e: Any, d_a: Any, setup: _Setup) -> Comparison | None:
    """Equations by their solution sets; None when sympy cannot find or compare them."""
    free = sorted(d_e.free_symbols | d_a.free_symbols, key=str)
    if len(free) != 1:
        from grader.checks.algebra.systems import _compare_system

        result = _compare_system([sp.Eq(d_e, 0)], [sp.Eq(d_a, 0)], setup)
        if result.equal is None:
            return _witness(d_e, d_a, setup)
        if result.equal:
            return Comparison(equal=True, message=say("check.sym.equation_same_system",
                                                      detail=result.message))
        return Comparison(equal=False, message=say("check.sym.not_equivalent",
                                                   detail=result.message), hint=result.hint)
    var = free[0]
    domain = _solution_domain(var, setup)
    e_set, a_set = _solution_set(d_e, var, domain), _solution_set(d_a, var, domain)
    if e_set is None or a_set is None:
        return _witness(d_e, d_a, setup)
    if e_set == a_set:
        return Comparison(equal=True, message=say("check.sym.equation_same_solutions",
                                                  solutions=_display(e_set)))
    if isinstance(e_set, sp.FiniteSet) and isinstance(a_set, sp.FiniteSet):
        got = _compare_finite_sets(e_set, a_set, setup)
    elif _pieces(e_set) is not None and _pieces(a_set) is not None:
        got = _compare_real_sets(e_set, a_set, setup)
    elif e_set.is_finite_set is not None and a_set.is_finite_set is not None and (
            e_set.is_finite_set != a_set.is_finite_set):
        got = Comparison(equal=False, message=say("check.sym.one_finite"),
                         hint=say("check.sym.different_solutions"))
    else:
        inclusion = _inclusions(e_set, a_set)
        if inclusion is None:
            return _witness(d_e, d_a, setup)
        got = Comparison(equal=inclusion, message="", hint=say("check.sym.different_solutions"))
    if got.equal is None:
        return None
    if got.equal:
        return Comparison(equal=True, message=say("check.sym.equation_same_solutions",
                                                  solutions=_display(e_set)))
    return Comparison(equal=False, message=say("check.sym.solutions_differ", got=_display(a_set),
                                               expected=_display(e_set)),
                      hint=got.hint or say("check.sym.different_solutions"))


def _free_names(obj: Any) -> set[str]:
    return {s.name for s in getattr(obj, "free_symbols", ()) if isinstance(s, sp.Symbol)}


# --------------------------------------------------------------------------- sets


def _compare_sets(e: Any, a: Any, setup: _Setup) -> Comparison:
    """Inequalities, intervals and sets by the set of reals they denote (see the rule)."""
    try:
        e_n = _normalise(e, setup)
    except _Refused as exc:
        return Comparison(equal=None, message=say("check.sym.expected_refused", why=exc.reason))
    if not isinstance(a, sp.Basic) or isinstance(a, sp.MatrixBase):
        return Comparison(equal=False, message=say("check.sym.expected_what", what=_what_set(e),
                                                   got=_describe_for_expressions(a)))
    try:
        a_n = _normalise(a, setup)
    except _Refused as exc:
        return Comparison(equal=False, message=say("check.sym.answer_refused", why=exc.reason))
    if e_n == a_n:
        return Comparison(equal=True, message=say("check.sym.identical"))
    if not (isinstance(a_n, _SET_LIKE) or a_n in (sp.true, sp.false)):
        return Comparison(equal=False, message=say("check.sym.expected_what",
                                                   what=_what_set(e_n),
                                                   got=_describe_for_expressions(a)))
    if isinstance(e_n, sp.FiniteSet) and isinstance(a_n, sp.FiniteSet) and (
            _pieces(e_n) is None or _pieces(a_n) is None):
        return _compare_finite_sets(e_n, a_n, setup)
    free = sorted(e_n.free_symbols | a_n.free_symbols, key=str)
    if len(free) > 1:
        if isinstance(e_n, sp.Set) or isinstance(a_n, sp.Set):
            return Comparison(equal=False, message=say("check.sym.expected_what",
                                                       what=_what_set(e_n),
                                                       got=_describe_for_expressions(a)))
        return _compare_conditions(e_n, a_n, free, setup)
    var = free[0] if free else None
    e_set, a_set = _as_real_set(e_n, var), _as_real_set(a_n, var)
    if var is not None and not var.is_integer:
        # A condition holds on the declared values only: log(x) < 0 is 0 < x < 1 for x > 0.
        allowed = _solution_domain(var, setup).intersect(sp.S.Reals)
        if allowed != sp.S.Reals:
            e_set = e_set if isinstance(e_n, sp.Set) or e_set is None else e_set.intersect(
                allowed)
            a_set = a_set if isinstance(a_n, sp.Set) or a_set is None else a_set.intersect(
                allowed)
    if e_set is None:
        return Comparison(equal=None, message=say("check.sym.expected_not_set",
                                                  expected=_display(e_n)))
    if a_set is None:
        return Comparison(equal=None, message=say("check.sym.answer_not_set",
                                                  got=_display(a_n)))
    return _compare_real_sets(e_set, a_set, setup)


def _what_set(obj: Any) -> str:
    return say("check.sym.the_set" if isinstance(obj, sp.Set) else "check.sym.the_condition",
               value=_display(obj))


def _as_real_set(obj: Any, var: Any) -> Any:
    """The set of reals a set or a condition in ``var`` denotes; None when sympy cannot say."""
    if isinstance(obj, sp.Set):
        return obj
    if obj is sp.true:
        return sp.S.Reals
    if obj is sp.false:
        return sp.S.EmptySet
    if var is None:
        # A condition without a variable (2 < 3, kept unevaluated by the parser).
        truth = obj.simplify() if isinstance(obj, Boolean) else None
        return sp.S.Reals if truth is sp.true else sp.S.EmptySet if truth is sp.false else None
    found: list[Any] = []
    with _budget(CAS_BUDGET):
        try:
            found.append(obj.as_set())
        except (NotImplementedError, TypeError, ValueError, AttributeError):
            found.append(sp.solveset(obj, var, domain=sp.S.Reals)
                         if isinstance(obj, sp.core.relational.Relational) else None)
    result = found[0] if found else None
    if result is None or isinstance(result, sp.ConditionSet):
        return None
    return result.intersect(sp.S.Reals) if isinstance(result, sp.Set) else None


def _compare_real_sets(e_set: Any, a_set: Any, setup: _Setup) -> Comparison:
    if e_set == a_set:
        return Comparison(equal=True, message=say("check.sym.same_set"))
    e_parts, a_parts = _pieces(e_set), _pieces(a_set)
    if e_parts is None or a_parts is None:
        if isinstance(e_set, sp.FiniteSet) and isinstance(a_set, sp.FiniteSet):
            return _compare_finite_sets(e_set, a_set, setup)
        return Comparison(equal=None, message=say("check.sym.sets_undecided",
                                                  got=_display(a_set), expected=_display(e_set)))
    shown = say("check.sym.not_same_set", expected=_display(e_set), got=_display(a_set))
    if len(e_parts) != len(a_parts):
        return Comparison(equal=False, message=shown,
                          hint=say("check.sym.pieces_instead", got=len(a_parts),
                                   expected=len(e_parts)))
    for (e_lo, e_hi, e_lo_open, e_hi_open), (a_lo, a_hi, a_lo_open, a_hi_open) in zip(
            e_parts, a_parts, strict=True):
        for which, e_end, a_end in (("lower", e_lo, a_lo), ("upper", e_hi, a_hi)):
            same = _same_number(e_end, a_end, setup)
            if same is None:
                return Comparison(equal=None, message=say(
                    "check.sym.lower_end_undecided" if which == "lower" else
                    "check.sym.upper_end_undecided", got=_display(a_end),
                    expected=_display(e_end)))
            if not same:
                return Comparison(equal=False, message=shown, hint=say(
                    "check.sym.lower_end_hint" if which == "lower" else
                    "check.sym.upper_end_hint", got=_display(a_end), expected=_display(e_end)))
        for e_open, a_open, end in ((e_lo_open, a_lo_open, e_lo),
                                    (e_hi_open, a_hi_open, e_hi)):
            if e_open != a_open:
                return Comparison(equal=False, message=shown, hint=say(
                    "check.sym.should_exclude" if e_open else "check.sym.should_include",
                    value=_display(end)))
    return Comparison(equal=True, message=say("check.sym.same_set_of", value=_display(e_set)))


def _pieces(s: Any) -> list[tuple[Any, Any, bool, bool]] | None:
    """A set of reals as sorted (low, high, low open, high open); None when it is not one."""
    if s is sp.S.EmptySet:
        return []
    if s is sp.S.Reals:
        return [(-sp.oo, sp.oo, True, True)]
    if isinstance(s, sp.Interval):
        return [(s.start, s.end, bool(s.left_open), bool(s.right_open))]
    if isinstance(s, sp.FiniteSet):
        points = []
        for p in s.args:
            if not (isinstance(p, sp.Expr) and p.is_number and p.is_extended_real):
                return None
            points.append((p, p, False, False))
        return sorted(points, key=lambda piece: float(piece[0]))
    if isinstance(s, sp.Union):
        out = []
        for part in s.args:
            got = _pieces(part)
            if got is None:
                return None
            out.extend(got)
        return sorted(out, key=lambda piece: (float(piece[0]), float(piece[1])))
    return None


def _same_number(e: Any, a: Any, setup: _Setup) -> bool | None:
    if e.is_infinite or a.is_infinite:
        return bool(e == a)
    if exact_mode(setup, e, a):
        return constants_equal(e, a)
    e_val, a_val = _evaluate(e, {}), _evaluate(a, {})
    return _agree(e_val, a_val, setup)


def _compare_finite_sets(e_set: Any, a_set: Any, setup: _Setup) -> Comparison:
    """Finite sets of expressions: every element matched to an equal one, in any order."""
    e_items, a_items = list(e_set.args), list(a_set.args)
    if len(e_items) != len(a_items):
        return Comparison(equal=False, message=say("check.sym.set_size", n=len(e_items),
                                                   got=len(a_items)))
    verdicts = [[(_compare_values(x, y, setup).equal
                  if isinstance(x, sp.Expr) and isinstance(y, sp.Expr) else x == y)
                 for y in a_items] for x in e_items]
    match = max_matching([[v is True for v in row] for row in verdicts])
    missing = [e_items[i] for i in range(len(e_items)) if match[i] is None]
    if missing and None not in max_matching([[v is not False for v in row]
                                             for row in verdicts]):
        return Comparison(equal=None, message=say("check.sym.element_undecided",
                                                  value=_display(missing[0])))
    if missing:
        return Comparison(equal=False, message=say("check.sym.element_missing",
                                                   value=_display(missing[0])))
    return Comparison(equal=True, message=say("check.sym.same_finite_set", n=len(e_items)))


# --------------------------------------------------------------------------- conditions


def _compare_conditions(e: Any, a: Any, free: list[Any], setup: _Setup) -> Comparison:
    """Relations in several variables: the same boundary and side, or a counterexample."""
    e_form, a_form = _inequality(e), _inequality(a)
    if e_form and a_form and e_form[1] == a_form[1]:
        d_e, kind = e_form
        d_a = a_form[0]
        sign = _ratio_sign(d_e, d_a, setup)
        if sign == 1 or (sign == -1 and kind == "!="):
            return Comparison(equal=True, message=say("check.sym.same_condition"))
    witness = _disagreement(e, a, free, setup)
    if witness:
        return Comparison(equal=False, message=say("check.sym.not_same_condition",
                                                   detail=witness))
    return Comparison(equal=None, message=say("check.sym.conditions_undecided"))


def _inequality(rel: Any) -> tuple[Any, str] | None:
    """``rel`` as ``(d, kind)`` with kind in ``> >= !=`` meaning ``d kind 0``; None if not."""
    if isinstance(rel, sp.StrictGreaterThan):
        return rel.lhs - rel.rhs, ">"
    if isinstance(rel, sp.StrictLessThan):
        return rel.rhs - rel.lhs, ">"
    if isinstance(rel, sp.GreaterThan):
        return rel.lhs - rel.rhs, ">="
    if isinstance(rel, sp.LessThan):
        return rel.rhs - rel.lhs, ">="
    if isinstance(rel, sp.Unequality):
        return rel.lhs - rel.rhs, "!="
    return None


def _ratio_sign(d_e: Any, d_a: Any, setup: _Setup) -> int | None:
    """+1 or -1 when ``d_a`` is a constant multiple of ``d_e`` of that sign; else None."""
    multiple, _ = _constant_multiple(d_e, d_a, setup)
    if not multiple:
        return None
    ctx = _mp()
    for i, value in _expected_points(d_e, setup)[0] if d_e.free_symbols else ():
        other = _evaluate(d_a, _candidates(setup)[i])
        if other is None or value == 0 or isinstance(value, ctx.mpc) or isinstance(
                other, ctx.mpc):
            continue
        return 1 if (other / value) > 0 else -1
    return None


def _truth(rel: Any, point: Mapping[Any, Any]) -> bool | None:
    try:
        value = rel.xreplace(dict(point))
    except (TypeError, ValueError, ArithmeticError):
        return None
    if value is sp.true or value is sp.false:
        return bool(value)
    return None


def _disagreement(e: Any, a: Any, free: list[Any], setup: _Setup) -> str:
    """A point where one condition holds and the other does not, described; "" if none."""
    points = list(_candidates(setup))
    for point in _boundary_points(e, free, points[:3]) + points:
        with _budget(_EVALF_BUDGET):
            t_e, t_a = _truth(e, point), _truth(a, point)
            if t_e is not None and t_a is not None and t_e != t_a:
                shown = ", ".join(f"{s.name}={_coordinate(point[s])}" for s in free)
                return say("check.sym.condition_at", point=shown, expected=t_e, got=t_a)
    return ""


def _boundary_points(rel: Any, free: list[Any], seeds: list[dict[Any, Any]]) -> list[Any]:
    """Points on ``lhs = rhs`` of an inequality: solved for one variable at a few seeds."""
    form = _inequality(rel)
    if form is None:
        return []
    d, _ = form
    var = next((s for s in free if s in d.free_symbols), None)
    if var is None:
        return []
    out = []
    for seed in seeds:
        fixed = {s: v for s, v in seed.items() if s != var}
        with _budget(CAS_BUDGET):
            roots = sp.solve(d.xreplace(fixed), var)
            for r in roots[:3]:
                if r.is_real and r.is_number:
                    out.append({**fixed, var: sp.nsimplify(r) if r.is_Float else r})
    return out
