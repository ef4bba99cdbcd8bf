"""Grades back into the LMS: Canvas's gradebook import filled in, Moodle's grade import CSV.

The templates in tests/data/lms are written from Canvas's documentation of its gradebook
export (header, a ``Points Possible`` row, read-only score columns, a posting-policy
row, a test student) and Moodle's grade import (an identifier column, then grade and
feedback columns mapped by hand).
"""

from __future__ import annotations

import csv
import io
from dataclasses import replace
from pathlib import Path

import pytest

from grader.errors import GraderError
from grader.export_canvas import fill, read_template
from grader.export_format import ExportOptions
from grader.export_moodle import moodle_csv
from grader.lms import file_lms_id, identity
from grader.results import CheckResult, Override, QuestionResult, RunLog, SubmissionResult
from grader.roster import Roster, RosterEntry

LMS = Path(__file__).parent / "data" / "lms"


def result(student: str, score: float, *, submission: str = "", max_score: float = 10.0,
           pending: bool = False) -> SubmissionResult:
    text = CheckResult(answer="why", kind="manual", status="manual" if pending else "passed",
                       score=0.0 if pending else 1.0, max_score=1.0, message="")
    auto = CheckResult(answer="k", kind="numeric", status="partial", score=score - text.score,
                       max_score=max_score - 1, message="")
    return SubmissionResult(
        student=student, submission=submission or f"{student}.ipynb", score=score,
        max_score=max_score, run=RunLog(),
        questions=(QuestionResult(id="q1", title="", score=auto.score, max_score=auto.max_score,
                                  status="partial", checks=(auto,)),
                   QuestionResult(id="q2", title="", score=text.score, max_score=1.0,
                                  status=text.status, checks=(text,))))


def rows(text: str) -> list[list[str]]:
    return list(csv.reader(io.StringIO(text.lstrip("\ufeff"), newline="")))


@pytest.mark.parametrize(("submission", "lms_id"), [
    ("canvas.zip!rezaeiali_12345_678901_hw3.ipynb", "12345"),
    ("/tmp/x/rezaeiali_LATE_12345_678901_hw3-1.ipynb", "12345"),
    ("submissions/alice.ipynb", ""),
    ("Ali Rezaei_123456_assignsubmission_file_/hw3.ipynb", ""),  # Moodle: no user id
])
def test_the_canvas_user_id_is_read_from_the_file_name(submission, lms_id):
    assert file_lms_id(submission) == lms_id


def test_the_rosters_lms_id_comes_before_the_file_names():
    roster = Roster(entries=(RosterEntry(student="rezaeiali", lms_id="777", email="a@x.edu"),))
    r = result("rezaeiali", 5, submission="c.zip!rezaeiali_12345_1_hw.ipynb")
    assert (identity(r, None).lms_id, identity(r, roster).lms_id) == ("12345", "777")
    assert identity(r, roster).email == "a@x.edu"


def test_canvas_column_filled_by_id_sis_id_and_login_the_rest_kept():
    notes: list[str] = []
    template = read_template(LMS / "canvas-gradebook.csv")
    results = [
        result("rezaeiali", 7.5, submission="c.zip!rezaeiali_12345_678901_mini.ipynb"),  # ID
        result("moradisara", 10),  # SIS User ID, from the roster
        result("rkarimi", 4.25, pending=True),  # SIS Login ID is the grader's id
        result("nobody", 3),  # graded, not in Canvas
    ]
    roster = Roster(entries=(RosterEntry(student="moradisara", lms_id="S1002"),))
    text = fill(template, results, roster, ExportOptions(title="Mini assignment",
                                                         assignment="mini",
                                                         notify=notes.append))
    out = rows(text)
    original = rows((LMS / "canvas-gradebook.csv").read_text("utf-8"))
    assert [r[5] for r in out] == ["Mini assignment (48213)", "10.00", "7.5", "10", "4.25", ""]
    # Every other cell, and the line endings Canvas wrote, are as they were.
    assert [r[:5] + r[6:] for r in out] == [r[:5] + r[6:] for r in original]
    assert text.count("\r\n") == 6 and not text.startswith("\ufeff")
    assert notes == [
        "in canvas-gradebook.csv but not in the gradebook (1), left as they were: "
        "Student, Test (line 6)",
        "in the gradebook but not in canvas-gradebook.csv (1): nobody (no lms_id); give a "
        "--roster with their lms_id",
        "1 student(s) have text answers not yet graded; their grade leaves those points out: "
        "rkarimi",
        "filled 3 of 4 student row(s) of column 'Mini assignment (48213)'",
    ]


def test_canvas_scale_the_posting_row_the_bom_and_the_column_option():
    template = read_template(LMS / "canvas-manual-posting.csv")
    results = [result("arezaei", 13, max_score=13), result("smoradi", 6.5, max_score=13)]
    roster = Roster(entries=(RosterEntry(student="smoradi", email="SMoradi@example.edu"),))
    options = ExportOptions(title="Mini assignment", assignment="mini")
    # Points Possible 26 in Canvas against 13 in the rubric: refused without --scale.
    with pytest.raises(GraderError, match=r"Points Possible 26 in Canvas, the rubric's "
                                          r"maximum is 13: give --scale"):
        fill(template, results, roster, options)
    text = fill(template, results, roster, replace(options, scale=True))
    out = rows(text)
    assert text.startswith("\ufeff") and "\r\n" not in text
    assert [r[6] for r in out] == ["Mini assignment: regrade (50002)", "26.00",
                                   "Manual Posting", "26", "13"]
    assert [r[5] for r in out] == ["Homework 2 (50001)", "20.00", "", "18.00", "20.00"]
    for column in ("Homework 2", "50001", "Homework 2 (50001)"):
        picked = rows(fill(template, results[:1], None, ExportOptions(column=column,
                                                                       scale=True)))
        assert picked[3][5] == "20" and picked[3][6] == ""  # 13 of 13 is 20 of 20


@pytest.mark.parametrize(("options", "error"), [
    (ExportOptions(title="Lab 9", assignment="lab9"),
     "no assignment column starts with 'Lab 9' or 'lab9' (assignment columns: "
     "Mini assignment (48213); Quiz 1 (48100)); give --column"),
    (ExportOptions(column="Quiz 7"), "--column 'Quiz 7': no column of"),
])
def test_canvas_column_errors_name_the_file_and_the_fix(options, error):
    with pytest.raises(GraderError) as info:
        fill(read_template(LMS / "canvas-gradebook.csv"), [], None, options)
    assert error in str(info.value)


def test_two_columns_named_after_the_assignment_need_the_column_option(tmp_path):
    path = tmp_path / "two.csv"
    path.write_text("Student,ID,SIS User ID,SIS Login ID,Section,Mini assignment (1),"
                    "Mini assignment resubmission (2)\nA,1,,a,,,\n")
    with pytest.raises(GraderError, match=r"several assignment columns start with 'mini'"):
        fill(read_template(path), [], None, ExportOptions(assignment="mini"))


def test_a_file_that_is_not_a_canvas_export_is_refused(tmp_path):
    path = tmp_path / "grades.csv"
    path.write_text("student,total\nalice,3\n")
    with pytest.raises(GraderError, match="not a Canvas gradebook export"):
        read_template(path)
    with pytest.raises(GraderError, match="cannot read it"):
        read_template(tmp_path / "absent.csv")


def test_a_row_matching_two_students_is_left_alone():
    notes: list[str] = []
    both = [result("arezaei", 5, submission="c.zip!x_12345_1_a.ipynb"),  # ID 12345
            result("other", 6, submission="c.zip!y_12345_2_b.ipynb")]  # the same id
    out = rows(fill(read_template(LMS / "canvas-gradebook.csv"), both, None,
                    ExportOptions(column="48213", notify=notes.append)))
    assert out[2][5] == ""
    assert "\"Rezaei, Ali (line 3) matches several students (arezaei, other): left as it was" \
        .strip('"') in notes


def test_moodle_by_email_with_points_and_feedback():
    notes: list[str] = []
    ali = result("ali", 7.5)
    k = replace(ali.questions[0].checks[0], status="overridden", override=Override(
        points=6.5, comment="bias ok", by="ta", auto_status="failed", auto_score=0.0))
    ali = replace(ali, questions=(replace(ali.questions[0], checks=(k,)), ali.questions[1]))
    results = [ali, result("=sara", 8, pending=True)]
    roster = Roster(entries=(RosterEntry(student="ali", email="ali@example.edu"),
                             RosterEntry(student="=sara", email="sara@example.edu")))
    text = moodle_csv(results, roster, ExportOptions(title="Mini assignment",
                                                     notify=notes.append))
    assert rows(text) == [
        ["Email address", "Mini assignment", "Feedback"],
        ["sara@example.edu", "8", "q1: 8/9\nq2: 0/1\n1 text answer(s) not graded yet"],
        ["ali@example.edu", "7.5", "q1: 6.5/9; k set by staff: bias ok\nq2: 1/1"],
    ]
    assert notes == ["points are out of 10: the Moodle grade item should have that maximum",
                     "1 student(s) have text answers not yet graded; their grade leaves those "
                     "points out: =sara"]
    # Without a roster the grader's id is the username, and a formula is defused.
    notes.clear()
    text = moodle_csv(results, None, ExportOptions(assignment="mini", notify=notes.append))
    assert rows(text)[0] == ["Username", "mini", "Feedback"]
    assert [r[0] for r in rows(text)[1:]] == ["'=sara", "ali"]
    assert notes[0].startswith("no roster with email or lms_id: students are identified by")
    # A roster with ids for some students only: the id column is left for all.
    some = Roster(entries=(RosterEntry(student="ali", lms_id="S1"),))
    notes.clear()
    assert rows(moodle_csv(results, some, ExportOptions(notify=notes.append)))[0][0] == \
        "Username"
    assert notes[0].startswith("not every student has an ID number in the roster")
