"""Symbolic answers: sympy expressions compared by random sampling, then by the CAS.

Decision rule of :func:`compare` for one expression (dicts, lists and matrices apply it
entry by entry; shapes and keys must match):

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
   counterexample, not even the CAS.
   Identical normalised expressions are equal without sampling.
3. **No counterexample.** When at least 12 distinct points agree (or neither side has a
   free symbol, so the one evaluation is exact enough) the answer is equal ("equal at N
   sample points") and the CAS is skipped: sampling has decided and ``simplify`` could
   only confirm it. Otherwise the CAS is tried: ``e - a`` is tested for zero after
   ``expand`` (skipped when large powers would blow up), ``cancel``, then ``simplify``
   under a 2 s budget (``signal.setitimer``; in a thread other than the main one only the
   cheap steps run). Zero means equal.
4. **CAS undecided.** Equal if at least half of ``samples`` distinct points agreed;
   otherwise undecidable (``equal=None``): the expected value is undefined at too many
   points, or its symbols take too few distinct values (small integer domains).

Equations (``Eq``) are equal when ``lhs - rhs`` of both agree up to a nonzero constant
factor (so swapped sides and scaled equations are equal). Floats are numbers like any
other (``0.099`` equals ``99/1000`` within tolerance). A whole comparison runs under an
8 s budget in the main thread; one that runs out is undecidable, never a verdict.
"""

from __future__ import annotations

import functools
import math
import signal
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from fractions import Fraction
from typing import Any

import numpy as np
import sympy as sp
from sympy.core.function import AppliedUndef

from grader.checks import (
    MISSING,
    CallableAnswer,
    Comparison,
    Evidence,
    Rejected,
    absent_result,
    make_result,
)
from grader.errors import GraderError
from grader.results import CheckResult
from grader.rubric import CheckSpec, Mistake

DEFAULT_RTOL = 1e-8
DEFAULT_ATOL = 1e-12
CONFIDENT_POINTS = 12  # agreeing distinct points that make the CAS unnecessary
CAS_BUDGET = 2.0  # seconds for simplify
TIME_BUDGET = 8.0  # seconds for one whole comparison (main thread only)
DIGITS = 30

_MAX_FUNCTION_ROUNDS = 30  # nesting depth of sigma(sigma(...)) we unfold
_EXPAND_MAX_OPS = 400
_EXPAND_MAX_POWER = 12
_POW_BY_SQUARING = 10**6  # larger integer exponents go through exp/log
_EXP_LIMIT = 10**6  # |argument| of exp beyond which the result is infinite or zero for us
_EVALF_BUDGET = 1.0  # seconds for one sympy evalf at one point
_TRIG_MAX_BITS = 64  # |argument| of sin, cos, ... beyond 2**64 is not evaluated
_MIN_EVALF_BITS = 20  # an evalf result with fewer significant bits is not a value
_UNRESOLVED_ZERO = 1e-50


class _Refused(Exception):
    """An expression we will not compare (undeclared symbol, unknown function...)."""


class _Timeout(BaseException):
    """A time budget ran out; a BaseException so that sympy's broad handlers let it through."""

    def __init__(self, token: object) -> None:
        super().__init__("time budget exceeded")
        self.token = token


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
) -> Comparison:
    """Decide whether ``received`` equals the ``expected`` expression (see module docstring).

    Never raises: ``equal`` is True, False, or None when undecidable or when the grader
    itself failed (the message says which).
    """
    try:
        setup = _Setup.make(symbols, functions, domain, rtol, atol, samples, seed)
    except Exception as exc:  # a bad setup is the rubric's or our bug, never the student's
        return _grader_problem(exc)
    return _guarded(lambda: _compare(expected, received, setup))[0]


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

    @staticmethod
    def make(symbols: Mapping[str, sp.Symbol], functions: Mapping[str, sp.Lambda] | None,
             domain: Mapping[str, tuple[float, float]] | None, rtol: float | None,
             atol: float | None, samples: int, seed: int) -> _Setup:
        return _Setup(
            symbols=tuple((str(k), v) for k, v in symbols.items()),
            functions=tuple(sorted((functions or {}).items())),
            domain=tuple(sorted((k, (float(v[0]), float(v[1])))
                                for k, v in (domain or {}).items())),
            rtol=DEFAULT_RTOL if rtol is None else float(rtol),
            atol=DEFAULT_ATOL if atol is None else float(atol),
            samples=max(1, int(samples)),
            seed=int(seed),
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
    except _Timeout:
        # Ours, or one of our inner budgets that escaped at a boundary: either way the
        # answer is undecided, never a verdict, and compare() never raises.
        return Comparison(equal=None, message=f"{_TOO_LONG} (more than {TIME_BUDGET:g} s); "
                          "it needs a human"), None
    except RecursionError:
        return Comparison(equal=None, message="the expression is nested too deeply to "
                          "check; it needs a human"), None
    except Exception as exc:  # a comparison must never raise; this is our bug
        return _grader_problem(exc), None
    return out if isinstance(out, tuple) else (out, None)


# --------------------------------------------------------------------------- time budget


_TOO_LONG = "the answer took too long to check"
_deadlines: list[tuple[float, object]] = []  # active budgets in the main thread, outer first


def _on_alarm(signum: int, frame: Any) -> None:
    now = time.monotonic()
    for deadline, token in _deadlines:  # the outermost expired budget wins
        if now >= deadline - 1e-4:
            raise _Timeout(token)
    _arm()  # woke up early (timer granularity): sleep again


def _arm() -> None:
    if _deadlines:
        wait = min(d for d, _ in _deadlines) - time.monotonic()
        signal.setitimer(signal.ITIMER_REAL, max(wait, 1e-4))
    else:
        signal.setitimer(signal.ITIMER_REAL, 0)


@contextmanager
def _time_limit(seconds: float) -> Iterator[object]:
    """Raise ``_Timeout(token)`` in the body after ``seconds`` (main thread only).

    Budgets nest: an inner one never extends an outer one. Elsewhere than in the main
    thread (or without ``setitimer``) the body runs without a limit.
    """
    token = object()
    usable = (hasattr(signal, "setitimer")
              and threading.current_thread() is threading.main_thread())
    if not usable:
        yield token
        return
    outermost = not _deadlines
    previous_handler: Any = None
    previous_timer = (0.0, 0.0)
    if outermost:
        previous_handler = signal.signal(signal.SIGALRM, _on_alarm)
        previous_timer = signal.setitimer(signal.ITIMER_REAL, 0)
    started = time.monotonic()
    _deadlines.append((started + seconds, token))
    try:
        _arm()
        yield token
    finally:
        _deadlines.remove((started + seconds, token))
        if outermost:
            signal.setitimer(signal.ITIMER_REAL, 0)
            signal.signal(signal.SIGALRM,
                          signal.SIG_DFL if previous_handler is None else previous_handler)
            if previous_timer[0] > 0:  # give a timer of our caller back what is left of it
                left = max(previous_timer[0] - (time.monotonic() - started), 1e-3)
                signal.setitimer(signal.ITIMER_REAL, left, previous_timer[1])
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
    a = _received_object(received, setup, matrix=isinstance(e, sp.MatrixBase))
    if isinstance(a, Comparison):
        return a
    if isinstance(e, sp.MatrixBase):
        return _compare_matrix(e, a, setup)
    if isinstance(e, sp.Equality):
        return _compare_equation(e, a, setup)
    if isinstance(e, sp.Expr):
        return _compare_expression(e, a, setup)
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
        hint = per_key[wrong[0]].hint
    return Comparison(equal=False, message=message, hint=hint), per_key


def _compare_one(expected: Any, received: Any, setup: _Setup) -> Comparison:
    """One key of a dict: a failure of ours there leaves the other keys decided."""
    try:
        return _compare(expected, received, setup)
    except RecursionError:
        return Comparison(equal=None, message="the expression is nested too deeply to check")
    except Exception as exc:  # our bug, confined to this key
        return _grader_problem(exc)


def _compare_sequence(expected: list[Any], received: Any, setup: _Setup) -> Comparison:
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
                          f"{len(received)}")
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


def _received_object(received: Any, setup: _Setup, *, matrix: bool) -> Any:
    """The received value as a sympy object, or a not-equal Comparison naming what it is."""
    if isinstance(received, str):
        try:
            return _parse(received, setup)
        except GraderError as exc:
            return Comparison(equal=False, message=f"could not read the expression "
                              f"{_short(received)}: {exc}")
    if matrix and isinstance(received, list | tuple | np.ndarray):
        try:
            return sp.ImmutableMatrix(_matrix_rows(received))
        except (_Refused, ValueError, TypeError) as exc:
            return Comparison(equal=False, message=f"expected a matrix, got "
                              f"{_describe(received)} ({exc})")
    converted = _sympify_plain(received)
    if converted is None:
        return Comparison(equal=False, message=f"expected an expression, got "
                          f"{_describe(received)}")
    return converted


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
    rows = value.tolist() if isinstance(value, np.ndarray) else list(value)
    if rows and not isinstance(rows[0], list | tuple | np.ndarray):
        rows = [[v] for v in rows]  # a flat list is a column vector
    out = []
    for row in rows:
        if not isinstance(row, list | tuple | np.ndarray):
            raise _Refused("rows of different kinds")
        entries = []
        for v in (row.tolist() if isinstance(row, np.ndarray) else row):
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
        vector = 1 in e.shape and 1 in a.shape and e.shape == a.shape[::-1]
        if vector:  # a row where a column is expected (or back): the entries still count
            a = a.T
        else:
            return Comparison(equal=False, message=f"expected a {_shape(e)} matrix, got a "
                              f"{_shape(a)} matrix")
    undecided = None
    rows, cols = e.shape
    for i in range(rows):
        for j in range(cols):
            c = _compare_expression(e[i, j], a[i, j], setup)
            if c.equal is False:
                return Comparison(equal=False, message=f"entry ({i}, {j}): {c.message}",
                                  hint=c.hint)
            if c.equal is None and undecided is None:
                undecided = Comparison(equal=None, message=f"entry ({i}, {j}): {c.message}")
    return undecided or Comparison(equal=True, message=f"all {rows * cols} entries are equal")


def _shape(m: Any) -> str:
    return f"{m.shape[0]}x{m.shape[1]}"


def _compare_structure(e: Any, a: Any, setup: _Setup) -> Comparison:
    """Booleans, relations other than Eq: equal only if the same after normalising."""
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


def _compare_expression(e: Any, a: Any, setup: _Setup) -> Comparison:
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
    if e_n == a_n:
        return Comparison(equal=True, message="identical")
    sampled = _sample(e_n, a_n, setup)
    if sampled.counterexample:
        return Comparison(equal=False, message=sampled.counterexample, hint=sampled.hint)
    if sampled.exact or sampled.distinct >= CONFIDENT_POINTS:
        return Comparison(equal=True, message=sampled.agreement)
    if _cas_zero(e_n - a_n):
        return Comparison(equal=True, message="equal (proved by simplification)")
    if sampled.distinct >= math.ceil(setup.samples / 2):
        return Comparison(equal=True, message=sampled.agreement)
    return Comparison(equal=None, message=sampled.undecided)


def _compare_equation(e: Any, a: Any, setup: _Setup) -> Comparison:
    if a is sp.true or a is sp.false:
        return Comparison(equal=False, message=f"expected an equation, got one that sympy "
                          f"evaluated to {a}")
    if not isinstance(a, sp.Equality):
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
    chosen = _expected_points(e_n, setup) if free else _expected_points_constant(e_n)
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
        hint = "" if proportional else _hint(e_vals, a_vals, setup)
        return _Sampled(counterexample=_differs(free, points[i], e2, a2), hint=hint)
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


@functools.lru_cache(maxsize=512)
def _expected_points(e_n: Any, setup: _Setup) -> tuple[tuple[int, Any], ...]:
    """(index, value) of the candidate points kept: first the real ones, see the docstring."""
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
        return tuple(real)
    return tuple(finite[: setup.samples])


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
    return _parse_cached(text, setup.symbols, setup.functions)


@functools.lru_cache(maxsize=1024)
def _parse_cached(text: str, symbols: tuple[tuple[str, Any], ...],
                  functions: tuple[tuple[str, Any], ...]) -> Any:
    from grader.parse import parse_expression

    return parse_expression(text, symbols=dict(symbols), functions=dict(functions))


# --------------------------------------------------------------------------- grading


def _grade(spec: CheckSpec, evidence: Evidence, max_score: float, received: Any,
           received_text: str) -> CheckResult:
    raw = (spec.value if spec.value is not None
           else getattr(evidence.reference, spec.reference_name))
    symbols = _declared(spec.symbols, raw)
    functions = _functions(tuple(sorted(spec.functions.items())), tuple(symbols.items()))
    setup = _Setup.make(symbols, functions, spec.domain, spec.rtol, spec.atol, 12, 0)
    expected = _rubric_value(raw, setup)
    expected_text = _display(expected)

    def result(fraction: float, message: str, status: Any = None,
               mistake: str | None = None) -> CheckResult:
        if status is None:
            status = "passed" if fraction >= 1 else "partial" if fraction > 0 else "failed"
        return make_result(spec, max_score, fraction=fraction, status=status, message=message,
                           expected=expected_text, received=received_text, mistake=mistake)

    def run() -> tuple[Comparison, Any]:
        if isinstance(expected, Mapping):
            return _compare_dict(expected, received, setup)
        return _compare(expected, received, setup), None

    comparison, per_key = _guarded(run)
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
    message = _capitalise(comparison.message)
    if comparison.hint:
        message += f" Hint: {comparison.hint}."
    return result(min(share, _BELOW_ONE), message)


_BELOW_ONE = 0.999999  # a failed comparison never earns full marks (e.g. extra keys)


def _capitalise(message: str) -> str:
    message = message or "Not equal to the expected answer."
    return message[0].upper() + message[1:] + ("" if message.endswith(".") else ".")


def _matched_mistake(mistakes: tuple[Mistake, ...], evidence: Evidence, received: Any,
                     setup: _Setup) -> Mistake | None:
    for m in mistakes:
        value = m.value if m.reference is None else getattr(evidence.reference, m.reference)
        value = _rubric_value(value, setup)
        if _guarded(functools.partial(_compare, value, received, setup))[0].equal:
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
            text = sp.sstr(value)
        elif isinstance(value, str):
            text = value
        else:
            from grader.checks.numeric import format_value

            text = format_value(value)
    except Exception:  # display text must never break grading
        text = f"<{type(value).__name__}>"
    return text if len(text) <= limit else text[: limit - 1] + "…"
