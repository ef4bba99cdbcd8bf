"""The course roster (``--roster roster.csv``): who should have handed in, and their LMS ids.

A CSV with a header: ``student`` (the grader's student id, as discovery names it:
``lastfirst`` for Canvas, ``Full_Name`` for Moodle, ``username`` for GitHub Classroom)
and optional ``name``, ``email``, ``section`` and ``lms_id``. It is validated once, when
read: a missing ``student`` column, an empty or repeated student, an unknown column or
an unreadable file is a :class:`~grader.errors.GraderError` naming the file, the line
and the fix.

With a roster, a student on it without a submission gets a row of their own
(:func:`absent_result`: ``run = missing``, score 0), and a submission of a student not
on it is listed as such (still graded).
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

from grader.discover import student_id
from grader.errors import GraderError
from grader.results import RunLog, SubmissionResult

COLUMNS = ("student", "name", "email", "section", "lms_id")
# The roster columns the grades tables and exports carry (email stays in the gradebook).
EXPORTED = ("name", "section", "lms_id")


@dataclass(frozen=True, kw_only=True)
class RosterEntry:
    """One student of the roster."""

    student: str
    name: str = ""
    email: str = ""
    section: str = ""
    lms_id: str = ""


@dataclass(frozen=True, kw_only=True)
class Roster:
    """The students of a course, in the roster's order."""

    entries: tuple[RosterEntry, ...]
    source: str = ""  # the file it was read from

    def __contains__(self, student: object) -> bool:
        return any(e.student == student for e in self.entries)

    @property
    def students(self) -> tuple[str, ...]:
        """The student ids, in the roster's order."""
        return tuple(e.student for e in self.entries)

    def entry(self, student: str) -> RosterEntry | None:
        """The roster's entry of ``student``, if listed."""
        return next((e for e in self.entries if e.student == student), None)

    def lms_id(self, student: str) -> str:
        """The student's id in the LMS (Canvas's user id), or "" when not given."""
        entry = self.entry(student)
        return entry.lms_id if entry is not None else ""

    def missing(self, graded: Iterable[str]) -> tuple[str, ...]:
        """The students of the roster without a result among ``graded``."""
        seen = set(graded)
        return tuple(s for s in self.students if s not in seen)

    def strangers(self, graded: Iterable[str]) -> tuple[str, ...]:
        """The ``graded`` students who are not on the roster, sorted."""
        return tuple(sorted(s for s in set(graded) if s not in self))


def read_roster(path: Path) -> Roster:
    """The roster in the CSV file ``path``, validated."""
    try:
        text = Path(path).read_text("utf-8-sig")
    except (OSError, UnicodeDecodeError) as exc:
        raise GraderError(f"--roster {path}: cannot read it ({exc})") from None
    reader = csv.DictReader(io.StringIO(text, newline=""))
    header = [h.strip() for h in reader.fieldnames or ()]
    if "student" not in header:
        raise GraderError(f"{path} line 1: the roster needs a header with a student column "
                          f"(and optional {', '.join(COLUMNS[1:])}); got "
                          f"{', '.join(h for h in header if h) or 'nothing'}")
    unknown = [h for h in header if h and h not in COLUMNS]
    if unknown:
        raise GraderError(f"{path} line 1: unknown column {unknown[0]!r}; the columns are "
                          f"{', '.join(COLUMNS)}")
    reader.fieldnames = header
    entries: dict[str, RosterEntry] = {}
    for row in reader:
        where = f"{path} line {reader.line_num}"
        values = {k: (row.get(k) or "").strip() for k in COLUMNS}
        if not any(values.values()):
            continue  # a blank line a spreadsheet left
        if not values["student"]:
            raise GraderError(f"{where}: no student id; fill in the student column")
        # The id as discovery makes it from a name, so "Ali Rezaei" matches Ali_Rezaei.
        sid = student_id(values["student"])
        if sid in entries:
            raise GraderError(f"{where}: student {sid!r} is listed twice; keep one row")
        entries[sid] = RosterEntry(**{**values, "student": sid})
    return Roster(entries=tuple(entries.values()), source=str(path))


def absent_result(student: str, *, outcome: str, message: str, max_score: float,
                  submission: str = "") -> SubmissionResult:
    """The row of a student with nothing graded: score 0 of ``max_score``."""
    return SubmissionResult(student=student, submission=submission, score=0.0,
                            max_score=max_score, questions=(),
                            run=RunLog(outcome=outcome, message=message))


def roster_of(entries: Sequence[RosterEntry], source: str = "") -> Roster | None:
    """A roster of ``entries``, or None when there are none (no roster was given)."""
    return Roster(entries=tuple(entries), source=source) if entries else None
