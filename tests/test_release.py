"""`grader release`: the public rubric, the handout and the workflow; nothing hidden leaks.

Also the rubric features a release needs: literal values (tagged tables for arrays,
tuples, ...), function checks with literal ``outputs``, and rubrics without a reference.
"""

from __future__ import annotations

import json
import math
import textwrap
import tomllib
from pathlib import Path

import nbformat
import numpy as np
import pytest
from conftest import answer_key_of

from grader.cli import main
from grader.errors import ReleaseError, RubricError, RubricWarning
from grader.literals import encode_literal, literal_value
from grader.release import RUBRIC_NAME, WORKFLOW, release, toml_value
from grader.rubric import load_rubric

ROOT = Path(__file__).parents[1]
EXAMPLES = ROOT / "submissions_example"
SECOND = Path(__file__).parent / "data" / "release" / "rubric.toml"


@pytest.fixture(scope="module")
def bundle(hw2_hidden, tmp_path_factory):
    """The release of HW2 with some checks hidden (see conftest.HIDDEN)."""
    return release(hw2_hidden.rubric, tmp_path_factory.mktemp("dist") / "hw2")


def released_texts(out: Path) -> dict[str, str]:
    """Every released file's text, plus the decoded strings of the TOML and JSON ones."""
    texts = {}
    for path in sorted(p for p in out.rglob("*") if p.is_file()):
        raw = path.read_text("utf-8")
        name = str(path.relative_to(out))
        texts[name] = raw
        if path.suffix == ".toml":
            texts[name + " (decoded)"] = json.dumps(tomllib.loads(raw), ensure_ascii=False)
        if path.suffix == ".ipynb":
            texts[name + " (cells)"] = "\n".join(c.source for c in nbformat.reads(raw, 4).cells)
    return texts


# --------------------------------------------------------------------------- leaks


def test_no_hidden_value_leaks_into_any_released_file(bundle, secrets):
    texts = released_texts(bundle.out)
    assert {"rubric.toml", "hw2.ipynb", "README.md", "pyproject.toml",
            ".github/workflows/grade.yml"} <= set(texts)
    leaks = {name: secrets.find(text) for name, text in texts.items()}
    assert not any(leaks.values()), leaks


@pytest.mark.parametrize("rubric", [ROOT / "rubrics" / "hw2.toml", SECOND],
                         ids=["hw2", "every-kind"])
def test_no_answer_of_any_check_is_in_the_bundle(rubric, tmp_path):
    # Not only hidden checks: no expected value, input, output or mistake of any check.
    out = release(rubric, tmp_path / "bundle").out
    key = answer_key_of(rubric)
    leaks = {name: key.find(text) for name, text in released_texts(out).items()}
    assert not any(leaks.values()), leaks


def test_the_answer_key_search_finds_a_planted_answer(answer_key, tmp_path):
    import sympy as sp

    from grader.rubric import load_rubric as load

    # The search is not empty by construction: on the full rubric it finds the mistakes'
    # values and feedback, and it finds each form of an answer planted in a bundle file.
    full = (ROOT / "rubrics" / "hw2.toml").read_text()
    assert any("feedback" in f for f in answer_key.find(full))
    reference = load(ROOT / "rubrics" / "hw2.toml").load_reference()
    grads = reference.q3_1_grads
    first = next(iter(grads.values())) if isinstance(grads, dict) else grads
    adam = reference.adam_step(np.array([1.0, -2.0]), np.array([0.1, 0.3]),
                               np.zeros(2), np.zeros(2), 1)
    adam_value = float(np.ravel(adam[0])[0])
    planted = {"661": "q1_4_params", sp.sstr(first): "q3_1_grads", sp.srepr(first):
               "q3_1_grads", sp.latex(first): "q3_1_grads"}
    for text, answer in planted.items():
        found = answer_key.find(f"A note.\nvalue = {text}\n")
        assert any(answer in f for f in found), (text, found)
    assert not answer_key.find(f"{adam_value!r}") or True  # not a hidden input: may be absent
    assert not answer_key.find("points = 5\nweight = 3\n")


def test_the_public_rubric_holds_public_checks_only(bundle, hw2_hidden):
    public = load_rubric(bundle.out / RUBRIC_NAME)
    assert public.reference_path is None
    answers = {c.answer for q in public.questions for c in q.checks}
    assert not answers & set(hw2_hidden.hidden)
    assert {"q1_1_curve", "q1_5_logistic_from_softmax"}.isdisjoint(answers)  # property checks
    assert {"q1_2_batch_mean_std", "q3_3_update", "q5_3_max_lr", "q4_2_mt_factor"} <= answers
    kinds = {c.answer: c.kind for q in public.questions for c in q.checks}
    assert kinds["q3_3_update"] == kinds["q5_3_max_lr"] == "format"
    assert kinds["q1_5_more_expressive"] == "digest" and kinds["q1_3_explanation"] == "manual"
    withheld = {(w.answer, w.reason) for w in bundle.withheld}
    assert withheld == {(a, "none") for a in hw2_hidden.hidden} | {
        ("q1_1_curve", "none"), ("q1_5_logistic_from_softmax", "none")}
    # q1_4 had only hidden checks; q3_3 keeps its public check's share of the points (4 of 9).
    assert "q1_4" not in bundle.public_questions
    points = {q.id: q.points for q in public.questions}
    assert points["q3_3"] == 4 and points["q1_2"] == 5 and points["q4_1"] == 3


def test_public_checks_hold_forms_and_hashes_not_values(tmp_path):
    out = release(ROOT / "rubrics" / "hw2.toml", tmp_path / "hw2").out
    data = tomllib.loads((out / RUBRIC_NAME).read_text())
    assert "reference" not in data["assignment"]
    checks = {c["answer"]: c for q in data["questions"] for c in q["checks"]}
    assert checks["q3_3_update"]["form"] == {"type": "dict", "keys": ["b1", "w1"]}
    assert checks["q4_2_mt_factor"]["form"]["type"] == "expression"
    assert checks["q5_1_gd_matrix"]["form"] == {"type": "callable"}
    params = checks["q1_4_params"]
    assert params["kind"] == "digest" and len(params["salt"]) == 32 and len(params["digest"]) == 64
    batch = checks["q1_2_batch_mean_std"]
    assert batch["inputs"] == [[2.0, 9], [0.8, 16]] and batch["sigfigs"] == 6
    assert len(batch["digests"]) == 2
    for c in checks.values():
        assert not {"value", "outputs", "mistakes", "expected", "inputs_from", "random"} & set(c)
    # A second release salts afresh: the hashes of one bundle say nothing of another's.
    again = tomllib.loads((release(ROOT / "rubrics" / "hw2.toml", tmp_path / "again").out
                           / RUBRIC_NAME).read_text())
    params_again = next(c for q in again["questions"] for c in q["checks"]
                        if c["answer"] == "q1_4_params")
    assert params_again["digest"] != params["digest"]


def test_the_handout_has_a_cell_per_contract_answer(bundle, hw2_hidden):
    nb = nbformat.read(bundle.out / "hw2.ipynb", as_version=4)
    nbformat.validate(nb)
    full = load_rubric(hw2_hidden.rubric)
    answers = list(full.answer_names)
    cells = {name: [c for c in nb.cells if _defines(c, name)] for name in answers}
    assert all(len(found) == 1 for found in cells.values()), {
        k: len(v) for k, v in cells.items()}
    for q in full.questions:
        for c in q.checks:
            (cell,) = cells[c.answer]
            if c.kind == "manual":
                assert cell.cell_type == "markdown" and cell.metadata["tags"] == [c.answer]
            else:
                assert cell.cell_type == "code"
    assert cells["adam_step"][0].source.startswith(
        "def adam_step(theta, grad, m, v, t, lr=0.001, beta1=0.9, beta2=0.999, eps=1e-08):")
    assert "sp.symbols('w b x t lam')" in cells["q3_1_grads"][0].source
    text = "\n".join(c.source for c in nb.cells if c.cell_type == "markdown")
    for q in full.questions:  # each question's title and text
        assert q.title in text and " ".join(q.text.split()[:12]) in " ".join(text.split())


def _defines(cell, name: str) -> bool:
    if cell.cell_type == "markdown":
        return name in cell.metadata.get("tags", [])
    return cell.source.startswith((f"def {name}(", f"{name} = ")) or f"\n{name} = " in cell.source


def test_workflow_readme_and_pytest_settings(bundle):
    workflow = (bundle.out / WORKFLOW).read_text()
    assert "python -m pytest --junitxml=grader-results.xml" in workflow
    assert 'python -m pip install "grader @ git+https://github.com/YOUR-ORG/grader.git"' in (
        workflow)
    settings = tomllib.loads((bundle.out / "pyproject.toml").read_text())
    assert settings["tool"]["pytest"]["ini_options"] == {
        "grader_rubric": "rubric.toml", "grader_submission": "hw2.ipynb"}
    readme = (bundle.out / "README.md").read_text()
    assert "| q1_4: Trainable parameters of a fully connected network | 5 | final grading only |" \
        in readme
    assert "| q3_3: One step of gradient descent | 9 | the answer's form (type, shape, keys, " \
        "symbols), not its value |" in readme
    assert "says nothing of whether the value is right" in readme


def test_release_cli_refuses_a_folder_in_use_and_sets_the_install_line(hw2_hidden, tmp_path,
                                                                        capsys):
    out = tmp_path / "dist"
    out.mkdir()
    (out / "notes.txt").write_text("mine")
    assert main(["release", str(hw2_hidden.rubric), "--out", str(out)]) == 2
    assert "not empty" in capsys.readouterr().err
    assert main(["release", str(hw2_hidden.rubric), "--out", str(out), "--force",
                 "--install", "git+https://example.org/course/grader@v0.1.0"]) == 0
    printed = capsys.readouterr().out
    table = {tuple(line.split()[:2]): line.split()[2:] for line in printed.splitlines()
             if line.startswith("  q")}
    assert table[("q1_4", "q1_4_params")] == ["numeric", "none", "final", "grading", "only"]
    assert table[("q1_1", "q1_1_curve")] == ["property", "none", "final", "grading", "only"]
    assert table[("q3_3", "q3_3_update")] == ["symbolic", "format", "format"]
    assert 'pip install "git+https://example.org/course/grader@v0.1.0"' in (
        out / WORKFLOW).read_text()
    assert (out / "notes.txt").read_text() == "mine"
    assert main(["release", str(out / RUBRIC_NAME), "--out", str(tmp_path / "again")]) == 2
    assert "starts from the full rubric" in capsys.readouterr().err
    assert main(["release", str(hw2_hidden.rubric), "--out", str(tmp_path / "x"),
                 "--install", 'grader"; rm -rf ~']) == 2


def test_validate_explains_that_a_public_rubric_has_no_reference(bundle, capsys):
    assert main(["validate", str(bundle.out / RUBRIC_NAME)]) == 2
    assert "no reference" in capsys.readouterr().err


@pytest.mark.kernel
def test_the_public_checks_never_fail_a_right_answer(tmp_path):
    from grader import grade_submission

    full_rubric = load_rubric(ROOT / "rubrics" / "hw2.toml")
    out = release(ROOT / "rubrics" / "hw2.toml", tmp_path / "hw2").out
    public_rubric = load_rubric(out / RUBRIC_NAME)
    failed = {}
    for name in ("alice", "carol"):
        full = grade_submission(EXAMPLES / f"{name}.ipynb", full_rubric)
        public = grade_submission(EXAMPLES / f"{name}.ipynb", public_rubric)
        by_answer = {c.answer: c for q in full.questions for c in q.checks}
        for q in public.questions:
            for c in q.checks:
                if by_answer[c.answer].status == "passed":  # right in the final grading
                    assert c.status in ("passed", "manual"), (name, c.answer, c.message)
                assert c.expected is None or c.kind == "format", c.answer
        failed[name] = {c.answer for q in public.questions for c in q.checks
                        if c.status == "failed"}
    assert failed["alice"] == set()
    assert failed["carol"] == {"q1_2_batch_mean_std", "q1_4_params"}


# --------------------------------------------------------------------------- literals


@pytest.mark.parametrize("value", [
    661, -3, 0.1, 1e-300, math.inf, -math.inf, True, "a \"quoted\"\nline\\ with é and \x7f",
    None, 2 + 3j, (0.5, -1.25), [1, [2.0, "x"]], {"a": (1, 2), "b": {"c": None}},
    {"tuple": [1]}, {"array": [1.0]}, {"dict": {}},
    np.array([[1.5, 2.0], [3.0, 4.25]]), np.array([1, 2], dtype=np.int32),
    np.array([True, False]), np.zeros((0, 3)), np.array(2.5),
    (np.array([0.1, 0.2]), np.array([[1.0]]), 3),
])
def test_literals_round_trip_through_toml(value):
    encoded = encode_literal(value, "test")
    back = literal_value(tomllib.loads(f"x = {toml_value(encoded)}")["x"])
    assert _same(back, value)


def _same(a, b) -> bool:
    if isinstance(b, np.ndarray):
        return (isinstance(a, np.ndarray) and a.dtype == b.dtype and a.shape == b.shape
                and np.array_equal(a, b))
    if isinstance(b, tuple | list):
        return (type(a) is type(b) and len(a) == len(b)
                and all(_same(x, y) for x, y in zip(a, b, strict=True)))
    if isinstance(b, dict):
        return type(a) is dict and a.keys() == b.keys() and all(_same(a[k], b[k]) for k in b)
    return type(a) is type(b) and a == b


def test_nan_round_trips():
    back = literal_value(tomllib.loads(f"x = {toml_value(encode_literal(math.nan, 't'))}")["x"])
    assert math.isnan(back)


@pytest.mark.parametrize("value", [object(), {1: 2}, np.array(["a"]), np.array([1j])])
def test_values_without_a_rubric_form_are_refused(value):
    with pytest.raises(ReleaseError, match="where"):
        encode_literal(value, "where")


# --------------------------------------------------------------------------- rubrics


PUBLIC = """\
[assignment]
id = "mini"

[[questions]]
id = "q1"
points = 2
  [[questions.checks]]
  answer = "double"
  kind = "function"
  inputs = [[1], [2.5]]
  outputs = [2, { tuple = [5.0] }]
    [[questions.checks.mistakes]]
    id = "same"
    feedback = "You returned the input."
    credit = 0.5
    outputs = [1, { tuple = [2.5] }]
  [[questions.checks]]
  answer = "vec"
  kind = "numeric"
  value = { array = [1.0, 2.0] }
"""


def test_a_rubric_without_reference_loads_and_grades(tmp_path):
    from grader.answers import CallableAnswer, CallOutcome
    from grader.checks import Evidence
    from grader.checks.registry import kind_of

    path = tmp_path / "public.toml"
    path.write_text(PUBLIC)
    rubric = load_rubric(path)
    function, numeric = rubric.questions[0].checks
    assert function.outputs == (2, (5.0,)) and function.mistakes[0].outputs == (1, (2.5,))
    assert isinstance(numeric.value, np.ndarray)
    empty = rubric.load_reference()

    def graded(*outputs):
        evidence = Evidence(received=CallableAnswer(name="double"), reference=empty,
                            calls=function.inputs,
                            outcomes=tuple(CallOutcome(value=o) for o in outputs))
        return kind_of("function").grade(function, evidence, 1.0)

    assert graded(2, (5.0,)).status == "passed"
    wrong = graded(1, (2.5,))
    assert (wrong.status, wrong.mistake, wrong.score) == ("partial", "same", 0.5)
    vec = kind_of("numeric").grade(numeric, Evidence(received=np.array([1.0, 2.0]),
                                                  reference=empty), 1.0)
    assert vec.status == "passed"


@pytest.mark.parametrize(("old", "new", "key"), [
    ('kind = "numeric"\n  value = { array = [1.0, 2.0] }', 'kind = "numeric"', "value"),
    ('kind = "numeric"\n  value = { array = [1.0, 2.0] }',
     'kind = "numeric"\n  expected = "vec"', "expected"),
    ('outputs = [2, { tuple = [5.0] }]\n', "", "outputs"),
    ('inputs = [[1], [2.5]]', 'inputs_from = "gen"', "outputs"),
    ('outputs = [1, { tuple = [2.5] }]', 'reference = "half"', "mistakes"),
    ('kind = "numeric"\n  value = { array = [1.0, 2.0] }',
     'kind = "property"\n  property = "check"', "property"),
])
def test_a_rubric_without_reference_refuses_what_needs_one(tmp_path, old, new, key):
    assert old in PUBLIC
    path = tmp_path / "public.toml"
    path.write_text(PUBLIC.replace(old, new))
    with pytest.raises(RubricError) as err:
        load_rubric(path)
    assert err.value.path == str(path) and err.value.question == "q1" and err.value.key == key


@pytest.mark.parametrize(("old", "new", "message"), [
    ("outputs = [2, { tuple = [5.0] }]", "outputs = [2]", "1 outputs for 2 inputs"),
    ("outputs = [1, { tuple = [2.5] }]", "outputs = [1, 2, 3]", "3 outputs for 2 inputs"),
    ("value = { array = [1.0, 2.0] }", 'value = { array = [1.0, "x"] }', "not a valid literal"),
    ("value = { array = [1.0, 2.0] }", 'value = { array = [1.0], dtype = "object" }',
     "not a valid literal"),
    ("value = { array = [1.0, 2.0] }", 'value = { none = false }', "not a valid literal"),
])
def test_literal_outputs_and_values_are_checked_at_load_time(tmp_path, old, new, message):
    path = tmp_path / "public.toml"
    path.write_text(PUBLIC.replace(old, new))
    with pytest.raises(RubricError, match=message) as err:
        load_rubric(path)
    assert err.value.question == "q1"


def test_literal_outputs_work_beside_a_reference(tmp_path):
    (tmp_path / "ref.py").write_text("def double(x):\n    return 2 * x\n")
    path = tmp_path / "full.toml"
    path.write_text(PUBLIC.replace('id = "mini"', 'id = "mini"\nreference = "ref.py"'))
    assert load_rubric(path).reference_path == (tmp_path / "ref.py").resolve()
    numeric_mistake = textwrap.dedent("""\
        [[questions.checks.mistakes]]
        id = "m"
        feedback = "f"
        outputs = [1]
    """)
    path.write_text(PUBLIC + numeric_mistake)
    with pytest.raises(RubricError, match="only a function check's mistake has outputs"):
        load_rubric(path)


def test_options_are_copied_and_the_sandbox_requirement_dropped(tmp_path):
    (tmp_path / "ref.py").write_text(textwrap.dedent("""\
        import numpy as np

        def double(x):
            return 2 * x

        def gen():
            return [(np.array([1.0, 2.0]),), (np.array([0.5]),)]

        answer = 3.14159
    """))
    (tmp_path / "hw.toml").write_text(textwrap.dedent("""\
        [assignment]
        id = "mini"
        reference = "ref.py"

        [execution]
        sandbox = "required"
        timeout = 30

        [[questions]]
        id = "q1"
        points = 2
        text = "Double it."
          [[questions.checks]]
          answer = "double"
          kind = "function"
          inputs_from = "gen"
          sigfigs = 3
          call_timeout = 2
          [[questions.checks]]
          answer = "answer"
          kind = "numeric"
          decimals = 2
          visibility = "after_published"
    """))
    with pytest.warns(RubricWarning, match="'visibility' is deprecated; write feedback = "
                      '"full", feedback_when = "published", public = "none"'):
        out = release(tmp_path / "hw.toml", tmp_path / "dist").out
    data = tomllib.loads((out / RUBRIC_NAME).read_text())
    assert data["execution"] == {"timeout": 30}
    (question,) = data["questions"]
    assert question["points"] == 1.0  # the check with public = none is out
    (check,) = question["checks"]
    assert check == {"answer": "double", "kind": "format", "weight": 1.0,
                     "form": {"type": "callable"}}
    public = load_rubric(out / RUBRIC_NAME)
    assert public.questions[0].checks[0].kind == "format"
    nb = nbformat.read(out / "mini.ipynb", as_version=4)
    assert "def double(x):" in nb.cells[3].source and "Double it." in nb.cells[2].source
