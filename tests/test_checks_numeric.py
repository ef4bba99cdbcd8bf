"""Tables of near misses for the numeric comparator and its grade()."""

from __future__ import annotations

import math
import subprocess
import sys
import types
from fractions import Fraction
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from grader.answers import MISSING, CallableAnswer, Rejected
from grader.checks import Evidence
from grader.checks.common import format_value
from grader.checks.numbers import compare
from grader.checks.numeric import grade, spec_options
from grader.checks.options import Mistake
from grader.checks.protocol import CheckSpec
from grader.checks.registry import make_check

NAN = math.nan
INF = math.inf

# (expected, received, tolerances, equal?)
EQUAL_CASES: list[tuple[Any, Any, dict[str, float], bool]] = [
    # floats around the relative boundary: |a - e| <= atol + rtol*|e|
    (0.1, 0.1, {}, True),
    (0.1, 0.10000001, {"rtol": 1e-6}, True),
    (0.1, 0.1000002, {"rtol": 1e-6}, False),
    (0.1, 0.0999998, {"rtol": 1e-6}, False),
    (1.0, 1.0000009, {"rtol": 1e-6, "atol": 0.0}, True),
    (1.0, 1.0000011, {"rtol": 1e-6, "atol": 0.0}, False),
    (1000.0, 1000.0009, {"rtol": 1e-6, "atol": 0.0}, True),
    (1000.0, 1000.0011, {"rtol": 1e-6, "atol": 0.0}, False),
    (0.0, 5e-10, {}, True),  # default atol 1e-9
    (0.0, 2e-9, {}, False),
    (0.0, 0.04, {"atol": 0.05}, True),
    (0.0, 0.06, {"atol": 0.05}, False),
    (1e-12, 2e-12, {"atol": 0.0}, False),  # relative to the expected, not symmetric
    (-3.5, -3.5000001, {}, True),
    (-3.5, 3.5, {}, False),
    (np.float64(2.5), 2.5, {}, True),
    (2.5, np.float32(2.5), {}, True),
    # integers: exact unless a tolerance is given
    (661, 661, {}, True),
    (661, 660, {}, False),
    (661, 661.0, {}, True),
    (661, 661.5, {}, False),
    (661, 661.0000001, {}, False),
    (661, np.int64(661), {}, True),
    (np.int64(661), 661.0, {}, True),
    (661, 661.4, {"atol": 0.5}, True),
    (661, 661.6, {"atol": 0.5}, False),
    (2**60 + 1, float(2**60), {}, False),  # a float cannot hold 2**60 + 1
    (661, complex(661, 0), {}, True),
    (661, complex(661, 1), {}, False),
    # bool is not a number
    (True, True, {}, True),
    (True, np.bool_(True), {}, True),
    (True, False, {}, False),
    (True, 1, {}, False),
    (1, True, {}, False),
    (0, False, {}, False),
    (1.0, True, {}, False),
    # NaN and infinities
    (NAN, NAN, {}, False),
    (1.0, NAN, {}, False),
    (INF, INF, {}, True),
    (INF, -INF, {}, False),
    (INF, 1e308, {}, False),
    (-INF, -INF, {}, True),
    # complex numbers: both parts
    (1 + 2j, 1 + 2j, {}, True),
    (1 + 2j, 1 + 2.0000001j, {}, True),
    (1 + 2j, 1 + 2.1j, {}, False),
    (1 + 2j, 1.1 + 2j, {}, False),
    (1 + 2j, 1 - 2j, {}, False),
    (2.0, 2 + 0j, {}, True),
    (2.0, 2 + 1e-3j, {}, False),
    # arrays and lists: exact shapes, no broadcasting
    (np.array([1.0, 2.0]), [1.0, 2.0], {}, True),
    (np.array([1.0, 2.0]), [[1.0, 2.0]], {}, False),
    (np.array([1.0, 2.0]), np.array([[1.0], [2.0]]), {}, False),
    (np.ones((2, 2)), 1, {}, False),
    (1, [[1, 1], [1, 1]], {}, False),
    (1.0, [1.0], {}, False),
    (np.array([1, 2, 3]), np.array([1.0, 2.0, 3.0]), {}, True),
    (np.array([1.0, 2.0, 3.0]), np.array([1, 2, 3]), {}, True),
    (np.array([1, 2, 3]), np.array([1.0, 2.0, 3.5]), {}, False),
    (np.array([0.5, 0.25]), [0.5, 0.2500001], {}, True),
    (np.array([0.5, 0.25]), [0.5, 0.2501], {}, False),
    ([[1, 2], [3, 4]], np.array([[1, 2], [3, 4]]), {}, True),
    ([[1, 2], [3, 4]], np.array([[1, 2], [4, 3]]), {}, False),
    (np.array([1.0, NAN]), np.array([1.0, NAN]), {}, False),
    (np.array([1.0, INF]), np.array([1.0, INF]), {}, True),
    (np.array([True, False]), np.array([True, False]), {}, True),
    (np.array([True, False]), np.array([1, 0]), {}, False),
    (np.array([1, 0]), [True, False], {}, False),
    (np.array([[1, 2], [3, 4]]), [[1, 2], [3]], {}, False),  # ragged
    (np.array([1, 2]), [1, "2"], {}, False),  # not numbers
    (np.array([1, 2]), [1, None], {}, False),
    (np.array([1, 2]), [1, Rejected("too big")], {}, False),
    (np.zeros(0), [], {}, True),
    ((1.0, 2.0), [1.0, 2.0], {}, True),
    ((1.0, 2.0), (1.0, 2.5), {}, False),
    # tuples of arrays (several return values), element by element
    ((np.zeros(2), np.ones(2)), (np.zeros(2), np.ones(2)), {}, True),
    ((np.zeros(2), np.ones(2)), [np.zeros(2), [1.0, 1.0]], {}, True),
    ((np.zeros(2), np.ones(2)), (np.zeros(2), np.array([1.0, 0.5])), {}, False),
    ((np.zeros(2), np.ones(2)), (np.zeros(2),), {}, False),
    ((np.zeros(2), 3), (np.zeros(2), 3.0), {}, True),
    # dicts, by key and recursively
    ({"a": 1, "b": 2.5}, {"a": 1, "b": 2.5}, {}, True),
    ({"a": 1, "b": 2.5}, {"b": 2.5000001, "a": 1.0}, {}, True),
    ({"a": 1, "b": 2.5}, {"a": 1}, {}, False),
    ({"a": 1, "b": 2.5}, {"a": 1, "b": 2.5, "c": 0}, {}, False),
    ({"a": 1, "b": 2.5}, {"a": 1, "b": 2.6}, {}, False),
    ({(0, 1): np.array([1.0])}, {(0, 1): [1.0]}, {}, True),
    ({"a": 1}, [1], {}, False),
    # text answers, read without evaluating anything
    (1 / 7, "1/7", {}, True),
    (1 / 7, "1/8", {}, False),
    (1 / 7, "0.142857", {}, True),  # off by 1.4e-7, within 1e-9 + 1e-6 * 0.143
    (1 / 7, "0.14285", {}, False),
    (1 / 7, "0.14285", {"rtol": 1e-4}, True),
    (-2.5e-3, "-2.5e-3", {}, True),
    (-2.5e-3, " -0.0025 ", {}, True),
    (-2.5e-3, "2.5e-3", {}, False),
    (661, "661", {}, True),
    (661, "661.0", {}, True),
    (661, "660", {}, False),
    (np.array([-1, 2, 3]), "[-1, 2, 3]", {}, True),
    (np.array([-1, 2, 3]), "[-1, 2, 4]", {}, False),
    (np.array([-1, 2, 3]), "[-1 2 3]", {}, True),
    (np.array([[1, 2], [3, 4]]), "[[1, 2], [3, 4]]", {}, True),
    (np.array([[1, 2], [3, 4]]), "[[1, 2], [3, 4]", {}, False),
    (np.array([1.0, 2.0]), "[1, 2, 3]", {}, False),
    (2.0, "[2]", {}, False),
    (1 + 2j, "1+2j", {}, True),
    (INF, "inf", {}, True),
    (1.0, "one", {}, False),
    (1.0, "", {}, False),
    (1.0, "1/0", {}, False),
    (0.0, "__import__('os').system('x')", {}, False),
    (0.0, "[__import__('os').system('x')]", {}, False),
    (0.0, "().__class__.__bases__[0].__subclasses__()", {}, False),
    # things that are not numbers at all
    (1.0, None, {}, False),
    (1.0, CallableAnswer("f", "(x)"), {}, False),
    (1.0, Rejected("the value is too large"), {}, False),
    (1.0, MISSING, {}, False),
    (1.0, {"a": 1.0}, {}, False),
    (1.0, frozenset({1.0}), {}, False),
    (None, None, {}, True),
    ("abc", "abc", {}, True),
    ("abc", "abd", {}, False),
]


@pytest.mark.parametrize(("expected", "received", "tol", "equal"), EQUAL_CASES)
def test_compare_table(expected: Any, received: Any, tol: dict[str, float], equal: bool) -> None:
    result = compare(expected, received, **tol)
    assert result.equal is equal, result.message
    if not equal:
        assert result.message


# (expected, received, words the message must contain, hint)
MESSAGE_CASES: list[tuple[Any, Any, tuple[str, ...], str]] = [
    (True, 1, ("True", "1", "bool"), ""),
    (1, True, ("True", "bool", "not a number"), ""),
    (NAN, NAN, ("NaN",), ""),
    (1.0, NAN, ("NaN",), ""),
    (np.array([1.0, 2.0]), [[1.0, 2.0]], ("shape (2,) expected", "(1, 2)"),
     "the values are right but the shape is not"),
    (np.ones((2, 2)), 1, ("(2, 2)",), "shape () (a single number) instead of (2, 2)"),
    (1, np.ones((2, 2)), ("(2, 2)", "single number"), ""),
    (np.array([[1.0, 0.5], [0.5, 2.0]]), np.array([[1.0, 0.5], [-0.5, 2.0]]),
     ("at index (1, 0)", "expected 0.5", "got -0.5"), ""),
    (np.array([1.0, -2.0, 3.0]), np.array([-1.0, 2.0, -3.0]), ("3 of 3",), "sign flipped"),
    (np.array([1.0, -2.0, 3.0]), np.array([2.0, -4.0, 6.0]), ("at index 0",),
     "off by a constant factor 2"),
    (np.array([1.0, 2.0, 4.0]), np.array([0.5, 1.0, 2.0]), (), "off by a constant factor 0.5"),
    (np.array([[1.0, 2.0, 3.0], [4.0, 5.0, 6.0]]), np.array([[1.0, 4.0], [2.0, 5.0], [3.0, 6.0]]),
     ("(2, 3)", "(3, 2)"), "transposed"),
    (np.array([[1.0, 2.0], [3.0, 4.0]]), np.array([[1.0, 3.0], [2.0, 4.0]]), ("(0, 1)",),
     "transposed"),
    (2.5, -2.5, ("2.5", "-2.5"), "sign flipped"),
    ({"a": 1, "b": 2, "c": 3}, {"a": 1, "c": 4, "d": 0},
     ("missing keys: 'b'", "extra keys: 'd'", "'c'"), ""),
    ((np.zeros(2), np.ones(2)), (np.zeros(2), np.array([1.0, 0.5])),
     ("element 1 of the returned tuple", "index 1", "0.5"), ""),
    (np.array([[1, 2], [3, 4]]), [[1, 2], [3]], ("ragged",), ""),
    (np.array([1, 2]), [1, "2"], ("index 1", "not a number"), ""),
    (1.0, None, ("None",), ""),
    (1.0, CallableAnswer("f"), ("function",), ""),
    (1.0, Rejected("too big"), ("could not be read", "too big"), ""),
    (1.0, "__import__('os').system('x')", ("not a number",), ""),
    (661, 660, ("661", "660"), ""),
    (0.1, 0.1000002, ("0.1", "0.1000002"), ""),
]


@pytest.mark.parametrize(("expected", "received", "words", "hint"), MESSAGE_CASES)
def test_compare_messages(expected: Any, received: Any, words: tuple[str, ...],
                          hint: str) -> None:
    result = compare(expected, received)
    assert result.equal is False
    for word in words:
        assert word in result.message, result.message
    assert result.hint == hint


def test_malicious_text_is_never_run(tmp_path: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    marker = tmp_path / "ran"
    monkeypatch.chdir(tmp_path)
    text = f"__import__('pathlib').Path({str(marker)!r}).touch()"
    assert compare(1.0, text).equal is False
    assert compare(np.array([1.0]), "[" + text + "]").equal is False
    assert not marker.exists()


def test_compare_never_raises_on_odd_values() -> None:
    class Weird:
        def __eq__(self, other: object) -> bool:
            raise RuntimeError("boom")

        __hash__ = object.__hash__

    for value in (Weird(), [Weird()], {"a": Weird()}, object(), b"bytes", [[[[1]]]] * 3,
                  "[" * 10_000, "9" * 5000):
        result = compare(np.array([1.0, 2.0]), value)
        assert result.equal is False
        result = compare(1.0, value)
        assert result.equal is False


def test_sympy_values_are_numbers() -> None:
    sp = pytest.importorskip("sympy")
    assert compare(0.5, sp.Rational(1, 2)).equal is True
    assert compare(sp.Rational(1, 3), 0.3333333333).equal is True
    assert compare(2, sp.Integer(2)).equal is True
    assert compare(np.array([1.0, 2.0]), sp.Matrix([[1, 2]])).equal is False  # (1, 2) shape
    assert compare(np.array([[1.0, 2.0]]), sp.Matrix([[1, 2]])).equal is True
    assert compare(1.0, sp.Symbol("x")).equal is False
    assert compare(0.7071067811865476, sp.sqrt(2) / 2).equal is True
    assert compare(1j, sp.I).equal is True
    assert compare(1.0, sp.zoo).equal is False
    assert compare(INF, sp.oo).equal is True
    # hostile constants are answered quickly instead of being computed digit by digit
    assert compare(1.0, sp.exp(sp.exp(sp.exp(sp.exp(10))))).equal is False
    assert compare(1.0, sp.sin(sp.exp(sp.exp(20)))).equal is False


def test_numeric_does_not_import_sympy() -> None:
    code = "import sys, grader.checks.numeric; assert 'sympy' not in sys.modules"
    subprocess.run([sys.executable, "-c", code], check=True, cwd=Path(__file__).parents[1])


FORMAT_CASES: list[tuple[Any, str]] = [
    (661, "661"),
    (661.0, "661"),
    (0.123456789, "0.123457"),
    (1e-10, "1e-10"),
    (NAN, "NaN"),
    (True, "True"),
    (None, "None"),
    (Fraction(1, 7), "1/7"),
    (np.array([[1, 2], [3, 4]]), "[[1, 2], [3, 4]]"),
    ((np.zeros(1), 2), "([0], 2)"),
    ({"a": 0.5}, "{'a': 0.5}"),
    (CallableAnswer("f", "(x)"), "<function f(x)>"),
]


@pytest.mark.parametrize(("value", "text"), FORMAT_CASES)
def test_format_value(value: Any, text: str) -> None:
    assert format_value(value) == text


def test_format_value_truncates_large_arrays() -> None:
    text = format_value(np.arange(1000.0).reshape(100, 10))
    assert "…" in text and "(100, 10)" in text and len(text) < 400


# --------------------------------------------------------------------------- grade()


REFERENCE = types.SimpleNamespace(
    q1_count=661,
    no_bias_count=660,
    q2_weights={"w1": 0.5, "w2": -0.25, "b": 0.1},
    q3_vector=np.array([1.0, 2.0, 3.0, 4.0]),
)


def _spec(answer: str, **kwargs: Any) -> CheckSpec:
    return make_check("numeric", answer=answer, **kwargs)


def _grade(spec: CheckSpec, received: Any) -> Any:
    module = types.ModuleType("reference")
    module.__dict__.update(vars(REFERENCE))
    return grade(spec, Evidence(received=received, reference=module), 2.0)


def test_a_specs_options_are_its_own_and_a_new_dict_each_time() -> None:
    loose, strict = _spec("q1_count", atol=0.5), _spec("q1_count", rtol=1e-9, atol=0.0)
    first = spec_options(loose)
    first.pop("atol")  # a caller may change what it was given
    assert spec_options(loose)["atol"] == 0.5
    assert (spec_options(strict)["rtol"], spec_options(strict)["atol"]) == (1e-9, 0.0)
    # Read once a spec, for many calls: the verdicts are those of each spec's tolerances.
    assert [_grade(s, 661.4).status for s in (loose, strict, loose)] == [
        "passed", "failed", "passed"]


def test_grade_passed() -> None:
    result = _grade(_spec("q1_count"), 661.0)
    assert (result.status, result.score, result.expected, result.received) == (
        "passed", 2.0, "661", "661")


def test_grade_failed_with_message() -> None:
    result = _grade(_spec("q1_count"), 659)
    assert result.status == "failed" and result.score == 0
    assert "661" in result.message and "659" in result.message


def test_grade_missing_and_rejected() -> None:
    assert _grade(_spec("q1_count"), MISSING).status == "missing"
    rejected = _grade(_spec("q1_count"), Rejected("an object of type Foo"))
    assert rejected.status == "error" and "Foo" in rejected.message


def test_grade_mistake_with_credit() -> None:
    mistake = Mistake(id="no-output-bias", feedback="You forgot the output bias.", credit=0.5,
                      reference="no_bias_count")
    spec = _spec("q1_count", mistakes=(mistake,))
    result = _grade(spec, 660)
    assert (result.status, result.score, result.mistake) == ("partial", 1.0, "no-output-bias")
    assert result.message == "You forgot the output bias."
    other = _grade(spec, 662)
    assert other.status == "failed" and other.mistake is None


def test_grade_mistake_literal_value_without_credit() -> None:
    mistake = Mistake(id="sign", feedback="Check the sign.", value=-661)
    result = _grade(_spec("q1_count", mistakes=(mistake,)), -661)
    assert (result.status, result.score, result.mistake) == ("failed", 0.0, "sign")


def test_grade_partial_dict() -> None:
    spec = _spec("q2_weights", partial=True)
    result = _grade(spec, {"w1": 0.5, "w2": 0.25, "b": 0.1})
    assert result.status == "partial"
    assert result.score == pytest.approx(2.0 * 2 / 3, abs=1e-5)
    assert "'w2'" in result.message
    # extra keys count against the share, missing keys earn nothing
    result = _grade(spec, {"w1": 0.5, "b": 0.1, "junk": 1})
    assert result.score == pytest.approx(2.0 * 2 / 4, abs=1e-5)
    assert _grade(spec, {"w1": 0.5, "w2": -0.25, "b": 0.1}).status == "passed"
    assert _grade(_spec("q2_weights"), {"w1": 0.5, "w2": 0.25, "b": 0.1}).status == "failed"


def test_grade_partial_array() -> None:
    spec = _spec("q3_vector", partial=True)
    result = _grade(spec, [1.0, 2.0, 3.0, 5.0])
    assert result.status == "partial" and result.score == pytest.approx(1.5, abs=1e-5)
    assert _grade(spec, [1.0, 2.0, 3.0]).status == "failed"  # wrong shape: nothing to share


def test_grade_literal_value_and_hint() -> None:
    result = _grade(_spec("anything", value=[1.0, -2.0]), [-1.0, 2.0])
    assert result.status == "failed" and result.hint == "sign flipped"
    assert result.diff == {"expected": ["1.0", "-2.0"], "received": ["-1.0", "2.0"],
                           "mismatch": [[0, 0], [0, 1]]}


def test_grade_hidden_expected() -> None:
    result = _grade(_spec("q1_count", visible=False), 1)
    assert result.expected is None and result.received == "1"


def test_grade_reference_bug_is_an_error_not_an_exception() -> None:
    result = _grade(_spec("not_in_reference"), 1.0)
    assert result.status == "error" and "grader problem" in result.message


# --------------------------------------------------------------------------- options

# (expected, received, options, equal): every option with the near misses around it.
OPTION_CASES: list[tuple[Any, Any, dict[str, Any], bool]] = [
    # sigfigs: both rounded half-up to n significant figures, on their decimal text
    (Fraction(1, 7), 0.1429, {"sigfigs": 4}, True),
    (Fraction(1, 7), 0.14285, {"sigfigs": 4}, True),
    (Fraction(1, 7), 0.1428, {"sigfigs": 4}, False),
    (Fraction(1, 7), 0.14295, {"sigfigs": 4}, False),
    (0.04985, 0.0499, {"sigfigs": 3}, True),  # binary 0.04985 is 0.049849999...
    (0.04985, 0.0498, {"sigfigs": 3}, False),
    (999, 1000, {"sigfigs": 2}, True),
    (661, 660, {"sigfigs": 2}, True),  # a rounding rule turns the exact-integer rule off
    (661, 600, {"sigfigs": 2}, False),
    (-0.0499, -0.05, {"sigfigs": 1}, True),
    (-0.0499, 0.05, {"sigfigs": 1}, False),
    (0, 0.0, {"sigfigs": 2}, True),
    (0, 1e-300, {"sigfigs": 3}, False),  # tiny is not zero
    (1.5e300, 1.5049e300, {"sigfigs": 3}, True),
    (1.5e300, 1.5051e300, {"sigfigs": 3}, False),
    (np.array([1 / 3, 2 / 3]), [0.333, 0.667], {"sigfigs": 3}, True),
    (np.array([1 / 3, 2 / 3]), [0.333, 0.666], {"sigfigs": 3}, False),
    (1 / 3 + 2j / 3, 0.333 + 0.667j, {"sigfigs": 3}, True),
    (1 / 3 + 2j / 3, 0.333 - 0.667j, {"sigfigs": 3}, False),
    (INF, INF, {"sigfigs": 3}, True),
    (NAN, NAN, {"sigfigs": 3}, False),
    # decimals
    (2.675, 2.68, {"decimals": 2}, True),  # binary 2.675 is below; the text is not
    (2.675, 2.67, {"decimals": 2}, False),
    (-1.005, -1.01, {"decimals": 2}, True),  # half away from zero
    (1234.5, 1235, {"decimals": 0}, True),
    (1234.5, 1234, {"decimals": 0}, False),
    (np.array([[0.125, 1.0]]), np.array([[0.13, 1.0]]), {"decimals": 2}, True),
    # the tolerance boundary, decided on the numbers as written
    (1, 1.05, {"rtol": 0.05, "atol": 0}, True),
    (1, 0.95, {"rtol": 0.05, "atol": 0}, True),
    (1, 1.0500001, {"rtol": 0.05, "atol": 0}, False),
    (10.0, 9.9, {"atol": 0.1, "rtol": 0}, True),
    (10.0, 9.8999999, {"atol": 0.1, "rtol": 0}, False),
    (np.array([1.0, 10.0]), [1.05, 10.5], {"rtol": 0.05, "atol": 0}, True),
    (np.array([1.0, 10.0]), [1.05, 10.51], {"rtol": 0.05, "atol": 0}, False),
    # equal_nan
    (NAN, NAN, {"equal_nan": True}, True),
    (NAN, 1.0, {"equal_nan": True}, False),
    (1.0, NAN, {"equal_nan": True}, False),
    (complex(NAN, 0), complex(NAN, 0), {"equal_nan": True}, True),
    (np.array([1.0, NAN]), np.array([1.0, NAN]), {"equal_nan": True}, True),
    (np.array([1.0, NAN]), np.array([NAN, 1.0]), {"equal_nan": True}, False),
    # bool_as_number
    (True, 1, {"bool_as_number": True}, True),
    (1, True, {"bool_as_number": True}, True),
    (0.0, False, {"bool_as_number": True}, True),
    (2, True, {"bool_as_number": True}, False),
    (True, False, {"bool_as_number": True}, False),
    (np.array([1, 0]), [True, False], {"bool_as_number": True}, True),
    (np.array([1, 0]), [True, True], {"bool_as_number": True}, False),
    ([1, 1], [1, True], {"bool_as_number": True}, True),
    ([1, 1], [1, True], {}, False),
    # unordered: a multiset, matched under the tolerance
    ([3, 1, 2], [1, 2, 3], {"unordered": True}, True),
    ([3, 1, 2], "[2, 3, 1]", {"unordered": True}, True),
    ([3, 1, 2], [1, 2, 2], {"unordered": True}, False),
    ([3, 1, 2], [1, 2], {"unordered": True}, False),
    ([1.0, 1.0], [1.0, 1.0000001], {"unordered": True}, True),
    ([1.0, 1.0], [1.0, 1.01], {"unordered": True}, False),
    ([1.0, 2.0], [1.5, 1.1], {"unordered": True, "atol": 0.6, "rtol": 0}, True),
    ([1.0, 2.0], [2.7, 1.1], {"unordered": True, "atol": 0.6, "rtol": 0}, False),
    (np.array([[1, 2], [3, 4]]), [[3, 4], [1, 2]], {"unordered": True}, True),
    (np.array([[1, 2], [3, 4]]), [[4, 3], [1, 2]], {"unordered": True}, False),
    ((np.zeros(2), np.ones(2)), [np.ones(2), np.zeros(2)], {"unordered": True}, True),
    ([1, 2], 3, {"unordered": True}, False),
    ([1, 2], {"a": 1}, {"unordered": True}, False),
    # up_to_sign and up_to_scale
    (np.array([0.6, 0.8]), [-0.6, -0.8], {"up_to_sign": True}, True),
    (np.array([0.6, 0.8]), [-0.6, 0.8], {"up_to_sign": True}, False),
    (np.array([0.6, 0.8]), [0.6, 0.8], {"up_to_sign": True}, True),
    (-2.5, 2.5, {"up_to_sign": True}, True),
    (np.array([1, 2]), [-1, -2], {"up_to_sign": True}, True),  # exact ints negated exactly
    (np.array([1, 2]), [-1, -2.0000001], {"up_to_sign": True}, False),
    (np.array([0.6, 0.8]), [3.0, 4.0], {"up_to_scale": True}, True),
    (np.array([0.6, 0.8]), [3.0, 4.01], {"up_to_scale": True}, False),
    (np.array([0.6, 0.8]), [-3.0, -4.0], {"up_to_scale": True}, False),
    (np.array([0.6, 0.8]), [-3.0, -4.0], {"up_to_scale": True, "up_to_sign": True}, True),
    (np.array([0.6, 0.8]), [0.0, 0.0], {"up_to_scale": True, "up_to_sign": True}, False),
    (np.array([0.0, 0.0]), [0.0, 0.0], {"up_to_scale": True}, True),
    (np.array([0.0, 0.0]), [1.0, 0.0], {"up_to_scale": True}, False),
    ([[1.0, 0.0], [0.0, 1.0]], [[0.0, -2.0], [5.0, 0.0]],
     {"unordered": True, "up_to_scale": True, "up_to_sign": True}, True),
    ([[1.0, 0.0], [0.0, 1.0]], [[0.0, -2.0], [5.0, 1.0]],
     {"unordered": True, "up_to_scale": True, "up_to_sign": True}, False),
]


@pytest.mark.parametrize(("expected", "received", "options", "equal"), OPTION_CASES)
def test_compare_options(expected: Any, received: Any, options: dict[str, Any],
                         equal: bool) -> None:
    result = compare(expected, received, **options)
    assert result.equal is equal, result.message
    if not equal:
        assert result.message


@pytest.mark.parametrize("options", [
    {"sigfigs": 0}, {"sigfigs": 51}, {"sigfigs": 2.0}, {"sigfigs": True}, {"decimals": -1},
    {"sigfigs": 2, "decimals": 2}, {"sigfigs": 2, "rtol": 0.1}, {"decimals": 2, "atol": 0},
    {"rtol": -1.0}, {"atol": math.inf}, {"rtol": True},
])
def test_contradictory_or_bad_options_are_a_grader_problem(options: dict[str, Any]) -> None:
    result = compare(1.0, 1.0, **options)
    assert result.equal is None and "options" in result.message


def test_unordered_needs_a_collection() -> None:
    result = compare(1.0, [1.0], unordered=True)
    assert result.equal is None and "list, tuple or array" in result.message


def test_option_messages_and_hints() -> None:
    rounded = compare(Fraction(1, 7), 0.1428, sigfigs=4)
    assert "0.1429" in rounded.message and "0.1428" in rounded.message
    assert "4 significant figures" in rounded.message
    assert "2 decimals" in compare(2.675, 2.67, decimals=2).message
    unmatched = compare([1, 2, 3], [1, 2, 4], unordered=True)
    assert "1 of 3 expected values have no match" in unmatched.message and "3" in unmatched.message
    assert compare([1, 2, 3], [3, 2, 1]).hint == "the right values in another order"
    assert "positive scale factor (5)" in compare(np.array([0.6, 0.8]), [3, 4],
                                                  up_to_scale=True).message
    assert "up to sign" in compare([1.0], [-1.0], up_to_sign=True).message
    assert compare({"a": 1}, {"b": 1}).hint == "the keys are named differently"


def test_matching_finds_augmenting_paths() -> None:
    from grader.checks.common import max_matching

    # Greedy in order would give e0 -> a0 and leave e1 unmatched.
    assert max_matching([[True, True], [True, False]]) == [1, 0]
    table = [[j in (i, i + 1) for j in range(6)] for i in range(6)]  # a long chain
    table[5] = [True] + [False] * 5
    match = max_matching(table)
    assert sorted(m for m in match if m is not None) == list(range(6))
    assert max_matching([[False, False], [True, True]]) == [None, 0]


def test_unordered_is_fast_on_a_thousand_values() -> None:
    import time

    rng = np.random.default_rng(0)
    values = rng.normal(size=1000)
    start = time.monotonic()
    assert compare(values, rng.permutation(values), unordered=True).equal is True
    shuffled = rng.permutation(values)
    shuffled[17] += 1e-3
    assert compare(values, shuffled, unordered=True).equal is False
    assert time.monotonic() - start < 5


DIFF_CASES: list[tuple[Any, Any, dict[str, Any] | None]] = [
    (np.array([1.0, 2.0, 3.0]), [1.0, 2.5, 3.0],
     {"expected": ["1.0", "2.0", "3.0"], "received": ["1.0", "2.5", "3.0"],
      "mismatch": [[0, 1]]}),
    (np.array([[1, 2], [3, 4]]), [[1, 2], [4, 3]],
     {"expected": [["1", "2"], ["3", "4"]], "received": [["1", "2"], ["4", "3"]],
      "mismatch": [[1, 0], [1, 1]]}),
    (np.array([1.0, 2.0]), [[1.0, 2.0]],  # shapes differ: nothing corresponds
     {"expected": ["1.0", "2.0"], "received": [["1.0", "2.0"]], "mismatch": []}),
    (np.array([0.1, NAN]), [0.1000000001, NAN],
     {"expected": ["0.1", "nan"], "received": ["0.1000000001", "nan"], "mismatch": [[0, 1]]}),
    (np.zeros(201), np.ones(201), None),  # too large to show
    (np.zeros((2, 2, 2)), np.ones((2, 2, 2)), None),  # three dimensions
    (np.zeros(2), "not numbers", None),
    (1.0, 2.0, None),
]


@pytest.mark.parametrize(("expected", "received", "diff"), DIFF_CASES)
def test_array_diff(expected: Any, received: Any, diff: dict[str, Any] | None) -> None:
    from grader.checks.numbers import array_diff

    assert array_diff(expected, received) == diff


def test_array_diff_uses_the_options() -> None:
    from grader.checks.numbers import array_diff

    out = array_diff(np.array([1 / 3, 2 / 3]), [0.333, 0.666], sigfigs=3)
    assert out is not None and out["mismatch"] == [[0, 1]]
    assert array_diff(np.array([NAN]), [NAN], equal_nan=True)["mismatch"] == []  # type: ignore[index]


def test_text_is_parsed_without_evaluating() -> None:
    from grader.checks.numbers import parse_text

    assert parse_text("1/7") == Fraction(1, 7)
    assert parse_text("True") is True
    assert parse_text("[1, 2]").tolist() == [1, 2]
    assert parse_text("sqrt(2)/2") == pytest.approx(math.sqrt(2) / 2)
    for text in ("__import__('os')", "[1, 2", "", "1 +", "[1, [2]]"):
        with pytest.raises(ValueError):
            parse_text(text)


def test_grade_uses_the_options_and_fills_hint_and_diff() -> None:
    spec = _spec("q3_vector", sigfigs=2, partial=True)
    assert _grade(spec, [1.04, 2.0, 3.0, 4.04]).status == "passed"
    result = _grade(spec, [1.0, 2.0, 3.0, 4.5])
    assert result.status == "partial" and result.diff is not None
    assert result.diff["mismatch"] == [[0, 3]]
    flipped = _grade(_spec("q3_vector", up_to_sign=True), [-1.0, -2.0, -3.0, -4.0])
    assert flipped.status == "passed"
    wrong = _grade(_spec("q3_vector"), [-1.0, -2.0, -3.0, -4.0])
    assert wrong.hint == "sign flipped" and "Hint" not in wrong.message
    hidden = _grade(_spec("q3_vector", visible=False), [1.0, 2.0, 3.0, 5.0])
    assert hidden.diff is None and hidden.expected is None


def test_grade_mistakes_use_the_same_options() -> None:
    mistake = Mistake(id="rounded", feedback="Rounded too early.", value=0.14, credit=0.5)
    spec = _spec("anything", value=Fraction(1, 7), sigfigs=4, mistakes=(mistake,))
    assert _grade(spec, 0.1429).status == "passed"
    result = _grade(spec, 0.14)
    assert (result.status, result.mistake) == ("partial", "rounded")


def _rubric(tmp_path: Any, check: str, kind: str = "numeric") -> Any:
    from grader.rubric import load_rubric

    (tmp_path / "ref.py").write_text("q = 1.0\n")
    (tmp_path / "r.toml").write_text(f"""
[assignment]
id = "t"
reference = "ref.py"
[[questions]]
id = "q1"
points = 1
[[questions.checks]]
answer = "q"
kind = "{kind}"
{check}
""")
    return load_rubric(tmp_path / "r.toml")


@pytest.mark.parametrize(("check", "key", "fragment"), [
    ("sigfigs = 0", "sigfigs", "from 1 to 50"),
    ("sigfigs = 3.0", "sigfigs", "wrong type float"),
    ("decimals = 51", "decimals", "from 0 to 50"),
    ("sigfigs = 3\ndecimals = 2", "decimals", "not both"),
    ("sigfigs = 3\nrtol = 0.1", "rtol", "replaces rtol and atol"),
    ("unordered = 1", "unordered", "wrong type int"),
    ("equal_nan = \"yes\"", "equal_nan", "wrong type str"),
    ("symbols = [\"x\"]", "symbols", "not an option of a numeric check"),
    ("random = { count = 2, seed = 1, args = [] }", "random", "not an option"),
])
def test_rubric_refuses_bad_number_options(tmp_path: Any, check: str, key: str,
                                           fragment: str) -> None:
    from grader.errors import RubricError

    with pytest.raises(RubricError) as info:
        _rubric(tmp_path, check)
    assert info.value.key == key and info.value.question == "q1"
    assert fragment in str(info.value) and "r.toml" in str(info.value)


def test_rubric_reads_number_options(tmp_path: Any) -> None:
    from grader.checks.numeric import spec_options

    rubric = _rubric(tmp_path, "sigfigs = 3\nunordered = true\nup_to_sign = true\n"
                               "up_to_scale = true\nequal_nan = true\nbool_as_number = true\n"
                               "squeeze = true")
    spec = rubric.questions[0].checks[0]
    assert spec_options(spec) == {
        "rtol": None, "atol": None, "sigfigs": 3, "decimals": None, "equal_nan": True,
        "bool_as_number": True, "unordered": True, "up_to_sign": True, "up_to_scale": True,
        "squeeze": True}


# --------------------------------------------------------------------------- issue 13

EIGENVECTOR = np.array([1.0, 0.0, 2.0])
NOISE = [2.2e-16, -1.1e-16, 4.4e-16]

# Directions, squeeze and sets on Python values (the table's texts cannot write these).
WHOLE_VALUE_CASES = [
    # up_to_scale compares directions; a vector of norm <= atol is the zero vector
    ([1.0, 2.0, 3.0], NOISE, {"up_to_scale": True}, False),
    ([1.0, 2.0, 3.0], NOISE, {"up_to_scale": True, "up_to_sign": True}, False),
    ([1.0, 2.0, 3.0], NOISE, {"up_to_scale": True, "atol": 0}, False),
    (EIGENVECTOR, np.array([2.0, 0.0, 4.0]), {"up_to_scale": True}, True),
    (EIGENVECTOR, np.array([2.0, 0.0, 4.0]), {"up_to_scale": True, "atol": 0}, True),
    (EIGENVECTOR, np.array([-2.0, 1e-17, -4.0]),
     {"up_to_scale": True, "up_to_sign": True, "atol": 0}, True),
    (EIGENVECTOR, np.array([2.0, 1e-4, 4.0]), {"up_to_scale": True}, False),
    (EIGENVECTOR, np.zeros(3), {"up_to_scale": True, "up_to_sign": True}, False),
    (np.zeros(3), np.array([1e-12, 0.0, 0.0]), {"up_to_scale": True}, True),
    (np.zeros(3), EIGENVECTOR, {"up_to_scale": True, "up_to_sign": True}, False),
    (np.array([1e200, 2e200]), [3e200, 6e200], {"up_to_scale": True}, True),  # no overflow
    (np.array([1e200, 2e200]), [3e-200, 6e-200], {"up_to_scale": True, "atol": 0}, True),
    (np.array([1e200, 2e200]), [3e-200, 6.1e-200], {"up_to_scale": True, "atol": 0}, False),
    (np.array([1.0, 2.0]), [2.0, 4.0], {"up_to_scale": True, "rtol": 0, "atol": 0}, True),
    (np.array([1.0, 0.0]), [0.0, 1.0], {"up_to_scale": True, "up_to_sign": True}, False),
    (np.array([0.6, 0.8]), [-3.0, -4.002], {"up_to_scale": True, "up_to_sign": True,
                                           "sigfigs": 3}, True),
    (np.array([0.6, 0.8]), [-3.0, -4.1], {"up_to_scale": True, "up_to_sign": True,
                                         "sigfigs": 3}, False),
    (np.array([1 + 1j, 2.0]), [2 + 2j, 4.0], {"up_to_scale": True}, True),
    (np.array([1 + 1j, 2.0]), [2j, 4.0], {"up_to_scale": True}, False),  # a phase is no real k
    (np.array([0.6, 0.8]), [-1.2, -1.6], {"up_to_sign": True}, False),  # the length counts
    ([[1.0, 0.0], [0.0, 1.0]], [[0.0, 1e-17], [3.0, 0.0]],
     {"unordered": True, "up_to_scale": True, "atol": 0}, True),  # with atol 0, 1e-17 has a
    ([[1.0, 0.0], [0.0, 1.0]], [[0.0, 1e-17], [3.0, 0.0]],       # direction; by default
     {"unordered": True, "up_to_scale": True}, False),            # it is the zero vector
    # squeeze: length-1 axes dropped on both sides, nothing else relaxed
    (np.array([1.0, 2.0, 3.0]), np.array([[1.0], [2.0], [3.0]]), {"squeeze": True}, True),
    (np.array([1.0, 2.0, 3.0]), np.array([[1.0], [2.0], [3.0]]), {}, False),
    (np.array([[1.0], [2.0], [3.0]]), [1.0, 2.0, 3.0], {"squeeze": True}, True),
    (np.array([1.0, 2.0, 3.0]), np.array([[1.0, 2.0, 3.0]]).T.T, {"squeeze": True}, True),
    (np.array([1.0, 2.0, 3.0]), np.array([[1.0], [2.0], [3.5]]), {"squeeze": True}, False),
    (np.array([1.0, 2.0, 3.0, 4.0]), np.array([[1.0, 2.0], [3.0, 4.0]]), {"squeeze": True},
     False),
    (7, np.array([[7]]), {"squeeze": True}, True),
    (7, np.array([[7]]), {}, False),
    ({"v": [1.0, 2.0]}, {"v": [[1.0], [2.0]]}, {"squeeze": True}, True),
    ({"v": [1.0, 2.0]}, {"v": [[1.0], [2.0]]}, {}, False),
    ([[1.0, 2.0]], [np.array([[2.0], [4.0]])],
     {"squeeze": True, "unordered": True, "up_to_scale": True}, True),
    ([[1.0, 2.0]], [np.array([[5.0], [7.0]])],
     {"squeeze": True, "unordered": True, "up_to_scale": True}, False),
    # sets: a multiset of their elements under unordered, and only there
    ([1, 2, 3], {3, 2, 1}, {"unordered": True}, True),
    ([1, 2, 3], frozenset({3, 2, 1}), {"unordered": True}, True),
    ([1, 2, 3], {3, 2, 1}, {}, False),
    ([1, 2, 3], {3, 2, 4}, {"unordered": True}, False),
    ([1, 1, 2], {1, 2}, {"unordered": True}, False),
    ([0.1, 0.2], {0.2000000001, 0.1}, {"unordered": True}, True),
    ([(1, 2), (3, 4)], {(3, 4), (1, 2)}, {"unordered": True}, True),
    ([(1, 2), (3, 4)], {(3, 4), (1, 3)}, {"unordered": True}, False),
    ({1, 2}, [2, 1], {"unordered": True}, True),
    ([[1.0, 2.0]], {(2.0, 4.0)}, {"unordered": True, "up_to_scale": True}, True),
    # exact numbers past int64 and past a float's range
    ([2**70, 1], [2**70 + 1, 1], {}, False),
    ([2**70, 1], [2**70, 1], {}, True),
    ([2**70, 1], np.array([2**70, 1], dtype=object), {}, True),
    ([2**70, 1], [float(2**70), 1], {}, True),  # an exactly integral float
    ([2**70 + 1, 1], [float(2**70), 1], {}, False),
    ([2**70 + 1, 1], [float(2**70), 1], {"rtol": 1e-6}, True),
    ([Fraction(10**400), 1], [Fraction(2 * 10**400), 1], {}, False),
    ([Fraction(10**400), 1], [math.inf, 1], {}, False),
    ([2**70, 2**70, 5], [5, 2**70, 2**70 + 1], {"unordered": True}, False),
    ([[2**70, 1], [3, 4]], [[3, 4], [2**70, 1.0]], {"unordered": True}, True),
    ([[2**70, 1], [3, 4]], [[3, 4], [2**70, 1.5]], {"unordered": True}, False),
    ([2**70, 1], [1, float(2**70)], {"unordered": True, "rtol": 1e-6}, True),
    ([Fraction(10**400), 1], [1, Fraction(10**400 + 10**390)], {"unordered": True}, True),
]


@pytest.mark.parametrize(("expected", "received", "options", "equal"), WHOLE_VALUE_CASES)
def test_directions_squeeze_sets_and_exact_numbers(expected: Any, received: Any,
                                                    options: dict[str, Any],
                                                    equal: bool) -> None:
    result = compare(expected, received, **options)
    assert result.equal is equal, result.message
    assert result.equal or result.message


def test_sympy_columns_squeeze_and_sets_of_eigenvalues() -> None:
    import sympy as sp

    column = sp.Matrix([1, 2, 3])
    assert compare([1, 2, 3], column, squeeze=True).equal is True
    assert compare([1, 2, 3], column).equal is False
    vectors = [v for _, _, vs in sp.Matrix([[2, 0], [0, 3]]).eigenvects() for v in vs]
    assert compare([[1, 0], [0, 1]], vectors, squeeze=True, unordered=True,
                   up_to_scale=True, up_to_sign=True).equal is True
    assert compare([2, 3], set(sp.Matrix([[2, 0], [0, 3]]).eigenvals()),
                   unordered=True).equal is True


def test_direction_and_set_messages() -> None:
    noise = compare([1.0, 2.0, 3.0], NOISE, up_to_scale=True)
    assert "zero vector" in noise.message and "atol" in noise.message
    negative = compare([0.6, 0.8], [-3.0, -4.0], up_to_scale=True)
    assert negative.equal is False and "negative multiple" in negative.message
    assert "up to a negative scale factor (-5)" in compare(
        [0.6, 0.8], [-3.0, -4.0], up_to_scale=True, up_to_sign=True).message
    expected_set = compare({1, 2}, [1, 2])
    assert expected_set.equal is None and "unordered" in expected_set.message
    assert "set" in compare([1, 2], {1, 2}).message
    huge = compare(Fraction(10**400), Fraction(2 * 10**400))
    assert huge.message == "expected 1.00000e+400, got 2.00000e+400"
    assert "1 of 2 entries differ" in compare([2**70, 1], [2**70 + 1, 1]).message


@pytest.mark.parametrize(("text", "value"), [
    ("1e400", Fraction(10**400)),
    ("-1e400", Fraction(-(10**400))),
    ("1e-400", Fraction(1, 10**400)),
    ("1.5e308", 1.5e308),
    ("0e400", 0.0),
    ("1e400/4", Fraction(10**400, 4)),
    ("123456789012345678901234567890", 123456789012345678901234567890),
    ("{1, 2.5, 1/2}", frozenset({1, 2.5, Fraction(1, 2)})),
    ("{1, 1}", frozenset({1})),
])
def test_numbers_as_written(text: str, value: Any) -> None:
    from grader.checks.numbers import parse_text

    parsed = parse_text(text)
    assert parsed == value and type(parsed) is type(value)


def test_lists_of_huge_numbers_stay_exact() -> None:
    from grader.checks.numbers import parse_text

    parsed = parse_text("[123456789012345678901234567890, 1]")
    assert parsed.dtype == object and parsed.tolist() == [123456789012345678901234567890, 1]
    assert parse_text("[2**70, 1]").tolist() == [2**70, 1]
    assert parse_text("[1e400, 2]").tolist() == [Fraction(10**400), 2]
    assert parse_text("[9223372036854775807]").dtype == np.int64
    assert parse_text("2*1e400") == Fraction(2 * 10**400)


@pytest.mark.parametrize(("text", "fragment"), [
    ("1e5000", "beyond the grader's range"),
    ("[1, 1e-5000]", "beyond the grader's range"),
    ("1e999999999", "beyond the grader's range"),
    ("1/1e999999999", "beyond the grader's range"),
    ("sqrt(2)*1e400", "beyond the range of the grader's floats"),
    ("{}", "not a set of numbers"),
    ("{1, x}", "not a number"),
    ("{1, {2}}", "not a set of numbers"),
])
def test_numbers_past_the_range_are_refused(text: str, fragment: str) -> None:
    import time

    from grader.checks.numbers import parse_text

    start = time.perf_counter()
    with pytest.raises(ValueError, match="not numbers") as info:
        parse_text(text)
    assert fragment in str(info.value)
    assert time.perf_counter() - start < 1.0  # refused, never expanded


def test_squeeze_in_grading_partial_credit_and_diff(tmp_path: Any) -> None:
    from grader.errors import RubricError

    rubric = _rubric(tmp_path, "squeeze = true\npartial = true")
    assert rubric.questions[0].checks[0].options.squeeze is True
    column = np.array([[1.0], [2.0], [3.0], [4.0]])
    assert _grade(_spec("q3_vector", squeeze=True), column).status == "passed"
    assert _grade(_spec("q3_vector"), column).status == "failed"
    wrong = _grade(_spec("q3_vector", squeeze=True, partial=True),
                   np.array([[1.0], [2.0], [3.0], [5.0]]))
    assert wrong.status == "partial" and wrong.score == pytest.approx(1.5)
    assert wrong.diff is not None and wrong.diff["mismatch"] == [[0, 3]]
    with pytest.raises(RubricError):
        _rubric(tmp_path, 'squeeze = "yes"')


def test_unordered_exact_numbers_are_counted_not_matched_pair_by_pair() -> None:
    import time

    values = [2**70 + i for i in range(2000)]
    start = time.perf_counter()
    assert compare(values, list(reversed(values)), unordered=True).equal is True
    assert compare(values, [*values[:-1], 0], unordered=True).equal is False
    assert compare([2**70] * 2000, [2**70] * 2000, unordered=True).equal is True
    assert time.perf_counter() - start < 2.0
    huge = [Fraction(10**400 + i) for i in range(1000)]
    refused = compare(huge, huge, unordered=True)  # a tolerance, one by one: too many
    assert refused.equal is None and "too many" in refused.message
