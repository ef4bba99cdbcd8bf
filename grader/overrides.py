"""Staff overrides: a TA's points in place of the grader's, and the log of every change.

A TA may give points to any check, not only a text answer (``grader manual``):

- an **automatic check** overridden keeps its automatic verdict and message, and gains
  an :class:`~grader.results.Override` holding the TA's points, comment, name and time;
  its status is ``overridden`` and its score the TA's points, so the question and the
  total count them;
- a **whole question** overridden scores the TA's points whatever its checks add up to
  (automatic, overridden or TA-graded text alike); its checks stay on the page as they
  are, for the record, and its text answers are no longer waiting for a TA.

Overrides live in the gradebook apart from the results (:mod:`grader.gradebook`) and
are applied on read (:func:`apply_overrides`), after a TA's grades of text answers; a
re-grading adds a result row and never touches them. Each change staff make is logged
(:func:`log_changes`): who, when, the old and new points, the comment.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace

from grader.results import (
    Change,
    CheckResult,
    Override,
    QuestionResult,
    SubmissionResult,
    question_status,
)

WHOLE_QUESTION = ""  # the answer of an override of a whole question
GRADED_BY_TA = "Graded by a TA."  # a graded text answer's message when the TA left no comment


@dataclass(frozen=True, kw_only=True)
class StaffOverride:
    """A TA's points for one student's automatic check (``answer``) or question."""

    student: str
    question: str
    answer: str  # WHOLE_QUESTION: the question's points
    points: float
    comment: str = ""
    by: str = ""
    at: str = ""  # UTC, ISO 8601; set when stored
    source: str = ""  # "grades.csv line 3"

    @property
    def key(self) -> tuple[str, str]:
        """What it overrides: (question id, answer name or WHOLE_QUESTION)."""
        return (self.question, self.answer)


def _clamped(points: float, high: float) -> float:
    return round(min(high, max(0.0, points)), 6)


def _mark(override: StaffOverride, auto_status: str, auto_score: float) -> Override:
    return Override(points=override.points, comment=override.comment, by=override.by,
                    at=override.at, auto_status=auto_status,  # type: ignore[arg-type]
                    auto_score=auto_score)


def _overridden_check(check: CheckResult, override: StaffOverride) -> CheckResult:
    return replace(check, status="overridden", score=_clamped(override.points, check.max_score),
                   override=_mark(override, check.status, check.score))


def apply_overrides(result: SubmissionResult,
                    overrides: Mapping[tuple[str, str], StaffOverride]) -> SubmissionResult:
    """``result`` with a TA's overrides of its automatic checks and whole questions.

    An override of a text answer's check is not one: text answers take a TA's grade
    (:func:`grader.gradebook.apply_manual`). An override naming a check or question the
    result does not have (the rubric changed) is left out.
    """
    if not overrides:
        return result
    questions: list[QuestionResult] = []
    for q in result.questions:
        checks = tuple(_overridden_check(c, o) if (o := overrides.get((q.id, c.answer)))
                       is not None and not c.manual else c for c in q.checks)
        if checks != q.checks:
            score = _clamped(sum(c.score for c in checks), q.max_score)
            q = replace(q, checks=checks, score=score, status=question_status(checks))
        whole = overrides.get((q.id, WHOLE_QUESTION))
        if whole is not None:
            q = replace(q, status="overridden", score=_clamped(whole.points, q.max_score),
                        override=_mark(whole, q.status, q.score))
        questions.append(q)
    return replace(result, questions=tuple(questions),
                   score=round(sum(q.score for q in questions), 6))


def current_points(result: SubmissionResult | None, question: str, answer: str
                   ) -> tuple[float | None, str]:
    """The points (and comment) a check or question has now; ``None`` when it has none.

    A text answer waiting for a TA, or a check the result lacks, has none yet.
    """
    if result is None:
        return None, ""
    for q in result.questions:
        if q.id != question:
            continue
        if answer == WHOLE_QUESTION:
            return q.score, q.override.comment if q.override else ""
        for c in q.checks:
            if c.answer == answer:
                if c.awaits_staff:
                    return None, ""
                comment = c.override.comment if c.override else (
                    c.message if c.staff_graded and c.message != GRADED_BY_TA else "")
                return c.score, comment
    return None, ""


@dataclass(frozen=True, kw_only=True)
class Given:
    """Points staff give one student's check or question, as :func:`log_changes` reads."""

    student: str
    question: str
    answer: str
    points: float | None  # None: an override withdrawn
    comment: str = ""
    source: str = ""


def log_changes(before: Mapping[str, SubmissionResult], given: Iterable[Given], *, by: str,
                at: str) -> list[tuple[str, Change]]:
    """The regrade log's new lines, by student: each grade that changes points or comment.

    ``before`` is what pages showed until now (results with staff grades merged in); a
    grade that repeats what is there already (the same CSV merged twice) is no change.
    """
    lines: list[tuple[str, Change]] = []
    for g in given:
        old, old_comment = current_points(before.get(g.student), g.question, g.answer)
        same_points = (old is None and g.points is None) or (
            old is not None and g.points is not None and abs(old - g.points) <= 1e-9)
        if same_points and old_comment == g.comment:
            continue
        lines.append((g.student, Change(question=g.question, answer=g.answer, old_points=old,
                                        new_points=g.points, comment=g.comment, by=by, at=at,
                                        source=g.source)))
    return lines
