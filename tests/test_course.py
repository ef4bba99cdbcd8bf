"""A whole course, once: a Canvas zip of the examples, a roster, a late policy, every figure.

The course (:func:`course`) is the five example submissions as Canvas exports them, one of
them late (``_LATE_``, and a time from ``--submitted-at``), a student who handed in a PDF
only, and a roster with one student who handed in nothing and without one who did. It
is graded once for the module (:func:`graded`); each test reads what came out. The rest
of the flow works on a copy of its folder (:func:`copy_of`), through the command line as
a TA types it: an edited late policy re-applied, and a TA's override of an automatic
check kept through a re-grade, then exported into the Canvas gradebook of
``tests/data/lms/canvas-course-hw2.csv`` (written from Canvas's documentation of its
export) and into Moodle's grade import, every figure asserted.
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
from dataclasses import dataclass, replace
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


# --------------------------------------------------------------------------- override, export


def run(*args: str) -> tuple[int, str, str]:
    """A ``grader`` command as a TA types it: its exit status, stdout and stderr."""
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        status = main(list(args))
    return status, out.getvalue(), err.getvalue()


TEMPLATE = ROOT / "tests" / "data" / "lms" / "canvas-course-hw2.csv"
COMMENT = "lr_0 was a typo for lr: the update is right once the cell runs."
# What grader export --format canvas --scale writes into "Homework 2 (50001)": the total
# after the late penalty (dave's with the TA's override), out of Canvas's 50 points.
CANVAS = {"Student": "Homework 2 (50001)", "Points Possible": "50.00",
          "Ahmadi, Alice": "37.5", "Bahrami, Bob": "37.5", "Karimi, Carol": "25",
          "Davoudi, Dave": "37.5", "Esmaili, Erin": "11", "Farahani, Frank": "0",
          "Hosseini, Omid": "", "Student, Test": ""}


@pytest.mark.kernel
def test_override_regrade_and_export_to_canvas_and_moodle(graded, tmp_path):
    c = copy_of(graded, tmp_path)
    # A TA gives dave the 4 points of an automatic check his typo (a cell that raised)
    # left without an answer.
    grades = tmp_path / "override.csv"
    grades.write_text(f"student,question,answer,points,comment\n"
                      f"dave,q3_3,q3_3_update,4,{COMMENT}\n")
    status, said, err = run("manual", str(c.out), str(grades), "--by", "Dr. Rahimi")
    assert status == 0, err
    assert "Merged 0 manual grade(s), 1 override(s) (1 change(s) logged)" in said
    # Re-grading keeps it: nothing runs again, and the override stays.
    status, printed = grade(c, "--resume")
    assert status == 0, printed
    assert "5 kept" in printed and "0 graded now" in printed
    dave_points = POINTS["dave"].split()
    dave_points[QUESTIONS.index("q3_3")] = "9"
    assert table(c.out / "grades.csv")[1:] == [
        [*row[:4], *dave_points, "75", "100", "ok", "1", "", "no", "75", "0"]
        if row[0] == "dave" else row for row in expected_rows()]
    dave = json.loads((c.out / "students" / "dave.json").read_text("utf-8"))
    (q3_3,) = [q for q in dave["questions"] if q["id"] == "q3_3"]
    update = {ch["answer"]: ch for ch in q3_3["checks"]}["q3_3_update"]
    assert (q3_3["score"], q3_3["status"], update["status"], update["score"]) == (
        9.0, "passed", "overridden", 4.0)
    assert {k: update["override"][k] for k in ("points", "comment", "by", "auto_status",
                                               "auto_score")} == {
        "points": 4.0, "comment": COMMENT, "by": "Dr. Rahimi", "auto_status": "missing",
        "auto_score": 0.0}
    assert [(ch["question"], ch["answer"], ch["old_points"], ch["new_points"], ch["by"])
            for ch in dave["changes"]] == [("q3_3", "q3_3_update", 0.0, 4.0, "Dr. Rahimi")]
    page = (c.out / "students" / "dave.html").read_text("utf-8")
    assert "Points given by a TA" in page and "Dr. Rahimi" in page
    assert "The grader&#39;s own verdict:" in page
    # The summary counts dave's q3_3 as full marks now: alice, bob and dave.
    index = (c.out / "index.html").read_text("utf-8")
    assert '<code>q3_3</code> <span dir="auto">' in index
    row = index[index.index('<tr><th scope="row"><code>q3_3</code>'):]
    row = row[:row.index("</tr>")]
    assert '<td class="num">3 (60%)</td><td class="num">1</td><td class="num">1</td>' in row

    # Canvas: the TA's gradebook export, filled in and written back.
    base = ("export", "--out", str(c.out), "--format", "canvas")
    status, _, err = run(*base)
    assert status == 2 and "--format canvas needs --template CSV" in err
    status, _, err = run(*base, "--template", str(TEMPLATE))
    assert status == 2 and f"{TEMPLATE}: no assignment column starts with 'Deep Learning, " \
        "homework 2" in err and "give --column with the one to fill" in err
    status, _, err = run(*base, "--template", str(TEMPLATE), "--column", "Homework 2 (50001)")
    assert status == 2
    assert f"{TEMPLATE}: Homework 2 (50001) has Points Possible 50 in Canvas, the rubric's " \
        "maximum is 100: give --scale" in err
    status, said, err = run(*base, "--template", str(TEMPLATE), "--column",
                            "Homework 2 (50001)", "--scale")
    assert status == 0, err
    written = c.out / "export" / "canvas-import.csv"
    assert said.splitlines() == [
        "in canvas-course-hw2.csv but not in the gradebook (2), left as they were: "
        "Hosseini, Omid (line 9); Student, Test (line 10)",
        "in the gradebook but not in canvas-course-hw2.csv (1): gina (lms_id 1007)",
        "5 student(s) have text answers not yet graded; their grade leaves those points "
        "out: alice, bob, carol, dave, erin",
        "filled 6 of 8 student row(s) of column 'Homework 2 (50001)'",
        f"Exported 7 submission(s) as canvas to {c.out / 'export'}"]
    got, original = table(written), table(TEMPLATE)
    assert {r[0].strip(): r[6] for r in got} == CANVAS and len(got) == len(CANVAS)
    # Every other cell as Canvas wrote it, and its line endings.
    assert [r[:6] + r[7:] for r in got] == [r[:6] + r[7:] for r in original]
    assert written.read_bytes().count(b"\r\n") == len(original)
    status, _, err = run("export", "--out", str(c.out), "--format", "csv", "--template",
                         str(TEMPLATE))
    assert status == 2 and "--format csv does not read --template (only --format canvas " \
        "does): leave it out" in err

    # Moodle: every student has an LMS id (erin's from her file name), so they are the
    # identifier; points and feedback per student.
    status, said, err = run("export", "--out", str(c.out), "--format", "moodle", "--to",
                            str(tmp_path / "moodle"))
    assert status == 0, err
    assert said.splitlines() == [
        "points are out of 100: the Moodle grade item should have that maximum",
        "5 student(s) have text answers not yet graded; their grade leaves those points "
        "out: alice, bob, carol, dave, erin",
        f"Exported 7 submission(s) as moodle to {tmp_path / 'moodle'}"]
    moodle = table(tmp_path / "moodle" / "moodle-grades.csv")
    assert moodle[0] == ["ID number", "Deep Learning, homework 2: optimisation, "
                         "initialisation and regularisation", "Feedback"]
    assert [r[:2] for r in moodle[1:]] == [
        ["1001", "75"], ["1002", "75"], ["1003", "50"], ["1004", "75"], ["105", "22"],
        ["1006", "0"], ["1007", "0"]]
    feedback = dict(zip(ROWS, (r[2].splitlines() for r in moodle[1:]), strict=True))
    assert "q3_3: 9/9; q3_3_update set by staff: " + COMMENT in feedback["dave"]
    assert feedback["carol"][-2:] == ["late: 61.15 less a late penalty of 11.15",
                                      "9 text answer(s) not graded yet"]
    assert feedback["gina"] == ["no submission"]
    assert feedback["frank"] == ["not a .ipynb or .py file; frank handed in no gradable file"]
    for student, points in POINTS.items():
        if student not in ("frank", "gina"):
            shown = [line.split(":")[1].split("/")[0].strip() for line in feedback[student]
                     if line.startswith("q")]
            want = dave_points if student == "dave" else points.split()
            assert shown == want, student


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


def test_an_overridden_question_counts_by_its_points_on_the_summary():
    from grader.results import CheckResult, Override, QuestionResult
    from grader.summary import question_rates

    def with_q1_1(student: str, status: str, score: float, *, by_ta: bool) -> SubmissionResult:
        check = CheckResult(answer="q1_1_curve", kind="numeric", status="failed", score=0.0,
                            max_score=6.0, message="")
        q = QuestionResult(id="q1_1", title="", score=score, max_score=6.0, status=status,
                           checks=(check,), override=Override(
                               points=score, comment="", by="ta", auto_status="failed",
                               auto_score=0.0) if by_ta else None)
        return replace(_result(student), questions=(q,))

    results = [with_q1_1("a", "overridden", 6.0, by_ta=True),  # full marks given by a TA
               with_q1_1("b", "overridden", 2.5, by_ta=True),  # partial
               with_q1_1("c", "overridden", 0.0, by_ta=True),  # none
               with_q1_1("d", "failed", 0.0, by_ta=False)]
    rubric = load_rubric(ROOT / "rubrics" / "hw2.toml")
    rate = question_rates(results, rubric)[0]
    assert (rate.passed, rate.partial, rate.other, rate.manual, rate.overridden) == (
        1, 1, 2, 0, 3)
    page = render_index(rubric, results)
    assert "counts by those points: full marks, partial or none. Overridden: " \
        "<code>q1_1</code> 3." in page
    assert "Overridden:" not in render_index(rubric, results[3:])


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
