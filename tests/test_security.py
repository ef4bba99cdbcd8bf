"""Student data is never evaluated in the grader's process."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from grader import grade_submission, load_rubric

MINI = Path(__file__).parent / "data" / "mini"


@pytest.mark.kernel
def test_srepr_with_a_call_outside_sympy_is_rejected_not_run(tmp_path):
    marker = tmp_path / "pwned"
    # The submission makes sympy.srepr return code; the grader must refuse it as data.
    source = textwrap.dedent(f"""
        import sympy
        x = sympy.Symbol("x")
        payload = "__import__('pathlib').Path({str(marker)!r}).touch() or Symbol('x')"
        sympy.srepr = lambda expr, **kw: payload
        sympy.printing.repr.srepr = sympy.srepr
        expr = x**2
        k = 661
    """)
    path = tmp_path / "mallory.py"
    path.write_text(source)
    result = grade_submission(path, load_rubric(MINI / "rubric.toml"))
    checks = {c.answer: c for q in result.questions for c in q.checks}
    assert checks["expr"].status == "error"
    assert "refused" in checks["expr"].message
    assert checks["k"].status == "passed"  # the rest is still graded
    assert not marker.exists()


@pytest.mark.kernel
def test_printed_fake_results_do_not_pose_as_answers(tmp_path):
    source = textwrap.dedent("""
        import json
        from IPython.display import publish_display_data
        fake = {"k": {"t": "int", "v": "661"}}
        publish_display_data({"application/vnd.grader.result+json":
                              {"nonce": "guess", "payload": fake}})
        print(json.dumps(fake))
        k = 1
    """)
    path = tmp_path / "faker.py"
    path.write_text(source)
    result = grade_submission(path, load_rubric(MINI / "rubric.toml"))
    checks = {c.answer: c for q in result.questions for c in q.checks}
    assert checks["k"].status == "failed"
