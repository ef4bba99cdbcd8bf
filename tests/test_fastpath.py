"""One submission's fast path: its kernel starts first, and the result is the batch's.

``grader grade`` of a lone file (and the pytest plugin) starts a plain preloaded kernel
from the rubric's tables before it loads the reference, discovers and compiles the
templates (:meth:`grader.executors.worker.WarmPool.ahead`). What a student or a TA sees
must not change: the result is compared with the same notebook's in a batch, whose
kernels are forked from a fork server. ``--timings`` prints each phase, and what it
times stays out of the results.
"""

from __future__ import annotations

import argparse
import json
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

import grader.executors.worker as worker
import grader.timings as timings
from grader.cli import _head_start, main
from grader.report import STUDENTS
from grader.settings import DEFAULTS

ROOT = Path(__file__).parents[1]
EXAMPLES = ROOT / "submissions_example"
RUBRIC = ROOT / "rubrics" / "hw2.toml"

# What --timings prints for one submission graded in a kernel, in this order.
PHASES = ("start-up", "kernel ready", "kernel wait", "cells", "harvest", "checks",
          "reports", "total")


def _comparable(data: dict[str, Any]) -> dict[str, Any]:
    """A result's JSON without what differs between any two runs: when, and how long."""
    data = dict(data)
    data.pop("graded_at", None)
    data["run"] = {k: v for k, v in data["run"].items() if k != "seconds"}
    return data


def _phases(printed: str) -> list[str]:
    """The phase names of a --timings breakdown, in the order printed."""
    lines = printed.split("timings (seconds", 1)[1].splitlines()[1:]
    return [line[2:15].strip() for line in lines if line.startswith("  ")]


@pytest.mark.kernel
def test_one_submission_is_graded_as_in_a_batch(tmp_path, monkeypatch, capsys) -> None:
    # The same files, at the same paths: alone (fast path) and in a batch of two graded
    # in this process with kernels forked from a fork server (-j 1). Alice plots, so her
    # kernel imports all of the rubric's preload ahead; carol does not, so hers leaves
    # out matplotlib.pyplot (her own code never imports it): the results are the same.
    two = tmp_path / "two"
    two.mkdir()
    for name in ("alice.ipynb", "carol.ipynb"):
        shutil.copy(EXAMPLES / name, two / name)
    monkeypatch.chdir(tmp_path)
    assert main(["grade", "two", "--rubric", str(RUBRIC), "--out", "batch", "-j", "1"]) == 0
    batch_printed = capsys.readouterr()
    preloads: list[tuple[str, ...]] = []
    named_preload = worker.named_preload

    def named(preload: tuple[str, ...], submission: Path) -> tuple[str, ...]:
        preloads.append(named_preload(preload, submission))
        return preloads[-1]

    monkeypatch.setattr(worker, "named_preload", named)
    for student, score, preload in (
            ("alice", "75", ("numpy", "sympy", "matplotlib.pyplot")),
            ("carol", "61.15", ("numpy", "sympy"))):
        assert main(["grade", f"two/{student}.ipynb", "--rubric", str(RUBRIC), "--out",
                     f"one-{student}", "--timings"]) == 0
        printed = capsys.readouterr()

        # The lone file took the fast path (its kernel was asked for at start-up) and the
        # breakdown names every phase, on stderr, once the command's own lines are out.
        assert _phases(printed.err) == list(PHASES), printed.err
        assert "timings" not in printed.out and "timings" not in batch_printed.err
        assert f"[1/1] {student}: {score}/100" in printed.out
        assert preloads[-1] == preload

        def result(out: str, student: str = student) -> dict[str, Any]:
            data: dict[str, Any] = json.loads((tmp_path / out / STUDENTS / f"{student}.json")
                                              .read_text("utf-8"))
            return data

        one, batch = result(f"one-{student}"), result("batch")
        assert _comparable(one) == _comparable(batch)
        assert one["run"]["outcome"] == "ok"
        assert bool(one["run"]["figures"]) == (student == "alice")
        # The page a student reads differs by nothing but the time it was graded.
        pages = [(tmp_path / out / STUDENTS / f"{student}.html").read_text("utf-8")
                 for out in (f"one-{student}", "batch")]
        assert pages[0].replace(one["graded_at"], "") == \
            pages[1].replace(batch["graded_at"], "")


@pytest.mark.parametrize(("text", "kept"), [
    ("import numpy as np\nimport sympy as sp\n", ("numpy", "sympy")),
    ("import matplotlib.pyplot as plt\n", ("matplotlib.pyplot",)),
    ("from matplotlib import pyplot\n", ("matplotlib.pyplot",)),
    ('{"source": ["import numpy\\n", "from sympy import symbols"]}', ("numpy", "sympy")),
    ("# no plot here: matplotlib would only slow it\n", ("matplotlib.pyplot",)),
    ("import matplotlib_helpers, numpyish, mysympy\n", ()),
    ("x = 1\n", ()),
    ("", ()),
], ids=["imports", "module", "from-import", "notebook-json", "comment", "other-words",
        "none", "empty"])
def test_a_lone_kernel_preloads_what_its_file_names(tmp_path, text, kept) -> None:
    path = tmp_path / "sub.py"
    path.write_text(text, "utf-8")
    assert worker.named_preload(("numpy", "sympy", "matplotlib.pyplot"), path) == kept


def test_a_file_that_cannot_be_searched_keeps_the_whole_preload(tmp_path, monkeypatch) -> None:
    preload = ("numpy", "matplotlib.pyplot")
    assert worker.named_preload(preload, tmp_path / "gone.py") == preload
    big = tmp_path / "big.ipynb"
    big.write_bytes(b"x" * (worker.NAMED_PRELOAD_MAX_BYTES + 1))
    assert worker.named_preload(preload, big) == preload
    monkeypatch.setattr(worker, "NAMED_PRELOAD_MAX_BYTES", 10 ** 9)
    assert worker.named_preload(preload, big) == ()
    # Not UTF-8: still searched, as text with the undecodable bytes replaced.
    odd = tmp_path / "odd.py"
    odd.write_bytes(b"\xff\xfeimport numpy\n")
    assert worker.named_preload(preload, odd) == ("numpy",)


@pytest.fixture(scope="module")
def bundle(tmp_path_factory: pytest.TempPathFactory) -> Any:
    """The release of HW2, made once: before any in-process pytest run, which takes the
    modules it imported (numpy's, which loads once per process) out of this process."""
    from grader.release import release

    return release(RUBRIC, tmp_path_factory.mktemp("dist") / "hw2")


def _student_repo(pytester: pytest.Pytester, bundle: Any, example: str) -> Path:
    """A student's repository from the release of HW2, with ``example`` as its notebook."""
    for path in bundle.files:
        dest = pytester.path / path.relative_to(bundle.out)
        dest.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(path, dest)
    shutil.copy(EXAMPLES / example, pytester.path / "hw2.ipynb")
    return pytester.path


@pytest.mark.kernel
def test_the_plugin_prints_its_breakdown_in_its_summary(pytester, bundle,
                                                        monkeypatch) -> None:
    # The correct example; no plugins but ours in the inner pytest (others cost a second
    # a run).
    _student_repo(pytester, bundle, "alice.ipynb")
    monkeypatch.setenv("PYTEST_DISABLE_PLUGIN_AUTOLOAD", "1")
    result = pytester.runpytest("-p", "grader.plugin", "--grader-timings")
    result.assert_outcomes(passed=14, skipped=5)
    out = result.stdout.str()
    summary = out.split("= grader =", 1)[1]
    assert _phases(summary) == [p for p in PHASES if p != "reports"], summary  # no pages
    assert timings.running() is None  # the inner session stopped its clock


# Writes how many objects the collector no longer walks once the questions ran.
_FROZEN_PROBE = """
import gc
from pathlib import Path

def pytest_sessionfinish(session):
    Path("frozen.txt").write_text(str(gc.get_freeze_count()))
"""


@pytest.mark.kernel
def test_the_plugin_as_the_command_judges_as_grader_check(pytester, bundle,
                                                          monkeypatch) -> None:
    # pytest as a student runs it, in a process of its own: the one case where the plugin
    # freezes what its imports made out of the collector's walks. Its verdicts, summary
    # and feedback are grader check's, the command, of the same notebook and rubric.
    from grader.release import RUBRIC_NAME

    repo = _student_repo(pytester, bundle, "carol.ipynb")
    pytester.makepyfile(frozen_probe=_FROZEN_PROBE)
    monkeypatch.setenv("PYTEST_DISABLE_PLUGIN_AUTOLOAD", "1")
    result = pytester.runpytest_subprocess("-p", "grader.plugin", "-p", "frozen_probe", "-v")
    assert result.ret == pytest.ExitCode.TESTS_FAILED
    assert int((repo / "frozen.txt").read_text()) > 0
    out = result.stdout.str()
    outcomes = dict(re.findall(r"^hw2\.ipynb::(\w+) (PASSED|FAILED|SKIPPED)", out, re.M))

    check = subprocess.run([sys.executable, "-m", "grader", "check", "hw2.ipynb", "--rubric",
                            RUBRIC_NAME], cwd=repo, capture_output=True, text=True, check=False)
    assert check.returncode == 1, check.stderr
    table, rest = check.stdout.split("\n\n", 1)
    summary, _, feedback = rest.partition("\nFeedback:\n")
    as_test = {"passed": "PASSED", "failed": "FAILED", "manual": "SKIPPED",
               "hidden": "SKIPPED"}
    expected = {line.split()[0]: as_test[line.split()[1]] for line in table.splitlines()[1:]}
    assert outcomes == expected and "FAILED" in outcomes.values()
    for line in summary.strip().splitlines():
        assert line in out
    for text in feedback.strip().split("\n\n"):
        assert text in out


def _args(*paths: str, **given: Any) -> argparse.Namespace:
    values = {"paths": [Path(p) for p in paths], "executor": "local", "resume": False,
              "only": None, "questions": None, **given}
    return argparse.Namespace(**values)


@pytest.mark.parametrize("args", [
    _args("submissions_example"),  # a folder: a batch
    _args("submissions_example/alice.ipynb", "submissions_example/bob.py"),
    _args("submissions_example/alice.ipynb", resume=True),  # may need no kernel
    _args("submissions_example/alice.ipynb", only="alice"),
    _args("submissions_example/alice.ipynb", questions="q1_1"),
    _args("submissions_example/alice.ipynb", executor="dask"),
    _args("submissions_example/missing.ipynb"),
    _args("rubrics/hw2.toml"),  # not a submission's kind of file
], ids=["folder", "two-files", "resume", "only", "questions", "dask", "missing", "toml"])
def test_only_a_lone_submission_file_starts_a_kernel_first(args, monkeypatch) -> None:
    monkeypatch.chdir(ROOT)
    assert _head_start(args, DEFAULTS, isolation=None) is None  # type: ignore[arg-type]


def test_the_clock_is_off_unless_asked_and_keeps_to_itself() -> None:
    assert timings.running() is None
    with timings.phase("cells"):
        pass
    timings.add("checks", time.monotonic())
    assert timings.lines() == []

    clock = timings.start()
    try:
        assert timings.start() is clock  # one clock per process
        began = time.monotonic() - 0.25
        timings.add("cells", began)
        timings.add("cells", began)
        with timings.phase("checks"):
            pass
        timings.since_start("total")
        lines = timings.lines()
    finally:
        assert timings.stop() is clock
    assert timings.running() is None
    assert lines[0].startswith("timings (seconds")
    named = {line.split()[0]: line for line in lines[1:]}
    assert list(named) == ["cells", "checks", "total"]  # in PHASES order, timed ones only
    assert " x2 " in named["cells"] and float(named["cells"].split()[1]) >= 0.5
    assert clock.counts == {"cells": 2, "checks": 1, "total": 1}
    # "at" is counted from this process's start, which came before this test.
    assert clock.ends["total"] >= clock.ends["checks"] > 0


def test_the_process_start_is_in_the_past() -> None:
    assert 0 < time.monotonic() - timings.process_start() < 24 * 3600


def test_the_clock_counts_phases_added_from_several_threads_at_once():
    # The warm kernel's thread adds "kernel ready" while the grading adds its phases.
    import sys
    import threading

    clock = timings.Clock(origin=time.monotonic())
    interval = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)  # switch threads as often as can be, to meet a race
    try:
        threads = [threading.Thread(target=lambda: [clock.add("cells", 1.0)
                                                    for _ in range(20_000)])
                   for _ in range(4)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    finally:
        sys.setswitchinterval(interval)
    assert clock.counts["cells"] == 80_000 and clock.seconds["cells"] == 80_000.0
    assert "x80000" in clock.lines()[1]


def test_warming_up_leaves_nothing_for_the_first_notebook_to_compile() -> None:
    # What a lone submission's grading does while its kernel starts: the check kinds'
    # modules imported, and the validator a notebook's reading uses compiled, so that
    # reading the submission once the kernel is ready compiles nothing.
    probe = (
        "import sys, nbformat, nbformat.validator as v\n"
        "from grader.executors.worker import warm_checks\n"
        "warm_checks()\n"
        "kept = dict(v.validators)\n"
        "text = open(sys.argv[1], encoding='utf-8').read()\n"
        "nbformat.reads(text, as_version=4)\n"
        "print(sorted(m for m in ('grader.checks.common', 'grader.checks.numbers',\n"
        "                         'grader.checks.algebra') if m in sys.modules))\n"
        "print(len(kept), dict(v.validators) == kept)\n")
    done = subprocess.run([sys.executable, "-c", probe, str(ROOT / "submissions_example" /
                                                            "carol.ipynb")],
                          capture_output=True, text=True, check=True, timeout=120)
    assert done.stdout.splitlines() == [
        "['grader.checks.algebra', 'grader.checks.common', 'grader.checks.numbers']",
        "1 True"]
