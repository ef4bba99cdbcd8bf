"""Gradescope: grade a submission inside the autograder and write its ``results.json``.

Gradescope runs the course's ``run_autograder`` script with the student's files in
``/autograder/submission`` and reads ``/autograder/results/results.json``, in the format
of its published "Autograder Specifications". ``grader gradescope --rubric ...`` grades
the submission folder through :func:`grader.grade.grade_submission` (as ``grader check``
and the pytest plugin do) and writes one Gradescope test per check:

- ``name`` ("q3_1 Gradients: grad_w"), ``number`` ("3.1", or "3.1a", "3.1b" for a
  question of several checks), ``score`` and ``max_score`` (the check's points),
  ``status`` (``passed`` only when the check passed; partial credit is ``failed`` with its
  points), ``output`` and ``visibility``, both from the check's ``feedback``
  (:func:`visibility_of`, :func:`check_output`): ``full`` shows the message, expected and
  received values; ``verdict`` the status and message; ``none`` makes the test hidden
  and its output says nothing of the answer;
- a text answer (graded by hand) is a test without ``score`` and ``status``, pending: its
  output says a TA grades it and for how many points, so Gradescope shows neither
  "passed" nor "0/0";
- at the top level ``score`` (the auto-graded points: text answers count for nothing here,
  Gradescope adds their points through its own manual grading), ``execution_time``,
  ``output`` (the run's summary and the cells that raised, no check's values),
  ``visibility`` and ``stdout_visibility`` (``hidden``: the log is for the course staff).

The results file is written even when there is nothing to grade, so that the student
reads why instead of a bare "autograder failed". ``grader export --format gradescope``
renders the same document for every student of a graded folder (:class:`GradescopeExport`).
"""

from __future__ import annotations

import json
import re
import string
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from grader.atomic import atomic_write
from grader.errors import GraderError, SubmissionError
from grader.export_format import NO_OPTIONS, ExportOptions
from grader.points import format_points
from grader.report import STUDENTS
from grader.results import CheckResult, QuestionResult, SubmissionResult, automatic
from grader.rubric import Rubric

SUBMISSION_DIR = Path("/autograder/submission")
RESULTS_PATH = Path("/autograder/results/results.json")
# Gradescope's visibilities, from least to most hidden.
VISIBILITY_ORDER = ("visible", "after_due_date", "after_published", "hidden")
HIDDEN_OUTPUT = "Not shown to students: the course shows only this check's points."
_NUMBER = re.compile(r"^[A-Za-z]*(\d+(?:[._-]\d+)*)$")
_STATUS_WORDS = {"passed": "passed", "partial": "partial credit", "failed": "failed",
                 "error": "error", "missing": "missing"}


def visibility_of(c: CheckResult) -> str:
    """When Gradescope shows the check's test: hidden when its feedback is ``none``.

    Otherwise the result's ``visibility`` (which the rubric sets); a value Gradescope
    does not know, or a feedback the grader does not know, is read as hidden.
    """
    if c.feedback not in ("full", "verdict") or c.visibility not in VISIBILITY_ORDER:
        return "hidden"
    return c.visibility


def check_output(c: CheckResult) -> str:
    """What the check's test says, as much as its ``feedback`` allows (an auto-graded check).

    ``full``: verdict, message, hint, expected and received; ``verdict``: verdict and
    message; ``none`` (a hidden test): the verdict line only, which the points show anyway.
    """
    verdict = (f"{_STATUS_WORDS.get(c.status, c.status)}: {format_points(c.score)} of "
               f"{format_points(c.max_score)} points")
    if c.feedback not in ("full", "verdict"):
        return f"{verdict}\n{HIDDEN_OUTPUT}"
    lines = [verdict]
    if c.message:
        lines.append(c.message)
    if c.feedback == "full":
        if c.hint:
            lines.append(c.hint)
        if c.expected is not None:  # None for checks whose expected value is not shown
            lines.append(f"expected: {c.expected}")
        if c.received is not None:
            lines.append(f"received: {c.received}")
    return "\n".join(lines)


def number_of(question_id: str, position: int) -> str:
    """Gradescope's test number: "3.1" for q3_1, else the question's position."""
    m = _NUMBER.match(question_id)
    return re.sub(r"[_-]", ".", m.group(1)) if m else str(position)


def render(result: SubmissionResult, *, seconds: float,
           visibility: str = "visible") -> dict[str, Any]:
    """The ``results.json`` document of one graded submission."""
    tests = [t for i, q in enumerate(result.questions, 1) for t in _tests(q, i)]
    auto = [c for q in result.questions for c in automatic(q.checks)]
    return {
        "score": round(sum(c.score for c in auto), 6),
        "execution_time": max(0, round(seconds)),
        "output": _summary(result, auto, tests),
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
    from grader.executors.worker import grade_alone, rubric_and_kernel
    from grader.grade import failed_result
    from grader.submission import Submission

    started = time.monotonic()
    submission_dir, results_path = Path(submission_dir), Path(results_path)
    try:
        # The kernel starts first, as for every lone submission (the reference loads
        # meanwhile), with the rubric's preload as in a batch.
        rubric, kernels = rubric_and_kernel(rubric_path, start=submission_dir.is_dir())
    except GraderError as exc:
        _write(results_path, {"score": 0.0, "execution_time": 0, "visibility": "visible",
                              "stdout_visibility": "hidden",
                              "output": "The autograder is not set up correctly; the course "
                                        "staff have been told. Your submission was not "
                                        "graded."})
        raise GraderError(f"gradescope: {exc}") from exc
    try:
        result = grade_alone(submission_dir, rubric, kernels, student="submission")
    except SubmissionError as exc:
        sub = Submission(student="submission", path=submission_dir)
        result = failed_result(sub, rubric, f"nothing to grade: {_reason(exc, rubric)}")
    except Exception as exc:  # a grader bug still leaves the student a results file
        sub = Submission(student="submission", path=submission_dir)
        result = failed_result(sub, rubric, f"grader error: {type(exc).__name__}: {exc}")
    data = render(result, seconds=time.monotonic() - started)
    _write(results_path, data)
    # Gradescope's stdout is the staff's (stdout_visibility hidden): one line per test.
    print(f"grader gradescope: {format_points(data['score'])} points; {len(data['tests'])} "
          f"tests written to {results_path}")
    for test in data["tests"]:
        points = (f"{format_points(test['score'])}/{format_points(test['max_score'])}"
                  if "score" in test else "by hand")
        print(f"  {test['number']:>6} {test.get('status', 'manual'):<6} {points} "
              f"[{test['visibility']}] {test['name']}")
    return data


# --------------------------------------------------------------------------- rendering


def _tests(q: QuestionResult, position: int) -> list[dict[str, Any]]:
    """The question's tests, one per check, numbered "3.1" or "3.1a", "3.1b", ..."""
    number = number_of(q.id, position)
    several = len(q.checks) > 1
    return [_test(q, c, f"{number}{_letter(k)}" if several else number)
            for k, c in enumerate(q.checks)]


def _letter(k: int) -> str:
    return string.ascii_lowercase[k] if k < len(string.ascii_lowercase) else f"-{k + 1}"


def _test(q: QuestionResult, c: CheckResult, number: str) -> dict[str, Any]:
    title = f"{q.id} {q.title}" if q.title else q.id
    test: dict[str, Any] = {"name": f"{title}: {c.answer}", "number": number}
    if c.manual:
        # No score and no status: Gradescope shows a pending test, not "passed 0/0"; the
        # points come from Gradescope's manual grading (the spec makes both optional).
        test["name"] += " (graded by hand)"
        test["output"] = _manual_output(c)
        if not (c.awaits_staff or c.staff_graded):  # not found: say so, never "passed"
            test["status"] = "failed"
    else:
        test.update(score=round(c.score, 6), max_score=round(c.max_score, 6),
                    status="passed" if c.status == "passed" else "failed",
                    output=check_output(c))
    test["visibility"] = visibility_of(c)
    return test


def _manual_output(c: CheckResult) -> str:
    head = f"Text answer, {format_points(c.max_score)} points, graded by hand by a TA"
    tail = "Its points are not part of the autograder's score."
    if c.awaits_staff or c.staff_graded:
        return f"{head}: collected.\n{tail}"
    return f"{head}: not collected. {c.message}".rstrip() + f"\n{tail}"


def _summary(result: SubmissionResult, auto: list[CheckResult],
             tests: list[dict[str, Any]]) -> str:
    """The top-level output: totals and how the run went, never a check's values."""
    score, max_auto = sum(c.score for c in auto), sum(c.max_score for c in auto)
    manual = sum(c.max_score for q in result.questions for c in q.checks if c.manual)
    lines = [f"Graded {Path(result.submission).name}: {format_points(score)} of "
             f"{format_points(max_auto)} auto-graded points."]
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
    uses: tuple[str, ...] = ()

    def write(self, results: Sequence[SubmissionResult], target: Path, *,
              roster: Any = None, options: ExportOptions = NO_OPTIONS) -> list[Path]:
        """Write each student's file under ``target`` (a roster adds nothing to them)."""
        files = []
        for r in results:
            path = target / STUDENTS / r.student / "results.json"
            atomic_write(path, json.dumps(render(r, seconds=r.run.seconds), indent=1,
                                          ensure_ascii=False, allow_nan=False))
            files.append(path)
        return files
