"""The symbolic check kind: expression answers graded by the rule of :mod:`grader.checks.algebra`.

This module reads a check's spec (declared symbols, functions, options, known mistakes)
and turns the comparison into a result, with per-key partial credit. It imports the
engine, and so sympy, only when a check is graded: loading a rubric stays cheap.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping
from dataclasses import replace
from typing import TYPE_CHECKING, Any

from grader.checks import Evidence, absent_result, make_result
from grader.results import CheckResult
from grader.rubric import CheckSpec, Mistake

if TYPE_CHECKING:
    from grader.checks.algebra.setup import _Setup


def grade(spec: CheckSpec, evidence: Evidence, max_score: float) -> CheckResult:
    """Grade a symbolic answer: equality, then known mistakes and per-key partial credit."""
    from grader.checks.algebra.display import _display

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


def setup_for(spec: CheckSpec, reference_value: Any) -> _Setup:
    """The comparison setup of a check: its declared symbols, functions and options."""
    from grader.checks.algebra.setup import _declared, _functions, _Setup, declare

    symbols = declare(_declared(spec.symbols, reference_value), spec.assumptions, spec.domain)
    functions = _functions(tuple(sorted(spec.functions.items())), tuple(symbols.items()))
    return _Setup.make(symbols, functions, spec.domain, spec.rtol, spec.atol, 12, 0,
                       syntax=spec.input_syntax, form=spec.form, mode=spec.compare)


def _grade(spec: CheckSpec, evidence: Evidence, max_score: float, received: Any,
           received_text: str) -> CheckResult:
    from grader.checks.algebra.cache import _TOO_LONG
    from grader.checks.algebra.comparing import compare_keys
    from grader.checks.algebra.display import _display, _key, mathml
    from grader.checks.algebra.reading import _for_display, _rubric_value

    raw = (spec.value if spec.value is not None
           else getattr(evidence.reference, spec.reference_name))
    setup = setup_for(spec, raw)
    expected = _rubric_value(raw, setup)
    expected_text = _display(expected)
    expected_math = mathml(expected) if spec.visible else None
    received_math = mathml(_for_display(received, setup))
    comparison, per_key = compare_keys(expected, received, setup)

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


def _matched_mistake(mistakes: tuple[Mistake, ...], evidence: Evidence, received: Any,
                     setup: _Setup) -> Mistake | None:
    from grader.checks.algebra.cache import _cached, _guarded
    from grader.checks.algebra.comparing import _compare
    from grader.checks.algebra.reading import _rubric_value

    for m in mistakes:
        value = m.value if m.reference is None else getattr(evidence.reference, m.reference)
        value = _rubric_value(value, setup)
        run = functools.partial(_guarded, functools.partial(_compare, value, received, setup))
        if _cached(value, received, setup, run)[0].equal:
            return m
    return None
