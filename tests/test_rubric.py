"""Rubric loading: typed objects, and errors that name the file, question and key."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from grader.errors import RubricError
from grader.rubric import load_rubric

REFERENCE = """
import numpy as np
answer = 3
def f(x):
    return 2 * x
def prop(value):
    return value == 3, "should be 3"
"""

GOOD = """
[assignment]
id = "t"
title = "Test"
reference = "ref.py"

[execution]
cell_timeout = 5

[[questions]]
id = "q1"
title = "First"
points = 3

  [[questions.checks]]
  answer = "answer"
  kind = "numeric"
  weight = 2
    [[questions.checks.mistakes]]
    id = "off-by-one"
    value = 4
    credit = 0.5
    feedback = "Off by one."

  [[questions.checks]]
  answer = "f"
  kind = "function"
  inputs = [[1.0], {args = [[1, 2]]}]
  array_args = [0]

[[questions]]
id = "q2"
points = 1
  [[questions.checks]]
  answer = "text"
  kind = "manual"
"""


def write(tmp_path: Path, rubric: str, reference: str = REFERENCE) -> Path:
    (tmp_path / "ref.py").write_text(textwrap.dedent(reference))
    path = tmp_path / "rubric.toml"
    path.write_text(textwrap.dedent(rubric))
    return path


def test_good_rubric_loads_into_frozen_objects(tmp_path):
    rubric = load_rubric(write(tmp_path, GOOD))
    assert [q.id for q in rubric.questions] == ["q1", "q2"]
    assert rubric.execution.cell_timeout == 5.0
    assert rubric.execution.timeout == 600.0  # the shared default
    q1 = rubric.questions[0]
    assert q1.checks[0].mistakes[0].credit == 0.5
    assert q1.checks[1].inputs[1].args[0].tolist() == [1.0, 2.0]  # array_args applied
    assert rubric.max_score == 4
    assert rubric.answer_names == ("answer", "f", "text")
    with pytest.raises(AttributeError):
        rubric.id = "x"  # type: ignore[misc]


@pytest.mark.parametrize(
    ("old", "new", "question", "key"),
    [
        ('kind = "numeric"', 'kind = "numerical"', "q1", "kind"),
        ("points = 3", 'points = "three"', "q1", "points"),
        ("points = 3", "points = -1", "q1", "points"),
        ("weight = 2", "wieght = 2", "q1", "wieght"),
        ("credit = 0.5", "credit = 1.5", "q1", "credit"),
        ('answer = "answer"', 'answer = "not valid"', "q1", "answer"),
        ("cell_timeout = 5", "cell_timeout = 0", None, "execution.cell_timeout"),
        ("cell_timeout = 5", "cell_timout = 5", None, "cell_timout"),
        ('inputs = [[1.0], {args = [[1, 2]]}]', "inputs = []", "q1", "inputs"),
        ('id = "q2"', 'id = "q1"', "q1", "id"),
        ('  kind = "manual"', '  kind = "manual"\n  rtol = 0.1', "q2", "rtol"),
        ('value = 4', 'value = 4\n    reference = "answer"', "q1", "mistakes"),
    ],
)
def test_errors_name_file_question_and_key(tmp_path, old, new, question, key):
    assert old in GOOD
    path = write(tmp_path, GOOD.replace(old, new, 1))
    with pytest.raises(RubricError) as info:
        load_rubric(path)
    err = info.value
    assert err.path == str(path)
    assert err.question == question
    assert err.key == key
    assert str(path) in str(err)


def test_unknown_reference_name_is_caught_at_load_time(tmp_path):
    path = write(tmp_path, GOOD.replace('answer = "f"', 'answer = "g"'))
    with pytest.raises(RubricError) as info:
        load_rubric(path)
    assert info.value.question == "q1" and "'g'" in str(info.value)


def test_invalid_toml_names_the_file(tmp_path):
    path = write(tmp_path, GOOD + "\n[[[broken")
    with pytest.raises(RubricError, match="not valid TOML"):
        load_rubric(path)


def test_missing_rubric_file(tmp_path):
    with pytest.raises(RubricError, match="cannot read"):
        load_rubric(tmp_path / "nope.toml")


def test_broken_reference_is_a_clear_error(tmp_path):
    path = write(tmp_path, GOOD, reference="raise RuntimeError('bad reference')\n")
    with pytest.raises(Exception, match="bad reference"):
        load_rubric(path)
