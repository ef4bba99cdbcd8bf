"""What grades submissions inside a worker: warm kernels and the worker that uses them.

Both the local executor's worker processes and a Dask worker's grading processes grade with a
:class:`Worker`: one submission at a time, in the calling (main) thread, with a kernel
from a :class:`WarmPool` (forked from a preloaded fork server, or started ahead of need).
A kernel serves one student and is closed; it is never reused.
"""

from __future__ import annotations

import concurrent.futures as cf
import contextlib
import ctypes
import os
import signal
import threading
import time
from collections import deque
from typing import TYPE_CHECKING, Any

import grader.timings as timings
from grader.executors.protocol import Finished, Task
from grader.kernel.sandbox import Isolation
from grader.settings import ExecutionSettings

if TYPE_CHECKING:
    from collections.abc import Callable
    from pathlib import Path

    from grader.results import SubmissionResult
    from grader.rubric import Rubric


class WarmPool:
    """Kernels started ahead of need in background threads; each serves one student.

    :meth:`take` hands over the oldest (waiting for it if it is still starting) and, when
    asked, starts a replacement at once, so the next submission does not wait.
    """

    def __init__(self, settings: ExecutionSettings, isolation: Isolation, size: int = 1,
                 *, fork: bool = True, preload: tuple[str, ...] | None = None) -> None:
        self.settings = settings
        self.isolation = isolation
        self.size = max(0, size)
        # What a started kernel imports ahead of need: the settings' preload, or (for one
        # submission) the part of it that the submission names.
        self.preload = settings.preload if preload is None else preload
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

    @classmethod
    def ahead(cls, settings: ExecutionSettings, isolation: Isolation,
              submission: Path | None = None) -> WarmPool:
        """One kernel, starting now, for a lone submission (``grader grade`` of one
        file, the pytest plugin) while the rubric's reference and the rest load.

        A plain kernel with the preload run in it, as ``--fresh-kernels`` makes: a fork
        server costs as much for its first kernel and pays off from the second. Given
        the ``submission`` file, only the preload modules it names are imported ahead
        (:func:`named_preload`).
        """
        # What starting a kernel imports, imported here: in the kernel's thread it would
        # compete for the GIL with all the caller loads meanwhile, and the kernel's
        # process would start a tenth of a second later.
        import importlib

        for name in ("nbformat", "nbclient", "jupyter_client.manager",
                     "jupyter_client.asynchronous"):
            importlib.import_module(name)
        preload = None if submission is None else named_preload(settings.preload, submission)
        return cls(settings, isolation, 1, fork=False, preload=preload)

    def _start_one(self) -> None:
        with self._lock:
            if not self._closed:
                self._ready.append(self._threads.submit(_closing_loop, self._warm))

    def _warm(self) -> Any:
        from grader.kernel.execute import KernelSession

        began = time.monotonic()
        session = KernelSession(self.settings, isolation=self.isolation)
        session.start()
        if self.preload:
            # The rubric's heavy imports (numpy, sympy) happen before a student's code
            # runs: what it costs leaves the critical path. A failed import is no error
            # of the student's: their own import line will report it.
            # Into sys.modules only, as the fork server does: no name in the namespace.
            session.run_code(
                "def _grader_preload():\n"
                "    import importlib\n"
                f"    for name in {list(self.preload)!r}:\n"
                "        try:\n"
                "            importlib.import_module(name)\n"
                "        except Exception:\n"
                "            pass\n"
                "_grader_preload()\n"
                "del _grader_preload\n",
                timeout=self.settings.startup_timeout)
        timings.add("kernel ready", began)
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


# A submission larger than this is not read for the names it mentions: it keeps the
# whole preload (a notebook that big is mostly its outputs).
NAMED_PRELOAD_MAX_BYTES = 8_000_000


def named_preload(preload: tuple[str, ...], submission: Path) -> tuple[str, ...]:
    """The modules of ``preload`` whose top-level package the ``submission`` file names.

    One submission's kernel waits on its preload before its first cell runs: a module it
    never uses (``matplotlib.pyplot`` in a notebook without a plot: 0.6 s) only delays
    it. The file's text is searched, never parsed or run: a package named as a word
    anywhere (an import, a comment) keeps its modules. Missing one costs no more than
    the student's own import of it would, so an unreadable or very large file keeps
    the whole preload.
    """
    import re

    try:
        if submission.stat().st_size > NAMED_PRELOAD_MAX_BYTES:
            return preload
        text = submission.read_bytes().decode("utf-8", "replace")
    except OSError:
        return preload
    return tuple(name for name in preload
                 if re.search(rf"\b{re.escape(name.split('.')[0])}\b", text))


def _closing_loop(start: Callable[[], Any]) -> Any:
    """``start()`` a kernel in a warm pool's thread, then close that thread's event loop.

    The kernel's sockets go on in the thread that takes it; a loop kept here would still
    hold their file descriptors as registered, and a later kernel's socket given one of
    those numbers would never be woken in it: a later start in this thread then waited
    out one-second timeouts, at times until its start-up timeout (``--fresh-kernels``).
    """
    from jupyter_core.utils import ensure_event_loop

    try:
        return start()
    finally:
        loop = ensure_event_loop()
        if not loop.is_running():
            loop.close()


class Worker:
    """Grades tasks one at a time in the calling thread, with a warm kernel ready.

    ``pool`` is kernels already starting for these settings and this sandbox (one
    submission's kernel, started before the rubric's reference was loaded); the worker
    takes it over and closes it. Without one it starts its own.
    """

    def __init__(self, rubric: Rubric, settings: ExecutionSettings, isolation: Isolation,
                 warm: int = 1, *, fork: bool = True, pool: WarmPool | None = None) -> None:
        self.rubric = rubric
        self.settings = settings
        self.isolation = isolation
        self.pool = pool if pool is not None else WarmPool(settings, isolation, warm, fork=fork)

    def grade(self, task: Task) -> str:
        """Grade one submission; the result and its times as JSON text."""
        # Here, not at the top: a lone submission's kernel (WarmPool.ahead) is asked for
        # before the gradebook's modules (course, discover, roster) would have loaded.
        from grader.grade import failed_result, grade_run
        from grader.gradebook import now

        sub = task.submission()
        began = time.monotonic()
        session = self.pool.take(prefetch=task.prefetch)
        timings.add("kernel wait", began)
        started = now()
        transcript = ""
        try:
            result, ran = grade_run(sub, self.rubric, settings=self.settings,
                                    isolation=self.isolation, session=session,
                                    questions=task.questions)
            transcript = ran.to_json() if ran is not None else ""
        except Exception as exc:  # one broken submission never stops the batch
            result = failed_result(sub, self.rubric,
                                   f"grader error: {type(exc).__name__}: {exc}")
        finally:
            if session is not None:
                # grade() closes the kernel it was handed, except when it never ran it
                # (an unreadable notebook); closing twice is harmless.
                session.close()
        return Finished(student=sub.student, result=result, started=started, finished=now(),
                        transcript=transcript).to_json()

    def close(self) -> None:
        """Stop the warm kernels."""
        self.pool.close()


def rubric_and_kernel(path: str | Path, *, start: bool, submission: Path | None = None
                      ) -> tuple[Rubric, WarmPool | None]:
    """The rubric at ``path`` and, when ``start``, a kernel for one submission.

    The rubric is read once; the kernel starts as soon as it is, before its reference
    loads and is checked (:meth:`WarmPool.ahead`, preloading what the ``submission``
    file names, when it is a file). A rubric whose reference fails to load raises its
    :class:`~grader.errors.GraderError` with no kernel left running.
    """
    from grader.kernel import sandbox
    from grader.rubric import check_reference_names, load_rubric

    rubric = load_rubric(path, check_reference=False)
    if not start:
        check_reference_names(rubric)
        return rubric, None
    timings.since_start("start-up")
    kernels = WarmPool.ahead(rubric.execution, sandbox.resolve(rubric.execution.sandbox),
                             submission if submission is not None and submission.is_file()
                             else None)
    try:
        check_reference_names(rubric)
    except BaseException:
        kernels.close()
        raise
    return rubric, kernels


def grade_alone(path: Path, rubric: Rubric, kernels: WarmPool | None, *,
                student: str | None = None) -> SubmissionResult:
    """:func:`~grader.grade.grade_submission` of ``path`` in the kernel ``kernels`` started.

    For one submission graded in this process (``grader check``, the pytest plugin):
    the check kinds' modules are imported while the kernel finishes starting, and the
    pool is closed after, used or not. Without ``kernels``, grade() starts its own.
    """
    from grader.grade import grade_submission

    session = None
    try:
        if kernels is not None:
            warm_checks()
            began = time.monotonic()
            session = kernels.take(prefetch=False)
            timings.add("kernel wait", began)
        return grade_submission(path, rubric, student=student, session=session,
                                isolation=kernels.isolation if kernels is not None else None)
    finally:
        if session is not None:
            session.close()  # grade() closed it, unless it failed before it could
        if kernels is not None:
            kernels.close()


def warm_checks() -> None:
    """Import the check kinds' comparison modules now, while a lone submission's kernel starts.

    Each kind imports its own on first use, to keep other commands light; grading one
    submission would otherwise wait on those imports after its cells ran. The notebook
    schema's validator is compiled too (a twentieth of a second, on the first notebook
    read: after the kernel is ready), for the format Jupyter writes now (4.5).
    """
    import importlib

    import nbformat

    for name in ("grader.checks.common", "grader.checks.numbers", "grader.checks.algebra"):
        importlib.import_module(name)
    nbformat.v4.new_notebook()  # validates itself, compiling the validator


def die_with_parent(sig: int = signal.SIGKILL) -> None:
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


def settings_from(data: dict[str, Any]) -> ExecutionSettings:
    """Execution settings back from the plain data a worker was sent."""
    return ExecutionSettings(**{**data, "preload": tuple(data.get("preload", ()))})


def task_limit(timeout: float, startup_timeout: float) -> float:
    """The longest one submission's grading may take before its worker counts as hung.

    The run's deadline and the kernel's start bound a grading; the margin covers a rerun
    after a dead kernel, the calls of function checks and a loaded machine.
    """
    return (timeout + startup_timeout) * 3 + 120
