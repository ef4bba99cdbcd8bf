"""The pytest plugin in a student's repository made from a release, and `grader check`.

pytest runs inside these tests through pytester. The plugin is loaded by its ``pytest11``
entry point when the grader is installed, else with ``-p grader.plugin``.
"""

from __future__ import annotations

import gc
import importlib.metadata
import os
import shutil
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

import grader.grade
from grader.cli import main
from grader.release import RUBRIC_NAME, release
from grader.results import CheckResult, QuestionResult, RunLog, SubmissionResult

ROOT = Path(__file__).parents[1]
EXAMPLES = ROOT / "submissions_example"

# The release of HW2 has 19 public questions; five hold text answers only (q1_1 keeps only
# its text answer, the curve being a property check): they are skipped.
PUBLIC_QUESTIONS = 19
TEXT_ONLY = 5
# carol's mistakes the bundle's public checks can see: her q1_2 function on its public
# inputs and her q1_4 count, through their hashes. Her q3_3 update has the right form.
CAROL_FAILS = ("q1_2", "q1_4")


def plugin_args() -> list[str]:
    """``-p grader.plugin`` unless the installed entry point loads the plugin already."""
    autoload = not os.environ.get("PYTEST_DISABLE_PLUGIN_AUTOLOAD")
    points = importlib.metadata.entry_points(group="pytest11")
    if autoload and any(ep.name == "grader" and ep.value == "grader.plugin" for ep in points):
        return []
    return ["-p", "grader.plugin"]


def test_the_entry_point_is_declared():
    import tomllib

    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    assert project["entry-points"]["pytest11"] == {"grader": "grader.plugin"}


@pytest.fixture
def quick(monkeypatch):
    """No plugins but ours in the inner pytest: other installed plugins cost a second a run."""
    monkeypatch.setenv("PYTEST_DISABLE_PLUGIN_AUTOLOAD", "1")


@pytest.fixture(scope="module")
def bundle(tmp_path_factory):
    return release(ROOT / "rubrics" / "hw2.toml", tmp_path_factory.mktemp("dist") / "hw2")


def student_repo(pytester: pytest.Pytester, bundle, notebook: Path | None) -> Path:
    """The student's repository: the bundle's files, and their notebook as hw2.ipynb."""
    for path in bundle.files:
        dest = pytester.path / path.relative_to(bundle.out)
        dest.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(path, dest)
    if notebook is not None:
        shutil.copy(notebook, pytester.path / "hw2.ipynb")
    return pytester.path


# --------------------------------------------------------------------------- end to end


@pytest.mark.kernel
def test_the_correct_example_passes_in_a_student_repository(pytester, bundle, answer_key):
    student_repo(pytester, bundle, EXAMPLES / "alice.ipynb")
    result = pytester.runpytest(*plugin_args(), "-v", "-rs")
    result.assert_outcomes(passed=PUBLIC_QUESTIONS - TEXT_ONLY, skipped=TEXT_ONLY)
    assert result.ret == pytest.ExitCode.OK
    result.stdout.fnmatch_lines([
        "*hw2.ipynb::q1_3 SKIPPED*", "*hw2.ipynb::q4_2 PASSED*", "*= grader =*",
        "hw2.ipynb: * points on the visible auto-graded checks; all passed",
        "SKIPPED [[]1[]] hw2.ipynb: q1_3: text answer (q1_3_explanation) collected; a TA "
        "grades it"])
    assert not answer_key.find(result.stdout.str())


@pytest.mark.kernel
def test_the_flawed_example_fails_naming_the_questions(pytester, bundle, answer_key,
                                                       monkeypatch):
    student_repo(pytester, bundle, EXAMPLES / "carol.ipynb")
    summary = pytester.path / "step_summary.md"
    summary.write_text("earlier steps\n")
    monkeypatch.setenv("GITHUB_STEP_SUMMARY", str(summary))
    result = pytester.runpytest(*plugin_args(), "--junitxml=report.xml")
    result.assert_outcomes(failed=len(CAROL_FAILS), skipped=TEXT_ONLY,
                           passed=PUBLIC_QUESTIONS - TEXT_ONLY - len(CAROL_FAILS))
    assert result.ret == pytest.ExitCode.TESTS_FAILED
    out = result.stdout.str()
    result.stdout.fnmatch_lines([f"FAILED hw2.ipynb::{q}*" for q in CAROL_FAILS])
    # The failure text says what the public check saw, never the answer or a traceback.
    assert "q1_2_batch_mean_std(2.0, 9) does not return the expected value" in out
    assert "Does not match the expected answer" in out  # q1_4's hashed count
    assert "sigma_p / sqrt(m)" not in out  # mistakes' feedback stays in the full rubric
    assert "Traceback" not in out and "grader/plugin.py" not in out

    tree = ET.parse(pytester.path / "report.xml")
    cases = {case.get("name"): case for case in tree.iter("testcase")}
    assert len(cases) == PUBLIC_QUESTIONS
    failures = {name: case.find("failure") for name, case in cases.items()
                if case.find("failure") is not None}
    assert set(failures) == set(CAROL_FAILS)
    assert "does not return the expected value" in (failures["q1_2"].text or "")
    assert sum(case.find("skipped") is not None for case in cases.values()) == TEXT_ONLY

    table = summary.read_text()
    assert table.startswith("earlier steps\n### grader: hw2.ipynb")
    assert "| q1_2: Batch normalisation injects noise | ❌ failed | 0 / 3 |" in table
    assert "| q4_2: Bias of the first moment towards zero | ✅ passed | 5 / 5 |  |" in table
    for text in (out, (pytester.path / "report.xml").read_text(), table):
        assert not answer_key.find(text)


@pytest.mark.kernel
def test_grader_check_prints_the_same_result_as_a_table(bundle, answer_key, capsys):
    status = main(["check", str(EXAMPLES / "carol.ipynb"),
                   "--rubric", str(bundle.out / RUBRIC_NAME)])
    out = capsys.readouterr().out
    assert status == 1
    table = out.split("\n\n")[0].splitlines()
    assert table[0].split() == ["question", "result", "points", "feedback"]
    lines = {line.split()[0]: line for line in table[1:]}
    assert len(lines) == PUBLIC_QUESTIONS
    assert all(lines[q].split()[1] == "failed" for q in CAROL_FAILS)
    assert lines["q4_2"].split()[1:3] == ["passed", "5/5"]
    assert lines["q1_3"].split()[1] == "manual"
    assert "Feedback:" in out and "does not return the expected value" in out
    assert not answer_key.find(out)


# --------------------------------------------------------------------------- no kernel


def test_the_plugin_is_inert_without_its_settings(pytester, quick):
    pytester.makepyfile(test_plain="def test_ok():\n    assert True\n")
    result = pytester.runpytest(*plugin_args())
    result.assert_outcomes(passed=1)
    assert "= grader =" not in result.stdout.str()  # no summary section: nothing was graded
    help_text = pytester.runpytest(*plugin_args(), "--help").stdout.str()
    assert "--grader-rubric=TOML" in help_text and "grader_submission" in help_text


def test_one_setting_alone_is_a_usage_error(pytester, quick, bundle):
    student_repo(pytester, bundle, None)
    result = pytester.runpytest(*plugin_args(), "-o", "grader_submission=",
                                "-p", "no:cacheprovider")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    assert "grader_rubric is set but grader_submission is not" in result.stderr.str()


@pytest.mark.parametrize(("args", "message"), [
    (["--grader-rubric", "nowhere.toml"], "cannot read the rubric"),
    (["--grader-submission", "missing.ipynb"], "missing.ipynb does not exist"),
])
def test_a_wrong_setting_is_a_usage_error(pytester, quick, bundle, args, message):
    student_repo(pytester, bundle, EXAMPLES / "alice.ipynb")
    result = pytester.runpytest(*plugin_args(), *args)
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    assert message in result.stderr.str()


def test_command_line_options_collect_one_item_per_question_without_importing(pytester, quick,
                                                                              bundle):
    # A module submission that pytest would import as a test file: only the plugin collects
    # it, and collecting never runs it.
    shutil.copy(bundle.out / RUBRIC_NAME, pytester.path / "public.toml")
    marker = pytester.path / "imported"
    pytester.makepyfile(test_hw2=f"open({str(marker)!r}, 'w').close()\n"
                                 "def test_not_collected():\n    pass\n")
    result = pytester.runpytest(*plugin_args(), "--collect-only", "-q",
                                "--grader-rubric", "public.toml",
                                "--grader-submission", "test_hw2.py")
    assert result.ret == pytest.ExitCode.OK
    result.stdout.fnmatch_lines(["test_hw2.py::q1_1", "test_hw2.py::q1_2", "test_hw2.py::q6_2",
                                 f"{PUBLIC_QUESTIONS} tests collected*"])
    assert "test_not_collected" not in result.stdout.str()
    assert not marker.exists()


FAKE_RUBRIC = """\
[assignment]
id = "fake"

[[questions]]
id = "q1"
title = "Visible and hidden"
points = 2
  [[questions.checks]]
  answer = "a"
  kind = "numeric"
  value = 1
  [[questions.checks]]
  answer = "b"
  kind = "numeric"
  value = 424242
  feedback = "verdict"
  public = "none"

[[questions]]
id = "q2"
title = "Hidden only"
points = 1
  [[questions.checks]]
  answer = "c"
  kind = "numeric"
  value = 3
  feedback = "full"
  feedback_when = "due_date"
  public = "none"

[[questions]]
id = "q3"
title = "Visible, wrong"
points = 1
  [[questions.checks]]
  answer = "d"
  kind = "numeric"
  value = 4
"""


def fake_result(path: str) -> SubmissionResult:
    """What the facade would return: q1's hidden check and q3 fail."""
    def check(answer, status, score, message, visibility="visible", expected=None,
              received=None):
        return CheckResult(answer=answer, kind="numeric", status=status, score=score,
                           max_score=1.0, message=message, expected=expected,
                           received=received, visible=visibility == "visible",
                           visibility=visibility)

    questions = (
        QuestionResult(id="q1", title="Visible and hidden", score=1.0, max_score=2.0,
                       status="partial", checks=(
                           check("a", "passed", 1.0, "Correct.", expected="1", received="1"),
                           check("b", "failed", 0.0, "expected exactly 424242, got 5",
                                 visibility="hidden", received="5"))),
        QuestionResult(id="q2", title="Hidden only", score=0.0, max_score=1.0,
                       status="failed", checks=(
                           check("c", "failed", 0.0, "expected exactly 3, got 2",
                                 visibility="after_due_date"),)),
        QuestionResult(id="q3", title="Visible, wrong", score=0.0, max_score=1.0,
                       status="failed", checks=(
                           check("d", "failed", 0.0, "Expected exactly 4, got 5.",
                                 expected="4", received="5"),)),
    )
    return SubmissionResult(student="hw", submission=path, score=1.0, max_score=4.0,
                            questions=questions, run=RunLog(cells_total=1, cells_run=1))


def test_one_grading_per_session_and_only_visible_checks_count(pytester, quick, monkeypatch):
    calls = []

    def fake_grade_submission(path, rubric, **kwargs):
        calls.append(Path(path))
        return fake_result(str(path))

    monkeypatch.setattr(grader.grade, "grade_submission", fake_grade_submission)
    pytester.makefile(".toml", rubric=FAKE_RUBRIC)
    pytester.makefile(".ipynb", hw="{}")
    pytester.makeini("[pytest]\ngrader_rubric = rubric.toml\ngrader_submission = hw.ipynb\n")
    frozen = gc.get_freeze_count()
    result = pytester.runpytest(*plugin_args(), "-rs")
    assert calls == [pytester.path / "hw.ipynb"]
    # Only pytest as the process's command freezes its objects out of the collector's
    # walks (test_fastpath); an in-process run leaves the caller's collector as it was.
    assert gc.get_freeze_count() == frozen
    result.assert_outcomes(passed=1, failed=1, skipped=1)
    out = result.stdout.str()
    assert "424242" not in out  # the hidden check's failure shows nowhere
    assert ("q3 (Visible, wrong): 0 of 1 points\n- d [numeric] failed: Expected exactly 4, "
            "got 5.\n    expected: 4\n    received: 5\n") in out
    result.stdout.fnmatch_lines([
        "hw.ipynb: 1 of 2 points on the visible auto-graded checks; failed: q3",
        "SKIPPED [[]1[]] hw.ipynb: q2: checked only in the final grading"])


def test_a_submission_that_cannot_be_graded_fails_every_question(pytester, quick, monkeypatch):
    from grader.errors import SubmissionError

    def broken(path, rubric, **kwargs):
        raise SubmissionError("not a notebook", path=str(path))

    monkeypatch.setattr(grader.grade, "grade_submission", broken)
    pytester.makefile(".toml", rubric=FAKE_RUBRIC)
    pytester.makefile(".ipynb", hw="{}")
    result = pytester.runpytest(*plugin_args(), "--grader-rubric", "rubric.toml",
                                "--grader-submission", "hw.ipynb")
    result.assert_outcomes(failed=3)
    result.stdout.fnmatch_lines(["*hw.ipynb could not be graded: *not a notebook*"])
