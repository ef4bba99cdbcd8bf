"""Export the gradebook of a graded folder, in one of the formats of :data:`FORMATS`.

Everything is read from ``gradebook.sqlite`` (each student's latest result, with the TA's
grades of text answers merged in where the format carries them), never from the pages.
A format is a small class with a ``name`` (what ``--format`` takes), a ``description``,
whether it carries the TA's grades (``ta_grades``), the options it reads (``uses``) and a
``write`` method (:class:`grader.export_format.ExportFormat`, with its
:class:`~grader.export_format.ExportOptions`); adding one is a class and a line in
:data:`FORMATS`. The LMS formats (Canvas, Moodle) are in modules of their own.

This module also holds the one writer of ``grades.csv`` (:class:`GradesTable`, a row at
a time; :func:`grades_table`), which the batch uses for the ``grades.csv`` of ``--out``
(:func:`course_table`, :func:`grades_csv`).
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from pathlib import Path

from grader.atomic import atomic_write
from grader.course import CourseRecord
from grader.errors import GraderError
from grader.export_canvas import CanvasExport
from grader.export_format import NO_OPTIONS, ExportFormat, ExportOptions
from grader.export_moodle import MoodleExport
from grader.gradebook import Gradebook
from grader.gradescope import GradescopeExport
from grader.points import format_points
from grader.results import SubmissionResult
from grader.roster import EXPORTED, Roster
from grader.rubric import Rubric, load_rubric


class CsvExport:
    """``grades.csv`` (a row per student) and ``checks.csv`` (a row per student and check).

    ``grades.csv``: a column of points per question, ``total``, ``max_score``, ``run`` (the
    outcome), ``cell_errors``, the late columns, and ``pending_manual`` (text answers not
    yet graded), after the roster's columns when a roster was given; ``checks.csv``:
    ``question``, ``answer``, ``kind``, ``status``, ``score``, ``max_score``, ``mistake``.
    """

    name = "csv"
    description = "grades.csv (a row per student) and checks.csv (a row per check)"
    ta_grades = True
    uses: tuple[str, ...] = ()

    def write(self, results: Sequence[SubmissionResult], target: Path, *,
              roster: Roster | None = None, options: ExportOptions = NO_OPTIONS
              ) -> list[Path]:
        """Write both tables into ``target``."""
        files = [target / "grades.csv", target / "checks.csv"]
        atomic_write(files[0], grades_table(results, roster=roster))
        atomic_write(files[1], checks_table(results))
        return files


class JsonExport:
    """``results.json``: a list of every student's result in the documented JSON form."""

    name = "json"
    description = "results.json, every student's result in the documented form"
    ta_grades = True
    uses: tuple[str, ...] = ()

    def write(self, results: Sequence[SubmissionResult], target: Path, *,
              roster: Roster | None = None, options: ExportOptions = NO_OPTIONS
              ) -> list[Path]:
        """Write the list into ``target`` (the roster is in the gradebook, not here)."""
        path = target / "results.json"
        atomic_write(path, json.dumps([r.to_dict() for r in results], indent=1,
                                      ensure_ascii=False, allow_nan=False, default=str))
        return [path]


FORMATS: dict[str, ExportFormat] = {
    f.name: f for f in (CsvExport(), JsonExport(), GradescopeExport(), CanvasExport(),
                        MoodleExport())
}
# The command line's spelling of each ExportOptions field a format may read.
FLAGS = {"template": "--template", "column": "--column", "scale": "--scale"}


@dataclass(frozen=True, kw_only=True)
class Exported:
    """Where an export went, how many submissions it holds and the files it wrote."""

    path: Path
    count: int
    files: tuple[Path, ...] = ()


def export(out: Path, fmt: str, to: Path | None = None,
           options: ExportOptions = NO_OPTIONS) -> Exported:
    """Write the gradebook of ``out`` in the format ``fmt`` into ``to`` (``out/export``).

    ``options`` are the command line's; the rubric's id and title are filled in from the
    gradebook (and the rubric it was graded with, when it is still there). An option the
    format does not read is an error, not silently dropped.
    """
    chosen = FORMATS.get(fmt)
    if chosen is None:
        raise GraderError(f"--format {fmt!r}: one of {', '.join(FORMATS)}")
    unused = [FLAGS[name] for name in options.given() if name not in chosen.uses]
    if unused:
        readers = [f.name for f in FORMATS.values() if set(options.given()) & set(f.uses)]
        raise GraderError(f"--format {fmt} does not read {', '.join(unused)} (only "
                          f"--format {' or '.join(readers)} does): leave it out")
    target = Path(to) if to is not None else Path(out) / "export"
    with Gradebook.existing(out) as book:
        course = CourseRecord(book.db)
        with book.transaction():
            course.reread_policy()  # a [late] edited since grading counts, on the raw scores
        results = book.merged() if chosen.ta_grades else book.results()
        roster = course.roster()
        options = _named(options, book)
    files = chosen.write(results, target, roster=roster, options=options)
    return Exported(path=target, count=len(results), files=tuple(files))


def _named(options: ExportOptions, book: Gradebook) -> ExportOptions:
    """``options`` with the assignment's id and title, which name its LMS column."""
    path = book.meta("rubric")
    title = options.title
    if not title and path and Path(path).is_file():
        title = load_rubric(path, check_reference=False).title
    return replace(options, assignment=options.assignment or book.meta("assignment") or "",
                   title=title)


# --------------------------------------------------------------------------- the tables


def _question_ids(results: Sequence[SubmissionResult]) -> list[str]:
    ids: dict[str, None] = {}
    for r in results:
        for q in r.questions:
            ids.setdefault(q.id, None)
    return list(ids)


def _cell(text: str) -> str:
    # A cell starting with = + - @ is a formula to spreadsheet programs.
    return "'" + text if text[:1] in ("=", "+", "-", "@") else text


def grades_table(results: Iterable[SubmissionResult], question_ids: Sequence[str] | None = None,
                 *, pending: bool = True, roster: Roster | None = None) -> str:
    """``grades.csv``: a row per student, points per question, total, maximum and outcome.

    ``question_ids`` are the columns of points (by default every question in
    ``results``); ``pending`` adds ``pending_manual``, the text answers not yet graded;
    a ``roster`` adds its ``name``, ``section`` and ``lms_id`` after ``student``. Every
    table has ``cell_errors`` (cells that raised), ``submitted_at``, ``late``,
    ``score_before_late`` and ``late_penalty``; ``total`` is the score after the penalty.
    """
    results = list(results)
    ids = list(question_ids) if question_ids is not None else _question_ids(results)
    table = GradesTable(ids, pending=pending, roster=roster)
    for r in sorted(results, key=lambda r: r.student):
        table.add(r)
    return table.text()


class GradesTable:
    """:func:`grades_table` a row at a time, for a pass over a course (rows by student)."""

    def __init__(self, question_ids: Sequence[str], *, pending: bool = True,
                 roster: Roster | None = None) -> None:
        self.ids = list(question_ids)
        self.pending = pending
        self.roster = roster
        self.extra = EXPORTED if roster is not None else ()
        self.buffer = io.StringIO()
        self.writer = csv.writer(self.buffer, lineterminator="\n")
        self.writer.writerow(["student", *self.extra, *self.ids, "total", "max_score", "run",
                              "cell_errors", "submitted_at", "late", "score_before_late",
                              "late_penalty", *(["pending_manual"] if pending else [])])

    def add(self, r: SubmissionResult) -> None:
        """The row of one student's result."""
        scores = {q.id: q.score for q in r.questions}
        entry = self.roster.entry(r.student) if self.roster is not None else None
        self.writer.writerow([
            _cell(r.student), *(_cell(getattr(entry, k)) if entry else "" for k in self.extra),
            *(format_points(scores.get(i, 0.0)) for i in self.ids),
            format_points(r.score), format_points(r.max_score), r.run.outcome, r.cell_errors,
            r.submitted_at, "yes" if r.late else "no", format_points(r.score_before_late),
            format_points(r.late_penalty.penalty if r.late_penalty else 0.0),
            *([r.pending_manual] if self.pending else [])])

    def text(self) -> str:
        """The table so far, header first."""
        return self.buffer.getvalue()


def grades_csv(results: Iterable[SubmissionResult], rubric: Rubric,
               roster: Roster | None = None) -> str:
    """The ``grades.csv`` of ``--out``: a column for every question of the rubric, in order."""
    return grades_table(results, [q.id for q in rubric.questions], pending=False, roster=roster)


def course_table(rubric: Rubric, roster: Roster | None = None) -> GradesTable:
    """:func:`grades_csv` a row at a time: results are added by student."""
    return GradesTable([q.id for q in rubric.questions], pending=False, roster=roster)


def checks_table(results: Sequence[SubmissionResult]) -> str:
    """A row per student and check, for pivot tables."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(["student", "question", "answer", "kind", "status", "score", "max_score",
                     "mistake"])
    for r in sorted(results, key=lambda r: r.student):
        for q in r.questions:
            for c in q.checks:
                writer.writerow([_cell(r.student), q.id, c.answer, c.kind, c.status,
                                 format_points(c.score), format_points(c.max_score),
                                 c.mistake or ""])
    return buffer.getvalue()
