"""`grader gradescope`: results.json in Gradescope's layout, valid per its specification.

The JSON schema in tests/data/ is written from Gradescope's published "Autograder
Specifications" (the output format of /autograder/results/results.json).
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from grader.cli import main
from grader.gradescope import VISIBILITY_ORDER, number_of, question_visibility, render
from grader.results import CheckResult, QuestionResult, RunLog, SubmissionResult
from grader.rubric import VISIBILITIES

ROOT = Path(__file__).parents[1]
EXAMPLES = ROOT / "submissions_example"
SCHEMA = json.loads((Path(__file__).parent / "data" / "gradescope_results.schema.json")
                    .read_text())


def validate(data: dict) -> None:
    import jsonschema

    jsonschema.Draft202012Validator.check_schema(SCHEMA)
    jsonschema.validate(data, SCHEMA, cls=jsonschema.Draft202012Validator)


def check(answer: str, visibility: str = "visible", status: str = "passed",
          kind: str = "numeric") -> CheckResult:
    return CheckResult(answer=answer, kind=kind, status=status,  # type: ignore[arg-type]
                       score=1.0 if status == "passed" else 0.0, max_score=1.0,
                       message="Correct." if status == "passed" else "Wrong.",
                       expected="42" if visibility == "visible" else None, received="41",
                       visible=visibility == "visible", visibility=visibility)


def question(qid: str, *checks: CheckResult) -> QuestionResult:
    return QuestionResult(id=qid, title=f"title of {qid}", score=sum(c.score for c in checks),
                          max_score=float(len(checks)), status="passed", checks=checks)


def test_the_schema_refuses_what_the_specification_does_not_allow():
    import jsonschema

    good = {"score": 1.0, "tests": [{"name": "a", "score": 1, "max_score": 1,
                                     "status": "passed", "visibility": "after_published"}]}
    validate(good)
    for bad in ({"tests": [{"name": "no score anywhere"}]},
                {"score": 1, "visibility": "later"},
                {"score": 1, "tests": [{"score": 1, "status": "ok"}]},
                {"score": 1, "tests": [{"score": 1, "number": 1.1}]},
                {"score": 1, "tests": [{"score": 1, "max_points": 2}]},
                {"score": "1"}):
        with pytest.raises(jsonschema.ValidationError):
            validate(bad)


def test_a_question_is_as_hidden_as_its_most_hidden_check():
    assert set(VISIBILITY_ORDER) == set(VISIBILITIES)
    assert question_visibility(question("q", check("a"))) == "visible"
    assert question_visibility(question("q", check("a"), check("b", "after_due_date"))) == (
        "after_due_date")
    assert question_visibility(question("q", check("a", "after_published"),
                                        check("b", "after_due_date"))) == "after_published"
    assert question_visibility(question("q", check("a", "hidden"),
                                        check("b", "after_published"))) == "hidden"


@pytest.mark.parametrize(("qid", "number"), [("q3_1", "3.1"), ("q1", "1"), ("Q2.4", "2.4"),
                                             ("part-a", "7"), ("ex2-3", "2.3")])
def test_test_numbers_come_from_question_ids(qid, number):
    assert number_of(qid, 7) == number


def test_render_follows_the_specification_without_showing_hidden_expectations():
    manual = CheckResult(answer="essay", kind="manual", status="manual", score=0.0,
                         max_score=2.0, message="Collected.", received="my text")
    result = SubmissionResult(
        student="s", submission="/autograder/submission/hw2.ipynb", score=2.0, max_score=6.0,
        questions=(question("q1_1", check("a"), manual),
                   question("q1_2", check("b", status="failed"),
                            check("c", "hidden", status="failed")),
                   question("q2", check("d", "after_due_date"))),
        run=RunLog(cells_total=3, cells_run=3))
    data = render(result, seconds=2.6)
    validate(data)
    assert (data["score"], data["execution_time"], data["stdout_visibility"]) == (2.0, 3,
                                                                                   "hidden")
    tests = {t["number"]: t for t in data["tests"]}
    assert [t["visibility"] for t in tests.values()] == ["visible", "hidden", "after_due_date"]
    assert tests["1.1"]["max_score"] == 1.0 and tests["1.1"]["status"] == "passed"
    assert "essay (text answer, 2 points graded by hand): collected" in tests["1.1"]["output"]
    assert tests["1.2"]["status"] == "failed" and "expected: 42" in tests["1.2"]["output"]
    assert "Graded hw2.ipynb: 2 of 4 auto-graded points." in data["output"]
    assert "Text answers (2 points) are graded by hand." in data["output"]


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
    tests = {t["name"].split(":")[0]: t for t in data["tests"]}
    assert len(tests) == 19 and [t["number"] for t in data["tests"]][:3] == ["1.1", "1.2", "1.3"]
    assert data["score"] == pytest.approx(sum(t["score"] for t in data["tests"]))
    # Hidden checks make their questions hidden; q5_3 waits for the due date.
    hidden = {q for q, t in tests.items() if t["visibility"] == "hidden"}
    assert hidden == {"q1_4", "q3_1", "q3_3", "q4_1"}
    assert tests["q5_3"]["visibility"] == "after_due_date"
    assert tests["q1_4"]["status"] == "failed" and "no-output-bias" not in data["output"]
    assert tests["q1_2"]["status"] == "failed" and tests["q1_2"]["visibility"] == "visible"
    assert tests["q1_3"]["max_score"] == 0 and tests["q1_3"]["status"] == "passed"
    # Nothing a student sees now shows a hidden check's values. (The "received" lines echo
    # the student's own answers: carol's curve has batch sizes 128 and 256, which happen to
    # be hidden inputs of count_params too.)
    shown = [data["output"]] + [t["output"] for t in data["tests"]
                                if t["visibility"] == "visible"]
    shown_text = "\n".join(line for text in shown for line in text.splitlines()
                           if not line.strip().startswith("received:"))
    assert "expected:" in shown_text and not secrets.find(shown_text)
    # ... while the staff-only outputs do carry them (the search is not blind).
    assert secrets.find(tests["q1_4"]["output"])
    assert "1.2 failed 0.75/3 [visible] q1_2" in " ".join(capsys.readouterr().out.split())


def test_an_empty_submission_folder_still_gets_a_results_file(hw2_hidden, tmp_path):
    submission = tmp_path / "submission"
    submission.mkdir()
    (submission / "notes.txt").write_text("no notebook here")
    results = tmp_path / "results" / "results.json"
    assert main(["gradescope", "--rubric", str(hw2_hidden.rubric),
                 "--submission-dir", str(submission), "--results", str(results)]) == 0
    data = json.loads(results.read_text())
    validate(data)
    assert data["score"] == 0 and all(t["status"] == "failed" for t in data["tests"])
    assert "nothing to grade" in data["tests"][0]["output"]
    assert "hw2.ipynb, hw2.py" in data["tests"][0]["output"]


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
