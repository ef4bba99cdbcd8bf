"""Running one comparison: under the time budget, never raising, remembered by structure."""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable, Mapping
from fractions import Fraction
from typing import Any

import numpy as np
import sympy as sp

from grader.answers import MISSING, CallableAnswer, Rejected
from grader.checks import Comparison
from grader.checks.algebra.setup import _Setup
from grader.checks.common import TIME_BUDGET, WALL_FACTOR, _time_limit, _Timeout, expirations
from grader.messages import say

CACHE_SIZE = 4096  # comparisons remembered (see _cached)
_TOO_LONG = "check.sym.too_long"  # the catalogue key of an answer undecided for lack of time


def timed_out(comparison: Comparison) -> bool:
    """Whether ``comparison`` is undecided because its time budget ran out."""
    parts: tuple[Any, ...] = getattr(comparison.message, "parts", ())
    return comparison.equal is None and bool(parts) and parts[0].get("key") == _TOO_LONG


def _grader_problem(exc: BaseException) -> Comparison:
    return Comparison(equal=None, message=say("check.compare_failed",
                                              error=f"{type(exc).__name__}: {exc}"))


def _guarded(run: Callable[[], Comparison | tuple[Comparison, Any]]) -> tuple[Comparison, Any]:
    """Run a comparison under the time budget, turning every failure into a Comparison."""
    try:
        with _time_limit(TIME_BUDGET):
            out = run()
    except _Timeout as exc:
        # Ours, or one of our inner budgets that escaped at a boundary: either way the
        # answer is undecided, never a verdict, and compare() never raises.
        spent = (say("check.sym.cpu_time", seconds=f"{TIME_BUDGET:g}") if exc.cpu
                 else say("check.sym.wall_time", seconds=f"{TIME_BUDGET * WALL_FACTOR:g}"))
        return Comparison(equal=None, message=say("check.sym.too_long", spent=spent)), None
    except RecursionError:
        return Comparison(equal=None, message=say("check.sym.too_deep_human")), None
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
    with no such key (an unknown object) is compared without the cache. What a run
    gives when a time budget ran out in it is not remembered: it depends on the load of
    the machine then, and a warm grading process keeps the cache for the next students.
    """
    key = _structure(expected), _structure(received), setup
    if key[0] is None or key[1] is None:
        return run()
    with _CACHE_LOCK:
        hit = _CACHE.get(key)
        if hit is not None:
            _CACHE.move_to_end(key)
            return hit
    expired = expirations()
    out = run()
    if timed_out(out[0]) or expirations() != expired:
        return out
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
