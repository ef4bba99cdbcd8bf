"""Benchmark batch grading against the cost of running the same code by other means.

Run by hand (it takes minutes; it is not a test)::

    python benchmarks/bench_batch.py            # N = 40
    python benchmarks/bench_batch.py -n 1000 --only a   # memory and time at 40, 300, 1000

It generates N homework-2 notebooks from ``submissions_example/`` (correct, flawed and
sparse ones, each made unique, one with a cell that raises) and times, one after another:

a. ``grader grade`` with its defaults (``-j`` = cores, warm kernels, sandbox ``auto``),
   noting the coordinator's memory and the elapsed time when 40, 300 and 1000 results
   (``--checkpoints``) have finished;
r. after (a), a regrade: ``grader grade --resume`` on (a)'s folder with a copy of the
   rubric whose checks alone are changed (a tolerance, a mistake's feedback, a question's
   points), which must re-check every submission from its stored answers, no kernel;
b. the same notebooks executed by bare nbclient, one after another, a fresh kernel
   each, no checks;
c. their code cells run by plain ``python``, one after another (the work itself);
d. nbgrader's ``autograde`` on them, in a course folder of its own, with nbgrader in a
   throwaway virtual environment (made once, under ``~/.cache/grader-bench``; never the
   project's).

It prints the median seconds per submission of each (for a: the batch's wall time over
N, since submissions overlap; also the median time one submission spent in a worker), the
ratios a/b, a/c, a/d and regrade/a, the grader's peak memory: the coordinating process,
all grader processes (coordinator and workers), and everything including kernels, sampled
from ``/proc`` every 0.2 s, plus ``getrusage(RUSAGE_CHILDREN)``'s largest process; and
last a table of the targets: each figure, its goal and whether it is met.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import resource
import shutil
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
EXAMPLES = ROOT / "submissions_example"
RUBRIC = ROOT / "rubrics" / "hw2.toml"
VARIANTS = ("alice.ipynb", "bob.py", "carol.ipynb", "erin.ipynb")


# --------------------------------------------------------------------------- submissions


def _notebook(path: Path) -> dict:
    if path.suffix == ".ipynb":
        return json.loads(path.read_text("utf-8"))
    sys.path.insert(0, str(ROOT))
    from grader.kernel.notebook import notebook_from_module

    return json.loads(json.dumps(notebook_from_module(path.read_text("utf-8"))))


def generate(n: int, dest: Path) -> list[Path]:
    """N notebooks: the examples in turn, each unique, one with a cell that raises."""
    dest.mkdir(parents=True, exist_ok=True)
    bases = [_notebook(EXAMPLES / v) for v in VARIANTS]
    paths = []
    for i in range(n):
        nb = json.loads(json.dumps(bases[i % len(bases)]))
        # A markdown cell of its own makes every file's content hash different.
        nb["cells"].insert(0, {"cell_type": "markdown", "metadata": {}, "id": f"student-{i}",
                               "source": f"Student {i:04d}"})
        if i == n // 2:
            nb["cells"].insert(2, {"cell_type": "code", "metadata": {}, "outputs": [],
                                   "execution_count": None, "id": "failing-cell",
                                   "source": "raise RuntimeError('a cell that fails')"})
        path = dest / f"s{i:04d}.ipynb"
        path.write_text(json.dumps(nb), "utf-8")
        paths.append(path)
    return paths


def _code(nb_path: Path) -> str:
    nb = json.loads(nb_path.read_text("utf-8"))
    cells = []
    for c in nb["cells"]:
        if c["cell_type"] == "code":
            src = c["source"] if isinstance(c["source"], str) else "".join(c["source"])
            cells.append("\n".join(line for line in src.splitlines()
                                   if not line.lstrip().startswith(("%", "!"))))
    return "\n\n".join(cells) + "\n"


# --------------------------------------------------------------------------- memory


@dataclass
class Memory:
    """Peak resident memory (MB) of a process tree, sampled from /proc."""

    coordinator: float = 0.0
    grader: float = 0.0  # coordinator and worker processes, kernels excluded
    tree: float = 0.0  # everything, kernels included
    samples: int = 0
    largest_child: float = 0.0  # getrusage(RUSAGE_CHILDREN) right after (a)
    stop: threading.Event = field(default_factory=threading.Event)


def _children(pid: int) -> list[int]:
    out: list[int] = []
    try:
        for task in os.listdir(f"/proc/{pid}/task"):
            with open(f"/proc/{pid}/task/{task}/children") as fh:
                out += [int(x) for x in fh.read().split()]
    except OSError:
        pass
    return out


def _rss_mb(pid: int) -> float:
    try:
        with open(f"/proc/{pid}/status") as fh:
            for line in fh:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    return 0.0


def _is_kernel(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as fh:
            cmd = fh.read()
    except OSError:
        return False
    return b"ipykernel" in cmd or b"bwrap" in cmd or b"RLIMIT_AS" in cmd


def sample(root: int, memory: Memory) -> None:
    """Sample the tree under ``root`` until ``memory.stop`` is set."""
    while not memory.stop.is_set():
        seen, stack = [], [root]
        while stack:
            pid = stack.pop()
            seen.append(pid)
            stack += _children(pid)
        kernels: set[int] = set()
        for pid in seen:
            if pid in kernels or _is_kernel(pid):
                kernels.add(pid)
                kernels.update(_descendants(pid))
        coordinator = _rss_mb(root)
        grader = sum(_rss_mb(p) for p in seen if p not in kernels)
        tree = sum(_rss_mb(p) for p in seen)
        memory.coordinator = max(memory.coordinator, coordinator)
        memory.grader = max(memory.grader, grader)
        memory.tree = max(memory.tree, tree)
        memory.samples += 1
        memory.stop.wait(0.2)


def _descendants(pid: int) -> list[int]:
    out, stack = [], _children(pid)
    while stack:
        p = stack.pop()
        out.append(p)
        stack += _children(p)
    return out


# --------------------------------------------------------------------------- CPU


class CpuMeter:
    """CPU seconds used by this process and everything it starts while the meter runs.

    A cpuacct cgroup (v1) when one can be made (it counts sandboxed kernels too, which
    ``getrusage`` can miss behind bubblewrap's PID namespace); else ``getrusage``.
    Machine load from others does not change these figures much, unlike wall times.
    """

    ROOT = Path("/sys/fs/cgroup/cpuacct")

    def __init__(self) -> None:
        self.group: Path | None = None
        self.seconds = 0.0
        self.how = "getrusage"

    def __enter__(self) -> CpuMeter:
        try:
            group = self.ROOT / f"grader-bench-{os.getpid()}-{time.monotonic_ns()}"
            group.mkdir()
            (group / "cgroup.procs").write_text(str(os.getpid()))
            self.group, self.how = group, "cpuacct cgroup"
        except OSError:
            self.group = None
        self._start = self._rusage()
        return self

    @staticmethod
    def _rusage() -> float:
        total = 0.0
        for who in (resource.RUSAGE_SELF, resource.RUSAGE_CHILDREN):
            ru = resource.getrusage(who)
            total += ru.ru_utime + ru.ru_stime
        return total

    def __exit__(self, *exc: object) -> None:
        if self.group is not None:
            self.seconds = int((self.group / "cpuacct.usage").read_text()) / 1e9
            (self.ROOT / "cgroup.procs").write_text(str(os.getpid()))
            try:
                self.group.rmdir()
            except OSError:  # a straggler still in it; it goes when it ends
                pass
        else:
            self.seconds = self._rusage() - self._start


# --------------------------------------------------------------------------- runs


@dataclass
class Timing:
    """Seconds per submission of one way of running them."""

    name: str
    per_submission: list[float]
    wall: float
    note: str = ""
    cpu: float = 0.0  # CPU seconds of the whole run, all processes

    @property
    def median(self) -> float:
        return statistics.median(self.per_submission) if self.per_submission else float("nan")


@dataclass(frozen=True, kw_only=True)
class Checkpoint:
    """The coordinator when ``done`` results had finished, seconds from the command's start."""

    done: int
    elapsed: float
    coordinator: float  # its resident memory then, MB
    peak: float  # its largest sampled so far, MB


def parse_checkpoints(text: str) -> tuple[int, ...]:
    """``"40,300,1000"`` as sorted distinct positive counts (an argparse type)."""
    try:
        counts = sorted({int(part) for part in text.split(",") if part.strip()})
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a list of counts: {text!r}") from None
    if not counts or counts[0] < 1:
        raise argparse.ArgumentTypeError(f"counts must be positive: {text!r}")
    return tuple(counts)


def per_result(points: list[Checkpoint]) -> list[tuple[int, int, float]]:
    """Seconds per finished result between checkpoints: (from, to, s/result), from 0 first.

    The first span includes the batch's start-up (workers, fork servers), the later ones
    are the steady state: equal figures there mean time linear in N.
    """
    spans, done, elapsed = [], 0, 0.0
    for p in points:
        if p.done > done:
            spans.append((done, p.done, (p.elapsed - elapsed) / (p.done - done)))
            done, elapsed = p.done, p.elapsed
    return spans


PROGRESS = re.compile(r"^\[(\d+)/\d+\]")
SUMMARY = re.compile(r"\((\d+) graded now in a kernel, (\d+) re-checked from stored answers, "
                     r"(\d+) kept;")


def summary_counts(stdout: str) -> tuple[int, int, int] | None:
    """(graded in a kernel, re-checked from stored answers, kept): ``grader grade``'s summary."""
    found = SUMMARY.findall(stdout)
    return tuple(int(x) for x in found[-1]) if found else None  # type: ignore[return-value]


@dataclass(frozen=True, kw_only=True)
class Watched:
    """What a watched ``grader grade`` did: its wall time, output, memory and checkpoints."""

    wall: float
    stdout: str
    memory: Memory
    checkpoints: list[Checkpoint]


def watch_grade(cmd: list[str], checkpoints: tuple[int, ...] = ()) -> Watched:
    """Run ``cmd`` (a ``grader grade``), sampling its tree's memory and reading its progress.

    The plain progress lines (``[k/N] ...``, one per finished result, flushed; stdout is
    a pipe, so no progress bar) mark when each checkpoint's count of results is reached.
    """
    memory = Memory()
    started = time.monotonic()
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, cwd=ROOT,
                            text=True, errors="replace")
    sampler = threading.Thread(target=sample, args=(proc.pid, memory), daemon=True)
    sampler.start()
    stdout, stderr = proc.stdout, proc.stderr
    assert stdout is not None and stderr is not None
    err: list[str] = []
    # stderr drained beside stdout, so that neither pipe fills and stalls the grader.
    drain = threading.Thread(target=lambda: err.append(stderr.read()), daemon=True)
    drain.start()
    lines, points, todo = [], [], list(checkpoints)
    for line in stdout:
        lines.append(line)
        m = PROGRESS.match(line)
        while m and todo and int(m.group(1)) >= todo[0]:
            rss = _rss_mb(proc.pid)
            points.append(Checkpoint(done=todo.pop(0), elapsed=time.monotonic() - started,
                                     coordinator=rss, peak=max(memory.coordinator, rss)))
    proc.wait()
    wall = time.monotonic() - started
    memory.largest_child = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    memory.stop.set()
    sampler.join()
    drain.join()
    if proc.returncode != 0:
        raise SystemExit(f"grader grade failed ({proc.returncode}): {''.join(err)[-2000:]}")
    return Watched(wall=wall, stdout="".join(lines), memory=memory, checkpoints=points)


def _grade_command(subs: Path, out: Path, rubric: Path, jobs: int | None) -> list[str]:
    cmd = [sys.executable, "-m", "grader", "grade", str(subs), "--rubric", str(rubric),
           "--out", str(out)]
    return [*cmd, "-j", str(jobs)] if jobs else cmd


def run_grader(subs: Path, out: Path, n: int, jobs: int | None, rubric: Path = RUBRIC,
               checkpoints: tuple[int, ...] = ()) -> tuple[Timing, Watched]:
    """(a) ``grader grade`` with its defaults, its tree's memory sampled."""
    # The last result is a checkpoint too: the whole batch's time per result.
    run = watch_grade(_grade_command(subs, out, rubric, jobs),
                      tuple(sorted({c for c in checkpoints if c <= n} | {n})))
    db = sqlite3.connect(out / "gradebook.sqlite")
    rows = db.execute("SELECT started, finished, outcome FROM latest").fetchall()
    db.close()
    spans = [(datetime.fromisoformat(f) - datetime.fromisoformat(s)).total_seconds()
             for s, f, _ in rows]
    outcomes = sorted({o for _, _, o in rows})
    return Timing(name="a", per_submission=[run.wall / n] * n, wall=run.wall,
                  note=f"{len(rows)} graded, outcomes {outcomes}; median time in a worker "
                       f"{statistics.median(spans):.2f} s"), run


# --------------------------------------------------------------------------- regrade


def edit_checks(text: str, folder: Path) -> tuple[str, list[str]]:
    """A rubric's text with only checks changed, and a line saying what for each change.

    Doubles the first tolerance, rewords the first mistake's feedback and adds a point to
    the first question: what a TA changes after reading a batch, none of which asks for
    another kernel run. The reference's path is made absolute (``folder`` is the rubric's
    own), so that the copy can live anywhere. ValueError when the rubric has none of one.
    """
    out: list[str] = []
    made: dict[str, str] = {}
    table, question, in_string = "", "", False
    for line in text.splitlines(keepends=True):
        stripped = line.strip()
        if not in_string and stripped.startswith("["):
            table = stripped
        elif not in_string and (m := re.match(r'(\w+)\s*=\s*(.*?)\s*$', stripped)):
            key, value = m.groups()
            if table == "[[questions]]" and key == "id":
                question = value.strip('"')
            number = value.split("#")[0].strip()
            if table == "[assignment]" and key == "reference" and "reference" not in made \
                    and (quoted := re.match(r'"([^"]*)"', value)):
                path = (folder / quoted.group(1)).resolve()
                line, made["reference"] = f"reference = {json.dumps(str(path))}\n", str(path)
            elif key in ("rtol", "atol") and "tolerance" not in made:
                line = f"{key} = {float(number) * 2:g}\n"
                made["tolerance"] = f"{question}: {key} {number} -> {float(number) * 2:g}"
            elif table == "[[questions.checks.mistakes]]" and key == "feedback" \
                    and "feedback" not in made and value[:1] == '"':
                quote = '"""' if value.startswith('"""') else '"'
                line = line.replace(quote, quote + "Reworded: ", 1)
                made["feedback"] = f"{question}: a mistake's feedback reworded"
            elif table == "[[questions]]" and key == "points" and "points" not in made:
                line = f"points = {float(number) + 1:g}\n"
                made["points"] = f"{question}: points {number} -> {float(number) + 1:g}"
        out.append(line)
        if line.count('"""') % 2:
            in_string = not in_string
    missing = [k for k in ("reference", "tolerance", "feedback", "points") if k not in made]
    if missing:
        raise ValueError("the rubric has no " + ", ".join(missing) + " to edit")
    return "".join(out), [made[k] for k in ("tolerance", "feedback", "points")]


@dataclass(frozen=True, kw_only=True)
class Regrade:
    """(r): a check-only rubric edit graded again with ``--resume`` on (a)'s folder."""

    wall: float
    counts: tuple[int, int, int] | None  # graded in a kernel, re-checked, kept
    edits: tuple[str, ...]

    def all_rechecked(self, n: int) -> bool:
        """Every submission re-checked from its stored answers, none run in a kernel."""
        return self.counts is not None and self.counts[:2] == (0, n)


def run_regrade(subs: Path, out: Path, rubric: Path, jobs: int | None, work: Path) -> Regrade:
    """(r) ``grader grade --resume`` with an edited copy of ``rubric`` on (a)'s ``out``."""
    text, edits = edit_checks(rubric.read_text("utf-8"), rubric.parent)
    edited = work / "edited-rubric" / rubric.name
    edited.parent.mkdir(parents=True, exist_ok=True)
    edited.write_text(text, "utf-8")
    run = watch_grade([*_grade_command(subs, out, edited, jobs), "--resume"])
    return Regrade(wall=run.wall, counts=summary_counts(run.stdout), edits=tuple(edits))


def run_nbclient(paths: list[Path]) -> Timing:
    """(b) bare nbclient, a fresh kernel per notebook, no checks."""
    import nbformat
    from nbclient import NotebookClient

    times = []
    started = time.monotonic()
    for p in paths:
        with tempfile.TemporaryDirectory() as work:
            t0 = time.monotonic()
            nb = nbformat.read(p, as_version=4)
            # The kernel's own stderr (its start-up warnings) is noise here.
            NotebookClient(nb, timeout=600, kernel_name="python3", allow_errors=True,
                           resources={"metadata": {"path": work}}).execute(
                stderr=subprocess.DEVNULL)
            times.append(time.monotonic() - t0)
    return Timing(name="b", per_submission=times, wall=time.monotonic() - started)


def run_python(paths: list[Path]) -> Timing:
    """(c) the notebooks' code run by plain python, one after another."""
    times = []
    started = time.monotonic()
    for p in paths:
        with tempfile.TemporaryDirectory() as work:
            script = Path(work) / "main.py"
            script.write_text(_code(p), "utf-8")
            t0 = time.monotonic()
            subprocess.run([sys.executable, str(script)], cwd=work, stdout=subprocess.DEVNULL,
                           stderr=subprocess.DEVNULL, check=False,
                           env={**os.environ, "MPLBACKEND": "Agg"})
            times.append(time.monotonic() - t0)
    return Timing(name="c", per_submission=times, wall=time.monotonic() - started)


NBGRADER_VENV = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") \
    / "grader-bench" / "nbgrader-venv"
# What the notebooks and the kernel use, at the versions (a) has: the same kernel's cost.
KERNEL_PACKAGES = ("numpy", "sympy", "matplotlib", "ipykernel", "ipython")


def nbgrader_requirements() -> list[str]:
    """nbgrader, and the kernel's packages pinned to this environment's versions."""
    from importlib.metadata import PackageNotFoundError, version

    pins = []
    for name in KERNEL_PACKAGES:
        try:
            pins.append(f"{name}=={version(name)}")
        except PackageNotFoundError:
            pins.append(name)
    return ["nbgrader", *pins]


def nbgrader_python(venv: Path, install: bool) -> tuple[Path | None, str]:
    """The python of a virtual environment of its own with nbgrader, and how it was had.

    Made once (``python -m venv``, ``pip install``, a ``python3`` kernelspec of its own
    python), reused while its requirements are the same; never the project's environment.
    None, with the reason, when it is not there and ``install`` is false or pip fails.
    """
    python, marker = venv / "bin" / "python", venv / "grader-bench-requirements.txt"
    wanted = "\n".join(nbgrader_requirements()) + "\n"
    if python.exists() and marker.exists() and marker.read_text() == wanted:
        return python, f"reused {venv}"
    if not install:
        return None, f"no nbgrader environment in {venv} (--no-nbgrader-install)"
    shutil.rmtree(venv, ignore_errors=True)
    venv.parent.mkdir(parents=True, exist_ok=True)
    started = time.monotonic()
    for step in ([sys.executable, "-m", "venv", str(venv)],
                 [str(python), "-m", "pip", "install", "--quiet", "--disable-pip-version-check",
                  *wanted.split()],
                 [str(python), "-m", "ipykernel", "install", "--sys-prefix"]):
        done = subprocess.run(step, capture_output=True, text=True, check=False)
        if done.returncode != 0:
            return None, f"{' '.join(step[:4])} failed: {done.stderr.strip()[-500:]}"
    marker.write_text(wanted)
    return python, f"installed into {venv} in {time.monotonic() - started:.0f} s"


NBGRADER_TEST = "assert 'q1_4_params' in globals(), 'q1_4_params is not defined'"


def _nbgrader_source() -> dict:
    """The assignment's source: a heading and one locked, graded test cell."""
    grade = {"grade": True, "grade_id": "bench-answers", "locked": True, "points": 1,
             "schema_version": 3, "solution": False, "task": False}
    return {"nbformat": 4, "nbformat_minor": 5,
            "metadata": {"kernelspec": {"name": "python3", "display_name": "Python 3",
                                        "language": "python"}},
            "cells": [{"cell_type": "markdown", "id": "heading", "metadata": {},
                       "source": "# Homework 2"},
                      {"cell_type": "code", "id": "bench-answers", "execution_count": None,
                       "metadata": {"nbgrader": grade}, "outputs": [],
                       "source": NBGRADER_TEST}]}


def run_nbgrader(python: Path, paths: list[Path], course: Path) -> Timing:
    """(d) nbgrader's ``autograde`` of every notebook as a student's submission of hw2.

    A course folder as nbgrader's documentation lays it out: ``source/hw2`` with a locked
    test cell, ``generate_assignment`` to make ``release/hw2``, and each student's
    notebook, with the released test cell appended, in ``submitted/<student>/hw2/``.
    Jupyter's data and config folders are the course's own, so that the kernel is the
    environment's ``python3`` and no user setting applies. Checked afterwards: the
    gradebook has N submissions, and how many autograded notebooks ran every code cell.
    """
    course.mkdir(parents=True)
    env = {**os.environ, "JUPYTER_DATA_DIR": str(course / ".jupyter"),
           "JUPYTER_CONFIG_DIR": str(course / ".jupyter-config"),
           "PATH": f"{python.parent}{os.pathsep}{os.environ.get('PATH', '')}"}
    env.pop("JUPYTER_PATH", None)
    (course / "nbgrader_config.py").write_text(
        f"c = get_config()\nc.CourseDirectory.root = {str(course)!r}\n"
        "c.ExecutePreprocessor.timeout = 600\nc.Execute.timeout = 600\n")
    source = course / "source" / "hw2"
    source.mkdir(parents=True)
    (source / "hw2.ipynb").write_text(json.dumps(_nbgrader_source()), "utf-8")
    run = [str(python), "-m", "nbgrader"]

    def nbgrader(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([*run, *args], cwd=course, env=env, capture_output=True,
                              text=True, check=False)

    made = nbgrader("generate_assignment", "hw2", "--force")
    released = course / "release" / "hw2" / "hw2.ipynb"
    if made.returncode != 0 or not released.exists():
        raise SystemExit(f"nbgrader generate_assignment failed: {made.stderr[-2000:]}")
    tests = [c for c in json.loads(released.read_text("utf-8"))["cells"]
             if c.get("metadata", {}).get("nbgrader", {}).get("grade")]
    for i, p in enumerate(paths):
        nb = json.loads(p.read_text("utf-8"))
        nb["cells"] += tests
        target = course / "submitted" / f"s{i:04d}" / "hw2"
        target.mkdir(parents=True)
        (target / "hw2.ipynb").write_text(json.dumps(nb), "utf-8")
    started = time.monotonic()
    graded = nbgrader("autograde", "hw2", "--force")
    wall = time.monotonic() - started
    return Timing(name="d", per_submission=[wall / len(paths)] * len(paths), wall=wall,
                  note=_nbgrader_check(course, len(paths), graded))


def _nbgrader_check(course: Path, n: int, graded: subprocess.CompletedProcess[str]) -> str:
    """What autograde did: submissions in its gradebook, notebooks run, tests passed."""
    db = sqlite3.connect(f"file:{course / 'gradebook.db'}?mode=ro", uri=True)
    try:
        submissions = db.execute("SELECT COUNT(*) FROM submitted_assignment").fetchone()[0]
        passed = db.execute("SELECT COUNT(*) FROM grade WHERE auto_score > 0").fetchone()[0]
    except sqlite3.Error as exc:
        raise SystemExit(f"nbgrader autograde left no gradebook ({exc}): "
                         f"{graded.stderr[-2000:]}") from exc
    finally:
        db.close()
    ran = 0
    for nb_path in (course / "autograded").glob("*/hw2/hw2.ipynb"):
        cells = [c for c in json.loads(nb_path.read_text("utf-8"))["cells"]
                 if c["cell_type"] == "code"]
        ran += all(c.get("execution_count") is not None for c in cells)
    if submissions != n:
        raise SystemExit(f"nbgrader autograded {submissions} of {n} submissions: "
                         f"{graded.stderr[-2000:]}")
    return (f"nbgrader autograde, sequential: wall / N; {submissions} submissions in its "
            f"gradebook, {ran} notebooks with every code cell run, test cell passed in "
            f"{passed}")


# --------------------------------------------------------------------------- main


def _load() -> str:
    one, five, fifteen = os.getloadavg()
    return f"load average {one:.2f} {five:.2f} {fifteen:.2f} on {os.cpu_count()} cores"


def targets(n: int, timings: dict[str, Timing], regrade: Regrade | None,
            points: list[Checkpoint]) -> list[tuple[str, str, str, str]]:
    """The targets' rows: (target, figure, goal, met?), "not run" where a run was left out."""
    rows = []

    def ratio(name: str, other: str, goal: float) -> None:
        if "a" in timings and other in timings:
            r = timings["a"].wall / n / timings[other].median
            rows.append((name, f"{r:.2f}", f"<= {goal}", "yes" if r <= goal else "no"))
        else:
            rows.append((name, "not run", f"<= {goal}", "-"))

    ratio("batch: a/c", "c", 0.6)
    ratio("nbgrader: a/d", "d", 0.25)
    if regrade is not None and "a" in timings:
        r = regrade.wall / timings["a"].wall
        kernel, rechecked, _ = regrade.counts or (-1, -1, -1)
        rows.append(("regrade after a check-only edit: r/a",
                     f"{r:.3f} ({rechecked} of {n} re-checked, {kernel} run in a kernel)",
                     "<= 0.1, all re-checked", "yes" if r <= 0.1 and
                     regrade.all_rechecked(n) else "no"))
    else:
        rows.append(("regrade after a check-only edit: r/a", "not run", "<= 0.1", "-"))
    at = "/".join(str(p.done) for p in points) or "no"
    memory = " / ".join(f"{p.coordinator:.0f}" for p in points) + " MB" if points else "not run"
    flat = "-" if len(points) < 2 else \
        "yes" if points[-1].coordinator <= 1.2 * points[0].coordinator else "no"
    rows.append((f"coordinator memory at {at} results", memory, "flat: last <= 1.2 x first",
                 flat))
    spans = per_result(points)
    # The first span holds the start-up; linear means the later ones agree.
    steady = [per for _, _, per in spans[1:]]
    linear = "-" if len(steady) < 2 else "yes" if max(steady) <= 1.2 * min(steady) else "no"
    rows.append((f"time per result, results {', '.join(f'{a}-{b}' for a, b, _ in spans)}",
                 " / ".join(f"{per:.2f}" for _, _, per in spans) + " s" if spans else "not run",
                 "linear: after the first span, within 1.2 x", linear))
    return rows


def print_table(rows: list[tuple[str, str, str, str]]) -> None:
    """Rows as a Markdown table, ready for a note."""
    print("| target | figure | goal | met? |\n|---|---|---|---|")
    for row in rows:
        print("| " + " | ".join(row) + " |")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-n", type=int, default=40, help="submissions (default 40)")
    parser.add_argument("--only", default="arbcd",
                        help="which runs, e.g. 'a' or 'arc' (default arbcd; r needs a)")
    parser.add_argument("-j", "--jobs", type=int, help="pass -j to grader grade")
    parser.add_argument("--keep", type=Path, help="work in this folder and keep it")
    parser.add_argument("--rubric", type=Path, default=RUBRIC,
                        help="the rubric for (a) (default: rubrics/hw2.toml)")
    parser.add_argument("--checkpoints", type=parse_checkpoints, default=(40, 300, 1000),
                        metavar="K,K,...", help="numbers of finished results at which (a)'s "
                        "coordinator memory and elapsed time are noted (default 40,300,1000; "
                        "N is always one)")
    parser.add_argument("--nbgrader-venv", type=Path, default=NBGRADER_VENV, metavar="DIR",
                        help=f"nbgrader's own virtual environment (default {NBGRADER_VENV})")
    parser.add_argument("--no-nbgrader-install", action="store_true",
                        help="use nbgrader's environment only if it exists; else skip (d)")
    args = parser.parse_args(argv)
    work = args.keep or Path(tempfile.mkdtemp(prefix="grader-bench-"))
    work.mkdir(parents=True, exist_ok=True)
    status = 0
    try:
        paths = generate(args.n, work / "subs")
        print(f"{args.n} submissions in {work / 'subs'}; {_load()}")
        timings: dict[str, Timing] = {}
        memory, regrade, points = None, None, []
        if "a" in args.only:
            shutil.rmtree(work / "reports", ignore_errors=True)
            with CpuMeter() as meter:
                timings["a"], watched = run_grader(work / "subs", work / "reports", args.n,
                                                   args.jobs, args.rubric.resolve(),
                                                   args.checkpoints)
            memory, points = watched.memory, watched.checkpoints
            timings["a"].cpu = meter.seconds
            print(f"a  grader grade   {timings['a'].wall / args.n:6.2f} s/submission "
                  f"(wall {timings['a'].wall:.1f} s; {timings['a'].note}); {_load()}")
            for p in points:
                print(f"   at {p.done:5d} results: {p.elapsed:7.1f} s, coordinator "
                      f"{p.coordinator:.0f} MB (peak so far {p.peak:.0f} MB)")
            for a, b, per in per_result(points):
                print(f"   results {a}-{b}: {per:.3f} s/result")
        if "r" in args.only and "a" in timings:
            try:
                regrade = run_regrade(work / "subs", work / "reports", args.rubric.resolve(),
                                      args.jobs, work)
            except ValueError as exc:
                print(f"r  regrade        skipped: {exc}")
            else:
                kernel, rechecked, kept = regrade.counts or (-1, -1, -1)
                print(f"r  regrade        wall {regrade.wall:.1f} s, r/a = "
                      f"{regrade.wall / timings['a'].wall:.3f}; {rechecked} re-checked from "
                      f"stored answers, {kernel} graded in a kernel, {kept} kept "
                      f"(edits: {'; '.join(regrade.edits)})")
                if not regrade.all_rechecked(args.n):
                    print(f"r  FAILED: a check-only edit must re-check all {args.n} from "
                          "stored answers", file=sys.stderr)
                    status = 1
        if "b" in args.only:
            with CpuMeter() as meter:
                timings["b"] = run_nbclient(paths)
            timings["b"].cpu = meter.seconds
            print(f"b  bare nbclient  {timings['b'].median:6.2f} s/submission (median; wall "
                  f"{timings['b'].wall:.1f} s); {_load()}")
        if "c" in args.only:
            with CpuMeter() as meter:
                timings["c"] = run_python(paths)
            timings["c"].cpu = meter.seconds
            print(f"c  plain python   {timings['c'].median:6.2f} s/submission (median; wall "
                  f"{timings['c'].wall:.1f} s); {_load()}")
        if "d" in args.only:
            python, how = nbgrader_python(args.nbgrader_venv, not args.no_nbgrader_install)
            if python is None:
                print(f"d  nbgrader       skipped: {how}")
            else:
                shutil.rmtree(work / "course", ignore_errors=True)
                with CpuMeter() as meter:
                    d = run_nbgrader(python, paths, work / "course")
                d.cpu = meter.seconds
                timings["d"] = d
                print(f"d  nbgrader       {d.median:6.2f} s/submission ({d.note}; "
                      f"environment {how}); {_load()}")
        if "a" in timings:
            a = timings["a"].wall / args.n
            for other in "bcd":
                if other in timings:
                    print(f"a/{other} = {a / timings[other].median:.2f}")
        measured = [t for t in timings.values() if t.cpu]
        if measured:
            cores = os.cpu_count() or 1
            print(f"CPU seconds per submission ({meter.how}): " + ", ".join(
                f"{t.name} {t.cpu / args.n:.2f}" for t in measured))
            if "a" in timings and len(measured) > 1:
                # What a would take on idle cores: its CPU spread over them (b, c and d use
                # one core at a time, so their wall time is their own on a quiet machine).
                ideal = timings["a"].cpu / args.n / cores
                print(f"a on {cores} idle cores would need about {ideal:.2f} s/submission: "
                      + ", ".join(f"a/{t.name} = {ideal / (t.cpu / args.n):.2f}"
                                  for t in measured if t.name != "a") + " by CPU time")
        if memory is not None:
            print(f"peak memory of (a): coordinator {memory.coordinator:.0f} MB; grader "
                  f"processes together {memory.grader:.0f} MB; with kernels "
                  f"{memory.tree:.0f} MB ({memory.samples} samples); largest child process "
                  f"(getrusage) {memory.largest_child:.0f} MB")
        print(f"\nTargets, N = {args.n}; {_load()}:")
        print_table(targets(args.n, timings, regrade, points))
    finally:
        if args.keep is None:
            shutil.rmtree(work, ignore_errors=True)
    return status


if __name__ == "__main__":
    raise SystemExit(main())
