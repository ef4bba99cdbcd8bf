"""Text answers: collected and shown; a TA scores them later."""

from __future__ import annotations

from collections.abc import Mapping
from types import ModuleType
from typing import Any

from grader.answers import MISSING, Rejected
from grader.checks.protocol import (
    BaseKind,
    CheckSpec,
    Evidence,
    Frozen,
    KindOptions,
    Stub,
    make_result,
)
from grader.messages import say
from grader.results import CheckResult
from grader.tables import Reader


class ManualKind(BaseKind):
    """A text answer (a string, or a markdown cell tagged with its name) for a TA."""

    name = "manual"
    summary = "a text answer, collected for a TA to score"
    auto = False
    public_modes = ("format", "none")

    def read_options(self, reader: Reader, raw: Mapping[str, Any],
                     question: str) -> KindOptions:
        """No options."""
        return KindOptions()

    def grade(self, spec: CheckSpec, evidence: Evidence, max_score: float) -> CheckResult:
        """Record the text for a TA; missing or non-text answers say so."""
        text = evidence.received
        if text is MISSING or (isinstance(text, str) and not text.strip()):
            return make_result(spec, max_score, fraction=0.0, status="missing",
                               message=say("check.manual.no_answer", answer=spec.answer))
        if isinstance(text, Rejected):
            return make_result(spec, max_score, fraction=0.0, status="error",
                               message=say("check.unreadable", answer=spec.answer,
                                           reason=text.reason))
        if not isinstance(text, str):
            return make_result(spec, max_score, fraction=0.0, status="missing",
                               message=say("check.manual.not_text", answer=spec.answer))
        return make_result(spec, max_score, fraction=0.0, status="manual",
                           message=say("check.manual.collected"), received=text)

    def publish(self, spec: CheckSpec, raw: Mapping[str, Any], reference: ModuleType,
                where: str) -> Frozen | None:
        """Collected in the bundle too (there is no answer to reveal)."""
        if spec.public == "none":
            return None
        return Frozen(keys={"answer": spec.answer, "kind": self.name, "weight": spec.weight})

    def stub(self, spec: CheckSpec, reference: ModuleType) -> Stub:
        """An empty markdown cell tagged with the answer's name.

        Left empty, so that an unanswered text reads as missing, not as an answer.
        """
        return Stub(source="", markdown=True)


KIND = ManualKind()
