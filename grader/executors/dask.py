"""The ``dask`` executor: each submission a task on a Dask distributed cluster.

Each task is sent with the files it needs (the submission's, the rubric's, the
reference's) as plain data (:mod:`grader.executors.remote`). On the worker the task hands
them to a warm grading process (``python -m grader.executors.remote``) kept for that
worker slot across tasks, keyed by the rubric's digest and the execution settings: it
grades with the local executor's :class:`~grader.executors.worker.Worker`, each
student's kernel forked fresh from a fork server that it keeps, and returns the result's
JSON. A task past its deadline kills that process (and its kernels), and a process that
crashed is not used again: the next task starts a new one. Dask moves the tasks of a
worker that is lost to the others, and ``retries`` retries a task that failed. Dask
itself is imported only when this executor runs.
"""

from __future__ import annotations

import atexit
import concurrent.futures as cf
import contextlib
import dataclasses
import hashlib
import json
import os
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Generator, Sequence
from typing import TYPE_CHECKING, Any

from grader.errors import GraderError
from grader.executors.protocol import (
    BatchOptions,
    Finished,
    Report,
    Task,
    default_jobs,
    deliver,
)
from grader.executors.remote import COMMAND, IDLE_EXIT, Lines, bundle, payload
from grader.executors.worker import task_limit
from grader.gradebook import now
from grader.settings import ExecutionSettings

if TYPE_CHECKING:
    from grader.kernel.sandbox import Isolation
    from grader.rubric import Rubric

# An idle grading process older than this is closed rather than used: it is about to
# leave on its own (IDLE_EXIT), and a request must not cross its going.
REUSE_IDLE = IDLE_EXIT / 2
STOP_GRACE = 5.0  # seconds a process past its deadline has to close its kernels


class DaskExecutor:
    """Grades on a Dask cluster: ``options.scheduler``, or a local one of ``-j`` workers."""

    def run(self, tasks: Sequence[Task], *, rubric: Rubric, settings: ExecutionSettings,
            isolation: Isolation, options: BatchOptions, report: Report) -> None:
        """Grade ``tasks`` as cluster tasks; report each as it comes back.

        ``isolation`` is unused: each worker machine resolves its own sandbox.
        """
        deliver(run_dask(tasks, rubric=rubric, settings=settings, scheduler=options.scheduler,
                         retries=options.retries, jobs=options.jobs), report)


# --------------------------------------------------------------------------- on the worker

class GradingProcess:
    """One warm ``python -m grader.executors.remote`` on a Dask worker, for one task at a time."""

    def __init__(self, key: str, setup: dict[str, Any]) -> None:
        self.key = key
        self.used = time.monotonic()
        # Its stderr goes to a file: a pipe nobody reads would fill and stop it.
        self._log = tempfile.TemporaryFile(prefix="grader-remote-")
        # Started from one long-lived thread: Linux sends the parent-death signal when the
        # thread that started a process ends, and Dask's task threads may come and go.
        self.process: subprocess.Popen[bytes] = _LAUNCHER.submit(
            subprocess.Popen, [sys.executable, *COMMAND], stdin=subprocess.PIPE,
            stdout=subprocess.PIPE, stderr=self._log, start_new_session=True).result()
        assert self.process.stdout is not None
        self._replies = Lines(self.process.stdout.fileno())
        self._send(setup)

    @property
    def alive(self) -> bool:
        """Whether the process is still running."""
        return self.process.poll() is None

    def _send(self, message: dict[str, Any]) -> None:
        stdin = self.process.stdin
        assert stdin is not None
        stdin.write(json.dumps(message).encode("utf-8") + b"\n")
        stdin.flush()

    def grade(self, files: dict[str, Any], limit: float) -> str:
        """The result JSON of grading ``files``; kills the process past ``limit`` seconds."""
        try:
            self._send(files)
            line = self._replies.next(limit)
        except OSError as exc:  # a broken pipe: the process is gone
            tail = self._tail()
            self.kill()
            raise RuntimeError(f"the grading process was lost: {exc}{tail}") from None
        if line is None:
            self.kill(STOP_GRACE)
            raise TimeoutError(f"grading took longer than {limit:.0f} s: its process and "
                               "kernels were killed")
        if not line:
            tail = self._tail()
            self.kill()
            raise RuntimeError(f"the grading process exited {self.process.returncode}{tail}")
        text = line.decode("utf-8")
        if text.startswith('{"error":'):
            raise GraderError(json.loads(text)["error"])
        self.used = time.monotonic()
        return text

    def _tail(self) -> str:
        """The last lines the process wrote to stderr, for the task's error."""
        with contextlib.suppress(OSError):
            self._log.seek(max(0, self._log.seek(0, os.SEEK_END) - 4096))
            lines = self._log.read().decode("utf-8", "replace").strip().splitlines()[-5:]
            return (": " + " | ".join(lines)) if lines else ""
        return ""

    def kill(self, grace: float = 0.0) -> None:
        """Stop the process: SIGTERM lets it close its kernels; SIGKILL after ``grace`` s.

        Its fork server and kernels die with it even when it cannot close them.
        """
        if grace > 0 and self.alive:
            with contextlib.suppress(OSError):
                self.process.terminate()
            with contextlib.suppress(subprocess.TimeoutExpired):
                self.process.wait(timeout=grace)
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self.process.pid, signal.SIGKILL)
        with contextlib.suppress(Exception):
            self.process.kill()
        with contextlib.suppress(Exception):
            self.process.wait(timeout=5)
        self._close_streams()

    def close(self) -> None:
        """Ask the process to leave (closing its kernels), then kill it if it does not."""
        with contextlib.suppress(Exception):
            if self.process.stdin is not None:
                self.process.stdin.close()
        try:
            self.process.wait(timeout=5)
        except subprocess.TimeoutExpired:
            self.kill()
        self._close_streams()

    def _close_streams(self) -> None:
        for stream in (self.process.stdin, self.process.stdout, self._log):
            with contextlib.suppress(Exception):
                if stream is not None:
                    stream.close()


_LAUNCHER = cf.ThreadPoolExecutor(max_workers=1, thread_name_prefix="grader-launch")
_IDLE: list[GradingProcess] = []  # warm processes no task holds, oldest first
_LOCK = threading.Lock()
_HELD = 0  # processes tasks of this process hold now
_PEAK = 1  # the most held at once: the slots of every Dask worker in this process


def _acquire(key: str, setup: dict[str, Any]) -> GradingProcess:
    """A warm grading process set up for ``key``, or a new one."""
    global _HELD, _PEAK
    found = None
    stale = []
    with _LOCK:
        for proc in list(_IDLE):
            old = time.monotonic() - proc.used > REUSE_IDLE
            if not proc.alive or old:
                _IDLE.remove(proc)
                stale.append(proc)
            elif found is None and proc.key == key:
                _IDLE.remove(proc)
                found = proc
        _HELD += 1
        _PEAK = max(_PEAK, _HELD)
    for proc in stale:
        proc.close()
    try:
        return found if found is not None else GradingProcess(key, setup)
    except BaseException:
        _release(None)
        raise


def _release(proc: GradingProcess | None) -> None:
    """Keep ``proc`` warm for the next task, or none (it was killed).

    At most one idle process per slot is kept (the oldest beyond is closed): a slot is a
    thread of this Dask worker, or of every worker this process runs (a local cluster's,
    whose workers are threads of the grader's own process).
    """
    global _HELD
    with _LOCK:
        _HELD -= 1
        if proc is not None:
            _IDLE.append(proc)
        extra = _IDLE[:max(0, len(_IDLE) - max(_PEAK, _slots()))]
        del _IDLE[:len(extra)]
    for old in extra:
        old.close()


def _slots() -> int:
    """Threads of the Dask worker running this task (1 outside one)."""
    with contextlib.suppress(Exception):
        from distributed import get_worker

        return max(1, int(get_worker().state.nthreads))
    return 1


@atexit.register
def _close_all() -> None:
    with _LOCK:
        procs = list(_IDLE)
        _IDLE.clear()
    for proc in procs:
        proc.close()


def grade_remote(packed: dict[str, Any], files: dict[str, Any],
                 settings: dict[str, Any]) -> str:
    """A Dask task: grade one submission in this worker slot's warm grading process.

    Returns the result's JSON text; raises (and Dask retries) only when that process
    fails or runs past the deadline, which no submission can cause on its own.
    """
    key = hashlib.sha256(json.dumps([packed["digest"], settings], sort_keys=True)
                         .encode()).hexdigest()
    limit = task_limit(float(settings.get("timeout", 600)),
                       float(settings.get("startup_timeout", 60)))
    proc = _acquire(key, {"bundle": packed, "settings": settings})
    try:
        text = proc.grade(files, limit)
    except GraderError:
        _release(proc)
        raise
    except BaseException:
        proc.kill()
        _release(None)
        raise
    _release(proc)
    return text


# --------------------------------------------------------------------------- the coordinator

def run_dask(tasks: Sequence[Task], *, rubric: Rubric, settings: ExecutionSettings,
             scheduler: Any, retries: int = 2, jobs: int = 0
             ) -> Generator[Finished, None, None]:
    """Grade ``tasks`` on a Dask cluster; yield each as it comes back.

    ``scheduler`` is an address (``tcp://HOST:8786``), a ``distributed.Client``, or None
    for a local cluster of ``jobs`` workers. Those are threads of this process: what
    grades is each one's warm grading process, so a worker process of its own would
    only cost its start-up.
    """
    try:
        from distributed import Client, LocalCluster, as_completed
    except ImportError:
        raise GraderError("--executor dask needs Dask: pip install 'grader[dask]'") from None
    if not tasks:
        return
    with contextlib.ExitStack() as stack:
        if isinstance(scheduler, Client):
            client = scheduler
        elif scheduler is None:
            # Its workers are threads here, their grading processes this process's
            # children: stopped once the cluster is (a local batch leaves nothing warm).
            stack.callback(_close_all)
            cluster = stack.enter_context(LocalCluster(
                n_workers=jobs or default_jobs(), threads_per_worker=1, processes=False,
                dashboard_address=None))
            client = stack.enter_context(Client(cluster))
        else:
            try:
                client = stack.enter_context(Client(scheduler, timeout="30s"))
            except (OSError, TimeoutError) as exc:
                raise GraderError(f"cannot reach the Dask scheduler {scheduler}: {exc}") \
                    from None
        packed = bundle(rubric)
        settings_data = dataclasses.asdict(settings)
        futures = {}
        for task in tasks:
            future = client.submit(grade_remote, packed, payload(task), settings_data,
                                   key=f"grade-{task.student}-{rubric.digest[:12]}-{now()}",
                                   retries=retries, pure=False)
            futures[future] = task
        for future in as_completed(list(futures)):
            task = futures[future]
            try:
                yield Finished.from_json(future.result())
            except Exception as exc:  # retries used up, or the task was lost too often
                yield Finished.failed(task, rubric, f"grader error on the cluster: "
                                                    f"{type(exc).__name__}: {exc}")
            finally:
                future.release()
