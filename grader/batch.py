"""Grade a whole course: workers, warm kernels, the gradebook, progress, and a cluster.

The coordinating process (the ``grader grade`` command) finds what is left to grade,
hands submissions to an executor and, as each one finishes, commits its row to the
gradebook, writes the student's page and the CSV, and moves the progress bar. Nothing a
worker sends back is more than our own plain data: a result as JSON text
(:func:`grader.gradebook.result_json`), never a pickle of anything a student made.

Executors:

``local`` (the default)
    ``-j N`` worker processes (spawned: a clean interpreter each, whose main thread runs
    the checks, so the symbolic check's time budget holds; sympy is CPU-bound, and
    threads would share one core through the GIL). Each worker keeps a sandbox with a
    kernel fork server (``grader.kernel.forkserver``) that has imported ipykernel and the
    rubric's ``[execution] preload`` modules once; each student's kernel is forked from
    it, fresh, in about 0.2 s and without the CPU time of those imports. With
    ``--fresh-kernels`` each kernel is instead a new process, started ahead of need in a
    background thread. A kernel serves one student and is closed; it is never reused.
    With ``-j 1`` the coordinator grades in its own main thread, the same way. A worker
    process that dies, or hangs (no submission finished for longer than any may take),
    takes the submissions it held back to the queue once; a second time marks them as a
    grader error and the batch goes on. No wait for a worker is unbounded: one that has
    not left ``STOP_GRACE`` seconds after it was asked to (SIGTERM, or the end of a
    round) is SIGKILLed. The grader's processes take the lowest OOM score they may
    (``grader.kernel.oom``), the kernels the highest.
``dask``
    Each submission is a task on a Dask distributed cluster, sent with the files it
    needs (the submission's, the rubric's, the reference's) as plain data. On the
    worker the task grades in a fresh ``python -m grader.batch`` process (main thread,
    a hard deadline, nothing left behind) and returns the result's JSON. Dask moves the
    tasks of a worker that is lost to the others, and ``retries`` retries a task that
    failed.
"""

from __future__ import annotations

import base64
import concurrent.futures as cf
import contextlib
import ctypes
import dataclasses
import json
import os
import re
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import IO, Any

from grader.errors import GraderError
from grader.gradebook import (
    RETRY_OUTCOMES,
    Gradebook,
    ManualGrade,
    apply_manual,
    now,
    result_json,
)
from grader.kernel.oom import protect_from_oom
from grader.kernel.sandbox import Isolation
from grader.report import student_file
from grader.results import SubmissionResult
from grader.rubric import Rubric
from grader.settings import ExecutionSettings

EXECUTORS = ("local", "dask")
STOP_GRACE = 5.0  # seconds a worker asked to leave has to close its kernels; then SIGKILL


@dataclass(frozen=True, kw_only=True)
class BatchOptions:
    """How a batch runs: the executor, its workers, and what may be kept from before."""

    jobs: int = 0  # local workers; 0: the number of cores
    warm: int = 1  # kernels each local worker keeps started ahead of need
    fork: bool = True  # fork kernels from a preloaded server; False: a new process each
    executor: str = "local"  # local | dask
    scheduler: Any = None  # dask: "tcp://HOST:8786" or a Client; None: a local cluster
    retries: int = 2  # dask: retries of a task that failed
    resume: bool = False  # keep results already graded for the same content and rubric


def default_jobs() -> int:
    """The number of cores this process may use."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # not on Linux
        return max(1, os.cpu_count() or 1)


@dataclass(frozen=True, kw_only=True)
class Task:
    """One submission for a worker, as plain data."""

    student: str
    path: str
    folder: str | None = None
    prefetch: bool = True  # start the next warm kernel when this one is taken


@dataclass(frozen=True, kw_only=True)
class Finished:
    """A graded submission back in the coordinator, with when its grading ran."""

    student: str
    result: SubmissionResult
    started: str
    finished: str


def _task(sub: Any, prefetch: bool = True) -> Task:
    return Task(student=sub.student, path=str(sub.path),
                folder=None if sub.folder is None else str(sub.folder), prefetch=prefetch)


def _submission(task: Task) -> Any:
    from grader.submission import Submission

    return Submission(student=task.student, path=Path(task.path),
                      folder=None if task.folder is None else Path(task.folder))


# --------------------------------------------------------------------------- warm kernels


class WarmPool:
    """Kernels started ahead of need in background threads; each serves one student.

    :meth:`take` hands over the oldest (waiting for it if it is still starting) and, when
    asked, starts a replacement at once, so the next submission does not wait.
    """

    def __init__(self, settings: ExecutionSettings, isolation: Isolation, size: int = 1,
                 *, fork: bool = True) -> None:
        self.settings = settings
        self.isolation = isolation
        self.size = max(0, size)
        self._threads = cf.ThreadPoolExecutor(max_workers=max(1, self.size),
                                              thread_name_prefix="grader-warm")
        self._ready: deque[cf.Future[Any]] = deque()
        self._lock = threading.Lock()
        self._closed = False
        # With a fork server, what is kept warm is the server (ipykernel and the preload
        # modules imported once); each kernel is forked from it when a student needs it.
        self.forkserver: Any = None
        self._server: cf.Future[Any] | None = None
        if fork and self.size:
            from grader.kernel.forkserver import ForkServer

            self.forkserver = ForkServer(settings, isolation)
            self._server = self._threads.submit(self.forkserver.start)
            return
        for _ in range(self.size):
            self._start_one()

    def _start_one(self) -> None:
        with self._lock:
            if not self._closed:
                self._ready.append(self._threads.submit(self._warm))

    def _warm(self) -> Any:
        from grader.kernel.execute import KernelSession

        session = KernelSession(self.settings, isolation=self.isolation)
        session.start()
        if self.settings.preload:
            # The rubric's heavy imports (numpy, sympy) happen before a student's code
            # runs: what it costs leaves the critical path. A failed import is no error
            # of the student's: their own import line will report it.
            # Into sys.modules only, as the fork server does: no name in the namespace.
            session.run_code(
                "def _grader_preload():\n"
                "    import importlib\n"
                f"    for name in {list(self.settings.preload)!r}:\n"
                "        try:\n"
                "            importlib.import_module(name)\n"
                "        except Exception:\n"
                "            pass\n"
                "_grader_preload()\n"
                "del _grader_preload\n",
                timeout=self.settings.startup_timeout)
        return session

    def take(self, *, prefetch: bool = True) -> Any | None:
        """A started kernel, or None when starting one failed (the caller starts its own)."""
        if self.forkserver is not None:
            return self._fork()
        with self._lock:
            future = self._ready.popleft() if self._ready else None
        if future is None and self.size:
            # None started ahead (the last submissions do not ask): start one and wait.
            self._start_one()
            with self._lock:
                future = self._ready.popleft() if self._ready else None
        if prefetch and self.size:
            self._start_one()
        if future is None:
            return None
        try:
            return future.result()
        except Exception:  # grade() starts a kernel itself and reports why it failed
            return None

    def _fork(self) -> Any | None:
        from grader.kernel.execute import KernelSession

        assert self._server is not None
        try:
            self._server.result()
            return KernelSession(self.settings, isolation=self.isolation,
                                 forkserver=self.forkserver).start()
        except Exception:  # grade() starts a kernel itself and reports why it failed
            return None

    def close(self) -> None:
        """Stop every kernel not handed out, and the fork server."""
        with self._lock:
            self._closed = True
            pending = list(self._ready)
            self._ready.clear()
        for future in pending:
            with contextlib.suppress(Exception):
                future.result().close()
        self._threads.shutdown(wait=True)
        if self.forkserver is not None:
            self.forkserver.close()


# --------------------------------------------------------------------------- the worker


class Worker:
    """Grades tasks one at a time in the calling thread, with a warm kernel ready."""

    def __init__(self, rubric: Rubric, settings: ExecutionSettings, isolation: Isolation,
                 warm: int = 1, *, fork: bool = True) -> None:
        self.rubric = rubric
        self.settings = settings
        self.isolation = isolation
        self.pool = WarmPool(settings, isolation, warm, fork=fork)

    def grade(self, task: Task) -> str:
        """Grade one submission; the result and its times as JSON text."""
        from grader.grade import failed_result, grade

        sub = _submission(task)
        session = self.pool.take(prefetch=task.prefetch)
        started = now()
        try:
            result = grade(sub, self.rubric, settings=self.settings, isolation=self.isolation,
                           session=session)
        except Exception as exc:  # one broken submission never stops the batch
            result = failed_result(sub, self.rubric,
                                   f"grader error: {type(exc).__name__}: {exc}")
        finally:
            if session is not None:
                # grade() closes the kernel it was handed, except when it never ran it
                # (an unreadable notebook); closing twice is harmless.
                session.close()
        return json.dumps({"result": json.loads(result_json(result)), "started": started,
                           "finished": now()}, ensure_ascii=False)

    def close(self) -> None:
        """Stop the warm kernels."""
        self.pool.close()


def _finished(text: str) -> Finished:
    data = json.loads(text)
    result = SubmissionResult.from_dict(data["result"])
    return Finished(student=result.student, result=result, started=data["started"],
                    finished=data["finished"])


_WORKER: Worker | None = None


def _die_with_parent(sig: int = signal.SIGKILL) -> None:
    """Ask Linux to kill this process when its parent dies (a killed grader).

    SIGKILL, not SIGTERM: a SIGTERM may be delivered to one of the worker's other threads
    (ZMQ's, the warm pool's) while the main thread waits on the task queue's lock, and
    then nothing ever runs its handler. The kernels die with the worker on their own:
    bwrap's --die-with-parent, and the parent-death signal the launcher sets.
    """
    parent = os.getppid()
    with contextlib.suppress(Exception):
        ctypes.CDLL(None, use_errno=True).prctl(1, sig)  # PR_SET_PDEATHSIG
    if os.getppid() != parent:  # the parent died before we asked
        os.kill(os.getpid(), sig)


def _exit_on_sigterm(signum: int, frame: Any) -> None:
    # SystemExit unwinds grade(): the kernel in use is closed on the way out.
    raise SystemExit(128 + signum)


def _init_worker(config: str) -> None:
    """Set up a worker process: load the rubric, start warm kernels."""
    global _WORKER
    # Ctrl-C is the coordinator's to handle; it stops workers with SIGTERM.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, _exit_on_sigterm)
    _die_with_parent()
    protect_from_oom()
    cfg = json.loads(config)
    from grader.rubric import load_rubric

    rubric = load_rubric(cfg["rubric"])
    if rubric.digest != cfg["digest"]:
        raise GraderError("the rubric changed on disk while the batch started")
    worker = Worker(rubric, _settings_from(cfg["settings"]), Isolation(**cfg["isolation"]),
                    cfg["warm"], fork=cfg["fork"])
    _WORKER = worker
    import atexit
    from multiprocessing import util

    # A pool worker leaves through multiprocessing's exit path: register there too.
    util.Finalize(worker, worker.close, exitpriority=10)
    atexit.register(worker.close)


def _grade_in_worker(task: Task) -> str:
    assert _WORKER is not None, "worker not initialised"
    return _WORKER.grade(task)


def _settings_from(data: dict[str, Any]) -> ExecutionSettings:
    return ExecutionSettings(**{**data, "preload": tuple(data.get("preload", ()))})


# --------------------------------------------------------------------------- executors


def run_local(tasks: Sequence[Task], *, rubric: Rubric, settings: ExecutionSettings,
              isolation: Isolation, jobs: int, warm: int = 1, fork: bool = True
              ) -> Iterator[Finished]:
    """Grade ``tasks`` on this machine; yield each as it finishes (in any order)."""
    if not tasks:
        return
    jobs = max(1, min(jobs, len(tasks)))
    if jobs == 1:
        worker = Worker(rubric, settings, isolation, warm, fork=fork)
        try:
            for task in tasks:
                yield _finished(worker.grade(task))
        finally:
            worker.close()
        return
    yield from _process_pool(tasks, rubric=rubric, settings=settings, isolation=isolation,
                             jobs=jobs, warm=warm, fork=fork)


def _process_pool(tasks: Sequence[Task], *, rubric: Rubric, settings: ExecutionSettings,
                  isolation: Isolation, jobs: int, warm: int, fork: bool
                  ) -> Iterator[Finished]:
    import multiprocessing
    from concurrent.futures.process import BrokenProcessPool

    config = json.dumps({"rubric": str(rubric.path), "digest": rubric.digest,
                         "settings": dataclasses.asdict(settings),
                         "isolation": dataclasses.asdict(isolation), "warm": warm,
                         "fork": fork})
    limit = _task_limit(settings.timeout, settings.startup_timeout)
    pending = list(tasks)
    deaths: dict[str, int] = {}
    while pending:
        pool = cf.ProcessPoolExecutor(max_workers=min(jobs, len(pending)),
                                      mp_context=multiprocessing.get_context("spawn"),
                                      initializer=_init_worker, initargs=(config,))
        retry: list[Task] = []
        try:
            futures = {pool.submit(_grade_in_worker, t): t for t in pending}
            waiting = set(futures)
            while waiting:
                done, waiting = cf.wait(waiting, timeout=limit,
                                        return_when=cf.FIRST_COMPLETED)
                if not done:
                    # A worker takes its next submission as it finishes one, so when none
                    # finished for this long, every one still busy has run past what a
                    # grading may take: it hangs. Its submissions go round like a death's.
                    _stop(pool)
                    for future in waiting:
                        yield from _lost(futures[future], deaths, retry, rubric)
                    break
                for future in done:
                    task = futures[future]
                    try:
                        yield _finished(future.result())
                    except BrokenProcessPool:
                        # A worker process died (not a kernel: those are handled inside).
                        # The submissions it may have held go round once more.
                        yield from _lost(task, deaths, retry, rubric)
                    except Exception as exc:
                        yield _failed(task, rubric,
                                      f"grader error: {type(exc).__name__}: {exc}")
        except BaseException:
            _stop(pool)
            raise
        _close(pool)
        pending = retry


def _task_limit(timeout: float, startup_timeout: float) -> float:
    """The longest one submission's grading may take before its worker counts as hung.

    The run's deadline and the kernel's start bound a grading; the margin covers a rerun
    after a dead kernel, the calls of function checks and a loaded machine.
    """
    return (timeout + startup_timeout) * 3 + 120


def _lost(task: Task, deaths: dict[str, int], retry: list[Task], rubric: Rubric
          ) -> Iterator[Finished]:
    """A submission whose worker died or hung: back to the queue once, then a grader error."""
    deaths[task.student] = deaths.get(task.student, 0) + 1
    if deaths[task.student] < 2:
        retry.append(task)
    else:
        yield _failed(task, rubric, "grader error: the worker process grading this "
                                    "submission died or hung twice")


def _close(pool: cf.ProcessPoolExecutor) -> None:
    """End a round: the workers leave on their own (closing their kernels), or are killed.

    ``shutdown(wait=True)`` would wait for each worker without a bound, in the pool's own
    thread: after a worker's death that thread has sent SIGTERM to the others and waits
    for them, and one whose SIGTERM reached a thread other than its main one never ends.
    """
    processes, manager = _workers(pool), _manager(pool)
    pool.shutdown(wait=False)  # the pool's thread asks each worker to leave
    _reap(processes, STOP_GRACE)
    _join(manager)


def _stop(pool: cf.ProcessPoolExecutor) -> None:
    """Stop the workers now (Ctrl-C, a hang): SIGTERM lets each close its kernels, then SIGKILL."""
    processes, manager = _workers(pool), _manager(pool)
    for process in processes:
        with contextlib.suppress(Exception):
            process.terminate()
    _reap(processes, STOP_GRACE)
    pool.shutdown(wait=False, cancel_futures=True)
    _join(manager)


def _workers(pool: cf.ProcessPoolExecutor) -> list[Any]:
    return list((getattr(pool, "_processes", None) or {}).values())


def _manager(pool: cf.ProcessPoolExecutor) -> threading.Thread | None:
    return getattr(pool, "_executor_manager_thread", None)


def _reap(processes: Sequence[Any], grace: float) -> None:
    """Wait up to ``grace`` seconds for ``processes`` to end, then SIGKILL the rest.

    The SIGTERM may have reached a thread other than the main one, where it is never
    handled; the kernels die with their worker all the same. An exit is read from each
    process's sentinel, never by reaping it: the pool's thread may be waiting for it too.
    """
    left = _running(processes, grace)
    for process in left:
        with contextlib.suppress(Exception):
            process.kill()
    # Only a process stuck in the kernel (uninterruptible I/O) outlives SIGKILL: it is
    # left to the pool's thread rather than waited for here.
    _running(left, grace)


def _running(processes: Sequence[Any], seconds: float) -> list[Any]:
    """Those of ``processes`` still running after waiting up to ``seconds`` for them."""
    from multiprocessing.connection import wait

    left = {}
    for process in processes:
        with contextlib.suppress(ValueError):  # a closed Process object has ended
            left[process.sentinel] = process
    deadline = time.monotonic() + seconds
    while left and (timeout := deadline - time.monotonic()) > 0:
        for sentinel in wait(list(left), timeout):
            del left[sentinel]
    return list(left.values())


def _join(thread: threading.Thread | None) -> None:
    """Wait a little for the pool's thread, which ends once its workers have."""
    if thread is not None:
        thread.join(STOP_GRACE)


def _failed(task: Task, rubric: Rubric, message: str) -> Finished:
    from grader.grade import failed_result

    stamp = now()
    return Finished(student=task.student, started=stamp, finished=stamp,
                    result=failed_result(_submission(task), rubric, message))


# --------------------------------------------------------------------------- dask


def _bundle(rubric: Rubric) -> dict[str, Any]:
    """The rubric and its reference as text, for a worker that has neither file."""
    reference = rubric.reference_path
    return {
        "rubric_path": str(rubric.path),
        "rubric": Path(rubric.path).read_bytes().decode("utf-8"),
        "digest": rubric.digest,
        "reference_name": None if reference is None else Path(reference).name,
        "reference": None if reference is None else Path(reference).read_text("utf-8"),
    }


def _payload(task: Task) -> dict[str, Any]:
    """A submission's files as plain data (base64), relative to its folder."""
    files: dict[str, str] = {}
    if task.folder is None:
        path = Path(task.path)
        files[path.name] = base64.b64encode(path.read_bytes()).decode("ascii")
        main = path.name
    else:
        folder = Path(task.folder)
        for p in sorted(folder.rglob("*")):
            # A link would point at nothing on another machine; the local copy keeps it
            # as a link to what the sandbox hides, so leaving it out changes nothing.
            if p.is_file() and not p.is_symlink():
                files[p.relative_to(folder).as_posix()] = \
                    base64.b64encode(p.read_bytes()).decode("ascii")
        main = Path(task.path).relative_to(folder).as_posix()
    return {"student": task.student, "main": main, "folder": task.folder is not None,
            "files": files}


def grade_remote(bundle: dict[str, Any], payload: dict[str, Any],
                 settings: dict[str, Any]) -> str:
    """A Dask task: grade one submission in a fresh ``python -m grader.batch`` process.

    Returns the result's JSON text; raises (and Dask retries) only when that process
    fails, which no submission can cause on its own.
    """
    request = json.dumps({"bundle": bundle, "payload": payload, "settings": settings})
    limit = _task_limit(float(settings.get("timeout", 600)),
                        float(settings.get("startup_timeout", 60)))
    done = subprocess.run([sys.executable, "-m", "grader.batch"], input=request.encode(),
                          capture_output=True, timeout=limit, check=False)
    if done.returncode != 0:
        tail = done.stderr.decode("utf-8", "replace").strip().splitlines()[-5:]
        raise RuntimeError(f"grading process exited {done.returncode}: " + " | ".join(tail))
    return done.stdout.decode("utf-8")


def _serve_one(stream: IO[bytes]) -> str:
    """Grade the request read from ``stream`` (the body of ``python -m grader.batch``)."""
    _die_with_parent(signal.SIGKILL)
    protect_from_oom()
    request = json.loads(stream.read().decode("utf-8"))
    bundle, payload = request["bundle"], request["payload"]
    settings = _settings_from(request["settings"])
    from grader.kernel import sandbox
    from grader.rubric import load_rubric
    from grader.submission import Submission

    with tempfile.TemporaryDirectory(prefix="grader-task-") as tmp:
        root = Path(tmp)
        (root / "rubric").mkdir()
        rubric_file = root / "rubric" / Path(bundle["rubric_path"]).name
        rubric_file.write_text(bundle["rubric"], "utf-8")
        rubric = load_rubric(rubric_file, check_reference=False)
        reference = None
        if bundle["reference"] is not None:
            reference = root / "rubric" / "reference" / bundle["reference_name"]
            reference.parent.mkdir()
            reference.write_text(bundle["reference"], "utf-8")
        # The same rubric as the TA's: its digest, and its path as results name it.
        rubric = replace(rubric, path=Path(bundle["rubric_path"]), reference_path=reference)
        if rubric.digest != bundle["digest"]:
            raise GraderError("the rubric arrived changed")
        student = root / "submission"
        student.mkdir()
        for rel, data in payload["files"].items():
            target = (student / rel).resolve()
            if not target.is_relative_to(student.resolve()):
                raise GraderError(f"unsafe file name in the task: {rel!r}")
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(base64.b64decode(data))
        sub = Submission(student=payload["student"], path=student / payload["main"],
                         folder=student if payload["folder"] else None)
        isolation = sandbox.resolve(settings.sandbox)
        worker = Worker(rubric, settings, isolation, warm=0)
        try:
            return worker.grade(Task(student=sub.student, path=str(sub.path),
                                     folder=None if sub.folder is None else str(sub.folder),
                                     prefetch=False))
        finally:
            worker.close()


def run_dask(tasks: Sequence[Task], *, rubric: Rubric, settings: ExecutionSettings,
             scheduler: Any, retries: int = 2, jobs: int = 0) -> Iterator[Finished]:
    """Grade ``tasks`` on a Dask cluster; yield each as it comes back.

    ``scheduler`` is an address (``tcp://HOST:8786``), a ``distributed.Client``, or None
    for a local cluster of ``jobs`` worker processes.
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
            cluster = stack.enter_context(LocalCluster(
                n_workers=jobs or default_jobs(), threads_per_worker=1, processes=True,
                dashboard_address=None))
            client = stack.enter_context(Client(cluster))
        else:
            try:
                client = stack.enter_context(Client(scheduler, timeout="30s"))
            except (OSError, TimeoutError) as exc:
                raise GraderError(f"cannot reach the Dask scheduler {scheduler}: {exc}") \
                    from None
        bundle = _bundle(rubric)
        settings_data = dataclasses.asdict(settings)
        futures = {}
        for task in tasks:
            future = client.submit(grade_remote, bundle, _payload(task), settings_data,
                                   key=f"grade-{task.student}-{rubric.digest[:12]}-{now()}",
                                   retries=retries, pure=False)
            futures[future] = task
        for future in as_completed(list(futures)):
            task = futures[future]
            try:
                yield _finished(future.result())
            except Exception as exc:  # retries used up, or the task was lost too often
                yield _failed(task, rubric, f"grader error on the cluster: "
                                            f"{type(exc).__name__}: {exc}")
            finally:
                future.release()


# --------------------------------------------------------------------------- progress

# What must not reach a terminal raw: C0 and C1 controls (escape sequences, carriage
# returns, newlines that would fake a line), line separators and bidi overrides.
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f\u061c\u200e\u200f\u2028-\u202e\u2066-\u2069]")
_NAMED = {"\n": r"\n", "\r": r"\r", "\t": r"\t"}


def printable(text: object, *, lines: bool = False) -> str:
    r"""``text`` with its control characters escaped, to print on a terminal.

    An escape sequence's ESC shows as ``\x1b``, a newline as ``\n``: a file or student
    name prints as itself and cannot clear the screen or fake a line of output. With
    ``lines`` newlines are kept, for the grader's own messages of several lines.
    """
    if lines:
        return "\n".join(printable(line) for line in str(text).split("\n"))
    return _CONTROL.sub(_escape, str(text))


def _escape(match: re.Match[str]) -> str:
    char = match.group()
    code = ord(char)
    return _NAMED.get(char) or (f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}")


class Progress:
    """Plain output: one line per submission, for CI logs and pipes."""

    def __init__(self, total: int, out: Path, stream: IO[str] | None = None) -> None:
        self.total = total
        self.out = out
        self.stream = stream or sys.stdout
        self.count = 0
        self.failed = 0

    def _line(self, text: str) -> None:
        print(printable(text), file=self.stream, flush=True)

    def kept(self, result: SubmissionResult) -> None:
        """A submission graded before, with the same content and rubric."""
        self.count += 1
        self._line(f"[{self.count}/{self.total}] {result.student}: kept "
                   f"{result.score:g}/{result.max_score:g} (unchanged)")

    def graded(self, result: SubmissionResult) -> None:
        """A submission graded now."""
        self.count += 1
        if result.run.outcome != "ok":
            self.failed += 1
        self._line(f"[{self.count}/{self.total}] {result.student}: {_summary(result)} -> "
                   f"{student_file(self.out, result.student, '.html')}")

    def close(self) -> None:
        """Nothing to tidy up."""


def _summary(result: SubmissionResult) -> str:
    note = "" if result.run.outcome == "ok" else f" [{result.run.outcome}]"
    errors = f", {len(result.run.errors)} cell error(s)" if result.run.errors else ""
    return f"{result.score:g}/{result.max_score:g}{note}{errors}"


class RichProgress(Progress):
    """A progress bar with counts of graded, failed to run and remaining, and an ETA."""

    def __init__(self, total: int, out: Path, stream: IO[str] | None = None) -> None:
        super().__init__(total, out, stream)
        from rich import progress as bar
        from rich.console import Console

        self.console = Console(file=self.stream)
        self.bar = bar.Progress(
            bar.TextColumn("grading"), bar.BarColumn(), bar.MofNCompleteColumn(),
            bar.TextColumn("graded [green]{task.fields[graded]}[/] · failed to run "
                           "[red]{task.fields[failed]}[/] · remaining {task.fields[remaining]}"),
            bar.TextColumn("· ETA"), bar.TimeRemainingColumn(), bar.TextColumn("·"),
            bar.TimeElapsedColumn(), console=self.console)
        self.task = self.bar.add_task("grading", total=total, graded=0, failed=0,
                                      remaining=total)
        self.bar.start()

    def _update(self) -> None:
        self.bar.update(self.task, completed=self.count, graded=self.count - self.failed,
                        failed=self.failed, remaining=self.total - self.count)

    def kept(self, result: SubmissionResult) -> None:
        """Kept results count as done, without a line each."""
        self.count += 1
        self._update()
        # Kept results are not part of the speed estimate: restart its clock.
        self.bar.reset(self.task, total=self.total, completed=self.count,
                       graded=self.count - self.failed, failed=self.failed,
                       remaining=self.total - self.count)

    def graded(self, result: SubmissionResult) -> None:
        """Move the bar; a submission that did not run gets a line above it."""
        self.count += 1
        if result.run.outcome != "ok":
            self.failed += 1
            self.bar.console.print(printable(f"{result.student}: {_summary(result)}: "
                                             f"{result.run.message}"),
                                   markup=False, highlight=False)
        self._update()

    def close(self) -> None:
        """Stop redrawing the bar."""
        self.bar.stop()


def progress_for(total: int, out: Path, stream: IO[str] | None = None) -> Progress:
    """A progress bar on a terminal (when rich is installed), plain lines elsewhere."""
    stream = stream or sys.stdout
    if stream.isatty() and os.environ.get("TERM") != "dumb":
        try:
            return RichProgress(total, out, stream)
        except ImportError:
            pass
    return Progress(total, out, stream)


# --------------------------------------------------------------------------- the batch


@dataclass(frozen=True, kw_only=True)
class BatchReport:
    """What a batch did: graded now, kept from before, and the merged results of all."""

    graded: tuple[str, ...]
    kept: tuple[str, ...]
    results: tuple[SubmissionResult, ...]


def grade_batch(subs: Sequence[Any], rubric: Rubric, *, out: Path,
                settings: ExecutionSettings, isolation: Isolation,
                options: BatchOptions = BatchOptions(),
                write_page: Callable[[SubmissionResult], None] | None = None,
                progress: Progress | None = None) -> BatchReport:
    """Grade ``subs`` into ``out``: gradebook rows, student pages, CSV and summary.

    Each result is committed to the gradebook and its page written as soon as it
    arrives; an interrupted batch keeps them, and ``options.resume`` skips them next
    time. The summary pages are written at the end, also after an interruption.
    """
    from grader.grade import reproduce_command, submission_digest
    from grader.report import atomic_write, grades_csv, write_student

    # Before any worker starts: they inherit it, and the kernels raise theirs to 1000.
    protect_from_oom()
    out.mkdir(parents=True, exist_ok=True)
    write = write_page or (lambda r: write_student(r, rubric, out))
    with Gradebook.in_folder(out) as book:
        book.claim(rubric)
        before = book.graded()
        manual = book.manual()
        current = {r.student: r for r in book.merged()}
        by_student = {s.student: s for s in subs}
        todo, kept = [], []
        for sub in subs:
            row = before.get(sub.student)
            if options.resume and row is not None and row.outcome not in RETRY_OUTCOMES \
                    and row.rubric_digest == rubric.digest \
                    and row.content_sha256 == _digest(sub, submission_digest):
                kept.append(sub.student)
            elif options.resume and row is None and \
                    (legacy := _legacy(out, sub, rubric, submission_digest)) is not None:
                # A result file from a grader without a gradebook: take it in.
                book.record(legacy, started=legacy.graded_at, finished=legacy.graded_at,
                            executor="imported")
                current[sub.student] = apply_manual(legacy, manual.get(sub.student, {}))
                kept.append(sub.student)
            else:
                todo.append(sub)
        progress = progress or progress_for(len(subs), out)
        graded: list[str] = []
        try:
            for sid in kept:
                if not student_file(out, sid, ".html").exists():
                    # Kept from a grader that put pages beside the summary: write them here.
                    try:
                        write(current[sid])
                    except Exception as exc:
                        _cannot_write(sid, exc)
                progress.kept(current[sid])
            prefetch_until = len(todo) - max(1, options.jobs or default_jobs())
            tasks = [_task(s, prefetch=i < prefetch_until) for i, s in enumerate(todo)]
            for done in _execute(tasks, rubric, settings, isolation, options):
                sub = by_student[done.student]
                # The coordinator's view of where the files are (a cluster saw a copy).
                result = replace(done.result, submission=str(sub.path),
                                 command=reproduce_command(sub, rubric))
                book.record(result, started=done.started, finished=done.finished,
                            executor=options.executor)
                merged = apply_manual(result, manual.get(sub.student, {}))
                # Figures are on the student's page; the summary and the CSV do without,
                # and keeping them would grow the coordinator with the course.
                current[sub.student] = replace(merged, run=replace(merged.run, figures=()))
                graded.append(sub.student)
                try:
                    write(merged)
                    atomic_write(out / "grades.csv", grades_csv(current.values(), rubric))
                except Exception as exc:  # the row is committed; a page can be redone
                    _cannot_write(sub.student, exc)
                progress.graded(merged)
        finally:
            progress.close()
            results = tuple(sorted(current.values(), key=lambda r: r.student))
            atomic_write(out / "grades.csv", grades_csv(results, rubric))
            write_summary_safely(out, rubric, results)
    return BatchReport(graded=tuple(graded), kept=tuple(kept), results=results)


def _cannot_write(student: str, exc: Exception) -> None:
    print(printable(f"grader: could not write the page of {student}: "
                    f"{type(exc).__name__}: {exc}"), file=sys.stderr)


def _digest(sub: Any, digest: Callable[[Any], str]) -> str:
    try:
        return digest(sub)
    except OSError:
        return ""


def _legacy(out: Path, sub: Any, rubric: Rubric,
            digest: Callable[[Any], str]) -> SubmissionResult | None:
    # Older graders wrote <student>.json at the top of --out, beside the summary pages.
    for path in (student_file(out, sub.student, ".json"), out / f"{sub.student}.json"):
        try:
            data = json.loads(path.read_text("utf-8"))
            if data.get("submission_sha256") == _digest(sub, digest) and \
                    data.get("rubric_digest") == rubric.digest:
                return SubmissionResult.from_dict(data)
        except (OSError, ValueError, KeyError, TypeError):
            pass
    return None


def _execute(tasks: Sequence[Task], rubric: Rubric, settings: ExecutionSettings,
             isolation: Isolation, options: BatchOptions) -> Iterator[Finished]:
    if options.executor == "dask":
        return run_dask(tasks, rubric=rubric, settings=settings, scheduler=options.scheduler,
                        retries=options.retries, jobs=options.jobs)
    if options.executor != "local":
        raise GraderError(f"--executor {options.executor!r}: one of {', '.join(EXECUTORS)}")
    return run_local(tasks, rubric=rubric, settings=settings, isolation=isolation,
                     jobs=options.jobs or default_jobs(), warm=options.warm,
                     fork=options.fork)


def write_summary_safely(out: Path, rubric: Rubric, results: Iterable[SubmissionResult]
                         ) -> None:
    """Write the index and answers pages; a failure there is reported, never fatal."""
    from grader.summary import write_summary

    try:
        write_summary(out, rubric, list(results))
    except Exception as exc:
        print(printable(f"grader: could not write the summary pages: "
                        f"{type(exc).__name__}: {exc}"), file=sys.stderr)


# --------------------------------------------------------------------------- manual grades


def merge_manual(out: Path, csv_path: Path, rubric: Rubric,
                 write_page: Callable[[SubmissionResult], None] | None = None) -> int:
    """Merge a TA's grades CSV into the gradebook of ``out`` and redo what shows them."""
    from grader.gradebook import read_manual_csv
    from grader.report import atomic_write, grades_csv, write_student

    write = write_page or (lambda r: write_student(r, rubric, out))
    with Gradebook.existing(out) as book:
        book.claim(rubric)
        grades: list[ManualGrade] = read_manual_csv(csv_path, rubric, book.results())
        book.set_manual(grades)
        results = book.merged()
        touched = {g.student for g in grades}
        for r in results:
            if r.student in touched:
                write(r)
        atomic_write(out / "grades.csv", grades_csv(results, rubric))
        write_summary_safely(out, rubric, results)
    return len(grades)


if __name__ == "__main__":
    # ``python -m grader.batch``: grade the one request on stdin (a Dask task's process).
    sys.stdout.write(_serve_one(sys.stdin.buffer))
    sys.stdout.flush()
    # Kernels are closed; leave without waiting for anything else.
    os._exit(0)

