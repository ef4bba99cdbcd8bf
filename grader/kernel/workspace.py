"""Where a kernel runs: its command, its environment and its temporary folders.

A :class:`Workspace` holds a submission's working copy, the kernel's home, its sockets
and the agent; :func:`kernel_env` is all the environment a kernel gets, and
:func:`matplotlib_cache` the font list each workspace is given a copy of.
"""

from __future__ import annotations

import functools
import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from grader.settings import cache_folder
from grader.submission import Submission

KERNEL_ARGS = ("--HistoryManager.enabled=False", "--IPKernelApp.capture_fd_output=False")


# A kernel starts as ``python -m ipykernel_launcher`` starts one (the working folder off
# sys.path while ipykernel loads; IPython puts it back for the student's own modules),
# but without a debugger: ipykernel loads debugpy, a tenth of a second of every kernel's
# start, only for a front end's debugging, which grading never asks for. The fork
# server's kernels go without it too (grader/kernel/zygote.py).
KERNEL_LAUNCH = (
    "import os, sys\n"
    "sys.modules['debugpy'] = None\n"
    "if sys.path and (sys.path[0] == '' or os.path.abspath(sys.path[0]) == os.getcwd()):\n"
    "    del sys.path[0]\n"
    "from ipykernel import kernelapp\n"
    "kernelapp.launch_new_instance()\n"
)


def kernel_argv(python: str | None = None) -> list[str]:
    """The command that starts an IPython kernel with the grader's Python."""
    return [python or sys.executable, "-c", KERNEL_LAUNCH, "-f", "{connection_file}",
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
    version = _matplotlib_version()
    if version is None:
        return None
    try:
        base = cache_folder()
    except RuntimeError:  # no home folder to be found: each kernel scans the fonts
        return None
    folder = base / f"matplotlib-{version}"
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


def _matplotlib_version() -> str | None:
    """The installed matplotlib's version when it has a font manager, without importing it.

    Importing matplotlib here cost the grader a tenth of a second before each first
    kernel could start: its version names the font list's folder, nothing more.
    """
    import importlib.metadata
    import importlib.util

    spec = importlib.util.find_spec("matplotlib")
    folders = spec.submodule_search_locations if spec is not None else None
    if not folders or not any((Path(f) / "font_manager.py").is_file() for f in folders):
        return None
    try:
        return importlib.metadata.version("matplotlib")
    except importlib.metadata.PackageNotFoundError:
        return None


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
