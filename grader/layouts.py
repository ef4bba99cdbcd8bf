"""How an LMS names the entries of its export, one small class per layout (``--layout``).

A layout recognises the top-level files and folders of an export that are in its form
and says whose each is (an :class:`Entry`); what no layout claims is named the plain way
by :mod:`grader.discover`, and so is everything when ``--id-pattern`` is given. The
layouts, in the order ``auto`` tries them:

Moodle (``Full Name_123456_assignsubmission_file_``)
    A folder per student and submission plugin, or (without "download in folders") files
    ``Full Name_123456_assignsubmission_file_hw2.ipynb``: the id is the full name. The
    download carries no submission time or late flag (its grading worksheet does: give
    those times with ``--submitted-at``).
Canvas (``lastfirst_12345_678901_hw2.ipynb``, also ``lastfirst_LATE_12345_678901_...``)
    The id is the name part before the two numeric ids (Canvas writes it as lower-case
    letters, last name first); the real file name follows the numbers. A resubmitted file
    gets a suffix ``-1``, ``-2``, ... from Canvas. ``_LATE`` marks a late submission
    (:attr:`Entry.late`), without saying when it came.
GitHub Classroom (``hw2-username/``, a cloned repository per student)
    A folder holding ``.git`` (or any folder with ``--layout github``). The id is the
    folder name without the assignment's prefix: the prefix ending in ``-`` that all such
    folders share, or, for a lone repository, the rubric's assignment id and ``-``. The
    notebook may be anywhere inside; the kernel runs in the folder that holds it. The
    commit time of the graded file is its submission time (:func:`commit_time`).
Plain
    No LMS names: a file is a student (``alice.ipynb`` -> ``alice``), a folder is a
    student's folder (``dave/hw2.ipynb`` -> ``dave``).

Adding a layout is a subclass of :class:`Layout` and a line in :data:`LAYOUTS`; ``auto``
tries it too, after those before it in the table.
"""

from __future__ import annotations

import os
import re
import subprocess
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True, kw_only=True)
class Entry:
    """A top-level file or folder of the TA's input, with the student it belongs to."""

    path: Path
    student: str
    number: str = ""  # the LMS's own numeric id, to tell apart students of the same name
    inner: str = ""  # the file's real name (LMS prefixes removed)
    repository: bool = False  # a student's clone: the notebook may be anywhere inside
    gather: bool = False  # several entries of one student are merged, not refused
    late: bool = False  # the LMS marked it late (Canvas's _LATE_ in the name)


class Layout:
    """A way of naming students in an export; by default it recognises nothing."""

    name = ""  # what --layout takes
    description = ""  # one line for --help

    def entry(self, path: Path) -> Entry | None:
        """Whose ``path`` is when its own name is in this layout's form, else None."""
        return None

    def repositories(self, folders: Sequence[Path], *, assignment: str,
                     chosen: bool) -> dict[Path, Entry]:
        """The students' repositories among the sibling ``folders``, with whose each is.

        ``chosen`` is True when the TA named this layout, False when ``auto`` asks.
        """
        return {}


MOODLE = re.compile(r"^(?P<id>.+?)_(?P<num>\d+)_assignsubmission_(?P<plugin>[a-z]+)_"
                    r"(?P<file>.*)$")
CANVAS = re.compile(r"^(?P<id>[A-Za-z0-9]+?)(?P<late>_LATE)?_(?P<num>\d+)_(?P<sub>\d+)_"
                    r"(?P<file>.+)$")


class Moodle(Layout):
    """Moodle's ``Full Name_123456_assignsubmission_file_`` folders and files."""

    name = "moodle"
    description = "Full Name_123456_assignsubmission_file_... (the full name is the id)"

    def entry(self, path: Path) -> Entry | None:
        """The full name before the numeric id, for a file or a folder."""
        m = MOODLE.match(path.name)
        if m is None:
            return None
        return Entry(path=path, student=m.group("id"), number=m.group("num"),
                     inner=m.group("file") or path.name, gather=True)


class Canvas(Layout):
    """Canvas's ``lastfirst_12345_678901_hw2.ipynb`` files."""

    name = "canvas"
    description = "lastfirst_12345_678901_hw2.ipynb (the name before the numbers)"

    def entry(self, path: Path) -> Entry | None:
        """The name before the two numeric ids, for a file only."""
        m = CANVAS.match(path.name) if path.is_file() else None
        if m is None:
            return None
        return Entry(path=path, student=m.group("id"), number=m.group("num"),
                     inner=m.group("file"), gather=True, late=bool(m.group("late")))


class GitHubClassroom(Layout):
    """GitHub Classroom's cloned repositories, ``hw2-username/``."""

    name = "github"
    description = "GitHub Classroom, a cloned repository per student: hw2-username/"

    def repositories(self, folders: Sequence[Path], *, assignment: str,
                     chosen: bool) -> dict[Path, Entry]:
        """Folders holding ``.git`` (every folder when chosen), without the shared prefix."""
        repos = [f for f in folders if chosen or (f / ".git").exists()]
        prefix = _common_prefix([r.name for r in repos], assignment)
        return {r: Entry(path=r, student=r.name[len(prefix):] or r.name, repository=True)
                for r in repos}


class Plain(Layout):
    """No LMS: every entry is named the plain way (file stem, or folder name)."""

    name = "plain"
    description = "a file or a folder per student, named after the student"


class Auto(Layout):
    """Every other layout of :data:`LAYOUTS`, in its order; what none claims is plain."""

    name = "auto"
    description = "Moodle, Canvas, GitHub Classroom repositories, else plain"

    def entry(self, path: Path) -> Entry | None:
        """The first other layout's entry for ``path``."""
        for layout in self._others():
            found = layout.entry(path)
            if found is not None:
                return found
        return None

    def repositories(self, folders: Sequence[Path], *, assignment: str,
                     chosen: bool) -> dict[Path, Entry]:
        """The repositories every other layout recognises unasked."""
        found: dict[Path, Entry] = {}
        for layout in self._others():
            found = {**layout.repositories(folders, assignment=assignment, chosen=False),
                     **found}
        return found

    def _others(self) -> list[Layout]:
        return [layout for layout in LAYOUTS.values() if layout is not self]


AUTO = Auto()
LAYOUTS: dict[str, Layout] = {
    layout.name: layout for layout in (AUTO, Plain(), Moodle(), Canvas(), GitHubClassroom())
}


def _common_prefix(names: list[str], assignment: str) -> str:
    """The GitHub Classroom prefix (``hw2-``) of repository folder names."""
    if len(names) >= 2:
        common = names[0]
        for n in names[1:]:
            while not n.startswith(common):
                common = common[:-1]
        cut = common.rfind("-")
        if cut > 0 and all(len(n) > cut + 1 for n in names):
            return common[:cut + 1]
        return ""
    if names and assignment and names[0].startswith(assignment + "-") and \
            len(names[0]) > len(assignment) + 1:
        return assignment + "-"
    return ""


# A student's repository is theirs to configure: its .git/config could name programs for
# git to run (a pager, gpg for signatures, an fsmonitor hook). These settings, given on
# the command line, win over the repository's; no system or global config is read.
_GIT_SAFE = ("-c", "core.pager=cat", "-c", "core.fsmonitor=false", "-c", "gpg.program=false",
             "-c", "core.hooksPath=/dev/null", "-c", "log.showSignature=false",
             "-c", "diff.external=", "-c", "log.mailmap=false")


def commit_time(repository: Path, file: Path) -> str:
    """When the last commit that touched ``file`` was made, as git records it (ISO 8601).

    ``""`` when git is missing, the folder is not a repository or the file was never
    committed. Run on the cloned repository, no network; the time is the committer's
    clock, which a student could set: GitHub Classroom's push times are authoritative.
    """
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": str(repository),
           "GIT_CONFIG_NOSYSTEM": "1", "GIT_CONFIG_GLOBAL": os.devnull,
           "GIT_TERMINAL_PROMPT": "0", "GIT_OPTIONAL_LOCKS": "0",
           "GIT_DIR": str(repository / ".git"), "GIT_WORK_TREE": str(repository),
           "GIT_CEILING_DIRECTORIES": str(repository.parent)}
    try:
        done = subprocess.run(
            ["git", *_GIT_SAFE, "--no-pager", "log", "-1", "--no-show-signature",
             "--format=%cI", "--", str(file.relative_to(repository))],
            capture_output=True, text=True, timeout=20, env=env, cwd=repository, check=False)
    except (OSError, ValueError, subprocess.TimeoutExpired):
        return ""
    line = done.stdout.strip() if done.returncode == 0 else ""
    return line if re.fullmatch(r"\d{4}-\d\d-\d\dT[\d:]+(?:[+-]\d\d:\d\d|Z)", line) else ""
