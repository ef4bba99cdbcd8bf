"""Export the gradebook of a graded folder: csv, json, or Gradescope results files.

Everything is read from ``gradebook.sqlite`` (each student's latest result, with the TA's
grades of text answers merged in), never from the pages.

``csv``
    ``grades.csv``: a row per student, a column of points per question, ``total``,
    ``max_score``, ``run`` (the outcome) and ``pending_manual`` (text answers not yet
    graded); and ``checks.csv``: a row per student and check (``question``, ``answer``,
    ``kind``, ``status``, ``score``, ``max_score``, ``mistake``).
``json``
    ``results.json``: a list of every student's result in the documented JSON form.
``gradescope``
    ``students/<student>/results.json`` per student in Gradescope's autograder format,
    rendered by :func:`grader.gradescope.render` (under ``students/``, where no student id
    can be the name of another export's file). As in Gradescope's own runs, text answers are
    left for Gradescope's manual grading: these files carry the automatic points only.

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

from grader.atomic import atomic_write
from grader.errors import GraderError
from grader.points import format_points
from grader.results import SubmissionResult
from grader.rubric import Rubric

FORMATS = ("csv", "json", "gradescope")


@dataclass(frozen=True, kw_only=True)
class Exported:
    """Where an export went and how many submissions it holds."""

    path: Path
    count: int


def export(out: Path, fmt: str, to: Path | None = None) -> Exported:
    """Write the gradebook of ``out`` in ``fmt`` into the folder ``to`` (``out/export``)."""
    from grader.gradebook import Gradebook
    from grader.report import STUDENTS

    if fmt not in FORMATS:
        raise GraderError(f"--format {fmt!r}: one of {', '.join(FORMATS)}")
    target = Path(to) if to is not None else Path(out) / "export"
    with Gradebook.existing(out) as book:
        results = book.results() if fmt == "gradescope" else book.merged()
    if fmt == "csv":
        atomic_write(target / "grades.csv", grades_table(results))
        atomic_write(target / "checks.csv", checks_table(results))
    elif fmt == "json":
        atomic_write(target / "results.json", json.dumps(
            [r.to_dict() for r in results], indent=1, ensure_ascii=False, allow_nan=False,
            default=str))
    else:
        from grader.gradescope import render

        for r in results:
            data = render(r, seconds=r.run.seconds)
            atomic_write(target / STUDENTS / r.student / "results.json",
                         json.dumps(data, indent=1, ensure_ascii=False, allow_nan=False))
    return Exported(path=target, count=len(results))


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
