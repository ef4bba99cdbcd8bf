"""One student's submission, as discovery finds it and the kernel runs it."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True, kw_only=True)
class Submission:
    """One student's submission: the file to run and the folder it may use beside it."""

    student: str
    path: Path
    folder: Path | None = None  # a student's own folder, copied whole; None: the file alone

    @property
    def is_notebook(self) -> bool:
        """True for ``.ipynb`` files; anything else runs as a module."""
        return self.path.suffix == ".ipynb"
