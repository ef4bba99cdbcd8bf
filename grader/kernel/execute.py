"""Run a submission's code in a fresh Jupyter kernel, in a temporary copy of its folder.

Notebooks run as they are (read and validated with nbformat); modules are split into
cells at their top-level statements so that, as in a notebook, an exception in one
statement does not stop the rest. The grader never imports student code: it only sends
text to a kernel process and reads back messages.
"""

from __future__ import annotations

import ast
import asyncio
import functools
import io
import json
import math
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
import tokenize
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from grader.errors import SubmissionError
from grader.kernel import sandbox, wire
from grader.kernel.sandbox import DiskWatch, Isolation, KernelCgroup
from grader.results import CellError, Figure, RunLog
from grader.settings import ExecutionSettings
from grader.submission import Submission

if TYPE_CHECKING:
    from grader.kernel.forkserver import ForkServer

_ANSI = re.compile(r"\x1b\[[0-9;?]*[ -/]*[@-~]")
_CELL_MARK = re.compile(r"^# ?%%", re.MULTILINE)
_TRACEBACK_LINES = 40
SUFFIXES = (".ipynb", ".py")


def strip_ansi(text: str) -> str:
    """Remove terminal colour codes (IPython colours its tracebacks)."""
    return _ANSI.sub("", text)


@dataclass(frozen=True, kw_only=True)
class LoadedNotebook:
    """A submission as a notebook, or the reason it could not be read."""

    nb: Any | None
    error: str = ""


def load_notebook(submission: Submission) -> LoadedNotebook:
    """Read a submission as a v4 notebook; any way it can be unreadable becomes ``error``."""
    import nbformat

    try:
        raw = submission.path.read_bytes()
    except OSError as exc:
        return LoadedNotebook(nb=None, error=f"cannot read {submission.path.name}: {exc.strerror}")
    try:
        if submission.is_notebook:
            text = raw.decode("utf-8")
        else:
            # A module may declare its encoding (PEP 263), as Python itself honours.
            encoding, _ = tokenize.detect_encoding(io.BytesIO(raw).readline)
            text = raw.decode(encoding)
    except (UnicodeDecodeError, SyntaxError, LookupError):
        return LoadedNotebook(nb=None, error=f"{submission.path.name} is not UTF-8 text "
                                             "(nor in the encoding its coding line names)")
    if not submission.is_notebook:
        return LoadedNotebook(nb=notebook_from_module(text))
    try:
        raw_json = json.loads(text)
    except ValueError as exc:
        return LoadedNotebook(nb=None, error=f"unreadable notebook: not JSON ({exc})")
    version = raw_json.get("nbformat") if isinstance(raw_json, dict) else None
    # nbformat guesses version 2 for a file without the key; we refuse to guess.
    if version not in (3, 4):
        return LoadedNotebook(nb=None, error="unreadable notebook: no supported nbformat "
                                             f"version (found {version!r}; 3 or 4 expected)")
    try:
        nb = nbformat.reads(text, as_version=4)
        nbformat.validate(nb)
    except Exception as exc:  # nbformat raises many types (JSON, schema, KeyError, ...)
        reason = strip_ansi(str(exc)).strip().splitlines()
        first = reason[0] if reason else type(exc).__name__
        return LoadedNotebook(
            nb=None, error=f"unreadable notebook ({type(exc).__name__}): {first[:300]}")
    return LoadedNotebook(nb=nb)


def notebook_from_module(source: str) -> Any:
    """Turn a module's source into a notebook of code cells.

    ``# %%`` markers split cells where present; otherwise each top-level statement (with
    the comments and decorators above it) becomes a cell. A module that does not parse
    becomes one cell, so the kernel reports the syntax error as the student would see it.
    """
    import nbformat

    chunks: list[str]
    if _CELL_MARK.search(source):
        chunks = [""]
        for line in source.splitlines(keepends=True):
            if _CELL_MARK.match(line):
                chunks.append("")
            else:
                chunks[-1] += line
    else:
        try:
            tree = ast.parse(source)
        except (SyntaxError, ValueError, RecursionError, MemoryError):
            chunks = [source]
        else:
            lines = source.splitlines(keepends=True)
            chunks = []
            start = 0
            for node in tree.body:
                end = node.end_lineno or node.lineno
                chunks.append("".join(lines[start:end]))
                start = end
            if start < len(lines) and "".join(lines[start:]).strip():
                chunks.append("".join(lines[start:]))
    cells = [nbformat.v4.new_code_cell(c.strip("\n")) for c in chunks if c.strip()]
    nb = nbformat.v4.new_notebook(cells=cells)
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3",
                                 "language": "python"}
    return nb


def kernel_argv(python: str | None = None) -> list[str]:
    """The command that starts an IPython kernel with the grader's Python."""
    return [python or sys.executable, "-m", "ipykernel_launcher", "-f", "{connection_file}",
            *KERNEL_ARGS]


def kernel_env(home: Path) -> dict[str, str]:
    """A small environment for the kernel: no tokens or secrets of the caller."""
    keep = ("LANG", "LC_ALL", "TZ", "OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE")
    env = {k: os.environ[k] for k in keep if k in os.environ}
    env.update({
        "PATH": os.pathsep.join([str(Path(sys.executable).parent), "/usr/local/bin", "/usr/bin",
                                 "/bin"]),
        "HOME": str(home),
        "TMPDIR": str(home / "tmp"),  # inside the workspace, whose size is watched
        "IPYTHONDIR": str(home / ".ipython"),
        # Figures are shown inline (as display data the report can pick up), never on a
        # screen the kernel does not have.
        "MPLBACKEND": "module://matplotlib_inline.backend_inline",
        "MPLCONFIGDIR": str(home / ".matplotlib"),
        "PYTHONDONTWRITEBYTECODE": "1",
        "PYTHONNOUSERSITE": "1",
        "OMP_NUM_THREADS": "1",
        "OPENBLAS_NUM_THREADS": "1",
        "MKL_NUM_THREADS": "1",
        "JUPYTER_PLATFORM_DIRS": "1",
    })
    return env


_FONT_CACHE_BUILD = "import matplotlib.font_manager"


@functools.cache
def matplotlib_cache() -> Path | None:
    """A font list for matplotlib, built once per machine by the grader, never by a kernel.

    Each kernel has a fresh, empty ``MPLCONFIGDIR``; without a font list there, every
    kernel that imports pyplot spends most of a second scanning the system's fonts. The
    list is built in a subprocess of the grader (no student code runs there) and copied
    into each workspace, so one submission cannot change what another one reads.
    """
    import importlib.util

    try:
        import matplotlib
    except ImportError:
        return None
    if importlib.util.find_spec("matplotlib.font_manager") is None:
        return None
    base = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "grader"
    folder = base / f"matplotlib-{matplotlib.__version__}"
    if any(folder.glob("fontlist-*.json")):
        return folder
    try:
        base.mkdir(parents=True, exist_ok=True)
        build = Path(tempfile.mkdtemp(prefix="matplotlib-", dir=base))
    except OSError:
        return None
    env = {**kernel_env(build), "MPLCONFIGDIR": str(build)}
    try:
        subprocess.run([sys.executable, "-I", "-c", _FONT_CACHE_BUILD], env=env, timeout=120,
                       check=True, capture_output=True)
        if not any(build.glob("fontlist-*.json")):
            raise OSError("matplotlib wrote no font list")
        build.rename(folder)  # atomic; another process may have won the race
    except (OSError, subprocess.SubprocessError):
        shutil.rmtree(build, ignore_errors=True)
    return folder if any(folder.glob("fontlist-*.json")) else None


@dataclass(frozen=True, kw_only=True)
class Workspace:
    """A submission's temporary folders: its working copy, a home, sockets, the agent."""

    root: Path
    work: Path
    home: Path
    ipc: Path
    agent: Path

    @classmethod
    def create(cls) -> Workspace:
        """Make the folders (empty; :meth:`fill` copies a submission in later)."""
        from importlib.resources import files

        root = Path(tempfile.mkdtemp(prefix="grader-"))
        space = cls(root=root, work=root / "work", home=root / "home", ipc=root / "ipc",
                    agent=root / "agent" / "grader_kernel_agent.py")
        for folder in (space.work, space.home, space.ipc, space.agent.parent):
            folder.mkdir()
        space.agent.write_text(
            files("grader.kernel").joinpath("agent.py").read_text("utf-8"), "utf-8")
        space._furnish()
        return space

    def _furnish(self) -> None:
        (self.home / "tmp").mkdir()
        fonts = matplotlib_cache()
        if fonts is not None:
            (self.home / ".matplotlib").mkdir()
            for found in fonts.glob("fontlist-*.json"):
                shutil.copyfile(found, self.home / ".matplotlib" / found.name)

    def reset(self) -> None:
        """Empty the folders for the next kernel; they stay, as a sandbox has them mounted.

        Raises OSError when something cannot be removed: such a workspace must not be
        handed to another student.
        """
        for folder in (self.work, self.home, self.ipc):
            _empty(folder)
        self._furnish()

    def fill(self, submission: Submission) -> None:
        """Copy the submission in: its whole folder, or the file alone."""
        if submission.folder is not None:
            # symlinks=True copies links as links: a link to the reference stays a link
            # to a path the sandbox does not show, never a copy of its target.
            shutil.copytree(submission.folder, self.work, symlinks=True, dirs_exist_ok=True)
        else:
            shutil.copy2(submission.path, self.work / submission.path.name)

    def remove(self) -> None:
        """Delete everything, whatever the kernel left behind."""
        shutil.rmtree(self.root, ignore_errors=True)


def _empty(folder: Path) -> None:
    """Remove everything in ``folder``, making the kernel's read-only folders writable."""

    def writable(func: Any, path: str, exc: Any) -> None:
        os.chmod(os.path.dirname(path), 0o700)
        if os.path.isdir(path) and not os.path.islink(path):
            os.chmod(path, 0o700)
        func(path)

    for entry in list(folder.iterdir()):
        if entry.is_dir() and not entry.is_symlink():
            shutil.rmtree(entry, onerror=writable)
        else:
            try:
                entry.unlink()
            except PermissionError:
                writable(os.unlink, str(entry), None)
    if any(folder.iterdir()):
        raise OSError(f"{folder} could not be emptied")


@contextmanager
def workspace(submission: Submission) -> Iterator[Workspace]:
    """A filled temporary workspace for ``submission``, removed afterwards."""
    space = Workspace.create()
    try:
        space.fill(submission)
        yield space
    finally:
        space.remove()


def _kernel_manager(argv: list[str], ipc: Path) -> Any:
    from jupyter_client.kernelspec import KernelSpec, KernelSpecManager
    from jupyter_client.manager import AsyncKernelManager

    # Interrupts as messages, not SIGINT to a process group: that works through bwrap.
    spec = KernelSpec(argv=argv, display_name="grader", language="python",
                      interrupt_mode="message")

    class _OneSpec(KernelSpecManager):
        """Resolves every kernel name to the grader's own kernel command."""

        def get_kernel_spec(self, kernel_name: str) -> KernelSpec:
            return spec

    # IPC (Unix sockets in the workspace) rather than TCP: nothing listens on the network,
    # and the channels keep working inside a sandbox with its own network namespace.
    km = AsyncKernelManager(kernel_name="grader", kernel_spec_manager=_OneSpec(),
                            transport="ipc", ip=str(ipc / "kernel"))
    km.connection_file = str(ipc / "connection.json")
    km.client_factory = _client_class()
    return km


def _client_class() -> Any:
    import time as _time
    from queue import Empty

    from jupyter_client.asynchronous import AsyncKernelClient

    class ReadyClient(AsyncKernelClient):
        """jupyter_client's client, ready as soon as the kernel has answered.

        jupyter_client waits, after the kernel's first reply, until its IOPub channel has
        been silent for 0.2 s; here the wait ends at the kernel's idle status for that
        request (nbclient ignores IOPub messages of other requests anyway).
        """

        async def _async_wait_for_ready(self, timeout: float | None = None) -> None:
            deadline = _time.monotonic() + (float("inf") if timeout is None else timeout)
            while True:
                request = self.kernel_info()
                try:
                    msg = await self.shell_channel.get_msg(timeout=1)
                except Empty:
                    msg = None
                if msg is not None and msg["msg_type"] == "kernel_info_reply":
                    if await self._idle_after(request):
                        self._handle_kernel_info_reply(msg)
                        return
                if not await self._async_is_alive():
                    raise RuntimeError("Kernel died before replying to kernel_info")
                if _time.monotonic() > deadline:
                    raise RuntimeError(f"Kernel didn't respond in {timeout:g} seconds")

        # AsyncKernelClient binds the base class's coroutine to this name directly.
        wait_for_ready = _async_wait_for_ready

        def __init__(self, **kwargs: Any) -> None:
            super().__init__(**kwargs)
            # The manager hands its client a clone of its session, without the guard.
            guard = getattr(getattr(self.parent, "session", None), "grader_guard", None)
            if guard is not None:
                guard.install(self.session)

        def _context_default(self) -> Any:
            import zmq

            context = super()._context_default()
            guard = getattr(self.session, "grader_guard", None)
            if guard is not None:
                # libzmq refuses a longer frame before allocating it, on every socket of
                # this context (heartbeat included), and cuts that connection.
                context.setsockopt(zmq.MAXMSGSIZE, guard.limits.message_bytes)
            return context

        def _create_connected_socket(self, channel: str, identity: bytes | None = None
                                     ) -> Any:
            import zmq

            sock = super()._create_connected_socket(channel, identity)
            # A cut connection is the only sign of a frame libzmq refused: watch for it.
            monitor = sock.get_monitor_socket(zmq.EVENT_DISCONNECTED)
            self.grader_monitors = [*getattr(self, "grader_monitors", []),
                                    (channel, zmq.Socket.shadow(monitor.underlying))]
            return sock

        def cut_channels(self) -> list[str]:
            """Channels whose connection to the kernel was cut since the last look."""
            import zmq

            cut = []
            for channel, monitor in getattr(self, "grader_monitors", []):
                try:
                    while True:
                        monitor.recv_multipart(zmq.NOBLOCK)
                        cut.append(channel)
                except zmq.ZMQError:  # nothing more (Again), or closed with its context
                    pass
            return cut

        async def _idle_after(self, request: str) -> bool:
            """Read IOPub up to the idle status of ``request``: proof that it is connected."""
            while True:
                try:
                    msg = await self.iopub_channel.get_msg(timeout=0.1)
                except Empty:
                    return False  # IOPub is not connected yet: ask again
                if msg["msg_type"] == "status" and \
                        msg["parent_header"].get("msg_id") == request and \
                        msg["content"].get("execution_state") == "idle":
                    return True

    return ReadyClient


KERNEL_ARGS = ("--HistoryManager.enabled=False", "--IPKernelApp.capture_fd_output=False")


def _fork_with(km: Any, server: ForkServer, cgroup: KernelCgroup | None) -> None:
    """Make ``km`` start its kernel by asking ``server`` to fork one."""
    import uuid

    from jupyter_client.provisioning import LocalProvisioner

    class ForkProvisioner(LocalProvisioner):
        """jupyter_client's local provisioner, with a fork instead of a new process."""

        async def launch_kernel(self, cmd: list[str], **kwargs: Any) -> Any:
            process = server.spawn(
                argv=["-f", km.connection_file, *KERNEL_ARGS], env=dict(kwargs["env"]),
                cwd=str(kwargs.get("cwd") or server.space.work),
                cgroup=cgroup)
            self.process = process  # type: ignore[assignment]  # Popen's interface
            self.pid = process.pid
            self.pgid = None  # signals go through the server
            self.cwd = kwargs.get("cwd")
            return self.connection_info

    km.kernel_id = str(uuid.uuid4())
    km.provisioner = ForkProvisioner(kernel_id=km.kernel_id, kernel_spec=km.kernel_spec,
                                     parent=km)


def _capped_client_class() -> Any:
    from nbclient import NotebookClient
    from nbclient.exceptions import DeadKernelError

    class CappedClient(NotebookClient):
        """Drops outputs past a byte budget as they stream in, instead of keeping them all.

        Once the grader has stopped the kernel itself (``stopped`` says so), a wait that
        times out ends there: nbclient would interrupt a dead kernel and wait again.

        Messages reach it through ``guard`` (:class:`grader.kernel.wire.Guard`); display updates
        and widget state count against the budget like outputs, and the grader's own cells
        keep at most one message's worth (``grader_budget``) whatever a hook adds.
        """

        output_budget = 0
        output_capped = False
        capping = True  # off while the grader's own cells run: their results are not output
        grader_budget = 0
        guard: wire.Guard | None = None
        stopped: Any = staticmethod(lambda: False)

        async def _async_handle_timeout(self, timeout: int, cell: Any = None) -> Any:
            if self.stopped():
                raise DeadKernelError("the grader stopped the kernel")
            return await super()._async_handle_timeout(timeout, cell)

        def start_new_kernel(self, **kwargs: Any) -> None:
            if self.guard is not None and self.km is not None:
                self.guard.install(self.km.session)  # before the client's sockets exist
            super().start_new_kernel(**kwargs)

        async def _async_check_alive(self) -> None:
            await super()._async_check_alive()
            watch = getattr(self.kc, "cut_channels", None)
            cut = watch() if watch is not None else []
            if cut and self.guard is not None and not self.stopped():
                # A kernel that exits closes its sockets a moment before it can be waited
                # for: a cut is a refused frame only if the kernel outlives it.
                await asyncio.sleep(0.3)
                await super()._async_check_alive()
                self.guard.cut(cut[0])
                raise DeadKernelError(self.guard.refused)

        def _spend(self, msg: dict[str, Any], outs: list[Any]) -> bool:
            """Count ``msg`` against the budget in force; False when it must be dropped."""
            if not self.capping:
                size = msg.get(wire.SIZE_KEY, 0)
                if size > self.grader_budget:
                    return False
                self.grader_budget -= size
                return True
            size = _message_size(msg.get("content", {}))
            if size > self.output_budget:
                if not self.output_capped:
                    self.output_capped = True
                    outs.append({"output_type": "stream", "name": "stderr",
                                 "text": "[grader: output beyond the limit was dropped]\n"})
                self.output_budget = 0
                return False
            self.output_budget -= size
            return True

        def output(self, outs: list[Any], msg: dict[str, Any], display_id: Any,
                   cell_index: int) -> Any:
            if not self._spend(msg, outs):
                return None
            if not self.capping:
                # nbformat would copy every dict of the content into a NotebookNode: a
                # second copy of a harvest. The grader reads its own outputs as dicts.
                if msg["msg_type"] in ("stream", "display_data", "execute_result", "error"):
                    outs.append({"output_type": msg["msg_type"], **msg["content"]})
                return None
            return super().output(outs, msg, display_id, cell_index)

        def _update_display_id(self, display_id: str, msg: dict[str, Any]) -> None:
            # An update replaces an earlier output's data: it costs what new output would.
            # The grader's cells make none; one in them is a student's hook at work.
            if self.capping and self._spend(msg, self.nb.cells[-1].setdefault("outputs", [])):
                super()._update_display_id(display_id, msg)

        def handle_comm_msg(self, outs: list[Any], msg: dict[str, Any], cell_index: int
                            ) -> None:
            if self._spend(msg, outs):  # nbclient keeps widget state for the whole run
                super().handle_comm_msg(outs, msg, cell_index)

    return CappedClient


def _message_size(content: dict[str, Any]) -> int:
    """Bytes an output message carries, counted without copying it."""
    size = len(content.get("text", "") or "")
    data = content.get("data")
    if isinstance(data, dict):
        size += sum(len(v) if isinstance(v, str) else len(str(v)) for v in data.values())
    for line in content.get("traceback", []) or []:
        size += len(line)
    return size + 64


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
                km = _kernel_manager(kernel_argv(), space.ipc)
                _fork_with(km, self.forkserver, self._cgroup)
            else:
                argv = sandbox.wrap(kernel_argv(), settings=self.settings,
                                    isolation=self.isolation, work=space.work,
                                    home=space.home, ipc=space.ipc, agent=space.agent.parent,
                                    env=env, cgroup=self._cgroup)
                km = _kernel_manager(argv, space.ipc)
            client_class = _capped_client_class()
            self._client = client_class(
                nbformat.v4.new_notebook(),
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
            try:
                self._context.__exit__(None, None, None)
            except Exception:  # a kernel that is already dead cannot be shut down cleanly
                self._kill()
            self._context = None
        self._teardown()

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
            if self._client.kc is not None and self._client.kc.is_alive():
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
        import nbformat

        started = time.monotonic()
        if preamble:
            self._execute(nbformat.v4.new_code_cell(preamble))
        code_cells = [(i, c) for i, c in enumerate(nb.cells) if c.get("cell_type") == "code"]
        errors: list[CellError] = []
        omitted: list[tuple[int, str]] = []  # (cell, ename) of errors past the cap
        figures: list[Figure] = []
        run = 0
        outcome, message = "ok", ""
        for index, cell in code_cells:
            if index in skip:
                continue
            copy = nbformat.v4.new_code_cell(cell.get("source", ""))
            status = self._execute(copy)
            run += 1
            figures += _figures(index, copy, answer_names, len(figures))
            if status in ("error", "timeout"):
                error = _cell_error(index, copy, status, self.settings.cell_timeout)
                if len(errors) < MAX_CELL_ERRORS:
                    errors.append(error)
                else:
                    omitted.append((index, error.ename))
            if status == "dead":
                outcome, why = self._cause_of_death()
                errors.append(CellError(index=index, source=_clip(copy.get("source", "")),
                                        ename="KernelDied", evalue=why,
                                        traceback=f"The kernel process ended while this cell "
                                                  f"ran: {why}."))
                message = f"the kernel died while cell {index} ran: {why}"
                break
            if self.deadline_hit:
                outcome = "timeout"
                message = (f"the submission ran past its time limit of "
                           f"{self.settings.timeout:g} s (stopped in cell {index})")
                if not errors or errors[-1].index != index:
                    errors.append(CellError(
                        index=index, source=_clip(copy.get("source", "")), ename="Timeout",
                        evalue="the submission's time limit ran out in this cell",
                        traceback=""))
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

    def run_code(self, source: str, *, timeout: float | None = None) -> tuple[str, list[Any]]:
        """Run the grader's own code; return its status and outputs."""
        import nbformat

        if self.deadline_hit:
            return "timeout", []
        cell = nbformat.v4.new_code_cell(source)
        previous = self._client.timeout
        if timeout is not None:
            self._client.timeout = int(max(1, min(timeout, self.time_left)))
        self._client.capping = False
        self._client.grader_budget = self.guard.limits.message_bytes
        try:
            status = self._execute(cell)
        finally:
            self._client.timeout = previous
            self._client.capping = True
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


_MAX_FIGURES = 20
_MAX_FIGURE_BYTES = 2_000_000


def _figures(index: int, cell: Any, names: tuple[str, ...], have: int) -> list[Figure]:
    source = str(cell.get("source", ""))
    named = tuple(n for n in names if re.search(rf"\b{re.escape(n)}\b", source))
    out: list[Figure] = []
    for o in cell.get("outputs", []):
        if o.get("output_type") not in ("display_data", "execute_result"):
            continue
        data = o.get("data", {})
        for mime in ("image/png", "image/svg+xml"):
            value = data.get(mime)
            if isinstance(value, list):
                value = "".join(value)
            if isinstance(value, str) and len(value) <= _MAX_FIGURE_BYTES and \
                    have + len(out) < _MAX_FIGURES:
                out.append(Figure(cell=index, mime=mime, data=value, answers=named))
                break
    return out


MAX_CELL_ERRORS = 20  # failing cells kept in full; later ones are counted by kind
_MAX_SOURCE_CHARS = 4_000
_MAX_TRACEBACK_CHARS = 8_000
_MAX_KINDS = 10


def _clip(text: str, limit: int = _MAX_SOURCE_CHARS, *, keep_end: bool = False) -> str:
    """``text`` cut to ``limit`` characters, saying how many were cut."""
    if len(text) <= limit:
        return text
    note = f"[... {len(text) - limit:,} more characters not kept]"
    return f"{note}\n{text[-limit:]}" if keep_end else f"{text[:limit]}\n{note}"


def omitted_errors(omitted: list[tuple[int, str]]) -> CellError:
    """One entry for the failing cells past :data:`MAX_CELL_ERRORS`: how many, of what kind.

    Their sources and tracebacks are not kept, so that a submission of thousands of
    failing cells still gives a bounded result, page and gradebook row.
    """
    from collections import Counter

    kinds = Counter(ename[:100] for _, ename in omitted)
    named = ", ".join(f"{ename} x{n:,}" for ename, n in kinds.most_common(_MAX_KINDS))
    if len(kinds) > _MAX_KINDS:
        named += f", and {len(kinds) - _MAX_KINDS:,} other kinds"
    first, last = omitted[0][0], omitted[-1][0]
    return CellError(index=first, source="", ename="MoreErrors",
                     evalue=f"and {len(omitted):,} more cells raised: {named} (cells {first} "
                            f"to {last}; their sources and tracebacks are not kept)",
                     traceback="")


def _cell_error(index: int, cell: Any, status: str, cell_timeout: float) -> CellError:
    source = _clip(cell.get("source", ""))
    for out in cell.get("outputs", []):
        if out.get("output_type") == "error":
            tb = strip_ansi("\n".join(out.get("traceback", [])))
            lines = tb.splitlines()
            if len(lines) > _TRACEBACK_LINES:
                lines = ["...", *lines[-_TRACEBACK_LINES:]]
            ename = str(out.get("ename", "Error"))
            evalue = strip_ansi(str(out.get("evalue", "")))
            if status == "timeout":
                ename, evalue = "Timeout", f"the cell ran longer than {cell_timeout:g} s"
            return CellError(index=index, source=source, ename=ename, evalue=evalue[:2000],
                             traceback=_clip("\n".join(lines), _MAX_TRACEBACK_CHARS,
                                             keep_end=True))
    if status == "timeout":
        return CellError(index=index, source=source, ename="Timeout",
                         evalue=f"the cell ran longer than {cell_timeout:g} s", traceback="")
    return CellError(index=index, source=source, ename="Error", evalue="", traceback="")
