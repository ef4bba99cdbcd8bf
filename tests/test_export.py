"""``grader export`` and ``grader manual``: read the gradebook, write csv, json, Gradescope."""

from __future__ import annotations

import csv
import json
import shutil
from pathlib import Path

import pytest

from grader.cli import main
from grader.errors import GraderError
from grader.export import export
from grader.gradebook import Gradebook, ManualGrade, group_id
from grader.results import CheckResult, QuestionResult, RunLog, SubmissionResult

MINI = Path(__file__).parent / "data" / "mini"


def result(student: str, why: str | None, *, k_right: bool = True,
           outcome: str = "ok") -> SubmissionResult:
    score = 2.0 if k_right else 0.0
    status = "passed" if k_right else "failed"
    questions = (
        QuestionResult(id="q_num", title="An integer", score=score, max_score=2.0,
                       status=status,
                       checks=(CheckResult(answer="k", kind="numeric",
                                           status=status,
                                           score=score, max_score=2.0, message="m",
                                           received="661" if k_right else "660",
                                           mistake=None if k_right else "no-bias"),)),
        QuestionResult(id="q_text", title="Explain", score=0.0, max_score=1.0,
                       status="manual" if why else "missing",
                       checks=(CheckResult(answer="why", kind="manual",
                                           status="manual" if why else "missing", score=0.0,
                                           max_score=1.0, message="Collected", received=why),)),
    )
    return SubmissionResult(student=student, submission=f"{student}.ipynb", score=score,
                            max_score=3.0, questions=questions,
                            run=RunLog(outcome=outcome, seconds=1.5), rubric="rubric.toml",
                            submission_sha256="d", rubric_digest="r")


@pytest.fixture()
def out(tmp_path):
    with Gradebook.in_folder(tmp_path) as book:
        book.record(result("alice", "Saturation."))
        book.record(result("=bob", "saturation.", k_right=False))
        book.record(result("carol", None, outcome="timeout"))
        book.set_manual([ManualGrade(student="alice", answer="why", question="q_text",
                                     points=1.0, comment="Right.")])
    return tmp_path


def test_csv_export_merges_ta_grades(out):
    done = export(out, "csv")
    assert done.path == out / "export" and done.count == 3
    rows = list(csv.DictReader((out / "export" / "grades.csv").open()))
    assert [r["student"] for r in rows] == ["'=bob", "alice", "carol"]  # no formula injection
    alice = rows[1]
    assert (alice["q_num"], alice["q_text"], alice["total"], alice["max_score"]) == (
        "2", "1", "3", "3")
    assert (alice["pending_manual"], rows[0]["pending_manual"]) == ("0", "1")
    assert rows[2]["run"] == "timeout"
    checks = list(csv.DictReader((out / "export" / "checks.csv").open()))
    assert {(c["student"], c["answer"], c["status"], c["mistake"]) for c in checks} >= {
        ("alice", "why", "passed", ""), ("'=bob", "k", "failed", "no-bias")}


def test_json_export_is_the_documented_form(out, tmp_path):
    export(out, "json", tmp_path / "elsewhere")
    data = json.loads((tmp_path / "elsewhere" / "results.json").read_text())
    assert [d["student"] for d in data] == ["=bob", "alice", "carol"]
    alice = data[1]
    assert alice["score"] == 3.0 and alice["questions"][1]["checks"][0]["message"] == "Right."
    assert SubmissionResult.from_dict(alice).questions[1].manual_points == 1.0


def test_gradescope_export_writes_a_results_file_per_student(out):
    export(out, "gradescope")
    files = sorted(p.relative_to(out / "export").as_posix()
                   for p in (out / "export").rglob("results.json"))
    assert files == ["students/=bob/results.json", "students/alice/results.json",
                     "students/carol/results.json"]
    alice = json.loads((out / "export" / "students" / "alice" / "results.json").read_text())
    assert alice["score"] == 2.0  # automatic points: text answers are Gradescope's to grade
    assert {t["name"] for t in alice["tests"]} == {"q_num An integer: k",
                                                   "q_text Explain: why (graded by hand)"}
    assert all({"score", "max_score", "status", "output"} <= set(t) for t in alice["tests"]
               if "score" in t)  # a text answer is pending: no score of its own


def test_export_without_a_gradebook_is_a_usage_error(tmp_path, capsys):
    with pytest.raises(GraderError, match="no gradebook"):
        export(tmp_path, "csv")
    assert main(["export", "--out", str(tmp_path), "--format", "json"]) == 2
    assert "no gradebook" in capsys.readouterr().err


def test_manual_command_merges_and_redraws_the_pages(tmp_path, capsys):
    """``grader manual`` on a graded folder: pages, grades.csv and index are updated."""
    rubric = tmp_path / "mini"
    shutil.copytree(MINI, rubric)
    out = tmp_path / "reports"
    results = [result("alice", "Saturation."), result("bob", "  SATURATION. "),
               result("carol", "Because.")]
    with Gradebook.in_folder(out) as book:
        from grader.rubric import load_rubric

        book.claim(load_rubric(rubric / "rubric.toml"))
        for r in results:
            book.record(r)
    grades = tmp_path / "grades.csv"
    group = group_id("why", "saturation.")
    grades.write_text("student,question,points,comment,group\n"
                      f",why,1,The sigmoid saturates.,{group}\n"
                      "carol,q_text,0.25,Say what saturates.,\n")
    assert main(["manual", str(out), str(grades)]) == 0
    assert "Merged 3 manual grade(s)" in capsys.readouterr().out
    rows = {r["student"]: r for r in csv.DictReader((out / "grades.csv").open())}
    assert (rows["alice"]["q_text"], rows["bob"]["q_text"], rows["carol"]["q_text"]) == (
        "1", "1", "0.25")
    bob = json.loads((out / "students" / "bob.json").read_text())
    assert bob["questions"][1]["status"] == "passed"
    assert "The sigmoid saturates." in (out / "students" / "bob.html").read_text()
    answers = (out / "answers-why.html").read_text()
    assert "graded: alice 1, bob 1" in answers
    # Re-running with a bad row changes nothing and says which line.
    grades.write_text("student,question,points,comment\nalice,why,7,,\n")
    assert main(["manual", str(out), str(grades)]) == 2
    assert "line 2" in capsys.readouterr().err
    assert json.loads((out / "students" / "bob.json").read_text())["questions"][1]["status"] \
        == "passed"


LMS = Path(__file__).parent / "data" / "lms"


@pytest.fixture()
def course(tmp_path):
    """A gradebook of the mini rubric (10 points) with two students in the Canvas sample."""
    from grader.rubric import load_rubric

    with Gradebook.in_folder(tmp_path) as book:
        book.claim(load_rubric(MINI / "rubric.toml"))
        for r in (result("arezaei", "Saturation."), result("smoradi", None, k_right=False),
                  result("zed", "Vanishing.")):
            book.record(SubmissionResult.from_dict({**r.to_dict(), "max_score": 10.0}))
    return tmp_path


def test_canvas_and_moodle_exports_through_the_command_line(course, capsys):
    template = LMS / "canvas-gradebook.csv"
    base = ["export", "--out", str(course), "--format", "canvas"]
    assert main(base) == 2
    assert "--format canvas needs --template CSV" in capsys.readouterr().err
    assert main([*base, "--template", str(course / "absent.csv")]) == 2
    assert f"--template {course / 'absent.csv'}: cannot read it" in capsys.readouterr().err
    # The column is found by the rubric's title, "Mini assignment".
    assert main([*base, "--template", str(template)]) == 0
    said = capsys.readouterr().out.splitlines()
    assert said == [
        "in canvas-gradebook.csv but not in the gradebook (2), left as they were: "
        "Karimi, Reza (line 5); Student, Test (line 6)",
        "in the gradebook but not in canvas-gradebook.csv (1): zed (no lms_id); give a "
        "--roster with their lms_id",
        "2 student(s) have text answers not yet graded; their grade leaves those points "
        "out: arezaei, zed",
        "filled 2 of 4 student row(s) of column 'Mini assignment (48213)'",
        f"Exported 3 submission(s) as canvas to {course / 'export'}"]
    with (course / "export" / "canvas-import.csv").open(newline="") as f:
        column = [row[5] for row in csv.reader(f)]
    assert column == ["Mini assignment (48213)", "10.00", "2", "0", "", ""]
    # Options a format does not read are refused, naming the one that reads them.
    for fmt in ("csv", "json", "gradescope", "moodle"):
        assert main(["export", "--out", str(course), "--format", fmt, "--column", "x",
                     "--scale"]) == 2
        assert f"--format {fmt} does not read --column, --scale (only --format canvas " \
            "does): leave it out" in capsys.readouterr().err
    assert main(["export", "--out", str(course), "--format", "moodle"]) == 0
    assert "identified by their grader id (Username)" in capsys.readouterr().out
    with (course / "export" / "moodle-grades.csv").open(newline="") as f:
        rows = list(csv.reader(f))
    assert [r[:2] for r in rows] == [["Username", "Mini assignment"], ["arezaei", "2"],
                                     ["smoradi", "0"], ["zed", "2"]]
    assert rows[1][2] == "q_num: 2/2\nq_text: 0/1\n1 text answer(s) not graded yet"


def test_canvas_points_out_of_another_maximum_need_scale(course, tmp_path, capsys):
    template = tmp_path / "canvas.csv"
    template.write_text((LMS / "canvas-gradebook.csv").read_text("utf-8")
                        .replace(",10.00,10.00,", ",20.00,10.00,"), "utf-8")
    base = ["export", "--out", str(course), "--format", "canvas", "--template", str(template)]
    assert main(base) == 2
    assert f"{template}: Mini assignment (48213) has Points Possible 20 in Canvas, the " \
        "rubric's maximum is 10: give --scale" in capsys.readouterr().err
    assert main([*base, "--scale", "--column", "48213"]) == 0
    with (course / "export" / "canvas-import.csv").open(newline="") as f:
        assert [row[5] for row in csv.reader(f)] == ["Mini assignment (48213)", "20.00",
                                                     "4", "0", "", ""]
