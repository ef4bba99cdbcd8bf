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

The same table is checked twice: for :func:`grade_submission` in this process, and for
``grader grade submissions_example/ --rubric rubrics/hw2.toml`` exactly as ``make demo``
runs it, in every kernel path of a batch (kernels forked from each worker's fork server,
``--fresh-kernels``, ``-j 1``, ``--executor dask``), from the files the command writes,
and for each file graded alone (``grader grade alice.ipynb``: the kernel started first).
In every path a kernel runs as Jupyter runs a notebook: in the submission's folder, with
that folder on ``sys.path`` ahead of the installed packages (dave imports his own
``helpers.py``).
"""

from __future__ import annotations

import importlib.util
import json
import textwrap
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import nbformat
import pytest

from grader import grade_submission, load_rubric
from grader.cli import main
from grader.report import STUDENTS, student_file

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
    score: float = 0.0  # points out of rubrics/hw2.toml's 100, text answers not yet graded
    outcome: str = "ok"  # the run's outcome: every example runs to its end


# The scores, from the rubric's check weights: 75 auto-graded points (25 are text answers
# for a TA). carol loses q1_2 3*0.75, q1_4_params 3*0.5, q3_3 5*0.5 + 4*0.5, adam_step
# 6*0.7 and q5_3_converges 4*0.35 (13.85); dave the 4 of q3_3_update; erin has q1_1 3,
# q1_2 3, q1_4 3 + 2, q1_5 3 + 2, q5_1 3 and q5_2 3.
EXAMPLES_EXPECTED = [
    Expected("alice.ipynb", "alice", ALL_CORRECT, full_auto_score=True, score=75),
    Expected("bob.py", "bob", ALL_CORRECT, full_auto_score=True, score=75),
    Expected("carol.ipynb", "carol",
             {**ALL_CORRECT, **dict.fromkeys(CAROL_MISTAKES, "partial")},
             mistakes=CAROL_MISTAKES, score=61.15),
    Expected("dave", "dave", {**ALL_CORRECT, "q3_3_update": "missing"},
             errors=(("NameError", DAVE_FAILING_CELL),), score=71),
    Expected("erin.ipynb", "erin",
             {name: status if name in ERIN_ANSWERED else "missing"
              for name, status in ALL_CORRECT.items()}, score=22),
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
    assert result.score == pytest.approx(expected.score)
    assert result.run.outcome == expected.outcome
    if expected.student == "alice":
        # Her plot of Q1.1 is kept and attributed to the answer its cell names.
        figures = [f for f in result.run.figures if "q1_1_curve" in f.answers]
        assert figures and figures[0].mime == "image/png"


# --------------------------------------------------------------------------- the CLI

HAVE_DASK = importlib.util.find_spec("distributed") is not None

# Every way a batch starts kernels, as the flags of `grader grade` that choose it. With
# no flag, each of the -j worker processes (the number of cores) forks its students'
# kernels from a fork server; -j 1 does the same in the grading process itself.
KERNEL_PATHS = [
    pytest.param([], id="fork-server"),
    pytest.param(["--fresh-kernels"], id="fresh-kernels"),
    pytest.param(["-j", "1"], id="j1"),
    pytest.param(["--executor", "dask"], id="dask",
                 marks=pytest.mark.skipif(not HAVE_DASK, reason="dask.distributed is not "
                                          "installed (pip install 'grader[dask]')")),
]


def _table_row(expected: Expected) -> dict[str, Any]:
    """What the table says of a student, in the terms of their ``students/<id>.json``."""
    return {"score": pytest.approx(expected.score), "outcome": expected.outcome,
            "errors": [list(e) for e in expected.errors],
            "statuses": expected.statuses, "mistakes": expected.mistakes}


def _json_row(data: dict[str, Any]) -> dict[str, Any]:
    checks = [c for q in data["questions"] for c in q["checks"]]
    return {"score": data["score"], "outcome": data["run"]["outcome"],
            "errors": [[e["ename"], e["index"]] for e in data["run"]["errors"]],
            "statuses": {c["answer"]: c["status"] for c in checks},
            "mistakes": {c["answer"]: c["mistake"] for c in checks
                         if c["mistake"] is not None}}


def _grade(argv: list[str], capsys: pytest.CaptureFixture[str]) -> str:
    """Run ``grader`` with ``argv``; what it printed (stdout and stderr)."""
    status = main(argv)
    printed = capsys.readouterr()
    text = printed.out + printed.err
    assert status == 0, f"grader {' '.join(argv)} exited {status}:\n{text}"
    return text


def _students(out: Path) -> dict[str, dict[str, Any]]:
    """The per-student JSON files the command wrote, by student id."""
    return {p.stem: json.loads(p.read_text("utf-8"))
            for p in sorted((out / STUDENTS).glob("*.json"))}


@pytest.mark.kernel
@pytest.mark.parametrize("flags", KERNEL_PATHS)
def test_make_demo_verdicts_through_the_cli(flags: list[str], tmp_path, monkeypatch,
                                            capsys) -> None:
    # `make demo`, from the repository's root with its relative paths; only --out differs.
    monkeypatch.chdir(ROOT)
    out = tmp_path / "reports"
    printed = _grade(["grade", "submissions_example/", "--rubric", "rubrics/hw2.toml",
                      "--out", str(out), *flags], capsys)

    students = _students(out)
    assert sorted(students) == sorted(e.student for e in EXAMPLES_EXPECTED), printed
    for e in EXAMPLES_EXPECTED:
        assert student_file(out, e.student, ".html").is_file()
    got = {s: _json_row(data) for s, data in students.items()}
    want = {e.student: _table_row(e) for e in EXAMPLES_EXPECTED}
    raised = {s: [f"cell {err['index']}: {err['ename']}: {err['evalue']}"
                  for err in data["run"]["errors"]] for s, data in students.items()}
    assert got == want, f"cell errors: {raised}\n{printed}"
    # What `make demo` prints of each student, e.g. "dave: 71/100, 1 cell error(s)".
    for e in EXAMPLES_EXPECTED:
        errors = f", {len(e.errors)} cell error(s)" if e.errors else ""
        assert f"] {e.student}: {e.score:g}/100{errors} -> " in printed, printed


@pytest.mark.kernel
@pytest.mark.parametrize("expected", [e for e in EXAMPLES_EXPECTED
                                      if (EXAMPLES / e.path).is_file()],
                         ids=lambda e: e.student)
def test_one_example_through_the_cli(expected: Expected, tmp_path, monkeypatch,
                                     capsys) -> None:
    # `grader grade` of one file takes the fast path of a lone submission: its kernel
    # (plain, preloaded) starts before the rubric's reference loads. Same table.
    monkeypatch.chdir(ROOT)
    out = tmp_path / "reports"
    printed = _grade(["grade", f"submissions_example/{expected.path}", "--rubric",
                      "rubrics/hw2.toml", "--out", str(out), "--timings"], capsys)
    assert "  start-up " in printed, printed  # the kernel was asked for first
    students = _students(out)
    assert list(students) == [expected.student], printed
    assert _json_row(students[expected.student]) == _table_row(expected), printed


# A student folder with its own module: the kernel must import it, and say where it ran.
WHERE_RUBRIC = """\
[assignment]
id = "where"
title = "Where a kernel runs"
reference = "reference.py"
submission_names = ["hw.ipynb", "hw.py"]

[execution]
cell_timeout = 30
timeout = 120
preload = ["numpy"]

[[questions]]
id = "q_helper"
title = "A value from the submission's own module"
points = 1
  [[questions.checks]]
  answer = "k"
  kind = "numeric"

[[questions]]
id = "q_where"
title = "Where the kernel ran"
points = 1
  [[questions.checks]]
  answer = "where"
  kind = "manual"
"""

# In Jupyter (ipykernel 7, IPython 9) the folder is on sys.path as "" just before
# site-packages, not first: ipykernel_launcher drops the entry `python -m` put first and
# IPython puts "" back after the standard library. A forked kernel has it first. Either
# way the submission's own module wins over an installed one of the same name.
WHERE_CODE = """\
import json
import os
import sys

import local_helper
from local_helper import K as k


def _is_cwd(entry):
    try:
        return os.path.samefile(entry or ".", ".")
    except OSError:
        return False


_on_path = [i for i, p in enumerate(sys.path) if _is_cwd(p)]
_site = [i for i, p in enumerate(sys.path)
         if os.path.basename(p) in ("site-packages", "dist-packages")]
where = json.dumps({
    "cwd": os.getcwd(),
    "sys.path": sys.path,
    "cwd_on_path_at": _on_path[0] if _on_path else None,
    "first_site_packages_at": _site[0] if _site else None,
    "helper": os.path.abspath(local_helper.__file__),
    "helper_in_cwd": os.path.samefile(os.path.dirname(local_helper.__file__), "."),
    "files": sorted(f for f in os.listdir(".") if f != "__pycache__"),
})
"""


def _where_submissions(root: Path) -> dict[str, set[str]]:
    """Two students (a notebook, a module), each a folder with ``local_helper.py``."""
    (root / "rubric").mkdir()
    (root / "rubric" / "rubric.toml").write_text(WHERE_RUBRIC, "utf-8")
    (root / "rubric" / "reference.py").write_text('k = 7\nwhere = "where it ran"\n', "utf-8")
    files = {}
    for student, main_file in (("zoe", "hw.ipynb"), ("yan", "hw.py")):
        folder = root / "subs" / student
        folder.mkdir(parents=True)
        (folder / "local_helper.py").write_text(f"K = 7\nOWNER = {student!r}\n", "utf-8")
        if main_file.endswith(".ipynb"):
            nb = nbformat.v4.new_notebook()
            nb.cells = [nbformat.v4.new_code_cell(WHERE_CODE)]
            nbformat.write(nb, folder / main_file)
        else:
            (folder / main_file).write_text(WHERE_CODE, "utf-8")
        files[student] = {main_file, "local_helper.py"}
    return files


@pytest.mark.kernel
@pytest.mark.parametrize("flags", KERNEL_PATHS)
def test_kernel_runs_in_the_submissions_folder(flags: list[str], tmp_path, capsys) -> None:
    # Two students, so that the default path grades in worker processes (with one
    # submission the batch grades in its own process, the -j 1 path).
    files = _where_submissions(tmp_path)
    out = tmp_path / "reports"
    printed = _grade(["grade", str(tmp_path / "subs"), "--rubric",
                      str(tmp_path / "rubric" / "rubric.toml"), "--out", str(out), *flags],
                     capsys)

    students = _students(out)
    assert sorted(students) == sorted(files), printed
    for student, data in students.items():
        run = data["run"]
        checks = {c["answer"]: c for q in data["questions"] for c in q["checks"]}
        detail = textwrap.indent(json.dumps({"run": run, "checks": checks}, indent=1), "  ")
        assert (run["outcome"], run["errors"]) == ("ok", []), f"{student}:\n{detail}"
        assert checks["k"]["status"] == "passed", f"{student}:\n{detail}"
        where = json.loads(checks["where"]["received"])
        # The working directory is the submission's folder (a copy of it: its files)...
        assert set(where["files"]) == files[student], f"{student}: {where}"
        # ... and it is on sys.path, ahead of the installed packages, as in Jupyter.
        at, site = where["cwd_on_path_at"], where["first_site_packages_at"]
        assert at is not None, f"{student}: the working directory is not on sys.path: {where}"
        assert site is None or at < site, f"{student}: site-packages comes first: {where}"
        assert where["helper_in_cwd"], f"{student}: local_helper came from elsewhere: {where}"
