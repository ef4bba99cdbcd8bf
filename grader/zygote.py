"""A fork server for kernels, run inside the sandbox: import once, fork a kernel per student.

This file's *text* runs as a script in its own process (``python -I zygote.py CONFIG``),
inside the same sandbox and limits a kernel would have; the grader never imports it. It
imports ipykernel and the rubric's ``preload`` modules once, then forks each student's
kernel from itself on request, so a kernel starts in a fraction of a second and without
the CPU time of those imports. It runs no student code itself.

Requests and replies are JSON lines on its stdin and stdout (``grader.forkserver``):

``{"op": "spawn", "argv": [...], "env": {...}, "cwd": "...", "cgroup": path | null}``
    fork a kernel; reply ``{"pid": n}``.
``{"op": "poll", "pid": n}``
    reply ``{"status": null}`` while it runs, else its exit code (``-signal`` if killed).
``{"op": "kill", "pid": n, "signal": s}``
    signal the kernel's process group and the kernel (SIGKILL unless told).
``{"op": "clean"}``
    end everything the last kernel left: in a sandbox (its own PID namespace) every
    process but this one and the namespace's init, the files in ``/tmp`` and
    ``/dev/shm``, and System V IPC objects; reply ``{"left": n}``, the processes that
    would not die.

In a sandbox the server is the init of the sandbox's PID namespace, which no process in
the namespace can kill, and it makes itself non-dumpable, so a kernel (same user) can
neither trace it nor read or write its memory or file descriptors. Without a sandbox a
kernel can kill it; that only ends this server, and the grader starts a new one.
"""

from __future__ import annotations

import contextlib
import ctypes
import importlib
import json
import os
import signal
import sys
from typing import Any

_PR_SET_DUMPABLE = 4
_PR_SET_CHILD_SUBREAPER = 36
_PR_SET_PDEATHSIG = 1


def _channel() -> tuple[Any, Any]:
    """Keep stdin/stdout for the grader; a stray print from an import goes to stderr."""
    requests = os.fdopen(os.dup(0), "rb", buffering=0)
    replies = os.fdopen(os.dup(1), "wb", buffering=0)
    os.dup2(2, 1)
    devnull = os.open(os.devnull, os.O_RDONLY)
    os.dup2(devnull, 0)
    os.close(devnull)
    return requests, replies


def _preload(names: list[str]) -> list[str]:
    loaded = []
    # ipykernel.debugger (debugpy) is imported by every kernel's start: a third of it.
    kernel = ["ipykernel.kernelapp", "ipykernel.ipkernel", "ipykernel.zmqshell",
              "ipykernel.debugger"]
    for name in [*kernel, *names]:
        try:
            importlib.import_module(name)
        except Exception:  # the student's own import line will report a missing module
            continue
        loaded.append(name)
    return loaded


def _child(request: dict[str, Any], libc: Any) -> None:
    """Become the kernel (never returns)."""
    code = 1
    try:
        os.setsid()
        with contextlib.suppress(Exception):
            libc.prctl(_PR_SET_DUMPABLE, 1, 0, 0, 0)
            libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
        if request.get("cgroup"):
            with open(request["cgroup"], "w") as fh:
                fh.write(str(os.getpid()))
        devnull = os.open(os.devnull, os.O_RDWR)
        for fd in (0, 1, 2):
            os.dup2(devnull, fd)
        # Nothing of the server's channel may stay open in the student's process.
        os.closerange(3, 1 << 20)
        # As in a new Python process.
        signal.signal(signal.SIGINT, signal.default_int_handler)
        for sig in (signal.SIGTERM, signal.SIGCHLD):
            signal.signal(sig, signal.SIG_DFL)
        os.environ.clear()
        os.environ.update(request["env"])
        os.chdir(request["cwd"])
        # Generators seeded when the server imported them would repeat in every kernel.
        numpy_random = sys.modules.get("numpy.random")
        if numpy_random is not None:
            numpy_random.seed()
        from ipykernel.kernelapp import IPKernelApp

        IPKernelApp.launch_instance(argv=request["argv"])
        code = 0
    except SystemExit as exc:
        code = exc.code if isinstance(exc.code, int) else 1
    except BaseException:
        code = 1
    finally:
        os._exit(code)


def _own_namespace() -> bool:
    # In the sandbox this server is the init of its own PID namespace (bwrap --as-pid-1):
    # no process in the namespace can kill it, and every other process is a kernel's.
    return os.getpid() == 1


def _clean(sandboxed: bool, children: dict[int, int | None]) -> int:
    me = os.getpid()
    left = 0
    if sandboxed and _own_namespace():
        for _ in range(50):
            pids = [int(p) for p in os.listdir("/proc") if p.isdigit()]
            others = [p for p in pids if p not in (1, me)]
            if not others:
                break
            for pid in others:
                with contextlib.suppress(ProcessLookupError, PermissionError):
                    os.kill(pid, signal.SIGKILL)
            _reap(children, block_for=0.02)
        left = len([p for p in os.listdir("/proc") if p.isdigit() and int(p) not in (1, me)])
        for folder in ("/tmp", "/dev/shm"):
            _empty(folder)
        _remove_sysv_ipc()
    else:
        for pid, status in list(children.items()):
            if status is None:
                with contextlib.suppress(ProcessLookupError, PermissionError):
                    os.killpg(pid, signal.SIGKILL)
                with contextlib.suppress(ProcessLookupError, PermissionError):
                    os.kill(pid, signal.SIGKILL)
        _reap(children, block_for=0.2)
    return left


def _empty(folder: str) -> None:
    """Delete what a kernel left in ``folder``, never crossing into a mount.

    bwrap makes the folders on the way to each bound path (the workspace, a Python
    installation under /tmp) in the sandbox's /tmp: those mounts are not ours to empty.
    """
    try:
        device = os.lstat(folder).st_dev
    except OSError:
        return
    _remove_within(folder, device)


def _remove_within(path: str, device: int) -> None:
    try:
        entries = list(os.scandir(path))
    except OSError:
        return
    for entry in entries:
        try:
            info = entry.stat(follow_symlinks=False)
        except OSError:
            continue
        if info.st_dev != device:
            continue  # a mount point
        if entry.is_dir(follow_symlinks=False):
            with contextlib.suppress(OSError):
                os.chmod(entry.path, 0o700)
            _remove_within(entry.path, device)
            with contextlib.suppress(OSError):
                os.rmdir(entry.path)  # fails, rightly, when it holds a mount
        else:
            with contextlib.suppress(OSError):
                os.unlink(entry.path)


def _remove_sysv_ipc() -> None:
    libc = ctypes.CDLL(None, use_errno=True)
    ipc_rmid = 0
    for kind, call in (("shm", "shmctl"), ("sem", "semctl"), ("msg", "msgctl")):
        try:
            with open(f"/proc/sysvipc/{kind}") as fh:
                rows = fh.read().splitlines()[1:]
        except OSError:
            continue
        for row in rows:
            fields = row.split()
            if len(fields) > 1:
                ident = int(fields[1])
                if call == "semctl":
                    getattr(libc, call)(ident, 0, ipc_rmid)
                else:
                    getattr(libc, call)(ident, ipc_rmid, None)


def _reap(children: dict[int, int | None], block_for: float = 0.0) -> None:
    import time

    deadline = time.monotonic() + block_for
    while True:
        try:
            pid, status = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return
        if pid == 0:
            if time.monotonic() >= deadline:
                return
            time.sleep(0.005)
            continue
        if pid in children:
            children[pid] = -os.WTERMSIG(status) if os.WIFSIGNALED(status) \
                else os.WEXITSTATUS(status)


def main() -> None:
    """Serve requests until the grader closes the channel."""
    requests, replies = _channel()
    # As a namespace's init, the server gets only the signals it handles: none.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    config = json.loads(sys.argv[1])
    if sys.path and sys.path[0] == os.path.dirname(os.path.abspath(__file__)):
        del sys.path[0]  # the agent's folder: nothing there is for the kernel to import
    os.chdir("/")
    libc = ctypes.CDLL(None, use_errno=True)
    libc.prctl(_PR_SET_DUMPABLE, 0, 0, 0, 0)
    libc.prctl(_PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0)
    libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
    loaded = _preload(config.get("preload", []))
    sandboxed = bool(config.get("sandboxed"))
    children: dict[int, int | None] = {}
    # A fork copies only the forking thread: an import that left a thread running (a BLAS
    # pool, say) would leave its locks held in every kernel. The grader refuses then.
    threads = len(os.listdir("/proc/self/task"))
    replies.write(json.dumps({"ready": True, "preloaded": loaded, "threads": threads})
                  .encode() + b"\n")
    for line in requests:
        try:
            request = json.loads(line)
            op = request.get("op")
            _reap(children)
            reply: dict[str, Any]
            if op == "spawn":
                pid = os.fork()
                if pid == 0:
                    _child(request, libc)
                children[pid] = None
                reply = {"pid": pid}
            elif op == "poll":
                reply = {"status": children.get(int(request["pid"]), -signal.SIGKILL)}
            elif op == "kill":
                pid = int(request["pid"])
                signum = int(request.get("signal", signal.SIGKILL))
                if children.get(pid, 0) is None:
                    for kill in (os.killpg, os.kill):
                        with contextlib.suppress(ProcessLookupError, PermissionError):
                            kill(pid, signum)
                reply = {"ok": True}
            elif op == "clean":
                reply = {"left": _clean(sandboxed, children)}
                children = {p: s for p, s in children.items() if s is None}
            else:
                reply = {"error": f"unknown request {op!r}"}
        except Exception as exc:  # a bad request is answered, never fatal
            reply = {"error": f"{type(exc).__name__}: {exc}"}
        replies.write(json.dumps(reply).encode() + b"\n")


if __name__ == "__main__":
    main()
