"""Run a submission's code in a fresh Jupyter kernel, in a temporary copy of its folder.

Notebooks run as they are (read and validated with nbformat); modules are split into
cells at their top-level statements so that, as in a notebook, an exception in one
statement does not stop the rest. The grader never imports student code: it only sends
text to a kernel process and reads back messages.
"""

from __future__ import annotations

import ast
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from grader.errors import SubmissionError
from grader.results import CellError, RunLog
from grader.rubric import ExecutionSettings

_ANSI = re.compile(r"\x1b\[[0-9;?]*[ -/]*[@-~]")
_CELL_MARK = re.compile(r"^# ?%%", re.MULTILINE)
_TRACEBACK_LINES = 40
SUFFIXES = (".ipynb", ".py")


def strip_ansi(text: str) -> str:
    """Remove terminal colour codes (IPython colours its tracebacks)."""
    return _ANSI.sub("", text)


@dataclass(frozen=True, kw_only=True)
class Submission:
    """One student's submission: the file to run and the folder it may use beside it."""

    student: str
    path: Path
    folder: Path | None = None  # a student's own folder, copied whole; None: the file alone

    @property
    def is_notebook(self) -> bool:
        """True for ``.ipynb`` files; anything else runs as a module."""
        return self.path.suffix == ".ipynb"


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
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        return LoadedNotebook(nb=None, error=f"{submission.path.name} is not UTF-8 text")
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
            "--HistoryManager.enabled=False", "--IPKernelApp.capture_fd_output=False"]


def _kernel_manager(argv: list[str], env: dict[str, str], ipc: Path) -> Any:
    from jupyter_client.kernelspec import KernelSpec, KernelSpecManager
    from jupyter_client.manager import AsyncKernelManager

    spec = KernelSpec(argv=argv, display_name="grader", language="python", env=env)

    class _OneSpec(KernelSpecManager):
        """Resolves every kernel name to the grader's own kernel command."""

        def get_kernel_spec(self, kernel_name: str) -> KernelSpec:
            return spec

    # IPC (Unix sockets in the workspace) rather than TCP: nothing listens on the network,
    # and the channels keep working inside a sandbox with its own network namespace.
    return AsyncKernelManager(kernel_name="grader", kernel_spec_manager=_OneSpec(),
                              transport="ipc", ip=str(ipc))


def kernel_env(home: Path) -> dict[str, str]:
    """A small environment for the kernel: no tokens or secrets of the caller."""
    keep = ("PATH", "LANG", "LC_ALL", "TZ", "SYSTEMROOT", "OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE")
    env = {k: os.environ[k] for k in keep if k in os.environ}
    env.update({
        "HOME": str(home),
        "IPYTHONDIR": str(home / ".ipython"),
        "MPLBACKEND": "Agg",
        "PYTHONDONTWRITEBYTECODE": "1",
        "OMP_NUM_THREADS": "1",
        "OPENBLAS_NUM_THREADS": "1",
        "MKL_NUM_THREADS": "1",
    })
    return env


@dataclass(frozen=True, kw_only=True)
class Workspace:
    """A submission's temporary folders: its working copy, a home, and the grader's agent."""

    root: Path
    work: Path
    home: Path
    agent: Path


@contextmanager
def workspace(submission: Submission) -> Iterator[Workspace]:
    """A temporary folder holding a copy of the submission (its folder, or the file alone)."""
    from importlib.resources import files

    with tempfile.TemporaryDirectory(prefix="grader-") as tmp:
        root = Path(tmp)
        work = root / "work"
        if submission.folder is not None:
            # symlinks=True copies links as links: a link to the reference stays a
            # dangling or outside path, never a copy of its target.
            shutil.copytree(submission.folder, work, symlinks=True)
        else:
            work.mkdir()
            shutil.copy2(submission.path, work / submission.path.name)
        home = root / "home"
        home.mkdir()
        agent_dir = root / "agent"
        agent_dir.mkdir()
        agent = agent_dir / "grader_kernel_agent.py"
        agent.write_text(files("grader").joinpath("kernel_agent.py").read_text("utf-8"), "utf-8")
        yield Workspace(root=root, work=work, home=home, agent=agent)


class KernelSession:
    """A live kernel for one submission: run its cells, then the grader's own code.

    A watchdog thread owns the whole-run deadline and kills the kernel process when it
    passes, whatever the kernel is doing; per-cell timeouts interrupt the cell first.
    """

    def __init__(self, space: Workspace, settings: ExecutionSettings) -> None:
        self.space = space
        self.workdir = space.work
        self.settings = settings
        self._client: Any = None
        self._context: Any = None
        self._deadline = 0.0
        self._timer: threading.Timer | None = None
        self.deadline_hit = False

    def __enter__(self) -> KernelSession:
        import nbformat
        from nbclient import NotebookClient

        ipc = self.space.root / "ipc"
        ipc.mkdir(exist_ok=True)
        km = _kernel_manager(kernel_argv(), kernel_env(self.space.home), ipc / "kernel")
        self._client = NotebookClient(
            nbformat.v4.new_notebook(),
            km=km,
            timeout=int(max(1, self.settings.cell_timeout)),
            startup_timeout=int(self.settings.startup_timeout),
            allow_errors=True,
            interrupt_on_timeout=True,
            shutdown_kernel="immediate",
            record_timing=False,
            resources={"metadata": {"path": str(self.workdir)}},
        )
        # The kernel's own stderr (C-level output, its warnings) is not the student's
        # output: cell output reaches us through the protocol.
        self._context = self._client.setup_kernel(cleanup_kc=True, stderr=subprocess.DEVNULL,
                                                  stdout=subprocess.DEVNULL)
        try:
            self._context.__enter__()
        except Exception as exc:
            raise SubmissionError(f"the kernel did not start: {exc}") from exc
        self._deadline = time.monotonic() + self.settings.timeout
        self._timer = threading.Timer(self.settings.timeout, self._kill)
        self._timer.daemon = True
        self._timer.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        if self._timer is not None:
            self._timer.cancel()
        try:
            self._context.__exit__(None, None, None)
        except Exception:  # a kernel that is already dead cannot be shut down cleanly
            self._kill()

    @property
    def time_left(self) -> float:
        """Seconds until the whole-run deadline."""
        return self._deadline - time.monotonic()

    def _kill(self) -> None:
        self.deadline_hit = True
        km = self._client.km if self._client is not None else None
        provisioner = getattr(km, "provisioner", None)
        pid = getattr(getattr(provisioner, "process", None), "pid", None)
        if pid:
            try:
                os.killpg(os.getpgid(pid), signal.SIGKILL)
            except (ProcessLookupError, PermissionError):
                try:
                    os.kill(pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass

    def _execute(self, cell: Any) -> str:
        """Run one cell; return ok, error, timeout or dead."""
        from nbclient.exceptions import CellTimeoutError, DeadKernelError

        nb = self._client.nb
        nb.cells.append(cell)
        started = time.monotonic()
        try:
            self._client.execute_cell(cell, len(nb.cells) - 1, store_history=False)
        except CellTimeoutError:
            return "timeout"
        except DeadKernelError:
            return "timeout" if self.deadline_hit else "dead"
        except Exception:  # nbclient surfaces a dead or killed kernel in several ways
            if self.deadline_hit:
                return "timeout"
            alive = self._client.kc is not None and self._client.kc.is_alive()
            return "dead" if not alive else "error"
        if self.deadline_hit:
            return "timeout"
        errors = [o for o in cell.get("outputs", []) if o.get("output_type") == "error"]
        if not errors:
            return "ok"
        # nbclient interrupts a cell at its timeout: the KeyboardInterrupt is ours.
        limit = self._client.timeout or 0
        if errors[-1].get("ename") == "KeyboardInterrupt" and \
                time.monotonic() - started >= 0.95 * limit:
            return "timeout"
        return "error"

    def run_notebook(self, nb: Any, *, preamble: str = "") -> RunLog:
        """Run every code cell of ``nb`` in order, past errors; log how it went."""
        import nbformat

        started = time.monotonic()
        if preamble:
            self._execute(nbformat.v4.new_code_cell(preamble))
        code_cells = [(i, c) for i, c in enumerate(nb.cells) if c.get("cell_type") == "code"]
        errors: list[CellError] = []
        run = 0
        outcome, message = "ok", ""
        for index, cell in code_cells:
            copy = nbformat.v4.new_code_cell(cell.get("source", ""))
            status = self._execute(copy)
            run += 1
            cell["outputs"] = copy.get("outputs", [])
            if status in ("error", "timeout"):
                errors.append(_cell_error(index, copy, status, self.settings.cell_timeout))
            if status == "dead":
                errors.append(CellError(index=index, source=copy.get("source", ""),
                                        ename="KernelDied", evalue="the kernel died",
                                        traceback="The kernel process ended while this cell ran."))
                outcome, message = "kernel_died", f"the kernel died while cell {index} ran"
                break
            if self.deadline_hit:
                outcome = "timeout"
                message = (f"the submission ran past its time limit of "
                           f"{self.settings.timeout:g} s (stopped in cell {index})")
                break
        return RunLog(cells_total=len(code_cells), cells_run=run, errors=tuple(errors),
                      outcome=outcome, message=message,
                      seconds=round(time.monotonic() - started, 3))

    def run_code(self, source: str, *, timeout: float | None = None) -> tuple[str, list[Any]]:
        """Run the grader's own code; return its status and outputs."""
        import nbformat

        if self.deadline_hit:
            return "timeout", []
        cell = nbformat.v4.new_code_cell(source)
        previous = self._client.timeout
        if timeout is not None:
            self._client.timeout = int(max(1, min(timeout, self.time_left)))
        try:
            status = self._execute(cell)
        finally:
            self._client.timeout = previous
        return status, list(cell.get("outputs", []))


def _cell_error(index: int, cell: Any, status: str, cell_timeout: float) -> CellError:
    source = cell.get("source", "")
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
                             traceback="\n".join(lines))
    if status == "timeout":
        return CellError(index=index, source=source, ename="Timeout",
                         evalue=f"the cell ran longer than {cell_timeout:g} s", traceback="")
    return CellError(index=index, source=source, ename="Error", evalue="", traceback="")
