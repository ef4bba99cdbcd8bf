"""A fork server for kernels, run inside the sandbox: import once, fork a kernel per student.

This file's *text* runs as a script in its own process (``python -I zygote.py``, its
configuration the first line of its stdin), inside the sandbox a kernel would have; the
grader never imports it. It imports ipykernel and the rubric's ``preload`` modules once,
then forks each student's kernel from itself on request, so a kernel starts in a
fraction of a second and without the CPU time of those imports. It runs no student code.

Requests and replies are JSON lines on its stdin and stdout (``grader.kernel.forkserver``):

``{"op": "spawn", "argv": [...], "env": {...}, "cwd": "..."}``
    fork a kernel; reply ``{"pid": n}``.
``{"op": "poll", "pid": n}``
    reply ``{"status": null}`` while it runs, else its exit code (``-signal`` if killed).
``{"op": "kill", "pid": n, "signal": s}``
    signal the kernel's process group and the kernel (SIGKILL unless told).
``{"op": "clean"}``
    end everything the last kernel left: in a sandbox (its own PID namespace) every
    process but this one, the files in ``/tmp`` and ``/dev/shm``, and System V IPC
    objects; reply ``{"left": n}``, the processes that would not die.

In a sandbox the server is the init of the sandbox's PID namespace and keeps the
capabilities of the sandbox's user namespace; each kernel it forks gets namespaces of
every kind of its own (``_namespaces``): its own /proc, /tmp and /dev/shm, a read-only
root, uid 1000 of its own user namespace, no capabilities and the seccomp filter. The
kernel sees neither the server nor any other student's processes. Without a sandbox a
kernel runs as the grader's user (confined the same way, less the namespaces) and can
kill the server; that only ends this server, and the grader starts a new one.
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


def _confine() -> Any:
    """grader/kernel/confine.py, from the copy put beside this script (or the package)."""
    import importlib.util

    path = os.path.join(os.path.dirname(os.path.abspath(__file__)), "grader_confine.py")
    spec = importlib.util.spec_from_file_location("grader_confine", path)
    if spec is None or spec.loader is None or not os.path.exists(path):
        return importlib.import_module("grader.kernel.confine")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module

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
    # No debugger in the kernels, as in a kernel the grader starts itself
    # (grader.kernel.workspace.KERNEL_LAUNCH): grading never asks for one.
    sys.modules["debugpy"] = None  # type: ignore[assignment]
    kernel = ["ipykernel.kernelapp", "ipykernel.ipkernel", "ipykernel.zmqshell",
              "ipykernel.debugger"]
    for name in [*kernel, *names]:
        try:
            importlib.import_module(name)
        except Exception:  # the student's own import line will report a missing module
            continue
        loaded.append(name)
    return loaded


_CLONE_NEWNS, _CLONE_NEWCGROUP, _CLONE_NEWUTS = 0x00020000, 0x02000000, 0x04000000
_CLONE_NEWIPC, _CLONE_NEWUSER, _CLONE_NEWPID = 0x08000000, 0x10000000, 0x20000000
_CLONE_NEWNET = 0x40000000
_MS_RDONLY, _MS_NOSUID, _MS_NODEV, _MS_NOEXEC = 1, 2, 4, 8
_MS_REMOUNT, _MS_BIND, _MS_REC, _MS_PRIVATE = 32, 4096, 16384, 1 << 18
_KERNEL_UID = 1000  # the student's uid (and gid) in the kernel's own user namespace
# Kernel knobs under /proc that a uid mapped to the host's root could write (DAC alone
# would let it): read-only, as bubblewrap's own --proc makes them.
_PROC_READ_ONLY = ("sys", "sysrq-trigger", "irq", "bus")


def _check(result: int, what: str) -> None:
    if result != 0:
        err = ctypes.get_errno()
        raise OSError(err, f"{what}: {os.strerror(err)}")


def _kept_flags(path: str) -> int:
    """The mount flags of ``path`` a remount must repeat (a locked flag cannot be dropped)."""
    f = os.statvfs(path).f_flag
    return (f & (_MS_NOSUID | _MS_NODEV | _MS_NOEXEC)) | (f & (1024 | 2048)) | \
        ((1 << 21) if f & 4096 else 0)


def _mounts_under(folder: str) -> list[str]:
    """Mount points below ``folder``, parents first (as /proc/self/mountinfo lists them)."""
    out = []
    with open("/proc/self/mountinfo") as fh:
        for line in fh:
            point = line.split()[4]
            for code in ("\\040", "\\011", "\\012", "\\134"):
                point = point.replace(code, chr(int(code[1:], 8)))
            if point.startswith(folder.rstrip("/") + "/"):
                out.append(point)
    return out


def _is_read_only(path: str) -> bool:
    return bool(os.statvfs(path).f_flag & 1)  # ST_RDONLY


def _read_only(libc: Any, path: str, *, bind: bool) -> None:
    if bind:
        _check(libc.mount(path.encode(), path.encode(), None, _MS_BIND | _MS_REC, None),
               f"bind {path}")
    _check(libc.mount(None, path.encode(), None,
                      _MS_REMOUNT | _MS_BIND | _MS_RDONLY | _kept_flags(path), None),
           f"read-only {path}")


def _private_view(libc: Any, config: dict[str, Any]) -> None:
    """In the kernel's own mount namespace: its /proc, its /tmp and /dev/shm, all else read-only.

    Runs as the init of the kernel's PID namespace (a /proc must be mounted from inside
    it), with the server's capabilities, before the kernel drops them. What the kernel
    writes outside its workspace lands in tmpfs mounts only it has, which vanish with
    its namespace: nothing there can reach the next student.
    """
    _check(libc.mount(b"none", b"/", None, _MS_REC | _MS_PRIVATE, None), "private mounts")
    # hidepid: the kernel sees only processes it may trace, its own, not this init.
    _check(libc.mount(b"proc", b"/proc", b"proc", _MS_NOSUID | _MS_NODEV | _MS_NOEXEC,
                      b"hidepid=invisible"), "mount /proc")
    for name in _PROC_READ_ONLY:
        if os.path.exists(f"/proc/{name}"):
            _read_only(libc, f"/proc/{name}", bind=True)
    for folder, mb in (("/tmp", config["tmp_mb"]), ("/dev/shm", config["shm_mb"])):
        # What bwrap bound under the folder (the workspace, a Python installation under
        # /tmp) is bound again onto the fresh tmpfs, from the tree it covers.
        under = [(m, _is_read_only(m)) for m in _mounts_under(folder)]
        covered = os.open(folder, os.O_PATH)
        _check(libc.mount(b"tmpfs", folder.encode(), b"tmpfs", _MS_NOSUID | _MS_NODEV,
                          f"size={mb}m,mode=1777".encode()), f"mount {folder}")
        for mount_point, read_only in under:
            if not os.path.exists(mount_point):
                os.makedirs(mount_point)
            source = f"/proc/self/fd/{covered}/{os.path.relpath(mount_point, folder)}"
            _check(libc.mount(source.encode(), mount_point.encode(), None, _MS_BIND, None),
                   f"bind {mount_point}")
            if read_only:
                _read_only(libc, mount_point, bind=False)
        os.close(covered)
    for folder in ("/", "/run"):
        if os.path.ismount(folder):
            _read_only(libc, folder, bind=False)
    libc.sethostname(b"kernel", 6)


def _own_user(libc: Any) -> None:
    """Become uid and gid 1000 of a user namespace of the kernel's own."""
    uid, gid = os.geteuid(), os.getegid()
    _check(libc.unshare(_CLONE_NEWUSER), "unshare user namespace")
    # Its /proc files are root's while it is not dumpable, and an ordinary grader's
    # kernel could not write its own maps.
    libc.prctl(_PR_SET_DUMPABLE, 1, 0, 0, 0)
    with open("/proc/self/setgroups", "w") as fh:
        fh.write("deny")
    with open("/proc/self/uid_map", "w") as fh:
        fh.write(f"{_KERNEL_UID} {uid} 1")
    with open("/proc/self/gid_map", "w") as fh:
        fh.write(f"{_KERNEL_UID} {gid} 1")


def _exit_as(status: int) -> None:
    """End this process the way a wait status says its child ended."""
    if os.WIFSIGNALED(status):
        sig = os.WTERMSIG(status)
        with contextlib.suppress(Exception):
            signal.signal(sig, signal.SIG_DFL)
            os.kill(os.getpid(), sig)
        os._exit(128 + sig)
    os._exit(os.WEXITSTATUS(status) if os.WIFEXITED(status) else 1)


def _namespaces(libc: Any, config: dict[str, Any]) -> None:
    """Give the kernel fresh namespaces of every kind; returns in the kernel's process.

    Three processes: this one (in the server's PID namespace, which the server watches)
    waits for the init of the kernel's new PID namespace, which sets up the kernel's
    mounts, forks the kernel and reaps orphans; when the kernel ends, the init ends with
    the same status and every process left in the namespace is killed with it. Only
    the kernel runs student code; the two above it are not dumpable, run as another uid
    and are not in its user namespace, so it can neither signal, trace nor read them.
    """
    _check(libc.unshare(_CLONE_NEWNS | _CLONE_NEWPID | _CLONE_NEWIPC | _CLONE_NEWUTS |
                        _CLONE_NEWNET | _CLONE_NEWCGROUP), "unshare")
    read, write = os.pipe()
    init = os.fork()
    if init:
        os.close(write)
        signal.signal(signal.SIGINT, signal.SIG_IGN)  # for the kernel, in our group
        os.waitpid(init, 0)
        data = os.read(read, 32)
        _exit_as(int(data) if data else 9)
    os.close(read)
    libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    _private_view(libc, config)
    kernel = os.fork()
    if kernel:
        while True:
            try:
                pid, status = os.waitpid(-1, 0)
            except ChildProcessError:
                os._exit(1)
            if pid == kernel:
                os.write(write, str(status).encode())
                os._exit(0)
    os.close(write)
    libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
    _own_user(libc)


def _child(request: dict[str, Any], libc: Any, config: dict[str, Any]) -> None:
    """Become the kernel (never returns)."""
    code = 1
    try:
        os.setsid()
        # Nothing of the server's channel may stay open in the student's processes.
        devnull = os.open(os.devnull, os.O_RDWR)
        for fd in (0, 1, 2):
            os.dup2(devnull, fd)
        os.closerange(3, 1 << 20)
        if config.get("sandboxed"):
            _namespaces(libc, config)
        confine = config["confine"]
        confine.drop_capabilities()
        seccomp_code = config.get("seccomp")
        confine.install_seccomp(bytes.fromhex(seccomp_code) if seccomp_code else b"")
        # Dumpable again (a uid change cleared it), so the grader may read its /proc.
        libc.prctl(_PR_SET_DUMPABLE, 1, 0, 0, 0)
        libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
        # Under memory pressure the kernel goes first (its /proc is its own once dumpable).
        with contextlib.suppress(OSError), open("/proc/self/oom_score_adj", "w") as fh:
            fh.write("1000")
        # As in a new Python process.
        signal.signal(signal.SIGINT, signal.default_int_handler)
        for sig in (signal.SIGTERM, signal.SIGCHLD):
            signal.signal(sig, signal.SIG_DFL)
        os.environ.clear()
        os.environ.update(request["env"])
        os.chdir(request["cwd"])
        # As ``python -m ipykernel_launcher`` run there: the submission's folder first,
        # so that its own modules import.
        sys.path.insert(0, request["cwd"])
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
            children[pid] = _code(status)


def _code(status: int) -> int:
    """A wait status as an exit code, ``-signal`` when killed."""
    return -os.WTERMSIG(status) if os.WIFSIGNALED(status) else os.WEXITSTATUS(status)


def _reaped(children: dict[int, int | None], pid: int, wait_for: float = 1.0) -> None:
    """Wait (briefly) for a killed kernel to end, and keep its status.

    jupyter_client, finding a kernel alive just after its kill, sleeps 0.1 s before it
    asks again: a worker's idle time on every submission.
    """
    import time

    deadline = time.monotonic() + wait_for
    while children.get(pid, 0) is None and time.monotonic() < deadline:
        try:
            done, status = os.waitpid(pid, os.WNOHANG)
        except ChildProcessError:
            return
        if done:
            children[pid] = _code(status)
            return
        time.sleep(0.002)


def main() -> None:
    """Serve requests until the grader closes the channel."""
    requests, replies = _channel()
    # As a namespace's init, the server gets only the signals it handles: none.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    # On the channel, not the command line: every kernel's init shows its command line.
    config = json.loads(requests.readline())
    config["confine"] = _confine()
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
                    _child(request, libc, config)
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
                    if signum == signal.SIGKILL:
                        _reaped(children, pid)
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
