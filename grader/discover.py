"""Find the submissions in the paths a TA gives, and name each student safely.

A student is a file (``alice.ipynb`` -> ``alice``) or a folder (``dave/hw2.ipynb`` ->
``dave``). In a folder with several candidates the rule is, in order: a file named as the
rubric asks (``submission_names``), else the only notebook, else the only module; any
other case is reported as ambiguous rather than guessed.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from grader.execute import SUFFIXES, Submission

_SAFE = re.compile(r"[^A-Za-z0-9_.@-]+")
_SKIP_DIRS = {"__pycache__", ".ipynb_checkpoints", ".git"}


def student_id(name: str) -> str:
    """A student id usable as a file name: no path separators, no leading dots."""
    clean = _SAFE.sub("_", name).strip("._")
    return clean[:100] or "student"


@dataclass(frozen=True, kw_only=True)
class Problem:
    """A path that could not be turned into a submission, with the reason."""

    path: Path
    reason: str


def discover(paths: list[Path], *, names: tuple[str, ...] = ()) -> tuple[list[Submission],
                                                                         list[Problem]]:
    """Submissions under ``paths`` (files or folders of them), sorted by student id."""
    found: list[Submission] = []
    problems: list[Problem] = []
    for path in paths:
        if path.is_file():
            if path.suffix in SUFFIXES:
                found.append(Submission(student=student_id(path.stem), path=path))
            else:
                problems.append(Problem(path=path, reason="not a .ipynb or .py file"))
        elif path.is_dir():
            for child in sorted(path.iterdir()):
                if child.name.startswith(".") or child.name in _SKIP_DIRS:
                    continue
                if child.is_symlink():
                    problems.append(Problem(path=child, reason="symbolic links are not graded"))
                elif child.is_file() and child.suffix in SUFFIXES:
                    found.append(Submission(student=student_id(child.stem), path=child))
                elif child.is_dir():
                    picked = pick(child, names)
                    if isinstance(picked, Problem):
                        problems.append(picked)
                    else:
                        found.append(Submission(student=student_id(child.name), path=picked,
                                                folder=child))
        else:
            problems.append(Problem(path=path, reason="no such file or folder"))
    seen: dict[str, Submission] = {}
    for sub in found:
        if sub.student in seen:
            problems.append(Problem(path=sub.path, reason=f"a second submission for student "
                                                          f"{sub.student!r}; not graded"))
        else:
            seen[sub.student] = sub
    return sorted(seen.values(), key=lambda s: s.student), problems


def pick(folder: Path, names: tuple[str, ...]) -> Path | Problem:
    """The file to grade in a student's folder, by the rule in this module's docstring."""
    files = [p for p in sorted(folder.iterdir())
             if p.is_file() and not p.is_symlink() and p.suffix in SUFFIXES]
    for name in names:
        for p in files:
            if p.name == name or p.stem == name:
                return p
    notebooks = [p for p in files if p.suffix == ".ipynb"]
    if len(notebooks) == 1:
        return notebooks[0]
    if not notebooks and len(files) == 1:
        return files[0]
    if not files:
        return Problem(path=folder, reason="no .ipynb or .py file in the folder")
    listed = ", ".join(p.name for p in (notebooks or files))
    return Problem(path=folder, reason=f"several candidate files ({listed}); name one in the "
                                       "rubric's submission_names")
