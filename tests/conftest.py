"""Shared test configuration: pytester, and HW2 with some checks hidden from students.

``hw2_hidden`` is a copy of rubrics/hw2.toml in which a few checks are hidden (one only
until the due date); ``secrets`` knows every value those checks must never show a student
(inputs, expected outputs, mistakes' values and feedback, and the reference's source
lines), and finds them in a text. The release, plugin and Gradescope tests share them.
``crowded_cpu`` makes this process, and what it starts, share one CPU with busy processes.
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
        text = text.replace(line, f'{line}visibility = "{visibility}"\n')
    path = tmp_path_factory.mktemp("hidden") / "hw2.toml"
    path.write_text(text, "utf-8")
    return HiddenHW2(rubric=path, hidden=dict(HIDDEN))


class Secrets:
    """What the hidden checks must never show a student, and a search for it in text."""

    def __init__(self, tokens: dict[str, str], numbers: dict[str, str]) -> None:
        self.tokens = tokens  # text -> what it is (substring search)
        self.numbers = numbers  # number text -> what it is (searched as a whole number)
        alternatives = "|".join(re.escape(n) for n in sorted(numbers, key=len, reverse=True))
        self._numbers = re.compile(rf"(?<![\w.])(?:{alternatives})(?![\w])")

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
