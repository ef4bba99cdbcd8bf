"""Property answers: a check function of the reference module judges the answer.

For a value answer the property is called as ``prop(answer) -> (ok, message)``; for a
function answer (a check with inputs) as ``prop(args, output) -> (ok, message)`` for each
call, where ``output`` is what the student's function returned inside the kernel.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from dataclasses import dataclass
from types import ModuleType
from typing import Any

from grader.checks.function import function_stub, not_callable, timeout_text
from grader.checks.options import INPUT_KEYS, Inputs, input_needs, read_call_options, with_arrays
from grader.checks.protocol import (
    BaseKind,
    CallPlan,
    CheckSpec,
    Evidence,
    Frozen,
    Need,
    Stub,
    Wire,
    absent_result,
    make_result,
)
from grader.errors import ReleaseError
from grader.messages import say
from grader.results import CheckResult
from grader.tables import Reader


def grade(spec: CheckSpec, evidence: Evidence, max_score: float) -> CheckResult:
    """Run the reference's property function on the answer or on each call's output."""
    from grader.checks.common import format_value

    early = absent_result(spec, evidence.received, max_score)
    if early is not None:
        return early
    prop = getattr(evidence.reference, spec.property_name or "")
    if not evidence.calls:
        ok, message = _judge(prop, evidence.received)
        return make_result(spec, max_score, fraction=1.0 if ok else 0.0,
                           status="passed" if ok else "failed",
                           message=message or say("check.property.correct" if ok else
                                                  "check.property.incorrect"),
                           received=format_value(evidence.received))
    early = not_callable(spec, evidence.received, max_score)
    if early is not None:
        return early
    results = []
    for call, outcome in zip(evidence.calls, evidence.outcomes, strict=True):
        if outcome.timed_out:
            results.append((False, timeout_text(outcome, spec)))
        elif outcome.error:
            results.append((False, say("check.call_raised", error=outcome.error)))
        else:
            # A copy, as the reference's outputs are computed on: a property that changed
            # its arguments would change them for every later student's check.
            results.append(_judge(prop, copy.deepcopy(tuple(call.args)), outcome.value))
    n = len(results)
    passed = sum(1 for ok, _ in results if ok)
    if passed == n:
        return make_result(spec, max_score, fraction=1.0, status="passed",
                           message=say("check.correct_on_all", n=n))
    first = next(i for i, (ok, _) in enumerate(results) if not ok)
    summary = say("check.wrong_on", wrong=n - passed, n=n)
    detail = results[first][1]
    message = (say("check.property.first_at", summary=summary, detail=detail,
                   call=f"{spec.answer}{evidence.calls[first].display()}") if spec.visible
               else say("check.property.first_hidden", summary=summary, detail=detail))
    fraction = passed / n if spec.partial else 0.0
    return make_result(spec, max_score, fraction=fraction,
                       status="partial" if fraction > 0 else "failed",
                       message=message)


def _judge(prop: Any, *args: Any) -> tuple[bool, str]:
    try:
        verdict = prop(*args)
    except Exception as exc:  # the rubric's check function failed: our error, not the student's
        return False, say("check.property.raised", error=f"{type(exc).__name__}: {exc}")
    if isinstance(verdict, tuple) and len(verdict) == 2:
        return bool(verdict[0]), str(verdict[1])
    return bool(verdict), ""


@dataclass(frozen=True, kw_only=True)
class PropertyOptions(Inputs):
    """A property check: the reference's check function, and calls if the answer is one."""

    property_name: str | None = None  # the TOML key `property`


class PropertyKind(BaseKind):
    """A check function of the reference module judges the answer (or each call's output).

    Never released: the check function is reference code, which often computes the
    answer itself.
    """

    name = "property"
    summary = "a check function of the reference judges the answer"
    keys = ("property", *INPUT_KEYS)
    options_type = PropertyOptions
    public_modes = ("none", "property")

    def read_options(self, reader: Reader, raw: Mapping[str, Any],
                     question: str) -> PropertyOptions:
        """The check function's name, and the calls (optional)."""
        spec = read_call_options(reader, raw, question)
        spec["property_name"] = reader.name(raw, "property", question=question)
        if "property" not in raw:
            raise reader.error("a property check names its check function", question=question,
                               key="property", allowed="a function in the reference module")
        spec["inputs"] = with_arrays(spec["inputs"], spec["array_args"])
        return PropertyOptions(**spec)

    def grade(self, spec: CheckSpec, evidence: Evidence, max_score: float) -> CheckResult:
        """See :func:`grade`."""
        return grade(spec, evidence, max_score)

    def needs(self, spec: CheckSpec) -> tuple[Need, ...]:
        """The generator of inputs, if any, and the check function."""
        o = _options(spec)
        prop = Need(key="property", name=o.property_name or "", callable=True,
                    what="a property check (a function in the reference)", free_key="property")
        return (*input_needs(o), prop)

    def plan(self, spec: CheckSpec, reference: ModuleType) -> CallPlan | None:
        """The calls, when the answer is a function (the check has inputs)."""
        o = _options(spec)
        return CallPlan(calls=o.resolve(reference), timeout=o.call_timeout) if o.has_inputs \
            else None

    def publish(self, spec: CheckSpec, raw: Mapping[str, Any], reference: ModuleType,
                where: str) -> Frozen | None:
        """With ``public = "property"``: the check as written, its function's source along."""
        if spec.public != "property":
            return None
        o = _options(spec)
        if o.inputs_from or o.random:
            raise ReleaseError(f"{where}: a public property check takes literal inputs only "
                               "(no inputs_from or [random]: their generator is reference code)")
        keys = {k: v for k, v in raw.items() if k in ("answer", "kind", "weight", *self.keys)}
        return Frozen(keys=keys, sources=(o.property_name or "",))

    def reference_evidence(self, spec: CheckSpec, reference: ModuleType, wire: Wire,
                           calls: tuple[Any, ...]) -> Evidence | None:
        """The reference's own answer, when it defines one under the answer's name."""
        from grader.answers import CallableAnswer, CallOutcome
        from grader.calls import reference_outputs

        if not hasattr(reference, spec.answer):
            return None
        answer = getattr(reference, spec.answer)
        if not calls:
            return Evidence(received=wire(answer), reference=reference)
        outputs = reference_outputs(answer, calls)
        return Evidence(received=CallableAnswer(name=spec.answer), reference=reference,
                        calls=calls, outcomes=tuple(CallOutcome(value=wire(o)) for o in outputs))

    def stub(self, spec: CheckSpec, reference: ModuleType) -> Stub:
        """A function stub when the check calls the answer, else a value cell."""
        if _options(spec).has_inputs:
            return function_stub(spec.answer, getattr(reference, spec.answer, None))
        return super().stub(spec, reference)


def _options(spec: CheckSpec) -> PropertyOptions:
    assert isinstance(spec.options, PropertyOptions)
    return spec.options


KIND = PropertyKind()
