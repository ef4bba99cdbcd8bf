"""A whole course, once: a Canvas zip of the examples, a roster, a late policy, every figure.

The course (:func:`course`) is the five example submissions as Canvas exports them, one of
them late (``_LATE_``, and a time from ``--submitted-at``), a student who handed in a PDF
only, and a roster with one student who handed in nothing and without one who did. It
is graded once for the module (:func:`graded`); each test reads what came out. Further
parts of the course flow (a TA's override, the Canvas gradebook export) add tests that
take ``graded`` and work on a copy of its folder (:func:`copy_of`).
"""

from __future__ import annotations

import contextlib
import csv
import io
import json
import os
import shutil
import subprocess
import sys
import zipfile
from dataclasses import dataclass
from pathlib import Path

import pytest

from grader.cli import main
from grader.results import RunLog, SubmissionResult
from grader.roster import Roster, RosterEntry, absent_result
from grader.rubric import load_rubric
from grader.summary import render_index

ROOT = Path(__file__).parents[1]
EXAMPLES = ROOT / "submissions_example"
LATE = """
[late]
deadline = 2026-03-01T23:59:00Z
penalty_per_day = 0.1
floor = 0.5
grace = "15m"
cutoff = "7d"
"""
MEMBERS = {  # the Canvas export: member name -> the example it is
    "alice_101_9001_hw2.ipynb": "alice.ipynb",
    "bob_102_9002_hw2.py": "bob.py",
    "carol_LATE_103_9003_hw2.ipynb": "carol.ipynb",
    "dave_104_9004_hw2.ipynb": "dave/hw2.ipynb",
    "dave_104_9004_helpers.py": "dave/helpers.py",
    "erin_105_9005_hw2.ipynb": "erin.ipynb",
}
ROSTER = """student,name,section,lms_id
alice,Alice Ahmadi,1,1001
bob,Bob Bahrami,1,1002
carol,Carol Karimi,2,1003
dave,Dave Davoudi,2,1004
frank,Frank Farahani,1,1006
gina,Gina Ghasemi,2,1007
"""


@dataclass(frozen=True)
class Course:
    """The inputs of the course and the folder it was graded into."""

    root: Path
    archive: Path
    rubric: Path
    roster: Path
    times: Path
    out: Path
    printed: str  # what grader grade wrote to stdout and stderr


def course(root: Path) -> Course:
    """Write the course's files under ``root``."""
    root.mkdir(parents=True, exist_ok=True)
    archive = root / "canvas.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        for member, example in MEMBERS.items():
            zf.write(EXAMPLES / example, member)
        zf.writestr("frank_106_9006_hw2.pdf", "%PDF-1.4 frank's scan of a notebook")
    rubric = root / "hw2.toml"
    text = (ROOT / "rubrics" / "hw2.toml").read_text("utf-8")
    rubric.write_text(text.replace('reference = "../reference/hw2.py"',
                                   f'reference = "{ROOT / "reference" / "hw2.py"}"') + LATE,
                      "utf-8")
    (root / "roster.csv").write_text(ROSTER)
    # 34.5 hours after the deadline: two started days late.
    (root / "times.csv").write_text("student,submitted_at\ncarol,2026-03-03T10:30:00Z\n")
    return Course(root=root, archive=archive, rubric=rubric, roster=root / "roster.csv",
                  times=root / "times.csv", out=root / "reports", printed="")


def grade(c: Course, *extra: str) -> tuple[int, str]:
    """``grader grade`` of the course; its exit status and what it printed."""
    buffer = io.StringIO()
    with contextlib.redirect_stdout(buffer), contextlib.redirect_stderr(buffer):
        status = main(["grade", str(c.archive), "--rubric", str(c.rubric), "--out", str(c.out),
                       "-j", "2", *extra])
    return status, buffer.getvalue()


@pytest.fixture(scope="module")
def graded(tmp_path_factory: pytest.TempPathFactory) -> Course:
    c = course(tmp_path_factory.mktemp("course"))
    status, printed = grade(c, "--roster", str(c.roster), "--submitted-at", str(c.times))
    assert status == 0, printed
    return Course(**{**c.__dict__, "printed": printed})


def copy_of(c: Course, where: Path) -> Course:
    """The graded course with its reports and rubric copied to ``where``, to change there."""
    shutil.copytree(c.out, where / "reports")
    shutil.copy(c.rubric, where / c.rubric.name)
    return Course(**{**c.__dict__, "out": where / "reports", "rubric": where / c.rubric.name})


QUESTIONS = ("q1_1", "q1_2", "q1_3", "q1_4", "q1_5", "q2_1", "q2_2", "q3_1", "q3_2", "q3_3",
             "q4_1", "q4_2", "q5_1", "q5_2", "q5_3", "q5_4", "q5_5", "q6_1", "q6_2")
# The examples' points per question (tests/test_examples.py explains each loss); text
# answers (25 points) wait for a TA.
FULL = "3 3 0 5 5 4 0 8 0 9 6 5 3 3 7 4 0 7 3"
POINTS = {
    "alice": FULL, "bob": FULL,
    "carol": "3 0.75 0 3.5 5 4 0 8 0 4.5 1.8 5 3 3 5.6 4 0 7 3",
    "dave": "3 3 0 5 5 4 0 8 0 5 6 5 3 3 7 4 0 7 3",
    "erin": "3 3 0 5 5 0 0 0 0 0 0 0 3 3 0 0 0 0 0",
    "frank": " ".join(["0"] * 19), "gina": " ".join(["0"] * 19),
}
# student: name, section, lms_id, total, run, cell_errors, submitted_at, late,
# score_before_late, late_penalty
ROWS = {
    "alice": ("Alice Ahmadi", "1", "1001", "75", "ok", "0", "", "no", "75", "0"),
    "bob": ("Bob Bahrami", "1", "1002", "75", "ok", "0", "", "no", "75", "0"),
    # 61.15 less two days at 10% of 100 is 41.15, below the floor of 50: 50.
    "carol": ("Carol Karimi", "2", "1003", "50", "ok", "0", "2026-03-03T10:30:00+00:00",
              "yes", "61.15", "11.15"),
    "dave": ("Dave Davoudi", "2", "1004", "71", "ok", "1", "", "no", "71", "0"),
    "erin": ("", "", "", "22", "ok", "0", "", "no", "22", "0"),  # not on the roster
    "frank": ("Frank Farahani", "1", "1006", "0", "no_gradable_file", "0", "", "no", "0", "0"),
    "gina": ("Gina Ghasemi", "2", "1007", "0", "missing", "0", "", "no", "0", "0"),
}
COLUMNS = ["student", "name", "section", "lms_id", *QUESTIONS, "total", "max_score", "run",
           "cell_errors", "submitted_at", "late", "score_before_late", "late_penalty"]


def expected_rows(totals: dict[str, tuple[str, str]] | None = None) -> list[list[str]]:
    """Every row of grades.csv; ``totals`` replaces a student's (total, late_penalty)."""
    out = []
    for student, (name, section, lms, total, run, errors, at, late, before, penalty) \
            in ROWS.items():
        total, penalty = (totals or {}).get(student, (total, penalty))
        out.append([student, name, section, lms, *POINTS[student].split(), total, "100", run,
                    errors, at, late, before, penalty])
    return out


def table(path: Path) -> list[list[str]]:
    with path.open(encoding="utf-8") as f:
        return list(csv.reader(f))


@pytest.mark.kernel
def test_grades_csv_has_every_figure(graded):
    got = table(graded.out / "grades.csv")
    assert got[0] == COLUMNS
    assert got[1:] == expected_rows()


@pytest.mark.kernel
def test_what_was_not_graded_is_said_on_the_terminal_and_the_summary(graded):
    zipped = f"{graded.archive}!"
    assert f"skipped {zipped}frank_106_9006_hw2.pdf: not a .ipynb or .py file; frank " \
           "handed in no gradable file" in graded.printed
    assert f"not on the roster {graded.roster}: erin (graded all the same)" in graded.printed
    assert "no submission (1): gina" in graded.printed
    assert "no gradable file (1): frank" in graded.printed
    page = (graded.out / "index.html").read_text("utf-8")
    assert "5 submissions ·" in page and "mean 58.6 / 100" in page  # absent rows left out
    assert "Every submission ran to its end, but 1 had cells that raised" in page
    assert "Every submission ran, and no cell raised" not in page
    assert "name &#39;lr_0&#39; is not defined" in page  # dave's cell, listed though he ran
    for heading in ("<h3>No submission", "<h3>No gradable file", "<h3>Not on the roster",
                    ">Late submissions</h2>", ">Submissions with cells that raised</h2>"):
        assert heading in page
    assert "gina (Gina Ghasemi)" in page
    assert f"{zipped}frank_106_9006_hw2.pdf" in page


@pytest.mark.kernel
def test_the_late_students_page_shows_the_score_before_and_after(graded):
    carol = json.loads((graded.out / "students" / "carol.json").read_text("utf-8"))
    assert (carol["score"], carol["late"], carol["submitted_at"]) == (
        50.0, True, "2026-03-03T10:30:00+00:00")
    assert carol["late_penalty"] == {
        "score_before": 61.15, "penalty": 11.15, "hours_late": 34.5167,
        "deadline": "2026-03-01T23:59:00+00:00", "per": "day", "rate": 0.1, "floor": 0.5,
        "grace_minutes": 15.0, "cutoff": "2026-03-08T23:59:00+00:00", "reason": "penalty"}
    page = (graded.out / "students" / "carol.html").read_text("utf-8")
    assert "Score before the late penalty: 61.15; penalty: 11.15; score: 50." in page
    assert "34.52 hours after your deadline" in page
    assert "10% of the maximum score per started day late" in page


@pytest.mark.kernel
def test_a_result_from_the_archive_names_its_member_and_its_command_works_later(
        graded, tmp_path):
    carol = json.loads((graded.out / "students" / "carol.json").read_text("utf-8"))
    assert carol["submission"] == f"{graded.archive}!carol_LATE_103_9003_hw2.ipynb"
    assert "grader-inputs-" not in carol["command"]  # the batch's scratch folder is gone
    # The command, run after the batch: it unpacks carol's member again and grades it.
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}:{os.environ['PATH']}",
           "TMPDIR": str(tmp_path)}
    done = subprocess.run(["bash", "-c", carol["command"]], env=env, capture_output=True,
                          text=True, timeout=600, check=False)
    assert done.returncode == 0, done.stderr
    again = [json.loads(p.read_text("utf-8")) for p in tmp_path.rglob("students/carol.json")]
    # The same grading: the points before a late penalty (no times were given to it).
    assert [(r["score"], r["late"]) for r in again] == [(61.15, True)]


@pytest.mark.kernel
def test_an_edited_late_policy_is_applied_again_without_running_a_notebook(graded, tmp_path):
    c = copy_of(graded, tmp_path)
    c.rubric.write_text(c.rubric.read_text("utf-8").replace("penalty_per_day = 0.1",
                                                            "penalty_per_day = 0.05"))
    status, printed = grade(c, "--resume")
    assert status == 0, printed
    assert "5 kept" in printed and "0 graded now" in printed
    # Two started days at 5%: 61.15 - 10; the times and the roster are the gradebook's.
    assert table(c.out / "grades.csv")[1:] == expected_rows({"carol": ("51.15", "10")})
    page = (c.out / "students" / "carol.html").read_text("utf-8")
    assert "penalty: 10; score: 51.15." in page
    # grader export recomputes from the raw scores with the rubric's policy as it is now.
    c.rubric.write_text(c.rubric.read_text("utf-8").replace("penalty_per_day = 0.05",
                                                            "penalty_per_hour = 0.005"))
    assert main(["export", "--out", str(c.out), "--format", "csv"]) == 0
    # 35 started hours at 0.5%: 17.5 taken, 43.65 under the floor of 50.
    exported = table(c.out / "export" / "grades.csv")
    assert exported[0] == [*COLUMNS, "pending_manual"]
    assert [r[:-1] for r in exported[1:]] == expected_rows({"carol": ("50", "11.15")})
    assert [r[-1] for r in exported[1:]] == ["9", "9", "9", "9", "3", "0", "0"]


# --------------------------------------------------------------------------- the summary alone


def _result(student: str, *, outcome: str = "ok", errors: int = 0) -> SubmissionResult:
    from grader.results import CellError

    run = RunLog(outcome=outcome, errors=tuple(
        CellError(index=i, source="x", ename="ValueError", evalue="bad", traceback="")
        for i in range(errors)))
    return SubmissionResult(student=student, submission=f"{student}.ipynb", score=1.0,
                            max_score=2.0, questions=(), run=run)


@pytest.mark.parametrize(("results", "says", "never"), [
    ([_result("a"), _result("b")], "Every submission ran, and no cell raised.",
     "ran to its end, but"),
    ([_result("a", errors=2), _result("b")],
     "Every submission ran to its end, but 1 had cells that raised", "no cell raised"),
    ([_result("a", outcome="timeout", errors=1)], "timeout", "Every submission ran"),
])
def test_the_summary_never_says_every_submission_ran_when_cells_raised(results, says, never):
    page = render_index(load_rubric(ROOT / "rubrics" / "hw2.toml"), results)
    assert says in page and never not in page


def test_absent_students_are_listed_and_left_out_of_the_statistics():
    roster = Roster(entries=(RosterEntry(student="a"), RosterEntry(student="gone", name="G")))
    results = [_result("a"), _result("zed"),
               absent_result("gone", outcome="missing", message="no submission", max_score=2),
               absent_result("pdf", outcome="no_gradable_file", message="only a PDF",
                             max_score=2, submission="x.zip!pdf_1_2_hw.pdf")]
    page = render_index(load_rubric(ROOT / "rubrics" / "hw2.toml"), results, roster)
    assert "2 submissions ·" in page and "mean 1 / 100 · median 1" in page
    assert "1 without a submission" in page and "1 with no gradable file" in page
    assert "gone (G)" in page and "x.zip!pdf_1_2_hw.pdf" in page and "only a PDF" in page
    strangers = page[page.index("Not on the roster"):]
    assert 'href="students/zed.html"' in strangers[:400]


@pytest.mark.parametrize(("flag", "text", "message"), [
    ("--roster", "student\nann\nann\n", "roster.csv line 3: student 'ann' is listed twice"),
    ("--submitted-at", "student,submitted_at\nann,tomorrow\n",
     "times.csv line 2: 'tomorrow' is not an ISO 8601 date-time"),
    ("--deadline", "", "--deadline: '2026-03-01' has no UTC offset"),
])
def test_a_bad_roster_times_or_deadline_stops_the_run_before_grading(tmp_path, flag, text,
                                                                     message, capsys):
    (tmp_path / "subs").mkdir()
    (tmp_path / "subs" / "ann.py").write_text("x = 1\n")
    value = "2026-03-01"
    if text:
        name = "roster.csv" if flag == "--roster" else "times.csv"
        (tmp_path / name).write_text(text)
        value = str(tmp_path / name)
    assert main(["grade", str(tmp_path / "subs"), "--rubric", str(ROOT / "rubrics" / "hw2.toml"),
                 "--out", str(tmp_path / "out"), flag, value]) == 2
    assert message in capsys.readouterr().err
    assert not (tmp_path / "out").exists()
