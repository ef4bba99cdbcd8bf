"""Benchmark one submission, as a student waits on it, against plain python running its code.

Run by hand (it is not a test; about 15 s per example and repeat)::

    python benchmarks/bench_single.py                   # alice, bob, carol, erin; 3 repeats
    python benchmarks/bench_single.py -r 5 alice.ipynb  # one example, 5 repeats

For each example of ``submissions_example/`` (files only: a folder is a batch) it times,
interleaved so that a busy moment of the machine falls on all three alike:

g. ``grader grade EXAMPLE --rubric rubrics/hw2.toml --timings`` (the command's defaults:
   sandbox ``auto``, the kernel started first);
p. the pytest plugin's run in a student repository made by ``grader release`` (its
   ``pyproject.toml`` names the public rubric), as ``docs/students-and-ci.md`` says: plain
   ``python -m pytest`` there, with ``--grader-submission EXAMPLE --grader-timings``;
c. the example's code cells run by plain ``python`` (``MPLBACKEND=Agg``), the floor.

It prints, per example, the median wall seconds of each, the ratios g/c and p/c against
the target (2.5), and the median of each phase of the ``--timings`` breakdowns of (g) and
(p): start-up, kernel ready and the wait for it, cells, harvest (with the function
checks' calls), checks, reports, total, and exit (the wall time past the total: the process's
spawn and its end after the breakdown's last line). One untimed run of each comes first
(caches, the font list).
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from types import ModuleType

ROOT = Path(__file__).resolve().parent.parent
EXAMPLES = ROOT / "submissions_example"
RUBRIC = ROOT / "rubrics" / "hw2.toml"
DEFAULT_EXAMPLES = ("alice.ipynb", "bob.py", "carol.ipynb", "erin.ipynb")
TARGET = 2.5  # wall time of (g) and of (p) over (c)
GRADER = [sys.executable, "-m", "grader"]

_PHASE = re.compile(r"^  (\S.{0,12}?)\s+(\d+\.\d+)\s+at\s", re.MULTILINE)


def _batch_bench() -> ModuleType:
    """benchmarks/bench_batch.py, for its code-cell extraction (the same script for c)."""
    spec = importlib.util.spec_from_file_location("bench_batch", Path(__file__).with_name(
        "bench_batch.py"))
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


def phases(text: str) -> dict[str, float]:
    """The seconds of each phase of a ``--timings`` breakdown printed in ``text``."""
    _, _, breakdown = text.partition("timings (seconds")
    return {name.strip(): float(seconds) for name, seconds in _PHASE.findall(breakdown)}


def timed(cmd: list[str], cwd: Path, env: dict[str, str] | None = None,
          ok: tuple[int, ...] = (0,)) -> tuple[float, str]:
    """Run ``cmd``; its wall seconds and what it printed (stdout and stderr)."""
    began = time.monotonic()
    done = subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True, check=False)
    seconds = time.monotonic() - began
    printed = done.stdout + done.stderr
    if done.returncode not in ok:
        raise SystemExit(f"{' '.join(cmd)} exited {done.returncode}:\n{printed[-3000:]}")
    return seconds, printed


def student_repo(work: Path) -> Path:
    """A student's repository: the release bundle of HW2 (public rubric, pytest settings)."""
    repo = work / "repo"
    subprocess.run([*GRADER, "release", str(RUBRIC), "--out", str(repo)], check=True,
                   capture_output=True)
    return repo


class Example:
    """One example's three commands and what each run measured."""

    def __init__(self, name: str, work: Path, repo: Path, code: str) -> None:
        self.name = name
        self.folder = work / Path(name).stem
        self.folder.mkdir()
        shutil.copy(EXAMPLES / name, self.folder / name)
        shutil.copy(EXAMPLES / name, repo / name)
        self.repo = repo
        (self.folder / "main.py").write_text(code, "utf-8")
        self.runs = 0
        self.wall: dict[str, list[float]] = {"g": [], "p": [], "c": []}
        self.breakdown: dict[str, list[dict[str, float]]] = {"g": [], "p": []}

    def grade(self) -> tuple[float, str]:
        self.runs += 1
        out = self.folder / f"reports-{self.runs}"
        return timed([*GRADER, "grade", self.name, "--rubric", str(RUBRIC), "--out", str(out),
                      "--timings"], self.folder)

    def plugin(self) -> tuple[float, str]:
        # Failing questions are a result (exit 1), not a broken run.
        return timed([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider",
                      "--grader-submission", self.name, "--grader-timings"], self.repo,
                     ok=(0, 1))

    def python(self) -> tuple[float, str]:
        return timed([sys.executable, "main.py"], self.folder,
                     env={**os.environ, "MPLBACKEND": "Agg"})

    def measure(self, keep: bool) -> None:
        """One run of each command; kept unless it is the warm-up."""
        for key, run in (("c", self.python), ("g", self.grade), ("p", self.plugin)):
            seconds, printed = run()
            if not keep:
                continue
            self.wall[key].append(seconds)
            if key in self.breakdown:
                found = phases(printed)
                if not found:
                    raise SystemExit(f"{self.name} ({key}) printed no timings:\n{printed}")
                # The wall time the breakdown does not see: starting the process and, after
                # its last line, ending it (pytest's session end, the interpreter's exit).
                found["exit"] = seconds - found["total"]
                self.breakdown[key].append(found)


def medians(runs: list[dict[str, float]]) -> dict[str, float]:
    """The median seconds of each phase over ``runs`` (phases some run lacks included)."""
    names = list(dict.fromkeys(name for run in runs for name in run))
    return {name: statistics.median(run[name] for run in runs if name in run)
            for name in names}


def report(examples: list[Example]) -> list[str]:
    """The table of wall times and ratios, and each example's median breakdowns."""
    lines = [f"{'example':<14}{'c python':>10}{'g grade':>10}{'p pytest':>10}"
             f"{'g/c':>7}{'p/c':>7}  target <= {TARGET:g}"]
    for ex in examples:
        c, g, p = (statistics.median(ex.wall[k]) for k in ("c", "g", "p"))
        met = "met" if max(g / c, p / c) <= TARGET else "not met"
        lines.append(f"{ex.name:<14}{c:>9.2f}s{g:>9.2f}s{p:>9.2f}s{g / c:>7.2f}{p / c:>7.2f}"
                     f"  {met}")
    for ex in examples:
        for key, what in (("g", "grader grade"), ("p", "pytest plugin")):
            table = medians(ex.breakdown[key])
            lines.append(f"{ex.name} {what}, median seconds per phase: " + ", ".join(
                f"{name} {seconds:.2f}" for name, seconds in table.items()))
    return lines


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("examples", nargs="*", default=list(DEFAULT_EXAMPLES),
                        help=f"files of submissions_example/ (default: "
                             f"{' '.join(DEFAULT_EXAMPLES)})")
    parser.add_argument("-r", "--repeat", type=int, default=3, metavar="R",
                        help="timed runs of each command per example (default: 3)")
    args = parser.parse_args(argv)
    code_of = _batch_bench()._code
    with tempfile.TemporaryDirectory(prefix="bench-single-") as scratch:
        work = Path(scratch)
        repo = student_repo(work)
        examples = [Example(name, work, repo, (EXAMPLES / name).read_text("utf-8")
                            if name.endswith(".py") else code_of(EXAMPLES / name))
                    for name in args.examples]
        print(f"{len(examples)} example(s), {args.repeat} run(s) each after one warm-up; "
              f"load average {os.getloadavg()[0]:.2f}", flush=True)
        for ex in examples:
            ex.measure(keep=False)
        for _ in range(args.repeat):
            for ex in examples:
                ex.measure(keep=True)
        print("\n".join(report(examples)))
        print(f"load average after: {os.getloadavg()[0]:.2f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
