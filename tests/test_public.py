"""Public checks: canonical forms and hashes, forms, and the feedback and public settings."""

from __future__ import annotations

import textwrap
import types
from fractions import Fraction
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import sympy as sp

from grader.answers import MISSING, CallableAnswer, CallOutcome
from grader.calls import Call
from grader.checks import Evidence
from grader.checks.public import Inexact, canonical, describe, digest, form_problem
from grader.checks.registry import kind_of, make_check
from grader.errors import RubricError, RubricWarning
from grader.rubric import load_rubric

EMPTY = types.ModuleType("empty")
SALT = "00112233445566778899aabbccddeeff"


# --------------------------------------------------------------------------- canonical


@pytest.mark.parametrize(("a", "b", "rounding", "same"), [
    (661, 661, {}, True),
    (661, np.int64(661), {}, True),
    (661, 661.0, {}, True),  # an integral float equals the int exactly
    (661, sp.Integer(661), {}, True),
    (661, 660, {}, False),
    (661, 661.0000001, {}, None),  # a float that is not integral has no exact form
    (10**30, 10**30 + 1, {}, False),  # huge exact numbers are not rounded
    (Fraction(1, 3), sp.Rational(1, 3), {}, True),
    (Fraction(1, 3), Fraction(2, 6), {}, True),
    (Fraction(1, 3), 0.3333333333333333, {}, None),
    (True, True, {}, True),
    (True, 1, {}, False),  # a bool is not the number 1
    (False, 0, {}, False),
    ("Gauss-Seidel", "Gauss-Seidel", {}, True),
    ("Gauss-Seidel", "gauss-seidel", {}, False),
    ([1, 2, 3], (1, 2, 3), {}, True),  # order counts, the container type does not
    ([1, 2, 3], [1, 3, 2], {}, False),
    ({1, 2, 3}, {3, 2, 1}, {}, True),
    ({"a": 1, "b": 2}, {"b": 2, "a": 1}, {}, True),
    (np.array([1, 2]), [1, 2], {}, False),  # an array keeps its shape in its form
    (2.381966011250105, 2.38197, {"sigfigs": 6}, True),
    (2.381966011250105, 2.38196, {"sigfigs": 6}, False),
    (0.6666666666666666, 0.666667, {"sigfigs": 6}, True),
    (0.6666666666666666, 0.6666664, {"sigfigs": 6}, False),  # the other side of the step
    (661, 660, {"sigfigs": 2}, True),  # ints are rounded as the check rounds them
    (1.005, 1.0, {"decimals": 2}, False),
    (float("nan"), float("nan"), {"sigfigs": 3}, None),
    (float("inf"), float("inf"), {"sigfigs": 3}, None),
    (Fraction(10**5000), Fraction(10**5000), {"decimals": 3}, None),  # beyond rounding
    (sp.Symbol("x"), sp.Symbol("x"), {}, None),  # an expression has no canonical form here
])
def test_canonical_forms_agree_exactly_when_the_values_do(a: Any, b: Any,
                                                        rounding: dict[str, int],
                                                        same: bool | None) -> None:
    try:
        left, right = canonical(a, **rounding), canonical(b, **rounding)
    except Inexact:
        assert same is None
        return
    assert same is not None, (left, right)
    assert (left == right) is same, (left, right)


def test_a_digest_is_salted_and_slow() -> None:
    text = canonical(661)
    assert digest(SALT, text) == digest(SALT, text) != digest("ff" + SALT[2:], text)
    assert len(digest(SALT, text)) == 64 and "661" not in digest(SALT, text)


# --------------------------------------------------------------------------- kinds


def _digest_check(value: Any, **rounding: int) -> Any:
    return make_check("digest", answer="a", salt=SALT,
                      digest=digest(SALT, canonical(value, **rounding)), **rounding)


@pytest.mark.parametrize(("expected", "received", "rounding", "status"), [
    (661, 661, {}, "passed"),
    (661, 660, {}, "failed"),
    (661, "661", {}, "failed"),
    (False, False, {}, "passed"),
    (False, 0, {}, "failed"),
    (np.array([2.381966011250105, 4.618033988749895]), np.array([2.38197, 4.61803]),
     {"sigfigs": 6}, "passed"),
    (np.array([2.381966011250105, 4.618033988749895]), np.array([2.38197, 4.61804]),
     {"sigfigs": 6}, "failed"),
    (661, MISSING, {}, "missing"),
])
def test_a_digest_check_never_shows_the_answer(expected: Any, received: Any,
                                              rounding: dict[str, int], status: str) -> None:
    spec = _digest_check(expected, **rounding)
    result = kind_of(spec).grade(spec, Evidence(received=received, reference=EMPTY), 2.0)
    assert result.status == status
    assert result.expected is None and "661" not in result.message


def test_a_digest_check_of_a_function_compares_each_public_output() -> None:
    calls = (Call(args=(2.0, 9)), Call(args=(0.8, 16)))
    right = [2.0 / 3.0, 0.2]
    spec = make_check("digest", answer="f", salt=SALT, inputs=calls, sigfigs=6,
                      digests=tuple(digest(SALT, canonical(v, sigfigs=6)) for v in right))

    def grade(*outputs: Any) -> Any:
        evidence = Evidence(received=CallableAnswer(name="f"), reference=EMPTY, calls=calls,
                            outcomes=tuple(CallOutcome(value=o) for o in outputs))
        return kind_of(spec).grade(spec, evidence, 3.0)

    assert grade(0.6666666666666667, 0.19999999999999998).status == "passed"
    wrong = grade(2.0 / 9.0, 0.05)
    assert wrong.status == "failed" and "f(2.0, 9) does not return the expected value" in (
        wrong.message)
    assert "0.666" not in wrong.message and "0.2" not in wrong.message
    assert kind_of(spec).plan(spec, EMPTY).calls == calls


@pytest.mark.parametrize(("reference", "received", "ok"), [
    (661, 660, True),  # the form, not the value
    (661, "661", False),
    (661, float("inf"), False),
    (np.zeros((3, 2)), np.ones((3, 2)), True),
    (np.zeros((3, 2)), np.ones((2, 3)), False),
    (np.zeros(3), [1.0, 2.0, 3.0], True),
    ({"w1": 1, "b1": 2}, {"b1": 0, "w1": 0}, True),
    ({"w1": 1, "b1": 2}, {"w1": 0}, False),
    (sp.Symbol("w") * sp.Symbol("x"), sp.Symbol("w") + 1, True),
    (sp.Symbol("w") * sp.Symbol("x"), sp.Symbol("w") + sp.Symbol("z"), False),
    (sp.Eq(sp.Symbol("x"), 1), sp.Eq(sp.Symbol("x"), 2), True),
    (sp.Eq(sp.Symbol("x"), 1), sp.Symbol("x") - 1, False),
    (True, False, True),
    (True, 1, False),
])
def test_a_format_check_looks_at_the_form_only(reference: Any, received: Any, ok: bool) -> None:
    form = describe(reference)
    assert (form_problem(form, received) == "") is ok, form
    spec = make_check("format", answer="a", form=form)
    result = kind_of(spec).grade(spec, Evidence(received=received, reference=EMPTY), 1.0)
    assert result.status == ("passed" if ok else "failed")
    assert "661" not in result.message


# --------------------------------------------------------------------------- the rubric


RUBRIC = """\
[assignment]
id = "hw"
reference = "ref.py"

[[questions]]
id = "q1"
points = 2
  [[questions.checks]]
  answer = "n"
  kind = "numeric"
  SETTINGS
"""


def _load(tmp_path: Path, settings: str) -> Any:
    (tmp_path / "ref.py").write_text("n = 661\n")
    path = tmp_path / "hw.toml"
    path.write_text(RUBRIC.replace("SETTINGS", textwrap.dedent(settings).strip()))
    return load_rubric(path).questions[0].checks[0]


@pytest.mark.parametrize(("settings", "feedback", "visibility", "public"), [
    ("", "full", "visible", "format"),
    ('feedback = "verdict"', "verdict", "visible", "format"),
    ('feedback = "none"', "none", "hidden", "format"),
    ('feedback_when = "due_date"\npublic = "hash"', "full", "after_due_date", "hash"),
    ('feedback_when = "published"\npublic = "none"', "full", "after_published", "none"),
])
def test_feedback_and_public_are_read_and_defaulted(tmp_path: Path, settings: str,
                                                    feedback: str, visibility: str,
                                                    public: str) -> None:
    check = _load(tmp_path, settings)
    assert (check.feedback, check.visibility, check.public) == (feedback, visibility, public)
    assert check.visible is (feedback == "full")


@pytest.mark.parametrize(("settings", "replacement", "state"), [
    ("visible = false", 'feedback = "verdict", public = "none"', ("verdict", "hidden", "none")),
    ('visibility = "hidden"', 'feedback = "verdict", public = "none"',
     ("verdict", "hidden", "none")),
    ('visibility = "after_due_date"', 'feedback = "full", feedback_when = "due_date", '
     'public = "none"', ("full", "after_due_date", "none")),
    ("visible = true", 'feedback = "full"', ("full", "visible", "format")),
])
def test_the_old_keys_still_work_with_a_warning(tmp_path: Path, settings: str,
                                                replacement: str,
                                                state: tuple[str, str, str]) -> None:
    with pytest.warns(RubricWarning) as record:
        check = _load(tmp_path, settings)
    message = str(record[0].message)
    assert str(tmp_path / "hw.toml") in message and "is deprecated" in message
    assert replacement in message
    assert (check.feedback, check.visibility, check.public) == state


@pytest.mark.parametrize(("settings", "key", "message"), [
    ('feedback = "partly"', "feedback", "unknown feedback"),
    ('feedback_when = "soon"', "feedback_when", "unknown feedback_when"),
    ('public = "inputs"', "public", "a numeric check cannot be public = 'inputs'"),
    ('public = "sometimes"', "public", "cannot be public"),
    ('visibility = "hidden"\npublic = "none"', "visibility", "old form"),
])
def test_wrong_settings_name_the_key(tmp_path: Path, settings: str, key: str,
                                     message: str) -> None:
    with pytest.raises(RubricError, match=message) as info:
        _load(tmp_path, settings)
    assert (info.value.question, info.value.key) == ("q1", key)


def test_the_assignment_sets_defaults_a_check_may_override(tmp_path: Path) -> None:
    (tmp_path / "ref.py").write_text("n = 661\nwhy = 'x'\n")
    path = tmp_path / "hw.toml"
    path.write_text(RUBRIC.replace('reference = "ref.py"',
                                   'reference = "ref.py"\nfeedback = "verdict"\npublic = "hash"')
                    .replace("SETTINGS", '[[questions.checks]]\n  answer = "why"\n'
                             '  kind = "manual"\n  feedback = "full"'))
    numeric, manual = load_rubric(path).questions[0].checks
    assert (numeric.feedback, numeric.public) == ("verdict", "hash")
    assert (manual.feedback, manual.public) == ("full", "format")  # hash is not a text's


def test_public_inputs_mode_needs_public_inputs(tmp_path: Path) -> None:
    (tmp_path / "ref.py").write_text("def f(x):\n    return x\n")
    path = tmp_path / "hw.toml"
    path.write_text(RUBRIC.replace('answer = "n"\n  kind = "numeric"\n  SETTINGS',
                                   'answer = "f"\n  kind = "function"\n  inputs = [[1]]\n'
                                   '  public = "inputs"'))
    with pytest.raises(RubricError, match="needs public_inputs"):
        load_rubric(path)


def test_a_hash_of_an_inexact_answer_is_refused_at_release(tmp_path: Path) -> None:
    from grader.errors import ReleaseError
    from grader.release import release

    (tmp_path / "ref.py").write_text("n = 0.1\n")
    path = tmp_path / "hw.toml"
    path.write_text(RUBRIC.replace("SETTINGS", 'public = "hash"'))
    with pytest.raises(ReleaseError, match='q1 n: public = "hash" needs an answer that '
                                           'compares exactly'):
        release(path, tmp_path / "out")
    path.write_text(RUBRIC.replace("SETTINGS", 'public = "hash"\n  sigfigs = 3'))
    assert release(path, tmp_path / "out2").checks[0][3:] == ("hash", "digest")
