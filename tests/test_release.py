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

from grader.cli import main
from grader.errors import ReleaseError, RubricError
from grader.literals import encode_literal, literal_value
from grader.release import RUBRIC_NAME, WORKFLOW, release, toml_value
from grader.rubric import load_rubric

ROOT = Path(__file__).parents[1]
EXAMPLES = ROOT / "submissions_example"


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


def test_the_leak_search_finds_what_it_looks_for(hw2_hidden, secrets, tmp_path):
    # The same search on the full rubric, and on a release with every check visible, finds
    # the hidden checks' feedback, inputs and outputs: an empty result above means something.
    assert any("feedback" in f for f in secrets.find(hw2_hidden.rubric.read_text()))
    everything = release(ROOT / "rubrics" / "hw2.toml", tmp_path / "all").out
    found = "\n".join(f for text in released_texts(everything).values()
                      for f in secrets.find(text))
    for what in ("count_params (hidden) input", "count_params (hidden) feedback",
                 "q1_4_params (hidden) value 661", "adam_step (hidden) value",
                 "q3_3_gd_step (hidden) value", "q5_3_converges (hidden) value",
                 "q3_1_grads (hidden) expected"):
        assert what in found, what
    assert "reference source" in "\n".join(secrets.find(
        (ROOT / "reference" / "hw2.py").read_text()))


def test_the_public_rubric_keeps_visible_checks_only(bundle, hw2_hidden):
    public = load_rubric(bundle.out / RUBRIC_NAME)
    assert public.reference_path is None
    answers = {c.answer for q in public.questions for c in q.checks}
    assert not answers & set(hw2_hidden.hidden)
    assert {"q1_1_curve", "q1_5_logistic_from_softmax"}.isdisjoint(answers)  # property checks
    assert {"q1_2_batch_mean_std", "q3_3_update", "q5_3_max_lr", "q4_2_mt_factor"} <= answers
    assert all(c.visibility == "visible" for q in public.questions for c in q.checks)
    withheld = {(w.answer, w.reason) for w in bundle.withheld}
    assert withheld == {(a, "hidden") for a in hw2_hidden.hidden} | {
        ("q1_1_curve", "property"), ("q1_5_logistic_from_softmax", "property")}
    # q1_4 had only hidden checks; q3_3 keeps its visible check's share of the points (4 of 9).
    assert "q1_4" not in bundle.public_questions
    points = {q.id: q.points for q in public.questions}
    assert points["q3_3"] == 4 and points["q1_2"] == 5 and points["q4_1"] == 3


def test_frozen_expectations_and_mistakes_are_literals(bundle):
    data = tomllib.loads((bundle.out / RUBRIC_NAME).read_text())
    assert "reference" not in data["assignment"]
    checks = {c["answer"]: c for q in data["questions"] for c in q["checks"]}
    update = checks["q3_3_update"]
    assert set(update["value"]) == {"w1", "b1"} and "exp(" in update["value"]["w1"]
    assert {m["id"] for m in update["mistakes"]} == {"flipped-b0", "no-learning-rate"}
    batch = checks["q1_2_batch_mean_std"]
    assert batch["inputs"][0] == [2.0, 4] and batch["outputs"][0] == 1.0
    assert batch["mistakes"][0]["outputs"][0] == 0.5  # sigma / m
    gd = checks["q5_1_gd_matrix"]
    assert gd["array_args"] == [0] and gd["outputs"][0]["dtype"] == "float64"
    assert all("expected" not in c and "inputs_from" not in c for c in checks.values())


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
    assert "| q3_3: One step of gradient descent | 9 | in part" in readme


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
    assert "withheld: q1_4 q1_4_params: hidden from students" in printed
    assert "withheld: q1_1 q1_1_curve: a property check" in printed
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
def test_the_public_rubric_grades_as_the_full_one_does(bundle, hw2_hidden):
    from grader import grade_submission

    carol = EXAMPLES / "carol.ipynb"
    full = grade_submission(carol, load_rubric(hw2_hidden.rubric))
    public = grade_submission(carol, load_rubric(bundle.out / RUBRIC_NAME))
    by_answer = {c.answer: c for q in full.questions for c in q.checks}
    compared = 0
    for q in public.questions:
        for c in q.checks:
            f = by_answer[c.answer]
            assert (c.status, c.score, c.mistake, c.message) == (
                f.status, f.score, f.mistake, f.message), c.answer
            # sstr text read back is the same expression, which sympy may print rearranged
            if c.kind != "symbolic":
                assert c.expected == f.expected, c.answer
            compared += 1
    assert compared == 29 - len(hw2_hidden.hidden) - 2  # all but hidden and property checks
    # carol's mistakes in visible checks are named from the frozen mistakes
    assert {c.mistake for q in public.questions for c in q.checks} == {
        None, "sigma-over-m", "flipped-b0"}


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
    out = release(tmp_path / "hw.toml", tmp_path / "dist").out
    data = tomllib.loads((out / RUBRIC_NAME).read_text())
    assert data["execution"] == {"timeout": 30}
    (question,) = data["questions"]
    assert question["points"] == 1.0
    (check,) = question["checks"]
    assert (check["sigfigs"], check["call_timeout"], check["array_args"]) == (3, 2, [0])
    assert check["inputs"] == [[[1.0, 2.0]], [[0.5]]]
    assert check["outputs"][1] == {"array": [1.0], "dtype": "float64"}
    public = load_rubric(out / RUBRIC_NAME)
    assert public.questions[0].checks[0].sigfigs == 3
    nb = nbformat.read(out / "mini.ipynb", as_version=4)
    assert "def double(x):" in nb.cells[3].source and "Double it." in nb.cells[2].source
