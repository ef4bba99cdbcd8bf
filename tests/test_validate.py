"""``grader validate`` checks the known mistakes: each can be made, and each is told apart."""

from __future__ import annotations

from pathlib import Path

import pytest

from grader.cli import main
from grader.rubric import load_rubric
from grader.validate import Problem, check_mistakes

ROOT = Path(__file__).parents[1]
DATA = Path(__file__).parent / "data" / "validate"
HW2 = ROOT / "rubrics" / "hw2.toml"
MINI = Path(__file__).parent / "data" / "mini" / "rubric.toml"

EXPECTED = [
    "FAIL q_std batch_std mistake sigma-over-m: mistake `sigma-over-m` is indistinguishable "
    "from the right answer on every input: add an input where they differ",
    "FAIL q_twins double mistake plus-one-again: mistakes `plus-one` and `plus-one-again` "
    "cannot be told apart on these inputs",
    "FAIL q_count k mistake no-bias: mistake `no-bias` is indistinguishable from the right "
    "answer: its value passes the check",
    "FAIL q_nan rate mistake undefined: mistake `undefined` can never be matched: compared "
    "with itself, the expected value is NaN, and NaN never equals anything (unless the check "
    "sets equal_nan).",
    "FAIL q_raises root mistake no-abs: mistake `no-abs` raised ValueError: math domain error "
    "on root(-9.0)",
    "FAIL q_parse expr mistake typo: mistake `typo` does not parse: invalid syntax: invalid "
    "syntax",
    "FAIL q_form square mistake no-one: mistake `no-one` can never be matched: compared with "
    "itself, equal in value, but it is not fully factored.",
]


def lines(path: Path) -> list[str]:
    return [p.line() for p in check_mistakes(load_rubric(path))]


def test_each_kind_of_problem_is_reported_once_with_its_mistake() -> None:
    assert lines(DATA / "rubric.toml") == EXPECTED


def test_a_problem_names_its_question_answer_and_mistake() -> None:
    first = check_mistakes(load_rubric(DATA / "rubric.toml"))[0]
    assert first == Problem(question="q_std", answer="batch_std", mistake="sigma-over-m",
                            message=EXPECTED[0].split(": ", 1)[1])


@pytest.mark.parametrize("path", [HW2, MINI], ids=["hw2", "mini"])
def test_the_course_rubrics_mistakes_are_each_told_apart(path: Path) -> None:
    assert lines(path) == []


def write(tmp_path: Path, text: str, source: Path = DATA / "rubric.toml",
          reference: Path = DATA / "reference.py") -> Path:
    """A copy of a rubric with ``text`` edited into it, its reference by absolute path."""
    rubric = tmp_path / "rubric.toml"
    rubric.write_text(text.replace(f'"{reference.name}"', f'"{reference}"')
                      .replace('"../reference/hw2.py"', f'"{reference}"'), "utf-8")
    return rubric


def test_hw2_with_only_the_edge_case_m_1_cannot_see_sigma_over_m(tmp_path: Path) -> None:
    text = HW2.read_text("utf-8")
    old = "inputs = [[2.0, 4], [1.0, 1], [3.0, 100], [0.5, 7], [1.5, 32]]"
    assert old in text
    path = write(tmp_path, text.replace(old, "inputs = [[1.0, 1], [2.0, 1]]"),
                 reference=ROOT / "reference" / "hw2.py")
    assert lines(path) == [
        "FAIL q1_2 q1_2_batch_mean_std mistake sigma-over-m: mistake `sigma-over-m` is "
        "indistinguishable from the right answer on every input: add an input where they "
        "differ"]


QUESTION = """
[assignment]
id = "one"
title = "One question"
reference = "reference.py"

[[questions]]
id = "q"
title = "Q"
points = 1
  [[questions.checks]]
{check}
"""


@pytest.mark.parametrize(
    ("check", "expected"),
    [
        # Two numbers equal within the check's tolerance are one mistake.
        ('  answer = "k"\n  kind = "numeric"\n'
         '    [[questions.checks.mistakes]]\n    id = "a"\n    value = 660\n'
         '    feedback = "a"\n'
         '    [[questions.checks.mistakes]]\n    id = "b"\n    value = 660.0000000001\n'
         '    feedback = "b"\n',
         ["FAIL q k mistake b: mistakes `a` and `b` cannot be told apart: their values "
          "match"]),
        # Two ways of writing one expression.
        ('  answer = "twice"\n  kind = "symbolic"\n  symbols = ["x"]\n'
         '    [[questions.checks.mistakes]]\n    id = "a"\n    value = "x**2"\n'
         '    feedback = "a"\n'
         '    [[questions.checks.mistakes]]\n    id = "b"\n    value = "x*x"\n'
         '    feedback = "b"\n',
         ["FAIL q twice mistake b: mistakes `a` and `b` cannot be told apart: their values "
          "match"]),
        # A symbolic mistake equal to the answer, written otherwise.
        ('  answer = "twice"\n  kind = "symbolic"\n  symbols = ["x"]\n'
         '    [[questions.checks.mistakes]]\n    id = "a"\n    value = "x + x"\n'
         '    feedback = "a"\n',
         ["FAIL q twice mistake a: mistake `a` is indistinguishable from the right answer: "
          "its value passes the check"]),
        # Literal outputs of a function mistake equal to the reference's on every input.
        ('  answer = "double"\n  kind = "function"\n  inputs = [[1.0], [2.0]]\n'
         '    [[questions.checks.mistakes]]\n    id = "a"\n    outputs = [2.0, 4.0]\n'
         '    feedback = "a"\n',
         ["FAIL q double mistake a: mistake `a` is indistinguishable from the right answer "
          "on every input: add an input where they differ"]),
        # One input is enough to tell them apart.
        ('  answer = "batch_std"\n  kind = "function"\n  inputs = [[2.0, 1], [2.0, 4]]\n'
         '    [[questions.checks.mistakes]]\n    id = "a"\n'
         '    reference = "mistake_sigma_over_m"\n    feedback = "a"\n', []),
        # A mistake that raises on several inputs names the first and counts the others.
        ('  answer = "root"\n  kind = "function"\n  inputs = [[-1.0], [4.0], [-4.0]]\n'
         '    [[questions.checks.mistakes]]\n    id = "a"\n'
         '    reference = "mistake_no_abs"\n    feedback = "a"\n',
         ["FAIL q root mistake a: mistake `a` raised ValueError: math domain error on "
          "root(-1.0) (and 1 more of the 3 inputs)"]),
        # NaN outputs never match, and a hidden check's reason still names the input.
        ('  answer = "double"\n  kind = "function"\n  inputs = [[1.0], [2.0]]\n'
         '  feedback = "verdict"\n'
         '    [[questions.checks.mistakes]]\n    id = "a"\n'
         '    reference = "mistake_undefined"\n    feedback = "a"\n',
         ["FAIL q double mistake a: mistake `a` can never be matched: compared with itself, "
          "wrong on 2 of 2 test inputs; first: double(1.0): the expected value is NaN, and "
          "NaN never equals anything (unless the check sets equal_nan)"]),
    ],
    ids=["numeric-twins", "symbolic-twins", "symbolic-right", "outputs-right", "told-apart",
         "raises-twice", "function-nan"],
)
def test_one_check(tmp_path: Path, check: str, expected: list[str]) -> None:
    assert lines(write(tmp_path, QUESTION.format(check=check))) == expected


@pytest.mark.kernel
def test_validate_prints_each_problem_and_exits_1(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["validate", str(DATA / "rubric.toml")]) == 1
    captured = capsys.readouterr()
    assert captured.out.splitlines() == EXPECTED  # the reference itself earns full marks
    assert "7 problem(s) with the known mistakes" in captured.err


@pytest.mark.kernel
def test_validate_accepts_hw2(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["validate", str(HW2)]) == 0
    assert capsys.readouterr().out.startswith(f"ok: {HW2} is consistent")
