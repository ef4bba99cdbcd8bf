"""Renderers: the student page, the JSON result and the gradebook CSV."""

from __future__ import annotations

import csv
import io
import json
import re
from pathlib import Path

import pytest

from grader.report import grades_csv, render_html, to_json, write_student
from grader.results import CellError, CheckResult, QuestionResult, RunLog, SubmissionResult
from grader.rubric import load_rubric

MINI = Path(__file__).parent / "data" / "mini"
EVIL = '<script>alert("x")</script><img src=x onerror=alert(1)>'


@pytest.fixture(scope="module")
def rubric():
    return load_rubric(MINI / "rubric.toml")


def result(student: str = "alice", message: str = EVIL) -> SubmissionResult:
    checks = (
        CheckResult(answer="k", kind="numeric", status="failed", score=0.0, max_score=2.0,
                    message=message, expected="661", received=EVIL),
        CheckResult(answer="why", kind="manual", status="manual", score=0.0, max_score=1.0,
                    message="Collected; a TA will grade this answer.",
                    received="پاسخ من " + EVIL),
    )
    q = QuestionResult(id="q_num", title="An integer", score=0.0, max_score=3.0,
                       status="failed", checks=checks)
    run = RunLog(cells_total=3, cells_run=3, errors=(CellError(
        index=1, source=EVIL, ename="ValueError", evalue=EVIL, traceback=EVIL),))
    return SubmissionResult(student=student, submission="x/alice.ipynb", score=0.0,
                            max_score=3.0, questions=(q,), run=run, grader_version="0.1.0")


def test_html_escapes_everything_the_student_controls(rubric):
    html = render_html(result(), rubric)
    assert "<script>" not in html and "<img" not in html
    assert "&lt;script&gt;" in html
    assert "Content-Security-Policy" in html and "default-src 'none'" in html


def test_html_is_self_contained(rubric):
    html = render_html(result(), rubric)
    assert not re.search(r"(src|href)=\"(https?:)?//", html)
    assert "<link" not in html
    assert 'dir="auto"' in html
    assert "Not sandboxed" in html


def test_html_shows_status_in_words_and_the_failing_cell(rubric):
    html = render_html(result(), rubric)
    assert "Wrong" in html and "To be graded by a TA" in html
    assert "Cell 1 raised" in html and "ValueError" in html
    assert "0 / 3 points" in html


def test_json_has_the_documented_fields():
    data = json.loads(to_json(result()))
    assert {"student", "submission", "score", "max_score", "questions"} <= set(data)
    q = data["questions"][0]
    assert {"id", "score", "max_score", "checks"} <= set(q)
    assert {"answer", "status", "score", "max_score", "message"} <= set(q["checks"][0])
    assert SubmissionResult.from_dict(data) == result()


def test_csv_has_a_column_per_question_and_the_total(rubric):
    text = grades_csv([result("bob"), result("=cmd|' /C calc'!A0")], rubric)
    rows = list(csv.reader(io.StringIO(text)))
    assert rows[0] == ["student", *[q.id for q in rubric.questions], "total", "max_score", "run"]
    assert rows[1][0] == "'=cmd|' /C calc'!A0"  # no spreadsheet formula
    assert rows[2][0] == "bob"


def test_write_student_is_atomic_and_complete(tmp_path, rubric):
    write_student(result(), rubric, tmp_path)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["alice.html", "alice.json"]
