"""Results as plain, frozen data: what the checks return and the renderers read.

Also the one rule that reads results: what a question's checks add up to
(:func:`question_status`), and what a text answer is (a check of kind ``manual``, graded
by a TA: :attr:`CheckResult.manual`). Every renderer asks these instead of deciding anew.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import asdict, dataclass, field
from typing import Any, Literal

Status = Literal["passed", "failed", "partial", "error", "missing", "manual"]
STATUSES: tuple[str, ...] = ("passed", "failed", "partial", "error", "missing", "manual")
# A text answer's statuses once a TA has given it points.
STAFF_GRADED: tuple[Status, ...] = ("passed", "partial", "failed")


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
        return not self.manual or self.staff_graded

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
    """
    checks = list(checks)
    counted = [c for c in checks if c.settled]
    if not counted:
        return "manual" if any(c.awaits_staff for c in checks) else "missing"
    if all(c.status == "passed" for c in counted):
        return "passed"
    if sum(c.score for c in counted) > 0:
        return "partial"
    if all(c.status == "missing" for c in counted):
        return "missing"
    if any(c.status == "error" for c in counted) and \
            not any(c.status == "failed" for c in counted):
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
        """How many text answers wait for a TA's points."""
        return sum(1 for q in self.questions for c in q.checks if c.awaits_staff)

    def to_dict(self) -> dict[str, Any]:
        """Return the JSON-ready form documented in docs/grading-a-course.md."""
        return asdict(self)

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
            QuestionResult(**{**q, "checks": tuple(CheckResult(**c) for c in q["checks"])})
            for q in data["questions"])
        late = data.get("late_penalty")
        return cls(**{**data, "questions": questions, "run": RunLog(**run),
                      "late_penalty": LatePenalty(**late) if late else None})
