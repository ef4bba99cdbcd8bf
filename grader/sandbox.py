"""Isolation of the student's kernel: OS limits, a bubblewrap sandbox, a pids cgroup.

The kernel command is wrapped, outermost first, in:

1. a tiny launcher (this interpreter, ``-c``) that sets resource limits (address space,
   CPU time, file size, process count, no core dumps), joins a pids cgroup when the
   grader may create one, and then replaces itself with
2. ``bwrap`` (when isolation is ``bwrap``): the system and the Python installation
   read-only, the submission's working copy, a home and the kernel's socket folder
   read-write, the grader's agent read-only, and nothing else (not the reference, the
   rubric, other submissions, the output folder or the grader's source); no network,
   its own PID namespace, a cleared environment, and death with the grader.

See ``docs/security.md`` for the threat model.
"""

from __future__ import annotations

import functools
import json
import os
import secrets
import shutil
import signal
import subprocess
import sys
import sysconfig
import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from grader.errors import GraderError
from grader.rubric import ExecutionSettings

_LAUNCHER = (
    "import ctypes, json, os, resource, signal, sys\n"
    "cfg = json.loads(sys.argv[1])\n"
    # Killed when the thread that started it ends (its grader): kept across exec.
    "ctypes.CDLL(None).prctl(1, signal.SIGKILL, 0, 0, 0)\n"
    "if os.getppid() != cfg['parent']:\n"
    "    os._exit(1)\n"
    "for name, value in cfg['limits'].items():\n"
    "    try:\n"
    "        resource.setrlimit(getattr(resource, name), (value, value))\n"
    "    except (ValueError, OSError):\n"
    "        pass\n"
    "if cfg.get('cgroup'):\n"
    "    try:\n"
    "        with open(cfg['cgroup'], 'w') as fh:\n"
    "            fh.write(str(os.getpid()))\n"
    "    except OSError:\n"
    "        pass\n"
    "os.execvp(sys.argv[2], sys.argv[2:])\n"
)

# Read-only system paths the kernel may need; missing ones are skipped.
_SYSTEM_DIRS = ("/usr", "/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32")
_SYSTEM_FILES = ("/etc/ld.so.cache", "/etc/ld.so.conf", "/etc/ld.so.conf.d", "/etc/alternatives",
                 "/etc/localtime", "/etc/passwd", "/etc/group", "/etc/nsswitch.conf",
                 "/etc/hosts", "/etc/mime.types", "/etc/fonts")


@dataclass(frozen=True, kw_only=True)
class Isolation:
    """How kernels are isolated in this run, and why."""

    mode: str  # "bwrap" or "none"
    reason: str = ""

    @property
    def sandboxed(self) -> bool:
        """True when the kernel runs inside bubblewrap."""
        return self.mode == "bwrap"


@functools.cache
def probe_bwrap() -> str | None:
    """None when bubblewrap can start a sandbox here, else why it cannot."""
    exe = shutil.which("bwrap")
    if exe is None:
        return "bubblewrap (bwrap) is not installed"
    try:
        done = subprocess.run(
            [exe, "--ro-bind", "/", "/", "--proc", "/proc", "--dev", "/dev", "--unshare-all",
             "--size", "1048576", "--tmpfs", "/tmp", "--die-with-parent", "true"],
            capture_output=True, timeout=10, check=False)
    except (OSError, subprocess.TimeoutExpired) as exc:
        return f"bwrap could not run: {exc}"
    if done.returncode != 0:
        err = done.stderr.decode("utf-8", "replace").strip().splitlines()
        return "bwrap is blocked here: " + (err[-1] if err else f"exit {done.returncode}")
    return None


def resolve(mode: str) -> Isolation:
    """Turn a ``--sandbox`` mode into the isolation this run will use."""
    if mode == "none":
        return Isolation(mode="none", reason="sandbox turned off (--sandbox none)")
    problem = probe_bwrap()
    if problem is None:
        return Isolation(mode="bwrap")
    if mode in ("bwrap", "required"):
        raise GraderError(f"--sandbox {mode}: {problem}; install bubblewrap or use "
                          "--sandbox auto")
    return Isolation(mode="none", reason=problem)


def python_roots() -> list[str]:
    """Folders holding the interpreter, its standard library and its site-packages."""
    paths = {sys.prefix, sys.base_prefix, sys.exec_prefix, sys.base_exec_prefix,
             str(Path(os.path.realpath(sys.executable)).parent.parent)}
    for key in ("stdlib", "platstdlib", "purelib", "platlib"):
        p = sysconfig.get_paths().get(key)
        if p:
            paths.add(p)
    real = sorted({os.path.realpath(p) for p in paths if os.path.isdir(p)} |
                  {p for p in paths if os.path.isdir(p)})
    # Keep only outermost folders: binding a parent already shows its children.
    out: list[str] = []
    for p in real:
        if not any(p == q or p.startswith(q.rstrip("/") + "/") for q in out):
            out.append(p)
    return [p for p in out if p != "/"]


_MB = 1024 * 1024
_SHM_MB = 64


def bwrap_args(*, work: Path, home: Path, ipc: Path, agent: Path, env: dict[str, str],
               disk_mb: int, as_pid_1: bool = False) -> list[str]:
    """The bubblewrap command line that wraps the kernel (or the kernel fork server).

    ``as_pid_1`` makes the wrapped process the init of the sandbox's PID namespace, which
    no process inside the namespace can kill: what the fork server needs to outlive the
    kernels it forks.
    """
    exe = shutil.which("bwrap") or "bwrap"
    # Every writable in-memory filesystem has a size: an unsized tmpfs grows into the
    # host's memory. /dev itself (an unsized tmpfs made by --dev) is remounted read-only.
    args = [exe, "--unshare-all", "--die-with-parent", "--proc", "/proc", "--dev", "/dev",
            "--size", str(min(disk_mb, _SHM_MB) * _MB), "--tmpfs", "/dev/shm",
            "--remount-ro", "/dev",
            "--size", str(disk_mb * _MB), "--tmpfs", "/tmp",
            "--size", str(_MB), "--tmpfs", "/run", "--clearenv"]
    for d in _SYSTEM_DIRS:
        if os.path.islink(d):
            args += ["--symlink", os.readlink(d), d]
        elif os.path.isdir(d):
            args += ["--ro-bind", d, d]
    for f in _SYSTEM_FILES:
        if os.path.exists(f):
            args += ["--ro-bind", f, f]
    for root in python_roots():
        if not root.startswith("/usr/"):
            args += ["--ro-bind", root, root]
    args += ["--bind", str(work), str(work), "--bind", str(home), str(home),
             "--bind", str(ipc), str(ipc), "--ro-bind", str(agent), str(agent),
             "--chdir", str(work)]
    for key, value in env.items():
        args += ["--setenv", key, value]
    if as_pid_1:
        args.append("--as-pid-1")
    return [*args, "--"]


def rlimits(settings: ExecutionSettings) -> dict[str, int]:
    """Resource limits for the kernel process tree (names of the ``resource`` module)."""
    mb = 1024 * 1024
    return {
        "RLIMIT_AS": settings.memory_mb * mb,
        "RLIMIT_CPU": settings.cpu_seconds,
        "RLIMIT_FSIZE": settings.max_file_mb * mb,
        "RLIMIT_CORE": 0,
        # Does not bind root (CI runs as root): the pids cgroup does that there.
        "RLIMIT_NPROC": settings.max_processes + _own_process_count(),
    }


def _own_process_count() -> int:
    """Processes the current user already runs (RLIMIT_NPROC counts them all)."""
    uid = os.getuid()
    count = 0
    for entry in os.scandir("/proc"):
        if entry.name.isdigit():
            try:
                if entry.stat().st_uid == uid:
                    count += 1
            except OSError:
                continue
    return count


class PidsCgroup:
    """A pids cgroup capping how many processes a submission may have, when we may make one."""

    STALE_SECONDS = 600

    def __init__(self, limit: int) -> None:
        self.path: Path | None = None
        name = "grader-" + secrets.token_hex(6)
        for base in (Path("/sys/fs/cgroup/pids"), Path("/sys/fs/cgroup")):
            try:
                if base.name != "pids" and "pids" not in (base / "cgroup.subtree_control") \
                        .read_text():
                    continue
                self._sweep(base)
                path = base / name
                path.mkdir()
                (path / "pids.max").write_text(str(limit))
                self.path = path
                return
            except OSError:
                continue

    @classmethod
    def _sweep(cls, base: Path) -> None:
        """Remove the empty groups of graders that were killed before they could.

        Only old ones: a group another grader has just made is empty until its kernel
        joins it. A group with processes cannot be removed at all.
        """
        import time

        for stale in base.glob("grader-*"):
            try:
                if time.time() - stale.stat().st_mtime > cls.STALE_SECONDS:
                    stale.rmdir()
            except OSError:
                continue

    @property
    def procs_file(self) -> str | None:
        """The file a process writes its pid into to join the cgroup."""
        return str(self.path / "cgroup.procs") if self.path else None

    def kill_all(self) -> None:
        """Kill every process still in the cgroup (they may have left our process group)."""
        if self.path is None:
            return
        kill_file = self.path / "cgroup.kill"
        try:
            if kill_file.exists():
                kill_file.write_text("1")
                return
        except OSError:
            pass
        for _ in range(20):  # new children may appear while we kill; repeat until empty
            try:
                pids = [int(p) for p in (self.path / "cgroup.procs").read_text().split()]
            except OSError:
                return
            if not pids:
                return
            for pid in pids:
                try:
                    os.kill(pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass

    def remove(self) -> None:
        """Kill what is left and remove the cgroup."""
        if self.path is None:
            return
        self.kill_all()
        for _ in range(50):
            try:
                self.path.rmdir()
                break
            except OSError:
                import time

                time.sleep(0.02)
        self.path = None


class DiskWatch:
    """Bounds what a kernel writes into its workspace, watched from outside the kernel.

    RLIMIT_FSIZE bounds each file, not their sum, and the workspace sits on the host's
    disk, where the grader may set no quota. A thread measures the tree (allocated blocks,
    and entries, so that a million empty files count too) a few times a second and calls
    ``on_exceed`` with the reason once it grows past the bounds, counted from what was
    there when the watch started (the submission's own files).
    """

    def __init__(self, root: Path, *, max_mb: int, max_entries: int,
                 on_exceed: Callable[[str], None], interval: float = 0.2) -> None:
        self.root = root
        self.max_mb = max_mb
        self.max_entries = max_entries
        self.on_exceed = on_exceed
        self.interval = interval
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._base = (0, 0)

    def usage(self, limit: tuple[int, int] | None = None) -> tuple[int, int]:
        """Bytes allocated and entries under the root; stops counting once past ``limit``."""
        size = entries = 0
        stack = [str(self.root)]
        while stack:
            try:
                with os.scandir(stack.pop()) as listing:
                    for entry in listing:
                        entries += 1
                        try:
                            st = entry.stat(follow_symlinks=False)
                        except OSError:
                            continue
                        size += st.st_blocks * 512
                        if entry.is_dir(follow_symlinks=False):
                            stack.append(entry.path)
                        if limit is not None and (size > limit[0] or entries > limit[1]):
                            return size, entries
            except OSError:  # removed while we looked, or not readable
                continue
        return size, entries

    def start(self) -> DiskWatch:
        """Take the baseline now and watch from here on."""
        self._base = self.usage()
        self._thread = threading.Thread(target=self._watch, name="grader-disk-watch",
                                        daemon=True)
        self._thread.start()
        return self

    def _watch(self) -> None:
        limit = (self._base[0] + self.max_mb * _MB, self._base[1] + self.max_entries)
        while not self._stop.wait(self.interval):
            size, entries = self.usage(limit)
            if size > limit[0]:
                self.on_exceed(f"it wrote more than {self.max_mb} MB to disk (the limit is "
                               "max_disk_mb)")
                return
            if entries > limit[1]:
                self.on_exceed(f"it created more than {self.max_entries} files and folders "
                               "(the limit is max_files)")
                return

    def stop(self) -> None:
        """Stop watching (idempotent)."""
        self._stop.set()
        if self._thread is not None and self._thread is not threading.current_thread():
            self._thread.join(timeout=5)
        self._thread = None


def wrap(argv: list[str], *, settings: ExecutionSettings, isolation: Isolation, work: Path,
         home: Path, ipc: Path, agent: Path, env: dict[str, str],
         cgroup: PidsCgroup | None, as_pid_1: bool = False) -> list[str]:
    """The full command: launcher with limits, then bubblewrap if sandboxed, then the kernel."""
    config = {"limits": rlimits(settings),
              "cgroup": cgroup.procs_file if cgroup is not None else None,
              "parent": os.getpid()}
    inner = argv
    if isolation.sandboxed:
        inner = [*bwrap_args(work=work, home=home, ipc=ipc, agent=agent, env=env,
                             disk_mb=settings.max_disk_mb, as_pid_1=as_pid_1), *argv]
    return [sys.executable, "-I", "-c", _LAUNCHER, json.dumps(config), *inner]
