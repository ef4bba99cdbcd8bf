"""Read a submission as a notebook: notebooks as they are, modules split into cells.

Notebooks are read and validated with nbformat; modules are split into cells at their
top-level statements so that, as in a notebook, an exception in one statement does not
stop the rest.
"""

from __future__ import annotations

import ast
import io
import json
import re
import tokenize
from dataclasses import dataclass
from typing import Any

from grader.kernel.cells import strip_ansi
from grader.kernel.wire import scrubbed
from grader.submission import Submission

_CELL_MARK = re.compile(r"^# ?%%", re.MULTILINE)
SUFFIXES = (".ipynb", ".py")


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
    clean = scrubbed(raw_json, text)
    if clean is not raw_json:  # a lone surrogate in a cell: no UTF-8 writer would take it
        raw_json, text = clean, json.dumps(clean)
    version = raw_json.get("nbformat") if isinstance(raw_json, dict) else None
    # nbformat guesses version 2 for a file without the key; we refuse to guess.
    if version not in (3, 4):
        return LoadedNotebook(nb=None, error="unreadable notebook: no supported nbformat "
                                             f"version (found {version!r}; 3 or 4 expected)")
    try:
        # reads validates the notebook it converts (a second validate doubled the cost of
        # loading one); the failure is captured rather than only logged.
        invalid: dict[str, Exception] = {}
        nb = nbformat.reads(text, as_version=4, capture_validation_error=invalid)
        if "ValidationError" in invalid:
            raise invalid["ValidationError"]
    except Exception as exc:  # nbformat raises many types (JSON, schema, KeyError, ...)
        reason = strip_ansi(str(exc)).strip().splitlines()
        first = reason[0] if reason else type(exc).__name__
        return LoadedNotebook(
            nb=None, error=f"unreadable notebook ({type(exc).__name__}): {first[:300]}")
    return LoadedNotebook(nb=nb)


def markdown_cells(submission: Submission) -> list[dict[str, Any]] | None:
    """A v4 notebook's markdown cells, read as JSON without nbformat; a module has none.

    For a file that has read as a notebook before, byte for byte (a regrade checks its
    digest against the transcript's): the cells :func:`load_notebook` would give, their
    sources joined as nbformat joins them, at a fraction of the cost (importing nbformat
    and compiling its schema take a tenth of a second in a fresh process). None for what
    this reader does not take (another nbformat version, an odd cell): load it in full.
    """
    if not submission.is_notebook:
        return []
    try:
        text = submission.path.read_bytes().decode("utf-8")
        raw = json.loads(text)
    except (OSError, UnicodeDecodeError, ValueError):
        return None
    if not isinstance(raw, dict) or raw.get("nbformat") != 4 \
            or not isinstance(raw.get("cells"), list):
        return None
    raw = scrubbed(raw, text)
    cells: list[dict[str, Any]] = []
    for cell in raw["cells"]:
        if not isinstance(cell, dict):
            return None
        if cell.get("cell_type") != "markdown":
            continue
        source = cell.get("source", "")
        if isinstance(source, list) and all(isinstance(line, str) for line in source):
            source = "".join(source)
        elif not isinstance(source, str):
            return None
        cells.append({**cell, "source": source})
    return cells


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
