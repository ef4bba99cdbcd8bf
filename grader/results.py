"""Results as plain, frozen data: what the checks return and the renderers read.

Also the one rule that reads results: what a question's checks add up to
(:func:`question_status`), and what a text answer is (a check of kind ``manual``, graded
by a TA: :attr:`CheckResult.manual`). Every renderer asks these instead of deciding anew.

A TA may override an automatic check or a whole question (:class:`Override`): its status
becomes ``overridden``, its score the TA's points, and the automatic verdict is kept in
the override beside them. Every change staff made is a :class:`Change` of the result.
"""

from __future__ import annotations

import copy
import dataclasses
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any, Literal

from grader.messages import Message

Status = Literal["passed", "failed", "partial", "error", "missing", "manual", "overridden"]
STATUSES: tuple[str, ...] = ("passed", "failed", "partial", "error", "missing", "manual",
                             "overridden")
# A text answer's statuses once a TA has given it points.
STAFF_GRADED: tuple[Status, ...] = ("passed", "partial", "failed")


def points_status(points: float, max_score: float) -> Status:
    """What a score given by staff reads as: passed at full points, failed at none."""
    if abs(points - max_score) <= 1e-9:
        return "passed"
    return "failed" if points <= 1e-9 else "partial"


@dataclass(frozen=True, kw_only=True)
class Override:
    """A TA's points for an automatically graded check or a whole question.

    ``auto_status`` and ``auto_score`` are what the grader gave; the check's (or the
    question's) own ``status`` is ``overridden`` and its ``score`` is ``points``.
    """

    points: float
    comment: str = ""
    by: str = ""
    at: str = ""  # UTC, ISO 8601
    auto_status: Status = "missing"
    auto_score: float = 0.0


@dataclass(frozen=True, kw_only=True)
class Change:
    """One line of the regrade log: who changed which points, when, from what to what.

    ``answer`` is empty for a whole question; ``old_points`` is ``None`` where nothing
    was given before (a text answer not yet graded), ``new_points`` where an override
    was withdrawn.
    """

    question: str
    answer: str
    old_points: float | None
    new_points: float | None
    comment: str = ""
    by: str = ""
    at: str = ""
    source: str = ""  # "grades.csv line 3"


@dataclass(frozen=True, kw_only=True)
class CheckResult:
    """The verdict of one check on one answer.

    ``expected`` and ``received`` are display text (``None`` when hidden or absent);
    ``mistake`` names the rubric's common mistake the answer matched, if any.
    """

    answer: str
    kind: str
    status: Status
    score: float
    max_score: float
    message: str
    expected: str | None = None
    received: str | None = None
    mistake: str | None = None
    visible: bool = True  # the page may show the expected value: feedback == "full"
    visibility: str = "visible"  # visible | hidden | after_due_date | after_published
    feedback: str = "full"  # what the graded page shows: full | verdict | none
    hint: str = ""  # one line on how received and expected differ, where the check knows
    expected_math: str | None = None  # MathML from sympy's printer, for symbolic answers
    received_math: str | None = None
    # Arrays: {"expected": rows, "received": rows, "mismatch": [[i, j], ...]} of display text.
    diff: dict[str, Any] | None = None
    # The message and hint as catalogue parts (grader.messages), for a page in another
    # language; empty where the text is as written (a rubric's feedback, a TA's comment).
    message_parts: tuple[dict[str, Any], ...] = ()
    hint_parts: tuple[dict[str, Any], ...] = ()
    override: Override | None = None  # a TA's points in place of the automatic verdict

    def __post_init__(self) -> None:
        # A check hands in a Message (English text with its parts): the result keeps plain
        # text and the parts beside it. Read back from JSON, the parts are tuples again.
        for text, parts in (("message", "message_parts"), ("hint", "hint_parts")):
            value = getattr(self, text)
            if isinstance(value, Message):
                object.__setattr__(self, text, str(value))
                object.__setattr__(self, parts, value.parts)
            else:
                object.__setattr__(self, parts, tuple(getattr(self, parts)))

    @property
    def verdict(self) -> Status:
        """The status it counts as: an override's by its points, others their own."""
        if self.status == "overridden":
            return points_status(self.score, self.max_score)
        return self.status

    @property
    def manual(self) -> bool:
        """A text answer: a TA grades it, the grader only collects it."""
        return self.kind == "manual"

    @property
    def awaits_staff(self) -> bool:
        """A text answer collected from the submission and not yet graded by a TA."""
        return self.manual and self.status == "manual"

    @property
    def staff_graded(self) -> bool:
        """A text answer a TA has given points (passed, partial or failed)."""
        return self.manual and self.status in STAFF_GRADED

    @property
    def settled(self) -> bool:
        """Whether its verdict counts in its question's: automatic, or graded by a TA."""
        return not self.manual or self.staff_graded or self.status == "overridden"

    @property
    def complete(self) -> bool:
        """All it can give before a TA grades: passed, or a text answer collected."""
        return self.status == "passed" or self.awaits_staff


def automatic(checks: Iterable[CheckResult]) -> list[CheckResult]:
    """The checks the grader scores itself (every check but text answers)."""
    return [c for c in checks if not c.manual]


def totals(checks: Iterable[CheckResult]) -> tuple[float, float]:
    """The score and the maximum of ``checks``, summed."""
    checks = list(checks)
    return sum(c.score for c in checks), sum(c.max_score for c in checks)


def question_status(checks: Iterable[CheckResult]) -> Status:
    """A question's status from its checks'.

    Only settled checks count (automatic ones, and text answers a TA graded); a question
    of text answers waiting for a TA is ``manual`` (or ``missing`` when none was found).
    An overridden check counts by its points (:attr:`CheckResult.verdict`).
    """
    checks = list(checks)
    counted = [c for c in checks if c.settled]
    verdicts = [c.verdict for c in counted]
    if not counted:
        return "manual" if any(c.awaits_staff for c in checks) else "missing"
    if all(v == "passed" for v in verdicts):
        return "passed"
    if sum(c.score for c in counted) > 0:
        return "partial"
    if all(v == "missing" for v in verdicts):
        return "missing"
    if "error" in verdicts and "failed" not in verdicts:
        return "error"
    return "failed"


@dataclass(frozen=True, kw_only=True)
class QuestionResult:
    """The checks of one question and the points they add up to."""

    id: str
    title: str
    score: float
    max_score: float
    status: Status
    checks: tuple[CheckResult, ...]
    manual_points: float = 0.0
    override: Override | None = None  # a TA's points for the whole question

    @property
    def verdict(self) -> Status:
        """The status it counts as: an override's by its points, others their own."""
        if self.status == "overridden":
            return points_status(self.score, self.max_score)
        return self.status


@dataclass(frozen=True, kw_only=True)
class CellError:
    """A cell of the submission that raised, with its trimmed traceback (no ANSI codes)."""

    index: int
    source: str
    ename: str
    evalue: str
    traceback: str


@dataclass(frozen=True, kw_only=True)
class Figure:
    """An image a cell of the submission displayed, with the answers its source names."""

    cell: int
    mime: str  # image/png (base64 data) or image/svg+xml (text)
    data: str
    answers: tuple[str, ...] = ()


OUTCOMES = ("ok", "timeout", "kernel_died", "resource_limit", "unreadable", "not_run",
            "grader_error", "missing", "no_gradable_file")
# Rows of students with nothing graded: on the roster without a submission, or who handed
# in no notebook or module. They score 0 and are kept out of the course's statistics.
ABSENT = ("missing", "no_gradable_file")


@dataclass(frozen=True, kw_only=True)
class RunLog:
    """How the submission's code ran in its kernel; ``outcome`` is one of OUTCOMES."""

    cells_total: int = 0
    cells_run: int = 0
    errors: tuple[CellError, ...] = ()
    outcome: str = "ok"
    message: str = ""
    seconds: float = 0.0
    figures: tuple[Figure, ...] = ()
    skipped_cells: tuple[int, ...] = ()  # cells left out of a re-run after a kernel died
    bounds: tuple[str, ...] = ()  # the isolation that applied: sandbox, filter, cgroups


@dataclass(frozen=True, kw_only=True)
class LatePenalty:
    """What the rubric's ``[late]`` policy did to a late submission's score.

    ``reason`` is ``penalty`` (so much per started day or hour), ``cutoff`` (past the
    cut-off: score 0) or ``no_time`` (marked late by the LMS, but no time says how late:
    nothing taken).
    """

    score_before: float
    penalty: float
    hours_late: float
    deadline: str
    per: str
    rate: float
    floor: float
    grace_minutes: float
    cutoff: str
    reason: str


@dataclass(frozen=True, kw_only=True)
class SubmissionResult:
    """Everything graded for one student; ``to_dict`` is the documented JSON form."""

    student: str
    submission: str
    score: float
    max_score: float
    questions: tuple[QuestionResult, ...]
    run: RunLog = field(default_factory=RunLog)
    rubric: str = ""
    grader_version: str = ""
    graded_at: str = ""
    isolation: str = "none"
    environment: dict[str, str] = field(default_factory=dict)
    submission_sha256: str = ""
    rubric_digest: str = ""
    command: str = ""  # the exact command that reproduces this result
    changes: tuple[Change, ...] = ()  # the regrade log: what staff changed, oldest first
    submitted_at: str = ""  # ISO 8601, when the LMS, git or the TA's times say
    late: bool = False
    late_penalty: LatePenalty | None = None  # None: on time, or no penalty policy

    @property
    def cell_errors(self) -> int:
        """How many cells of the submission raised."""
        return len(self.run.errors)

    @property
    def score_before_late(self) -> float:
        """The score before any late penalty."""
        return self.late_penalty.score_before if self.late_penalty else self.score

    @property
    def pending_manual(self) -> int:
        """How many text answers wait for a TA's points (none under a question override)."""
        return sum(1 for q in self.questions if q.override is None
                   for c in q.checks if c.awaits_staff)

    def to_dict(self) -> dict[str, Any]:
        """Return the JSON-ready form documented in docs/grading-a-course.md."""
        return _plain(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> SubmissionResult:
        """Rebuild a result from :meth:`to_dict` output (our own files, for ``--resume``)."""
        run = dict(data.get("run", {}))
        run["errors"] = tuple(CellError(**e) for e in run.get("errors", ()))
        run["figures"] = tuple(Figure(**{**f, "answers": tuple(f.get("answers", ()))})
                               for f in run.get("figures", ()))
        run["skipped_cells"] = tuple(run.get("skipped_cells", ()))
        run["bounds"] = tuple(run.get("bounds", ()))
        questions = tuple(
            QuestionResult(**{**q, "override": _override(q.get("override")),
                              "checks": tuple(CheckResult(**{**c, "override": _override(
                                  c.get("override"))}) for c in q["checks"])})
            for q in data["questions"])
        changes = tuple(Change(**c) for c in data.get("changes", ()))
        late = data.get("late_penalty")
        return cls(**{**data, "questions": questions, "run": RunLog(**run),
                      "changes": changes, "late_penalty": LatePenalty(**late) if late else None})


_LEAVES = frozenset({str, int, float, bool, type(None)})
_FIELDS: dict[type, tuple[str, ...]] = {}


def _plain(value: Any) -> Any:
    """``dataclasses.asdict``, without its deep copy of every immutable leaf.

    A result is written twice as it is committed (the gradebook row, the student's .json);
    asdict's per-leaf ``deepcopy`` was most of that. Containers and any other leaf are
    copied as asdict copies them.
    """
    kind = type(value)
    if kind in _LEAVES:
        return value
    names = _FIELDS.get(kind)
    if names is None and dataclasses.is_dataclass(value) and not isinstance(value, type):
        names = _FIELDS[kind] = tuple(f.name for f in dataclasses.fields(value))
    if names is not None:
        return {name: _plain(getattr(value, name)) for name in names}
    if isinstance(value, tuple) and hasattr(value, "_fields"):  # a named tuple
        return kind(*[_plain(v) for v in value])
    if isinstance(value, list | tuple):
        return kind(_plain(v) for v in value)
    if isinstance(value, dict):
        return kind((_plain(k), _plain(v)) for k, v in value.items())
    return copy.deepcopy(value)


def _override(data: dict[str, Any] | None) -> Override | None:
    return None if data is None else Override(**data)
