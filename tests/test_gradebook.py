"""The SQLite gradebook: rows per grading and per check, resume data, TA grades."""

from __future__ import annotations

import sqlite3
from dataclasses import replace
from pathlib import Path

import pytest

from grader.errors import GraderError
from grader.gradebook import (
    FILENAME,
    Gradebook,
    ManualGrade,
    apply_manual,
    group_id,
    normalise,
)
from grader.manual_csv import read_manual_csv
from grader.results import CellError, CheckResult, QuestionResult, RunLog, SubmissionResult
from grader.rubric import load_rubric

MINI = Path(__file__).parent / "data" / "mini"


@pytest.fixture(scope="module")
def rubric():
    return load_rubric(MINI / "rubric.toml")


def make_result(student: str, *, why: str | None = "Because gradients vanish.",
                k_status: str = "passed", digest: str = "abc", outcome: str = "ok",
                rubric_digest: str = "r1") -> SubmissionResult:
    """A mini-rubric result: an automatic question and a text question."""
    k_score = 2.0 if k_status == "passed" else 0.0
    questions = (
        QuestionResult(id="q_num", title="An integer", score=k_score, max_score=2.0,
                       status=k_status,
                       checks=(CheckResult(answer="k", kind="numeric", status=k_status,
                                           score=k_score, max_score=2.0, message="",
                                           received="661" if k_score else "660",
                                           mistake=None if k_score else "no-bias"),)),
        QuestionResult(id="q_text", title="Explain", score=0.0, max_score=1.0,
                       status="manual" if why else "missing",
                       checks=(CheckResult(answer="why", kind="manual",
                                           status="manual" if why else "missing", score=0.0,
                                           max_score=1.0, message="Collected", received=why),)),
    )
    return SubmissionResult(student=student, submission=f"{student}.ipynb", score=k_score,
                            max_score=3.0, questions=questions,
                            run=RunLog(outcome=outcome, errors=(CellError(
                                index=3, source="1/0", ename="ZeroDivisionError",
                                evalue="division by zero", traceback=""),)),
                            submission_sha256=digest, rubric_digest=rubric_digest,
                            isolation="bwrap", graded_at="2025-01-01T00:00:00+00:00")


def test_a_row_per_grading_and_per_check_committed_in_wal_mode(tmp_path):
    with Gradebook.in_folder(tmp_path) as book:
        book.record(make_result("alice"), started="2025-01-01T10:00:00", finished="x")
        book.record(make_result("bob", k_status="failed"))
        book.record(make_result("alice", digest="def"))  # re-graded: a new row, kept
    db = sqlite3.connect(tmp_path / FILENAME)
    assert db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert db.execute("SELECT student, content_sha256 FROM latest ORDER BY student").fetchall() \
        == [("alice", "def"), ("bob", "abc")]
    assert db.execute("SELECT COUNT(*) FROM results").fetchone()[0] == 3
    row = db.execute("SELECT isolation, outcome, errors, started FROM results WHERE id = 1"
                     ).fetchone()
    assert row[0] == "bwrap" and row[1] == "ok" and "ZeroDivisionError" in row[2]
    assert row[3] == "2025-01-01T10:00:00"
    checks = db.execute("SELECT question, answer, kind, status, score, mistake FROM checks "
                        "WHERE result_id = 2 ORDER BY question").fetchall()
    assert checks == [("q_num", "k", "numeric", "failed", 0.0, "no-bias"),
                      ("q_text", "why", "manual", "manual", 0.0, None)]
    with Gradebook.existing(tmp_path) as book:
        assert book.gradings() == {"alice": 2, "bob": 1}
        graded = book.graded()
        assert graded["alice"].content_sha256 == "def" and graded["bob"].rubric_digest == "r1"
        # What goes in comes back out, as plain data.
        assert book.result("bob") == make_result("bob", k_status="failed")


def test_a_gradebook_belongs_to_one_assignment(tmp_path, rubric):
    with Gradebook.in_folder(tmp_path) as book:
        book.claim(rubric)
        assert book.meta("assignment") == "mini"
        with pytest.raises(GraderError, match="another --out"):
            book.claim(replace(rubric, id="hw3"))
    with pytest.raises(GraderError, match="no gradebook"):
        Gradebook.existing(tmp_path / "elsewhere")
    (tmp_path / "junk" ).mkdir()
    (tmp_path / "junk" / FILENAME).write_bytes(b"not sqlite at all" * 100)
    with pytest.raises(GraderError, match="not a usable gradebook"):
        Gradebook.existing(tmp_path / "junk")


def test_manual_grades_change_status_points_and_message():
    result = make_result("alice")
    graded = apply_manual(result, {"why": ManualGrade(student="alice", answer="why",
                                                      question="q_text", points=0.5,
                                                      comment="Half right.")})
    q = graded.questions[1]
    assert (q.status, q.score, q.manual_points) == ("partial", 0.5, 0.5)
    assert (q.checks[0].status, q.checks[0].score, q.checks[0].message) == (
        "partial", 0.5, "Half right.")
    assert graded.score == 2.5 and result.score == 2.0  # the stored result is untouched
    full = apply_manual(result, {"why": ManualGrade(student="alice", answer="why",
                                                    question="q_text", points=1.0)})
    assert full.questions[1].status == "passed" and full.score == 3.0
    assert full.questions[1].checks[0].message == "Graded by a TA."
    zero = apply_manual(result, {"why": ManualGrade(student="alice", answer="why",
                                                    question="q_text", points=0)})
    assert zero.questions[1].checks[0].status == "failed"
    # A grade never touches an automatic check, nor a text answer that is missing.
    assert apply_manual(make_result("x", why=None), {"why": ManualGrade(
        student="x", answer="why", question="q_text", points=1)}).score == 2.0


def test_answer_groups_fold_whitespace_and_case():
    assert normalise("  Because\n  GRADIENTS\tvanish. ") == "because gradients vanish."
    assert group_id("why", "Because gradients vanish.") == \
        group_id("why", "because   gradients\nvanish.")
    assert group_id("why", "a") != group_id("why", "b")
    assert group_id("why", "a").startswith("why-") and len(group_id("why", "a")) == 12


def _csv(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "grades.csv"
    path.write_text(text, "utf-8")
    return path


def test_manual_csv_by_student_by_question_id_and_by_group(tmp_path, rubric):
    results = [make_result("alice"), make_result("bob", why="because GRADIENTS vanish."),
               make_result("carol", why="No idea"), make_result("dave", why=None)]
    group = group_id("why", "Because gradients vanish.")
    path = _csv(tmp_path, "student,question,points,comment,group\n"
                          f",why,1,Right: the sigmoid saturates.,{group}\n"
                          "bob,q_text,0.75,Say why it saturates.,\n"  # overrides bob's group
                          "carol,why,0,,\n"
                          ",,,,\n")
    grades = {g.student: g for g in read_manual_csv(path, rubric, results)}
    assert sorted(grades) == ["alice", "bob", "carol"]
    assert (grades["alice"].points, grades["alice"].source) == (1.0, f"group {group}")
    assert (grades["bob"].points, grades["bob"].question) == (0.75, "q_text")
    assert grades["bob"].source == "grades.csv line 3"
    assert grades["carol"].points == 0.0 and grades["alice"].answer_sha256


@pytest.mark.parametrize(("rows", "error"), [
    ("mallory,why,1,,\n", "no graded student 'mallory'"),
    ("alice,nope,1,,\n", "'nope' is not a question or check of the rubric"),
    ("alice,k,3,,\n", "outside 0..2 for k"),  # an automatic check: an override
    (",k,1,,k-00000000\n", "k is not one (give a student)"),
    ("alice,why,2,,\n", "outside 0..1"),
    ("alice,why,lots,,\n", "not a number"),
    (",why,1,,why-00000000\n", "no answer group"),
])
def test_a_bad_row_names_its_line_and_nothing_is_merged(tmp_path, rubric, rows, error):
    path = _csv(tmp_path, "student,question,points,comment,group\nalice,why,1,ok,\n" + rows)
    with pytest.raises(GraderError, match="line 3") as info:
        read_manual_csv(path, rubric, [make_result("alice")])
    assert error in str(info.value)


def test_manual_csv_needs_its_columns(tmp_path, rubric):
    with pytest.raises(GraderError, match="header needs"):
        read_manual_csv(_csv(tmp_path, "name,score\nalice,1\n"), rubric, [])


def test_regrading_never_overwrites_manual_grades(tmp_path):
    with Gradebook.in_folder(tmp_path) as book:
        book.record(make_result("alice"))
        book.set_manual([ManualGrade(student="alice", answer="why", question="q_text",
                                     points=1.0, comment="Good.")])
        assert book.merged()[0].score == 3.0
        book.record(make_result("alice", digest="new"))  # the student handed in again
        merged = book.merged()[0]
        assert merged.score == 3.0 and merged.questions[1].checks[0].message == "Good."
        assert book.results()[0].questions[1].status == "manual"  # automatic rows unchanged


def test_a_comment_may_span_lines_as_spreadsheets_write_them(tmp_path, rubric):
    path = _csv(tmp_path, 'student,question,points,comment\n'
                          'alice,why,1,"Good.\nVery good."\n'
                          'bob,why,9,\n')
    with pytest.raises(GraderError, match="line 4"):
        read_manual_csv(path, rubric, [make_result("alice"), make_result("bob")])
    path = _csv(tmp_path, 'student,question,points,comment\nalice,why,1,"Good.\nVery good."\n')
    (grade,) = read_manual_csv(path, rubric, [make_result("alice")])
    assert grade.comment == "Good.\nVery good."


def test_a_commit_that_fails_ends_its_transaction() -> None:
    from grader.gradebook import _Transaction

    class Connection:
        """A connection whose COMMIT fails (a full disk) and leaves the transaction open."""

        def __init__(self) -> None:
            self.said: list[str] = []
            self.in_transaction = False

        def execute(self, sql: str) -> None:
            self.said.append(sql)
            if sql == "COMMIT":
                raise sqlite3.OperationalError("database or disk is full")
            self.in_transaction = sql.startswith("BEGIN")
            if sql == "ROLLBACK":
                self.in_transaction = False

    db = Connection()
    with pytest.raises(sqlite3.OperationalError, match="disk is full"):
        with _Transaction(db):  # type: ignore[arg-type]
            pass
    # Rolled back: the gradebook is not left locked against the other connections.
    assert db.said == ["BEGIN IMMEDIATE", "COMMIT", "ROLLBACK"] and not db.in_transaction
    db.said.clear()
    with pytest.raises(ValueError):
        with _Transaction(db):  # type: ignore[arg-type]
            raise ValueError("a bug")
    assert db.said == ["BEGIN IMMEDIATE", "ROLLBACK"]
