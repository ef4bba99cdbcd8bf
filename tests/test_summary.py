"""The course summary page and the answers pages of text questions."""

from __future__ import annotations

import re
from html.parser import HTMLParser
from pathlib import Path

import pytest

from grader.gradebook import group_id
from grader.results import CheckResult, QuestionResult, RunLog, SubmissionResult
from grader.rubric import load_rubric
from grader.summary import (
    common_wrong,
    question_rates,
    render_answers,
    render_index,
    score_bars,
    text_questions,
    write_summary,
)

MINI = Path(__file__).parent / "data" / "mini"
EVIL = '<script>alert(1)</script><img src=x onerror=alert(2)>'


@pytest.fixture(scope="module")
def rubric():
    return load_rubric(MINI / "rubric.toml")


def result(student: str, k: str, why: str | None, *, outcome: str = "ok",
           message: str = "") -> SubmissionResult:
    """A result with a numeric answer ``k`` (661 is right) and a text answer."""
    right = k == "661"
    qk = QuestionResult(id="q_num", title="An integer", score=2.0 if right else 0.0,
                        max_score=2.0, status="passed" if right else "failed",
                        checks=(CheckResult(answer="k", kind="numeric",
                                            status="passed" if right else "failed",
                                            score=2.0 if right else 0.0, max_score=2.0,
                                            message="" if right else "Not the count.",
                                            received=k,
                                            mistake="no-bias" if k == "660" else None),))
    qt = QuestionResult(id="q_text", title="Explain", score=0.0, max_score=1.0,
                        status="manual" if why else "missing",
                        checks=(CheckResult(answer="why", kind="manual",
                                            status="manual" if why else "missing", score=0.0,
                                            max_score=1.0, message="", received=why),))
    return SubmissionResult(student=student, submission=f"{student}.ipynb",
                            score=qk.score, max_score=10.0, questions=(qk, qt),
                            run=RunLog(outcome=outcome, message=message))


@pytest.fixture()
def results():
    return [
        result("alice", "661", "Because gradients vanish."),
        result("bob", "660", "because   GRADIENTS vanish."),
        result("carol", "660", EVIL),
        result("dave", EVIL, "Because gradients vanish."),
        result("erin", "661", None, outcome="timeout", message="ran past 60 s"),
    ]


class _Tags(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.tags: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append(tag)


def _tags(html: str) -> list[str]:
    parser = _Tags()
    parser.feed(html)
    return parser.tags


def test_charts_numbers(rubric, results):
    bars = score_bars(results)
    assert [b.count for b in bars] == [3, 0, 2, 0, 0, 0, 0, 0, 0, 0]  # 0/10 and 2/10
    assert max(b.height for b in bars) == 150 and bars[1].height == 0
    rates = {r.id: r for r in question_rates(results, rubric)}
    assert (rates["q_num"].passed, rates["q_num"].other, rates["q_num"].total) == (2, 3, 5)
    assert rates["q_num"].pass_rate == 0.4
    assert (rates["q_text"].manual, rates["q_text"].other) == (4, 1)


def test_common_wrong_answers_are_grouped_and_counted(results):
    (k,) = [c for c in common_wrong(results) if c.answer == "k"]
    assert k.wrong == 3
    assert [(g.text, g.count, g.mistake, g.students) for g in k.groups] == [
        ("660", 2, "no-bias", ("bob", "carol")), (EVIL, 1, None, ("dave",))]


def test_index_page(rubric, results):
    html = render_index(rubric, results)
    assert '<meta http-equiv="Content-Security-Policy" content="default-src \'none\'' in html
    assert "script" not in _tags(html) and "img" not in _tags(html)
    assert "<script>" not in html and "&lt;script&gt;" in html
    assert _tags(html).count("svg") == 2 and "rect" in _tags(html)
    # Links to every student's page, the failed run, the text question's page.
    for s in ("alice", "bob", "carol", "dave", "erin"):
        assert f'href="students/{s}.html"' in html
    failed = html[html.index('id="failed"'):html.index('id="students"')]
    assert "erin" in failed and "timeout" in failed and "ran past 60 s" in failed
    assert "alice" not in failed
    assert 'href="answers-why.html"' in html
    assert re.search(r"q_num</code>.*?2 \(40%\)", html, re.S)


def test_answers_page_groups_identical_text(rubric, results):
    (why,) = text_questions(results, rubric)
    assert why.page == "answers-why.html" and why.pending == 4 and why.missing == ("erin",)
    first = why.groups[0]
    assert (first.students, first.id) == (
        ("alice", "bob", "dave"), group_id("why", "because gradients vanish."))
    html = render_answers(rubric, why)
    assert "<script>" not in html and "&lt;script&gt;" in html and "script" not in _tags(html)
    assert why.groups[0].id in html and "3 students" in html
    assert "grader manual" in html


def test_student_ids_are_links_that_cannot_escape(rubric):
    html = render_index(rubric, [result('a"b<c>', "661", "x")])
    assert 'href="students/a%22b%3Cc%3E.html"' in html and 'a&#34;b&lt;c&gt;' in html


def test_write_summary_files(tmp_path, rubric, results):
    write_summary(tmp_path, rubric, results)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["answers-why.html", "index.html"]
    write_summary(tmp_path, rubric, [])  # an empty course still gets a page
    assert "0 submissions" in (tmp_path / "index.html").read_text()
