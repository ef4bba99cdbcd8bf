"""The ``local`` executor (the default): worker processes on this machine.

``-j N`` worker processes (spawned: a clean interpreter each, whose main thread runs the
checks, so the symbolic check's time budget holds; sympy is CPU-bound, and threads would
share one core through the GIL). Each worker keeps a sandbox with a kernel fork server
(:mod:`grader.kernel.forkserver`) that has imported ipykernel and the rubric's
``[execution] preload`` modules once; each student's kernel is forked from it, fresh, in
about 0.2 s and without the CPU time of those imports. With ``--fresh-kernels`` each
kernel is instead a new process, started ahead of need in a background thread (see
:mod:`grader.executors.worker`). With ``-j 1`` the coordinator grades in its own main
thread, the same way.

A worker process that dies, or hangs (no submission finished for longer than any may
take), takes the submissions it held back to the queue once; a second time marks them as
a grader error and the batch goes on. No wait for a worker is unbounded: one that has not
left ``STOP_GRACE`` seconds after it was asked to (SIGTERM, or the end of a round) is
SIGKILLed. The grader's processes take the lowest OOM score they may
(:mod:`grader.kernel.oom`), the kernels the highest.
"""

from __future__ import annotations

import concurrent.futures as cf
import contextlib
import dataclasses
import gc
import json
import signal
import threading
import time
from collections.abc import Generator, Iterator, Sequence
from typing import TYPE_CHECKING, Any

from grader.errors import GraderError
from grader.executors.protocol import BatchOptions, Finished, Report, Task, deliver
from grader.executors.worker import (
    WarmPool,
    Worker,
    die_with_parent,
    settings_from,
    task_limit,
)
from grader.kernel.oom import protect_from_oom
from grader.kernel.sandbox import Isolation
from grader.settings import COLLECTOR_THRESHOLDS, ExecutionSettings

if TYPE_CHECKING:
    from grader.rubric import Rubric

STOP_GRACE = 5.0  # seconds a worker asked to leave has to close its kernels; then SIGKILL


class LocalExecutor:
    """Grades on this machine: ``options.workers`` processes, or this thread for one."""

    def run(self, tasks: Sequence[Task], *, rubric: Rubric, settings: ExecutionSettings,
            isolation: Isolation, options: BatchOptions, report: Report) -> None:
        """Grade ``tasks`` in worker processes; report each as it finishes."""
        deliver(run_local(tasks, rubric=rubric, settings=settings, isolation=isolation,
                          jobs=options.workers, warm=options.warm, fork=options.fork,
                          pool=options.kernels, ahead=options.ahead),
                report)


def run_local(tasks: Sequence[Task], *, rubric: Rubric, settings: ExecutionSettings,
              isolation: Isolation, jobs: int, warm: int = 1, fork: bool = True,
              pool: WarmPool | None = None, ahead: WorkersAhead | None = None
              ) -> Generator[Finished, None, None]:
    """Grade ``tasks`` on this machine; yield each as it finishes (in any order).

    ``pool``, kernels already starting, serves a batch graded in this thread (one task,
    or ``jobs`` 1) and is closed otherwise; ``ahead``, worker processes already starting,
    serves a batch of as many workers with the same rubric and settings, and is closed
    otherwise.
    """
    jobs = max(1, min(jobs, len(tasks)))
    if pool is not None and (jobs > 1 or not tasks):
        pool.close()
        pool = None
    started = ahead.take(_config(rubric, settings, isolation, warm, fork), jobs) \
        if ahead is not None else None
    if not tasks:
        return
    if jobs == 1:
        worker = Worker(rubric, settings, isolation, warm, fork=fork, pool=pool)
        try:
            for task in tasks:
                yield Finished.from_json(worker.grade(task))
        finally:
            worker.close()
        return
    yield from _process_pool(tasks, rubric=rubric, settings=settings, isolation=isolation,
                             jobs=jobs, warm=warm, fork=fork, started=started)


class WorkersAhead:
    """Worker processes started before the batch knows its submissions.

    ``grader grade`` starts them as soon as it has the execution settings, so that their
    start (an interpreter each, the rubric's reference, a fork server) overlaps what the
    command does meanwhile: the rubric's reference, the templates, finding the
    submissions, the gradebook. The batch takes them over when it wants as many workers
    for the same rubric, settings and sandbox; otherwise they are closed.
    """

    def __init__(self, rubric: Rubric, settings: ExecutionSettings, isolation: Isolation,
                 jobs: int, *, warm: int = 1, fork: bool = True) -> None:
        self.config = _config(rubric, settings, isolation, warm, fork)
        self.jobs = jobs
        self.pool: cf.ProcessPoolExecutor | None = _new_pool(self.config, jobs)
        # A process is spawned as a task needs one: one empty task each spawns them all.
        for _ in range(jobs):
            self.pool.submit(_started)

    def take(self, config: str, jobs: int) -> cf.ProcessPoolExecutor | None:
        """The processes, when they are what a batch of ``jobs`` workers with ``config``
        needs (then they are the caller's); else None, and they are closed."""
        pool, self.pool = self.pool, None
        if pool is not None and (config, jobs) == (self.config, self.jobs):
            return pool
        if pool is not None:
            _stop(pool)  # not waited for until their start is done: SIGTERM ends it
        return None

    def close(self) -> None:
        """Stop the processes unless a batch took them over."""
        self.take("", 0)


def _started() -> None:
    """The empty task that makes a pool spawn a worker process now."""


def _config(rubric: Rubric, settings: ExecutionSettings, isolation: Isolation, warm: int,
            fork: bool) -> str:
    """What a worker process is started with (see :func:`_init_worker`), as JSON text."""
    return json.dumps({"rubric": str(rubric.path), "digest": rubric.digest,
                       "settings": dataclasses.asdict(settings),
                       "isolation": dataclasses.asdict(isolation), "warm": warm,
                       "fork": fork})


def _new_pool(config: str, jobs: int) -> cf.ProcessPoolExecutor:
    import multiprocessing

    return cf.ProcessPoolExecutor(max_workers=jobs,
                                  mp_context=multiprocessing.get_context("spawn"),
                                  initializer=_init_worker, initargs=(config,))


# --------------------------------------------------------------------------- worker processes

_WORKER: Worker | None = None


def _exit_on_sigterm(signum: int, frame: Any) -> None:
    # SystemExit unwinds grade(): the kernel in use is closed on the way out.
    raise SystemExit(128 + signum)


def _init_worker(config: str) -> None:
    """Set up a worker process: load the rubric, start warm kernels."""
    global _WORKER
    # Ctrl-C is the coordinator's to handle; it stops workers with SIGTERM.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, _exit_on_sigterm)
    die_with_parent()
    protect_from_oom()
    gc.set_threshold(*COLLECTOR_THRESHOLDS)
    cfg = json.loads(config)
    settings, isolation = settings_from(cfg["settings"]), Isolation(**cfg["isolation"])
    # The fork server (a process of its own, importing ipykernel and the preload) starts
    # first, while this one imports the rubric's reference (sympy, numpy: about a second).
    pool = WarmPool(settings, isolation, cfg["warm"], fork=cfg["fork"])
    try:
        from grader.rubric import load_rubric

        rubric = load_rubric(cfg["rubric"])
        if rubric.digest != cfg["digest"]:
            raise GraderError("the rubric changed on disk while the batch started")
    except BaseException:
        pool.close()
        raise
    worker = Worker(rubric, settings, isolation, cfg["warm"], fork=cfg["fork"], pool=pool)
    _WORKER = worker
    import atexit
    from multiprocessing import util

    # A pool worker leaves through multiprocessing's exit path: register there too.
    util.Finalize(worker, worker.close, exitpriority=10)
    atexit.register(worker.close)


def _grade_in_worker(task: Task) -> str:
    assert _WORKER is not None, "worker not initialised"
    return _WORKER.grade(task)


def _process_pool(tasks: Sequence[Task], *, rubric: Rubric, settings: ExecutionSettings,
                  isolation: Isolation, jobs: int, warm: int, fork: bool,
                  started: cf.ProcessPoolExecutor | None = None) -> Iterator[Finished]:
    from concurrent.futures.process import BrokenProcessPool

    config = _config(rubric, settings, isolation, warm, fork)
    limit = task_limit(settings.timeout, settings.startup_timeout)
    pending = list(tasks)
    deaths: dict[str, int] = {}
    while pending:
        pool, started = started or _new_pool(config, min(jobs, len(pending))), None
        retry: list[Task] = []
        try:
            try:
                futures = {pool.submit(_grade_in_worker, t): t for t in pending}
            except BrokenProcessPool:
                # Started ahead, a worker already died (a rubric changed on disk since,
                # say): none of these submissions reached it; a fresh pool takes them.
                _stop(pool)
                pool = _new_pool(config, min(jobs, len(pending)))
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
                    task = futures.pop(future)  # its result (the JSON text) goes with it
                    try:
                        yield Finished.from_json(future.result())
                    except BrokenProcessPool:
                        # A worker process died (not a kernel: those are handled inside).
                        # The submissions it may have held go round once more.
                        yield from _lost(task, deaths, retry, rubric)
                    except Exception as exc:
                        yield Finished.failed(task, rubric,
                                              f"grader error: {type(exc).__name__}: {exc}")
        except BaseException:
            _stop(pool)
            raise
        _close(pool)
        pending = retry


def _lost(task: Task, deaths: dict[str, int], retry: list[Task], rubric: Rubric
          ) -> Iterator[Finished]:
    """A submission whose worker died or hung: back to the queue once, then a grader error."""
    deaths[task.student] = deaths.get(task.student, 0) + 1
    if deaths[task.student] < 2:
        retry.append(task)
    else:
        yield Finished.failed(task, rubric, "grader error: the worker process grading this "
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
