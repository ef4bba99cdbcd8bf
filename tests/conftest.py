"""Shared test configuration: pytester, and HW2 with some checks hidden from students.

``hw2_hidden`` is a copy of rubrics/hw2.toml in which a few checks are hidden (feedback
none; one only until the due date) and out of the student bundle (public none);
``secrets`` knows every value those checks must never show a student (inputs, expected
outputs, mistakes' values and feedback, and the reference's source lines), and finds
them in a text. ``answer_key`` knows every value of every HW2 check, which no student
bundle may hold. The release, plugin and Gradescope tests share them. ``crowded_cpu``
makes this process, and what it starts, share one CPU with busy processes.
"""

from __future__ import annotations

import math
import os
import re
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

# pytester runs pytest inside a test: the pytest plugin is tested through it.
pytest_plugins = ["pytester"]

ROOT = Path(__file__).parents[1]
HW2_RUBRIC = ROOT / "rubrics" / "hw2.toml"
HW2_REFERENCE = ROOT / "reference" / "hw2.py"

# answer -> visibility in the copy: a literal numeric check with literal mistakes, function
# checks with literal inputs and with generated ones (with mistakes), a symbolic check,
# and a check hidden only until the due date.
HIDDEN = {
    "q1_4_params": "hidden",
    "count_params": "hidden",
    "q3_1_grads": "hidden",
    "q3_3_gd_step": "hidden",
    "adam_step": "hidden",
    "q5_3_converges": "after_due_date",
}


@dataclass(frozen=True)
class HiddenHW2:
    """The copy of the HW2 rubric with the checks of ``HIDDEN`` hidden."""

    rubric: Path
    hidden: dict[str, str]


@pytest.fixture(scope="session")
def hw2_hidden(tmp_path_factory: pytest.TempPathFactory) -> HiddenHW2:
    """Write the copy (its reference stays the repository's, by absolute path)."""
    text = HW2_RUBRIC.read_text("utf-8")
    text = text.replace('reference = "../reference/hw2.py"',
                        f"reference = {str(HW2_REFERENCE)!r}")
    for answer, visibility in HIDDEN.items():
        line = f'answer = "{answer}"\n'
        assert text.count(line) == 1, answer
        # its own public setting gives way to the copy's
        text = re.sub(rf'({re.escape(line)}(?:(?!answer = ).*\n)*?)public = "[a-z]+"\n',
                      r"\1", text)
        shown = ('feedback = "none"' if visibility == "hidden"
                 else 'feedback_when = "due_date"')
        text = text.replace(line, f'{line}{shown}\npublic = "none"\n')
    path = tmp_path_factory.mktemp("hidden") / "hw2.toml"
    path.write_text(text, "utf-8")
    return HiddenHW2(rubric=path, hidden=dict(HIDDEN))


class Secrets:
    """What the hidden checks must never show a student, and a search for it in text."""

    def __init__(self, tokens: dict[str, str], numbers: dict[str, str]) -> None:
        self.tokens = tokens  # text -> what it is (substring search)
        self.numbers = numbers  # number text -> what it is (searched as a whole number)
        alternatives = "|".join(re.escape(n) for n in sorted(numbers, key=len, reverse=True))
        # (a number before "%" is pytest's progress, "[100%]", not an answer)
        self._numbers = re.compile(rf"(?<![\w.])(?:{alternatives})(?![\w%])")

    def find(self, text: str) -> list[str]:
        """Every secret in ``text``, as "what: text" (empty when there is none)."""
        flat = " ".join(text.split())
        found = [f"{what}: {tok}" for tok, what in self.tokens.items()
                 if tok in text or " ".join(tok.split()) in flat]
        found += [f"{self.numbers[m.group(0)]}: {m.group(0)}"
                  for m in self._numbers.finditer(text)]
        return found


@pytest.fixture(scope="session")
def secrets(hw2_hidden: HiddenHW2) -> Secrets:
    """The hidden checks' inputs, outputs, mistakes and feedback, and the reference source."""
    import sympy as sp

    from grader.calls import reference_outputs
    from grader.rubric import load_rubric

    rubric = load_rubric(hw2_hidden.rubric)
    ref = rubric.load_reference()
    public_floats: set[float] = set()
    public_ints: set[int] = set()
    hidden_values: list[tuple[str, Any]] = []
    tokens: dict[str, str] = {}
    for q in rubric.questions:
        for c in q.checks:
            values: list[Any] = []
            calls = c.options.resolve(ref) if c.kind in ("function", "property") else ()
            values += [list(call.args) + list(call.kwargs.values()) for call in calls]
            if c.kind == "function":
                values.append(reference_outputs(getattr(ref, c.reference_name), calls))
                values += [reference_outputs(getattr(ref, m.reference), calls)
                           for m in c.mistakes if m.reference]
            elif c.kind in ("numeric", "symbolic"):
                values.append(c.value if c.value is not None else getattr(ref, c.reference_name))
                values += [m.value if m.reference is None else getattr(ref, m.reference)
                           for m in c.mistakes]
            if c.visible:  # a value a visible check uses too is no secret
                for v in _scalars(values):
                    (public_ints if isinstance(v, int) else public_floats).add(v)
                continue
            where = f"{c.answer} (hidden)"
            hidden_values += [(where, v) for v in _scalars(values)]
            for call in calls:
                tokens[repr(list(call.args))] = f"{where} input"
                tokens[call.display()] = f"{where} input"
            for m in c.mistakes:
                tokens[m.feedback] = f"{where} feedback {m.id}"
            for v in values:
                for expr in _sympy(v, sp):
                    if isinstance(expr, str):  # rubric text of a symbolic value
                        tokens[expr] = f"{where} expected"
                    else:
                        tokens[sp.sstr(expr)] = f"{where} expected"
                        tokens[str(expr)] = f"{where} expected"
    numbers: dict[str, str] = {}
    for where, v in hidden_values:
        if v in (public_ints if isinstance(v, int) else public_floats):
            continue
        for text in _number_forms(v):
            numbers.setdefault(text, f"{where} value {v!r}")
    for line in HW2_REFERENCE.read_text("utf-8").splitlines():
        line = line.strip()
        if len(line) >= 20 and not line.startswith(("import ", "from ")):
            tokens[line] = "reference source"
    return Secrets(tokens, numbers)


def _scalars(value: Any) -> Iterator[Any]:
    import numpy as np

    if isinstance(value, np.ndarray):
        yield from (x.item() for x in value.ravel())
    elif isinstance(value, list | tuple):
        for v in value:
            yield from _scalars(v)
    elif isinstance(value, dict):
        for v in value.values():
            yield from _scalars(v)
    elif isinstance(value, bool | np.bool_):
        return
    elif isinstance(value, int | float | np.integer | np.floating):
        yield value.item() if isinstance(value, np.generic) else value


def _sympy(value: Any, sp: Any) -> Iterator[Any]:
    """The sympy objects (and symbolic rubric text) in an expected value."""
    if isinstance(value, sp.Basic) or (isinstance(value, str) and len(value) >= 5):
        yield value
    elif isinstance(value, dict):
        for v in value.values():
            yield from _sympy(v, sp)


def _number_forms(x: int | float) -> list[str]:
    """A hidden number as a student could meet it: repr, str and rounded; only telling ones."""
    if isinstance(x, int):
        return [str(x)] if abs(x) >= 100 else []
    if not math.isfinite(x) or _significant(repr(x)) < 6:
        return []
    forms = {repr(x), str(x), f"{x:.6g}", f"{x:.4g}", repr(round(x, 4))}
    return sorted(f for f in forms if _significant(f) >= 4)


def _significant(text: str) -> int:
    mantissa = text.lower().split("e")[0]
    return len(re.sub(r"\D", "", mantissa).lstrip("0"))


BUSY = 4  # processes that crowded_cpu keeps running


@pytest.fixture
def crowded_cpu() -> Iterator[int]:
    """Pin this process (and all it starts) to one CPU on which ``BUSY`` processes spin.

    What runs here then gets a fifth of a CPU or less, as when other students' kernels
    load the machine. Each busy process has a session of its own, so that the scheduler's
    grouping by session (autogroup) does not hand this one back half of the CPU.
    """
    if not hasattr(os, "sched_setaffinity"):
        pytest.skip("needs CPU affinity (Linux)")
    allowed = os.sched_getaffinity(0)
    os.sched_setaffinity(0, {min(allowed)})
    busy = [subprocess.Popen([sys.executable, "-c", "while True: pass"],
                             start_new_session=True) for _ in range(BUSY)]
    try:
        time.sleep(0.5)  # until they spin
        yield BUSY
    finally:
        for process in busy:
            process.kill()
            process.wait()
        os.sched_setaffinity(0, allowed)


def answer_key_of(rubric_path: Path) -> Secrets:
    """Every answer of a rubric a student bundle must not hold, in every form we render.

    For every check (not only hidden ones): the expected value, every hidden input, the
    reference's outputs on the hidden and on the public inputs, and every mistake's value,
    outputs and feedback. Numbers are searched as whole numbers in repr, str, TOML, JSON,
    6 and 17 significant digits; sympy values as sstr, str, srepr and LaTeX. What no text
    search can tell from ordinary prose is left out and said so: ints below 100 in size,
    bools, and floats of fewer than 4 significant digits (the bundle's hashes and forms
    protect those by construction). Numbers the question texts, titles and public inputs
    state are public by definition and not searched.
    """
    import json

    import sympy as sp

    from grader.calls import reference_outputs
    from grader.release import toml_value
    from grader.rubric import load_rubric

    rubric = load_rubric(rubric_path)
    ref = rubric.load_reference()
    tokens: dict[str, str] = {}
    values: list[tuple[str, Any]] = []
    public_numbers: set[str] = set()
    prose = " ".join(f"{q.title} {q.text}" for q in rubric.questions)
    for q in rubric.questions:
        for c in q.checks:
            where = f"{c.answer}"
            options = c.options
            calls = options.resolve(ref) if hasattr(options, "resolve") else ()
            public_calls = getattr(options, "public_inputs", ())
            for call in public_calls:
                for v in _scalars(list(call.args) + list(call.kwargs.values())):
                    public_numbers.update(_all_forms(v))
            values += [(f"{where} input", list(call.args) + list(call.kwargs.values()))
                       for call in calls]
            for call in calls:
                tokens[call.display()] = f"{where} input"
            expected_name = c.reference_name
            if c.kind == "function":
                func = getattr(ref, expected_name)
                values.append((f"{where} output", reference_outputs(func, calls)))
                values.append((f"{where} public output", reference_outputs(func, public_calls)))
                for m in c.mistakes:
                    if m.reference:
                        values.append((f"{where} mistake {m.id}",
                                       reference_outputs(getattr(ref, m.reference), calls)))
            elif c.kind in ("numeric", "symbolic"):
                truth = c.value if c.value is not None else getattr(ref, expected_name)
                values.append((f"{where} expected", truth))
                values += [(f"{where} mistake {m.id}",
                            m.value if m.reference is None else getattr(ref, m.reference))
                           for m in c.mistakes]
            elif c.kind == "manual" and hasattr(ref, c.answer):
                tokens[str(getattr(ref, c.answer))] = f"{where} model answer"
            for m in getattr(options, "mistakes", ()):
                tokens[m.feedback] = f"{where} feedback {m.id}"
    numbers: dict[str, str] = {}
    for what, value in values:
        for v in _scalars(value):
            for text in _telling_forms(v, json, toml_value):
                if text not in public_numbers and not re.search(
                        rf"(?<![\w.]){re.escape(text)}(?![\w])", prose):
                    numbers.setdefault(text, f"{what} {v!r}")
        for expr in _sympy(value, sp):
            if isinstance(expr, str):
                tokens[expr] = f"{what}"
            else:
                for text in (sp.sstr(expr), str(expr), sp.srepr(expr), sp.latex(expr)):
                    if len(text) >= 6:
                        tokens[text] = what
    return Secrets(tokens, numbers)


def _all_forms(x: int | float) -> set[str]:
    return {repr(x), str(x), f"{x:.6g}", f"{x:.17g}"}


def _telling_forms(x: int | float, json: Any, toml_value: Any) -> list[str]:
    """The renderings of a number that a text search can tell from prose."""
    if isinstance(x, bool):
        return []
    if isinstance(x, int):
        return sorted({str(x), json.dumps(x), toml_value(x)}) if abs(x) >= 100 else []
    if not math.isfinite(x):
        return []
    forms = {repr(x), str(x), f"{x:.6g}", f"{x:.17g}", json.dumps(x), toml_value(x)}
    return sorted(f for f in forms if _significant(f) >= 4)


@pytest.fixture(scope="session")
def answer_key() -> Secrets:
    """HW2's whole answer key (every check's values), for searching a student bundle."""
    return answer_key_of(HW2_RUBRIC)
