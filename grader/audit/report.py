"""The audit's report: a table on the terminal, ``audit.html`` in the summary page's style.

Per answer: mutants generated, equivalent, killed (of which matched a named mistake, and
of which timed out), survived, not run, and the mutation score killed / (generated -
equivalent - not run); per question the same score over all its answers. Each survivor
is shown as a diff of the reference's line (``-``) and the mutant's (``+``) with its line
number, and the input on which it differs from the reference. The page is
self-contained like the summary's (inline CSS, no scripts) and autoescaped: the
reference's source is staff code, but nothing on a page is trusted to be HTML.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO

from grader.atomic import atomic_write
from grader.audit.mutants import OPERATORS
from grader.audit.run import KILLED, AnswerAudit, Audit, Verdict

PAGE = "audit.html"

COLUMNS = ("question", "answer", "mutants", "equivalent", "killed", "· matched",
           "· timeout", "survived", "not run", "score")


def percent(score: float | None) -> str:
    """A score as a whole percentage ("-" when there was nothing to score)."""
    return "-" if score is None else f"{100 * score:.0f}%"


def row(a: AnswerAudit) -> tuple[str, ...]:
    """An answer's line of the table."""
    return (a.question, a.answer, str(len(a.mutants)), str(a.count("equivalent")),
            str(a.count(*KILLED)), str(a.count("matched")), str(a.count("timeout")),
            str(a.count("survived")), str(a.count("not run")), percent(a.score))


def terminal(result: Audit) -> str:
    """The report as plain text: the table, the scores by question, each survivor."""
    audited = [a for a in result.answers if not a.skipped]
    rows = [COLUMNS, *(row(a) for a in audited)]
    widths = [max(len(r[i]) for r in rows) for i in range(len(COLUMNS))]
    lines = [f"Audit of {result.rubric.path.name}: {sum(len(a.mutants) for a in audited)} "
             f"mutants of {len(audited)} answer{'' if len(audited) == 1 else 's'} in "
             f"{result.seconds:.1f} s", ""]
    for r in rows:
        cells = [v.ljust(w) if i < 2 else v.rjust(w)
                 for i, (v, w) in enumerate(zip(r, widths, strict=True))]
        lines.append("  ".join(cells).rstrip())
    lines += ["", "score by question: " + " · ".join(
        f"{qid} {percent(score)}" for qid, score, _ in result.questions() if score is not None)]
    skipped = [a for a in result.answers if a.skipped]
    if skipped:
        lines += ["not audited: " + "; ".join(f"{a.question} {a.answer} ({a.skipped})"
                                               for a in skipped)]
    capped = [a for a in audited if a.capped]
    if capped:
        lines += ["capped by --max-mutants: " + ", ".join(
            f"{a.answer} ({a.capped} left out)" for a in capped)]
    for a in audited:
        for m, v in a.survivors():
            lines += ["", f"survived: {a.question} {a.answer}, line {m.line} [{m.operator}]",
                      f"  - {m.original}", f"  + {m.mutated}",
                      f"  {_differs(v)}"]
    return "\n".join(lines)


def _differs(v: Verdict) -> str:
    if v.suggestion.startswith(("[", "key ")) or " differs from " in v.suggestion:
        return f"differs from the reference: {v.suggestion}"
    return f"differs from the reference on {v.suggestion}"


def render(result: Audit) -> str:
    """The page ``audit.html``."""
    from grader.summary import _environment

    audited = [a for a in result.answers if not a.skipped]
    return str(_environment().get_template("audit.html.j2").render(
        rubric=result.rubric, result=result, questions=result.questions(), columns=COLUMNS,
        row=row, percent=percent, differs=_differs, operators=OPERATORS,
        audited=audited, total=sum(len(a.mutants) for a in audited),
        skipped=[a for a in result.answers if a.skipped]))


def write_page(result: Audit, out: Path) -> Path:
    """Write ``audit.html`` into ``out``; return its path."""
    out.mkdir(parents=True, exist_ok=True)
    path = out / PAGE
    atomic_write(path, render(result))
    return path


# --------------------------------------------------------------------------- progress


@contextmanager
def progress_for(stream: IO[str] | None = None
                 ) -> Iterator[Callable[[int], Callable[[Verdict], None]] | None]:
    """A progress bar on a terminal (None elsewhere: no bar in a CI log or a pipe).

    The bar is redrawn by the caller's ticks, never by a thread of its own: mutants run
    in forked processes, and a fork must not copy a thread holding a lock.
    """
    stream = stream or sys.stdout
    if not stream.isatty() or os.environ.get("TERM") == "dumb":
        yield None
        return
    from rich import progress as bar
    from rich.console import Console

    drawn = bar.Progress(
        bar.TextColumn("auditing"), bar.BarColumn(), bar.MofNCompleteColumn(),
        bar.TextColumn("killed [green]{task.fields[killed]}[/] · survived "
                       "[red]{task.fields[survived]}[/] · equivalent {task.fields[same]}"),
        bar.TextColumn("· ETA"), bar.TimeRemainingColumn(),
        console=Console(file=stream), auto_refresh=False, transient=False)
    counts: dict[str, int] = {}

    def start(total: int) -> Callable[[Verdict], None]:
        task = drawn.add_task("auditing", total=total, killed=0, survived=0, same=0)
        drawn.refresh()

        def tick(verdict: Verdict) -> None:
            counts[verdict.fate] = counts.get(verdict.fate, 0) + 1
            drawn.update(task, advance=1, killed=sum(counts.get(f, 0) for f in KILLED),
                         survived=counts.get("survived", 0), same=counts.get("equivalent", 0))
            drawn.refresh()

        return tick

    drawn.start()
    try:
        yield start
    finally:
        drawn.stop()
