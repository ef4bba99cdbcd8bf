"""Export the gradebook of a graded folder, in one of the formats of :data:`FORMATS`.

Everything is read from ``gradebook.sqlite`` (each student's latest result, with the TA's
grades of text answers merged in where the format carries them), never from the pages.
A format is a small class with a ``name`` (what ``--format`` takes), a ``description``,
whether it carries the TA's grades (``ta_grades``) and a ``write`` method
(:class:`ExportFormat`); adding one is a class and a line in :data:`FORMATS`.

This module also holds the one writer of ``grades.csv`` (:func:`grades_table`), which
the batch uses for the ``grades.csv`` of ``--out`` (:func:`grades_csv`).
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from grader.atomic import atomic_write
from grader.errors import GraderError
from grader.gradebook import Gradebook
from grader.gradescope import GradescopeExport
from grader.points import format_points
from grader.results import SubmissionResult
from grader.rubric import Rubric


class ExportFormat(Protocol):
    """One way to write a gradebook's results into a folder."""

    name: str  # what --format takes
    description: str  # one line for --help
    ta_grades: bool  # whether the results carry a TA's grades of text answers

    def write(self, results: Sequence[SubmissionResult], target: Path) -> list[Path]:
        """Write ``results`` into the folder ``target``; return the files written."""
        ...


class CsvExport:
    """``grades.csv`` (a row per student) and ``checks.csv`` (a row per student and check).

    ``grades.csv``: a column of points per question, ``total``, ``max_score``, ``run`` (the
    outcome) and ``pending_manual`` (text answers not yet graded); ``checks.csv``:
    ``question``, ``answer``, ``kind``, ``status``, ``score``, ``max_score``, ``mistake``.
    """

    name = "csv"
    description = "grades.csv (a row per student) and checks.csv (a row per check)"
    ta_grades = True

    def write(self, results: Sequence[SubmissionResult], target: Path) -> list[Path]:
        """Write both tables into ``target``."""
        files = [target / "grades.csv", target / "checks.csv"]
        atomic_write(files[0], grades_table(results))
        atomic_write(files[1], checks_table(results))
        return files


class JsonExport:
    """``results.json``: a list of every student's result in the documented JSON form."""

    name = "json"
    description = "results.json, every student's result in the documented form"
    ta_grades = True

    def write(self, results: Sequence[SubmissionResult], target: Path) -> list[Path]:
        """Write the list into ``target``."""
        path = target / "results.json"
        atomic_write(path, json.dumps([r.to_dict() for r in results], indent=1,
                                      ensure_ascii=False, allow_nan=False, default=str))
        return [path]


FORMATS: dict[str, ExportFormat] = {
    f.name: f for f in (CsvExport(), JsonExport(), GradescopeExport())
}


@dataclass(frozen=True, kw_only=True)
class Exported:
    """Where an export went, how many submissions it holds and the files it wrote."""

    path: Path
    count: int
    files: tuple[Path, ...] = ()


def export(out: Path, fmt: str, to: Path | None = None) -> Exported:
    """Write the gradebook of ``out`` in the format ``fmt`` into ``to`` (``out/export``)."""
    chosen = FORMATS.get(fmt)
    if chosen is None:
        raise GraderError(f"--format {fmt!r}: one of {', '.join(FORMATS)}")
    target = Path(to) if to is not None else Path(out) / "export"
    with Gradebook.existing(out) as book:
        results = book.merged() if chosen.ta_grades else book.results()
    files = chosen.write(results, target)
    return Exported(path=target, count=len(results), files=tuple(files))


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
                 *, pending: bool = True) -> str:
    """``grades.csv``: a row per student, points per question, total, maximum and outcome.

    ``question_ids`` are the columns of points (by default every question in
    ``results``); ``pending`` adds ``pending_manual``, the text answers not yet graded.
    """
    results = list(results)
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    ids = list(question_ids) if question_ids is not None else _question_ids(results)
    writer.writerow(["student", *ids, "total", "max_score", "run",
                     *(["pending_manual"] if pending else [])])
    for r in sorted(results, key=lambda r: r.student):
        scores = {q.id: q.score for q in r.questions}
        writer.writerow([_cell(r.student), *(format_points(scores.get(i, 0.0)) for i in ids),
                         format_points(r.score), format_points(r.max_score), r.run.outcome,
                         *([r.pending_manual] if pending else [])])
    return buffer.getvalue()


def grades_csv(results: Iterable[SubmissionResult], rubric: Rubric) -> str:
    """The ``grades.csv`` of ``--out``: a column for every question of the rubric, in order."""
    return grades_table(results, [q.id for q in rubric.questions], pending=False)


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
