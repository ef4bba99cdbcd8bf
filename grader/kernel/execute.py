"""Run a submission's code in a fresh Jupyter kernel, in a temporary copy of its folder.

A :class:`KernelSession` starts a kernel (a new process, or forked from a fork server) in
a :class:`~grader.kernel.workspace.Workspace`, runs a notebook's cells in order past their
errors under a whole-run deadline and the resource bounds, and says why a kernel died.
The grader never imports student code: it only sends text to a kernel process and reads
back messages.
"""

from __future__ import annotations

import asyncio
import contextlib
import math
import os
import signal
import subprocess
import threading
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from grader.errors import SubmissionError
from grader.kernel import sandbox, wire
from grader.kernel.cells import (
    MAX_CELL_ERRORS,
    cell_error,
    cell_figures,
    omitted_errors,
    stopped_error,
)
from grader.kernel.client import capped_client_class, fork_with, kernel_manager
from grader.kernel.sandbox import DiskWatch, Isolation, KernelCgroup
from grader.kernel.workspace import Workspace, kernel_argv, kernel_env
from grader.results import CellError, Figure, RunLog
from grader.settings import ExecutionSettings
from grader.submission import Submission

if TYPE_CHECKING:
    from grader.kernel.forkserver import ForkServer


class KernelSession:
    """A fresh kernel for one submission: start (perhaps ahead of need), load, run, close.

    A watchdog thread owns the per-submission deadline, counted from :meth:`load`, and
    kills the kernel's whole process tree when it passes, whatever the kernel is doing;
    per-cell timeouts interrupt the cell first.
    """

    def __init__(self, settings: ExecutionSettings, *, isolation: Isolation | None = None,
                 forkserver: ForkServer | None = None) -> None:
        self.settings = settings
        self.isolation = isolation or Isolation(mode="none", reason="no sandbox requested")
        # With a fork server the kernel is forked in the server's sandbox and workspace;
        # without one it is a new process in a sandbox of its own.
        self.forkserver = forkserver
        self._claimed = False
        self.space: Workspace | None = None
        self._client: Any = None
        self._context: Any = None
        self._cgroup: KernelCgroup | None = None
        self._deadline = float("inf")
        self._timer: threading.Timer | None = None
        self._disk: DiskWatch | None = None
        self.deadline_hit = False
        self.mute = False  # the kernel was stopped because its messages could not be read
        self.limit_hit = ""  # why the grader stopped the kernel for a resource, if it did
        # What the grader reads from this kernel; a message past it stops the kernel.
        self.guard = wire.Guard(wire.Limits.of(settings), on_refused=self._over_limit)
        self._lock = threading.Lock()
        self._running: tuple[Any, Any] | None = None  # the event loop and the cell's task
        self.started = False

    @property
    def workdir(self) -> Path:
        """The kernel's working folder (the submission's copy)."""
        assert self.space is not None
        return self.space.work

    def start(self) -> KernelSession:
        """Create the workspace and start the kernel; no submission is in it yet."""
        import nbformat

        if self.started:
            return self
        try:
            if self.forkserver is not None:
                self.forkserver.acquire()
                self._claimed = True
                self.space = space = self.forkserver.space
            else:
                self.space = space = Workspace.create()
            env = kernel_env(space.home)
            self._cgroup = KernelCgroup(max_processes=self.settings.max_processes,
                                        memory_mb=self.settings.max_memory_mb)
            if self.forkserver is not None:
                # Forked in the server's sandbox, under its limits: no launcher to build.
                km = kernel_manager(kernel_argv(), space.ipc)
                fork_with(km, self.forkserver, self._cgroup)
            else:
                argv = sandbox.wrap(kernel_argv(), settings=self.settings,
                                    isolation=self.isolation, work=space.work,
                                    home=space.home, ipc=space.ipc, agent=space.agent.parent,
                                    env=env, cgroup=self._cgroup)
                km = kernel_manager(argv, space.ipc)
            client_class = capped_client_class()
            self._client = client_class(
                # The client's own notebook, empty: new_notebook() would validate it
                # against the schema (50 ms) before the kernel can even be started.
                nbformat.from_dict({"nbformat": 4, "nbformat_minor": 5, "metadata": {},
                                    "cells": []}),
                km=km,
                timeout=int(max(1, self.settings.cell_timeout)),
                startup_timeout=int(self.settings.startup_timeout),
                allow_errors=True,
                interrupt_on_timeout=True,
                shutdown_kernel="immediate",
                record_timing=False,
                resources={"metadata": {"path": str(space.work)}},
            )
            self._client.output_budget = self.settings.max_output_bytes
            self._client.guard = self.guard
            self._client.stopped = lambda: self.deadline_hit or bool(self.limit_hit) or \
                self.mute
            # The kernel's own stderr (C-level output, its warnings) is not the student's
            # output: cell output reaches us through the protocol.
            self._context = self._client.setup_kernel(
                cleanup_kc=True, env=env, stderr=subprocess.DEVNULL, stdout=subprocess.DEVNULL)
            self._context.__enter__()
        except Exception as exc:
            self._teardown()
            raise SubmissionError(f"the kernel did not start: {exc}") from exc
        self.started = True
        return self

    def load(self, submission: Submission) -> None:
        """Copy the submission into the kernel's folder and start its deadline."""
        assert self.space is not None
        self.space.fill(submission)
        self._disk = DiskWatch(self.space.root, max_mb=self.settings.max_disk_mb,
                               max_entries=self.settings.max_files,
                               on_exceed=self._over_limit, pids=self._kernel_pids).start()
        self._deadline = time.monotonic() + self.settings.timeout
        self._timer = threading.Timer(self.settings.timeout, self._kill)
        self._timer.daemon = True
        self._timer.start()

    def __enter__(self) -> KernelSession:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def close(self) -> None:
        """Stop the kernel, kill anything it left running, delete the workspace."""
        if self._timer is not None:
            self._timer.cancel()
        if self._disk is not None:
            self._disk.stop()
        if self._context is not None:
            self._end_own_process()
            try:
                self._context.__exit__(None, None, None)
            except Exception:  # a kernel that is already dead cannot be shut down cleanly
                self._kill()
            self._context = None
        self._teardown()

    def _end_own_process(self) -> None:
        """Kill a kernel this session started, and wait (briefly) for it to end.

        The shutdown is ``immediate`` (a kill) anyway; jupyter_client, finding the kernel
        still alive just after its kill, would poll for its end every 0.1 s. A forked
        kernel is the fork server's to end.
        """
        if self.forkserver is not None:
            return
        km = self._client.km if self._client is not None else None
        process = getattr(getattr(km, "provisioner", None), "process", None)
        if process is None or process.poll() is not None:
            return
        self._stop_process_tree()
        with contextlib.suppress(subprocess.TimeoutExpired):
            process.wait(timeout=1.0)

    def _teardown(self) -> None:
        if self._cgroup is not None:
            self._cgroup.remove()
            self._cgroup = None
        if self._claimed and self.forkserver is not None:
            self._claimed = False
            self.forkserver.release()
        elif self.forkserver is None and self.space is not None:
            self.space.remove()

    @property
    def time_left(self) -> float:
        """Seconds until the whole-run deadline."""
        return self._deadline - time.monotonic()

    @property
    def output_capped(self) -> bool:
        """True once output beyond the byte limit was dropped."""
        return bool(self._client is not None and self._client.output_capped)

    @property
    def bounds(self) -> tuple[str, ...]:
        """The bounds this kernel ran under, beyond the rlimits: sandbox, filter, cgroups."""
        out = []
        if self.isolation.sandboxed:
            out.append("sandbox: own user, mount, PID, IPC, network and UTS namespaces; "
                       "uid 1000, no capabilities")
        code = sandbox.kernel_seccomp()
        out.append("seccomp filter, no_new_privs" if code is not None else
                   "no_new_privs (no seccomp table for this machine)")
        if self._cgroup is not None:
            out += self._cgroup.bounds
        if "memory" not in (self._cgroup.groups if self._cgroup is not None else {}):
            out.append(f"memory: address space {self.settings.memory_mb} MB per process, "
                       "sized tmpfs, memfd_create refused (no memory cgroup)")
        return tuple(out)

    def _kernel_pids(self) -> list[int]:
        """The host pids of the kernel's processes, where the grader can know them."""
        if self._cgroup is not None and self._cgroup.groups:
            return self._cgroup.pids()
        if self.forkserver is not None and self.isolation.sandboxed:
            server = self.forkserver.host_pid
            return sandbox.process_tree(server)[1:] if server is not None else []
        pid = self._pid()
        return sandbox.process_tree(pid) if pid else []

    def _pid(self) -> int | None:
        """The kernel's process id on this machine (None for one forked in a sandbox)."""
        km = self._client.km if self._client is not None else None
        process = getattr(getattr(km, "provisioner", None), "process", None)
        return getattr(process, "host_pid", getattr(process, "pid", None))

    def _process_alive(self) -> bool:
        """Whether the kernel's process still runs (asked of the process, not the client:
        the asynchronous client's ``is_alive`` is a coroutine, true whatever it says)."""
        km = self._client.km if self._client is not None else None
        process = getattr(getattr(km, "provisioner", None), "process", None)
        return process is not None and process.poll() is None

    def exit_signal(self) -> int | None:
        """The signal that ended the kernel process, when it was killed by one."""
        km = self._client.km if self._client is not None else None
        process = getattr(getattr(km, "provisioner", None), "process", None)
        code = process.poll() if process is not None else None
        if code is None:
            return None
        if code < 0:
            return -code
        # Under bwrap the process we started is bwrap, which exits with 128 + signal.
        started_bwrap = self.isolation.sandboxed and self.forkserver is None
        return code - 128 if started_bwrap and 128 < code < 160 else None

    def _kill(self) -> None:
        with self._lock:
            self.deadline_hit = True
        self._stop_process_tree()
        self._cancel_running()

    def _over_limit(self, why: str) -> None:
        with self._lock:
            self.limit_hit = why
        self._stop_process_tree()
        self._cancel_running()

    def _stop_process_tree(self) -> None:
        if self.forkserver is not None and self.isolation.sandboxed:
            # Pids in the server's sandbox mean nothing here: the server ends them all.
            if self._claimed:
                self.forkserver.kill_all()
            if self._cgroup is not None:
                self._cgroup.kill_all()
            return
        pid = self._pid()
        if pid:
            try:
                os.killpg(os.getpgid(pid), signal.SIGKILL)
            except (ProcessLookupError, PermissionError):
                try:
                    os.kill(pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
        if self._cgroup is not None:
            self._cgroup.kill_all()

    def _execute(self, cell: Any) -> str:
        """Run one cell; return ok, error, timeout or dead."""
        from nbclient.exceptions import CellTimeoutError, DeadKernelError

        nb = self._client.nb
        nb.cells.append(cell)
        started = time.monotonic()
        replies: list[dict[str, Any]] = []

        def on_executed(cell: Any, cell_index: int, execute_reply: dict[str, Any]) -> None:
            replies.append(execute_reply.get("content", {}))

        self._client.on_cell_executed = on_executed
        # nbclient waits a whole cell timeout before it looks again, and a second one
        # after its interrupt: never past the run's deadline (the watchdog kills then).
        cell_limit = self._client.timeout
        if cell_limit and self.time_left < cell_limit:
            self._client.timeout = int(max(1, math.ceil(self.time_left) + 1))
        try:
            self._run_cell(cell, len(nb.cells) - 1)
        except (CellTimeoutError, asyncio.CancelledError):
            return "timeout" if self.deadline_hit or not self.limit_hit else "dead"
        except DeadKernelError:
            return "timeout" if self.deadline_hit else "dead"
        except Exception:  # nbclient surfaces a dead or killed kernel in several ways
            if self.deadline_hit:
                return "timeout"
            if self._process_alive():
                # Alive but unreadable (its session serialiser was replaced, a reply came
                # without the protocol's fields): it can no longer run or answer anything,
                # so it is stopped and the cell is treated as one that killed the kernel.
                self.mute = True
                self._stop_process_tree()
            return "dead"
        finally:
            self._client.timeout = cell_limit
        if self.deadline_hit:
            return "timeout"
        errors = [o for o in cell.get("outputs", []) if o.get("output_type") == "error"]
        reply = replies[-1] if replies else {}
        if not errors and reply.get("status") == "error":
            # IPython may fail to print the error (no memory left to format a MemoryError,
            # an interrupt while formatting a long traceback): the reply still says it.
            error = {"output_type": "error", "ename": str(reply.get("ename", "Error")),
                     "evalue": str(reply.get("evalue", "")), "traceback": []}
            cell.setdefault("outputs", []).append(error)
            errors = [error]
        if not errors:
            return "ok"
        # nbclient interrupts a cell at its timeout: the KeyboardInterrupt is ours.
        limit = self._client.timeout or 0
        if errors[-1].get("ename") == "KeyboardInterrupt" and \
                time.monotonic() - started >= 0.95 * limit:
            return "timeout"
        return "error"

    def _run_cell(self, cell: Any, index: int) -> None:
        """nbclient's execute_cell, as a task the watchdog can cancel when it kills.

        Without it nbclient notices a killed kernel only when its own wait times out, and
        after its interrupt it waits a whole cell timeout again.
        """
        try:
            asyncio.get_running_loop()
        except RuntimeError:
            pass
        else:  # inside someone's event loop: nbclient runs the cell in a thread of its own
            self._client.execute_cell(cell, index, store_history=False)
            return
        from jupyter_core.utils import ensure_event_loop

        loop = ensure_event_loop()
        task = loop.create_task(
            self._client.async_execute_cell(cell, index, store_history=False))
        with self._lock:
            self._running = (loop, task)
            stopped = self.deadline_hit or bool(self.limit_hit)
        if stopped:
            task.cancel()
        try:
            loop.run_until_complete(task)
        finally:
            with self._lock:
                self._running = None

    def _cancel_running(self) -> None:
        with self._lock:
            running = self._running
        if running is not None:
            loop, task = running
            loop.call_soon_threadsafe(task.cancel)

    def run_notebook(self, nb: Any, *, preamble: str = "", skip: tuple[int, ...] = (),
                     answer_names: tuple[str, ...] = ()) -> RunLog:
        """Run every code cell of ``nb`` in order, past errors; log how it went.

        Cells whose index is in ``skip`` are left out (they killed an earlier kernel).
        """
        started = time.monotonic()
        if preamble:
            self._execute(code_cell(preamble))
        code_cells = [(i, c) for i, c in enumerate(nb.cells) if c.get("cell_type") == "code"]
        errors: list[CellError] = []
        omitted: list[tuple[int, str]] = []  # (cell, ename) of errors past the cap
        figures: list[Figure] = []
        run = 0
        outcome, message = "ok", ""
        for index, cell in code_cells:
            if index in skip:
                continue
            copy = code_cell(cell.get("source", ""))
            status = self._execute(copy)
            run += 1
            figures += cell_figures(index, copy, answer_names, len(figures))
            if status in ("error", "timeout"):
                error = cell_error(index, copy, status, self.settings.cell_timeout)
                if len(errors) < MAX_CELL_ERRORS:
                    errors.append(error)
                else:
                    omitted.append((index, error.ename))
            if status == "dead":
                outcome, why = self._cause_of_death()
                errors.append(stopped_error(index, copy, "KernelDied", why,
                                            f"The kernel process ended while this cell ran: "
                                            f"{why}."))
                message = f"the kernel died while cell {index} ran: {why}"
                break
            if self.deadline_hit:
                outcome = "timeout"
                message = (f"the submission ran past its time limit of "
                           f"{self.settings.timeout:g} s (stopped in cell {index})")
                if not errors or errors[-1].index != index:
                    errors.append(stopped_error(
                        index, copy, "Timeout", "the submission's time limit ran out in this cell"))
                break
        if self.output_capped and not message:
            message = (f"output beyond {self.settings.max_output_bytes} bytes was dropped")
        if omitted:
            # Past the cap only errors that stopped the run are appended: they stay last.
            errors = [*errors[:MAX_CELL_ERRORS], omitted_errors(omitted),
                      *errors[MAX_CELL_ERRORS:]]
        return RunLog(cells_total=len(code_cells), cells_run=run, errors=tuple(errors),
                      outcome=outcome, message=message,
                      seconds=round(time.monotonic() - started, 3), figures=tuple(figures),
                      skipped_cells=tuple(sorted(skip)), bounds=self.bounds)

    def _cause_of_death(self) -> tuple[str, str]:
        if self.limit_hit:
            return "resource_limit", self.limit_hit
        if self._cgroup is not None and self._cgroup.memory_exceeded():
            return "resource_limit", (f"it used more than {self.settings.max_memory_mb} MB "
                                      "of memory (the limit is max_memory_mb)")
        if self.mute:
            return "kernel_died", _MUTE
        return _death(self.exit_signal())

    def run_code(self, source: str, *, timeout: float | None = None,
                 parts: Any = None, first: float = 0.0) -> tuple[str, list[Any]]:
        """Run the grader's own code; return its status and outputs.

        Its outputs may take one message's worth of bytes. A request made of parts gives
        ``parts``: called on each output kept, it says when one is a new part how long the
        next may take; each part then gets its own message's worth, granted as the one
        before it arrives, and is interrupted past its limit (``first`` for the first part).
        """
        if self.deadline_hit:
            return "timeout", []
        cell = code_cell(source)
        previous = self._client.timeout
        if timeout is not None:
            self._client.timeout = int(max(1, min(timeout, self.time_left)))
        self._client.capping = False
        self._client.grader_budget = self.guard.limits.message_bytes
        self._client.grader_part, self._client.grader_limit = parts, first
        try:
            status = self._execute(cell)
        finally:
            self._client.timeout = previous
            self._client.capping = True
            self._client.grader_part = None
        outputs = list(cell.get("outputs", []))
        # nbclient keeps every cell it ran: the results are the caller's now, and kept
        # there too they would hold each harvest for the rest of the run. Placeholders,
        # so that a display update aimed at them finds its index.
        cell["outputs"] = [{"output_type": o.get("output_type"), "data": {}, "metadata": {}}
                           for o in outputs]
        return status, outputs


_MUTE = ("the kernel's messages could no longer be read (the code replaced what the kernel "
         "uses to talk to the grader)")

_SIGNALS = {
    signal.SIGKILL: ("resource_limit", "it was killed (SIGKILL), most often for using too much "
                                       "memory"),
    signal.SIGSEGV: ("kernel_died", "it crashed with a segmentation fault (SIGSEGV)"),
    signal.SIGXCPU: ("resource_limit", "it used up its CPU time limit (SIGXCPU)"),
    signal.SIGXFSZ: ("resource_limit", "it wrote a file over the size limit (SIGXFSZ)"),
    signal.SIGABRT: ("kernel_died", "it aborted (SIGABRT)"),
    signal.SIGBUS: ("kernel_died", "it crashed with a bus error (SIGBUS)"),
}


def _death(signum: int | None) -> tuple[str, str]:
    if signum in _SIGNALS:
        return _SIGNALS[signum]  # type: ignore[index]
    if signum:
        return "kernel_died", f"it was ended by signal {signum}"
    return "kernel_died", "the process exited (os._exit, a crash, or a limit)"


def code_cell(source: str) -> Any:
    """A new code cell of ``source``, as ``nbformat.v4.new_code_cell`` makes one, unvalidated.

    nbformat checks each new cell against its schema, a third of a millisecond a cell:
    about a hundredth of a second of every submission's grading, for cells that are the
    grader's own or copies of cells nbformat has already read and validated.
    """
    import uuid

    from nbformat import NotebookNode

    return NotebookNode(id=uuid.uuid4().hex[:8], cell_type="code", metadata=NotebookNode(),
                        execution_count=None, source=source, outputs=[])
