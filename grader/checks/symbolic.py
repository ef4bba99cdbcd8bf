"""Symbolic answers: sympy expressions compared by random sampling, then by the CAS.

Decision rule of :func:`compare` for one expression (dicts, lists and matrices apply it
entry by entry; shapes and keys must match):

0. **Declare.** Each declared name becomes one ``Symbol``: the reference's own symbol of
   that name (keeping its assumptions), plus the rubric's ``assumptions`` for it (any of
   ``real positive negative nonnegative nonpositive nonzero integer``), plus what its
   ``domain = [low, high]`` implies when no sign is given: ``real``, and ``positive``
   (low > 0), ``nonnegative`` (low >= 0), ``negative`` (high < 0) or ``nonpositive``
   (high <= 0). So the CAS and the sampling work on the same set of values: with
   ``x`` nonnegative, ``sqrt(x**2)`` is ``x``; for a plain ``x`` it is not.
1. **Normalise** both sides. Every free symbol is replaced by the declared symbol of the
   same name (a student's ``Symbol('w', real=True)`` is another object than
   ``Symbol('w')``). Applied undefined functions named in ``functions`` (``sigma(z)``) are
   replaced by their ``Lambda``, then derivatives and substitutions are carried out, so
   ``Derivative(sigma(z), z)`` becomes the explicit derivative. A symbol name that is not
   declared, or an undefined function that is not given, makes the answer NOT equal.
2. **Sample.** Up to ``3 * samples`` candidate points are drawn (``numpy`` generator seeded
   by ``seed``) with exact rational coordinates (multiples of 1/1000) in
   ``domain.get(name, (-2, 2))``, narrowed by the declared symbol's assumptions: positive
   gives (0.1, 2] (or the positive part of an explicit domain), nonnegative, negative and
   nonpositive likewise, nonzero avoids 0; integer symbols take integers (default -5..5,
   1..10 when positive). The first ``samples`` points where the expected value is finite
   and real are kept (if fewer than half of ``samples`` are real, the finite complex ones
   are kept too). Both sides are evaluated there to 30 digits: a whitelist evaluator
   over mpmath for the elementary functions, ``evalf(n=30, subs=...)`` for anything else.
   Where ``|a - e| > atol + rtol * |e|`` (defaults ``rtol=1e-8``, ``atol=1e-12``) the
   point is re-checked with sympy's adaptive ``evalf(n=30, subs=...)``; a point that still
   differs is a counterexample and the answer is NOT equal. Nothing overrules a
   counterexample, not even the CAS. Thirty digits separate near misses far below any
   tolerance (``1.000001 * e`` is caught at the default ``rtol``).
   Identical normalised expressions are equal without sampling.
3. **No counterexample.** When at least 12 distinct points agree (or neither side has a
   free symbol, so the one evaluation is exact enough) the answer is equal ("equal at N
   sample points") and the CAS is skipped: sampling has decided and ``simplify`` could
   only confirm it. Otherwise the CAS is tried: ``e - a`` is tested for zero after
   ``expand`` (skipped when large powers would blow up), ``cancel``, then ``simplify``
   under a budget of 2 s of CPU time (``signal.setitimer``; in a thread other than the
   main one only the cheap steps run). Zero means equal.
4. **CAS undecided.** Equal if at least half of ``samples`` distinct points agreed;
   otherwise undecidable (``equal=None``): the expected value is undefined at too many
   points, or its symbols take too few distinct values (small integer domains).
5. **Form** (only when the check asks, ``form = [...]``): an answer equal by 1-4 must
   also be ``factored`` (a product whose polynomial factors are irreducible over the
   rationals with no integer content, ``2*(x - 1)`` but not ``2*x - 2`` or
   ``(x + 2)*(2*x + 6)``), ``expanded`` (``expand`` leaves it unchanged) or have
   ``no_derivative`` (no unevaluated ``Derivative``, ``Subs`` or ``Integral``), else it
   is NOT equal, with a message saying the value is right but the form is not. Sympy
   evaluates a number times a sum as it builds it, so ``2*(x - 1)`` typed as text is
   read as ``2*x - 2``.

Floats are numbers like any other (``0.099`` equals ``99/1000`` within tolerance).

Other kinds of expected value:

* **Equations** (``Eq``) are equal when ``lhs - rhs`` of both agree up to a nonzero
  constant factor (so swapped sides and scaled equations are equal; ``x**2 = 4`` is not
  ``x = 2``). With one free symbol, an answer that is not an equation (``x >= 1 and
  x <= 1`` for ``x = 1``) is compared by the set it denotes, as below.
* **Inequalities, intervals and sets** are compared by the set of real numbers they
  denote. A relation (``<, <=, >, >=, !=``, ``Eq``, ``And``/``Or``/``Not`` of them) in one
  free symbol is turned into a set by sympy (``as_set``); sets (``Interval``,
  ``FiniteSet``, ``Union``, ``Intersection``, ``EmptySet``, ``Reals``) are taken as they
  are. Two sets are equal when sympy's canonical forms break into the same intervals and
  points, endpoints equal within the tolerance and each endpoint open or closed alike
  (``x > 2``, ``2 < x`` and ``Interval.open(2, oo)`` are one set; ``x >= 2`` is not).
  Finite sets of expressions are matched element by element in any order. Relations in
  several variables are equal when both are the same kind of inequality (``>`` and
  ``<`` counted as one, after moving terms) with ``lhs - rhs`` a *positive* constant
  multiple of each other (any nonzero multiple for ``!=``); otherwise they are NOT equal
  when a sample point (or a point on the expected boundary, found by solving for one
  variable) satisfies one and not the other, and undecidable when neither is found.
* **Systems** (``compare = "system"``): a list of equations (an expression counts as
  ``expr = 0``) stands for its set of solutions in the declared symbols that occur. Both
  lists are solved with ``sympy.solve(..., dict=True)`` under the time budget. Every
  solution of each side (a family, when some unknowns stay free: sampled at several
  points) must satisfy every equation of the other side within the tolerance; a
  solution that does not is a counterexample (NOT equal). With no counterexample the
  systems are equal when both are polynomial (sympy's solutions of those are complete)
  and both could be solved; otherwise undecidable. Multiplicities do not count:
  ``(x - 1)**2 = 0`` and ``x = 1`` have the same solutions.
* **Matrices** are compared entry by entry after their shapes, which must match: a row
  where a column is expected is NOT equal (the hint says transposed); a flat Python
  list, which has no orientation, is read in the orientation of the expected vector.

Text answers are read by :func:`grader.parse.parse_expression` in the check's
``input_syntax`` (``python``, or ``math`` where ``^`` is a power and ``2x`` is ``2*x``),
with the declared symbols and functions as the only names.

Every comparison runs under a budget of 8 s of the grader's CPU time in the main thread
(and 4 times that on the clock, for one that waits instead of computing), so that a
loaded machine does not change a verdict; one that runs out is undecidable, never a
verdict. Results are cached (LRU, 4096 entries) by the structure of
expected, received and every option, so a batch of identical answers is compared once.
"""

from __future__ import annotations

import ast
import functools
import math
import signal
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, replace
from fractions import Fraction
from typing import Any

import numpy as np
import sympy as sp
from sympy.core.function import AppliedUndef
from sympy.logic.boolalg import Boolean, BooleanFunction

from grader.answers import MISSING, CallableAnswer, Rejected
from grader.checks import Comparison, Evidence, absent_result, make_result
from grader.errors import GraderError
from grader.results import CheckResult
from grader.rubric import CheckSpec, Mistake

DEFAULT_RTOL = 1e-8
DEFAULT_ATOL = 1e-12
CONFIDENT_POINTS = 12  # agreeing distinct points that make the CAS unnecessary
CAS_BUDGET = 2.0  # seconds of CPU time for simplify
TIME_BUDGET = 8.0  # seconds of CPU time for one whole comparison (main thread only)
DIGITS = 30
CACHE_SIZE = 4096  # comparisons remembered (see _cached)
MATHML_MAX_CHARS = 50_000  # longer MathML is left out (the report shows the text)

_MAX_FUNCTION_ROUNDS = 30  # nesting depth of sigma(sigma(...)) we unfold
_EXPAND_MAX_OPS = 400
_EXPAND_MAX_POWER = 12
_POW_BY_SQUARING = 10**6  # larger integer exponents go through exp/log
_EXP_LIMIT = 10**6  # |argument| of exp beyond which the result is infinite or zero for us
_EVALF_BUDGET = 1.0  # seconds of CPU time for one sympy evalf at one point
_TRIG_MAX_BITS = 64  # |argument| of sin, cos, ... beyond 2**64 is not evaluated
_MIN_EVALF_BITS = 20  # an evalf result with fewer significant bits is not a value
_UNRESOLVED_ZERO = 1e-50
_SYSTEM_POINTS = 5  # sample points per solution family of a system
_MAX_SOLUTIONS = 50  # more solutions than this: the system is not compared
_SET_LIKE = (sp.Set, sp.core.relational.Relational, BooleanFunction)


class _Refused(Exception):
    """An expression we will not compare (undeclared symbol, unknown function...)."""


class _Timeout(BaseException):
    """A time budget ran out; a BaseException so that sympy's broad handlers let it through."""

    def __init__(self, token: object, *, cpu: bool = True) -> None:
        super().__init__("time budget exceeded")
        self.token = token
        self.cpu = cpu  # the CPU time ran out, not the backstop on the clock


# --------------------------------------------------------------------------- public API


def compare(
    expected: Any,
    received: Any,
    *,
    symbols: Mapping[str, sp.Symbol],
    functions: Mapping[str, sp.Lambda] | None = None,
    domain: Mapping[str, tuple[float, float]] | None = None,
    rtol: float | None = None,
    atol: float | None = None,
    samples: int = 12,
    seed: int = 0,
    assumptions: Mapping[str, str] | None = None,
    input_syntax: str = "python",
    form: tuple[str, ...] | list[str] = (),
    mode: str | None = None,
) -> Comparison:
    """Decide whether ``received`` equals the ``expected`` expression (see module docstring).

    ``symbols`` maps each declared name to its symbol; ``assumptions`` and ``domain`` add
    to those symbols as step 0 says. ``mode="system"`` compares lists of equations by
    their solutions. Never raises: ``equal`` is True, False, or None when undecidable or
    when the grader itself failed (the message says which).
    """
    try:
        declared = declare(symbols, assumptions, domain)
        setup = _Setup.make(declared, functions, domain, rtol, atol, samples, seed,
                            syntax=input_syntax, form=tuple(form), mode=mode)
    except Exception as exc:  # a bad setup is the rubric's or our bug, never the student's
        return _grader_problem(exc)
    return _cached(expected, received, setup,
                   lambda: _guarded(lambda: _compare(expected, received, setup)))[0]


def declare(symbols: Mapping[str, Any], assumptions: Mapping[str, str] | None = None,
            domain: Mapping[str, tuple[float, float]] | None = None) -> dict[str, sp.Symbol]:
    """The declared symbols: given ones (or names), plus assumptions and domain signs.

    Raises ``ValueError`` for an assumption sympy does not know and sympy's own error for
    contradictory ones; both are rubric errors, caught at load time by the rubric loader.
    """
    from grader.rubric import ASSUMPTIONS

    out: dict[str, sp.Symbol] = {}
    for name, given in symbols.items():
        symbol = given if isinstance(given, sp.Symbol) else sp.Symbol(str(name))
        words = (assumptions or {}).get(name, "").split()
        unknown = [w for w in words if w not in ASSUMPTIONS]
        if unknown:
            raise ValueError(f"unknown assumption {unknown[0]!r} for {name}; allowed: "
                             f"{', '.join(ASSUMPTIONS)}")
        extra = dict.fromkeys(words, True)
        bounds = (domain or {}).get(name)
        signs = ("positive", "negative", "nonnegative", "nonpositive")
        signed = any(w in extra for w in signs) or any(
            getattr(symbol, f"is_{w}") is True for w in signs)
        if bounds is not None:
            extra.setdefault("real", True)
            low, high = float(bounds[0]), float(bounds[1])
            if not signed:
                if low > 0:
                    extra["positive"] = True
                elif low >= 0:
                    extra["nonnegative"] = True
                elif high < 0:
                    extra["negative"] = True
                elif high <= 0:
                    extra["nonpositive"] = True
        if extra:
            kept = {k: v for k, v in symbol.assumptions0.items()
                    if k in ASSUMPTIONS and v is True}
            symbol = sp.Symbol(str(name), **{**kept, **extra})
        out[str(name)] = symbol
    return out


def grade(spec: CheckSpec, evidence: Evidence, max_score: float) -> CheckResult:
    """Grade a symbolic answer: equality, then known mistakes and per-key partial credit."""
    received = evidence.received
    absent = absent_result(spec, received, max_score)
    if absent is not None:
        return absent
    received_text = _display(received)
    try:
        return _grade(spec, evidence, max_score, received, received_text)
    except Exception as exc:  # grading must never raise; reaching here is our bug
        return make_result(
            spec, max_score, fraction=0.0, status="error", received=received_text,
            message=f"The grader failed on this check (a grader problem, not your answer): "
            f"{type(exc).__name__}: {exc}")


def numeric_value(expr: Any) -> float | complex | None:
    """The value of a constant sympy expression as a Python number, without lambdify.

    Evaluated to 30 digits by the same guarded evaluator as the sampling (overflow gives
    ``inf``, a huge ``exp`` is not computed); None when undefined, not constant, or too
    costly (a time budget in the main thread).
    """
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


def mathml(value: Any) -> str | None:
    """Presentation MathML of a sympy value (a dict of them as a two-column table).

    None for anything else, or when sympy's printer fails or the markup is too long. The
    markup is not sanitised here: the report does that before showing it.
    """
    try:
        if isinstance(value, Mapping):
            rows = []
            for key, item in value.items():
                cell = mathml(item)
                if cell is None:
                    return None
                name = _xml_text(str(_key(key)))
                rows.append(f"<mtr><mtd><mtext>{name}</mtext></mtd><mtd><mo>:</mo></mtd>"
                            f"<mtd>{cell}</mtd></mtr>")
            text = f"<mtable>{''.join(rows)}</mtable>"
        elif isinstance(value, sp.Basic | sp.MatrixBase):
            text = _mathml_cached(_structure(value), value)
        else:
            return None
    except Exception:  # the printer is third-party code on odd input; the text suffices
        return None
    return text if len(text) <= MATHML_MAX_CHARS else None


def _mathml_cached(key: Any, value: Any) -> str:
    """sympy's presentation MathML, remembered by the value's structure."""
    if key is None:
        return str(sp.printing.mathml(value, printer="presentation", order="none"))
    return _printed(key, value, "mathml")


@functools.lru_cache(maxsize=2048)
def _printed_cached(key: Any, how: str) -> str:
    value = key[-1]  # ("sympy", type name, value) or ("matrix", value)
    if how == "mathml":
        return str(sp.printing.mathml(value, printer="presentation", order="none"))
    return str(sp.sstr(value, order="none"))


def _printed(key: Any, value: Any, how: str) -> str:
    """Printing is the slow part of a result: sympy's printers, cached by structure.

    ``order="none"`` prints terms in sympy's own stored order instead of sorting them
    again, which is deterministic for equal values and several times faster.
    """
    try:
        return _printed_cached(key, how)
    except TypeError:  # an unhashable part after all: print without the cache
        printer = sp.printing.mathml if how == "mathml" else sp.sstr
        return str(printer(value, order="none"))


def _xml_text(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


# --------------------------------------------------------------------------- setup


@dataclass(frozen=True)
class _Setup:
    """Everything a comparison depends on besides the two values; hashable for caches."""

    symbols: tuple[tuple[str, sp.Symbol], ...]  # in the caller's order (for messages)
    functions: tuple[tuple[str, sp.Lambda], ...]
    domain: tuple[tuple[str, tuple[float, float]], ...]
    rtol: float
    atol: float
    samples: int
    seed: int
    syntax: str = "python"
    form: tuple[str, ...] = ()
    mode: str | None = None

    @staticmethod
    def make(symbols: Mapping[str, sp.Symbol], functions: Mapping[str, sp.Lambda] | None,
             domain: Mapping[str, tuple[float, float]] | None, rtol: float | None,
             atol: float | None, samples: int, seed: int, *, syntax: str = "python",
             form: tuple[str, ...] = (), mode: str | None = None) -> _Setup:
        from grader.rubric import COMPARE_MODES, FORMS, INPUT_SYNTAXES

        if syntax not in INPUT_SYNTAXES:
            raise ValueError(f"input_syntax must be one of {', '.join(INPUT_SYNTAXES)}")
        if any(f not in FORMS for f in form):
            raise ValueError(f"form must list some of {', '.join(FORMS)}")
        if mode is not None and mode not in COMPARE_MODES:
            raise ValueError(f"compare must be one of {', '.join(COMPARE_MODES)}")
        return _Setup(
            symbols=tuple((str(k), v) for k, v in symbols.items()),
            functions=tuple(sorted((functions or {}).items())),
            domain=tuple(sorted((k, (float(v[0]), float(v[1])))
                                for k, v in (domain or {}).items())),
            rtol=DEFAULT_RTOL if rtol is None else float(rtol),
            atol=DEFAULT_ATOL if atol is None else float(atol),
            samples=max(1, int(samples)),
            seed=int(seed),
            syntax=syntax,
            form=tuple(form),
            mode=mode,
        )

    @property
    def declared(self) -> dict[str, sp.Symbol]:
        return dict(self.symbols)

    @property
    def names(self) -> str:
        return ", ".join(name for name, _ in self.symbols) or "(none)"


def _grader_problem(exc: BaseException) -> Comparison:
    return Comparison(equal=None, message=f"the grader failed to compare this answer (a grader "
                      f"problem, not your answer): {type(exc).__name__}: {exc}")


def _guarded(run: Callable[[], Comparison | tuple[Comparison, Any]]) -> tuple[Comparison, Any]:
    """Run a comparison under the time budget, turning every failure into a Comparison."""
    try:
        with _time_limit(TIME_BUDGET):
            out = run()
    except _Timeout as exc:
        # Ours, or one of our inner budgets that escaped at a boundary: either way the
        # answer is undecided, never a verdict, and compare() never raises.
        spent = (f"more than {TIME_BUDGET:g} s of CPU time" if exc.cpu
                 else f"not done within {TIME_BUDGET * WALL_FACTOR:g} s")
        return Comparison(equal=None, message=f"{_TOO_LONG} ({spent}); it needs a human"), None
    except RecursionError:
        return Comparison(equal=None, message="the expression is nested too deeply to "
                          "check; it needs a human"), None
    except Exception as exc:  # a comparison must never raise; this is our bug
        return _grader_problem(exc), None
    return out if isinstance(out, tuple) else (out, None)


# --------------------------------------------------------------------------- cache


_CACHE: OrderedDict[Any, tuple[Comparison, Any]] = OrderedDict()
_CACHE_LOCK = threading.Lock()


def _cached(expected: Any, received: Any, setup: _Setup,
            run: Callable[[], tuple[Comparison, Any]]) -> tuple[Comparison, Any]:
    """``run()``, remembered by the structure of both values and the setup (an LRU).

    Sympy objects are keys by their structure (sympy's own ``==`` and hash, which see
    types, arguments and symbol assumptions); other values by type and value. A value
    with no such key (an unknown object) is compared without the cache.
    """
    key = _structure(expected), _structure(received), setup
    if key[0] is None or key[1] is None:
        return run()
    with _CACHE_LOCK:
        hit = _CACHE.get(key)
        if hit is not None:
            _CACHE.move_to_end(key)
            return hit
    out = run()
    with _CACHE_LOCK:
        _CACHE[key] = out
        while len(_CACHE) > CACHE_SIZE:
            _CACHE.popitem(last=False)
    return out


def clear_cache() -> None:
    """Forget every cached comparison (for benchmarks and tests)."""
    with _CACHE_LOCK:
        _CACHE.clear()


def _structure(value: Any, depth: int = 0) -> Any:
    """A hashable stand-in for a value that is equal exactly when the values are alike."""
    if depth > 20:
        return None
    if isinstance(value, sp.MatrixBase):
        return ("matrix", sp.ImmutableMatrix(value))
    if isinstance(value, sp.Basic):
        return ("sympy", type(value).__name__, value)
    if isinstance(value, str | bool | int | float | complex | Fraction) or value is None:
        return (type(value).__name__, value)
    if isinstance(value, np.generic):
        return ("np", value.dtype.str, value.item())
    if isinstance(value, np.ndarray):
        if value.dtype.kind not in "biufc" or value.size > 100_000:
            return None
        return ("ndarray", value.dtype.str, value.shape, value.tobytes())
    if isinstance(value, Mapping):
        items = [(_structure(k, depth + 1), _structure(v, depth + 1)) for k, v in value.items()]
        return None if any(k is None or v is None for k, v in items) else ("dict", tuple(items))
    if isinstance(value, list | tuple):
        parts = [_structure(v, depth + 1) for v in value]
        return None if any(p is None for p in parts) else (type(value).__name__, tuple(parts))
    if isinstance(value, Rejected | CallableAnswer) or value is MISSING:
        return ("other", repr(value))
    return None


# --------------------------------------------------------------------------- time budget


_TOO_LONG = "the answer took too long to check"
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


def _on_alarm(signum: int, frame: Any) -> None:
    now = [clock() for _, _, clock, _ in _CLOCKS]
    for ends, token in _deadlines:  # the outermost expired budget wins
        for i, end in enumerate(ends):
            if now[i] >= end - 1e-4:
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


# --------------------------------------------------------------------------- comparing


def _compare(expected: Any, received: Any, setup: _Setup) -> Comparison:
    if setup.mode == "system":
        return _compare_system(expected, received, setup)
    if isinstance(expected, Mapping):
        return _compare_dict(expected, received, setup)[0]
    if isinstance(expected, np.ndarray) and expected.ndim > 0:
        expected = (sp.ImmutableMatrix(expected.tolist()) if expected.ndim == 2
                    else list(expected.tolist()))
    if isinstance(expected, list | tuple):
        return _compare_sequence(list(expected), received, setup)
    e = _expected_object(expected, setup)
    if isinstance(e, Comparison):
        return e
    if isinstance(e, list | sp.Tuple):  # text such as "[x, 2*x]" or "(1, 2)"
        return _compare_sequence(list(e), received, setup)
    a = _received_object(received, setup,
                         shape=e.shape if isinstance(e, sp.MatrixBase) else None)
    if isinstance(a, Comparison):
        return a
    if isinstance(e, sp.MatrixBase):
        return _compare_matrix(e, a, setup)
    if isinstance(e, sp.Equality):
        return _compare_equation(e, a, setup)
    if isinstance(e, _SET_LIKE) or e is sp.true or e is sp.false:
        return _compare_sets(e, a, setup)
    if isinstance(e, sp.Expr):
        return _compare_expression(e, a, setup,
                                   text=received if isinstance(received, str) else None)
    if isinstance(e, sp.Basic):
        return _compare_structure(e, a, setup)
    return Comparison(equal=None, message=f"the grader cannot compare an expected value of "
                      f"type {type(expected).__name__} (a grader problem)")


def _key(key: Any) -> Any:
    """Dict keys as students write them: a sympy Symbol key counts as its name."""
    return key.name if isinstance(key, sp.Symbol) else key


def _compare_dict(expected: Mapping[Any, Any], received: Any,
                  setup: _Setup) -> tuple[Comparison, dict[Any, Comparison]]:
    """Compare per key; also return each present key's Comparison (for partial credit)."""
    if not isinstance(received, Mapping):
        keys = ", ".join(repr(_key(k)) for k in expected)
        return Comparison(equal=False, message=f"expected a dict with keys {keys}, got "
                          f"{_describe(received)}"), {}
    exp = {_key(k): v for k, v in expected.items()}
    got = {_key(k): v for k, v in received.items()}
    missing = [k for k in exp if k not in got]
    extra = [k for k in got if k not in exp]
    per_key = {k: _compare_one(exp[k], got[k], setup) for k in exp if k in got}
    wrong = [k for k, c in per_key.items() if c.equal is False]
    undecided = [k for k, c in per_key.items() if c.equal is None]
    if not (missing or extra or wrong):
        if undecided:
            k = undecided[0]
            return Comparison(equal=None, message=f"at key {k!r}: "
                              f"{per_key[k].message}"), per_key
        return Comparison(equal=True, message=f"all {len(exp)} keys are equal"), per_key
    parts = []
    if wrong:
        parts.append("wrong: " + ", ".join(repr(k) for k in wrong))
    if missing:
        parts.append("missing keys: " + ", ".join(repr(k) for k in missing))
    if extra:
        parts.append("extra keys: " + ", ".join(repr(k) for k in extra))
    message = "; ".join(parts)
    hint = ""
    if wrong:
        message += f" (at key {wrong[0]!r}: {per_key[wrong[0]].message})"
        first = per_key[wrong[0]].hint
        hint = f"{wrong[0]}: {first}" if first else ""
    elif missing and extra:
        hint = "the keys are named differently"
    return Comparison(equal=False, message=message, hint=hint), per_key


def _compare_one(expected: Any, received: Any, setup: _Setup) -> Comparison:
    """One key of a dict (cached): a failure of ours there leaves the other keys decided."""

    def run() -> tuple[Comparison, Any]:
        try:
            return _compare(expected, received, setup), None
        except RecursionError:
            return Comparison(equal=None, message="the expression is nested too deeply to "
                              "check"), None
        except Exception as exc:  # our bug, confined to this key
            return _grader_problem(exc), None

    return _cached(expected, received, setup, run)[0]


def _compare_sequence(expected: list[Any], received: Any, setup: _Setup) -> Comparison:
    if isinstance(received, str):
        parsed = _received_object(received, setup, shape=None)
        if isinstance(parsed, Comparison):
            return parsed
        received = parsed
    if isinstance(received, np.ndarray) and received.ndim > 0:
        received = received.tolist()
    if isinstance(received, sp.MatrixBase) and 1 in received.shape:
        received = list(received)
    if isinstance(received, sp.Tuple):
        received = list(received.args)
    if not isinstance(received, list | tuple):
        return Comparison(equal=False, message=f"expected {len(expected)} values, got "
                          f"{_describe(received)}")
    if len(received) != len(expected):
        return Comparison(equal=False, message=f"expected {len(expected)} values, got "
                          f"{len(received)}", hint=f"{len(received)} values instead of "
                          f"{len(expected)}")
    undecided = None
    for i, (e, a) in enumerate(zip(expected, received, strict=True)):
        c = _compare(e, a, setup)
        if c.equal is False:
            return Comparison(equal=False, message=f"element {i}: {c.message}", hint=c.hint)
        if c.equal is None and undecided is None:
            undecided = Comparison(equal=None, message=f"element {i}: {c.message}")
    return undecided or Comparison(equal=True, message=f"all {len(expected)} values are equal")


def _expected_object(expected: Any, setup: _Setup) -> Any:
    """The expected value as a sympy object, or a Comparison saying why it cannot be."""
    if isinstance(expected, str):
        try:
            return _parse(expected, setup)
        except GraderError as exc:
            return Comparison(equal=None, message=f"the expected expression {expected!r} "
                              f"cannot be read (a grader problem): {exc}")
    converted = _sympify_plain(expected)
    if converted is None:
        return Comparison(equal=None, message=f"the grader cannot compare an expected value "
                          f"of type {type(expected).__name__} (a grader problem)")
    return converted


def _received_object(received: Any, setup: _Setup, *,
                     shape: tuple[int, int] | None) -> Any:
    """The received value as a sympy object, or a not-equal Comparison naming what it is.

    ``shape`` is the expected matrix's: lists (and text read as a list) become matrices
    of rows, and a flat list takes the orientation of an expected vector.
    """
    if isinstance(received, str):
        try:
            received = _parse(received, setup)
        except GraderError as exc:
            return Comparison(equal=False, message=f"could not read the expression "
                              f"{_short(received)}: {exc}")
        if shape is None:
            return received
    if shape is not None and isinstance(received, list | tuple | np.ndarray | sp.Tuple):
        try:
            rows = _matrix_rows(received)
        except (_Refused, ValueError, TypeError) as exc:
            return Comparison(equal=False, message=f"expected a matrix, got "
                              f"{_describe(received)} ({exc})")
        flat = bool(rows) and all(len(r) == 1 for r in rows) and not _nested(received)
        if flat and shape[0] == 1 and shape[1] == len(rows):
            rows = [[r[0] for r in rows]]  # a flat list has no orientation: a row here
        return sp.ImmutableMatrix(rows)
    converted = _sympify_plain(received)
    if converted is None:
        return Comparison(equal=False, message=f"expected an expression, got "
                          f"{_describe(received)}")
    return converted


def _nested(value: Any) -> bool:
    items = value.tolist() if isinstance(value, np.ndarray) else list(value)
    return any(isinstance(v, list | tuple | np.ndarray | sp.Tuple) for v in items)


def _sympify_plain(value: Any) -> Any:
    """Plain data as a sympy object without parsing anything; None when not possible."""
    if isinstance(value, bool | np.bool_) or value is None:
        return None
    if isinstance(value, np.ndarray) and value.ndim == 0 and value.dtype.kind in "iufc":
        return _sympify_plain(value[()])
    if isinstance(value, sp.MatrixBase):
        return sp.ImmutableMatrix(value)
    if isinstance(value, sp.Basic):
        return value
    if isinstance(value, int | np.integer):
        return sp.Integer(int(value))
    if isinstance(value, Fraction):
        return sp.Rational(value.numerator, value.denominator)
    if isinstance(value, float | np.floating):
        return _float(float(value))
    if isinstance(value, complex | np.complexfloating):
        z = complex(value)
        return _float(z.real) + sp.I * _float(z.imag)
    return None


def _float(x: float) -> Any:
    if math.isnan(x):
        return sp.nan
    if math.isinf(x):
        return sp.oo if x > 0 else -sp.oo
    return sp.Float(x)


def _matrix_rows(value: Any) -> list[list[Any]]:
    if isinstance(value, np.ndarray):
        rows = value.tolist()
    elif isinstance(value, sp.Tuple):
        rows = list(value.args)
    else:
        rows = list(value)
    if rows and not isinstance(rows[0], list | tuple | np.ndarray | sp.Tuple):
        rows = [[v] for v in rows]  # a flat list is a column vector
    out = []
    for row in rows:
        if not isinstance(row, list | tuple | np.ndarray | sp.Tuple):
            raise _Refused("rows of different kinds")
        items = (row.tolist() if isinstance(row, np.ndarray)
                 else list(row.args) if isinstance(row, sp.Tuple) else row)
        entries = []
        for v in items:
            s = _sympify_plain(v)
            if s is None or not isinstance(s, sp.Expr):
                raise _Refused(f"an entry that is {_describe(v)}")
            entries.append(s)
        out.append(entries)
    if any(len(r) != len(out[0]) for r in out):
        raise _Refused("rows of different lengths")
    return out


def _compare_matrix(e: Any, a: Any, setup: _Setup) -> Comparison:
    if not isinstance(a, sp.MatrixBase):
        return Comparison(equal=False, message=f"expected a {_shape(e)} matrix, got "
                          f"{_describe(a)}")
    if a.shape != e.shape:
        hint = f"a {_shape(a)} matrix instead of {_shape(e)}"
        if a.shape == e.shape[::-1] and _all_entries_equal(e, a.T, setup):
            hint = "transposed" + (" (a row where a column is expected, or back)"
                                   if 1 in e.shape else "")
        return Comparison(equal=False, message=f"expected a {_shape(e)} matrix, got a "
                          f"{_shape(a)} matrix", hint=hint)
    undecided = None
    rows, cols = e.shape
    for i in range(rows):
        for j in range(cols):
            c = _compare_expression(e[i, j], a[i, j], setup)
            if c.equal is False:
                return Comparison(equal=False, message=f"entry ({i}, {j}): {c.message}",
                                  hint=c.hint or f"entry ({i}, {j})")
            if c.equal is None and undecided is None:
                undecided = Comparison(equal=None, message=f"entry ({i}, {j}): {c.message}")
    return undecided or Comparison(equal=True, message=f"all {rows * cols} entries are equal")


def _all_entries_equal(e: Any, a: Any, setup: _Setup) -> bool:
    try:
        return all(_compare_expression(e[i, j], a[i, j], setup).equal is True
                   for i in range(e.shape[0]) for j in range(e.shape[1]))
    except Exception:  # only a hint
        return False


def _shape(m: Any) -> str:
    return f"{m.shape[0]}x{m.shape[1]}"


def _compare_structure(e: Any, a: Any, setup: _Setup) -> Comparison:
    """Other sympy objects: equal only if the same after normalising."""
    try:
        e_n = _normalise(e, setup)
    except _Refused as exc:
        return Comparison(equal=None, message=f"the expected answer {exc} (a grader problem)")
    if not isinstance(a, sp.Basic):
        return Comparison(equal=False, message=f"expected {_display(e)}, got {_describe(a)}")
    try:
        a_n = _normalise(a, setup)
    except _Refused as exc:
        return Comparison(equal=False, message=f"the answer {exc}")
    if e_n == a_n:
        return Comparison(equal=True, message="identical")
    return Comparison(equal=False, message=f"expected {_display(e_n)}, got {_display(a_n)}")


# --------------------------------------------------------------------------- normalising


def _normalise(expr: Any, setup: _Setup) -> Any:
    """Declared symbols, functions expanded, derivatives done; raises _Refused."""
    return _normalise_cached(expr, setup)


@functools.lru_cache(maxsize=512)
def _normalise_cached(expr: Any, setup: _Setup) -> Any:
    declared = setup.declared
    functions = dict(setup.functions)
    # Merge same-named symbols first, so that a derivative by the student's w acts on
    # every w of the expression.
    mapping = {s: declared[s.name] for s in expr.free_symbols
               if isinstance(s, sp.Symbol) and s.name in declared and s != declared[s.name]}
    if mapping:
        expr = expr.xreplace(mapping)
    for _ in range(_MAX_FUNCTION_ROUNDS):
        applied = expr.atoms(AppliedUndef)
        if not applied:
            break
        replace = {}
        for f in applied:
            name = f.func.__name__
            lam = functions.get(name)
            if lam is None:
                allowed = ", ".join(functions) or "none are allowed here"
                raise _Refused(f"uses the function '{name}', which is not among the given "
                               f"functions ({allowed})")
            if len(f.args) not in lam.nargs:
                raise _Refused(f"calls '{name}' with {len(f.args)} arguments")
            replace[f] = lam(*f.args)
        expr = expr.xreplace(replace)
    else:
        raise _Refused("nests functions too deeply")
    if expr.has(sp.Derivative, sp.Subs):
        expr = expr.replace(lambda n: isinstance(n, sp.Derivative | sp.Subs),
                            lambda n: n.doit())
    free = expr.free_symbols
    for s in sorted(free, key=str):
        if not isinstance(s, sp.Symbol):
            raise _Refused(f"uses {sp.sstr(s)!r}, which is not a plain symbol")
        if s.name not in declared:
            raise _Refused(f"uses symbol '{s.name}' which is not among {setup.names}")
    mapping = {s: declared[s.name] for s in free if s != declared[s.name]}
    return expr.xreplace(mapping) if mapping else expr


# --------------------------------------------------------------------------- expressions


def _compare_expression(e: Any, a: Any, setup: _Setup, *, text: str | None = None) -> Comparison:
    if not isinstance(a, sp.Expr) or isinstance(a, sp.MatrixBase):
        return Comparison(equal=False, message=f"expected an expression, got {_describe(a)}")
    try:
        e_n = _normalise(e, setup)
    except _Refused as exc:
        return Comparison(equal=None, message=f"the expected answer {exc} (a grader problem)")
    try:
        a_n = _normalise(a, setup)
    except _Refused as exc:
        return Comparison(equal=False, message=f"the answer {exc}")
    return _with_form(_compare_values(e_n, a_n, setup), a, setup, text)


def _compare_values(e_n: Any, a_n: Any, setup: _Setup) -> Comparison:
    """Steps 2-4 of the decision rule on normalised expressions."""
    if e_n == a_n:
        return Comparison(equal=True, message="identical")
    sampled = _sample(e_n, a_n, setup)
    if sampled.counterexample:
        return Comparison(equal=False, message=sampled.counterexample, hint=sampled.hint)
    difference = _exact_difference(e_n, a_n)
    if difference is not None:
        # Exact rational functions whose difference is not zero: the tolerance hid it.
        return Comparison(equal=False, message=f"differs from the expected answer by exactly "
                          f"{_display(difference, 200)} (within the tolerance at the sample "
                          "points, but not zero)", hint="a small exact difference")
    if sampled.exact or sampled.distinct >= CONFIDENT_POINTS:
        return Comparison(equal=True, message=sampled.agreement)
    if _cas_zero(e_n - a_n):
        return Comparison(equal=True, message="equal (proved by simplification)")
    if sampled.distinct >= math.ceil(setup.samples / 2):
        return Comparison(equal=True, message=sampled.agreement)
    return Comparison(equal=None, message=sampled.undecided)


def _exact_difference(e_n: Any, a_n: Any) -> Any:
    """``e - a`` when both are rational functions over the rationals and it is not zero.

    ``cancel`` gives a canonical form of such a difference, so a nonzero result proves
    the answers differ, even when the tolerance hides it at every sample point (a
    constant off by one in a polynomial of size 1e13). Anything else (floats, radicals,
    pi, functions) gives None: there the tolerance rules.
    """
    if not (_exact_rational(e_n) and _exact_rational(a_n)):
        return None
    if any(s.is_integer for s in e_n.free_symbols | a_n.free_symbols):
        return None  # a polynomial may vanish on every integer a domain allows
    if not _expandable(e_n - a_n):
        return None
    found: list[Any] = []
    with _budget(CAS_BUDGET):
        found.append(sp.cancel(e_n - a_n))
    if not found or found[0] == 0:
        return None
    return found[0]


def _exact_rational(expr: Any) -> bool:
    symbols = expr.free_symbols
    for node in sp.preorder_traversal(expr):
        if node.is_Symbol:
            continue
        if node.is_Number:
            if not node.is_Rational:
                return False
            continue
        if node.is_Add or node.is_Mul:
            continue
        if node.is_Pow and node.exp.is_Integer and node.base.free_symbols:
            continue
        return False
    return bool(symbols)


def _compare_equation(e: Any, a: Any, setup: _Setup) -> Comparison:
    if a is sp.true or a is sp.false:
        return Comparison(equal=False, message=f"expected an equation, got one that sympy "
                          f"evaluated to {a}")
    if not isinstance(a, sp.Equality):
        if isinstance(a, _SET_LIKE) and len(_free_names(e) | _free_names(a)) == 1:
            return _compare_sets(e, a, setup)  # x = 1 against 1 <= x <= 1: the same set
        return Comparison(equal=False, message=f"expected an equation (Eq), got "
                          f"{_describe(a)}")
    try:
        d_e = _normalise(e.lhs - e.rhs, setup)
    except _Refused as exc:
        return Comparison(equal=None, message=f"the expected answer {exc} (a grader problem)")
    try:
        d_a = _normalise(a.lhs - a.rhs, setup)
    except _Refused as exc:
        return Comparison(equal=False, message=f"the answer {exc}")
    if d_e == d_a or d_e == -d_a:
        return Comparison(equal=True, message="the same equation")
    sampled = _sample(d_e, d_a, setup, proportional=True)
    if sampled.counterexample:
        return Comparison(equal=False, message="not equivalent to the expected equation "
                          f"(lhs - rhs is not a constant multiple of the expected one): "
                          f"{sampled.counterexample}")
    if sampled.exact or sampled.distinct >= CONFIDENT_POINTS:
        return Comparison(equal=True, message="an equivalent equation (" + sampled.agreement
                          + ")")
    if _cas_constant_ratio(d_a, d_e):
        return Comparison(equal=True, message="an equivalent equation (proved by "
                          "simplification)")
    if sampled.distinct >= math.ceil(setup.samples / 2):
        return Comparison(equal=True, message="an equivalent equation (" + sampled.agreement
                          + ")")
    return Comparison(equal=None, message=sampled.undecided)


def _free_names(obj: Any) -> set[str]:
    return {s.name for s in getattr(obj, "free_symbols", ()) if isinstance(s, sp.Symbol)}


# --------------------------------------------------------------------------- form


def _with_form(comparison: Comparison, raw: Any, setup: _Setup,
               text: str | None = None) -> Comparison:
    """An equal answer must also have the form the check asks for (step 5).

    A typed answer is judged on how it is written (its syntax tree), since sympy would
    multiply ``2*(x - 1)`` out while building it; a sympy object on its own structure.
    """
    if comparison.equal is not True or not setup.form:
        return comparison
    problem = _form_problem(raw, setup.form, text, setup)
    if problem is None:
        return Comparison(equal=None, message="equal in value, but the grader could not "
                          f"check its form ({', '.join(setup.form)}) in time")
    if problem:
        return Comparison(equal=False, message=f"equal in value, but {problem}",
                          hint=f"the value is right; the form is not ({problem})")
    return comparison


def _form_problem(expr: Any, forms: tuple[str, ...], text: str | None = None,
                  setup: _Setup | None = None) -> str | None:
    """What breaks the required form ("" when nothing does; None when undecided)."""
    tree = _written(text, setup) if text is not None and setup is not None else None
    for form in forms:
        if form == "no_derivative" and expr.has(sp.Derivative, sp.Subs, sp.Integral):
            return "it still contains an unevaluated derivative or integral"
        if tree is not None and form == "expanded":
            if _written_unexpanded(tree[0]):
                return "it is not expanded"
            continue
        if tree is not None and setup is not None and form == "factored":
            verdict = _written_factored(tree[0], tree[1], setup)
            if verdict is None:
                return None
            if not verdict:
                return "it is not fully factored"
            continue
        if form == "expanded":
            expanded = _timed(lambda: sp.expand(expr))
            if expanded is None:
                return None
            if expanded != expr:
                return "it is not expanded"
        if form == "factored":
            factored = _timed(lambda: _is_factored(expr))
            if factored is None:
                return None
            if not factored:
                return "it is not fully factored"
    return ""


def _timed(run: Callable[[], Any]) -> Any:
    """``run()`` under the CAS budget; None when it ran out."""
    out = None
    with _budget(CAS_BUDGET):
        out = run()
    return out


def _written(text: str, setup: _Setup) -> tuple[Any, str] | None:
    """The syntax tree of a typed answer and its (rewritten) text; None if unavailable."""
    from grader.parse import expression_syntax

    try:
        return expression_syntax(text, syntax=setup.syntax)
    except (SyntaxError, ValueError, RecursionError, MemoryError):
        return None


def _is_sum(node: Any) -> bool:
    while isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.UAdd | ast.USub):
        node = node.operand
    return isinstance(node, ast.BinOp) and isinstance(node.op, ast.Add | ast.Sub)


def _written_unexpanded(root: Any) -> bool:
    """Whether the written answer multiplies out a sum (outside function calls)."""
    stack = [root]
    while stack:
        node = stack.pop()
        if isinstance(node, ast.BinOp):
            if isinstance(node.op, ast.Mult) and (_is_sum(node.left) or _is_sum(node.right)):
                return True
            if isinstance(node.op, ast.Div) and _is_sum(node.left):
                return True  # (x + 1)/2 is x/2 + 1/2 expanded
            if isinstance(node.op, ast.Pow) and _is_sum(node.left) and isinstance(
                    node.right, ast.Constant) and isinstance(node.right.value, int) and (
                    node.right.value >= 2):
                return True
            stack.extend((node.left, node.right))
        elif isinstance(node, ast.UnaryOp):
            if isinstance(node.op, ast.USub) and _is_sum(node.operand):
                return True
            stack.append(node.operand)
    return False


def _written_factors(node: Any) -> Iterator[Any]:
    """The factors of a written product: through ``*``, ``/``, signs and integer powers."""
    if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Mult | ast.Div):
        yield from _written_factors(node.left)
        yield from _written_factors(node.right)
    elif isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.UAdd | ast.USub):
        yield from _written_factors(node.operand)
    elif isinstance(node, ast.BinOp) and isinstance(node.op, ast.Pow) and isinstance(
            node.right, ast.Constant) and isinstance(node.right.value, int):
        yield from _written_factors(node.left)
    else:
        yield node


def _written_factored(root: Any, source: str, setup: _Setup) -> bool | None:
    """Every written sum factor is irreducible with no integer content left to take out."""
    for factor in _written_factors(root):
        if not _is_sum(factor):
            continue
        segment = ast.get_source_segment(source, factor)
        if segment is None:
            return None
        try:
            value = _parse_cached(segment, setup.symbols, setup.functions, "python")
        except GraderError:
            return None
        verdict = _timed(functools.partial(_is_factored, value))
        if verdict is None:
            return None
        if not verdict:
            return False
    return True


def _is_factored(expr: Any) -> bool:
    """A product of irreducible factors over the rationals, with no integer content left."""
    for factor in sp.Mul.make_args(expr):
        base = factor.base if factor.is_Pow and factor.exp.is_Integer else factor
        if base.is_number or not base.is_Add:
            continue
        try:
            content, parts = sp.factor_list(base)
        except (sp.PolynomialError, sp.GeneratorsNeeded, NotImplementedError):
            return False  # a sum that is not a polynomial (x - 4 + 4/x) is not a product
        if len(parts) != 1 or parts[0][1] != 1:
            return False
        if content.is_Integer and abs(content) != 1:
            return False  # 2*x - 2: the 2 can still come out
    return True


# --------------------------------------------------------------------------- sets


def _compare_sets(e: Any, a: Any, setup: _Setup) -> Comparison:
    """Inequalities, intervals and sets by the set of reals they denote (see the docstring)."""
    try:
        e_n = _normalise(e, setup)
    except _Refused as exc:
        return Comparison(equal=None, message=f"the expected answer {exc} (a grader problem)")
    if not isinstance(a, sp.Basic) or isinstance(a, sp.MatrixBase):
        return Comparison(equal=False, message=f"expected {_what_set(e)}, got "
                          f"{_describe(a)}")
    try:
        a_n = _normalise(a, setup)
    except _Refused as exc:
        return Comparison(equal=False, message=f"the answer {exc}")
    if e_n == a_n:
        return Comparison(equal=True, message="identical")
    if not (isinstance(a_n, _SET_LIKE) or a_n in (sp.true, sp.false)):
        return Comparison(equal=False, message=f"expected {_what_set(e_n)}, got "
                          f"{_describe(a)}")
    if isinstance(e_n, sp.FiniteSet) and isinstance(a_n, sp.FiniteSet) and (
            _pieces(e_n) is None or _pieces(a_n) is None):
        return _compare_finite_sets(e_n, a_n, setup)
    free = sorted(e_n.free_symbols | a_n.free_symbols, key=str)
    if len(free) > 1:
        if isinstance(e_n, sp.Set) or isinstance(a_n, sp.Set):
            return Comparison(equal=False, message=f"expected {_what_set(e_n)}, got "
                              f"{_describe(a)}")
        return _compare_conditions(e_n, a_n, free, setup)
    var = free[0] if free else None
    e_set, a_set = _as_real_set(e_n, var), _as_real_set(a_n, var)
    if e_set is None:
        return Comparison(equal=None, message=f"the grader could not turn the expected "
                          f"{_display(e_n)} into a set of numbers")
    if a_set is None:
        return Comparison(equal=None, message=f"could not turn {_display(a_n)} into a set of "
                          "numbers to compare")
    return _compare_real_sets(e_set, a_set, setup)


def _what_set(obj: Any) -> str:
    return f"the set {_display(obj)}" if isinstance(obj, sp.Set) else (
        f"the condition {_display(obj)}")


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
        return Comparison(equal=True, message="the same set")
    e_parts, a_parts = _pieces(e_set), _pieces(a_set)
    if e_parts is None or a_parts is None:
        if isinstance(e_set, sp.FiniteSet) and isinstance(a_set, sp.FiniteSet):
            return _compare_finite_sets(e_set, a_set, setup)
        return Comparison(equal=None, message=f"could not compare the set {_display(a_set)} "
                          f"with {_display(e_set)}")
    shown = f"expected {_display(e_set)}, got {_display(a_set)}"
    if len(e_parts) != len(a_parts):
        return Comparison(equal=False, message=f"not the same set: {shown}",
                          hint=f"{len(a_parts)} pieces instead of {len(e_parts)}")
    for (e_lo, e_hi, e_lo_open, e_hi_open), (a_lo, a_hi, a_lo_open, a_hi_open) in zip(
            e_parts, a_parts, strict=True):
        for which, e_end, a_end in (("lower", e_lo, a_lo), ("upper", e_hi, a_hi)):
            if not _same_number(e_end, a_end, setup):
                return Comparison(equal=False, message=f"not the same set: {shown}",
                                  hint=f"the {which} end {_display(a_end)} should be "
                                  f"{_display(e_end)}")
        for e_open, a_open, end in ((e_lo_open, a_lo_open, e_lo),
                                    (e_hi_open, a_hi_open, e_hi)):
            if e_open != a_open:
                inside = "excluded" if e_open else "included"
                return Comparison(equal=False, message=f"not the same set: {shown}",
                                  hint=f"{_display(end)} should be {inside} (a strict "
                                  "or non-strict inequality)")
    return Comparison(equal=True, message=f"the same set {_display(e_set)}")


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


def _same_number(e: Any, a: Any, setup: _Setup) -> bool:
    if e.is_infinite or a.is_infinite:
        return bool(e == a)
    e_val, a_val = _evaluate(e, {}), _evaluate(a, {})
    return _agree(e_val, a_val, setup)


def _compare_finite_sets(e_set: Any, a_set: Any, setup: _Setup) -> Comparison:
    """Finite sets of expressions: every element matched to an equal one, in any order."""
    from grader.checks.numeric import max_matching

    e_items, a_items = list(e_set.args), list(a_set.args)
    if len(e_items) != len(a_items):
        return Comparison(equal=False, message=f"expected a set of {len(e_items)} elements, "
                          f"got {len(a_items)}")
    table = [[(_compare_values(x, y, setup).equal is True
               if isinstance(x, sp.Expr) and isinstance(y, sp.Expr) else x == y)
              for y in a_items] for x in e_items]
    match = max_matching(table)
    missing = [e_items[i] for i in range(len(e_items)) if match[i] is None]
    if missing:
        return Comparison(equal=False, message=f"not the same set: nothing in the answer "
                          f"equals {_display(missing[0])}")
    return Comparison(equal=True, message=f"the same set of {len(e_items)} elements")


def _compare_conditions(e: Any, a: Any, free: list[Any], setup: _Setup) -> Comparison:
    """Relations in several variables: the same boundary and side, or a counterexample."""
    e_form, a_form = _inequality(e), _inequality(a)
    if e_form and a_form and e_form[1] == a_form[1]:
        d_e, kind = e_form
        d_a = a_form[0]
        sign = _ratio_sign(d_e, d_a, setup)
        if sign == 1 or (sign == -1 and kind == "!="):
            return Comparison(equal=True, message="the same condition (one side is a "
                              "positive multiple of the other)")
    witness = _disagreement(e, a, free, setup)
    if witness:
        return Comparison(equal=False, message=f"not the same condition: {witness}")
    return Comparison(equal=None, message="could not decide whether the two conditions "
                      "hold at the same points; it needs a human")


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
    sampled = _sample(d_e, d_a, setup, proportional=True)
    if sampled.counterexample:
        return None
    proved = sampled.exact or sampled.distinct >= CONFIDENT_POINTS or _cas_constant_ratio(
        d_a, d_e)
    if not proved:
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
                return (f"at {shown} the expected condition is {t_e} and the answer's is "
                        f"{t_a}")
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


# --------------------------------------------------------------------------- systems


def _compare_system(expected: Any, received: Any, setup: _Setup) -> Comparison:
    """Lists of equations by their solution sets (see the module docstring)."""
    e_items = _equations(expected, setup)
    if isinstance(e_items, str):
        return Comparison(equal=None, message=f"the expected system {e_items} (a grader "
                          "problem)")
    a_items = _equations(received, setup)
    if isinstance(a_items, str):
        return Comparison(equal=False, message=f"expected a list of equations; the answer "
                          f"{a_items}")
    try:
        e_eqs = [_normalise(d, setup) for d in e_items]
    except _Refused as exc:
        return Comparison(equal=None, message=f"the expected system {exc} (a grader problem)")
    try:
        a_eqs = [_normalise(d, setup) for d in a_items]
    except _Refused as exc:
        return Comparison(equal=False, message=f"the answer {exc}")
    order = {name: i for i, (name, _) in enumerate(setup.symbols)}
    unknowns = sorted({s for d in e_eqs + a_eqs for s in d.free_symbols},
                      key=lambda s: order.get(s.name, len(order)))
    e_sols = _solve(e_eqs, unknowns)
    if e_sols is None:
        return Comparison(equal=None, message="the grader could not solve the expected "
                          "system; it needs a human")
    bad = _violation(e_sols, a_eqs, unknowns, setup)
    if bad:
        return Comparison(equal=False, message=f"the expected solution {bad} does not "
                          "satisfy the answer's equations", hint="a solution is lost")
    a_sols = _solve(a_eqs, unknowns)
    if a_sols is None:
        return Comparison(equal=None, message="every expected solution satisfies the "
                          "answer, but the grader could not solve the answer's system to "
                          "check the converse; it needs a human")
    bad = _violation(a_sols, e_eqs, unknowns, setup)
    if bad:
        return Comparison(equal=False, message=f"the answer's system has the solution {bad}, "
                          "which is not a solution of the expected one",
                          hint="an extra solution")
    if not all(_polynomial(d, unknowns) for d in e_eqs + a_eqs):
        return Comparison(equal=None, message="no counterexample, but the equations are not "
                          "polynomial, so sympy's solutions may be incomplete; it needs a "
                          "human")
    count = "no solutions" if not e_sols else f"{len(e_sols)} solution(s)"
    return Comparison(equal=True, message=f"the same solutions ({count})")


def _equations(value: Any, setup: _Setup) -> list[Any] | str:
    """A system as the list of ``lhs - rhs``; a string saying what is wrong otherwise."""
    if isinstance(value, str):
        try:
            value = _parse(value, setup)
        except GraderError as exc:
            return f"could not be read: {exc}"
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
                return f"could not be read: {exc}"
        if isinstance(item, sp.Equality):
            out.append(item.lhs - item.rhs)
        elif isinstance(item, sp.Expr) and not isinstance(item, sp.MatrixBase):
            out.append(item)
        elif item is sp.true:
            continue  # 0 = 0: holds everywhere
        elif item is sp.false:
            out.append(sp.Integer(1))  # 1 = 0: holds nowhere
        else:
            return f"holds {_describe(item)}, not an equation"
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
                    return shown or "(any point)"
    return ""


def _polynomial(d: Any, unknowns: list[Any]) -> bool:
    try:
        numerator = sp.together(d).as_numer_denom()[0]
        return bool(numerator.is_polynomial(*unknowns))
    except (TypeError, ValueError, sp.PolynomialError):
        return False


# --------------------------------------------------------------------------- the CAS


def _expandable(expr: Any) -> bool:
    """Whether expand/cancel stay cheap: small, and no large integer powers to multiply out."""
    if sp.count_ops(expr) > _EXPAND_MAX_OPS:
        return False
    for p in expr.atoms(sp.Pow):
        if p.exp.is_Integer and abs(int(p.exp)) > _EXPAND_MAX_POWER and not p.base.is_number:
            return False
    return True


def _cas_zero(diff: Any) -> bool:
    """Whether the CAS proves ``diff == 0`` (cheap steps first, simplify under a budget)."""
    if diff == 0:
        return True
    with _budget(CAS_BUDGET):
        if _expandable(diff) and (diff.expand() == 0 or sp.cancel(diff) == 0):
            return True
        if threading.current_thread() is threading.main_thread():
            return bool(sp.simplify(diff) == 0)
    return False


def _cas_constant_ratio(d_a: Any, d_e: Any) -> bool:
    if d_e == 0:
        return False
    with _budget(CAS_BUDGET):
        ratio = sp.cancel(d_a / d_e) if _expandable(d_a / d_e) else d_a / d_e
        if _nonzero_constant(ratio):
            return True
        if threading.current_thread() is threading.main_thread():
            return _nonzero_constant(sp.simplify(ratio))
    return False


def _nonzero_constant(value: Any) -> bool:
    # nan and zoo are "numbers" to sympy; a proof needs a finite nonzero constant.
    return bool(not value.free_symbols and value.is_number and value.is_finite is True
                and value.is_zero is False)


# --------------------------------------------------------------------------- sampling


@functools.lru_cache(maxsize=1)
def _mp() -> Any:
    """A private 30-digit mpmath context (never the shared global ``mpmath.mp``)."""
    from mpmath.ctx_mp import MPContext

    ctx = MPContext()
    ctx.dps = DIGITS
    return ctx


@dataclass(frozen=True)
class _Range:
    low: float
    high: float
    integer: bool
    nonzero: bool


def _range(symbol: Any, given: tuple[float, float] | None) -> _Range:
    """Where a symbol is sampled: the domain narrowed by the symbol's assumptions."""
    default: tuple[float, float]
    if symbol.is_integer:
        default = ((1, 10) if symbol.is_positive else (0, 10) if symbol.is_nonnegative
                   else (-10, -1) if symbol.is_negative else (-10, 0)
                   if symbol.is_nonpositive else (-5, 5))
    else:
        default = ((0.1, 2.0) if symbol.is_positive else (0.0, 2.0) if symbol.is_nonnegative
                   else (-2.0, -0.1) if symbol.is_negative else (-2.0, 0.0)
                   if symbol.is_nonpositive else (-2.0, 2.0))
    low, high = given if given is not None else default
    if given is not None:  # an explicit domain, cut to the symbol's sign
        if symbol.is_nonnegative:
            low = max(low, 0.0)
        if symbol.is_nonpositive:
            high = min(high, 0.0)
    nonzero = bool(symbol.is_nonzero or symbol.is_positive or symbol.is_negative)
    if symbol.is_integer:
        low, high = math.ceil(low), math.floor(high)
        if (nonzero and low == high == 0) or low > high:
            low, high = default
    elif low >= high:
        low, high = default
    return _Range(float(low), float(high), bool(symbol.is_integer), nonzero)


def _draw(rng: np.random.Generator, r: _Range) -> Any:
    if r.integer:
        for _ in range(20):
            k = int(rng.integers(int(r.low), int(r.high) + 1))
            if k != 0 or not r.nonzero:
                return sp.Integer(k)
        return sp.Integer(int(r.high) if r.high != 0 else int(r.low))
    lo, hi = math.ceil(r.low * 1000), math.floor(r.high * 1000)
    k = min(max(round(float(rng.uniform(r.low, r.high)) * 1000), lo), hi)
    if k == 0 and r.nonzero:
        k = 1 if hi >= 1 else -1
    return sp.Rational(k, 1000)


@functools.lru_cache(maxsize=64)
def _candidates(setup: _Setup) -> tuple[dict[Any, Any], ...]:
    """Candidate points (symbol -> Rational), 3x samples of them, fixed by the seed."""
    rng = np.random.default_rng(setup.seed)
    domain = dict(setup.domain)
    ordered = sorted(setup.symbols, key=lambda item: item[0])
    ranges = [(sym, _range(sym, domain.get(name))) for name, sym in ordered]
    return tuple({sym: _draw(rng, r) for sym, r in ranges} for _ in range(3 * setup.samples))


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
        # Confirm with sympy's adaptive evalf before calling it a counterexample.
        e2 = _evalf(e_n, points[i])
        e2 = e_val if e2 is None else e2
        # Where our evaluation found the received undefined (a division by zero), evalf
        # has nothing better to offer.
        a2 = None if a_val is None else _evalf(a_n, points[i])
        if a2 is None and a_val is not None and ctx.isfinite(a_val):
            a2 = a_val
        if proportional:
            e2 = e2 * factor
        if _agree(e2, a2, setup):
            agreeing.add(key)
            continue
        if (a2 is None or not ctx.isfinite(a2)) and free:
            undefined.setdefault(key, (i, e2, a2))
            if len(undefined) < 2:
                continue
        message = _differs(free, points[i], e2, a2)
        hint = "" if proportional else _hint(e_vals, a_vals, setup)
        # Without a pattern (sign, factor) the hint is where to look.
        return _Sampled(counterexample=message, hint=hint or message.split(":", 1)[0])
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
            return _Sampled(counterexample=_differs(free, points[i], e2, a2) + " (where the "
                            "expected value is complex)", hint="a branch of a root, power or "
                            "logarithm")
    distinct = len(agreeing)
    return _Sampled(
        distinct=distinct, exact=not free and distinct == 1,
        agreement="equal as numbers" if not free else f"equal at {distinct} sample points",
        undecided=f"could not decide: the answers agree at all {distinct} distinct sample "
                  "points, too few to tell (the expected answer is undefined elsewhere, or "
                  "the symbols take few values), and simplification did not settle it")


def _differs(free: list[Any], point: Mapping[Any, Any], e: Any, a: Any) -> str:
    shown = ", ".join(f"{s.name}={_coordinate(point[s])}" for s in free)
    where = f"at {shown}" if shown else "as a number"
    e_text, a_text = _pair(e, a)
    return f"differs {where}: expected {e_text}, got {a_text}"


def _hint(e_vals: list[Any], a_vals: list[Any], setup: _Setup) -> str:
    """What a wrong answer looks like next to the right one, from the sampled values."""
    ctx = _mp()
    if len(e_vals) < 2 or not any(abs(e) > setup.atol for e in e_vals):
        return ""
    if all(_agree(-e, a, setup) for e, a in zip(e_vals, a_vals, strict=True)):
        return "sign flipped"
    k = _factor(e_vals, a_vals)
    if k is None or isinstance(k, ctx.mpc) or abs(abs(k) - 1) < 1e-6:
        return ""
    if all(_agree(k * e, a, setup) for e, a in zip(e_vals, a_vals, strict=True)):
        return f"off by a constant factor {ctx.nstr(k, 6)}"
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

    The kept points are the real ones, see the docstring. The second tuple holds the
    points met on the way where the expected value is finite but complex (not kept).
    """
    ctx = _mp()
    real: list[tuple[int, Any]] = []
    finite: list[tuple[int, Any]] = []
    for i, point in enumerate(_candidates(setup)):
        value = _evaluate(e_n, point)
        if value is None or not ctx.isfinite(value):
            continue
        finite.append((i, value))
        if _is_real(value, setup):
            real.append((i, value))
            if len(real) >= setup.samples:
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
    return f"{float(r):.6g}"


def _pair(e: Any, a: Any) -> tuple[str, str]:
    """Two values with just enough digits to tell them apart."""
    ctx = _mp()

    def text(v: Any, n: int) -> str:
        if v is None:
            return "undefined"
        if not ctx.isfinite(v):
            return "infinite or undefined"
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


# --------------------------------------------------------------------------- evaluation


def _evalf(expr: Any, point: Mapping[Any, Any]) -> Any:
    """sympy's own adaptive-precision evaluation at an exact point, as an mpmath number.

    None when it fails or takes longer than ``_EVALF_BUDGET`` (evalf of an exp tower
    can run for minutes).
    """
    with _budget(_EVALF_BUDGET):
        try:
            return _to_mp(expr.evalf(n=DIGITS, subs=dict(point)))
        except (ArithmeticError, ValueError, TypeError, AttributeError):
            return None
    return None


def _to_mp(value: Any) -> Any:
    """A sympy number as an mpmath number of our context; None if not a finite number."""
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


def _evaluate(expr: Any, point: Mapping[Any, Any]) -> Any:
    """``expr`` at ``point`` to 30 digits; None where it is undefined or not a number."""
    ctx = _mp()
    env = {s: ctx.mpf(int(v.p)) / int(v.q) for s, v in point.items()}
    memo: dict[Any, Any] = {}
    try:
        return _walk(expr, env, point, memo)
    except (ZeroDivisionError, _TooBig):
        return None  # undefined here; evalf would answer 0/0 with junk like "0.e+6"
    except (ArithmeticError, ValueError, TypeError, KeyError, _Unknown):
        return _evalf(expr, point)


class _Unknown(Exception):
    """The evaluator met something it does not handle: ask sympy's evalf instead."""


class _TooBig(Exception):
    """A value too costly to compute (sin of 10**100000): the point is left out."""


_ENTIRE = {  # no branch cuts: mpmath and sympy agree everywhere
    sp.exp: "exp", sp.sin: "sin", sp.cos: "cos", sp.tan: "tan", sp.sinh: "sinh",
    sp.cosh: "cosh", sp.tanh: "tanh", sp.cot: "cot", sp.sec: "sec", sp.csc: "csc",
}
_REAL_ARG = {  # branch cuts: only real arguments in the real domain are evaluated here
    sp.log: "ln", sp.atan: "atan", sp.asin: "asin", sp.acos: "acos", sp.asinh: "asinh",
    sp.acosh: "acosh", sp.atanh: "atanh",
}


def _walk(node: Any, env: dict[Any, Any], point: Mapping[Any, Any], memo: dict[Any, Any]) -> Any:
    cached = memo.get(node)
    if cached is not None:
        return cached
    ctx = _mp()
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
        value = ctx.fsum(_walk(a, env, point, memo) for a in node.args)
    elif node.is_Mul:
        value = ctx.fprod(_walk(a, env, point, memo) for a in node.args)
    elif node.is_Pow:
        value = _power(node, env, point, memo)
    elif node.func in _ENTIRE and len(node.args) == 1:
        arg = _walk(node.args[0], env, point, memo)
        if node.func is sp.exp:
            value = _exp(arg)
        else:
            if not ctx.isfinite(arg) or ctx.mag(arg) > _TRIG_MAX_BITS:
                raise _TooBig  # reducing such an argument mod pi takes its digits
            value = getattr(ctx, _ENTIRE[node.func])(arg)
    elif node.func in _REAL_ARG and len(node.args) == 1:
        arg = _walk(node.args[0], env, point, memo)
        if isinstance(arg, ctx.mpc):
            value = _fallback(node, point)
        else:
            value = getattr(ctx, _REAL_ARG[node.func])(arg)
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


# --------------------------------------------------------------------------- parsing


def _parse(text: str, setup: _Setup) -> Any:
    """Parse math text with the whitelist parser (cached); raises GraderError subclasses."""
    return _parse_cached(text, setup.symbols, setup.functions, setup.syntax)


@functools.lru_cache(maxsize=1024)
def _parse_cached(text: str, symbols: tuple[tuple[str, Any], ...],
                  functions: tuple[tuple[str, Any], ...], syntax: str = "python") -> Any:
    from grader.parse import parse_expression

    return parse_expression(text, symbols=dict(symbols), functions=dict(functions),
                            syntax=syntax)


# --------------------------------------------------------------------------- grading


def parse_text(text: str, setup: _Setup) -> Any:
    """Read a typed answer as the check would; raises ``GraderError`` when it is refused."""
    return _parse(text, setup)


def compare_with(expected: Any, received: Any, setup: _Setup) -> Comparison:
    """:func:`compare` with a ready setup (see :func:`setup_for`): cached, never raises."""
    def run() -> tuple[Comparison, Any]:
        if isinstance(expected, Mapping) and setup.mode is None:
            return _compare_dict(expected, received, setup)
        return _compare(expected, received, setup), None

    return _cached(expected, received, setup, lambda: _guarded(run))[0]


def setup_for(spec: CheckSpec, reference_value: Any) -> _Setup:
    """The comparison setup of a check: its declared symbols, functions and options."""
    symbols = declare(_declared(spec.symbols, reference_value), spec.assumptions, spec.domain)
    functions = _functions(tuple(sorted(spec.functions.items())), tuple(symbols.items()))
    return _Setup.make(symbols, functions, spec.domain, spec.rtol, spec.atol, 12, 0,
                       syntax=spec.input_syntax, form=spec.form, mode=spec.compare)


def _grade(spec: CheckSpec, evidence: Evidence, max_score: float, received: Any,
           received_text: str) -> CheckResult:
    raw = (spec.value if spec.value is not None
           else getattr(evidence.reference, spec.reference_name))
    setup = setup_for(spec, raw)
    expected = _rubric_value(raw, setup)
    expected_text = _display(expected)
    expected_math = mathml(expected) if spec.visible else None
    received_math = mathml(_for_display(received, setup))

    def run() -> tuple[Comparison, Any]:
        if isinstance(expected, Mapping) and setup.mode is None:
            return _compare_dict(expected, received, setup)
        return _compare(expected, received, setup), None

    comparison, per_key = _cached(expected, received, setup, lambda: _guarded(run))

    def result(fraction: float, message: str, status: Any = None,
               mistake: str | None = None) -> CheckResult:
        if status is None:
            status = "passed" if fraction >= 1 else "partial" if fraction > 0 else "failed"
        out = make_result(spec, max_score, fraction=fraction, status=status, message=message,
                          expected=expected_text, received=received_text, mistake=mistake)
        return replace(out, expected_math=expected_math, received_math=received_math,
                       hint="" if comparison.equal else comparison.hint)

    if comparison.equal:
        return result(1.0, "Correct.")

    share = 0.0
    if spec.partial and isinstance(expected, Mapping) and per_key:
        got = {_key(k) for k in received} if isinstance(received, Mapping) else set()
        keys = {_key(k) for k in expected} | got
        share = sum(1 for c in per_key.values() if c.equal) / len(keys)
    # An answer too expensive to check once is too expensive against every mistake too.
    timed_out = comparison.equal is None and comparison.message.startswith(_TOO_LONG)
    mistake = None if timed_out else _matched_mistake(spec.mistakes, evidence, received, setup)
    if mistake is not None:
        # A known mistake explains the answer; partial credit may still be worth more.
        return result(min(max(share, mistake.credit), _BELOW_ONE), mistake.feedback,
                      mistake=mistake.id)
    if comparison.equal is None and share == 0:
        return result(0.0, "Could not decide automatically whether this is right: "
                      f"{comparison.message}", status="error")
    return result(min(share, _BELOW_ONE), _capitalise(comparison.message))


_BELOW_ONE = 0.999999  # a failed comparison never earns full marks (e.g. extra keys)


def _capitalise(message: str) -> str:
    message = message or "Not equal to the expected answer."
    return message[0].upper() + message[1:] + ("" if message.endswith(".") else ".")


def _for_display(received: Any, setup: _Setup) -> Any:
    """A text answer parsed (for MathML); other values as they are."""
    if isinstance(received, str):
        try:
            return _parse(received, setup)
        except GraderError:
            return None
    return received


def _matched_mistake(mistakes: tuple[Mistake, ...], evidence: Evidence, received: Any,
                     setup: _Setup) -> Mistake | None:
    for m in mistakes:
        value = m.value if m.reference is None else getattr(evidence.reference, m.reference)
        value = _rubric_value(value, setup)
        run = functools.partial(_guarded, functools.partial(_compare, value, received, setup))
        if _cached(value, received, setup, run)[0].equal:
            return m
    return None


def _rubric_value(value: Any, setup: _Setup) -> Any:
    """Rubric text (a string, or a dict/list of strings) parsed into sympy objects."""
    if isinstance(value, str):
        return _parse(value, setup)
    if isinstance(value, Mapping):
        return {k: _rubric_value(v, setup) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return type(value)(_rubric_value(v, setup) for v in value)
    return value


def _declared(names: tuple[str, ...], reference_value: Any) -> dict[str, sp.Symbol]:
    """``Symbol(name)`` for each declared name, keeping the reference's assumptions.

    When the trusted reference expression uses ``Symbol('x', positive=True)`` that symbol
    is the declared one, so sampling honours its assumptions.
    """
    found: dict[str, sp.Symbol] = {}
    for obj in _sympy_objects(reference_value):
        for s in obj.free_symbols:
            if isinstance(s, sp.Symbol) and s.name in names:
                found.setdefault(s.name, s)
    return {n: found.get(n, sp.Symbol(n)) for n in names}


def _sympy_objects(value: Any) -> Iterator[Any]:
    if isinstance(value, sp.Basic | sp.MatrixBase):
        yield value
    elif isinstance(value, Mapping):
        for v in value.values():
            yield from _sympy_objects(v)
    elif isinstance(value, list | tuple):
        for v in value:
            yield from _sympy_objects(v)


@functools.lru_cache(maxsize=128)
def _functions(items: tuple[tuple[str, tuple[str, str]], ...],
               symbols: tuple[tuple[str, Any], ...]) -> dict[str, Any]:
    """The rubric's functions ``name = [param, body]`` as sympy Lambdas (cached)."""
    out: dict[str, Any] = {}
    if not items:
        return out
    from grader.parse import parse_expression

    for name, (param, body) in items:
        p = sp.Symbol(param)
        out[name] = sp.Lambda(p, parse_expression(body, symbols={**dict(symbols), param: p}))
    return out


# --------------------------------------------------------------------------- display


def _describe(value: Any) -> str:
    if value is None:
        return "None"
    if value is MISSING:
        return "nothing (the name is not defined)"
    if isinstance(value, Rejected):
        return f"a value that could not be read ({value.reason})"
    if isinstance(value, CallableAnswer):
        return f"a function ({value.name}), not an expression"
    if isinstance(value, bool | np.bool_):
        return f"{bool(value)} (a bool), not an expression"
    if isinstance(value, str):
        return f"the text {_short(value)}"
    if isinstance(value, Mapping):
        return f"a dict with {len(value)} keys"
    if isinstance(value, sp.MatrixBase):
        return f"a {_shape(value)} matrix"
    if isinstance(value, np.ndarray):
        return f"an array of shape {value.shape}"
    if isinstance(value, list | tuple):
        return f"a {type(value).__name__} of {len(value)} items"
    if isinstance(value, sp.Equality):
        return f"the equation {_display(value)}"
    if isinstance(value, sp.Basic):
        return f"{_display(value)} (a {type(value).__name__})"
    return f"a value of type {type(value).__name__}"


def _short(text: str, limit: int = 60) -> str:
    return repr(text if len(text) <= limit else text[:limit] + "…")


def _display(value: Any, limit: int = 1000) -> str:
    """Display text: ``sympy.sstr`` for sympy objects, the numeric format otherwise."""
    try:
        if isinstance(value, Mapping):
            text = "{" + ", ".join(f"{_key(k)!r}: {_display(v, limit)}"
                                   for k, v in value.items()) + "}"
        elif isinstance(value, sp.Basic | sp.MatrixBase):
            key = _structure(value)
            text = (_printed(key, value, "text") if key is not None
                    else sp.sstr(value, order="none"))
        elif isinstance(value, str):
            text = value
        else:
            from grader.checks.numeric import format_value

            text = format_value(value)
    except Exception:  # display text must never break grading
        text = f"<{type(value).__name__}>"
    return text if len(text) <= limit else text[: limit - 1] + "…"
