"""Results as plain, frozen data: what the checks return and the renderers read."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any, Literal

Status = Literal["passed", "failed", "partial", "error", "missing", "manual"]
STATUSES: tuple[str, ...] = ("passed", "failed", "partial", "error", "missing", "manual")


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
    visible: bool = True


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
class RunLog:
    """How the submission's code ran in its kernel."""

    cells_total: int = 0
    cells_run: int = 0
    errors: tuple[CellError, ...] = ()
    outcome: str = "ok"  # ok | timeout | kernel_died | unreadable | not_run
    message: str = ""
    seconds: float = 0.0


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

    def to_dict(self) -> dict[str, Any]:
        """Return the JSON-ready form documented in the README."""
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> SubmissionResult:
        """Rebuild a result from :meth:`to_dict` output (our own files, for ``--resume``)."""
        run = dict(data.get("run", {}))
        run["errors"] = tuple(CellError(**e) for e in run.get("errors", ()))
        questions = tuple(
            QuestionResult(**{**q, "checks": tuple(CheckResult(**c) for c in q["checks"])})
            for q in data["questions"])
        return cls(**{**data, "questions": questions, "run": RunLog(**run)})
