"""docs/extending.md's worked example is true: a new kind in one module and one table line."""

from __future__ import annotations

import importlib.util
import re
import sys
from pathlib import Path
from types import ModuleType

import pytest

from grader.answers import MISSING
from grader.checks import Evidence, registry
from grader.errors import RubricError
from grader.rubric import load_rubric

DOC = Path(__file__).parents[1] / "docs" / "extending.md"

RUBRIC = """\
[assignment]
id = "units"

[[questions]]
id = "q1"
points = 2

[[questions.checks]]
answer = "lr_unit"
kind = "regex"
pattern = '(1/s|s\\^-1|per second)'
ignore_case = true
"""


def _blocks(language: str) -> list[str]:
    return re.findall(rf"```{language}\n(.*?)```", DOC.read_text("utf-8"), flags=re.S)


@pytest.fixture
def regex_kind(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> ModuleType:
    """The page's module, imported from its text, and its one registry line."""
    path = tmp_path / "regex_kind.py"
    path.write_text(_blocks("python")[0], "utf-8")
    spec = importlib.util.spec_from_file_location("regex_kind", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    monkeypatch.setitem(sys.modules, "regex_kind", module)
    spec.loader.exec_module(module)
    monkeypatch.setitem(registry.KINDS, "regex", module.KIND)
    return module


def _rubric(tmp_path: Path, text: str = RUBRIC) -> Path:
    path = tmp_path / "units.toml"
    path.write_text(text, "utf-8")
    return path


def test_the_page_shows_the_rubric_the_test_loads() -> None:
    assert RUBRIC.split("[[questions.checks]]\n")[1].strip() in _blocks("toml")[0]
    assert '"regex": regex.KIND,' in _blocks("python")[1]


def test_the_new_kind_loads_and_grades(tmp_path: Path, regex_kind: ModuleType) -> None:
    rubric = load_rubric(_rubric(tmp_path))
    check = rubric.questions[0].checks[0]
    assert check.kind == "regex" and check.options == regex_kind.RegexOptions(
        pattern=r"(1/s|s\^-1|per second)", ignore_case=True)
    kind = registry.kind_of(check)
    empty = rubric.load_reference()

    def verdict(answer: object) -> tuple[str, float]:
        result = kind.grade(check, Evidence(received=answer, reference=empty), 2.0)
        return result.status, result.score

    assert verdict("Per second") == ("passed", 2.0)
    assert verdict(" s^-1 ") == ("passed", 2.0)
    assert verdict("1/s^2") == ("failed", 0.0)
    assert verdict(0.1) == ("failed", 0.0)
    assert verdict(MISSING) == ("missing", 0.0)
    assert rubric.questions[0].auto_points == 2.0


@pytest.mark.parametrize(("old", "new", "key", "message"), [
    ("ignore_case = true", "ignore_case = true\nrtol = 0.1", "rtol",
     "not an option of a regex check"),
    ("pattern = '(1/s|s\\^-1|per second)'", "pattern = '(unclosed'", "pattern",
     "not a regular expression"),
    ("pattern = '(1/s|s\\^-1|per second)'\n", "", "pattern", "missing required key"),
])
def test_its_options_are_validated_like_any_kind(tmp_path: Path, regex_kind: ModuleType,
                                                 old: str, new: str, key: str,
                                                 message: str) -> None:
    assert old in RUBRIC
    path = _rubric(tmp_path, RUBRIC.replace(old, new))
    with pytest.raises(RubricError, match=re.escape(message)) as info:
        load_rubric(path)
    assert (info.value.path, info.value.question, info.value.key) == (str(path), "q1", key)


def test_without_the_table_line_the_kind_is_unknown(tmp_path: Path) -> None:
    with pytest.raises(RubricError, match="unknown check kind 'regex'"):
        load_rubric(_rubric(tmp_path))


@pytest.mark.kernel
def test_a_submission_is_graded_with_it_end_to_end(tmp_path: Path,
                                                   regex_kind: ModuleType) -> None:
    from grader import grade_submission

    rubric = load_rubric(_rubric(tmp_path))
    right = tmp_path / "alice.py"
    right.write_text('lr_unit = "per second"\n', "utf-8")
    wrong = tmp_path / "bob.py"
    wrong.write_text('lr_unit = "seconds"\n', "utf-8")
    assert grade_submission(right, rubric).score == 2.0
    result = grade_submission(wrong, rubric)
    assert (result.score, result.questions[0].status) == (0.0, "failed")
