"""What a cell leaves behind, kept within bounds: its error, its figures, their text.

A failing cell becomes a :class:`~grader.results.CellError` with its source and traceback
clipped; past :data:`MAX_CELL_ERRORS` failing cells only their count by kind is kept.
Figures are the PNG and SVG images a cell displayed, up to a count and a size.
"""

from __future__ import annotations

import re
from typing import Any

from grader.results import CellError, Figure

_ANSI = re.compile(r"\x1b\[[0-9;?]*[ -/]*[@-~]")
_TRACEBACK_LINES = 40


def strip_ansi(text: str) -> str:
    """Remove terminal colour codes (IPython colours its tracebacks)."""
    return _ANSI.sub("", text)


_MAX_FIGURES = 20
_MAX_FIGURE_BYTES = 2_000_000


def cell_figures(index: int, cell: Any, names: tuple[str, ...], have: int) -> list[Figure]:
    """The PNG and SVG images cell ``index`` displayed, while the run has room for them.

    ``have`` figures are kept already; each new one names those of ``names`` (answers)
    that its cell's source mentions.
    """
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


def cell_error(index: int, cell: Any, status: str, cell_timeout: float) -> CellError:
    """The entry of a cell that raised or ran past its timeout, clipped to the bounds."""
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


def stopped_error(index: int, cell: Any, ename: str, evalue: str, traceback: str = ""
                  ) -> CellError:
    """The entry of the cell in which the run stopped: the kernel died, the time ran out."""
    return CellError(index=index, source=_clip(cell.get("source", "")), ename=ename,
                     evalue=evalue, traceback=traceback)
