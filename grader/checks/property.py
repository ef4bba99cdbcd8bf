"""Property answers: a check function of the reference module judges the answer.

For a value answer the property is called as ``prop(answer) -> (ok, message)``; for a
function answer (a check with inputs) as ``prop(args, output) -> (ok, message)`` for each
call, where ``output`` is what the student's function returned inside the kernel.
"""

from __future__ import annotations

from typing import Any

from grader.checks import Evidence, absent_result, make_result
from grader.checks.common import format_value
from grader.checks.function import not_callable
from grader.results import CheckResult
from grader.rubric import CheckSpec


def grade(spec: CheckSpec, evidence: Evidence, max_score: float) -> CheckResult:
    """Run the reference's property function on the answer or on each call's output."""
    early = absent_result(spec, evidence.received, max_score)
    if early is not None:
        return early
    prop = getattr(evidence.reference, spec.property_name or "")
    if not evidence.calls:
        ok, message = _judge(prop, evidence.received)
        return make_result(spec, max_score, fraction=1.0 if ok else 0.0,
                           status="passed" if ok else "failed",
                           message=message or ("correct." if ok else "incorrect."),
                           received=format_value(evidence.received))
    early = not_callable(spec, evidence.received, max_score)
    if early is not None:
        return early
    results = []
    for call, outcome in zip(evidence.calls, evidence.outcomes, strict=True):
        if outcome.timed_out:
            results.append((False, "the call did not finish in time"))
        elif outcome.error:
            results.append((False, f"the call raised {outcome.error}"))
        else:
            results.append(_judge(prop, tuple(call.args), outcome.value))
    n = len(results)
    passed = sum(1 for ok, _ in results if ok)
    if passed == n:
        return make_result(spec, max_score, fraction=1.0, status="passed",
                           message=f"correct on all {n} test inputs.")
    first = next(i for i, (ok, _) in enumerate(results) if not ok)
    where = (f"{spec.answer}{evidence.calls[first].display()}: " if spec.visible
             else "on a hidden input: ")
    fraction = passed / n if spec.partial else 0.0
    return make_result(spec, max_score, fraction=fraction,
                       status="partial" if fraction > 0 else "failed",
                       message=f"wrong on {n - passed} of {n} test inputs; first {where}"
                               f"{results[first][1]}")


def _judge(prop: Any, *args: Any) -> tuple[bool, str]:
    try:
        verdict = prop(*args)
    except Exception as exc:  # the rubric's check function failed: our error, not the student's
        return False, f"grader error in the property check: {type(exc).__name__}: {exc}"
    if isinstance(verdict, tuple) and len(verdict) == 2:
        return bool(verdict[0]), str(verdict[1])
    return bool(verdict), ""
