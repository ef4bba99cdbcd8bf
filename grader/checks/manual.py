"""Text answers: collected and shown; a TA scores them later."""

from __future__ import annotations

from grader.answers import MISSING, Rejected
from grader.checks import Evidence, make_result
from grader.results import CheckResult
from grader.rubric import CheckSpec


def grade(spec: CheckSpec, evidence: Evidence, max_score: float) -> CheckResult:
    """Record the text for a TA; missing or non-text answers say so."""
    text = evidence.received
    if text is MISSING or (isinstance(text, str) and not text.strip()):
        return make_result(spec, max_score, fraction=0.0, status="missing",
                           message=f"No answer: define `{spec.answer}` as a string or tag a "
                                   f"markdown cell with `{spec.answer}`.")
    if isinstance(text, Rejected):
        return make_result(spec, max_score, fraction=0.0, status="error",
                           message=f"`{spec.answer}` could not be read: {text.reason}")
    if not isinstance(text, str):
        return make_result(spec, max_score, fraction=0.0, status="missing",
                           message=f"`{spec.answer}` should be text (a str or a tagged "
                                   "markdown cell).")
    return make_result(spec, max_score, fraction=0.0, status="manual",
                       message="Collected; a TA will grade this answer.", received=text)
