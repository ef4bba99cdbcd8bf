"""One student's submission, as discovery finds it and the kernel runs it."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True, kw_only=True)
class Origin:
    """Where a submission unpacked from an archive came from, to name and fetch it again."""

    archive: str  # the .zip as the TA named it
    graded: str  # the graded file's member path in it
    members: tuple[str, ...] = ()  # every member of the student's
    folder: str = ""  # the member folder the student's entries are in ("" at the top)

    def __str__(self) -> str:
        return f"{self.archive}!{self.graded}"


@dataclass(frozen=True, kw_only=True)
class Submission:
    """One student's submission: the file to run and the folder it may use beside it."""

    student: str
    path: Path
    folder: Path | None = None  # a student's own folder, copied whole; None: the file alone
    origin: Origin | None = None  # for a submission unpacked from an archive
    submitted_at: str = ""  # ISO 8601 time the LMS or git gives, or ""
    marked_late: bool = False  # the LMS marked it late (Canvas's _LATE_)

    @property
    def shown(self) -> str:
        """The submission as the TA gave it: ``canvas.zip!member``, else its path."""
        return str(self.origin) if self.origin is not None else str(self.path)

    @property
    def is_notebook(self) -> bool:
        """True for ``.ipynb`` files; anything else runs as a module."""
        return self.path.suffix == ".ipynb"
