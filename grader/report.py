"""Render results: one HTML page and one JSON file per student, and the gradebook CSV.

Results are plain data; everything about presentation lives here and in the templates.
Files are written atomically (a temporary file, then a rename), so a crash never leaves
a half-written report behind.
"""

from __future__ import annotations

import csv
import io
import json
import os
import tempfile
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from grader.results import SubmissionResult
from grader.rubric import Rubric

STATUS_LABELS = {
    "passed": ("✓", "Correct"),
    "failed": ("✗", "Wrong"),
    "partial": ("◐", "Partly correct"),
    "error": ("!", "Error"),
    "missing": ("∅", "Missing"),
    "manual": ("✎", "To be graded by a TA"),
}


def atomic_write(path: Path, text: str) -> None:
    """Write ``text`` to ``path`` so that readers see the old file or the new, never half."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="") as fh:
            fh.write(text)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def to_json(result: SubmissionResult) -> str:
    """The documented JSON form of one student's result."""
    return json.dumps(result.to_dict(), indent=2, ensure_ascii=False, allow_nan=False,
                      default=str)


def _environment() -> Any:
    from jinja2 import Environment, PackageLoader, select_autoescape

    # Autoescape is off in jinja2 unless asked for: every student string is hostile HTML.
    env = Environment(loader=PackageLoader("grader", "templates"),
                      autoescape=select_autoescape(default=True, default_for_string=True),
                      trim_blocks=True, lstrip_blocks=True)
    env.globals["status_labels"] = STATUS_LABELS
    env.filters["points"] = _points
    return env


def _points(value: float) -> str:
    text = f"{value:.2f}".rstrip("0").rstrip(".")
    return text or "0"


def render_html(result: SubmissionResult, rubric: Rubric) -> str:
    """One self-contained feedback page: inline CSS, no scripts, no network assets."""
    template = _environment().get_template("student.html.j2")
    pending = sum(1 for q in result.questions for c in q.checks if c.status == "manual")
    return template.render(result=result, rubric=rubric, pending_manual=pending)


def grades_csv(results: Iterable[SubmissionResult], rubric: Rubric) -> str:
    """The gradebook: a row per student, a column per question, then the total."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    ids = [q.id for q in rubric.questions]
    writer.writerow(["student", *ids, "total", "max_score", "run"])
    for r in sorted(results, key=lambda r: r.student):
        scores = {q.id: q.score for q in r.questions}
        writer.writerow([_csv_safe(r.student), *(_points(scores.get(i, 0.0)) for i in ids),
                         _points(r.score), _points(r.max_score), r.run.outcome])
    return buffer.getvalue()


def _csv_safe(text: str) -> str:
    # A cell starting with = + - @ is a formula in spreadsheet programs.
    return "'" + text if text[:1] in ("=", "+", "-", "@") else text


def write_student(result: SubmissionResult, rubric: Rubric, out: Path) -> None:
    """Write ``<student>.json`` and ``<student>.html`` into ``out``."""
    atomic_write(out / f"{result.student}.json", to_json(result))
    atomic_write(out / f"{result.student}.html", render_html(result, rubric))
