"""The entry points :func:`compare` and :func:`compare_with`, and comparing by kind of value."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
import sympy as sp

from grader.checks import Comparison
from grader.checks.algebra.cache import _cached, _grader_problem, _guarded
from grader.checks.algebra.display import _describe_for_expressions, _display, _key, _shape
from grader.checks.algebra.expressions import _compare_expression
from grader.checks.algebra.reading import (
    _expected_object,
    _normalise,
    _received_object,
    _Refused,
)
from grader.checks.algebra.sets import _SET_LIKE, _compare_equation, _compare_sets
from grader.checks.algebra.setup import _Setup, declare
from grader.checks.algebra.systems import _compare_system
from grader.messages import joined, say


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
    series_order: int | None = None,
) -> Comparison:
    """Decide whether ``received`` equals the ``expected`` expression (the package's rule).

    ``symbols`` maps each declared name to its symbol; ``assumptions`` and ``domain`` add
    to those symbols as step 0 says. ``mode="system"`` compares lists of equations by
    their solutions. Never raises: ``equal`` is True, False, or None when undecidable or
    when the grader itself failed (the message says which).
    """
    try:
        declared = declare(symbols, assumptions, domain)
        setup = _Setup.make(declared, functions, domain, rtol, atol, samples, seed,
                            syntax=input_syntax, form=tuple(form), mode=mode,
                            series_order=series_order)
    except Exception as exc:  # a bad setup is the rubric's or our bug, never the student's
        return _grader_problem(exc)
    return _cached(expected, received, setup,
                   lambda: _guarded(lambda: _compare(expected, received, setup)))[0]


def compare_with(expected: Any, received: Any, setup: _Setup) -> Comparison:
    """:func:`compare` with a ready setup (see :func:`grader.checks.symbolic.setup_for`).

    Cached, never raises.
    """
    return compare_keys(expected, received, setup)[0]


def compare_keys(expected: Any, received: Any,
                 setup: _Setup) -> tuple[Comparison, dict[Any, Comparison] | None]:
    """:func:`compare_with`, and for a dict each present key's Comparison (partial credit)."""
    def run() -> tuple[Comparison, Any]:
        if isinstance(expected, Mapping) and setup.mode is None:
            return _compare_dict(expected, received, setup)
        return _compare(expected, received, setup), None

    return _cached(expected, received, setup, lambda: _guarded(run))


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
    return Comparison(equal=None, message=say("check.num.cannot_compare",
                                              type=type(expected).__name__))


def _compare_dict(expected: Mapping[Any, Any], received: Any,
                  setup: _Setup) -> tuple[Comparison, dict[Any, Comparison]]:
    """Compare per key; also return each present key's Comparison (for partial credit)."""
    if not isinstance(received, Mapping):
        keys = ", ".join(repr(_key(k)) for k in expected)
        return Comparison(equal=False, message=say(
            "check.num.dict_got", keys=keys, got=_describe_for_expressions(received))), {}
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
            return Comparison(equal=None, message=say(
                "check.num.at_key", key=repr(k), detail=per_key[k].message)), per_key
        return Comparison(equal=True, message=say("check.sym.all_keys_equal", n=len(exp))), \
            per_key
    parts = []
    if wrong:
        parts.append(say("check.sym.keys_wrong", keys=", ".join(repr(k) for k in wrong)))
    if missing:
        parts.append(say("check.num.missing_keys", keys=", ".join(repr(k) for k in missing)))
    if extra:
        parts.append(say("check.num.extra_keys", keys=", ".join(repr(k) for k in extra)))
    message = joined(parts)
    hint = ""
    if wrong:
        message = say("check.num.with_key_detail", summary=message, key=repr(wrong[0]),
                      detail=per_key[wrong[0]].message)
        first = per_key[wrong[0]].hint
        hint = say("check.sym.key_hint", key=wrong[0], hint=first) if first else ""
    elif missing and extra:
        hint = say("check.num.keys_renamed")
    return Comparison(equal=False, message=message, hint=hint), per_key


def _compare_one(expected: Any, received: Any, setup: _Setup) -> Comparison:
    """One key of a dict (cached): a failure of ours there leaves the other keys decided."""

    def run() -> tuple[Comparison, Any]:
        try:
            return _compare(expected, received, setup), None
        except RecursionError:
            return Comparison(equal=None, message=say("check.sym.too_deep")), None
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
        return Comparison(equal=False, message=say(
            "check.sym.values_got", n=len(expected), got=_describe_for_expressions(received)))
    if len(received) != len(expected):
        return Comparison(equal=False, message=say("check.sym.values_count", n=len(expected),
                                                   got=len(received)),
                          hint=say("check.sym.values_instead", got=len(received),
                                   expected=len(expected)))
    undecided = None
    for i, (e, a) in enumerate(zip(expected, received, strict=True)):
        c = _compare(e, a, setup)
        if c.equal is False:
            return Comparison(equal=False, message=say("check.sym.element", index=i,
                                                       detail=c.message), hint=c.hint)
        if c.equal is None and undecided is None:
            undecided = Comparison(equal=None, message=say("check.sym.element", index=i,
                                                           detail=c.message))
    return undecided or Comparison(equal=True, message=say("check.sym.all_values_equal",
                                                           n=len(expected)))


def _compare_matrix(e: Any, a: Any, setup: _Setup) -> Comparison:
    if not isinstance(a, sp.MatrixBase):
        return Comparison(equal=False, message=say("check.sym.matrix_got", shape=_shape(e),
                                                   got=_describe_for_expressions(a)))
    if a.shape != e.shape:
        hint = say("check.sym.matrix_instead", got=_shape(a), expected=_shape(e))
        if a.shape == e.shape[::-1] and _all_entries_equal(e, a.T, setup):
            hint = say("check.sym.transposed_vector" if 1 in e.shape else "check.num.transposed")
        return Comparison(equal=False, message=say("check.sym.matrix_shape", expected=_shape(e),
                                                   got=_shape(a)), hint=hint)
    undecided = None
    rows, cols = e.shape
    for i in range(rows):
        for j in range(cols):
            c = _compare_expression(e[i, j], a[i, j], setup)
            if c.equal is False:
                return Comparison(equal=False, message=say("check.sym.entry", row=i, column=j,
                                                           detail=c.message),
                                  hint=c.hint or say("check.sym.entry_hint", row=i, column=j))
            if c.equal is None and undecided is None:
                undecided = Comparison(equal=None, message=say("check.sym.entry", row=i,
                                                               column=j, detail=c.message))
    return undecided or Comparison(equal=True, message=say("check.sym.all_entries_equal",
                                                           n=rows * cols))


def _all_entries_equal(e: Any, a: Any, setup: _Setup) -> bool:
    try:
        return all(_compare_expression(e[i, j], a[i, j], setup).equal is True
                   for i in range(e.shape[0]) for j in range(e.shape[1]))
    except Exception:  # only a hint
        return False


def _compare_structure(e: Any, a: Any, setup: _Setup) -> Comparison:
    """Other sympy objects: equal only if the same after normalising."""
    try:
        e_n = _normalise(e, setup)
    except _Refused as exc:
        return Comparison(equal=None, message=say("check.sym.expected_refused", why=exc.reason))
    if not isinstance(a, sp.Basic):
        return Comparison(equal=False, message=say("check.num.expected_described",
                                                   expected=_display(e),
                                                   got=_describe_for_expressions(a)))
    try:
        a_n = _normalise(a, setup)
    except _Refused as exc:
        return Comparison(equal=False, message=say("check.sym.answer_refused", why=exc.reason))
    if e_n == a_n:
        return Comparison(equal=True, message=say("check.sym.identical"))
    return Comparison(equal=False, message=say("check.num.expected_got", expected=_display(e_n),
                                               got=_display(a_n)))
