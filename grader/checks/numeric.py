"""The numeric check kind: grading an answer against the expected value within tolerances.

The number rule, the options and how values are compared are those of
:mod:`grader.checks.numbers`; this module reads them off a check's spec and turns the
comparison into a result, with known mistakes and partial credit.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass
from types import ModuleType
from typing import Any

from grader.checks.options import (
    EXPECTATION_KEYS,
    NUMBER_RULE_KEYS,
    Expectation,
    Mistake,
    NumberRule,
    expectation_need,
    mistake_needs,
    read_expectation,
    read_number_rule,
)
from grader.checks.protocol import (
    BaseKind,
    CheckSpec,
    Evidence,
    Frozen,
    Need,
    Wire,
    absent_result,
    make_result,
)
from grader.messages import say, sentence
from grader.results import CheckResult
from grader.tables import Reader

OPTION_NAMES = ("rtol", "atol", "sigfigs", "decimals", "equal_nan", "bool_as_number",
                "unordered", "up_to_sign", "up_to_scale", "squeeze")


# id(spec) -> (spec, its options). A function check asks once a call, and each option its
# kind lacks raised inside the spec's __getattr__: a tenth of a re-check. The spec is
# held so that its id is not reused while its entry stands; specs are frozen.
_OPTIONS: dict[int, tuple[CheckSpec, dict[str, Any]]] = {}


def spec_options(spec: CheckSpec) -> dict[str, Any]:
    """The keyword arguments of :func:`compare` that a check's spec sets (a new dict)."""
    entry = _OPTIONS.get(id(spec))
    if entry is None or entry[0] is not spec:
        if len(_OPTIONS) >= 4096:  # a process that reads many rubrics (a test run)
            _OPTIONS.clear()
        entry = _OPTIONS[id(spec)] = (spec, {name: getattr(spec, name) for name in OPTION_NAMES
                                             if hasattr(spec, name)})
    return dict(entry[1])


def grade(spec: CheckSpec, evidence: Evidence, max_score: float) -> CheckResult:
    """Grade a numeric answer: exact match, then known mistakes, then partial credit."""
    received = evidence.received
    absent = absent_result(spec, received, max_score)
    if absent is not None:
        return absent
    received_text = _safe_format(received)
    try:
        expected = (spec.value if spec.value is not None
                    else getattr(evidence.reference, spec.reference_name))
        return _grade(spec, evidence, max_score, expected, received, received_text)
    except Exception as exc:  # grading must never raise; this is our bug
        return make_result(
            spec, max_score, fraction=0.0, status="error",
            message=say("check.grader_failed", error=f"{type(exc).__name__}: {exc}"),
            received=received_text)


def _grade(spec: CheckSpec, evidence: Evidence, max_score: float, expected: Any,
           received: Any, received_text: str) -> CheckResult:
    from grader.checks.common import format_value
    from grader.checks.numbers import array_diff, compare
    from grader.checks.numbers.comparing import _share
    from grader.checks.numbers.reading import _is_array_like
    from grader.checks.numbers.rule import _tol_of

    expected_text = format_value(expected)
    options = spec_options(spec)
    comparison = compare(expected, received, **options)
    diff = None
    if not comparison.equal and spec.visible and _is_array_like(expected):
        diff = array_diff(expected, received, **options)

    def result(fraction: float, message: str, mistake: str | None = None,
               status: Any = None) -> CheckResult:
        if status is None:
            status = "passed" if fraction >= 1 else "partial" if fraction > 0 else "failed"
        out = make_result(spec, max_score, fraction=fraction, status=status, message=message,
                          expected=expected_text, received=received_text, mistake=mistake)
        if comparison.equal or not (comparison.hint or diff):
            return out
        return dataclasses.replace(out, hint=comparison.hint, diff=diff)

    if comparison.equal:
        return result(1.0, say("check.correct"))
    if comparison.equal is None:
        return result(0.0, comparison.message, status="error")

    share = 0.0
    if spec.partial and _is_container(expected):
        if options.get("squeeze"):
            from grader.checks.numbers import squeezed

            share = _share(squeezed(expected), squeezed(received), _tol_of(options))
        else:
            share = _share(expected, received, _tol_of(options))
    matched = _matched_mistake(spec.mistakes, evidence, received, options)
    if matched is not None:
        # The mistake names what went wrong; partial credit may still be worth more.
        fraction = max(matched.credit, share)
        return result(min(fraction, _BELOW_ONE), matched.feedback, mistake=matched.id)
    message = _sentence(comparison.message)
    if share > 0:
        return result(min(share, _BELOW_ONE), message)
    return result(0.0, message)


# A failed comparison never earns full marks, even if every element "matched" (extra keys).
_BELOW_ONE = 0.999999


def _matched_mistake(mistakes: tuple[Mistake, ...], evidence: Evidence, received: Any,
                     options: Mapping[str, Any]) -> Mistake | None:
    from grader.checks.numbers import compare

    for m in mistakes:
        value = m.value if m.reference is None else getattr(evidence.reference, m.reference)
        if compare(value, received, **options).equal:
            return m
    return None


def _sentence(message: str) -> str:
    return sentence(message or say("check.not_equal_value"))


def _is_container(value: Any) -> bool:
    import numpy as np

    return isinstance(value, Mapping | list | tuple) or (
        isinstance(value, np.ndarray) and value.ndim > 0)


def _safe_format(value: Any) -> str:
    from grader.checks.common import format_value

    try:
        return format_value(value)
    except Exception:  # display text must never break grading
        return f"<{type(value).__name__}>"


# --------------------------------------------------------------------------- the kind


@dataclass(frozen=True, kw_only=True)
class NumericOptions(NumberRule, Expectation):
    """A numeric check: the expected value or its reference name, and the number rule."""


class NumericKind(BaseKind):
    """A number, an array, or a collection of them, equal within the number rule."""

    name = "numeric"
    summary = "a number, array or collection of them, equal within tolerances"
    keys = (*EXPECTATION_KEYS, *NUMBER_RULE_KEYS)
    options_type = NumericOptions
    public_modes = ("format", "hash", "none")

    def read_options(self, reader: Reader, raw: Mapping[str, Any],
                     question: str) -> NumericOptions:
        """The expectation (values are rubric literals) and the number rule."""
        spec = read_expectation(reader, raw, question, literal=True)
        spec.update(read_number_rule(reader, raw, question))
        return NumericOptions(**spec)

    def grade(self, spec: CheckSpec, evidence: Evidence, max_score: float) -> CheckResult:
        """See :func:`grade`."""
        return grade(spec, evidence, max_score)

    def needs(self, spec: CheckSpec) -> tuple[Need, ...]:
        """The expected value (unless a literal is given) and mistakes by reference."""
        o = spec.options
        assert isinstance(o, NumericOptions)
        return (*expectation_need(spec.answer, o, self.name),
                *mistake_needs(o.mistakes, callable=False))

    def publish(self, spec: CheckSpec, raw: Mapping[str, Any], reference: ModuleType,
                where: str) -> Frozen | None:
        """The answer's form, or a salted hash of it (``public = "hash"``), never its value."""
        from grader.checks.digest import digest_table
        from grader.checks.format import format_table
        from grader.checks.public import describe

        o = spec.options
        assert isinstance(o, NumericOptions)
        value = o.value if o.value is not None else getattr(reference, spec.reference_name)
        if spec.public == "hash":
            return digest_table(spec, value, where, sigfigs=o.sigfigs, decimals=o.decimals)
        if spec.public == "format":
            return format_table(spec, describe(value))
        return None

    def reference_evidence(self, spec: CheckSpec, reference: ModuleType, wire: Wire,
                           calls: tuple[Any, ...]) -> Evidence | None:
        """The reference's value, as the kernel would send it back."""
        o = spec.options
        assert isinstance(o, NumericOptions)
        truth = o.value if o.value is not None else getattr(reference, spec.reference_name)
        return Evidence(received=wire(truth), reference=reference)


KIND = NumericKind()
