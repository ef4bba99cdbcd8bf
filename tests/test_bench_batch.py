"""The batch benchmark's own logic, without kernels: checkpoints, the rubric edit, the table.

The benchmark's runs take minutes and are run by hand; what it computes from them, and the
check-only rubric edit its regrade depends on, are tested here.
"""

from __future__ import annotations

import argparse
import dataclasses
import importlib.util
import sys
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

from grader.rubric import load_rubric

ROOT = Path(__file__).resolve().parents[1]


def _bench() -> ModuleType:
    spec = importlib.util.spec_from_file_location("bench_batch", ROOT / "benchmarks" /
                                                  "bench_batch.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # its dataclasses look their module up
    spec.loader.exec_module(module)
    return module


bench = _bench()


def test_checkpoints_parse_as_sorted_distinct_counts() -> None:
    assert bench.parse_checkpoints("40,300,1000") == (40, 300, 1000)
    assert bench.parse_checkpoints("1000, 40,40,") == (40, 1000)
    for bad in ("", "0,40", "forty"):
        with pytest.raises(argparse.ArgumentTypeError):
            bench.parse_checkpoints(bad)


def _point(done: int, elapsed: float, rss: float = 90.0) -> Any:
    return bench.Checkpoint(done=done, elapsed=elapsed, coordinator=rss, peak=rss)


def test_time_per_result_between_checkpoints() -> None:
    points = [_point(40, 30.0), _point(300, 225.0), _point(1000, 750.0)]
    assert bench.per_result(points) == [(0, 40, 0.75), (40, 300, 0.75), (300, 1000, 0.75)]
    assert bench.per_result([]) == []


def test_summary_counts_read_the_last_summary_line() -> None:
    out = ("[1/2] s0000: re-checked 75.5/101 (from stored answers)\n"
           "Reports for 2 submission(s) in out/ (0 graded now in a kernel, 2 re-checked from "
           "stored answers, 0 kept; index.html, students/ ...)\n")
    assert bench.summary_counts(out) == (0, 2, 0)
    assert bench.summary_counts("no summary") is None


def _leaves(x: Any, where: str = "") -> Iterator[tuple[str, Any]]:
    if dataclasses.is_dataclass(x) and not isinstance(x, type):
        for f in dataclasses.fields(x):
            yield from _leaves(getattr(x, f.name), f"{where}.{f.name}")
    elif isinstance(x, list | tuple):
        for i, v in enumerate(x):
            yield from _leaves(v, f"{where}[{i}]")
    elif isinstance(x, dict):
        for k, v in x.items():
            yield from _leaves(v, f"{where}[{k!r}]")
    else:
        yield where, x


def test_the_rubric_edit_changes_checks_alone(tmp_path: Path) -> None:
    source = ROOT / "rubrics" / "hw2.toml"
    text, edits = bench.edit_checks(source.read_text("utf-8"), source.parent)
    copy = tmp_path / "hw2.toml"
    copy.write_text(text, "utf-8")
    before, after = dict(_leaves(load_rubric(source))), dict(_leaves(load_rubric(copy)))
    assert before.keys() == after.keys()
    changed = {k for k in before if before[k] != after[k]} - {".path", ".digest"}
    # A tolerance, a mistake's feedback, a question's points: nothing a kernel run uses
    # (answers, inputs, execution settings, the reference) is among them.
    assert len(changed) == 3 and len(edits) == 3
    assert any(k.endswith((".atol", ".rtol")) for k in changed)
    assert any(k.endswith(".feedback") and ".mistakes[" in k for k in changed)
    assert any(k.endswith(".points") and ".checks" not in k for k in changed)
    assert before[".digest"] != after[".digest"]


def test_the_rubric_edit_names_what_a_rubric_lacks() -> None:
    text = ('[assignment]\nid = "x"\nreference = "ref.py"\n\n[[questions]]\nid = "q"\n'
            'points = 2\n\n[[questions.checks]]\nanswer = "a"\nkind = "numeric"\n'
            'rtol = 1e-6\n')
    with pytest.raises(ValueError, match="feedback"):
        bench.edit_checks(text, ROOT)


def test_the_targets_table() -> None:
    timings = {"a": bench.Timing(name="a", per_submission=[0.5] * 40, wall=20.0),
               "c": bench.Timing(name="c", per_submission=[1.0] * 40, wall=40.0)}
    regrade = bench.Regrade(wall=1.5, counts=(0, 40, 0), edits=())
    points = [_point(40, 20.0, 90.0), _point(300, 150.0, 95.0), _point(1000, 500.0, 100.0)]
    rows = {r[0].split(",")[0]: r for r in bench.targets(40, timings, regrade, points)}
    assert rows["batch: a/c"][1:] == ("0.50", "<= 0.6", "yes")
    assert rows["nbgrader: a/d"][1] == "not run"
    assert rows["regrade after a check-only edit: r/a"][3] == "yes"
    assert rows["coordinator memory at 40/300/1000 results"][1:4:2] == ("90 / 95 / 100 MB",
                                                                        "yes")
    assert rows["time per result"][1:4:2] == ("0.50 / 0.50 / 0.50 s", "yes")
    half = bench.Regrade(wall=1.5, counts=(20, 20, 0), edits=())
    again = {r[0]: r for r in bench.targets(40, timings, half, points[:1])}
    assert again["regrade after a check-only edit: r/a"][3] == "no"
    assert again["coordinator memory at 40 results"][3] == "-"
