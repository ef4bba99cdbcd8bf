"""Gradescope: grade a submission inside the autograder and write its ``results.json``.

Gradescope runs the course's ``run_autograder`` script with the student's files in
``/autograder/submission`` and reads ``/autograder/results/results.json``, in the format
of its published "Autograder Specifications". ``grader gradescope --rubric ...`` grades
the submission folder through :func:`grader.grade.grade_submission` (as ``grader check``
and the pytest plugin do) and writes:

- one test per question: ``name`` ("q3_1: title"), ``number`` ("3.1" from the id),
  ``score`` and ``max_score`` (the auto-graded points; text answers are graded by hand on
  Gradescope, so their points are not in ``max_score``), ``status`` (``passed`` when every
  auto-graded check passed, or for a question of text answers, when all were found),
  ``output`` (each check's verdict and feedback) and ``visibility``;
- at the top level ``score``, ``execution_time``, ``output`` (the run's summary, no
  check's values), ``visibility`` and ``stdout_visibility`` (``hidden``: the log is for
  the course staff).

A question is as hidden as its most hidden check, in the order visible < after_due_date <
after_published < hidden (grades are usually published after the due date). So a hidden
check's expected values and feedback appear only in tests that students never see, and
never in the top-level output. The results file is written even when there is nothing to
grade, so that the student reads why instead of a bare "autograder failed".
``grader export --format gradescope`` renders the same document for every student of a
graded folder (:class:`GradescopeExport`).
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from grader.atomic import atomic_write
from grader.errors import GraderError, SubmissionError
from grader.points import format_points
from grader.report import STUDENTS
from grader.results import (
    CheckResult,
    QuestionResult,
    SubmissionResult,
    automatic,
    question_status,
    totals,
)
from grader.rubric import Rubric, load_rubric

SUBMISSION_DIR = Path("/autograder/submission")
RESULTS_PATH = Path("/autograder/results/results.json")
# From least to most hidden; a question takes the most hidden of its checks' visibilities.
VISIBILITY_ORDER = ("visible", "after_due_date", "after_published", "hidden")
_NUMBER = re.compile(r"^[A-Za-z]*(\d+(?:[._-]\d+)*)$")


def question_visibility(q: QuestionResult) -> str:
    """The most hidden visibility among the question's checks."""
    return max((c.visibility for c in q.checks), key=VISIBILITY_ORDER.index,
               default="visible")


def number_of(question_id: str, position: int) -> str:
    """Gradescope's test number: "3.1" for q3_1, else the question's position."""
    m = _NUMBER.match(question_id)
    return re.sub(r"[_-]", ".", m.group(1)) if m else str(position)


def render(result: SubmissionResult, *, seconds: float,
            visibility: str = "visible") -> dict[str, Any]:
    """The ``results.json`` document of one graded submission."""
    tests = [_test(q, i) for i, q in enumerate(result.questions, 1)]
    return {
        "score": round(result.score, 6),
        "execution_time": max(0, round(seconds)),
        "output": _summary(result, tests),
        "visibility": visibility,
        "stdout_visibility": "hidden",
        "tests": tests,
    }


def run(rubric_path: str | Path, *, submission_dir: str | Path = SUBMISSION_DIR,
        results_path: str | Path = RESULTS_PATH) -> dict[str, Any]:
    """Grade the submission folder and write the results file; returns what was written.

    A folder without a gradable file gives a zero result that says why. A rubric that
    cannot be loaded still gets a results file for the student, then raises.
    """
    from grader.grade import failed_result, grade_submission
    from grader.submission import Submission

    started = time.monotonic()
    submission_dir, results_path = Path(submission_dir), Path(results_path)
    try:
        rubric = load_rubric(rubric_path)
    except GraderError as exc:
        _write(results_path, {"score": 0.0, "execution_time": 0, "visibility": "visible",
                              "stdout_visibility": "hidden",
                              "output": "The autograder is not set up correctly; the course "
                                        "staff have been told. Your submission was not "
                                        "graded."})
        raise GraderError(f"gradescope: {exc}") from exc
    try:
        result = grade_submission(submission_dir, rubric, student="submission")
    except SubmissionError as exc:
        sub = Submission(student="submission", path=submission_dir)
        result = failed_result(sub, rubric, f"nothing to grade: {_reason(exc, rubric)}")
    except Exception as exc:  # a grader bug still leaves the student a results file
        sub = Submission(student="submission", path=submission_dir)
        result = failed_result(sub, rubric, f"grader error: {type(exc).__name__}: {exc}")
    data = render(result, seconds=time.monotonic() - started)
    _write(results_path, data)
    print(f"grader gradescope: {format_points(data['score'])} points; {len(data['tests'])} "
          f"tests written to {results_path}")
    for test in data["tests"]:
        print(f"  {test['number']:>6} {test['status']:<6} {format_points(test['score'])}/"
              f"{format_points(test['max_score'])} [{test['visibility']}] {test['name']}")
    return data


# --------------------------------------------------------------------------- rendering


def _test(q: QuestionResult, position: int) -> dict[str, Any]:
    auto = automatic(q.checks)
    if auto:
        passed = question_status(auto) == "passed"
    else:  # text answers only: "passed" means the answer was found for the TA
        passed = all(c.awaits_staff for c in q.checks)
    return {
        "name": f"{q.id}: {q.title}",
        "number": number_of(q.id, position),
        "score": round(q.score, 6),
        "max_score": round(totals(auto)[1], 6),
        "status": "passed" if passed else "failed",
        "output": "\n".join(_check_lines(c) for c in q.checks),
        "visibility": question_visibility(q),
    }


def _check_lines(c: CheckResult) -> str:
    if c.manual:
        state = ("collected for grading by hand" if c.awaits_staff
                 else "not found: " + c.message)
        return (f"{c.answer} (text answer, {format_points(c.max_score)} points graded by "
                f"hand): {state}")
    lines = [f"{c.answer} ({c.kind}): {c.status}, {format_points(c.score)} of "
             f"{format_points(c.max_score)} points"]
    if c.message:
        lines.append(f"  {c.message}")
    if c.expected is not None:  # None for checks that are not visible
        lines.append(f"  expected: {c.expected}")
    if c.received is not None:
        lines.append(f"  received: {c.received}")
    return "\n".join(lines)


def _summary(result: SubmissionResult, tests: list[dict[str, Any]]) -> str:
    """The top-level output: totals and how the run went, never a check's values."""
    auto = sum(t["max_score"] for t in tests)
    manual = result.max_score - auto
    lines = [f"Graded {Path(result.submission).name}: {format_points(result.score)} of "
             f"{format_points(auto)} auto-graded points."]
    if manual > 0:
        lines.append(f"Text answers ({format_points(manual)} points) are graded by hand.")
    if any(t["visibility"] != "visible" for t in tests):
        lines.append("Some tests are shown later (after the due date or when grades are "
                     "published) or only to the course staff.")
    run = result.run
    if run.outcome != "ok":
        lines.append(f"The submission did not run to the end ({run.outcome}): {run.message}")
    elif run.cells_total:
        lines.append(f"{run.cells_run} of {run.cells_total} cells ran.")
    for err in run.errors[:5]:
        lines.append(f"Cell {err.index} raised {err.ename}: {err.evalue}"[:300])
    return "\n".join(lines)


def _reason(exc: SubmissionError, rubric: Rubric) -> str:
    names = ", ".join(rubric.submission_names) or "a notebook (.ipynb) or module (.py)"
    return f"{exc} (expected {names})"


def _write(path: Path, data: dict[str, Any]) -> None:
    atomic_write(path, json.dumps(data, indent=2, ensure_ascii=False) + "\n")


# --------------------------------------------------------------------------- export


class GradescopeExport:
    """``grader export --format gradescope``: a ``results.json`` per student.

    Under ``students/<student>/``, where no student id can be the name of another
    export's file. As in Gradescope's own runs, text answers are left for Gradescope's
    manual grading: these files carry the automatic points only.
    """

    name = "gradescope"
    description = ("students/<student>/results.json in Gradescope's autograder format "
                   "(automatic points only)")
    ta_grades = False

    def write(self, results: Sequence[SubmissionResult], target: Path) -> list[Path]:
        """Write each student's file under ``target``."""
        files = []
        for r in results:
            path = target / STUDENTS / r.student / "results.json"
            atomic_write(path, json.dumps(render(r, seconds=r.run.seconds), indent=1,
                                          ensure_ascii=False, allow_nan=False))
            files.append(path)
        return files
