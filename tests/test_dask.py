"""The Dask executor on real ``dask scheduler`` and ``dask worker`` processes, as users run it.

The tests start a scheduler and two workers (``--nthreads 1``, no nanny, no dashboard, on
free ports) and grade the examples with ``grader grade --executor dask --scheduler``: the
verdicts are the local executor's, each worker keeps one warm grading process, and a
worker SIGKILLed while it holds tasks loses nothing (its tasks finish on the other one,
and its grading processes die with it). The warm grading process of a worker slot is
also tested on its own: killed at the task's deadline with its kernels, and replaced
after a crash; and a local cluster (its workers threads of the grader's process) starts
at most one per slot and leaves none running.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import asdict
from pathlib import Path
from typing import Any

import pytest

from grader.executors.protocol import Task
from grader.rubric import load_rubric

distributed = pytest.importorskip("distributed")

from grader.executors import dask as dask_executor  # noqa: E402  (after the skip)
from grader.executors.remote import Lines, bundle, payload  # noqa: E402

ROOT = Path(__file__).parents[1]
MINI = ROOT / "tests" / "data" / "mini"
GRADE = [sys.executable, "-m", "grader", "grade", "submissions_example/", "--rubric",
         "rubrics/hw2.toml"]


def _dask(*args: str) -> list[str]:
    """The ``dask`` command next to this Python (the one the dev extra installs)."""
    command = Path(sys.executable).with_name("dask")
    return [str(command), *args] if command.exists() else \
        [sys.executable, "-m", "dask", *args]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _descendants(pid: int) -> set[int]:
    """Every living process below ``pid``, read from /proc."""
    children: dict[int, list[int]] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        with contextlib.suppress(OSError, ValueError, IndexError):
            fields = stat.read_text().rsplit(")", 1)[1].split()
            children.setdefault(int(fields[1]), []).append(int(stat.parent.name))
    found: set[int] = set()
    todo = [pid]
    while todo:
        for child in children.get(todo.pop(), []):
            if child not in found:
                found.add(child)
                todo.append(child)
    return found


def _cmdline(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
    except OSError:
        return ""


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


def _wait_gone(pids: set[int], seconds: float = 15) -> set[int]:
    deadline = time.monotonic() + seconds
    while (left := {p for p in pids if _alive(p)}) and time.monotonic() < deadline:
        time.sleep(0.2)
    return left


class Cluster:
    """A ``dask scheduler`` and two ``dask worker`` processes started by the test."""

    def __init__(self, where: Path) -> None:
        port = _free_port()
        self.address = f"tcp://127.0.0.1:{port}"
        self.logs = where
        self.workers: dict[str, subprocess.Popen[bytes]] = {}
        self.client: Any = None
        self.scheduler = self._start("scheduler", _dask(
            "scheduler", "--host", "127.0.0.1", "--port", str(port), "--no-dashboard"))
        try:
            for i in range(2):
                self.workers[f"w{i}"] = self._start(f"w{i}", _dask(
                    "worker", self.address, "--name", f"w{i}", "--nthreads", "1",
                    "--no-nanny", "--no-dashboard", "--host", "127.0.0.1",
                    "--death-timeout", "60"))
            self.client = distributed.Client(self.address, timeout="60s")
            self.client.wait_for_workers(2, timeout=60)
        except BaseException:
            self.close()
            raise

    def _start(self, name: str, argv: list[str]) -> subprocess.Popen[bytes]:
        log = (self.logs / f"{name}.log").open("wb")
        proc = subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT,
                                cwd=self.logs, start_new_session=True)
        log.close()
        return proc

    def names(self) -> dict[str, str]:
        """The worker name of each worker address."""
        return {addr: info["name"]
                for addr, info in self.client.scheduler_info()["workers"].items()}

    def close(self) -> None:
        if self.client is not None:
            with contextlib.suppress(Exception):
                self.client.close(timeout=10)
        # The workers first, while the scheduler is there to say goodbye to.
        for group in (list(self.workers.values()), [self.scheduler]):
            for proc in group:
                if proc.poll() is None:
                    proc.terminate()
            for proc in group:
                try:
                    proc.wait(timeout=10)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.wait(timeout=10)


@pytest.fixture
def cluster(tmp_path: Path) -> Iterator[Cluster]:
    logs = tmp_path / "cluster"
    logs.mkdir()
    made = Cluster(logs)
    try:
        yield made
    finally:
        made.close()


def _points(out: Path) -> dict[str, Any]:
    """Each student's score, and each question's points and status, from the CLI's files.

    With the submission's path and content digest: the TA's files, not a worker's copy.
    """
    got = {}
    for path in sorted((out / "students").glob("*.json")):
        data = json.loads(path.read_text("utf-8"))
        got[path.stem] = (data["submission"], data["submission_sha256"], data["score"],
                          data["run"]["outcome"],
                          {q["id"]: (q["score"], q["status"]) for q in data["questions"]})
    return got


@pytest.fixture(scope="module")
def local_points(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """The examples graded by ``grader grade`` with its defaults (the local executor)."""
    out = tmp_path_factory.mktemp("local") / "reports"
    done = subprocess.run([*GRADE, "--out", str(out)], cwd=ROOT, capture_output=True,
                          text=True, timeout=300, check=False)
    assert done.returncode == 0, done.stdout + done.stderr
    points = _points(out)
    assert len(points) == 5
    return points


def _grade_on(cluster: Cluster, out: Path) -> subprocess.Popen[str]:
    return subprocess.Popen([*GRADE, "--out", str(out), "--executor", "dask",
                             "--scheduler", cluster.address], cwd=ROOT,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)


def _finish(proc: subprocess.Popen[str]) -> str:
    printed, _ = proc.communicate(timeout=300)
    assert proc.returncode == 0, printed
    return printed


@pytest.mark.kernel
def test_real_scheduler_and_workers_grade_like_the_local_executor(cluster, local_points,
                                                                  tmp_path):
    out = tmp_path / "dask"
    _finish(_grade_on(cluster, out))
    assert _points(out) == local_points
    # Each worker slot kept one warm grading process across its tasks.
    for name, worker in cluster.workers.items():
        warm = [p for p in _descendants(worker.pid)
                if "grader.executors.remote" in _cmdline(p)]
        assert len(warm) <= 1, (name, warm)
    assert sum(1 for worker in cluster.workers.values() for p in _descendants(worker.pid)
               if "grader.executors.remote" in _cmdline(p)) >= 1


@pytest.mark.kernel
def test_a_worker_killed_while_it_holds_tasks_loses_none_of_them(cluster, local_points,
                                                                 tmp_path):
    out = tmp_path / "dask"
    grading = _grade_on(cluster, out)
    victim = None
    deadline = time.monotonic() + 120
    while victim is None and time.monotonic() < deadline and grading.poll() is None:
        names = cluster.names()
        for addr, keys in cluster.client.processing().items():
            pid = cluster.workers[names[addr]].pid
            # Busy in earnest: the task reached the worker's warm grading process.
            if keys and any("grader.executors.remote" in _cmdline(p)
                            for p in _descendants(pid)):
                victim = names[addr]
                break
        time.sleep(0.05)
    assert victim is not None, "no worker was seen holding a task"
    worker = cluster.workers[victim]
    below = _descendants(worker.pid)
    os.kill(worker.pid, signal.SIGKILL)
    printed = _finish(grading)
    assert _points(out) == local_points, printed
    # The lost worker's grading process, fork server and kernels went with it.
    assert not _wait_gone(below)
    assert len(cluster.client.scheduler_info()["workers"]) == 1


# --------------------------------------------------------------------------- one worker slot

@pytest.fixture
def slot(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[dict[str, Any]]:
    """What a Dask task of the mini rubric is sent, graded here in this process."""
    dask_executor._close_all()
    rubric = load_rubric(MINI / "rubric.toml")
    sleepy = tmp_path / "sleepy.py"
    sleepy.write_text("import time\ntime.sleep(60)\nk = 1\n", "utf-8")
    good = tmp_path / "good.ipynb"
    shutil.copy(MINI / "submissions" / "good.ipynb", good)
    yield {"packed": bundle(rubric), "settings": asdict(rubric.execution),
           "good": payload(Task(student="good", path=str(good))),
           "sleepy": payload(Task(student="sleepy", path=str(sleepy)))}
    dask_executor._close_all()


def _warm() -> dask_executor.GradingProcess:
    (proc,) = dask_executor._IDLE
    return proc


def _score(text: str) -> float:
    return float(json.loads(text)["result"]["score"])


@pytest.mark.kernel
def test_the_warm_grading_process_is_killed_at_the_deadline_and_replaced(slot,
                                                                         monkeypatch):
    first = dask_executor.grade_remote(slot["packed"], slot["good"], slot["settings"])
    proc = _warm()
    again = dask_executor.grade_remote(slot["packed"], slot["good"], slot["settings"])
    assert _warm() is proc, "a second task did not reuse the warm process"
    assert _score(first) == _score(again) > 0
    # Past its deadline a task kills the process, its fork server and the kernel.
    monkeypatch.setattr(dask_executor, "task_limit", lambda *_: 6.0)
    seen: set[int] = set()
    timer = threading.Timer(4.0, lambda: seen.update(_descendants(proc.process.pid)))
    timer.start()
    with pytest.raises(TimeoutError, match="longer than 6 s"):
        dask_executor.grade_remote(slot["packed"], slot["sleepy"], slot["settings"])
    timer.join()
    assert seen, "nothing ran below the grading process"
    assert not _wait_gone({proc.process.pid, *seen})
    assert not dask_executor._IDLE
    monkeypatch.undo()
    # The next task starts a new one.
    assert _score(dask_executor.grade_remote(slot["packed"], slot["good"],
                                             slot["settings"])) == _score(first)
    assert _warm() is not proc


@pytest.mark.kernel
def test_a_crashed_grading_process_is_restarted(slot):
    first = dask_executor.grade_remote(slot["packed"], slot["good"], slot["settings"])
    proc = _warm()
    # Killed while idle: the next task starts another.
    os.kill(proc.process.pid, signal.SIGKILL)
    proc.process.wait(timeout=10)
    again = dask_executor.grade_remote(slot["packed"], slot["good"], slot["settings"])
    assert _score(again) == _score(first)
    proc = _warm()
    # Killed in the middle of a task: that task fails (Dask retries it), with its
    # kernel; the next one starts another.
    seen: set[int] = set()

    def crash() -> None:
        seen.update(_descendants(proc.process.pid))
        os.kill(proc.process.pid, signal.SIGKILL)

    timer = threading.Timer(3.0, crash)
    timer.start()
    with pytest.raises(RuntimeError, match="the grading process exited -9"):
        dask_executor.grade_remote(slot["packed"], slot["sleepy"], slot["settings"])
    timer.join()
    assert seen and not _wait_gone(seen)
    assert not dask_executor._IDLE
    assert _score(dask_executor.grade_remote(slot["packed"], slot["good"],
                                             slot["settings"])) == _score(first)
    assert _warm() is not proc


def test_lines_read_from_a_pipe_keep_what_arrived_together():
    # The setup and the first submission reach a new grading process in one read: the
    # second line must be served from what was read, not waited for on the pipe.
    read, write = os.pipe()
    try:
        lines = Lines(read)
        os.write(write, b'{"setup": 1}\n{"files": 2}\n{"par')
        assert lines.next(5) == b'{"setup": 1}\n'
        assert lines.next(0.5) == b'{"files": 2}\n'
        started = time.monotonic()
        assert lines.next(0.3) is None  # half a line, then nothing: a timeout
        assert time.monotonic() - started >= 0.3
        os.write(write, b't": 3}\n')
        assert lines.next(5) == b'{"part": 3}\n'
        os.close(write)
        write = -1
        assert lines.next(5) == b""
    finally:
        os.close(read)
        if write >= 0:
            os.close(write)


def test_a_submission_that_trips_the_grader_fails_alone(tmp_path, monkeypatch):
    # An exception that is not a GraderError (here the UnicodeEncodeError a lone
    # surrogate once raised) answers that submission with an error; the warm grading
    # process lives on and grades the next one.
    from grader.executors import remote

    class Tripping:
        graded = 0

        def __init__(self, *args: Any, **kwargs: Any) -> None:
            pass

        def grade(self, task: Task) -> str:
            Tripping.graded += 1
            if task.student == "first":
                raise UnicodeEncodeError("utf-8", "\ud800", 0, 1, "surrogates not allowed")
            return json.dumps({"result": {"student": task.student}})

        def close(self) -> None:
            pass

    monkeypatch.setattr(remote, "Worker", Tripping)
    rubric = load_rubric(MINI / "rubric.toml")
    sub = tmp_path / "s.py"
    sub.write_text("k = 1\n", "utf-8")
    lines = [{"bundle": bundle(rubric), "settings": asdict(rubric.execution)},
             payload(Task(student="first", path=str(sub))),
             payload(Task(student="second", path=str(sub)))]
    requests = tmp_path / "requests"
    requests.write_bytes(b"".join(json.dumps(line).encode() + b"\n" for line in lines))
    replies = io.BytesIO()
    with requests.open("rb") as stream:
        remote.serve(stream, replies, idle=5)
    first, second = (json.loads(r) for r in replies.getvalue().splitlines())
    assert "UnicodeEncodeError" in first["error"]
    assert second == {"result": {"student": "second"}}
    assert Tripping.graded == 2


@pytest.mark.kernel
def test_a_local_cluster_keeps_one_grading_process_per_slot_and_leaves_none(tmp_path,
                                                                            monkeypatch):
    from grader.batch import Progress, grade_batch
    from grader.discover import discover
    from grader.executors import BatchOptions
    from grader.kernel import sandbox

    dask_executor._close_all()
    started: list[str] = []
    made = dask_executor.GradingProcess.__init__

    def counted(self: dask_executor.GradingProcess, key: str, setup: dict[str, Any]) -> None:
        started.append(key)
        made(self, key, setup)

    monkeypatch.setattr(dask_executor.GradingProcess, "__init__", counted)
    subs = tmp_path / "subs"
    shutil.copytree(MINI / "submissions", subs)
    found, _ = discover([subs])
    rubric = load_rubric(MINI / "rubric.toml")
    out = tmp_path / "out"
    report = grade_batch(found, rubric, out=out, settings=rubric.execution,
                         isolation=sandbox.resolve(rubric.execution.sandbox),
                         options=BatchOptions(executor="dask", jobs=2),
                         progress=Progress(len(found), out, io.StringIO()))
    assert sorted(report.graded) == sorted(s.student for s in found)
    assert len(found) >= 5 and 1 <= len(started) <= 2, started
    # The batch is over: no grading process is left running, warm or not.
    assert not dask_executor._IDLE
    assert not [p for p in _descendants(os.getpid())
                if "grader.executors.remote" in _cmdline(p) and _alive(p)]
