"""Start kernels by forking them from a preloaded, sandboxed Python (``grader.kernel.zygote``).

A fresh ``python -m ipykernel_launcher`` costs about a second of CPU before the student's
first line, and the student's ``import numpy, sympy`` most of another: on a machine with
two cores that, not the grading, is what a course costs. A :class:`ForkServer` is one
long-lived sandbox per worker holding a process that has imported ipykernel and the
rubric's ``preload`` modules once; each student's kernel is forked from it, fresh, and is
never reused. Between two students everything the last one left is ended and wiped: every
process in the sandbox but the server, its workspace, ``/tmp``, ``/dev/shm`` and System V
IPC objects. Only one kernel lives in a sandbox at a time, so no student's code ever runs
beside another's. See ``docs/security.md``.
"""

from __future__ import annotations

import contextlib
import json
import os
import select
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

from grader.errors import SubmissionError
from grader.kernel import sandbox
from grader.kernel.sandbox import Isolation, KernelCgroup
from grader.settings import ExecutionSettings


class ForkedKernel:
    """The parts of :class:`subprocess.Popen` jupyter_client uses, for a forked kernel.

    ``pid`` is the kernel's pid as the server sees it: inside a sandbox, a pid of the
    sandbox's own namespace, which means nothing outside it (``host_pid`` is None then).
    """

    stdin = stdout = stderr = None

    def __init__(self, server: ForkServer, pid: int, *, host_pid: int | None) -> None:
        self.server = server
        self.pid = pid
        self.host_pid = host_pid
        self.returncode: int | None = None

    def poll(self) -> int | None:
        """The exit status (``-signal`` when killed), or None while it runs."""
        if self.returncode is None:
            self.returncode = self.server.status(self.pid)
        return self.returncode

    def wait(self, timeout: float | None = None) -> int:
        """Wait for the kernel to end."""
        deadline = None if timeout is None else time.monotonic() + timeout
        while (code := self.poll()) is None:
            if deadline is not None and time.monotonic() > deadline:
                raise subprocess.TimeoutExpired("forked kernel", timeout or 0)
            time.sleep(0.05)
        return code

    def send_signal(self, signum: int) -> None:
        """Signal the kernel's process group (through the server)."""
        if self.returncode is None:
            self.server.signal(self.pid, signum)

    def kill(self) -> None:
        """SIGKILL the kernel's process group."""
        self.send_signal(signal.SIGKILL)

    def terminate(self) -> None:
        """SIGTERM the kernel's process group."""
        self.send_signal(signal.SIGTERM)


class ForkServer:
    """One sandbox with a kernel fork server in it, for one worker; a kernel at a time."""

    def __init__(self, settings: ExecutionSettings, isolation: Isolation) -> None:
        from grader.kernel.workspace import Workspace

        self.settings = settings
        self.isolation = isolation
        self.space = Workspace.create()
        self.preloaded: tuple[str, ...] = ()
        self._process: subprocess.Popen[bytes] | None = None
        self._cgroup: KernelCgroup | None = None
        self._host_pid: int | None = None  # the server's pid on this machine
        self._lock = threading.Lock()
        self._busy = False

    # ------------------------------------------------------------------ the server

    def start(self) -> ForkServer:
        """Start the sandbox and wait until the server has imported what it preloads."""
        from importlib.resources import files

        from grader.kernel.workspace import kernel_env

        if self.alive:
            return self
        self._stop_process()
        space = self.space
        for name, module in (("grader_zygote.py", "zygote.py"),
                             ("grader_confine.py", "confine.py")):
            script = space.agent.parent / name
            if not script.exists():
                text = files("grader.kernel").joinpath(module).read_text("utf-8")
                script.write_text(text, "utf-8")
        script = space.agent.parent / "grader_zygote.py"
        # The server's own group; each kernel is forked while the server stands in the
        # kernel's group, so that the kernel is born there (``spawn``).
        self._cgroup = KernelCgroup(max_processes=self.settings.max_processes + 8,
                                    memory_mb=self.settings.max_memory_mb)
        env = kernel_env(space.home)
        code = sandbox.kernel_seccomp()
        config = json.dumps({"preload": list(self.settings.preload),
                             "sandboxed": self.isolation.sandboxed,
                             "seccomp": code.hex() if code is not None else None,
                             "tmp_mb": self.settings.max_disk_mb,
                             "shm_mb": min(self.settings.max_disk_mb, sandbox.SHM_MB)})
        argv = sandbox.wrap([sys.executable, "-I", str(script)],
                            settings=self.settings, isolation=self.isolation,
                            work=space.work, home=space.home, ipc=space.ipc,
                            agent=space.agent.parent, env=env, cgroup=self._cgroup,
                            server=True)
        self._process = subprocess.Popen(
            argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
            env=env, cwd=space.work, start_new_session=True)
        try:
            assert self._process.stdin is not None
            self._process.stdin.write(config.encode() + b"\n")
            self._process.stdin.flush()
            ready = self._read(self.settings.startup_timeout)
        except SubmissionError:
            self._stop_process()
            raise
        if not ready.get("ready") or ready.get("threads") != 1:
            self._stop_process()
            raise SubmissionError(f"the kernel fork server did not start cleanly: {ready}")
        self.preloaded = tuple(ready.get("preloaded", ()))
        self._host_pid = self._find_host_pid()
        return self

    def _find_host_pid(self) -> int | None:
        """The server's pid here: the launcher's own, or the sandbox's init under bwrap."""
        assert self._process is not None
        if not self.isolation.sandboxed:
            return self._process.pid
        for pid in sandbox.process_tree(self._process.pid):
            try:
                status = Path(f"/proc/{pid}/status").read_text()
            except OSError:
                continue
            for line in status.splitlines():
                if line.startswith("NSpid:") and line.split()[-1] == "1" and \
                        len(line.split()) > 2:
                    return pid
        return None

    @property
    def host_pid(self) -> int | None:
        """The server's pid on this machine, when known."""
        return self._host_pid

    @property
    def alive(self) -> bool:
        """True while the server's process runs."""
        return self._process is not None and self._process.poll() is None

    def _read(self, timeout: float) -> dict[str, Any]:
        process = self._process
        if process is None or process.stdout is None:
            raise SubmissionError("the kernel fork server is not running")
        ready, _, _ = select.select([process.stdout], [], [], timeout)
        line = process.stdout.readline() if ready else b""
        if not line:
            raise SubmissionError("the kernel fork server stopped answering")
        reply: dict[str, Any] = json.loads(line)
        return reply

    def _request(self, message: dict[str, Any], timeout: float = 30.0) -> dict[str, Any]:
        with self._lock:
            process = self._process
            if process is None or process.stdin is None or process.poll() is not None:
                raise SubmissionError("the kernel fork server is not running")
            try:
                process.stdin.write(json.dumps(message).encode() + b"\n")
                process.stdin.flush()
                reply = self._read(timeout)
            except (OSError, ValueError, SubmissionError) as exc:
                # A server that cannot answer is ended; the next kernel gets a new one.
                self._stop_process()
                raise SubmissionError(f"the kernel fork server failed: {exc}") from exc
        if "error" in reply:
            raise SubmissionError(f"the kernel fork server refused: {reply['error']}")
        return reply

    def _stop_process(self) -> None:
        process, self._process = self._process, None
        if process is not None:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(process.pid, signal.SIGKILL)
            with contextlib.suppress(Exception):
                process.kill()
            with contextlib.suppress(Exception):
                process.wait(timeout=5)
            for stream in (process.stdin, process.stdout):
                with contextlib.suppress(Exception):
                    if stream is not None:
                        stream.close()
        if self._cgroup is not None:
            self._cgroup.remove()
            self._cgroup = None

    # ------------------------------------------------------------------ kernels

    def acquire(self) -> None:
        """Claim the sandbox for one kernel; starts (or restarts) the server if needed."""
        with self._lock:
            if self._busy:
                raise RuntimeError("the fork server already has a kernel: one at a time")
            self._busy = True
        try:
            self.start()
        except BaseException:
            self._busy = False
            raise

    def spawn(self, *, argv: list[str], env: dict[str, str], cwd: str,
              cgroup: KernelCgroup | None) -> ForkedKernel:
        """Fork a kernel with these arguments, environment and folder, born in ``cgroup``.

        The server steps into the kernel's group for the fork and back out after it: the
        child is born in the group, before it runs a line, and only the grader writes to
        the cgroup files (the sandbox shows none of them).
        """
        moved = cgroup is not None and cgroup.groups and self._host_pid is not None
        if moved:
            assert cgroup is not None and self._host_pid is not None
            cgroup.join(self._host_pid)
        try:
            reply = self._request({"op": "spawn", "argv": argv, "env": env, "cwd": cwd})
        finally:
            if moved and self._cgroup is not None and self._host_pid is not None:
                self._cgroup.join(self._host_pid)
        pid = int(reply["pid"])
        return ForkedKernel(self, pid, host_pid=None if self.isolation.sandboxed else pid)

    def status(self, pid: int) -> int | None:
        """A forked kernel's exit status, or None while it runs."""
        try:
            status = self._request({"op": "poll", "pid": pid}, timeout=10)["status"]
        except SubmissionError:
            return -signal.SIGKILL  # the sandbox is gone, and every process in it
        return None if status is None else int(status)

    def signal(self, pid: int, signum: int) -> None:
        """Send ``signum`` to a forked kernel's process group."""
        with contextlib.suppress(SubmissionError):
            self._request({"op": "kill", "pid": pid, "signal": int(signum)}, timeout=10)

    def kill_all(self) -> None:
        """End every process of the current kernel, wherever it went (watchdog, limits)."""
        try:
            reply = self._request({"op": "clean"}, timeout=30)
        except SubmissionError:
            return  # the server was ended with its sandbox
        if reply.get("left"):
            self._stop_process()  # processes that would not die go with the sandbox

    def release(self) -> None:
        """After a kernel: end what it left, wipe the workspace, free the sandbox."""
        try:
            self.kill_all()
            try:
                self.space.reset()
            except OSError:
                # A folder we cannot empty is not handed to the next student.
                self._stop_process()
                self.space.remove()
                from grader.kernel.workspace import Workspace

                self.space = Workspace.create()
        finally:
            with self._lock:
                self._busy = False

    def close(self) -> None:
        """Stop the sandbox and delete the workspace."""
        self._stop_process()
        self.space.remove()
