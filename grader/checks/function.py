"""Function answers: call the student's function on hidden inputs, compare with the reference.

The calls happen inside the student's kernel (see :mod:`grader.kernel.harvest`); this module
sees only their decoded outcomes and compares them in the grader with the numeric rules
(and the check's numeric options: ``rtol``, ``atol``, ``sigfigs``, ``decimals``,
``equal_nan``, ``bool_as_number``, ``unordered``, ``up_to_sign``, ``up_to_scale``).

Inputs are the rubric's literal ``inputs`` (edge cases), then those of ``inputs_from``,
then ``count`` calls drawn by :func:`generate_calls` from the check's ``[random]`` table
with a generator seeded by its ``seed`` (the same inputs on every run and machine). A
visible check's message shows the first failing input with the expected and received
output; with ``partial`` the check earns the share of inputs it gets right.
"""

from __future__ import annotations

import dataclasses
from typing import Any

from grader.answers import CallableAnswer
from grader.calls import reference_outputs
from grader.checks import Comparison, Evidence, absent_result, make_result
from grader.checks.common import format_value
from grader.checks.numbers import array_diff, compare
from grader.checks.numeric import spec_options
from grader.results import CheckResult
from grader.rubric import CheckSpec


def not_callable(spec: CheckSpec, received: Any, max_score: float) -> CheckResult | None:
    """A failed result when the answer exists but is not a function."""
    if isinstance(received, CallableAnswer):
        return None
    return make_result(spec, max_score, fraction=0.0, status="failed",
                       message=f"`{spec.answer}` should be a function, but it is "
                               f"{format_value(received)} ({type(received).__name__}).",
                       received=format_value(received))


def grade(spec: CheckSpec, evidence: Evidence, max_score: float) -> CheckResult:
    """Compare each call's outcome with the reference's output on the same input."""
    early = absent_result(spec, evidence.received, max_score) or not_callable(
        spec, evidence.received, max_score)
    if early is not None:
        return early
    calls, outcomes = evidence.calls, evidence.outcomes
    try:
        # A released public rubric carries the expected outputs as literals.
        expected = (list(spec.outputs) if spec.outputs is not None else
                    reference_outputs(getattr(evidence.reference, spec.reference_name), calls))
    except Exception as exc:
        return make_result(spec, max_score, fraction=0.0, status="error",
                           message=f"grader error: the reference {spec.reference_name} raised "
                                   f"{type(exc).__name__}: {exc}")
    verdicts = [_verdict(e, o, spec) for e, o in zip(expected, outcomes, strict=True)]
    passed = sum(1 for v in verdicts if v.equal)
    n = len(verdicts)
    if passed == n:
        return make_result(spec, max_score, fraction=1.0, status="passed",
                           message=f"correct on all {n} test inputs.")
    share = passed / n if spec.partial and n else 0.0
    for mistake in spec.mistakes:
        try:
            wrong = (list(mistake.outputs) if mistake.outputs is not None else
                     reference_outputs(getattr(evidence.reference, mistake.reference or ""),
                                       calls))
        except Exception:  # a mistake the reference cannot compute on an input never matches
            continue
        if all(_verdict(w, o, spec).equal for w, o in zip(wrong, outcomes, strict=True)):
            # Naming the mistake must never cost points that partial credit would give.
            fraction = max(mistake.credit, share)
            return make_result(spec, max_score, fraction=fraction,
                               status="partial" if fraction > 0 else "failed",
                               message=mistake.feedback, mistake=mistake.id)
    first = next(i for i, v in enumerate(verdicts) if not v.equal)
    exp_text: str | None
    rec_text: str | None
    summary = f"wrong on {n - passed} of {n} test inputs"
    hint = ""
    diff = None
    if spec.visible:
        verdict = verdicts[first]
        detail = (f"{spec.answer}{calls[first].display()}: {verdict.message}"
                  + (f" ({verdict.hint})" if verdict.hint else ""))
        message = f"{summary}; first: {detail}"
        exp_text = format_value(expected[first])
        got = outcomes[first]
        rec_text = ("timed out" if got.timed_out else f"raised {got.error}" if got.error
                    else format_value(got.value))
        hint = verdict.hint
        if not (got.timed_out or got.error):
            diff = array_diff(expected[first], got.value, **_number_options(spec))
    else:
        kinds = sorted({_failure_kind(outcomes[i], v) for i, v in enumerate(verdicts)
                        if not v.equal})
        message = f"{summary} (hidden): {', '.join(kinds)}"
        exp_text = rec_text = None
    result = make_result(spec, max_score, fraction=share,
                         status="partial" if share > 0 else "failed",
                         message=message, expected=exp_text, received=rec_text)
    if hint or diff:
        result = dataclasses.replace(result, hint=hint, diff=diff)
    return result


def _number_options(spec: CheckSpec) -> dict[str, Any]:
    options = spec_options(spec)
    for name in ("unordered", "up_to_sign", "up_to_scale"):
        options.pop(name, None)  # whole-value options say nothing about single entries
    return options


def _verdict(expected: Any, outcome: Any, spec: CheckSpec) -> Comparison:
    if outcome.timed_out:
        limit = f" (limit {spec.call_timeout:g} s)" if spec.call_timeout else ""
        return Comparison(equal=False, message=f"the call did not finish in time{limit}")
    if outcome.error:
        return Comparison(equal=False, message=f"the call raised {outcome.error}")
    try:
        return compare(expected, outcome.value, **spec_options(spec))
    except Exception as exc:  # a comparator bug must not end the batch
        return Comparison(equal=None, message=f"grader error while comparing: {exc}")


def _failure_kind(outcome: Any, verdict: Comparison) -> str:
    if outcome.timed_out:
        return "timed out"
    if outcome.error:
        return "raised " + outcome.error.split(":", 1)[0]
    return "wrong value"
