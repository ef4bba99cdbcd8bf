"""Isolation of the student's kernel: OS limits, a bubblewrap sandbox, a cgroup, a filter.

The kernel command is wrapped, outermost first, in:

1. a tiny launcher (this interpreter, ``-c``, running ``grader/kernel/confine.py``'s text) that
   sets resource limits (address space, CPU time, file size, process count, no core
   dumps), joins the kernel's cgroups (``KernelCgroup``) where the grader may make them,
   raises its OOM score, and then replaces itself with
2. ``bwrap`` (when isolation is ``bwrap``): namespaces of every kind of its own, uid 1000
   of its own user namespace with no capabilities and the seccomp filter of
   ``grader.kernel.seccomp``; the system and the Python installation read-only on a read-only
   root, the submission's working copy, a home and the kernel's socket folder
   read-write, the grader's agent read-only, and nothing else (not the reference, the
   rubric, other submissions, the output folder or the grader's source); no network, a
   cleared environment, and death with the grader. Without bwrap the launcher drops
   the capabilities and loads the filter itself.

The kernel fork server (``grader.kernel.zygote``) is wrapped the same way but keeps the
capabilities of its user namespace, to give each kernel it forks the same confinement.
See ``docs/security.md`` for the threat model.
"""

from __future__ import annotations

import contextlib
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
from grader.kernel import seccomp
from grader.settings import ExecutionSettings

# The launcher's own code, run as ``python -I -c`` after the text of grader.kernel.confine.
_LAUNCHER_MAIN = """
import ctypes, json, os, resource, signal, sys
cfg = json.loads(sys.argv[1])
# Killed when the thread that started it ends (its grader): kept across exec.
ctypes.CDLL(None).prctl(1, signal.SIGKILL, 0, 0, 0)
if os.getppid() != cfg['parent']:
    os._exit(1)
for name, value in cfg['limits'].items():
    try:
        resource.setrlimit(getattr(resource, name), (value, value))
    except (ValueError, OSError):
        pass
for procs in cfg['cgroups']:
    try:
        with open(procs, 'w') as fh:
            fh.write(str(os.getpid()))
    except OSError:
        pass
try:
    with open('/proc/self/oom_score_adj', 'w') as fh:
        fh.write('1000')  # under memory pressure, the kernel goes first, never the grader
except OSError:
    pass
argv = sys.argv[2:]
code = bytes.fromhex(cfg['seccomp']) if cfg['seccomp'] is not None else None
if '@SECCOMP_FD@' in argv:
    # bwrap sets up the sandbox (mount, unshare: what the filter refuses), then loads it.
    read, write = os.pipe()
    os.write(write, code)
    os.close(write)
    os.set_inheritable(read, True)
    argv = [str(read) if a == '@SECCOMP_FD@' else a for a in argv]
elif code is not None:
    drop_capabilities()
    install_seccomp(code)
os.execvp(argv[0], argv)
"""


@functools.cache
def _launcher() -> str:
    from importlib.resources import files

    return files("grader.kernel").joinpath("confine.py").read_text("utf-8") + _LAUNCHER_MAIN

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
    base = [exe, "--ro-bind", "/", "/", "--proc", "/proc", "--dev", "/dev", "--unshare-all",
            "--size", "1048576", "--tmpfs", "/tmp", "--die-with-parent", "--unshare-user"]
    # Both ways the grader uses it: a kernel (uid 1000, no capabilities) and the fork
    # server (the capabilities of its user namespace).
    for extra in (["--uid", str(KERNEL_UID), "--gid", str(KERNEL_UID), "--cap-drop", "ALL"],
                  ["--cap-add", "ALL", "--as-pid-1"]):
        try:
            done = subprocess.run([*base, *extra, "true"], capture_output=True, timeout=10,
                                  check=False)
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
SHM_MB = 64
KERNEL_UID = 1000  # the student's uid and gid inside the kernel's user namespace


def bwrap_args(*, work: Path, home: Path, ipc: Path, agent: Path, env: dict[str, str],
               disk_mb: int, server: bool = False) -> list[str]:
    """The bubblewrap command line that wraps a kernel, or the kernel fork server.

    A kernel runs as uid and gid 1000 of its own user namespace with no capabilities,
    no_new_privs and the seccomp filter (``@SECCOMP_FD@``, which the launcher replaces
    with a pipe holding it), on a read-only root. The fork server (``server``) is the
    init of the sandbox's PID namespace, which no process inside can kill, and keeps
    the capabilities of its user namespace: it gives each kernel it forks namespaces of
    its own and confines it the same way (``grader.kernel.zygote``).
    """
    exe = shutil.which("bwrap") or "bwrap"
    # Every writable in-memory filesystem has a size: an unsized tmpfs grows into the
    # host's memory. /dev itself (an unsized tmpfs made by --dev) is remounted read-only.
    args = [exe, "--unshare-all", "--die-with-parent", "--proc", "/proc", "--dev", "/dev",
            "--size", str(min(disk_mb, SHM_MB) * _MB), "--tmpfs", "/dev/shm",
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
    if server:
        args += ["--unshare-user", "--cap-add", "ALL", "--as-pid-1"]
    else:
        args += ["--unshare-user", "--uid", str(KERNEL_UID), "--gid", str(KERNEL_UID),
                 "--cap-drop", "ALL", "--hostname", "kernel"]
        if seccomp.program() is not None:
            args += ["--seccomp", "@SECCOMP_FD@"]
    # Last: the folders bwrap made on the way to each mount are in the root.
    args += ["--remount-ro", "/"]
    return [*args, "--"]


def rlimits(settings: ExecutionSettings) -> dict[str, int]:
    """Resource limits for the kernel process tree (names of the ``resource`` module)."""
    mb = 1024 * 1024
    return {
        "RLIMIT_AS": settings.memory_mb * mb,
        "RLIMIT_CPU": settings.cpu_seconds,
        "RLIMIT_FSIZE": settings.max_file_mb * mb,
        "RLIMIT_CORE": 0,
        # Does not bind root (CI runs as root): the kernel's pids cgroup does that there.
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


_V1_ROOT = Path("/sys/fs/cgroup")
_CPU_WEIGHT = 100  # cgroup v2's default weight; v1's shares are 1024 for the same share


def _own_cgroups() -> dict[str, str]:
    """This process's cgroup path per v1 controller, and under "" its v2 path."""
    out: dict[str, str] = {}
    try:
        lines = Path("/proc/self/cgroup").read_text().splitlines()
    except OSError:
        return out
    for line in lines:
        _, controllers, path = line.split(":", 2)
        for name in controllers.split(",") if controllers else [""]:
            out[name] = path
    return out


class KernelCgroup:
    """One cgroup per kernel in every hierarchy the grader may write: pids, memory, cpu.

    Where a controller is available (cgroup v1 with its own hierarchy, or v2 with it
    enabled for children of the grader's cgroup; in practice where the grader runs as
    root) the kernel's processes join a fresh group made under the grader's own, so a
    container's limits still bind them: ``pids.max`` caps the process count (RLIMIT_NPROC
    does not bind root), the memory limit charges anonymous memory, tmpfs, shared memory
    and memfd pages alike and makes the kernel the OOM killer's only choice, and the cpu
    weight gives the kernel one share, however many processes it starts. ``bounds`` says
    which applied; without any, the rlimits and tmpfs sizes are the bounds.
    """

    STALE_SECONDS = 600
    CONTROLLERS = ("pids", "memory", "cpu")

    def __init__(self, *, max_processes: int | None, memory_mb: int | None,
                 cpu: bool = True, name: str | None = None) -> None:
        self.groups: dict[str, Path] = {}  # controller -> its folder (v2: one for all)
        self.version: dict[str, int] = {}
        name = name or "grader-" + secrets.token_hex(6)
        wanted = {"pids": max_processes is not None, "memory": memory_mb is not None,
                  "cpu": cpu}
        own = _own_cgroups()
        v2_base: Path | None = None
        for controller in self.CONTROLLERS:
            if not wanted[controller]:
                continue
            base = self._v1_base(controller, own)
            version = 1
            if base is None:
                v2_base = v2_base or self._v2_base(own)
                base, version = v2_base, 2
            if base is None or not self._available(base, controller, version):
                continue
            path = base / name
            try:
                self._sweep(base)
                path.mkdir(exist_ok=True)
                self._limit(path, controller, version, max_processes, memory_mb)
            except OSError:
                with contextlib.suppress(OSError):
                    if not any(p == path for p in self.groups.values()):
                        path.rmdir()
                continue
            self.groups[controller] = path
            self.version[controller] = version
        self.bounds = tuple(self._describe(c, max_processes, memory_mb) for c in self.groups)

    # ------------------------------------------------------------------ finding a base

    @staticmethod
    def _v1_base(controller: str, own: dict[str, str]) -> Path | None:
        root = _V1_ROOT / controller
        if controller not in own or not (root / "cgroup.procs").exists():
            return None
        base = root / own[controller].lstrip("/")
        return base if base.is_dir() else None

    @staticmethod
    def _v2_base(own: dict[str, str]) -> Path | None:
        if "" not in own:
            return None
        for root in (_V1_ROOT, _V1_ROOT / "unified"):
            if (root / "cgroup.controllers").exists():
                base = root / own[""].lstrip("/")
                return base if base.is_dir() else None
        return None

    @staticmethod
    def _available(base: Path, controller: str, version: int) -> bool:
        if version == 1:
            return os.access(base, os.W_OK)
        try:
            if controller in (base / "cgroup.subtree_control").read_text().split():
                return True
            (base / "cgroup.subtree_control").write_text(f"+{controller}")
            return True
        except OSError:
            return False

    @staticmethod
    def _limit(path: Path, controller: str, version: int, max_processes: int | None,
               memory_mb: int | None) -> None:
        if controller == "pids":
            (path / "pids.max").write_text(str(max_processes))
        elif controller == "memory":
            limit = str((memory_mb or 0) * _MB)
            if version == 2:
                (path / "memory.max").write_text(limit)
                with contextlib.suppress(OSError):
                    (path / "memory.swap.max").write_text("0")
            else:
                (path / "memory.limit_in_bytes").write_text(limit)
                with contextlib.suppress(OSError):  # only with swap accounting
                    (path / "memory.memsw.limit_in_bytes").write_text(limit)
        elif version == 2:
            (path / "cpu.weight").write_text(str(_CPU_WEIGHT))
        else:
            (path / "cpu.shares").write_text("1024")

    def _describe(self, controller: str, max_processes: int | None,
                  memory_mb: int | None) -> str:
        v = f"cgroup v{self.version[controller]}"
        if controller == "pids":
            return f"processes: {max_processes} ({v})"
        if controller == "memory":
            return f"memory: {memory_mb} MB, tmpfs and shared memory included ({v})"
        return f"cpu: one equal share per kernel ({v})"

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

    # ------------------------------------------------------------------ using it

    @property
    def procs_files(self) -> list[str]:
        """The files a process writes its pid into to join every group."""
        return sorted({str(p / "cgroup.procs") for p in self.groups.values()})

    def join(self, pid: int) -> None:
        """Move ``pid`` into every group (its children from now on are born there)."""
        for procs in self.procs_files:
            with contextlib.suppress(OSError):
                Path(procs).write_text(str(pid))

    def pids(self) -> list[int]:
        """The processes in the group (host pids), when any hierarchy lists them."""
        for procs in self.procs_files:
            try:
                return [int(p) for p in Path(procs).read_text().split()]
            except OSError:
                continue
        return []

    def memory_exceeded(self) -> bool:
        """True when the memory limit made the OOM killer end one of the group's processes."""
        path = self.groups.get("memory")
        if path is None:
            return False
        events = "memory.events" if self.version["memory"] == 2 else "memory.oom_control"
        try:
            for line in (path / events).read_text().splitlines():
                key, _, value = line.partition(" ")
                if key == "oom_kill" and int(value) > 0:
                    return True
        except (OSError, ValueError):
            pass
        return False

    def kill_all(self) -> None:
        """Kill every process still in the group (they may have left our process group)."""
        if not self.groups:
            return
        for path in self.groups.values():
            kill_file = path / "cgroup.kill"
            try:
                if kill_file.exists():
                    kill_file.write_text("1")
                    return
            except OSError:
                pass
        for _ in range(20):  # new children may appear while we kill; repeat until empty
            pids = self.pids()
            if not pids:
                return
            for pid in pids:
                with contextlib.suppress(ProcessLookupError, PermissionError):
                    os.kill(pid, signal.SIGKILL)

    def remove(self) -> None:
        """Kill what is left and remove the groups."""
        import time

        if not self.groups:
            return
        self.kill_all()
        for path in set(self.groups.values()):
            for _ in range(50):
                try:
                    path.rmdir()
                    break
                except FileNotFoundError:
                    break
                except OSError:
                    time.sleep(0.02)
        self.groups = {}


def process_tree(pid: int) -> list[int]:
    """``pid`` and all its descendants alive now (from /proc's children lists)."""
    out, stack = [], [pid]
    while stack:
        current = stack.pop()
        out.append(current)
        try:
            tasks = os.listdir(f"/proc/{current}/task")
        except OSError:
            continue
        for task in tasks:
            try:
                stack += [int(c) for c in
                          Path(f"/proc/{current}/task/{task}/children").read_text().split()]
            except OSError:
                continue
    return out


def set_oom_score(pid: int | str, value: int) -> None:
    """Set ``oom_score_adj`` of ``pid`` ("self" too), as far as this process may."""
    with contextlib.suppress(OSError):
        Path(f"/proc/{pid}/oom_score_adj").write_text(str(value))


class DiskWatch:
    """Bounds what a kernel writes into its workspace, watched from outside the kernel.

    RLIMIT_FSIZE bounds each file, not their sum, and the workspace sits on the host's
    disk, where the grader may set no quota. A thread measures the tree (allocated blocks,
    and entries, so that a million empty files count too) a few times a second and calls
    ``on_exceed`` with the reason once it grows past the bounds, counted from what was
    there when the watch started (the submission's own files).
    """

    def __init__(self, root: Path, *, max_mb: int, max_entries: int,
                 on_exceed: Callable[[str], None], interval: float = 0.2,
                 pids: Callable[[], list[int]] | None = None) -> None:
        self.root = root
        self.pids = pids
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
        return size + self.unlinked(), entries

    def unlinked(self) -> int:
        """Bytes of files on the workspace's disk that are deleted but still held open.

        A deleted file keeps its blocks while a descriptor (or a mapping) holds it, and no
        walk of the tree sees it: the kernel's processes' descriptors do.
        """
        if self.pids is None:
            return 0
        try:
            device = os.stat(self.root).st_dev
        except OSError:
            return 0
        seen: set[tuple[int, int]] = set()
        total = 0
        for pid in self.pids():
            try:
                fds = os.listdir(f"/proc/{pid}/fd")
            except OSError:
                continue
            for fd in fds:
                path = f"/proc/{pid}/fd/{fd}"
                try:
                    if not os.readlink(path).endswith(" (deleted)"):
                        continue
                    st = os.stat(path)
                except OSError:
                    continue
                if st.st_dev == device and (st.st_dev, st.st_ino) not in seen:
                    seen.add((st.st_dev, st.st_ino))
                    total += st.st_blocks * 512
        return total

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
         cgroup: KernelCgroup | None, server: bool = False) -> list[str]:
    """The full command: launcher with limits, then bubblewrap if sandboxed, then the kernel.

    ``server`` wraps the kernel fork server, which confines each kernel it forks itself.
    """
    config = {"limits": rlimits(settings),
              "cgroups": cgroup.procs_files if cgroup is not None else [],
              "parent": os.getpid(), "seccomp": None}
    if not server:
        code = kernel_seccomp()
        config["seccomp"] = code.hex() if code is not None else None
    inner = argv
    if isolation.sandboxed:
        inner = [*bwrap_args(work=work, home=home, ipc=ipc, agent=agent, env=env,
                             disk_mb=settings.max_disk_mb, server=server), *argv]
    elif server:
        config["seccomp"] = None
    return [sys.executable, "-I", "-c", _launcher(), json.dumps(config), *inner]


@functools.cache
def memory_cgroup_available() -> bool:
    """True when kernels here get a memory cgroup (which also bounds memfd pages)."""
    probe = KernelCgroup(max_processes=None, memory_mb=64, cpu=False)
    try:
        return "memory" in probe.groups
    finally:
        probe.remove()


def kernel_seccomp() -> bytes | None:
    """The filter a kernel runs under here (``memfd_create`` refused without a memory cgroup)."""
    return seccomp.program(deny_memfd=not memory_cgroup_available())
