"""Format checks: the answer has the form of the reference's, whatever its value.

``grader release`` writes these into a student bundle for checks whose ``public`` is
``format`` (see :mod:`grader.checks.public`): the type, an array's shape, a dict's keys,
an expression's symbols, that a number is finite, that a function is callable and,
with public inputs, the form of what it returns. A format check passing says nothing of
the value: the final grading does.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from types import ModuleType
from typing import Any

from grader.answers import CallableAnswer
from grader.calls import Call
from grader.checks.options import read_literal_calls
from grader.checks.protocol import (
    BaseKind,
    CallPlan,
    CheckSpec,
    Evidence,
    Frozen,
    KindOptions,
    absent_result,
    make_result,
)
from grader.checks.public import FORM_TYPES, form_problem, form_text
from grader.messages import say
from grader.results import CheckResult
from grader.tables import Reader


@dataclass(frozen=True, kw_only=True)
class FormatOptions(KindOptions):
    """The form of the answer (or, for a function, of its output on each public input)."""

    form: Mapping[str, Any] = field(default_factory=dict)
    inputs: tuple[Call, ...] = ()
    array_args: tuple[int | str, ...] = ()
    outputs: tuple[Mapping[str, Any], ...] = ()


class FormatKind(BaseKind):
    """The answer's type and shape, never its value."""

    name = "format"
    summary = "the answer's form (type, shape, keys, symbols), not its value"
    keys = ("form", "inputs", "array_args", "outputs")
    options_type = FormatOptions
    public_modes = ("format", "none")

    def read_options(self, reader: Reader, raw: Mapping[str, Any],
                     question: str) -> FormatOptions:
        """A form table, and for a function its public inputs with one form per output."""
        form = _form(reader, reader.get(raw, "form", dict, question=question, required=True,
                                        describe='a table such as { type = "number" }'),
                     question, "form")
        inputs, array_args = read_literal_calls(reader, raw, question)
        outputs = tuple(_form(reader, o, question, "outputs")
                        for o in reader.get(raw, "outputs", list, question=question,
                                            default=[]))
        if len(outputs) != len(inputs):
            raise reader.error(f"{len(outputs)} output forms for {len(inputs)} inputs",
                               question=question, key="outputs")
        return FormatOptions(form=form, inputs=inputs, array_args=array_args, outputs=outputs)

    def plan(self, spec: CheckSpec, reference: ModuleType) -> CallPlan | None:
        """The public inputs, when the answer is a function that has some."""
        o = _options(spec)
        return CallPlan(calls=o.inputs) if o.inputs else None

    def grade(self, spec: CheckSpec, evidence: Evidence, max_score: float) -> CheckResult:
        """Passed when the answer (or each output) has its form; the message says which."""
        early = absent_result(spec, evidence.received, max_score)
        if early is not None:
            return early
        o = _options(spec)
        problem = form_problem(o.form, evidence.received) if o.form.get(
            "type") != "callable" else ("" if isinstance(evidence.received, CallableAnswer)
                                        else say("check.form.not_function"))
        if not problem:
            for call, outcome, form in zip(o.inputs, evidence.outcomes, o.outputs,
                                           strict=False):
                shown = f"{spec.answer}{call.display()}"
                if outcome.timed_out:
                    problem = say("check.public_call.timeout", call=shown)
                elif outcome.error:
                    problem = say("check.public_call.raised", call=shown, error=outcome.error)
                else:
                    wrong = form_problem(form, outcome.value)
                    if wrong:
                        problem = say("check.form.returned", call=shown, problem=wrong,
                                      form=form_text(form))
                if problem:
                    break
        if problem:
            message = (problem if o.inputs and problem.startswith(spec.answer) else
                       say("check.form.is_not", answer=spec.answer, problem=problem,
                           form=form_text(o.form)))
            return make_result(spec, max_score, fraction=0.0, status="failed",
                               message=message)
        return make_result(spec, max_score, fraction=1.0, status="passed",
                           message=say("check.form.has_form", answer=spec.answer,
                                       form=form_text(o.form)))


def _options(spec: CheckSpec) -> FormatOptions:
    assert isinstance(spec.options, FormatOptions)
    return spec.options


def _form(reader: Reader, raw: Any, question: str, key: str) -> dict[str, Any]:
    if not isinstance(raw, dict) or raw.get("type") not in FORM_TYPES:
        raise reader.error("a form is a table with a type", question=question, key=key,
                           allowed=", ".join(FORM_TYPES))
    return dict(raw)


KIND = FormatKind()


def format_table(spec: CheckSpec, form: Mapping[str, Any], *, inputs: list[Any] | None = None,
                 array_args: list[int | str] | None = None,
                 outputs: list[Mapping[str, Any]] | None = None) -> Frozen:
    """The public rubric's format check standing for ``spec``."""
    keys: dict[str, Any] = {"answer": spec.answer, "kind": KIND.name, "weight": spec.weight,
                            "form": dict(form)}
    if inputs:
        keys["inputs"] = inputs
        if array_args:
            keys["array_args"] = array_args
        keys["outputs"] = [dict(o) for o in outputs or ()]
    return Frozen(keys=keys)
