"""Benchmark batch grading against the cost of running the same code by other means.

Run by hand (it takes minutes; it is not a test)::

    python benchmarks/bench_batch.py            # N = 40
    python benchmarks/bench_batch.py -n 120 --only a   # memory at a larger N

It generates N homework-2 notebooks from ``submissions_example/`` (correct, flawed and
sparse ones, each made unique, one with a cell that raises) and times, one after another:

a. ``grader grade`` with its defaults (``-j`` = cores, warm kernels, sandbox ``auto``);
b. the same notebooks executed by bare nbclient, one after another, a fresh kernel
   each, no checks;
c. their code cells run by plain ``python``, one after another (the work itself);
d. nbgrader's ``autograde`` on them, when nbgrader is importable (never installed here).

It prints the median seconds per submission of each (for a: the batch's wall time over
N, since submissions overlap; also the median time one submission spent in a worker), the
ratios a/b, a/c, a/d, and the grader's peak memory: the coordinating process, all grader
processes (coordinator and workers), and everything including kernels, sampled from
``/proc`` every 0.2 s, plus ``getrusage(RUSAGE_CHILDREN)``'s largest process.
"""

from __future__ import annotations

import argparse
import json
import os
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


def run_grader(subs: Path, out: Path, n: int, jobs: int | None,
               rubric: Path = RUBRIC) -> tuple[Timing, Memory]:
    """(a) ``grader grade`` with its defaults, its tree's memory sampled."""
    cmd = [sys.executable, "-m", "grader", "grade", str(subs), "--rubric", str(rubric),
           "--out", str(out)]
    if jobs:
        cmd += ["-j", str(jobs)]
    memory = Memory()
    started = time.monotonic()
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, cwd=ROOT)
    sampler = threading.Thread(target=sample, args=(proc.pid, memory), daemon=True)
    sampler.start()
    _, err = proc.communicate()
    wall = time.monotonic() - started
    memory.largest_child = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    memory.stop.set()
    sampler.join()
    if proc.returncode != 0:
        raise SystemExit(f"grader grade failed ({proc.returncode}): {err.decode()[-2000:]}")
    db = sqlite3.connect(out / "gradebook.sqlite")
    rows = db.execute("SELECT started, finished, outcome FROM latest").fetchall()
    db.close()
    spans = [(datetime.fromisoformat(f) - datetime.fromisoformat(s)).total_seconds()
             for s, f, _ in rows]
    outcomes = sorted({o for _, _, o in rows})
    return Timing(name="a", per_submission=[wall / n] * n, wall=wall,
                  note=f"{len(rows)} graded, outcomes {outcomes}; median time in a worker "
                       f"{statistics.median(spans):.2f} s"), memory


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


def run_nbgrader(paths: list[Path], course: Path) -> Timing | None:
    """(d) nbgrader's autograde, when nbgrader is importable (never installed by us).

    Best effort, untested where nbgrader is absent: a course folder with the first
    notebook as the assignment's source, every notebook as a student's submission.
    """
    try:
        import nbgrader  # noqa: F401
    except ImportError:
        return None
    course.mkdir(parents=True)
    (course / "nbgrader_config.py").write_text(
        f"c = get_config()\nc.CourseDirectory.root = {str(course)!r}\n"
        "c.ExecutePreprocessor.timeout = 600\n")
    source = course / "source" / "hw2"
    source.mkdir(parents=True)
    shutil.copy(paths[0], source / "hw2.ipynb")
    run = [sys.executable, "-m", "nbgrader"]
    subprocess.run([*run, "generate_assignment", "hw2", "--force"], cwd=course, check=True,
                   capture_output=True)
    for i, p in enumerate(paths):
        target = course / "submitted" / f"s{i:04d}" / "hw2"
        target.mkdir(parents=True)
        shutil.copy(p, target / "hw2.ipynb")
        subprocess.run([*run, "db", "student", "add", f"s{i:04d}"], cwd=course, check=False,
                       capture_output=True)
    started = time.monotonic()
    subprocess.run([*run, "autograde", "hw2", "--force"], cwd=course, check=False,
                   capture_output=True)
    wall = time.monotonic() - started
    return Timing(name="d", per_submission=[wall / len(paths)] * len(paths), wall=wall,
                  note="nbgrader autograde, sequential: wall / N")


# --------------------------------------------------------------------------- main


def _load() -> str:
    one, five, fifteen = os.getloadavg()
    return f"load average {one:.2f} {five:.2f} {fifteen:.2f} on {os.cpu_count()} cores"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-n", type=int, default=40, help="submissions (default 40)")
    parser.add_argument("--only", default="abcd", help="which runs, e.g. 'a' or 'abc'")
    parser.add_argument("-j", "--jobs", type=int, help="pass -j to grader grade")
    parser.add_argument("--keep", type=Path, help="work in this folder and keep it")
    parser.add_argument("--rubric", type=Path, default=RUBRIC,
                        help="the rubric for (a) (default: rubrics/hw2.toml)")
    args = parser.parse_args(argv)
    work = args.keep or Path(tempfile.mkdtemp(prefix="grader-bench-"))
    work.mkdir(parents=True, exist_ok=True)
    try:
        paths = generate(args.n, work / "subs")
        print(f"{args.n} submissions in {work / 'subs'}; {_load()}")
        timings: dict[str, Timing] = {}
        memory = None
        if "a" in args.only:
            shutil.rmtree(work / "reports", ignore_errors=True)
            with CpuMeter() as meter:
                timings["a"], memory = run_grader(work / "subs", work / "reports", args.n,
                                                  args.jobs, args.rubric.resolve())
            timings["a"].cpu = meter.seconds
            print(f"a  grader grade   {timings['a'].wall / args.n:6.2f} s/submission "
                  f"(wall {timings['a'].wall:.1f} s; {timings['a'].note}); {_load()}")
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
            shutil.rmtree(work / "course", ignore_errors=True)
            d = run_nbgrader(paths, work / "course")
            if d is None:
                print("d  nbgrader       skipped: nbgrader is not importable here "
                      "(this benchmark never installs it)")
            else:
                timings["d"] = d
                print(f"d  nbgrader       {d.median:6.2f} s/submission ({d.note})")
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
            if "a" in timings:
                # What a would take on idle cores: its CPU spread over them (b and c use one
                # core at a time, so their wall time is their own on a quiet machine).
                ideal = timings["a"].cpu / args.n / cores
                print(f"a on {cores} idle cores would need about {ideal:.2f} s/submission: "
                      + ", ".join(f"a/{t.name} = {ideal / (t.cpu / args.n):.2f}"
                                  for t in measured if t.name != "a") + " by CPU time")
        if memory is not None:
            print(f"peak memory of (a): coordinator {memory.coordinator:.0f} MB; grader "
                  f"processes together {memory.grader:.0f} MB; with kernels "
                  f"{memory.tree:.0f} MB ({memory.samples} samples); largest child process "
                  f"(getrusage) {memory.largest_child:.0f} MB")
    finally:
        if args.keep is None:
            shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
