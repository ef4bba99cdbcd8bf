"""Helpers both comparison engines use: display of values, matching, time budgets, evaluation.

Shared by :mod:`grader.checks.numbers` and :mod:`grader.checks.algebra`, which import
nothing of each other. Nothing here imports sympy or mpmath at import time (loading a
rubric stays cheap): a sympy value is only ever met once sympy is loaded, and the
evaluator imports sympy when it first runs.
"""

from __future__ import annotations

import functools
import math
import signal
import sys
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from fractions import Fraction
from typing import Any

import numpy as np

from grader.answers import MISSING, CallableAnswer, Rejected
from grader.messages import say

TIME_BUDGET = 8.0  # seconds of CPU time for one whole comparison (main thread only)
DIGITS = 30
_POW_BY_SQUARING = 10**6  # larger integer exponents go through exp/log
_EXP_LIMIT = 10**6  # |argument| of exp beyond which the result is infinite or zero for us
_EVALF_BUDGET = 1.0  # seconds of CPU time for one sympy evalf at one point
_TRIG_MAX_BITS = 64  # |argument| of sin, cos, ... beyond 2**64 is not evaluated
_MIN_EVALF_BITS = 20  # an evalf result with fewer significant bits is not a value
_UNRESOLVED_ZERO = 1e-50


# --------------------------------------------------------------------------- display


Number = bool | int | Fraction | float | complex


def _sympy() -> Any:
    """The sympy module if some sympy object exists already (never imports it)."""
    return sys.modules.get("sympy")


def format_value(value: Any) -> str:
    """Compact display text of a value: 6 significant digits, long arrays truncated."""
    text = _format(value, 0)
    return text if len(text) <= 400 else text[:399] + "…"


def _describe_plain(value: Any) -> str | None:
    """What a received value is, in the words both engines use; None for the rest.

    Each engine names the others (functions, bools, arrays, sympy objects) in its own
    words: a function is "not a value" to one and "not an expression" to the other.
    """
    if value is None:
        return "None"
    if value is MISSING:
        return say("check.value.nothing")
    if isinstance(value, Rejected):
        return say("check.value.unreadable", reason=value.reason)
    if isinstance(value, str):
        return say("check.value.text", text=_short_text(value))
    if isinstance(value, Mapping):
        return say("check.value.dict", n=len(value))
    if isinstance(value, list | tuple):
        return say("check.value.sequence", type=type(value).__name__, n=len(value))
    return None


def _short_text(text: str, limit: int = 60) -> str:
    return repr(text if len(text) <= limit else text[:limit] + "…")


def _num(x: Number, digits: int = 6) -> str:
    if isinstance(x, bool):
        return str(x)
    if isinstance(x, int):
        return str(x) if abs(x) < 10**40 else _big_int(x, digits)
    if isinstance(x, Fraction):
        return f"{x.numerator}/{x.denominator}" if x.denominator != 1 else str(x.numerator)
    if isinstance(x, complex):
        return f"({_num(x.real, digits)}{'+' if x.imag >= 0 else '-'}{_num(abs(x.imag), digits)}j)"
    if math.isnan(x):
        return "NaN"
    if math.isinf(x):
        return "inf" if x > 0 else "-inf"
    if x == int(x) and abs(x) < 1e15 and digits <= 15:
        return str(int(x))
    return f"{x:.{digits}g}"


def _big_int(x: int, digits: int) -> str:
    # str() of a huge int is slow and limited; show its leading digits and exponent.
    exponent = int(abs(x).bit_length() * math.log10(2))
    while 10**exponent > abs(x):
        exponent -= 1
    lead = str(abs(x) // 10 ** max(exponent - digits + 1, 0))
    sign = "-" if x < 0 else ""
    return f"{sign}{lead[0]}.{lead[1:]}e+{exponent}"


def _format(value: Any, depth: int) -> str:
    if depth > 6:
        return "…"
    if value is None or value is MISSING:
        return repr(value)
    if isinstance(value, Rejected):
        return f"<unreadable: {value.reason}>"
    if isinstance(value, CallableAnswer):
        return f"<function {value.name}{value.signature}>"
    if isinstance(value, str):
        return _short_text(value, 200)
    if isinstance(value, np.ndarray) and value.ndim > 0:
        return _format_array(value)
    if isinstance(value, Mapping):
        items = list(value.items())
        body = ", ".join(f"{_format(k, depth + 1)}: {_format(v, depth + 1)}"
                         for k, v in items[:10])
        return "{" + body + (", …" if len(items) > 10 else "") + "}"
    if isinstance(value, list | tuple):
        shown = [_format(v, depth + 1) for v in value[:20]]
        if len(value) > 20:
            shown.append(f"… ({len(value)} items)")
        if isinstance(value, tuple):
            return "(" + ", ".join(shown) + ("," if len(value) == 1 else "") + ")"
        return "[" + ", ".join(shown) + "]"
    if isinstance(value, frozenset | set):
        return "{" + ", ".join(_format(v, depth + 1) for v in list(value)[:20]) + "}"
    sp = _sympy()
    if sp is not None and isinstance(value, sp.Basic | sp.MatrixBase):
        text = sp.sstr(value)
        return text if len(text) <= 300 else text[:299] + "…"
    number = _scalar(value)
    if number is not None:
        return _num(number)
    text = repr(value)
    return text if len(text) <= 100 else text[:99] + "…"


def _format_array(arr: np.ndarray) -> str:
    limit = max(2, int(20 ** (1 / arr.ndim)))
    truncated = any(n > limit for n in arr.shape)

    def rec(a: np.ndarray) -> str:
        if a.ndim == 0:
            return _num(_scalar(a[()]) or 0) if a.dtype.kind != "b" else str(bool(a[()]))
        items = [rec(a[i]) for i in range(min(len(a), limit))]
        if len(a) > limit:
            items.append("…")
        return "[" + ", ".join(items) + "]"

    text = rec(arr)
    return f"{text} (shape {arr.shape})" if truncated else text


def _scalar(value: Any) -> Number | None:
    """The value as a Python number (bool kept apart), or None when it is not one."""
    if isinstance(value, bool | np.bool_):
        return bool(value)
    if isinstance(value, int | np.integer):
        return int(value)
    if isinstance(value, float | np.floating):
        return float(value)
    if isinstance(value, complex | np.complexfloating):
        return complex(value)
    if isinstance(value, Fraction):
        return value
    if isinstance(value, np.ndarray):
        if value.ndim == 0 and value.dtype.kind in "biufc":
            return _scalar(value[()])
        return None
    sp = _sympy()
    if sp is not None and isinstance(value, sp.Basic) and not isinstance(value, sp.MatrixBase):
        return _sympy_scalar(sp, value)
    return None


def _sympy_scalar(sp: Any, value: Any) -> Number | None:
    if value is sp.true or value is sp.false:
        return bool(value)
    if not isinstance(value, sp.Expr) or value.free_symbols or not value.is_number:
        return None
    if value.is_Integer:
        return int(value)
    if value.is_Rational:
        return Fraction(int(value.p), int(value.q))
    if value.is_Float:
        return float(value)
    if value.has(sp.zoo):
        return complex(math.inf, math.inf)
    if value.has(sp.nan):
        return math.nan
    if value == sp.oo:
        return math.inf
    if value == -sp.oo:
        return -math.inf
    # Guarded evaluation (huge exponentials, time budget), as the symbolic check samples.
    return numeric_value(value)


# --------------------------------------------------------------------------- matching


def max_matching(table: list[list[bool]]) -> list[int | None]:
    """A maximum bipartite matching, expected i -> received j, by augmenting paths (Kuhn)."""
    n = len(table)
    adjacency = [[j for j, ok in enumerate(row) if ok] for row in table]
    owner: list[int | None] = [None] * n  # received j -> the expected i it is matched to
    for root in range(n):
        seen: set[int] = set()
        # Iterative depth-first search: a long chain of re-assignments must not recurse.
        stack: list[tuple[int, Any]] = [(root, iter(adjacency[root]))]
        via: list[int] = []  # via[d]: the received j that frame d hands over to frame d + 1
        while stack:
            i, edges = stack[-1]
            step = None
            for j in edges:
                if j not in seen:
                    seen.add(j)
                    step = j
                    break
            if step is None:
                stack.pop()
                if via:
                    via.pop()
                continue
            holder = owner[step]
            if holder is None:
                # Augment: the last frame takes the free j, each earlier frame the j it
                # descended through.
                owner[step] = i
                for d in range(len(via) - 1, -1, -1):
                    owner[via[d]] = stack[d][0]
                break
            via.append(step)
            stack.append((holder, iter(adjacency[holder])))
    match: list[int | None] = [None] * n
    for j, owned_by in enumerate(owner):
        if owned_by is not None:
            match[owned_by] = j
    return match


# --------------------------------------------------------------------------- time budget


class _Timeout(BaseException):
    """A time budget ran out; a BaseException so that sympy's broad handlers let it through."""

    def __init__(self, token: object, *, cpu: bool = True) -> None:
        super().__init__("time budget exceeded")
        self.token = token
        self.cpu = cpu  # the CPU time ran out, not the backstop on the clock


WALL_FACTOR = 4  # a budget's backstop on the clock, in multiples of its CPU seconds
# A budget counts this process's CPU time (user and system, every thread), as
# ``ITIMER_PROF`` does: other students' kernels loading the machine slow a comparison
# down without making it costlier, and must not turn a verdict into "undecidable". The
# clock is the backstop of a comparison that waits instead of computing.
_CLOCKS: tuple[tuple[int, int, Callable[[], float], float], ...] = (
    (signal.ITIMER_PROF, signal.SIGPROF, time.process_time, 1.0),
    (signal.ITIMER_REAL, signal.SIGALRM, time.monotonic, WALL_FACTOR),
) if hasattr(signal, "setitimer") else ()  # (timer, its signal, its clock, factor)
# Active budgets in the main thread, outer first: (ends on each clock, token).
_deadlines: list[tuple[tuple[float, ...], object]] = []


_expired = [0]  # budgets that ran out in this process (see expirations)


def expirations() -> int:
    """How many time budgets have run out in this process so far (any, inner ones too).

    What was worked out while one ran out depends on the machine's load then: a cache
    must not keep it for another student.
    """
    return _expired[0]


def _on_alarm(signum: int, frame: Any) -> None:
    now = [clock() for _, _, clock, _ in _CLOCKS]
    for ends, token in _deadlines:  # the outermost expired budget wins
        for i, end in enumerate(ends):
            if now[i] >= end - 1e-4:
                _expired[0] += 1
                raise _Timeout(token, cpu=i == 0)
    _arm()  # woke up early (timer granularity, or the other clock's timer): sleep again


def _arm() -> None:
    for i, (timer, _, clock, _) in enumerate(_CLOCKS):
        if _deadlines:
            wait = min(ends[i] for ends, _ in _deadlines) - clock()
            signal.setitimer(timer, max(wait, 1e-4))
        else:
            signal.setitimer(timer, 0)


@contextmanager
def _time_limit(seconds: float) -> Iterator[object]:
    """Raise ``_Timeout(token)`` after ``seconds`` of CPU time in the body (main thread only).

    Or after ``WALL_FACTOR`` times that on the clock, whichever comes first. Budgets
    nest: an inner one never extends an outer one. Elsewhere than in the main thread (or
    without ``setitimer``) the body runs without a limit.
    """
    token = object()
    if not _CLOCKS or threading.current_thread() is not threading.main_thread():
        yield token
        return
    outermost = not _deadlines
    previous: list[tuple[Any, tuple[float, float]]] = []
    if outermost:
        previous = [(signal.signal(sig, _on_alarm), signal.setitimer(timer, 0))
                    for timer, sig, _, _ in _CLOCKS]
    started = [clock() for _, _, clock, _ in _CLOCKS]
    entry = (tuple(start + seconds * factor
                   for start, (_, _, _, factor) in zip(started, _CLOCKS, strict=True)), token)
    _deadlines.append(entry)
    try:
        _arm()
        yield token
    finally:
        _deadlines.remove(entry)
        if outermost:
            # Both timers stop before either handler goes back: SIGPROF's default kills.
            for timer, _, _, _ in _CLOCKS:
                signal.setitimer(timer, 0)
            for (timer, sig, clock, _), start, (handler, timer_was) in zip(
                    _CLOCKS, started, previous, strict=True):
                signal.signal(sig, signal.SIG_DFL if handler is None else handler)
                if timer_was[0] > 0:  # give a timer of our caller back what is left of it
                    left = max(timer_was[0] - (clock() - start), 1e-3)
                    signal.setitimer(timer, left, timer_was[1])
        else:
            _arm()


@contextmanager
def _budget(seconds: float) -> Iterator[None]:
    """A time limit whose own expiry just ends the body (the CAS gives up quietly)."""
    with _time_limit(seconds) as token:
        try:
            yield
        except _Timeout as exc:
            if exc.token is not token:
                raise


# --------------------------------------------------------------------------- evaluation


_contexts: list[Any] = []  # contexts of higher precision in use, innermost last


@functools.lru_cache(maxsize=1)
def _mp30() -> Any:
    from mpmath.ctx_mp import MPContext

    ctx = MPContext()
    ctx.dps = DIGITS
    return ctx


def _mp() -> Any:
    """A private mpmath context (never the shared global ``mpmath.mp``): 30 digits.

    Inside :func:`_precision` it is that block's context of more digits.
    """
    return _contexts[-1] if _contexts else _mp30()


@contextmanager
def _precision(digits: int) -> Iterator[Any]:
    """Evaluate with ``digits`` digits in the body (a confirmation at higher precision)."""
    from mpmath.ctx_mp import MPContext

    ctx = MPContext()
    ctx.dps = digits
    _contexts.append(ctx)
    try:
        yield ctx
    finally:
        _contexts.remove(ctx)


def numeric_value(expr: Any) -> float | complex | None:
    """The value of a constant sympy expression as a Python number, without lambdify.

    Evaluated to 30 digits by the same guarded evaluator as the sampling (overflow gives
    ``inf``, a huge ``exp`` is not computed); None when undefined, not constant, or too
    costly (a time budget in the main thread).
    """
    import sympy as sp

    if not isinstance(expr, sp.Expr) or expr.free_symbols:
        return None
    ctx = _mp()
    value = None
    with _budget(TIME_BUDGET):
        try:
            value = _evaluate(expr, {})
        except RecursionError:
            value = None
    if value is None:
        return None
    if isinstance(value, ctx.mpc):
        return complex(float(value.real), float(value.imag))
    return float(value)


def _evalf(expr: Any, point: Mapping[Any, Any]) -> Any:
    """sympy's own adaptive-precision evaluation at an exact point, as an mpmath number.

    None when it fails or takes longer than ``_EVALF_BUDGET`` (evalf of an exp tower
    can run for minutes).
    """
    with _budget(_EVALF_BUDGET):
        try:
            return _to_mp(expr.evalf(n=_mp().dps, subs=dict(point)))
        except (ArithmeticError, ValueError, TypeError, AttributeError):
            return None
    return None


def _to_mp(value: Any) -> Any:
    """A sympy number as an mpmath number of our context; None if not a finite number."""
    import sympy as sp

    ctx = _mp()
    if value.has(sp.nan, sp.zoo, sp.oo, -sp.oo):
        return None
    if value.is_Float:
        number = ctx.make_mpf(value._mpf_)
        if value._prec < _MIN_EVALF_BITS:
            # evalf could not resolve the value: "0.e-165" is a zero it could not pin
            # down, "0.e+6" (a 0/0 at the point) is junk.
            return ctx.mpf(0) if abs(number) < _UNRESOLVED_ZERO else None
        return number
    if value.is_Rational:
        return ctx.mpf(int(value.p)) / int(value.q)
    re_part, im_part = value.as_real_imag()
    if not (re_part.is_Number and im_part.is_Number):
        return None
    re_mp, im_mp = _to_mp(re_part), _to_mp(im_part)
    if re_mp is None or im_mp is None:
        return None
    return re_mp if im_mp == 0 else ctx.mpc(re_mp, im_mp)


_SAFE_DIGITS = 25  # digits a sum must keep after cancelling for its value to be sure
_cancelled = [False]  # set by the evaluator when a sum cancelled beyond the precision


def _evaluate_checked(expr: Any, point: Mapping[Any, Any]) -> tuple[Any, bool]:
    """:func:`_evaluate`, and whether the value is reliable (no sum cancelled beyond it).

    An exact zero reached through cancellation (``cosh(1000*x)**2 - sinh(1000*x)**2``
    at 30 digits) is not reliable; the same at enough digits is.
    """
    _cancelled[0] = False
    value = _evaluate(expr, point)
    return value, not _cancelled[0]


def _evaluate(expr: Any, point: Mapping[Any, Any]) -> Any:
    """``expr`` at ``point`` to 30 digits; None where it is undefined or not a number."""
    ctx = _mp()
    env = {s: _exact_number(ctx, v) for s, v in point.items()}
    memo: dict[Any, Any] = {}
    try:
        return _walk(expr, env, point, memo)
    except (ZeroDivisionError, _TooBig):
        return None  # undefined here; evalf would answer 0/0 with junk like "0.e+6"
    except (ArithmeticError, ValueError, TypeError, KeyError, _Unknown):
        return _evalf(expr, point)


def _exact_number(ctx: Any, value: Any) -> Any:
    """A rational coordinate, or a Gaussian rational ``a + b*I`` (a complex symbol's)."""
    if value.is_Rational:
        return ctx.mpf(int(value.p)) / int(value.q)
    re_part, im_part = value.as_real_imag()
    return ctx.mpc(ctx.mpf(int(re_part.p)) / int(re_part.q),
                   ctx.mpf(int(im_part.p)) / int(im_part.q))


class _Unknown(Exception):
    """The evaluator met something it does not handle: ask sympy's evalf instead."""


class _TooBig(Exception):
    """A value too costly to compute (sin of 10**100000): the point is left out."""


@functools.lru_cache(maxsize=1)
def _mpmath_names() -> tuple[dict[Any, str], dict[Any, str]]:
    """The sympy functions evaluated here, by their mpmath names (built on first use)."""
    import sympy as sp

    entire = {  # no branch cuts: mpmath and sympy agree everywhere
        sp.exp: "exp", sp.sin: "sin", sp.cos: "cos", sp.tan: "tan", sp.sinh: "sinh",
        sp.cosh: "cosh", sp.tanh: "tanh", sp.cot: "cot", sp.sec: "sec", sp.csc: "csc",
    }
    real_arg = {  # branch cuts: only real arguments in the real domain are evaluated here
        sp.log: "ln", sp.atan: "atan", sp.asin: "asin", sp.acos: "acos", sp.asinh: "asinh",
        sp.acosh: "acosh", sp.atanh: "atanh",
    }
    return entire, real_arg


def _walk(node: Any, env: dict[Any, Any], point: Mapping[Any, Any], memo: dict[Any, Any]) -> Any:
    cached = memo.get(node)
    if cached is not None:
        return cached
    import sympy as sp

    ctx = _mp()
    entire, real_arg = _mpmath_names()
    value: Any
    if node.is_Symbol:
        value = env[node]
    elif node.is_Number:
        if node.is_Float:
            value = ctx.make_mpf(node._mpf_)
        elif node.is_Rational:
            value = ctx.mpf(int(node.p)) / int(node.q)
        else:  # oo, zoo, nan
            raise ValueError("not a finite number")
    elif node is sp.pi:
        value = ctx.pi
    elif node is sp.E:
        value = ctx.e
    elif node is sp.I:
        value = ctx.mpc(0, 1)
    elif node.is_Add:
        terms = [_walk(a, env, point, memo) for a in node.args]
        value = ctx.fsum(terms)
        largest = max(abs(t) for t in terms)
        if largest and ctx.isfinite(largest) and (
                value == 0 or abs(value) < largest * ctx.mpf(10) ** (_SAFE_DIGITS - ctx.dps)):
            _cancelled[0] = True  # the terms cancelled beyond the working precision
    elif node.is_Mul:
        value = ctx.fprod(_walk(a, env, point, memo) for a in node.args)
    elif node.is_Pow:
        value = _power(node, env, point, memo)
    elif node.func in entire and len(node.args) == 1:
        arg = _walk(node.args[0], env, point, memo)
        if node.func is sp.exp:
            value = _exp(arg)
        else:
            if not ctx.isfinite(arg) or ctx.mag(arg) > _TRIG_MAX_BITS:
                raise _TooBig  # reducing such an argument mod pi takes its digits
            value = getattr(ctx, entire[node.func])(arg)
    elif node.func in real_arg and len(node.args) == 1:
        arg = _walk(node.args[0], env, point, memo)
        if isinstance(arg, ctx.mpc):
            value = _fallback(node, point)
        else:
            value = getattr(ctx, real_arg[node.func])(arg)
            # log(-x) = log(x) + i*pi in both; other complex results could differ in branch.
            if isinstance(value, ctx.mpc) and node.func is not sp.log:
                value = _fallback(node, point)
    elif isinstance(node, sp.Abs):
        value = abs(_walk(node.args[0], env, point, memo))
    else:
        value = _fallback(node, point)
    if value is None:
        raise _Unknown
    memo[node] = value
    return value


def _power(node: Any, env: dict[Any, Any], point: Mapping[Any, Any], memo: dict[Any, Any]) -> Any:
    import sympy as sp

    ctx = _mp()
    base = _walk(node.base, env, point, memo)
    exponent = node.exp
    if exponent.is_Integer:
        n = int(exponent)
        if base == 0 and n < 0:
            raise ZeroDivisionError
        if abs(n) <= _POW_BY_SQUARING:
            return base**n
        power = ctx.mpf(n)
    elif exponent == sp.S.Half:
        return ctx.sqrt(base)
    else:
        power = _walk(exponent, env, point, memo)
    if base == 0:
        if ctx.re(power) > 0:
            return ctx.mpf(0)
        raise ZeroDivisionError
    # base**power = exp(power*log(base)): decide astronomically large or small results
    # without computing them (mpmath would, slowly).
    log_size = ctx.re(power * ctx.ln(base))
    if abs(log_size) > _EXP_LIMIT:
        return ctx.inf if log_size > 0 else ctx.mpf(0)
    return ctx.power(base, power)


def _exp(arg: Any) -> Any:
    """exp, with overflow to infinity and underflow to 0 decided without computing them."""
    ctx = _mp()
    size = ctx.re(arg)
    if size > _EXP_LIMIT:
        return ctx.inf
    if size < -_EXP_LIMIT:
        return ctx.mpf(0)  # below 10**-400000: zero within any tolerance
    return ctx.exp(arg)


def _fallback(node: Any, point: Mapping[Any, Any]) -> Any:
    value = _evalf(node, point)
    if value is None:
        raise _Unknown
    return value
