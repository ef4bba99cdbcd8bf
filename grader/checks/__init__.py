"""Answer checks: one module per kind, each a function ``grade(spec, evidence, max_score)``.

A check never raises for a wrong, missing or malformed answer: it returns a
:class:`~grader.results.CheckResult`. Comparators (``numeric.compare``,
``symbolic.compare``) return a :class:`Comparison` and are shared between kinds.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from dataclasses import dataclass
from types import ModuleType
from typing import Any

from grader.answers import MISSING, CallableAnswer, CallOutcome, Rejected
from grader.calls import Call
from grader.results import CheckResult, Status
from grader.rubric import CheckSpec


@dataclass(frozen=True, kw_only=True)
class Comparison:
    """Whether a received value equals an expected one; ``None`` when undecidable."""

    equal: bool | None
    message: str = ""
    hint: str = ""


@dataclass(frozen=True, kw_only=True)
class Evidence:
    """What a check may look at: the decoded answer, the reference, and call outcomes."""

    received: Any
    reference: ModuleType
    calls: tuple[Call, ...] = ()
    outcomes: tuple[CallOutcome, ...] = ()


def make_result(
    spec: CheckSpec,
    max_score: float,
    *,
    fraction: float,
    status: Status,
    message: str,
    expected: str | None = None,
    received: str | None = None,
    mistake: str | None = None,
) -> CheckResult:
    """Build a CheckResult, clamping the fraction to [0, 1] and hiding hidden values."""
    fraction = min(1.0, max(0.0, fraction))
    return CheckResult(
        answer=spec.answer,
        kind=spec.kind,
        status=status,
        score=round(max_score * fraction, 6),
        max_score=max_score,
        message=message,
        expected=expected if spec.visible else None,
        received=received,
        mistake=mistake,
        visible=spec.visible,
        visibility=spec.visibility,
    )


def absent_result(spec: CheckSpec, received: Any, max_score: float) -> CheckResult | None:
    """The result for a missing or rejected answer, or ``None`` when there is an answer."""
    if received is MISSING:
        return make_result(spec, max_score, fraction=0.0, status="missing",
                           message=f"`{spec.answer}` is not defined in the submission.")
    if isinstance(received, Rejected):
        return make_result(spec, max_score, fraction=0.0, status="error",
                           message=f"`{spec.answer}` could not be read: {received.reason}")
    return None


def grader_for(kind: str) -> Callable[[CheckSpec, Evidence, float], CheckResult]:
    """The ``grade`` function of a check kind (imported lazily: sympy is slow to import)."""
    from grader.rubric import KINDS

    if kind not in KINDS:  # the rubric loader rejects unknown kinds; reaching here is our bug
        raise ValueError(f"unknown check kind {kind!r}")
    module = importlib.import_module(f"grader.checks.{kind}")
    grade: Callable[[CheckSpec, Evidence, float], CheckResult] = module.grade
    return grade


__all__ = [
    "MISSING",
    "CallOutcome",
    "CallableAnswer",
    "Comparison",
    "Evidence",
    "Rejected",
    "absent_result",
    "grader_for",
    "make_result",
]
