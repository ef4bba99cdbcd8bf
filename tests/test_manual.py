"""Overrides of automatic checks and questions, and the regrade log (``grader manual``)."""

from __future__ import annotations

import csv
import getpass
import json
import shutil
from pathlib import Path

import pytest

from grader.cli import main
from grader.errors import GraderError
from grader.gradebook import Gradebook
from grader.manual_csv import read_grades_csv
from grader.overrides import StaffOverride, apply_overrides
from grader.report import render_html
from grader.results import CheckResult, QuestionResult, RunLog, SubmissionResult
from grader.rubric import load_rubric

MINI = Path(__file__).parent / "data" / "mini"


@pytest.fixture(scope="module")
def rubric():
    return load_rubric(MINI / "rubric.toml")


def make_result(student: str, *, v_right: bool = False, digest: str = "abc",
                why: str | None = "Because gradients vanish.") -> SubmissionResult:
    """Three mini questions: k wrong (a known mistake), v and flag, and a text answer."""
    v_score = 1.0 if v_right else 0.0
    v_status = "passed" if v_right else "failed"
    questions = (
        QuestionResult(id="q_num", title="An integer", score=0.0, max_score=2.0,
                       status="failed",
                       checks=(CheckResult(answer="k", kind="numeric", status="failed",
                                           score=0.0, max_score=2.0,
                                           message="You forgot the output bias.",
                                           expected="661", received="660",
                                           mistake="no-bias"),)),
        QuestionResult(id="q_arr", title="An array and a bool", score=1.0 + v_score,
                       max_score=2.0, status="passed" if v_right else "partial",
                       checks=(CheckResult(answer="v", kind="numeric", status=v_status,
                                           score=v_score, max_score=1.0, message="v msg"),
                               CheckResult(answer="flag", kind="numeric", status="passed",
                                           score=1.0, max_score=1.0, message="Correct."))),
        QuestionResult(id="q_text", title="Explain", score=0.0, max_score=1.0,
                       status="manual" if why else "missing",
                       checks=(CheckResult(answer="why", kind="manual",
                                           status="manual" if why else "missing", score=0.0,
                                           max_score=1.0, message="Collected", received=why),)),
    )
    return SubmissionResult(student=student, submission=f"{student}.ipynb",
                            score=round(sum(q.score for q in questions), 6), max_score=5.0,
                            questions=questions, run=RunLog(), submission_sha256=digest,
                            rubric_digest="r1", isolation="bwrap")


def override(question: str, answer: str, points: float, comment: str = "",
             by: str = "ta") -> StaffOverride:
    return StaffOverride(student="alice", question=question, answer=answer, points=points,
                         comment=comment, by=by, at="2026-01-02T03:04:05.000+00:00")


def test_an_overridden_check_counts_the_tas_points_and_keeps_the_grader_verdict():
    result = make_result("alice")
    assert result.score == 1.0
    done = apply_overrides(result, {("q_num", "k"): override("q_num", "k", 1.5, "Bias is fine.")})
    q = done.questions[0]
    (k,) = q.checks
    assert (k.status, k.score, k.verdict) == ("overridden", 1.5, "partial")
    # The automatic verdict and message stay beside the TA's points.
    assert k.message == "You forgot the output bias." and k.mistake == "no-bias"
    assert (k.override.auto_status, k.override.auto_score) == ("failed", 0.0)
    assert (k.override.points, k.override.comment, k.override.by) == (1.5, "Bias is fine.", "ta")
    assert (q.status, q.score) == ("partial", 1.5)
    assert done.score == 2.5 and result.score == 1.0  # the stored result is untouched
    # Full points read as passed for the question; an override of a text answer is none.
    full = apply_overrides(result, {("q_num", "k"): override("q_num", "k", 2),
                                    ("q_text", "why"): override("q_text", "why", 1)})
    assert (full.questions[0].status, full.questions[0].checks[0].verdict) == ("passed", "passed")
    assert full.questions[2].checks[0].status == "manual" and full.score == 3.0
    # Points beyond the check's are cut to its maximum; an unknown target is left out.
    assert apply_overrides(result, {("q_num", "k"): override("q_num", "k", 9),
                                    ("q_gone", ""): override("q_gone", "", 1)}).score == 3.0


def test_a_question_override_wins_over_its_checks_and_their_overrides():
    result = make_result("alice")
    done = apply_overrides(result, {
        ("q_arr", "v"): override("q_arr", "v", 1.0),  # alone it would make q_arr 2/2
        ("q_arr", ""): override("q_arr", "", 0.5, "Copied."),
        ("q_text", ""): override("q_text", "", 1.0),
    })
    arr = done.questions[1]
    assert (arr.status, arr.score, arr.verdict) == ("overridden", 0.5, "partial")
    assert (arr.override.auto_status, arr.override.auto_score) == ("passed", 2.0)
    assert arr.checks[0].status == "overridden" and arr.checks[0].score == 1.0  # for the record
    text = done.questions[2]
    assert (text.status, text.score) == ("overridden", 1.0)
    assert result.pending_manual == 1 and done.pending_manual == 0  # the question is settled
    assert done.score == 0.0 + 0.5 + 1.0


def _csv(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "grades.csv"
    path.write_text(text, "utf-8")
    return path


def test_csv_rows_name_a_check_or_a_whole_question(tmp_path, rubric):
    results = [make_result("alice"), make_result("bob")]
    rows = read_grades_csv(_csv(tmp_path, "student,question,points,comment\n"
                                          "alice,k,1.5,Bias is fine.\n"  # an automatic check
                                          "alice,q_arr,0.5,Copied.\n"  # no text answer: question
                                          "alice,q_text,1,Good.\n"  # its one text answer
                                          "bob,k,auto,\n"),  # an override taken back
                           rubric, results, by="ta1")
    assert [(g.student, g.answer, g.points) for g in rows.manual] == [("alice", "why", 1.0)]
    assert [(o.question, o.answer, o.points, o.comment, o.by, o.source) for o in rows.overrides] \
        == [("q_num", "k", 1.5, "Bias is fine.", "ta1", "grades.csv line 2"),
            ("q_arr", "", 0.5, "Copied.", "ta1", "grades.csv line 3")]
    assert rows.withdrawn == (("bob", "q_num", "k"),)
    # With an answer column, a question id and no answer is always the whole question.
    rows = read_grades_csv(_csv(tmp_path, "student,question,answer,points\n"
                                          "alice,q_text,,1\n"
                                          "alice,q_arr,flag,0\n"
                                          "alice,,v,1\n"), rubric, results)
    assert rows.manual == ()
    assert [(o.question, o.answer, o.points) for o in rows.overrides] == [
        ("q_text", "", 1.0), ("q_arr", "flag", 0.0), ("q_arr", "v", 1.0)]


@pytest.mark.parametrize(("rows", "error"), [
    ("alice,q_arr,,3\n", "outside 0..2 for question q_arr"),
    ("alice,q_arr,v,1.5\n", "outside 0..1 for v"),
    ("alice,q_num,v,1\n", "'v' is not a check of question q_num"),
    ("alice,q_nope,,1\n", "'q_nope' is not a question or check of the rubric"),
    ("alice,q_zip,k,1\n", "no question 'q_zip' in the rubric"),
    ("alice,q_num,k,lots\n", "not a number (or auto, to take an override back)"),
    ("zed,q_num,k,auto\n", "no graded student 'zed'"),
])
def test_a_bad_override_names_its_line_and_nothing_is_merged(tmp_path, rubric, rows, error):
    path = _csv(tmp_path, "student,question,answer,points\nalice,q_num,k,1\n" + rows)
    with pytest.raises(GraderError, match="line 3") as info:
        read_grades_csv(path, rubric, [make_result("alice")])
    assert error in str(info.value)


def test_the_regrade_log_and_regrading_never_overwrite_an_override(tmp_path):
    with Gradebook.in_folder(tmp_path) as book:
        book.record(make_result("alice"))
        k = StaffOverride(student="alice", question="q_num", answer="k", points=1.5,
                          comment="Bias is fine.")
        assert book.set_staff(overrides=[k], by="ta1") == 1
        assert book.set_staff(overrides=[k], by="ta1") == 0  # the same again: no change
        book.record(make_result("alice", v_right=True, digest="new"))  # handed in again
        (merged,) = book.merged()
        assert merged.questions[0].checks[0].status == "overridden"
        assert merged.questions[0].score == 1.5 and merged.questions[1].score == 2.0
        assert merged.score == 3.5
        assert book.results()[0].questions[0].status == "failed"  # automatic rows unchanged
        assert book.set_staff(overrides=[StaffOverride(
            student="alice", question="q_num", answer="k", points=2.0, comment="Full.")],
            by="ta2") == 1
        assert book.set_staff(withdrawn=[("alice", "q_num", "k")], by="prof") == 1
        (merged,) = book.merged()
        assert merged.questions[0].checks[0].status == "failed" and merged.score == 2.0
        log = [(c.question, c.answer, c.old_points, c.new_points, c.comment, c.by)
               for c in merged.changes]
        assert log == [("q_num", "k", 0.0, 1.5, "Bias is fine.", "ta1"),
                       ("q_num", "k", 1.5, 2.0, "Full.", "ta2"),
                       ("q_num", "k", 2.0, None, "", "prof")]
        assert all(c.at.startswith("20") for c in merged.changes)
    # The JSON form carries it all and reads back as it was.
    assert SubmissionResult.from_dict(json.loads(json.dumps(merged.to_dict()))) == merged


def test_the_page_shows_the_override_beside_the_verdict_and_the_changes(tmp_path, rubric):
    with Gradebook.in_folder(tmp_path) as book:
        book.record(make_result("alice"))
        book.set_staff(overrides=[
            StaffOverride(student="alice", question="q_num", answer="k", points=1.5,
                          comment="Bias is <fine>."),
            StaffOverride(student="alice", question="q_arr", answer="", points=0.5)],
            by="Dr. Ta")
        (merged,) = book.merged()
    data = merged.to_dict()
    k = data["questions"][0]["checks"][0]
    assert (k["status"], k["score"], k["message"]) == (
        "overridden", 1.5, "You forgot the output bias.")
    assert {key: k["override"][key] for key in ("points", "comment", "by", "auto_status",
                                                "auto_score")} == {
        "points": 1.5, "comment": "Bias is <fine>.", "by": "Dr. Ta", "auto_status": "failed",
        "auto_score": 0.0}
    assert data["questions"][1]["override"]["auto_score"] == 1.0
    assert [(c["answer"], c["old_points"], c["new_points"]) for c in data["changes"]] == [
        ("k", 0.0, 1.5), ("", 1.0, 0.5)]
    page = render_html(merged, rubric)
    assert "Points given by a TA" in page and "You forgot the output bias." in page
    assert "The grader&#39;s own verdict:" in page and "Bias is &lt;fine&gt;." in page
    assert "Changes by staff" in page and "the whole question" in page
    assert page.count("Dr. Ta") == 4  # two overrides, two lines of the log
    fa = render_html(merged, rubric, lang="fa")
    assert "تغییرات کادر آموزشی" in fa and "نظر خود تصحیح‌گر" in fa


def test_manual_command_overrides_checks_and_logs_who(tmp_path, capsys):
    rubric = tmp_path / "mini"
    shutil.copytree(MINI, rubric)
    out = tmp_path / "reports"
    with Gradebook.in_folder(out) as book:
        book.claim(load_rubric(rubric / "rubric.toml"))
        book.record(make_result("alice"))
        book.record(make_result("bob"))
    grades = _csv(tmp_path, "student,question,points,comment\n"
                            "alice,k,2,The bias is optional here.\n"
                            "bob,q_text,0.5,Half.\n")
    assert main(["manual", str(out), str(grades), "--by", "ta1"]) == 0
    assert "Merged 1 manual grade(s), 1 override(s) (2 change(s) logged)" in \
        capsys.readouterr().out
    rows = {r["student"]: r for r in csv.DictReader((out / "grades.csv").open())}
    assert (rows["alice"]["q_num"], rows["alice"]["total"]) == ("2", "3")
    assert (rows["bob"]["q_num"], rows["bob"]["q_text"], rows["bob"]["total"]) == (
        "0", "0.5", "1.5")
    alice = json.loads((out / "students" / "alice.json").read_text())
    assert alice["questions"][0]["checks"][0]["override"]["by"] == "ta1"
    assert alice["changes"][0]["source"] == "grades.csv line 2"
    assert "The bias is optional here." in (out / "students" / "alice.html").read_text()
    # Without --by the log names the login; text grades are logged too.
    _csv(tmp_path, "student,question,points\nbob,q_text,1\n")
    assert main(["manual", str(out), str(grades)]) == 0
    bob = json.loads((out / "students" / "bob.json").read_text())
    assert [(c["old_points"], c["new_points"], c["by"]) for c in bob["changes"]] == [
        (None, 0.5, "ta1"), (0.5, 1.0, getpass.getuser())]
