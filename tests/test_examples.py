"""The example submissions of the demo, graded end to end with rubrics/hw2.toml.

Each example is wrong exactly where it was written to be wrong (see the tables below);
everything else in it is a correct answer in that student's own style:

- alice.ipynb: complete and correct; sigma as ``sympy.Function('sigma')`` with
  ``sympy.diff`` (Subs/Derivative) and ``sigma(z)*(1 - sigma(z))`` forms, text answers as
  tagged markdown cells and as ``str`` variables.
- bob.py: complete and correct plain module (loops, ``math``, explicit sigmoid).
- carol.ipynb: six of the rubric's common mistakes, everything else correct.
- dave/hw2.ipynb: a student folder with a local ``helpers.py``; one cell raises a
  NameError after defining ``q3_1_grads`` and ``q3_3_gd_step`` but before
  ``q3_3_update``; the cells after it still run and answer Q4-Q6.
- erin.ipynb: only Q1 and the first two parts of Q5; nothing else is defined.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import pytest

from grader import grade_submission, load_rubric

ROOT = Path(__file__).parents[1]
EXAMPLES = ROOT / "submissions_example"

# Every answer of the rubric, right: auto-graded checks pass, text answers await a TA.
ALL_CORRECT: dict[str, str] = {
    "q1_1_curve": "passed",
    "q1_1_explanation": "manual",
    "q1_2_batch_mean_std": "passed",
    "q1_2_explanation": "manual",
    "q1_3_explanation": "manual",
    "q1_4_params": "passed",
    "count_params": "passed",
    "q1_5_logistic_from_softmax": "passed",
    "q1_5_more_expressive": "passed",
    "q2_1_majority_error": "passed",
    "q2_1_explanation": "manual",
    "q2_2_explanation": "manual",
    "q3_1_grads": "passed",
    "q3_2_explanation": "manual",
    "q3_3_gd_step": "passed",
    "q3_3_update": "passed",
    "adam_step": "passed",
    "q4_1_explanation": "manual",
    "q4_2_mt_factor": "passed",
    "q5_1_gd_matrix": "passed",
    "q5_2_w_t": "passed",
    "q5_3_max_lr": "passed",
    "q5_3_converges": "passed",
    "q5_4_newton_step": "passed",
    "q5_4_newton_iters": "passed",
    "q5_5_explanation": "manual",
    "q6_1_expected_grad": "passed",
    "q6_2_penalty": "passed",
    "q6_2_explanation": "manual",
}

# carol's deliberate mistakes: answer -> the rubric's mistake id. All have credit > 0 in
# rubrics/hw2.toml, so each check is "partial" with that mistake named.
CAROL_MISTAKES: dict[str, str] = {
    "q1_2_batch_mean_std": "sigma-over-m",  # sigma_p / m
    "q1_4_params": "no-output-bias",  # 660
    "q3_3_gd_step": "flipped-b0",  # sigmoid(w*x - b)
    "q3_3_update": "flipped-b0",  # y0 = sigmoid(0.1*x - 0.1)
    "adam_step": "no-bias-correction",  # m and v used without / (1 - beta**t)
    "q5_3_converges": "non-strict",  # |1 - 2 alpha lambda_i| <= 1
}

# erin answered Q1 in full and q5_1/q5_2; everything else is simply not defined.
ERIN_ANSWERED = (
    "q1_1_curve", "q1_1_explanation", "q1_2_batch_mean_std", "q1_2_explanation",
    "q1_3_explanation", "q1_4_params", "count_params", "q1_5_logistic_from_softmax",
    "q1_5_more_expressive", "q5_1_gd_matrix", "q5_2_w_t",
)

# dave/hw2.ipynb: index (in nb.cells, markdown cells included) of the cell that raises
# NameError: name 'lr_0' is not defined.
DAVE_FAILING_CELL = 18


@dataclass(frozen=True)
class Expected:
    path: str  # relative to submissions_example/
    student: str
    statuses: dict[str, str]
    mistakes: dict[str, str] = field(default_factory=dict)
    full_auto_score: bool = False  # every auto-gradable point earned
    errors: tuple[tuple[str, int], ...] = ()  # (ename, cell index) of each failing cell


EXAMPLES_EXPECTED = [
    Expected("alice.ipynb", "alice", ALL_CORRECT, full_auto_score=True),
    Expected("bob.py", "bob", ALL_CORRECT, full_auto_score=True),
    Expected("carol.ipynb", "carol",
             {**ALL_CORRECT, **dict.fromkeys(CAROL_MISTAKES, "partial")},
             mistakes=CAROL_MISTAKES),
    Expected("dave", "dave", {**ALL_CORRECT, "q3_3_update": "missing"},
             errors=(("NameError", DAVE_FAILING_CELL),)),
    Expected("erin.ipynb", "erin",
             {name: status if name in ERIN_ANSWERED else "missing"
              for name, status in ALL_CORRECT.items()}),
]


@pytest.fixture(scope="module")
def rubric():
    return load_rubric(ROOT / "rubrics" / "hw2.toml")


@pytest.mark.kernel
@pytest.mark.parametrize("expected", EXAMPLES_EXPECTED, ids=lambda e: e.student)
def test_example_submission(rubric, expected: Expected) -> None:
    # The tables must cover every answer the rubric grades, no more and no less.
    assert set(expected.statuses) == set(rubric.answer_names)

    result = grade_submission(EXAMPLES / expected.path, rubric)

    assert result.student == expected.student
    checks = [c for q in result.questions for c in q.checks]
    assert sorted(c.answer for c in checks) == sorted(rubric.answer_names)

    statuses = {c.answer: c.status for c in checks}
    assert statuses == expected.statuses
    mistakes = {c.answer: c.mistake for c in checks if c.mistake is not None}
    assert mistakes == expected.mistakes
    for c in checks:
        if c.status not in ("passed", "manual"):
            assert c.message.strip(), f"{c.answer}: a {c.status} check without a message"

    if expected.full_auto_score:
        auto_points = sum(c.max_score for c in checks if c.status != "manual")
        assert result.score == pytest.approx(auto_points)

    assert [(e.ename, e.index) for e in result.run.errors] == list(expected.errors)
    if expected.student == "alice":
        # Her plot of Q1.1 is kept and attributed to the answer its cell names.
        figures = [f for f in result.run.figures if "q1_1_curve" in f.answers]
        assert figures and figures[0].mime == "image/png"
