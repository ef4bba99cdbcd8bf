"""``grader audit``: mutants of the reference, graded by the rubric, survivors reported."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

from grader.audit.mutants import OPERATORS, mutants, slice_of
from grader.audit.report import terminal, write_page
from grader.audit.run import Audit, Settings, audit, differs
from grader.audit.samples import dense_sample
from grader.calls import Call
from grader.cli import main
from grader.rubric import load_rubric

ROOT = Path(__file__).parents[1]
DATA = Path(__file__).parent / "data" / "audit"
SMALL = DATA / "rubric.toml"
HW2 = ROOT / "rubrics" / "hw2.toml"
HW2_Q1_2 = "inputs = [[2.0, 4], [1.0, 1], [3.0, 100], [0.5, 7], [1.5, 32]]"

# (operator, the reference's function f, every line its mutants return, in order)
OPERATOR_ROWS = [
    ("sqrt", "def f(s, m):\n    return s / math.sqrt(m)\n",
     ["return (s / math.sqrt(m)) ** 0.5", "return s / m"]),
    ("sqrt", "def f(v):\n    return 1 / v**0.5\n",
     ["return (1 / v ** 0.5) ** 0.5", "return 1 / v"]),
    ("square", "def f(x):\n    return x**2 + 1\n", ["return x + 1"]),
    ("bias", "def f(w, x, b):\n    return w * x + b\n", ["return w * x"]),
    ("bias", "def f(a, b):\n    return a * b + 1\n", ["return a * b"]),
    ("range", "def f(n):\n    return sum(range(n))\n",
     ["return sum(range(n + 1))", "return sum(range(n - 1))"]),
    ("range", "def f(n):\n    return sum(range(n // 2 + 1, n + 1))\n",
     ["return sum(range(n // 2 + 2, n + 1))", "return sum(range(n // 2, n + 1))",
      "return sum(range(n // 2 + 1, n + 2))", "return sum(range(n // 2 + 1, n))"]),
    ("compare", "def f(a, b):\n    return a < b\n", ["return a <= b"]),
    ("compare", "def f(a, b):\n    return a >= b\n", ["return a > b"]),
    ("sign", "def f(x, y):\n    return -x * y\n",
     ["return -(-x * y)", "return x * y", "return -x * (-y)"]),
    ("add-sub", "def f(x, y):\n    return x + y\n", ["return x - y"]),
    ("add-sub", "def f(x, y):\n    x -= y\n    return x\n", ["x += y"]),
    ("mul-div", "def f(x, y):\n    return x * y\n", ["return x / y"]),
    ("swap-operands", "def f(x, y):\n    return x - y\n", ["return y - x"]),
    ("swap-operands", "def f(x, y):\n    return x ** y\n", ["return y ** x"]),
    ("swap-args", "def f(n, k):\n    return math.comb(n, k)\n", ["return math.comb(k, n)"]),
    ("swap-names", "def f(theta, beta1, beta2):\n    return theta * beta1\n",
     ["return theta * beta2"]),
    ("swap-names", "def f(m, v):\n    m_hat = m + 1\n    return m_hat\n",
     ["m_hat = v + 1"]),
    ("drop-term", "def f(x, y):\n    return x - y\n", ["return x", "return -y"]),
    ("constant", "def f(x):\n    return x + 3\n",
     ["return x + 4", "return x + 2", "return x + 6", "return x + 1"]),
    ("constant", "def f(x):\n    return x * 0.5\n",
     ["return x * 1.5", "return x * (-0.5)", "return x * 1.0", "return x * 0.25"]),
    ("constant", "def f():\n    return True\n", ["return False"]),
]
OPS = {op.name: op for op in OPERATORS}


@pytest.mark.parametrize(("name", "source", "expected"), OPERATOR_ROWS,
                         ids=[f"{r[0]}-{i}" for i, r in enumerate(OPERATOR_ROWS)])
def test_each_operator_makes_the_mutants_of_its_row(name: str, source: str,
                                                    expected: list[str]) -> None:
    piece = slice_of(ast.parse(source), "f")
    assert piece is not None
    made = mutants(piece, source, operators=[OPS[name]])
    assert [m.mutated for m in made] == expected
    assert {m.operator for m in made} <= {name}


def test_every_operator_has_a_row_and_a_description() -> None:
    assert {r[0] for r in OPERATOR_ROWS} == set(OPS)
    assert all(op.description for op in OPERATORS)


def test_the_docs_table_lists_the_operators_in_order() -> None:
    import re

    page = (ROOT / "docs" / "audit.md").read_text("utf-8")
    assert re.findall(r"^\| `([a-z-]+)` \|", page, re.M) == [op.name for op in OPERATORS]


def test_the_printed_module_is_the_mutant_that_runs() -> None:
    # Each mutant's whole-module text parses to the very statements it runs: the diff
    # shown is the code graded, for every mutant of the HW2 reference.
    source = (ROOT / "reference" / "hw2.py").read_text("utf-8")
    tree = ast.parse(source)
    checked = 0
    for name in ("q2_1_majority_error", "adam_step", "q3_3_gd_step", "q3_3_update"):
        piece = slice_of(tree, name)
        assert piece is not None
        for m in mutants(piece, source):
            printed = ast.parse(m.source)
            by_line = {s.lineno: ast.dump(s) for s in printed.body}
            assert [by_line[s.lineno] for s in m.statements] == [
                ast.dump(s) for s in m.statements], (m.operator, m.line, m.mutated)
            checked += 1
    assert checked > 300


def test_an_answers_slice_is_its_code_and_its_private_helpers() -> None:
    tree = ast.parse((ROOT / "reference" / "hw2.py").read_text("utf-8"))
    names = {n: [getattr(s, "name", None) or ast.unparse(s).split(" =")[0]
                 for s in piece.statements]
             for n in ("q3_3_gd_step", "q3_3_update", "q1_2_batch_mean_std", "q1_4_params")
             if (piece := slice_of(tree, n)) is not None}
    assert names == {
        "q3_3_gd_step": ["_gd_step", "q3_3_gd_step"],
        # q3_1_grads is another answer: its errors count there, not here.
        "q3_3_update": ["_w, _b, _x, _t, _lam", "_TENTH", "_update_exprs", "q3_3_update"],
        "q1_2_batch_mean_std": ["q1_2_batch_mean_std"],
        "q1_4_params": ["q1_4_params"],
    }
    assert slice_of(tree, "no_such_name") is None


def test_the_dense_sample_moves_one_argument_first_and_keeps_types() -> None:
    sample = dense_sample([Call(args=(2.0, 1))])
    assert [c.display() for c in sample[:4]] == ["(3.0, 1)", "(1.0, 1)", "(-2.0, 1)",
                                                 "(2.37, 1)"]
    assert all(isinstance(c.args[1], int) and c.args[1] >= 0 for c in sample)
    # n odd in every one of three calls: the sample stays odd.
    odd = dense_sample([Call(args=(0.1, 1)), Call(args=(0.3, 11)), Call(args=(0.5, 7))])
    assert {c.args[1] % 2 for c in odd} == {1}
    assert all(0.0 <= c.args[0] <= 1.0 for c in odd)


def _sym(text: str) -> object:
    import sympy as sp

    return sp.sympify(text)


DIFFERS_ROWS = [
    (8, 8, None),
    (7, 8, "is 7, the reference's 8"),
    ([1, 2, 3], [1, 2, 4], "[2] is 3, the reference's 4"),
    ({"steps": [5, 4]}, {"steps": [5, 3]}, "['steps'][1] is 4, the reference's 3"),
    ({"a": [1.0]}, {"a": [1.0, 2.0]}, "['a'] has shape (1,), the reference's (2,)"),
    ({"w": 1}, {"w": 1, "b": 2}, "key 'b' is missing"),
    ("sin(x)**2 + cos(x)**2", "1", None),
    ("Abs(x)", "x", "Abs(x) differs from x at x=-2.302"),
]


@pytest.mark.parametrize(("mutant", "truth", "where"), DIFFERS_ROWS)
def test_a_value_that_passes_is_equivalent_only_when_it_is_the_references(
        mutant: object, truth: object, where: str | None) -> None:
    if isinstance(truth, str):
        mutant, truth = _sym(str(mutant)), _sym(truth)
    assert differs(mutant, truth) == where


# --------------------------------------------------------------------------- the small rubric


def small(tmp_path: Path, inputs: str = "[[1.0]]") -> Path:
    text = SMALL.read_text("utf-8").replace('"reference.py"', f'"{DATA / "reference.py"}"')
    path = tmp_path / "rubric.toml"
    path.write_text(text.replace("inputs = [[1.0]]", f"inputs = {inputs}"), "utf-8")
    return path


def run(path: Path, **settings: object) -> Audit:
    return audit(load_rubric(path), Settings(**{"budget": 2.0, "jobs": 2, **settings}))


def fates(result: Audit, answer: str) -> dict[str, int]:
    a = next(a for a in result.answers if a.answer == answer)
    return {f: a.count(f) for f in ("killed", "matched", "timeout", "equivalent", "survived",
                                    "not run") if a.count(f)}


def test_a_weak_input_list_lets_the_dropped_square_survive(tmp_path: Path) -> None:
    result = run(small(tmp_path), questions=("q_area",))
    area = result.answers[0]
    survivors = {(m.operator, m.mutated): v.suggestion for m, v in area.survivors()}
    # r = 1 is the radius where r, r**2, r**3 and 1/r**2 agree.
    assert survivors == {
        ("square", "return math.pi * r"): "area(0.5)",
        ("mul-div", "return math.pi / r ** 2"): "area(0.5)",
        ("constant", "return math.pi * r**3"): "area(0.5)",
        ("constant", "return math.pi * r**1"): "area(0.5)",
        ("constant", "return math.pi * r**4"): "area(0.5)",
    }
    assert fates(result, "area") == {"killed": 5, "survived": 5}
    assert area.score == 0.5
    text = terminal(result)
    assert "survived: q_area area, line 10 [square]\n  - return math.pi * r**2\n" \
           "  + return math.pi * r\n  differs from the reference on area(0.5)" in text


def test_a_strong_input_list_kills_it_and_names_the_mistake(tmp_path: Path) -> None:
    result = run(small(tmp_path, "[[1.0], [2.0], [0.3]]"), questions=("q_area",))
    area = result.answers[0]
    assert fates(result, "area") == {"killed": 8, "matched": 2}
    matched = [(m.operator, m.mutated, v.mistake) for m in area.mutants
               if (v := area.verdicts[m.index]).fate == "matched"]
    assert matched == [("square", "return math.pi * r", "no-square"),
                       ("constant", "return math.pi * r**1", "no-square")]
    assert area.score == 1.0


def test_a_mutant_that_loops_forever_is_cut_by_the_budget_and_counts_as_killed(
        tmp_path: Path) -> None:
    result = run(small(tmp_path), questions=("q_loop",), budget=1.0)
    loop = result.answers[0]
    timed_out = sorted(m.mutated for m in loop.mutants
                       if loop.verdicts[m.index].fate == "timeout")
    # Each makes `i` step backwards or stand still, so `while i < n` never ends.
    assert timed_out == ["i = -_step(i)", "i = _step(i) ** 0.5", "return (i + 1) ** 0.5",
                         "return -(i + 1)", "return 1", "return i", "return i + 0",
                         "return i - 1"]
    assert fates(result, "count_up") == {"killed": 9, "timeout": 8, "equivalent": 2}
    assert loop.score == 1.0  # killed + timeout over the 17 that are not equivalent
    assert result.seconds < 30


def test_a_value_answer_is_the_mutated_modules_value(tmp_path: Path) -> None:
    result = run(small(tmp_path), questions=("q_value",))
    value = next(a for a in result.answers if a.answer == "corners")
    equivalent = sorted(m.mutated for m in value.mutants
                        if value.verdicts[m.index].fate == "equivalent")
    assert equivalent == ["corners = _SIDES * 2", "corners = _SIDES * 2 - 0"]
    assert fates(result, "corners") == {"killed": 14, "equivalent": 2}
    # the private constant it depends on is mutated too
    assert "_SIDES = 5" in {m.mutated for m in value.mutants}
    assert [a.skipped for a in result.answers] == ["", "graded by a person"]


def test_the_total_budget_leaves_mutants_not_run_and_out_of_the_score(tmp_path: Path) -> None:
    result = run(small(tmp_path), total_budget=0.0)
    assert all(a.count("not run") == len(a.mutants) for a in result.answers)
    assert [score for _, score, _ in result.questions()] == [None, None, None]


def test_max_mutants_spreads_the_cap_over_the_code(tmp_path: Path) -> None:
    result = run(small(tmp_path), questions=("q_loop",), max_mutants=4)
    loop = result.answers[0]
    assert (len(loop.mutants), loop.capped) == (4, 15)
    assert sorted({m.line for m in loop.mutants}) == [14, 20, 21]


def test_the_page_lists_scores_and_survivors(tmp_path: Path) -> None:
    result = run(small(tmp_path), questions=("q_area",))
    html = write_page(result, tmp_path / "out").read_text("utf-8")
    assert "<title>A rubric to audit: audit</title>" in html
    assert '<div class="del">- return math.pi * r**2</div>' in html
    assert '<div class="add">+ return math.pi * r</div>' in html
    assert "differs from the reference on area(0.5)" in html
    assert "default-src 'none'" in html


# --------------------------------------------------------------------------- HW2


def weak_hw2(tmp_path: Path) -> Path:
    text = HW2.read_text("utf-8")
    assert HW2_Q1_2 in text
    path = tmp_path / "hw2.toml"
    path.write_text(text.replace(HW2_Q1_2, "inputs = [[2.0, 1]]").replace(
        '"../reference/hw2.py"', f'"{ROOT / "reference" / "hw2.py"}"'), "utf-8")
    return path


def test_hw2_with_only_m_1_lets_the_sqrt_mutant_survive(tmp_path: Path) -> None:
    result = run(weak_hw2(tmp_path), questions=("q1_2",))
    a = next(a for a in result.answers if a.answer == "q1_2_batch_mean_std")
    survivors = [(m.operator, m.line, m.original, m.mutated, v.suggestion)
                 for m, v in a.survivors()]
    assert survivors == [
        ("mul-div", 47, "return float(sigma_p) / math.sqrt(m)",
         "return float(sigma_p) * math.sqrt(m)", "q1_2_batch_mean_std(2.0, 2)"),
        ("sqrt", 47, "return float(sigma_p) / math.sqrt(m)", "return float(sigma_p) / m",
         "q1_2_batch_mean_std(2.0, 2)"),
    ]
    assert fates(result, "q1_2_batch_mean_std") == {"killed": 5, "survived": 2}


def test_hw2_as_fixed_kills_every_mutant_the_audit_found_surviving() -> None:
    # q2_1 needed p = 1 (a sum to n + 1 raised nowhere else) and (p, n) = (0, 1) (`p % 2`
    # for `n % 2`), q5_3_converges H = 0 and alpha = 0 (a True for H = 0 and `alpha >= 0`
    # passed without them).
    result = run(HW2, questions=("q2_1", "q5_3"))
    scored = {a.answer: (a.score, a.survivors()) for a in result.answers if not a.skipped}
    assert scored == {"q2_1_majority_error": (1.0, []), "q5_3_max_lr": (1.0, []),
                      "q5_3_converges": (1.0, [])}


# --------------------------------------------------------------------------- the command


def test_min_score_sets_the_exit_status(tmp_path: Path, capsys: pytest.CaptureFixture[str]
                                        ) -> None:
    path = weak_hw2(tmp_path)
    common = ["audit", str(path), "--questions", "q1_2", "--out", str(tmp_path / "out")]
    assert main([*common, "--min-score", "0.9"]) == 1
    out, err = capsys.readouterr()
    assert "q1_2      q1_2_batch_mean_std        7           0       5          0" in out
    assert "mutation score below 0.9 in q1_2 (0.71)" in err
    assert main([*common, "--min-score", "0.7"]) == 0
    assert (tmp_path / "out" / "audit.html").is_file()
    assert main([*common, "--min-score", "90"]) == 2
    assert main(["audit", str(path), "--questions", "q9"]) == 2
    assert "--questions names q9" in capsys.readouterr().err


def test_the_command_runs_as_a_process_without_a_bar_in_a_pipe(tmp_path: Path) -> None:
    done = subprocess.run([sys.executable, "-m", "grader", "audit", str(small(tmp_path)),
                           "--out", str(tmp_path / "out"), "--budget", "1", "-j", "2"],
                          capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("Audit of rubric.toml: 45 mutants of 3 answers in ")
    assert "score by question: q_area 50% · q_loop 100% · q_value 100%" in done.stdout
    assert "\x1b[" not in done.stdout  # no bar, no colour codes
    assert (tmp_path / "out" / "audit.html").is_file()
