"""`grader gradescope`: results.json in Gradescope's layout, one test per check, valid per spec.

The JSON schema in tests/data/ is written from Gradescope's published "Autograder
Specifications" (the output format of /autograder/results/results.json). Each check's
test shows what its ``feedback`` allows, when its visibility says; text answers are
pending tests without a score.
"""

from __future__ import annotations

import dataclasses
import json
import shutil
import warnings
from pathlib import Path

import pytest

from grader.checks.protocol import make_result
from grader.cli import main
from grader.errors import RubricWarning
from grader.gradescope import (
    HIDDEN_OUTPUT,
    VISIBILITY_ORDER,
    check_output,
    number_of,
    render,
    visibility_of,
)
from grader.results import CellError, CheckResult, QuestionResult, RunLog, SubmissionResult
from grader.rubric import VISIBILITIES, load_rubric

ROOT = Path(__file__).parents[1]
EXAMPLES = ROOT / "submissions_example"
MINI = Path(__file__).parent / "data" / "mini"
SCHEMA = json.loads((Path(__file__).parent / "data" / "gradescope_results.schema.json")
                    .read_text())
# The mini rubric with a check of every Gradescope visibility, in the rubric's keys of
# today (the old `visibility` key: hidden gives a verdict-only, hidden test).
MINI_VISIBILITY = {"k": "hidden", "v": "after_due_date", "flag": "after_published",
                   "grad": "hidden", "stats": "hidden"}
SECRET = "SECRET-7731"  # an expected value no test that hides it may show


def validate(data: dict) -> None:
    import jsonschema

    jsonschema.Draft202012Validator.check_schema(SCHEMA)
    jsonschema.validate(data, SCHEMA, cls=jsonschema.Draft202012Validator)


def check(answer: str, visibility: str = "visible", status: str = "passed",
          kind: str = "numeric", feedback: str = "full") -> CheckResult:
    full = feedback == "full"
    return CheckResult(answer=answer, kind=kind, status=status,  # type: ignore[arg-type]
                       score={"passed": 1.0, "partial": 0.5}.get(status, 0.0), max_score=1.0,
                       message="Correct." if status == "passed" else f"Wrong {answer}.",
                       expected=SECRET if full else None, received="41",
                       hint="off by one" if full else "", visible=full,
                       visibility=visibility, feedback=feedback)


def text(answer: str, status: str = "manual", points: float = 2.0) -> CheckResult:
    message = "Collected; a TA will grade this answer." if status == "manual" else (
        f"No answer: define `{answer}` as a string.")
    return CheckResult(answer=answer, kind="manual", status=status,  # type: ignore[arg-type]
                       score=0.0, max_score=points, message=message,
                       received="my text" if status == "manual" else None)


def question(qid: str, *checks: CheckResult) -> QuestionResult:
    return QuestionResult(id=qid, title=f"title of {qid}", score=sum(c.score for c in checks),
                          max_score=sum(c.max_score for c in checks), status="passed",
                          checks=checks)


def result_of(*questions: QuestionResult, run: RunLog | None = None) -> SubmissionResult:
    return SubmissionResult(
        student="s", submission="/autograder/submission/hw2.ipynb",
        score=sum(q.score for q in questions), max_score=sum(q.max_score for q in questions),
        questions=questions, run=run or RunLog(cells_total=3, cells_run=3))


def by_answer(data: dict) -> dict[str, dict]:
    """The tests of a results document by the answer their name ends in."""
    return {t["name"].removesuffix(" (graded by hand)").rsplit(": ", 1)[1]: t
            for t in data["tests"]}


def test_the_schema_refuses_what_the_specification_does_not_allow():
    import jsonschema

    good = {"score": 1.0, "tests": [{"name": "a", "score": 1, "max_score": 1,
                                     "status": "passed", "visibility": "after_published"}]}
    validate(good)
    # A test may go without score and status when the top level has the score.
    validate({"score": 0, "tests": [{"name": "by hand", "output": "a TA grades it"}]})
    for bad in ({"tests": [{"name": "no score anywhere"}]},
                {"score": 1, "visibility": "later"},
                {"score": 1, "tests": [{"score": 1, "status": "ok"}]},
                {"score": 1, "tests": [{"score": 1, "status": "pending"}]},
                {"score": 1, "tests": [{"score": 1, "number": 1.1}]},
                {"score": 1, "tests": [{"score": 1, "max_points": 2}]},
                {"score": "1"}):
        with pytest.raises(jsonschema.ValidationError):
            validate(bad)


@pytest.mark.parametrize(("feedback", "visibility", "shown"), [
    ("full", "visible", "visible"),
    ("full", "after_due_date", "after_due_date"),
    ("verdict", "after_published", "after_published"),
    ("verdict", "hidden", "hidden"),
    ("none", "visible", "hidden"),
    ("none", "after_due_date", "hidden"),
    ("full", "later", "hidden"),  # a visibility Gradescope does not know hides the test
    ("some", "visible", "hidden"),  # so does a feedback the grader does not know
])
def test_a_tests_visibility_comes_from_its_checks_feedback_and_visibility(
        feedback, visibility, shown):
    assert set(VISIBILITY_ORDER) == set(VISIBILITIES)
    assert visibility_of(check("a", visibility, feedback=feedback)) == shown


def test_results_from_before_feedback_existed_show_in_full():
    old = {f.name: getattr(check("a", status="failed"), f.name)
           for f in dataclasses.fields(CheckResult) if f.name != "feedback"}
    c = CheckResult(**old)
    assert c.feedback == "full" and visibility_of(c) == "visible"
    assert f"expected: {SECRET}" in check_output(c)


def test_what_each_feedback_shows_of_a_failed_check():
    full = check_output(check("a", status="failed"))
    assert full.splitlines() == ["failed: 0 of 1 points", "Wrong a.", "off by one",
                                 f"expected: {SECRET}", "received: 41"]
    # verdict: status and message only, even if a result carried more
    leaky = dataclasses.replace(check("a", status="partial"), feedback="verdict")
    assert check_output(leaky).splitlines() == ["partial credit: 0.5 of 1 points", "Wrong a."]
    # none: nothing of the answer (the test is hidden besides)
    none = dataclasses.replace(check("a", status="failed"), feedback="none")
    assert check_output(none).splitlines() == ["failed: 0 of 1 points", HIDDEN_OUTPUT]


@pytest.mark.parametrize(("qid", "number"), [("q3_1", "3.1"), ("q1", "1"), ("Q2.4", "2.4"),
                                             ("part-a", "7"), ("ex2-3", "2.3")])
def test_test_numbers_come_from_question_ids(qid, number):
    assert number_of(qid, 7) == number


def test_one_test_per_check_with_its_own_visibility_and_text_answers_pending():
    result = result_of(
        question("q1_1", check("a"), text("essay")),
        question("q1_2", check("b", status="failed"),
                 check("c", "hidden", status="failed", feedback="none"),
                 check("d", "after_published", status="partial", feedback="verdict")),
        question("q2", check("e", "after_due_date")),
        question("q3", text("missing_essay", status="missing", points=3.0)),
        run=RunLog(cells_total=3, cells_run=3,
                   errors=(CellError(index=2, source="x", ename="ValueError", evalue="bad",
                                     traceback=""),)))
    data = render(result, seconds=2.6)
    validate(data)
    assert (data["score"], data["execution_time"], data["stdout_visibility"]) == (2.5, 3,
                                                                                   "hidden")
    tests = by_answer(data)
    assert [(t["number"], t["visibility"]) for t in data["tests"]] == [
        ("1.1a", "visible"), ("1.1b", "visible"), ("1.2a", "visible"), ("1.2b", "hidden"),
        ("1.2c", "after_published"), ("2", "after_due_date"), ("3", "visible")]
    assert tests["a"]["name"] == "q1_1 title of q1_1: a"
    assert (tests["a"]["status"], tests["a"]["score"], tests["a"]["max_score"]) == (
        "passed", 1.0, 1.0)
    # Partial credit keeps its points but is not "passed".
    assert (tests["d"]["status"], tests["d"]["score"]) == ("failed", 0.5)
    assert "Wrong d." in tests["d"]["output"] and "received" not in tests["d"]["output"]
    assert f"expected: {SECRET}" in tests["b"]["output"]
    assert "Wrong c." not in tests["c"]["output"] and SECRET not in tests["c"]["output"]
    # Text answers: pending for a TA, no score or status; a missing one is failed.
    essay = tests["essay"]
    assert essay["name"] == "q1_1 title of q1_1: essay (graded by hand)"
    assert not {"score", "max_score", "status"} & set(essay)
    assert essay["output"].startswith("Text answer, 2 points, graded by hand by a TA: "
                                      "collected.\n")
    missing = tests["missing_essay"]
    assert missing["status"] == "failed" and "score" not in missing
    assert "3 points, graded by hand by a TA: not collected. No answer: define " \
           "`missing_essay`" in missing["output"]
    assert "passed" not in essay["output"] + missing["output"]
    # The top level: auto-graded points, text answers aside, and the cells that raised.
    assert data["score"] == sum(t.get("score", 0) for t in data["tests"])
    assert data["visibility"] == "visible" and SECRET not in data["output"]
    assert "Graded hw2.ipynb: 2.5 of 5 auto-graded points." in data["output"]
    assert "Text answers (5 points) are graded by hand." in data["output"]
    assert "Cell 2 raised ValueError: bad" in data["output"]


@pytest.fixture(scope="module")
def mini_rubric(tmp_path_factory) -> Path:
    """The mini rubric (every check kind) with checks of every visibility."""
    text = (MINI / "rubric.toml").read_text("utf-8").replace(
        'reference = "reference.py"', f"reference = {str(MINI / 'reference.py')!r}")
    for answer, visibility in MINI_VISIBILITY.items():
        line = f'answer = "{answer}"\n'
        assert text.count(line) == 1, answer
        text = text.replace(line, f'{line}  visibility = "{visibility}"\n')
    path = tmp_path_factory.mktemp("mini") / "rubric.toml"
    path.write_text(text, "utf-8")
    return path


def _load(path: Path):
    with warnings.catch_warnings():  # the old keys are deprecated aliases
        warnings.simplefilter("ignore", RubricWarning)
        return load_rubric(path)


def test_a_rubrics_checks_become_tests_of_their_visibility(mini_rubric):
    """Results made from the loaded rubric's checks, as the kinds make them (no kernel)."""
    rubric = _load(mini_rubric)
    questions = []
    for q in rubric.questions:
        share = q.points / len(q.checks)
        checks = tuple(
            make_result(spec, share, fraction=0.0, status="failed", message="Wrong.",
                        expected=SECRET, received="41") if spec.kind != "manual" else
            make_result(spec, share, fraction=0.0, status="manual", message="Collected.",
                        received="because")
            for spec in q.checks)
        questions.append(QuestionResult(id=q.id, title=q.title, score=0.0,
                                        max_score=q.points, status="failed", checks=checks))
    # And checks whose feedback the old keys cannot say: verdict now, none later.
    q_fun = questions[3]
    double, stats = q_fun.checks
    questions[3] = dataclasses.replace(q_fun, checks=(
        dataclasses.replace(double, feedback="verdict", visible=False, expected=None),
        dataclasses.replace(stats, feedback="none", visibility="after_due_date",
                            visible=False, expected=None)))
    data = render(result_of(*questions), seconds=1)
    validate(data)
    tests = by_answer(data)
    assert len(data["tests"]) == sum(len(q.checks) for q in rubric.questions) == 9
    assert {a: t["visibility"] for a, t in tests.items()} == {
        "k": "hidden", "v": "after_due_date", "flag": "after_published", "expr": "visible",
        "grad": "hidden", "double": "visible", "stats": "hidden", "curve": "visible",
        "why": "visible"}
    for answer in ("v", "flag", "expr", "curve"):  # full feedback: the expected value
        assert f"expected: {SECRET}" in tests[answer]["output"], answer
    for answer in ("k", "grad", "double", "stats"):  # verdict or none: never
        assert SECRET not in tests[answer]["output"], answer
        assert "received" not in tests[answer]["output"], answer
    assert "Wrong." in tests["double"]["output"] and "Wrong." not in tests["stats"]["output"]
    assert "score" not in tests["why"] and "TA" in tests["why"]["output"]
    shown = [t["output"] for t in data["tests"] if t["visibility"] == "visible"]
    assert SECRET not in data["output"] and not any(SECRET in o for o in shown
                                                    if "expected" not in o)


@pytest.mark.kernel
@pytest.mark.parametrize("name", ["good.ipynb", "wrong.ipynb", "raises.ipynb",
                                  "broken.ipynb"])
def test_gradescope_runs_on_the_mini_submissions(mini_rubric, name, tmp_path):
    submission = tmp_path / "submission"
    submission.mkdir()
    shutil.copy(MINI / "submissions" / name, submission / name)
    results = tmp_path / "results" / "results.json"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RubricWarning)
        assert main(["gradescope", "--rubric", str(mini_rubric),
                     "--submission-dir", str(submission), "--results", str(results)]) == 0
    data = json.loads(results.read_text())
    validate(data)
    tests = by_answer(data)
    assert len(tests) == len(data["tests"]) == 9
    visibility = {a: t["visibility"] for a, t in tests.items()}
    assert visibility == {a: MINI_VISIBILITY.get(a, "visible") for a in tests}
    assert data["score"] == pytest.approx(sum(t.get("score", 0) for t in data["tests"]))
    assert "score" not in tests["why"] and tests["why"].get("status") != "passed"
    status = {a: t.get("status") for a, t in tests.items() if a != "why"}
    if name == "good.ipynb":
        assert set(status.values()) == {"passed"} and data["score"] == 9
        assert "graded by hand by a TA: collected." in tests["why"]["output"]
    elif name == "wrong.ipynb":
        assert set(status.values()) == {"failed"} and 0 < data["score"] < 9
        assert tests["why"]["status"] == "failed"
        assert "expected:" in tests["v"]["output"]  # full feedback, after the due date
        # the hidden check's mistake is named only in its hidden test, without its value
        assert "You forgot the output bias." in tests["k"]["output"]
        assert "661" not in tests["k"]["output"]
    elif name == "raises.ipynb":
        assert "Cell 2 raised NameError" in data["output"]
        assert status["k"] == "passed" and status["flag"] == "failed"
    else:
        assert data["score"] == 0 and set(status.values()) == {"failed"}
        assert "unreadable" in data["output"]


@pytest.mark.kernel
def test_gradescope_run_on_the_flawed_example(hw2_hidden, secrets, tmp_path, capsys):
    submission = tmp_path / "autograder" / "submission"
    submission.mkdir(parents=True)
    shutil.copy(EXAMPLES / "carol.ipynb", submission / "hw2.ipynb")
    results = tmp_path / "autograder" / "results" / "results.json"
    assert main(["gradescope", "--rubric", str(hw2_hidden.rubric),
                 "--submission-dir", str(submission), "--results", str(results)]) == 0
    data = json.loads(results.read_text())
    validate(data)
    rubric = load_rubric(hw2_hidden.rubric)
    specs = {c.answer: c for q in rubric.questions for c in q.checks}
    tests = by_answer(data)
    assert set(tests) == set(specs) and len(data["tests"]) == len(specs)
    assert [t["number"] for t in data["tests"]][:4] == ["1.1a", "1.1b", "1.2a", "1.2b"]
    assert data["score"] == pytest.approx(sum(t.get("score", 0) for t in data["tests"]))
    # Each check's test is as hidden as its own feedback says, not its question's.
    for answer, t in tests.items():
        spec = specs[answer]
        assert t["visibility"] == ("hidden" if spec.feedback == "none" else spec.visibility)
        if spec.feedback != "full":
            assert "expected:" not in t["output"] and "received:" not in t["output"]
        if spec.kind == "manual":
            assert "score" not in t and "by hand" in t["output"], answer
    hidden = {a for a, t in tests.items() if t["visibility"] == "hidden"}
    assert hidden >= {a for a, v in hw2_hidden.hidden.items() if v == "hidden"}
    assert tests["count_params"]["visibility"] == "hidden"
    assert tests["q1_2_batch_mean_std"]["visibility"] != "hidden"  # of the same course...
    assert tests["q5_3_converges"]["visibility"] == "after_due_date"
    assert tests["q5_3_max_lr"]["visibility"] == specs["q5_3_max_lr"].visibility
    assert tests["q1_4_params"]["status"] == "failed"
    assert tests["q1_2_batch_mean_std"]["status"] == "failed"
    # Nothing in any test shows a hidden check's values, not even the staff-only ones.
    # (The "received" lines echo the student's own answers: carol's curve has batch sizes
    # 128 and 256, which happen to be hidden inputs of count_params too.)
    shown = [data["output"]] + [t["output"] for t in data["tests"]]
    shown_text = "\n".join(line for text in shown for line in text.splitlines()
                           if not line.strip().startswith("received:"))
    assert not secrets.find(shown_text)
    assert "no-output-bias" not in json.dumps(data)
    out = " ".join(capsys.readouterr().out.split())
    assert "1.2a failed 0.75/3 [visible] q1_2 Batch normalisation injects noise: " \
           "q1_2_batch_mean_std" in out


def test_an_empty_submission_folder_still_gets_a_results_file(hw2_hidden, tmp_path):
    submission = tmp_path / "submission"
    submission.mkdir()
    (submission / "notes.txt").write_text("no notebook here")
    results = tmp_path / "results" / "results.json"
    assert main(["gradescope", "--rubric", str(hw2_hidden.rubric),
                 "--submission-dir", str(submission), "--results", str(results)]) == 0
    data = json.loads(results.read_text())
    validate(data)
    assert data["score"] == 0 and all(t.get("status") != "passed" for t in data["tests"])
    auto = [t for t in data["tests"] if "score" in t]
    assert auto and all(t["status"] == "failed" for t in auto)
    first = data["tests"][0]["output"]
    assert "nothing to grade" in first and "hw2.ipynb, hw2.py" in first
    assert "nothing to grade" in data["output"]


def test_a_broken_rubric_is_reported_to_the_student_and_fails(tmp_path, capsys):
    rubric = tmp_path / "hw.toml"
    rubric.write_text("[assignment]\n")
    results = tmp_path / "results.json"
    assert main(["gradescope", "--rubric", str(rubric), "--submission-dir", str(tmp_path),
                 "--results", str(results)]) == 2
    data = json.loads(results.read_text())
    validate(data)
    assert data["score"] == 0 and "not set up correctly" in data["output"]
    assert "hw.toml" in capsys.readouterr().err
