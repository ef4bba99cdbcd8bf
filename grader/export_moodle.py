"""``grader export --format moodle``: a CSV for Moodle's grade import (Import, CSV file).

Moodle maps the columns of an imported CSV by hand: one identifies the user (email
address, ID number or username) and each other is mapped to a grade item or to its
feedback. The file has three columns: the identifier, the assignment's points (headed
with the rubric's title) and ``Feedback`` (each question's points, what staff set on a
question or check, why a student on the roster has no points, the score before a late
penalty, and the text answers still waiting for a TA).

The identifier is the roster's ``email`` when every student has one (``Email address``),
else its ``lms_id`` when every student has one (``ID number``), else the grader's student
id (``Username``), and a note says so. Points are out of the rubric's maximum: the Moodle
grade item should have that maximum.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Sequence
from pathlib import Path

from grader.atomic import atomic_write
from grader.export_format import NO_OPTIONS, ExportOptions
from grader.lms import Identity, identity, pending_note
from grader.points import format_points
from grader.results import ABSENT, SubmissionResult
from grader.roster import Roster

# The identifier columns in the order they are preferred, with where each value is.
IDENTIFIERS: tuple[tuple[str, str], ...] = (
    ("Email address", "email"), ("ID number", "lms_id"), ("Username", "student"))


def feedback(result: SubmissionResult) -> str:
    """One line per question (``q1: 2/3``), with what staff set and the waiting text."""
    lines = []
    for q in result.questions:
        line = f"{q.id}: {format_points(q.score)}/{format_points(q.max_score)}"
        if q.override is not None:
            line += " (set by staff" + (f": {q.override.comment}" if q.override.comment
                                        else "") + ")"
        for c in q.checks:
            if c.override is not None:
                line += f"; {c.answer} set by staff" + (
                    f": {c.override.comment}" if c.override.comment else "")
        lines.append(line)
    if result.run.outcome in ABSENT:
        lines.append(result.run.message or result.run.outcome)  # no submission, a PDF only
    penalty = result.late_penalty
    if penalty is not None and penalty.penalty:
        lines.append(f"late: {format_points(penalty.score_before)} less a late penalty "
                     f"of {format_points(penalty.penalty)}")
    if result.pending_manual:
        lines.append(f"{result.pending_manual} text answer(s) not graded yet")
    return "\n".join(lines)


def _cell(text: str) -> str:
    # A cell starting with = + - @ is a formula to spreadsheet programs.
    return "'" + text if text[:1] in ("=", "+", "-", "@") else text


def moodle_csv(results: Sequence[SubmissionResult], roster: Roster | None,
               options: ExportOptions = NO_OPTIONS) -> str:
    """The CSV text; what is left out goes to ``options.notify``."""
    people = [(r, identity(r, roster)) for r in sorted(results, key=lambda r: r.student)]
    header, field = next(((h, f) for h, f in IDENTIFIERS
                          if people and all(getattr(who, f) for _, who in people)),
                         IDENTIFIERS[-1])
    if field == "student" and people and any(_some(who) for _, who in people):
        partial = [h for h, f in IDENTIFIERS[:-1] if any(getattr(w, f) for _, w in people)]
        options.notify(f"not every student has an {' or '.join(partial)} in the roster: "
                       "students are identified by their grader id (Username)")
    elif field == "student":
        options.notify("no roster with email or lms_id: students are identified by their "
                       "grader id (Username); give --roster to match by email")
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    title = options.title or options.assignment or "Grade"
    writer.writerow([header, title, "Feedback"])
    for r, who in people:
        writer.writerow([_cell(getattr(who, field)), format_points(r.score),
                         _cell(feedback(r))])
    maxima = sorted({r.max_score for r in results})
    if maxima:
        options.notify(f"points are out of {', '.join(format_points(m) for m in maxima)}: "
                       "the Moodle grade item should have that maximum")
    note = pending_note(list(results))
    if note:
        options.notify(note)
    return buffer.getvalue()


def _some(who: Identity) -> bool:
    return bool(who.email or who.lms_id)


class MoodleExport:
    """Moodle's grade import CSV: identifier, points and feedback per student."""

    name = "moodle"
    description = ("moodle-grades.csv for Moodle's grade import: email, ID number or "
                   "username, points and feedback")
    ta_grades = True
    uses: tuple[str, ...] = ()

    def write(self, results: Sequence[SubmissionResult], target: Path, *,
              roster: Roster | None = None, options: ExportOptions = NO_OPTIONS
              ) -> list[Path]:
        """Write ``moodle-grades.csv`` into ``target``."""
        path = target / "moodle-grades.csv"
        atomic_write(path, moodle_csv(results, roster, options))
        return [path]
