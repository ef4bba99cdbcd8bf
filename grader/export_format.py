"""What an export format of ``grader export`` is (:class:`ExportFormat`) and what it is given.

Every format's ``write`` takes the same :class:`ExportOptions`: the command line's
``--template``, ``--column`` and ``--scale`` (read by the formats that name them in
``uses``), the rubric's id and title (which name an LMS column), and ``notify``, which
receives a line for each thing the TA should know about the file written (students
matched on one side only, points not yet graded). The table of formats is
:data:`grader.export.FORMATS`; the formats live in their own modules and import this
one, so that table can import them.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from grader.results import SubmissionResult
from grader.roster import Roster


def _ignore(note: str) -> None:
    """Drop a note: the default where no one reads them."""


@dataclass(frozen=True, kw_only=True)
class ExportOptions:
    """What a format may need besides the results (the ``grader export`` options)."""

    template: Path | None = None  # the LMS's own export to fill in (--template)
    column: str = ""  # the LMS column to fill (--column); "": the assignment's by name
    scale: bool = False  # write points out of the LMS column's Points Possible (--scale)
    assignment: str = ""  # the rubric's id
    title: str = ""  # the rubric's title
    notify: Callable[[str], None] = _ignore

    def given(self) -> tuple[str, ...]:
        """The command-line options set here, by field name (``template``, ``column``...)."""
        return tuple(name for name, on in (("template", self.template is not None),
                                           ("column", bool(self.column)),
                                           ("scale", self.scale)) if on)


NO_OPTIONS = ExportOptions()


class ExportFormat(Protocol):
    """One way to write a gradebook's results into a folder."""

    name: str  # what --format takes
    description: str  # one line for --help
    ta_grades: bool  # whether the results carry a TA's grades of text answers
    uses: tuple[str, ...]  # the command-line options of ExportOptions it reads

    def write(self, results: Sequence[SubmissionResult], target: Path, *,
              roster: Roster | None = None, options: ExportOptions = NO_OPTIONS
              ) -> list[Path]:
        """Write ``results`` into the folder ``target``; return the files written.

        ``roster`` is the course's roster when one was given (names, sections, LMS ids).
        """
        ...
