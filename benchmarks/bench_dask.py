"""Benchmark the Dask executor against the local one, per worker slot, on this machine.

Run by hand (it is not a test)::

    python benchmarks/bench_dask.py            # N = 16
    python benchmarks/bench_dask.py -n 4       # a smoke run

It generates N homework-2 notebooks (``bench_batch.generate``) and times, one after
another, ``grader grade`` on them with the same number of slots (``-j``, default 2):

local     ``grader grade -j 2`` (worker processes, each with a kernel fork server);
dask      ``grader grade --executor dask -j 2`` (a local cluster of 2 workers, started
          and stopped inside the run, as a user's run does);
external  ``grader grade --executor dask --scheduler tcp://...`` on a ``dask scheduler``
          and 2 ``dask worker --nthreads 1`` processes started before the clock starts.

It prints each run's wall time, seconds per submission (wall / N) and per slot
(wall x slots / N), the median time a submission spent in its worker (from the
gradebook), and each Dask run's ratio to the local one (the target is 1.3 or less).
"""

from __future__ import annotations

import argparse
import contextlib
import os
import shutil
import socket
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_batch import ROOT, RUBRIC, generate  # a script beside this one


def _dask(*args: str) -> list[str]:
    command = Path(sys.executable).with_name("dask")
    return [str(command), *args] if command.exists() else [sys.executable, "-m", "dask", *args]


@contextlib.contextmanager
def external_cluster(workers: int, logs: Path) -> Iterator[str]:
    """A ``dask scheduler`` and ``workers`` ``dask worker --nthreads 1`` processes; its address."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    address = f"tcp://127.0.0.1:{port}"
    procs = []

    def start(name: str, argv: list[str]) -> None:
        with (logs / f"{name}.log").open("wb") as log:
            procs.append(subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT,
                                          cwd=logs, start_new_session=True))

    try:
        start("scheduler", _dask("scheduler", "--host", "127.0.0.1", "--port", str(port),
                                 "--no-dashboard"))
        for i in range(workers):
            start(f"worker{i}", _dask("worker", address, "--nthreads", "1", "--no-dashboard",
                                      "--host", "127.0.0.1", "--name", f"w{i}"))
        from distributed import Client

        with Client(address, timeout="60s") as client:
            client.wait_for_workers(workers, timeout=120)
        yield address
    finally:
        for proc in reversed(procs):
            proc.terminate()
        for proc in reversed(procs):
            try:
                proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


def grade(subs: Path, out: Path, flags: list[str], slots: int) -> tuple[float, float, float]:
    """Wall seconds of ``grader grade`` with ``flags``, the median seconds in a worker, and
    the steady seconds per submission per slot (from the first slot-full of results on).
    """
    shutil.rmtree(out, ignore_errors=True)
    cmd = [sys.executable, "-m", "grader", "grade", str(subs), "--rubric", str(RUBRIC),
           "--out", str(out), *flags]
    started = time.monotonic()
    done = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, check=False)
    wall = time.monotonic() - started
    if done.returncode != 0:
        raise SystemExit(f"{' '.join(flags)}: grader grade failed ({done.returncode}): "
                         f"{done.stderr[-2000:]}")
    db = sqlite3.connect(out / "gradebook.sqlite")
    rows = db.execute("SELECT started, finished FROM latest").fetchall()
    db.close()
    spans = [(datetime.fromisoformat(f) - datetime.fromisoformat(s)).total_seconds()
             for s, f in rows]
    # Start-up left out: the time between the slot-th result and the last, over the
    # results in between, is what a slot takes per submission once every slot is warm.
    ends = sorted(datetime.fromisoformat(f) for _, f in rows)
    steady = float("nan")
    if len(ends) > slots:
        steady = (ends[-1] - ends[slots - 1]).total_seconds() / (len(ends) - slots) * slots
    return wall, statistics.median(spans), steady


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-n", type=int, default=16, help="submissions (default 16)")
    parser.add_argument("-j", "--jobs", type=int, default=2,
                        help="slots: local workers, Dask workers (default 2)")
    parser.add_argument("--only", default="local,dask,external",
                        help="which runs, comma-separated (default: all three)")
    args = parser.parse_args(argv)
    runs = set(args.only.split(","))
    work = Path(tempfile.mkdtemp(prefix="grader-bench-dask-"))
    n, slots = args.n, args.jobs
    try:
        generate(n, work / "subs")
        one, five, _ = os.getloadavg()
        print(f"{n} submissions, {slots} slots; load average {one:.2f} {five:.2f} on "
              f"{os.cpu_count()} cores")
        figures: dict[str, tuple[float, float, float]] = {}
        plans = [("local", ["-j", str(slots)]),
                 ("dask", ["--executor", "dask", "-j", str(slots)])]
        for name, flags in plans:
            if name in runs:
                figures[name] = grade(work / "subs", work / name, flags, slots)
                _line(name, figures[name], n, slots, figures.get("local"))
        if "external" in runs:
            logs = work / "cluster"
            logs.mkdir()
            with external_cluster(slots, logs) as address:
                flags = ["--executor", "dask", "--scheduler", address]
                figures["external"] = grade(work / "subs", work / "external", flags, slots)
                _line("external", figures["external"], n, slots, figures.get("local"))
                # The same rubric again: each worker slot's grading process is still warm.
                again = grade(work / "subs", work / "again", flags, slots)
                _line("again", again, n, slots, figures.get("local"))
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return 0


def _line(name: str, got: tuple[float, float, float], n: int, slots: int,
          local: tuple[float, float, float] | None) -> None:
    wall, span, steady = got
    ratio = ""
    if local is not None and name != "local":
        ratio = f"; {name}/local = {wall / local[0]:.2f} (steady {steady / local[2]:.2f})"
    print(f"{name:9s} wall {wall:6.1f} s, {wall / n:5.2f} s/submission, "
          f"{wall * slots / n:5.2f} s per submission per slot ({steady:.2f} s steady), "
          f"median {span:.2f} s in a worker{ratio}")


if __name__ == "__main__":
    raise SystemExit(main())
