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
    visibility: str = "visible"  # visible | hidden | after_due_date | after_published
    hint: str = ""  # one line on how received and expected differ, where the check knows
    expected_math: str | None = None  # MathML from sympy's printer, for symbolic answers
    received_math: str | None = None
    # Arrays: {"expected": rows, "received": rows, "mismatch": [[i, j], ...]} of display text.
    diff: dict[str, Any] | None = None


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
            "grader_error")


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

    def to_dict(self) -> dict[str, Any]:
        """Return the JSON-ready form documented in the README."""
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
        return cls(**{**data, "questions": questions, "run": RunLog(**run)})
