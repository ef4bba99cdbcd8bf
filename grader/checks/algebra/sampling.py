"""Sampling: both sides evaluated at seeded exact points, a counterexample confirmed by evalf."""

from __future__ import annotations

import functools
import itertools
import math
from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import Any

import numpy as np
import sympy as sp

from grader.checks.algebra.setup import _Setup
from grader.checks.common import _evalf, _evaluate, _evaluate_checked, _mp, _precision
from grader.messages import say

CONFIDENT_POINTS = 12  # agreeing distinct points that make the CAS unnecessary


BOX = 2.0  # half of the points lie in [-BOX, BOX]; the others far beyond it
_FAR_DECADES = (0.5, 5.0)  # far points: |x| = 10**u, u uniform in this range
_FAR_INTEGER = 10**4  # far integer points: |n| up to this (factorial stays cheap)
_DENOMINATOR = (10**6, 10**7)  # random denominators of the rational coordinates


@dataclass(frozen=True)
class _Range:
    low: float
    high: float
    integer: bool
    nonzero: bool
    given: bool = False  # an explicit domain: sampled in it only
    sign: int = 0  # +1 positive or nonnegative, -1 negative or nonpositive, 0 either
    complex: bool = False  # a complex symbol: real and imaginary parts drawn alike


def complex_symbol(symbol: Any) -> bool:
    """Whether a symbol ranges over the complex numbers (the ``complex`` assumption).

    A symbol with no assumption is sampled on the reals: that is the grader's default,
    and the rubric says ``complex`` where complex values are meant. ``integer``,
    ``positive`` and the other signs make a symbol real.
    """
    return bool(symbol.is_complex) and symbol.is_extended_real is None


def _range(symbol: Any, given: tuple[float, float] | None) -> _Range:
    """Where a symbol is sampled: the domain narrowed by the symbol's assumptions.

    Without a domain half of the draws are in the box ``[-2, 2]`` (integers in -10..10)
    and half far beyond it, up to ``10**6`` in size, on the side the sign allows.
    """
    sign = (1 if symbol.is_nonnegative or symbol.is_positive else
            -1 if symbol.is_nonpositive or symbol.is_negative else 0)
    nonzero = bool(symbol.is_nonzero or symbol.is_positive or symbol.is_negative)
    box = 10.0 if symbol.is_integer else BOX
    default = (0.0, box) if sign > 0 else (-box, 0.0) if sign < 0 else (-box, box)
    if given is None:
        low, high = default
    else:  # an explicit domain, cut to the symbol's sign
        low, high = given
        if symbol.is_nonnegative:
            low = max(low, 0.0)
        if symbol.is_nonpositive:
            high = min(high, 0.0)
    if symbol.is_integer:
        low, high = math.ceil(low), math.floor(high)
        if (nonzero and low == high == 0) or low > high:
            (low, high), given = default, None
    elif low >= high:
        (low, high), given = default, None
    return _Range(float(low), float(high), bool(symbol.is_integer), nonzero,
                  given=given is not None, sign=sign, complex=complex_symbol(symbol))


def _draw(rng: np.random.Generator, r: _Range, far: bool) -> Any:
    """One coordinate: an integer, or a rational with a random denominator (not a grid).

    A complex symbol's is a Gaussian rational whose real and imaginary parts are drawn
    as a real coordinate is (box or far), so exact arithmetic stays exact. One in four
    lies on the real axis and one in eight on the imaginary axis: the branch cuts of
    roots and logarithms lie there, and random complex points never meet a line.
    """
    if r.complex:
        real = replace(r, complex=False)
        re_part, im_part = _draw(rng, real, far), _draw(rng, real, far)
        axis = float(rng.random())
        if axis < 0.25:
            return re_part
        return sp.I * im_part if axis < 0.375 else re_part + sp.I * im_part
    if r.integer:
        if far and not r.given:
            size = int(10 ** float(rng.uniform(1.0, math.log10(_FAR_INTEGER))))
            side = r.sign or (1 if rng.random() < 0.5 else -1)
            return sp.Integer(side * max(size, 11))
        for _ in range(20):
            k = int(rng.integers(int(r.low), int(r.high) + 1))
            if k != 0 or not r.nonzero:
                return sp.Integer(k)
        return sp.Integer(int(r.high) if r.high != 0 else int(r.low))
    q = int(rng.integers(*_DENOMINATOR))
    if far and not r.given:
        far_size = 10 ** float(rng.uniform(*_FAR_DECADES))
        side = r.sign or (1 if rng.random() < 0.5 else -1)
        return sp.Rational(side * max(round(far_size * q), 2 * q + 1), q)
    lo, hi = math.ceil(r.low * q), math.floor(r.high * q)
    k = min(max(round(float(rng.uniform(r.low, r.high)) * q), lo), hi)
    if k == 0 and r.nonzero:
        k = 1 if hi >= 1 else -1
    return sp.Rational(k, q)


def _exhaustive(setup: _Setup) -> bool:
    """Whether the candidates are every point of a small integer domain."""
    return len(_candidates(setup)) != 3 * setup.samples


@functools.lru_cache(maxsize=64)
def _candidates(setup: _Setup) -> tuple[dict[Any, Any], ...]:
    """Candidate points (symbol -> Rational), 3x samples of them, fixed by the seed.

    Even-numbered points are in the box, odd-numbered ones far beyond it (for every
    symbol without an explicit domain).
    """
    rng = np.random.default_rng(setup.seed)
    domain = dict(setup.domain)
    ordered = sorted(setup.symbols, key=lambda item: item[0])
    ranges = [(sym, _range(sym, domain.get(name))) for name, sym in ordered]
    if ranges and all(r.integer and r.given for _, r in ranges):
        values = [[sp.Integer(k) for k in range(int(r.low), int(r.high) + 1)
                   if k != 0 or not r.nonzero] for _, r in ranges]
        if math.prod(len(v) for v in values) < 3 * setup.samples:
            # Few enough integers to try them all: the sampling is exhaustive.
            return tuple(dict(zip([sym for sym, _ in ranges], combo, strict=True))
                         for combo in itertools.product(*values))
    return tuple({sym: _draw(rng, r, far=i % 2 == 1) for sym, r in ranges}
                 for i in range(3 * setup.samples))


def _in_box(point: Mapping[Any, Any]) -> bool:
    return all(abs(part) <= (10 if v.is_Integer else BOX)
               for v in point.values() for part in (v.as_real_imag() if not v.is_Rational
                                                    else (v,)))


def _box_candidates(setup: _Setup) -> tuple[dict[Any, Any], ...]:
    """The candidate points in the box (where values stay of moderate size)."""
    return tuple(p for p in _candidates(setup) if _in_box(p))


@dataclass(frozen=True)
class _Sampled:
    counterexample: str = ""
    hint: str = ""  # "sign flipped", "off by a constant factor 2" (advice, not a verdict)
    distinct: int = 0  # distinct agreeing points (over the symbols actually used)
    exact: bool = False  # no free symbol: the one evaluation decides
    agreement: str = ""
    undecided: str = ""


def _sample(e_n: Any, a_n: Any, setup: _Setup, *, proportional: bool = False) -> _Sampled:
    """Evaluate both sides at the sample points; report a confirmed counterexample.

    A point where only the received side is undefined (a removable singularity such as
    ``(x**2 - 1)/(x - 1)`` at ``x = 1``, which the 1/1000 grid can hit) is left out; from
    two such distinct points on it is a counterexample.
    """
    free = sorted(e_n.free_symbols | a_n.free_symbols, key=str)
    points = _candidates(setup) if free else ({},)
    chosen, elsewhere = (_expected_points(e_n, setup) if free
                         else (_expected_points_constant(e_n), ()))
    ctx = _mp()
    e_vals = [v for _, v in chosen]
    a_vals = [_evaluate(a_n, points[i]) for i, _ in chosen]
    factor = _factor(e_vals, a_vals) if proportional else None
    if proportional and factor is None:
        factor = ctx.mpf(1)  # no usable factor: any point shows the mismatch
    agreeing: set[tuple[Any, ...]] = set()
    undefined: dict[tuple[Any, ...], tuple[int, Any, Any]] = {}
    for (i, e_val), a_val in zip(chosen, a_vals, strict=True):
        key = tuple(points[i].get(s) for s in free)
        if _agree(e_val * factor if proportional else e_val, a_val, setup):
            agreeing.add(key)
            continue
        # Confirm at higher precision before calling it a counterexample.
        verdict, e2, a2 = _confirm(e_n, a_n, points[i], setup, factor if proportional
                                   else None, e_val, a_val)
        if verdict == "agree":
            agreeing.add(key)
            continue
        if verdict == "unknown":
            continue  # cancellation beyond every precision tried: no verdict here
        if (a2 is None or not ctx.isfinite(a2)) and free:
            if not _in_box(points[i]):
                continue  # overflow far out is no evidence
            undefined.setdefault(key, (i, e2, a2))
            if len(undefined) < 2:
                continue
        message = _differs(free, points[i], e2, a2)
        hint = "" if proportional else _hint(e_vals, a_vals, setup)
        # Without a pattern (sign, factor) the hint is where to look.
        return _Sampled(counterexample=message, hint=hint or say(
            "check.sym.differs_where", where=_where(free, points[i])))
    if not proportional:
        # Where the expected value is complex the answer must agree as well: a branch
        # error such as (a**b)**c for a**(b*c) shows only there.
        for i, e_val in elsewhere:
            a_val = _evaluate(a_n, points[i])
            if a_val is None or _agree(e_val, a_val, setup):
                continue
            e2, a2 = _evalf(e_n, points[i]), _evalf(a_n, points[i])
            if e2 is None or a2 is None or not ctx.isfinite(a2) or _agree(e2, a2, setup):
                continue
            return _Sampled(counterexample=say("check.sym.complex_branch",
                                               detail=_differs(free, points[i], e2, a2)),
                            hint=say("check.sym.branch_hint"))
    distinct = len(agreeing)
    return _Sampled(
        distinct=distinct, exact=not free and distinct == 1,
        agreement=say("check.sym.equal_as_numbers") if not free else say(
            "check.sym.equal_at_points", n=distinct),
        undecided=say("check.sym.too_few_points", n=distinct))


_CONFIRM_DIGITS = (60, 250, 1000, 4000)  # precisions of a confirmation


def _confirm(e_n: Any, a_n: Any, point: Mapping[Any, Any], setup: _Setup, factor: Any,
             e_val: Any, a_val: Any) -> tuple[str, Any, Any]:
    """Re-evaluate a disagreeing point at more digits: "agree", "differ" or "unknown".

    A difference is confirmed at the first precision where neither value lost its
    digits to cancellation; agreement at any precision settles it. Where the evaluator
    found the received side undefined, sympy's adaptive ``evalf`` has the last word.
    """
    ctx = _mp()
    if a_val is None:
        a2 = _evalf(a_n, point)
        e2 = _evalf(e_n, point)
        e2 = e_val if e2 is None else e2
        if factor is not None:
            e2 = e2 * factor
        if _agree(e2, a2, setup):
            return "agree", e2, a2
        return "differ", e2, a2
    for digits in _CONFIRM_DIGITS:
        with _precision(digits):
            e2, e_sure = _evaluate_checked(e_n, point)
            a2, a_sure = _evaluate_checked(a_n, point)
            if e2 is not None and factor is not None:
                e2 = e2 * factor
            if _agree(e2, a2, setup):
                return "agree", e_val, a_val
            if e_sure and a_sure:
                if e2 is None:
                    return "unknown", e_val, a_val  # the expected is undefined here
                if a2 is None or not ctx.isfinite(a2):
                    return "differ", ctx.convert(e2), a2
                return "differ", ctx.convert(e2), ctx.convert(a2)
    return "unknown", e_val, a_val


def _where(free: list[Any], point: Mapping[Any, Any]) -> str:
    shown = ", ".join(f"{s.name}={_coordinate(point[s])}" for s in free)
    return say("check.sym.at", point=shown) if shown else say("check.sym.as_number")


def _differs(free: list[Any], point: Mapping[Any, Any], e: Any, a: Any) -> str:
    e_text, a_text = _pair(e, a)
    return say("check.sym.differs", where=_where(free, point), expected=e_text, got=a_text)


def _hint(e_vals: list[Any], a_vals: list[Any], setup: _Setup) -> str:
    """What a wrong answer looks like next to the right one, from the sampled values."""
    ctx = _mp()
    if len(e_vals) < 2 or not any(abs(e) > setup.atol for e in e_vals):
        return ""
    if all(_agree(-e, a, setup) for e, a in zip(e_vals, a_vals, strict=True)):
        return say("check.num.sign_flipped")
    k = _factor(e_vals, a_vals)
    if k is None or isinstance(k, ctx.mpc) or abs(abs(k) - 1) < 1e-6:
        return ""
    if all(_agree(k * e, a, setup) for e, a in zip(e_vals, a_vals, strict=True)):
        return say("check.num.constant_factor", factor=ctx.nstr(k, 6))
    return ""


def _factor(e_vals: list[Any], a_vals: list[Any]) -> Any:
    """The ratio received/expected at the point where the expected is largest."""
    ctx = _mp()
    best = None
    for e, a in zip(e_vals, a_vals, strict=True):
        if a is None or not ctx.isfinite(a):
            continue
        if best is None or abs(e) > abs(best[0]):
            best = (e, a)
    if best is None or best[0] == 0:
        return None
    k = best[1] / best[0]
    return k if abs(k) > 1e-12 else None


def _expected_points_constant(e_n: Any) -> tuple[tuple[int, Any], ...]:
    value = _evaluate(e_n, {})
    ctx = _mp()
    return ((0, value),) if value is not None and ctx.isfinite(value) else ()


_Points = tuple[tuple[int, Any], ...]


@functools.lru_cache(maxsize=512)
def _expected_points(e_n: Any, setup: _Setup) -> tuple[_Points, _Points]:
    """(index, value) of the candidate points kept, and of the complex ones passed by.

    The kept points are the real ones, see step 2 of the rule (every finite one where a
    symbol is complex). The second tuple holds the points met on the way where the
    expected value is finite but complex (not kept).
    """
    ctx = _mp()
    real: list[tuple[int, Any]] = []
    finite: list[tuple[int, Any]] = []
    candidates = _candidates(setup)
    # An exhaustive list of integer points is used whole.
    wanted = len(candidates) if _exhaustive(setup) else setup.samples
    complex_values = any(complex_symbol(symbol) for _, symbol in setup.symbols)
    for i, point in enumerate(candidates):
        value = _evaluate(e_n, point)
        if value is None or not ctx.isfinite(value):
            continue
        finite.append((i, value))
        if complex_values or _is_real(value, setup):
            real.append((i, value))
            if len(real) >= wanted:
                break
    half = math.ceil(setup.samples / 2)
    if len(real) >= half:
        kept = {i for i, _ in real}
        return tuple(real), tuple(p for p in finite if p[0] not in kept)[: setup.samples]
    return tuple(finite[: setup.samples]), ()


def _is_real(value: Any, setup: _Setup) -> bool:
    ctx = _mp()
    if not isinstance(value, ctx.mpc):
        return True
    return bool(abs(value.imag) <= setup.atol + setup.rtol * abs(value.real))


def _agree(e: Any, a: Any, setup: _Setup) -> bool:
    ctx = _mp()
    if e is None or a is None or not ctx.isfinite(a) or not ctx.isfinite(e):
        return False
    return bool(abs(a - e) <= setup.atol + setup.rtol * abs(e))


def _coordinate(r: Any) -> str:
    if r.is_Integer:
        return str(int(r))
    if not r.is_Rational:  # a complex symbol's Gaussian rational
        re_part, im_part = r.as_real_imag()
        sign = "-" if im_part < 0 else "+"
        return f"({float(re_part):.6g}{sign}{abs(float(im_part)):.6g}j)"
    return f"{float(r):.6g}"


def _pair(e: Any, a: Any) -> tuple[str, str]:
    """Two values with just enough digits to tell them apart."""
    ctx = _mp()

    def text(v: Any, n: int) -> str:
        if v is None:
            return say("check.sym.undefined")
        if not ctx.isfinite(v):
            return say("check.sym.infinite")
        if v != 0 and abs(ctx.mag(v)) > 3000:
            # nstr would compute all the digits of 10**exponent: show the size only
            sign = "-" if not isinstance(v, ctx.mpc) and v < 0 else ""
            return f"{sign}10^{ctx.nstr(ctx.log10(abs(v)), 6)}"
        return str(ctx.nstr(v, n))

    for n in (4, 6, 10, 15, 20, 30):
        e_text, a_text = text(e, n), text(a, n)
        if e_text != a_text:
            return e_text, a_text
    return e_text, a_text


_PROBE_CONSTANTS = 4  # the largest constants of the expressions probed around
_PROBE_MIN = 5  # constants this small are inside the sampled ranges anyway


def _probe_constants(e_n: Any, a_n: Any, setup: _Setup) -> tuple[str, str]:
    """A counterexample beyond the largest constants of the two sides, and where it is.

    ``("", "")`` if none.

    ``Min(n, 10**5)`` equals ``n`` wherever the sampling goes; just beyond ``10**5`` it
    does not. Each free symbol takes values just past each large constant (and its
    negative), the others staying at a point of the box; the domain and the symbol's
    assumptions are kept.
    """
    free = sorted(e_n.free_symbols | a_n.free_symbols, key=str)
    if not free:
        return "", ""
    sizes = sorted({abs(c) for c in (e_n.atoms(sp.Rational) | a_n.atoms(sp.Rational))
                    if abs(c) >= _PROBE_MIN}, reverse=True)[:_PROBE_CONSTANTS]
    boxed = _box_candidates(setup) or _candidates(setup)
    domain = dict(setup.domain)
    if not (sizes or any(s.name in domain for s in free)) or not boxed:
        return "", ""
    base = boxed[0]
    for s in free:
        tried = [v for c in sizes for v in (c + 1, 2 * c + 1, -c - 1, -2 * c - 1)]
        if s.name in domain:  # the ends of a domain, and halfway to them from 0
            low, high = (sp.nsimplify(v) for v in domain[s.name])
            tried += [low, high, low / 2, high / 2]
        for value in tried:
            value = sp.Integer(math.floor(value)) if s.is_integer else sp.Rational(value)
            found = _probe_at(e_n, a_n, {**base, s: value}, s, domain.get(s.name), setup)
            if found:
                point = {**base, s: value}
                return _differs(free, point, *found), say(
                    "check.sym.differs_where", where=_where(free, point))
    return "", ""


def _probe_at(e_n: Any, a_n: Any, point: dict[Any, Any], symbol: Any,
              bounds: tuple[float, float] | None, setup: _Setup) -> tuple[Any, Any] | None:
    """The two values at a probe point where they differ for sure; None otherwise."""
    if not _allowed(symbol, point[symbol], bounds):
        return None
    ctx = _mp()
    e_val, a_val = _evaluate(e_n, point), _evaluate(a_n, point)
    if e_val is None or a_val is None or not (ctx.isfinite(e_val) and ctx.isfinite(a_val)):
        return None  # undefined or overflowing out there: no evidence
    if _agree(e_val, a_val, setup):
        return None
    verdict, e2, a2 = _confirm(e_n, a_n, point, setup, None, e_val, a_val)
    return (e2, a2) if verdict == "differ" and a2 is not None else None


def _allowed(symbol: Any, value: Any, bounds: tuple[float, float] | None) -> bool:
    if bounds is not None and not bounds[0] <= value <= bounds[1]:
        return False
    if (symbol.is_positive and value <= 0) or (symbol.is_negative and value >= 0):
        return False
    return not ((symbol.is_nonnegative and value < 0) or (symbol.is_nonpositive and value > 0))
