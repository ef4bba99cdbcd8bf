"""Golden submissions of a mini assignment graded end to end, with exact verdicts."""

from __future__ import annotations

from pathlib import Path

import pytest

from grader import grade_submission, load_rubric

MINI = Path(__file__).parent / "data" / "mini"
ALL_PASS = {"k": "passed", "v": "passed", "flag": "passed", "expr": "passed", "grad": "passed",
            "double": "passed", "stats": "passed", "curve": "passed", "why": "manual"}
ALL_ERROR = dict.fromkeys(ALL_PASS, "error")

GOLDEN = {
    "good.ipynb": (ALL_PASS, "ok", []),
    "good_module.py": (ALL_PASS, "ok", []),
    "wrong.ipynb": ({"k": "partial", "v": "failed", "flag": "failed", "expr": "failed",
                     "grad": "failed", "double": "failed", "stats": "partial",
                     "curve": "failed", "why": "missing"}, "ok", []),
    "raises.ipynb": ({"k": "passed", "v": "passed", "flag": "missing", "expr": "missing",
                      "grad": "missing", "double": "passed", "stats": "failed",
                      "curve": "missing", "why": "manual"}, "ok", [(2, "NameError")]),
    "broken.ipynb": (ALL_ERROR, "unreadable", []),
    # The cell that kills the kernel is left out of a second run; the rest is graded.
    "dies.py": ({**dict.fromkeys(ALL_PASS, "missing"), "k": "passed", "flag": "passed"}, "ok",
                [(2, "KernelDied")]),
}


@pytest.fixture(scope="module")
def rubric():
    return load_rubric(MINI / "rubric.toml")


@pytest.mark.kernel
@pytest.mark.parametrize("name", list(GOLDEN))
def test_golden_verdicts(rubric, name):
    expected, outcome, errors = GOLDEN[name]
    result = grade_submission(MINI / "submissions" / name, rubric)
    verdicts = {c.answer: c.status for q in result.questions for c in q.checks}
    assert verdicts == expected
    assert result.run.outcome == outcome
    assert [(e.index, e.ename) for e in result.run.errors] == errors
    for q in result.questions:
        for c in q.checks:
            assert c.message, f"{c.answer} has no message"
            assert 0 <= c.score <= c.max_score
        assert q.score == pytest.approx(min(q.max_score, sum(c.score for c in q.checks)))
    if name == "dies.py":
        assert result.run.skipped_cells == (2,)
        assert "left out of a fresh run" in result.run.message
    if expected is ALL_PASS:
        auto = sum(c.max_score for q in result.questions for c in q.checks if c.kind != "manual")
        assert result.score == pytest.approx(auto)
