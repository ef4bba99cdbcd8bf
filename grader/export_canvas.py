"""``grader export --format canvas``: the Canvas gradebook import file, filled in.

Canvas imports the layout it exports (Grades, Export): a header ``Student, ID, SIS User
ID, SIS Login ID, Section`` and a column per assignment named ``<Assignment> (<id>)``,
then read-only columns (``Current Score``...); after the header, rows without an ``ID``
(``Points Possible``, a posting-policy row) and a row per student. The TA gives that
export as ``--template``; the grader writes it back unchanged except for the assignment's
column, filled in for each student it can match:

- by ``ID`` or ``SIS User ID`` against the student's LMS id (the roster's ``lms_id``,
  else the Canvas user id in the submission's file name), or
- by ``SIS Login ID`` against the grader's student id or the roster's ``email``.

A template row matching several results, or a result several rows, is left as it is and
reported; so are the students on one side only. The column is ``--column`` (its header,
its name without ``(id)``, or the id), else the one whose name starts with the rubric's
title or id. Where the template's ``Points Possible`` for it differs from the rubric's
maximum, ``--scale`` writes points out of Canvas's; without it that is an error.
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from grader.atomic import atomic_write
from grader.errors import GraderError
from grader.export_format import NO_OPTIONS, ExportOptions
from grader.lms import Identity, identity, pending_note
from grader.points import format_points
from grader.results import SubmissionResult
from grader.roster import Roster

FIXED = ("Student", "ID", "SIS User ID", "SIS Login ID", "Section")
_ASSIGNMENT = re.compile(r"^(?P<name>.*\S)\s*\((?P<id>\d+)\)$")


@dataclass(frozen=True, kw_only=True)
class Template:
    """A Canvas gradebook export as read: its rows, and how to write it back alike."""

    path: Path
    rows: list[list[str]]
    bom: bool
    newline: str

    @property
    def header(self) -> list[str]:
        """The first row, each name stripped."""
        return [h.strip() for h in self.rows[0]]

    def index(self, name: str) -> int | None:
        """The position of the column ``name``, or None."""
        return self.header.index(name) if name in self.header else None


def read_template(path: Path) -> Template:
    """The Canvas export at ``path``; ``GraderError`` naming the file when it is not one."""
    try:
        raw = Path(path).read_bytes()
        text = raw.decode("utf-8-sig")
    except (OSError, UnicodeDecodeError) as exc:
        raise GraderError(f"--template {path}: cannot read it ({exc}); give the CSV Canvas "
                          "exports (Grades, Export, Export Entire Gradebook)") from None
    rows = list(csv.reader(io.StringIO(text, newline="")))
    template = Template(path=Path(path), rows=rows, bom=raw.startswith(b"\xef\xbb\xbf"),
                        newline="\r\n" if "\r\n" in text else "\n")
    if not rows or template.index("Student") is None or template.index("ID") is None:
        raise GraderError(f"--template {path}: not a Canvas gradebook export (its header "
                          f"needs {', '.join(FIXED)} and an assignment column; got "
                          f"{', '.join(template.header[:8]) if rows else 'an empty file'})")
    return template


def assignment_column(template: Template, options: ExportOptions) -> int:
    """The position of the column to fill: ``--column``, else the assignment's by name."""
    header = template.header
    assignments = [i for i, h in enumerate(header) if _ASSIGNMENT.match(h)]
    listed = "; ".join(header[i] for i in assignments) or "none"
    if options.column:
        wanted = options.column.strip()
        found = [i for i, h in enumerate(header) if h == wanted or (
            (m := _ASSIGNMENT.match(h)) is not None and wanted in (m.group("name"),
                                                                     m.group("id")))]
        if len(found) != 1:
            raise GraderError(f"--column {wanted!r}: {'no' if not found else 'more than one'} "
                              f"column of {template.path} is named so (assignment columns: "
                              f"{listed})")
        return found[0]
    prefixes = [p.casefold() for p in (options.title, options.assignment) if p]
    found = [i for i in assignments
             if any(header[i].casefold().startswith(p) for p in prefixes)]
    if len(found) != 1:
        named = " or ".join(repr(p) for p in (options.title, options.assignment) if p)
        problem = "no assignment column starts" if not found else \
            "several assignment columns start"
        raise GraderError(f"{template.path}: {problem} with {named or 'the rubric'} "
                          f"(assignment columns: {listed}); give --column with the one to fill")
    return found[0]


def _points_possible(template: Template, column: int) -> float | None:
    for row in template.rows[1:]:
        if row and row[0].strip() == "Points Possible" and column < len(row):
            try:
                return float(row[column])
            except ValueError:
                return None
    return None


def _matches(row: list[str], who: Identity, at: dict[str, int | None]) -> bool:
    def cell(name: str) -> str:
        i = at[name]
        return row[i].strip() if i is not None and i < len(row) else ""

    if who.lms_id and who.lms_id in (cell("ID"), cell("SIS User ID")):
        return True
    login = cell("SIS Login ID").casefold()
    return bool(login) and login in (who.student.casefold(), who.email.casefold())


def fill(template: Template, results: Sequence[SubmissionResult], roster: Roster | None,
         options: ExportOptions = NO_OPTIONS) -> str:
    """The template's text with the assignment's column filled in; notes to ``notify``."""
    column = assignment_column(template, options)
    at = {name: template.index(name) for name in FIXED}
    id_at = at["ID"]
    assert id_at is not None  # read_template made sure
    possible = _points_possible(template, column)
    maxima = {r.max_score for r in results}
    if possible is not None and any(abs(m - possible) > 1e-9 for m in maxima) \
            and not options.scale:
        raise GraderError(f"{template.path}: {template.header[column]} has Points Possible "
                          f"{possible:g} in Canvas, the rubric's maximum is "
                          f"{', '.join(f'{m:g}' for m in sorted(maxima))}: give --scale to "
                          f"write points out of {possible:g}, or set the assignment's points "
                          "in Canvas to the rubric's")
    people = [(r, identity(r, roster)) for r in results]
    student_rows = [i for i, row in enumerate(template.rows[1:], 1)
                    if id_at < len(row) and row[id_at].strip()]
    found: dict[int, list[SubmissionResult]] = {
        i: [r for r, who in people if _matches(template.rows[i], who, at)]
        for i in student_rows}
    rows_of: dict[str, list[int]] = {}
    for i, matched in found.items():
        for r in matched:
            rows_of.setdefault(r.student, []).append(i)
    rows = [list(row) for row in template.rows]
    filled = 0
    for i, matched in found.items():
        if len(matched) == 1 and len(rows_of[matched[0].student]) == 1:
            r = matched[0]
            points = r.score * possible / r.max_score if options.scale and possible \
                and r.max_score else r.score
            rows[i] += [""] * (column + 1 - len(rows[i]))
            rows[i][column] = format_points(points)
            filled += 1
    _report(template, rows, found, rows_of, people, options)
    buffer = io.StringIO()
    csv.writer(buffer, lineterminator=template.newline).writerows(rows)
    options.notify(f"filled {filled} of {len(student_rows)} student row(s) of column "
                   f"{template.header[column]!r}")
    return ("\ufeff" if template.bom else "") + buffer.getvalue()


def _report(template: Template, rows: list[list[str]], found: dict[int, list[SubmissionResult]],
            rows_of: dict[str, list[int]], people: list[tuple[SubmissionResult, Identity]],
            options: ExportOptions) -> None:
    """Tell the TA what was matched on one side only, or ambiguously."""
    def shown(i: int) -> str:
        return f"{rows[i][0].strip()} (line {i + 1})"

    unmatched = [shown(i) for i, m in found.items() if not m]
    if unmatched:
        options.notify(f"in {template.path.name} but not in the gradebook "
                       f"({len(unmatched)}), left as they were: " + "; ".join(unmatched))
    ungraded = sorted((who for r, who in people if r.student not in rows_of),
                      key=lambda who: who.student)
    if ungraded:
        # With an LMS id the student is not in this Canvas course; without one, the
        # roster can say who they are.
        options.notify(f"in the gradebook but not in {template.path.name} ({len(ungraded)}): "
                       + ", ".join(who.student + (f" (lms_id {who.lms_id})" if who.lms_id
                                                  else " (no lms_id)") for who in ungraded)
                       + ("; give a --roster with their lms_id" if any(
                           not who.lms_id for who in ungraded) else ""))
    for i, m in found.items():
        if len(m) > 1:
            options.notify(f"{shown(i)} matches several students "
                           f"({', '.join(r.student for r in m)}): left as it was")
    for student, lines in sorted(rows_of.items()):
        if len(lines) > 1:
            options.notify(f"{student} matches several rows "
                           f"({', '.join(shown(i) for i in lines)}): left as they were")
    note = pending_note([r for r, _ in people])
    if note:
        options.notify(note)


class CanvasExport:
    """The Canvas gradebook CSV of ``--template`` with the assignment's points filled in."""

    name = "canvas"
    description = ("Canvas's gradebook export (--template) with this assignment's column "
                   "filled in, to import back")
    ta_grades = True
    uses: tuple[str, ...] = ("template", "column", "scale")

    def write(self, results: Sequence[SubmissionResult], target: Path, *,
              roster: Roster | None = None, options: ExportOptions = NO_OPTIONS
              ) -> list[Path]:
        """Write ``canvas-import.csv`` into ``target``."""
        if options.template is None:
            raise GraderError("--format canvas needs --template CSV: the gradebook Canvas "
                              "exports (Grades, Export, Export Entire Gradebook), which it "
                              "fills in to import back")
        text = fill(read_template(options.template), results, roster, options)
        path = target / "canvas-import.csv"
        atomic_write(path, text)
        return [path]
