"""Boundary points: both sides evaluated exactly where a sign, step, rounding or piece switches.

Random sampling never lands on ``x = 0`` or on an integer, so ``Heaviside(x, 1)`` and
``(1 + sign(x))/2``, ``floor(x)`` and ``ceiling(x) - 1``, or two ``Piecewise`` that
differ in ``>`` against ``>=`` would agree at every sample point. For expressions with a
function of :data:`SWITCHES` this step finds the points where one switches, each from
its argument by the rule of its table line: the real zeros of the argument of
``sign``, ``Heaviside`` and ``Abs``; the points where the argument of ``floor``,
``ceiling`` and ``frac`` is an integer (``-2..2``, the integers next to the argument's
values at the sample points, and next to the expression's constants); the zeros of
``lhs - rhs`` of every relation in a ``Piecewise`` condition; where two arguments of
``Min``/``Max`` are equal; where ``Mod(a, b)`` has ``a/b`` an integer. They are found by
``solveset`` (a linear argument directly) under a time budget, one variable at a time,
the others at points of the box. Both sides are then evaluated there exactly, by
substitution (sympy decides ``sign(sqrt(2)**2 - 2)`` as 0), and compared exactly when
neither has a float (within the tolerance otherwise).

A point where a side is undefined is no difference: the grader compares expressions
where both are defined (``(x**2 - 1)/(x - 1)`` is ``x + 1``; sympy itself builds
``x/x`` as 1), so ``Abs(x)/x``, undefined at 0, is ``sign(x)``. A point whose values
sympy cannot decide exactly is no evidence either way.
"""

from __future__ import annotations

import functools
import itertools
import math
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import sympy as sp

from grader.checks.algebra.display import _display
from grader.checks.algebra.exact import constants_equal
from grader.checks.algebra.sampling import (
    _agree,
    _allowed,
    _box_candidates,
    _candidates,
    _coordinate,
    complex_symbol,
)
from grader.checks.algebra.setup import _Setup
from grader.checks.common import _budget, _evaluate, _mp
from grader.messages import say

BOUNDARY_BUDGET = 2.0  # seconds of CPU time for the whole step (solveset can be slow)
_SOLVE_BUDGET = 0.5  # for one solveset call
_POINTS_PER_SWITCH = 12  # points kept of one argument's solutions
_MAX_POINTS = 80  # points evaluated in all
_PERIODS = range(-2, 3)  # n of a periodic family of solutions (2*n*pi)
_SMALL_INTEGERS = range(-2, 3)  # integer values of a rounded argument always tried


# A switch is (kind, g): "zero" switches where g = 0, "integer" where g is an integer.
_Switch = tuple[str, Any]


def _zero_of_first(f: Any) -> list[_Switch]:
    return [("zero", f.args[0])]


def _integer_of_first(f: Any) -> list[_Switch]:
    return [("integer", f.args[0])]


def _pairs_equal(f: Any) -> list[_Switch]:
    return [("zero", a - b) for a, b in itertools.combinations(f.args, 2)]


def _conditions(f: Any) -> list[_Switch]:
    return [("zero", r.lhs - r.rhs) for _, cond in f.args
            if isinstance(cond, sp.Basic) for r in cond.atoms(sp.core.relational.Relational)]


def _modulo(f: Any) -> list[_Switch]:
    a, b = f.args
    return [("integer", a / b), ("zero", b)]


def _angle(f: Any) -> list[_Switch]:
    y, x = f.args
    return [("zero", y), ("zero", x)]


@dataclass(frozen=True)
class Switching:
    """How a function's switch points follow from its arguments, and whether it jumps there.

    A continuous one (``Abs``, ``Min``, ``Max``) cannot make two sides that agree
    around a point differ at it; its points are checked when found, but one whose
    points cannot be found leaves the verdict to sampling.
    """

    points: Callable[[Any], list[_Switch]]
    jumps: bool


# One line per function that switches at isolated points.
SWITCHES: dict[type[Any], Switching] = {
    sp.sign: Switching(_zero_of_first, jumps=True),
    sp.Heaviside: Switching(_zero_of_first, jumps=True),
    sp.Abs: Switching(_zero_of_first, jumps=False),
    sp.floor: Switching(_integer_of_first, jumps=True),
    sp.ceiling: Switching(_integer_of_first, jumps=True),
    sp.frac: Switching(_integer_of_first, jumps=True),
    sp.Mod: Switching(_modulo, jumps=True),
    sp.Min: Switching(_pairs_equal, jumps=False),
    sp.Max: Switching(_pairs_equal, jumps=False),
    sp.Piecewise: Switching(_conditions, jumps=True),
    sp.atan2: Switching(_angle, jumps=True),
}


def switching(*exprs: Any) -> bool:
    """Whether an expression has a function that switches at isolated points."""
    return any(isinstance(e, sp.Basic) and e.has(*SWITCHES) for e in exprs)


@dataclass(frozen=True)
class _Boundary:
    counterexample: str = ""
    hint: str = ""
    unresolved: str = ""  # an argument whose switch points could not be found
    checked: int = 0  # boundary points where both sides were compared


def check_boundaries(e_n: Any, a_n: Any, setup: _Setup, *, exact: bool) -> _Boundary:
    """Both sides at the switch points of either (see the module); a counterexample or none.

    ``exact``: neither side has a float, so values are compared exactly.
    """
    found: list[_Boundary] = []
    with _budget(BOUNDARY_BUDGET):
        found.append(_check(e_n, a_n, setup, exact))
    if found:
        return found[0]
    if not any(jumps for expr in (e_n, a_n) for _, _, jumps in _switches(expr)):
        return _Boundary()  # only continuous switches: sampling's verdict stands
    return _Boundary(unresolved=say("check.sym.switch_too_long"))


def _check(e_n: Any, a_n: Any, setup: _Setup, exact: bool) -> _Boundary:
    free = sorted(e_n.free_symbols | a_n.free_symbols, key=str)
    switches = list(dict.fromkeys(s for expr in (e_n, a_n) for s in _switches(expr)))
    constants = sorted({abs(c) for c in (e_n.atoms(sp.Rational) | a_n.atoms(sp.Rational))
                        if abs(c) > 2}, reverse=True)[:4]
    bases = list((_box_candidates(setup) or _candidates(setup))[:2]) or [{}]
    domain = dict(setup.domain)
    unresolved = ""
    checked = 0
    seen: set[tuple[Any, ...]] = set()
    for kind, g, jumps in switches:
        for symbol in sorted(g.free_symbols & set(free), key=str):
            for base in bases:
                points, resolved = _switch_points(kind, g, symbol, base, constants, setup)
                if not resolved and jumps and not unresolved:
                    unresolved = say("check.sym.switch_zero_unfound" if kind == "zero"
                                     else "check.sym.switch_integer_unfound",
                                     expression=_display(g, 80))
                for value in points:
                    point = {**base, symbol: value}
                    key = tuple(point.get(s) for s in free)
                    if key in seen or not _allowed_point(point, domain):
                        continue
                    seen.add(key)
                    if len(seen) > _MAX_POINTS:
                        return _Boundary(unresolved=unresolved, checked=checked)
                    same, e_v, a_v = _compare_at(e_n, a_n, point, setup, exact)
                    if same is None:
                        continue
                    checked += 1
                    if not same:
                        return _differs(free, point, e_v, a_v)
    return _Boundary(unresolved=unresolved, checked=checked)


def _switches(expr: Any) -> Iterator[tuple[str, Any, bool]]:
    """(kind, argument, jumps) of every switching function in ``expr`` with a free symbol."""
    for node in sp.preorder_traversal(expr):
        rule = SWITCHES.get(type(node)) or next(
            (r for cls, r in SWITCHES.items() if isinstance(node, cls)), None)
        if rule is None:
            continue
        for kind, g in rule.points(node):
            if isinstance(g, sp.Expr) and g.free_symbols:
                yield kind, g, rule.jumps


def _switch_points(kind: str, g: Any, symbol: Any, base: dict[Any, Any],
                   constants: list[Any], setup: _Setup) -> tuple[list[Any], bool]:
    """Values of ``symbol`` (the others at ``base``) where ``g`` switches; and if all found."""
    others = {s: v for s, v in base.items() if s != symbol}
    h = g.xreplace(others)
    if symbol not in h.free_symbols:
        return [], True
    if kind == "zero":
        return _roots(h, symbol)
    targets = set(_SMALL_INTEGERS)
    for point in _candidates(setup)[:6]:  # integers next to the argument's values
        value = _evaluate(g, point)
        if value is not None and _mp().isfinite(value) and not isinstance(value, _mp().mpc):
            targets.update((math.floor(value), math.floor(value) + 1))
    for c in constants:
        targets.update((math.floor(c), math.floor(c) + 1, -math.floor(c), -math.floor(c) - 1))
    out: list[Any] = []
    resolved = True
    for k in sorted(targets, key=abs):
        points, ok = _roots(h - k, symbol)
        out.extend(points[:2])
        resolved = resolved and ok
    return out, resolved


@functools.lru_cache(maxsize=1024)
def _roots(h: Any, symbol: Any) -> tuple[list[Any], bool]:
    """The zeros of ``h`` in ``symbol`` (real ones for a real symbol); and if all found.

    A switch inside a switch (``sign(floor(x) - 1000)``) has no zeros sympy can list;
    it is checked at the inner one's points and at the constants, and counts as found.
    """
    slope = sp.diff(h, symbol)
    if slope != 0 and symbol not in slope.free_symbols:
        return [-h.xreplace({symbol: 0}) / slope], True
    domain = sp.S.Complexes if complex_symbol(symbol) else sp.S.Reals
    solved: list[Any] = []
    with _budget(_SOLVE_BUDGET):
        try:
            solved.append(sp.solveset(h, symbol, domain=domain))
        except Exception:  # sympy's NotImplementedError and the like: none found
            solved.append(None)
    nested = h.has(*SWITCHES)
    if not solved or solved[0] is None:
        return [], nested
    points, complete = _points_of(solved[0], domain)
    return points[:_POINTS_PER_SWITCH], complete or nested


def _points_of(found: Any, domain: Any) -> tuple[list[Any], bool]:
    """Numbers of a solution set: elements, interval ends and midpoints, a few periods."""
    if isinstance(found, sp.FiniteSet):
        return [p for p in found.args if _number_in(p, domain)], True
    if isinstance(found, sp.Interval):
        ends = [e for e in (found.start, found.end) if e.is_finite]
        middle = [(found.start + found.end) / 2] if len(ends) == 2 else []
        return ends + middle, True
    if isinstance(found, sp.Union):
        points: list[Any] = []
        complete = True
        for part in found.args:
            more, ok = _points_of(part, domain)
            points.extend(more)
            complete = complete and ok
        return points, complete
    if isinstance(found, sp.ImageSet) and found.base_sets == (sp.S.Integers,):
        values = [found.lamda(n) for n in _PERIODS]
        return [v for v in values if _number_in(v, domain)], True
    if found is sp.S.EmptySet:
        return [], True
    return [], False  # a ConditionSet, or a set sympy could not break down


def _number_in(value: Any, domain: Any) -> bool:
    if not (isinstance(value, sp.Expr) and value.is_number and value.is_finite):
        return False
    return domain is sp.S.Complexes or value.is_extended_real is True


def _allowed_point(point: dict[Any, Any], domain: dict[str, tuple[float, float]]) -> bool:
    for symbol, value in point.items():
        if complex_symbol(symbol):
            continue
        if symbol.is_integer and not value.is_integer:
            return False
        if not _allowed(symbol, value, domain.get(symbol.name)):
            return False
    return True


def _compare_at(e_n: Any, a_n: Any, point: dict[Any, Any], setup: _Setup,
                exact: bool) -> tuple[bool | None, Any, Any]:
    """Whether the sides are equal at ``point`` (None: no evidence), and their values."""
    values = []
    for side in (e_n, a_n):
        value = side.xreplace(point)
        if not isinstance(value, sp.Expr) or value.free_symbols:
            return None, None, None
        if value.has(sp.nan, sp.zoo, sp.oo, -sp.oo) or value.has(*SWITCHES):
            # undefined there, or a switch sympy could not decide exactly
            return None, None, None
        values.append(value)
    e_v, a_v = values
    if e_v == a_v:
        return True, e_v, a_v
    if exact and not (e_v.atoms(sp.Float) or a_v.atoms(sp.Float)):
        return constants_equal(e_v, a_v), e_v, a_v
    e_num, a_num = _evaluate(e_v, {}), _evaluate(a_v, {})
    if e_num is None or a_num is None:
        return None, e_v, a_v
    return _agree(e_num, a_num, setup), e_v, a_v


def _differs(free: list[Any], point: dict[Any, Any], e_v: Any, a_v: Any) -> _Boundary:
    where = say("check.sym.at", point=", ".join(f"{s.name}={_shown(point[s])}" for s in free))
    return _Boundary(counterexample=say("check.sym.differs_switch", where=where,
                                        expected=_display(e_v, 60), got=_display(a_v, 60)),
                     hint=say("check.sym.differs_where", where=where))


def _shown(value: Any) -> str:
    """A coordinate: exact when short (``0``, ``sqrt(2)``, ``1/3``), else its digits."""
    text = _display(value, 40)
    return text if len(text) <= 24 else _coordinate(value) if value.is_Rational else text
