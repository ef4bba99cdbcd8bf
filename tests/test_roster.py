"""The course roster: read once, validated, with errors naming the file, the line and the fix."""

from __future__ import annotations

import pytest

from grader.errors import GraderError
from grader.roster import absent_result, read_roster


def test_a_roster_with_optional_columns(tmp_path):
    path = tmp_path / "roster.csv"
    path.write_text("student,name,section,lms_id\nalice,Alice A,1,1001\n\n"
                    "Ali Rezaei,Ali Rezaei,2,1002\nbob,,,\n", encoding="utf-8")
    roster = read_roster(path)
    assert roster.students == ("alice", "Ali_Rezaei", "bob")
    assert (roster.lms_id("Ali_Rezaei"), roster.lms_id("bob"), roster.lms_id("zed")) == (
        "1002", "", "")
    assert roster.entry("alice").section == "1" and "bob" in roster
    assert roster.missing(["alice", "zed"]) == ("Ali_Rezaei", "bob")
    assert roster.strangers(["alice", "zed"]) == ("zed",)


@pytest.mark.parametrize(("text", "message"), [
    ("name,email\nAlice,a@x\n", r"roster\.csv line 1: the roster needs a header with a student"),
    ("student,nickname\nalice,al\n", r"roster\.csv line 1: unknown column 'nickname'"),
    ("student\nalice\nbob\nalice\n", r"roster\.csv line 4: student 'alice' is listed twice"),
    ("student,name\n,Alice\n", r"roster\.csv line 2: no student id"),
    ("", r"roster\.csv line 1: the roster needs a header"),
])
def test_a_bad_roster_names_the_line_and_the_fix(tmp_path, text, message):
    path = tmp_path / "roster.csv"
    path.write_text(text)
    with pytest.raises(GraderError, match=message):
        read_roster(path)


def test_an_unreadable_roster(tmp_path):
    with pytest.raises(GraderError, match=r"--roster .*nope\.csv: cannot read it"):
        read_roster(tmp_path / "nope.csv")


def test_an_absent_student_scores_zero_of_the_maximum():
    r = absent_result("carl", outcome="missing", message="no submission", max_score=100.0)
    assert (r.score, r.max_score, r.run.outcome, r.questions) == (0.0, 100.0, "missing", ())
