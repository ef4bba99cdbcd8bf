"""The CAS steps of a comparison: expand, cancel and simplify, each under a time budget."""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

import sympy as sp

from grader.checks.common import _budget

CAS_BUDGET = 2.0  # seconds of CPU time for simplify
_EXPAND_MAX_OPS = 400
_EXPAND_MAX_POWER = 12


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


def _timed(run: Callable[[], Any]) -> Any:
    """``run()`` under the CAS budget; None when it ran out."""
    out = None
    with _budget(CAS_BUDGET):
        out = run()
    return out
