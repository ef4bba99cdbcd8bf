"""Grade a whole course: what is left to grade, the gradebook, pages, the CSV and progress.

The coordinating process (the ``grader grade`` command) finds what is left to grade,
hands the submissions to an executor (:mod:`grader.executors`: worker processes on this
machine, or a Dask cluster) and, as each one finishes, commits its row to the gradebook,
writes the student's page and the CSV, and moves the progress bar. Nothing a worker sends
back is more than our own plain data: a result as JSON text
(:func:`grader.gradebook.result_json`), never a pickle of anything a student made.
"""

from __future__ import annotations

import json
import os
import re
import sys
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import IO, Any, overload

import grader.timings as timings
from grader.atomic import atomic_write
from grader.course import CourseRecord, Intake, dated
from grader.errors import GraderError
from grader.executors import BatchOptions, Finished, Task, executor
from grader.export import course_table
from grader.gradebook import RETRY_OUTCOMES, Gradebook, Latest
from grader.kernel.oom import protect_from_oom
from grader.kernel.sandbox import Isolation
from grader.recheck import Rechecks
from grader.report import student_file, to_json, write_student
from grader.results import SubmissionResult
from grader.rubric import Rubric
from grader.settings import ExecutionSettings

# --------------------------------------------------------------------------- progress

# What must not reach a terminal raw: C0 and C1 controls (escape sequences, carriage
# returns, newlines that would fake a line), line separators and bidi overrides.
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f\u061c\u200e\u200f\u2028-\u202e\u2066-\u2069]")
_NAMED = {"\n": r"\n", "\r": r"\r", "\t": r"\t"}


def printable(text: object, *, lines: bool = False) -> str:
    r"""``text`` with its control characters escaped, to print on a terminal.

    An escape sequence's ESC shows as ``\x1b``, a newline as ``\n``: a file or student
    name prints as itself and cannot clear the screen or fake a line of output. With
    ``lines`` newlines are kept, for the grader's own messages of several lines.
    """
    if lines:
        return "\n".join(printable(line) for line in str(text).split("\n"))
    return _CONTROL.sub(_escape, str(text))


def _escape(match: re.Match[str]) -> str:
    char = match.group()
    code = ord(char)
    return _NAMED.get(char) or (f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}")


class Progress:
    """Plain output: one line per submission, for CI logs and pipes."""

    def __init__(self, total: int, out: Path, stream: IO[str] | None = None) -> None:
        self.total = total
        self.out = out
        self.stream = stream or sys.stdout
        self.count = 0
        self.failed = 0

    def _line(self, text: str) -> None:
        print(printable(text), file=self.stream, flush=True)

    def kept(self, result: SubmissionResult) -> None:
        """A submission graded before, with the same content and rubric."""
        self.count += 1
        self._line(f"[{self.count}/{self.total}] {result.student}: kept "
                   f"{result.score:g}/{result.max_score:g} (unchanged)")

    def graded(self, result: SubmissionResult) -> None:
        """A submission graded now."""
        self.count += 1
        if result.run.outcome != "ok":
            self.failed += 1
        self._line(f"[{self.count}/{self.total}] {result.student}: {_summary(result)} -> "
                   f"{student_file(self.out, result.student, '.html')}")

    def rechecked(self, result: SubmissionResult) -> None:
        """A submission checked again now from its stored answers, without a kernel."""
        self.count += 1
        self._line(f"[{self.count}/{self.total}] {result.student}: re-checked "
                   f"{result.score:g}/{result.max_score:g} (from stored answers)")

    def close(self) -> None:
        """Nothing to tidy up."""


def _summary(result: SubmissionResult) -> str:
    note = "" if result.run.outcome == "ok" else f" [{result.run.outcome}]"
    errors = f", {len(result.run.errors)} cell error(s)" if result.run.errors else ""
    return f"{result.score:g}/{result.max_score:g}{note}{errors}"


class RichProgress(Progress):
    """A progress bar with counts of graded, failed to run and remaining, and an ETA."""

    def __init__(self, total: int, out: Path, stream: IO[str] | None = None) -> None:
        super().__init__(total, out, stream)
        from rich import progress as bar
        from rich.console import Console

        self.console = Console(file=self.stream)
        self.bar = bar.Progress(
            bar.TextColumn("grading"), bar.BarColumn(), bar.MofNCompleteColumn(),
            bar.TextColumn("graded [green]{task.fields[graded]}[/] · failed to run "
                           "[red]{task.fields[failed]}[/] · remaining {task.fields[remaining]}"),
            bar.TextColumn("· ETA"), bar.TimeRemainingColumn(), bar.TextColumn("·"),
            bar.TimeElapsedColumn(), console=self.console)
        self.task = self.bar.add_task("grading", total=total, graded=0, failed=0,
                                      remaining=total)
        self.bar.start()

    def _update(self) -> None:
        self.bar.update(self.task, completed=self.count, graded=self.count - self.failed,
                        failed=self.failed, remaining=self.total - self.count)

    def kept(self, result: SubmissionResult) -> None:
        """Kept results count as done, without a line each."""
        self.count += 1
        self._update()
        # Kept results are not part of the speed estimate: restart its clock.
        self.bar.reset(self.task, total=self.total, completed=self.count,
                       graded=self.count - self.failed, failed=self.failed,
                       remaining=self.total - self.count)

    def rechecked(self, result: SubmissionResult) -> None:
        """Re-checked results move the bar, without a line each."""
        self.count += 1
        self._update()

    def graded(self, result: SubmissionResult) -> None:
        """Move the bar; a submission that did not run gets a line above it."""
        self.count += 1
        if result.run.outcome != "ok":
            self.failed += 1
            self.bar.console.print(printable(f"{result.student}: {_summary(result)}: "
                                             f"{result.run.message}"),
                                   markup=False, highlight=False)
        self._update()

    def close(self) -> None:
        """Stop redrawing the bar."""
        self.bar.stop()


def progress_for(total: int, out: Path, stream: IO[str] | None = None) -> Progress:
    """A progress bar on a terminal (when rich is installed), plain lines elsewhere."""
    stream = stream or sys.stdout
    if stream.isatty() and os.environ.get("TERM") != "dumb":
        try:
            return RichProgress(total, out, stream)
        except ImportError:
            pass
    return Progress(total, out, stream)


# --------------------------------------------------------------------------- the batch


@dataclass(frozen=True, kw_only=True)
class BatchReport:
    """What a batch did: graded now, kept from before, and every student's outcome.

    ``graded`` ran in a kernel now; ``rechecked`` were checked again from the answers
    their last kernel run left in the gradebook (``--resume`` after a check-only edit).
    ``outcomes`` are (student, run outcome) of every row of the course, by student
    (absent students' too); ``results`` the merged results of them all, read from the
    gradebook only when asked for (:class:`StoredResults`).
    """

    graded: tuple[str, ...]
    kept: tuple[str, ...]
    results: Sequence[SubmissionResult] = ()
    rechecked: tuple[str, ...] = ()
    outcomes: tuple[tuple[str, str], ...] = ()


class StoredResults(Sequence[SubmissionResult]):
    """The merged results of a graded folder, as its gradebook holds them when read.

    Its length is known without reading; iterating reads one result at a time (a
    :meth:`~grader.gradebook.Gradebook.streamed` pass), an index reads them all.
    """

    def __init__(self, out: Path, count: int) -> None:
        self.out = out
        self.size = count

    def __len__(self) -> int:
        return self.size

    def __iter__(self) -> Iterator[SubmissionResult]:
        with Gradebook.existing(self.out) as book:
            yield from book.streamed()

    @overload
    def __getitem__(self, index: int) -> SubmissionResult: ...

    @overload
    def __getitem__(self, index: slice) -> Sequence[SubmissionResult]: ...

    def __getitem__(self, index: int | slice) -> SubmissionResult | Sequence[SubmissionResult]:
        return list(self)[index]


_DEFAULT_OPTIONS = BatchOptions()  # frozen: one value serves every call


def grade_batch(subs: Sequence[Any], rubric: Rubric, *, out: Path,
                settings: ExecutionSettings, isolation: Isolation,
                options: BatchOptions = _DEFAULT_OPTIONS,
                write_page: Callable[[SubmissionResult], None] | None = None,
                progress: Progress | None = None,
                intake: Intake | None = None) -> BatchReport:
    """Grade ``subs`` into ``out``: gradebook rows, student pages, CSV and summary.

    Each result is committed to the gradebook and its page written as soon as it
    arrives; an interrupted batch keeps them, and ``options.resume`` skips them next
    time. ``grades.csv`` and the summary pages are written once, at the end, also after
    an interruption (rewriting the CSV per result made the coordinator O(N^2)), from a
    pass over the gradebook: the coordinator holds no result while the batch runs.

    With ``options.resume``, a submission whose files are unchanged but whose rubric is
    not is re-checked from its stored transcript when the kernel run it records is the
    one the rubric now asks for (:func:`grader.grade.regrade`); otherwise it runs again.
    Re-checks shared with forked processes are committed there (see
    :class:`~grader.recheck.Rechecks`): ``write_page`` is then called in such a process,
    and must keep no state of its own that the batch relies on.
    """
    from grader.grade import reproduce_command, submission_digest

    # Before any worker starts: they inherit it, and the kernels raise theirs to 1000.
    protect_from_oom()
    out.mkdir(parents=True, exist_ok=True)
    write = write_page or (lambda r: write_student(r, rubric, out))
    with Gradebook.in_folder(out) as book:
        book.claim(rubric)
        if intake is not None:  # the roster, times and what was not graded, for every view
            with book.transaction():
                intake.record(book.db, subs, rubric.late)
        before = book.graded()
        staff = book.staff()
        # Each student's stored result, read when asked for: the coordinator holds none
        # (holding them grew it with the course); the summary and the CSV are made at the
        # end from a pass over the gradebook. The kept pages, the re-checks' ``before`` and
        # --questions' stored verdicts are read from it, before a new row is committed.
        stored = Latest(book)
        by_student = {s.student: s for s in subs}
        todo: list[Any] = []
        replay: list[Any] = []
        kept: list[str] = []
        transcripts = book.with_transcripts() if options.resume or options.questions else set()
        limited: set[str] = set()  # --questions: only those are checked, the rest are kept
        for sub in subs:
            if options.only and sub.student not in options.only:
                continue  # --only: their stored results stay as they are
            row = before.get(sub.student)
            same = options.resume and row is not None and row.outcome not in RETRY_OUTCOMES \
                and row.content_sha256 == _digest(sub, submission_digest)
            if same and row is not None and row.rubric_digest == rubric.digest:
                kept.append(sub.student)
            elif options.questions and keeps_others(stored.get(sub.student), rubric,
                                                    _digest(sub, submission_digest)):
                limited.add(sub.student)
                # From the stored answers when they are of this run; else the kernel.
                (replay if sub.student in transcripts else todo).append(sub)
            elif same and sub.student in transcripts:
                replay.append(sub)
            elif options.resume and row is None and \
                    (legacy := _legacy(out, sub, rubric, submission_digest)) is not None:
                # A result file from a grader without a gradebook: take it in.
                book.record(legacy, started=legacy.graded_at, finished=legacy.graded_at,
                            executor="imported")
                kept.append(sub.student)
            else:
                todo.append(sub)

        def settle(done: Finished) -> tuple[SubmissionResult, str]:
            """The result and transcript to commit of ``done``, as the coordinator sees it."""
            sub = by_student[done.student]
            # The coordinator's view of where the files are (a cluster saw a copy).
            result = replace(done.result, submission=sub.shown,
                             command=reproduce_command(sub, rubric))
            if not options.questions:
                return result, done.transcript
            result = only_questions(result, stored.get(sub.student), options.questions,
                                    order=tuple(q.id for q in rubric.questions))
            if sub.student in limited and _partial(result, rubric):
                # Only the questions were checked, and the stored verdicts of the others
                # could not be kept (the files changed meanwhile): a row without them
                # must not stand as the student's grade.
                return _limited_failure(sub, rubric, result, options.questions), ""
            return result, done.transcript

        def record(done: Finished, how: str, into: Gradebook) -> SubmissionResult:
            """Commit ``done`` to the gradebook through ``into``; the result committed."""
            result, transcript = settle(done)
            into.record(result, started=done.started, finished=done.finished, executor=how,
                        transcript=transcript)
            return result

        def page(result: SubmissionResult, into: Gradebook) -> SubmissionResult:
            """Write the page of a committed result; the result as pages show it."""
            merged = dated(into.db, staff.apply(result))
            try:
                write(merged)
            except Exception as exc:  # the row is committed; a page can be redone
                _cannot_write(result.student, exc)
            return merged

        def commit_there(done: Finished, own: Gradebook) -> bool:
            """A re-checker's commit of its own result: the row, then the page, as here."""
            try:
                result = record(done, RECHECKED, own)
            except Exception:  # not committed: the coordinator commits it
                return False
            try:
                page(result, own)
            except Exception as exc:
                _cannot_write(done.student, exc)
            return True

        # Forked before the progress bar's thread starts (see Rechecks).
        rechecks = Rechecks(book, replay, rubric, stored, settings=settings,
                            isolation=isolation, workers=options.workers,
                            questions={s: options.questions for s in limited},
                            commit=commit_there)
        try:
            shown = progress or progress_for(
                sum(1 for s in subs if not options.only or s.student in options.only), out)
        except BaseException:
            rechecks.close()
            raise
        graded: list[str] = []
        rechecked: list[str] = []
        try:
            for sid in kept:
                shown_now = dated(book.db, staff.apply(stored[sid]))
                if _stale(out, shown_now):
                    # Kept from a grader that put pages beside the summary, or shown with
                    # another late penalty (the policy or the times changed): write it.
                    try:
                        write(shown_now)
                    except Exception as exc:
                        _cannot_write(sid, exc)
                shown.kept(shown_now)

            def commit(done: Finished, how: str = options.executor) -> None:
                sub = by_student[done.student]
                began = time.monotonic()
                if how == RECHECKED and sub.student in rechecks.committed:
                    # Its re-checker committed it and wrote its page (see Rechecks).
                    merged = dated(book.db, staff.apply(stored[sub.student]))
                else:
                    merged = page(record(done, how, book), book)
                (rechecked if how == RECHECKED else graded).append(sub.student)
                (shown.rechecked if how == RECHECKED else shown.graded)(merged)
                timings.add("reports", began)

            for sub, done in rechecks:
                if isinstance(done, Finished):
                    commit(done, RECHECKED)
                    continue
                if done:  # a bug of ours: say so; the submission is not lost
                    print(printable(f"grader: {sub.student} is run again: its stored answers "
                                    f"could not be re-checked ({done})"), file=sys.stderr)
                todo.append(sub)  # the kernel runs again: the stored run is not this one
            prefetch_until = len(todo) - max(1, options.workers)
            tasks = [Task.of(s, prefetch=i < prefetch_until,
                             questions=options.questions if s.student in limited else ())
                     for i, s in enumerate(todo)]
            executor(options.executor).run(tasks, rubric=rubric, settings=settings,
                                           isolation=isolation, options=options,
                                           report=commit)
        finally:
            rechecks.close()
            shown.close()
            with timings.phase("reports"):
                outcomes = write_course(out, rubric, book)
    return BatchReport(graded=tuple(graded), kept=tuple(kept), rechecked=tuple(rechecked),
                       results=StoredResults(out, len(outcomes)), outcomes=outcomes)


RECHECKED = "stored answers"  # the executor column of a row re-checked without a kernel


def chosen(subs: Sequence[Any], only: Iterable[str]) -> tuple[str, ...]:
    """The students ``--only`` names, checked against those found; GraderError naming others."""
    names = tuple(dict.fromkeys(n.strip() for n in only if n.strip()))
    found = {s.student for s in subs}
    unknown = [n for n in names if n not in found]
    if unknown:
        known = sorted(found)
        shown = ", ".join(known[:20]) + (f" and {len(known) - 20} more" if len(known) > 20
                                         else "")
        raise GraderError(f"--only: no submission of {', '.join(unknown)} among those found "
                          f"(students: {shown})")
    return names


def check_questions(rubric: Rubric, questions: Iterable[str]) -> tuple[str, ...]:
    """The question ids ``--questions`` names; GraderError naming any the rubric lacks."""
    names = tuple(dict.fromkeys(q.strip() for q in questions if q.strip()))
    ids = [q.id for q in rubric.questions]
    unknown = [q for q in names if q not in ids]
    if unknown:
        raise GraderError(f"--questions: {', '.join(unknown)} not in {rubric.path} "
                          f"(questions: {', '.join(ids)})")
    return names


def keeps_others(before: SubmissionResult | None, rubric: Rubric, digest: str) -> bool:
    """Whether ``--questions`` checks only those questions and keeps the others of ``before``.

    Only a stored result of the same files (``digest``) that ran, with a verdict for
    every question of ``rubric``, is kept from: anyone else is graded in full.
    """
    return before is not None and bool(digest) and before.submission_sha256 == digest and \
        before.run.outcome not in RETRY_OUTCOMES and \
        {q.id for q in rubric.questions} <= {q.id for q in before.questions}


def only_questions(result: SubmissionResult, before: SubmissionResult | None,
                   questions: Sequence[str], *, order: Sequence[str] = ()) -> SubmissionResult:
    """``result`` with the verdicts of questions not in ``questions`` kept from ``before``.

    Only a stored result of the same files is kept from (a student who handed in again,
    or was never graded, is graded in full). The run is the new one; the other
    questions' results are the stored ones, in ``order`` (the rubric's question ids; by
    default the new result's order). ``result`` may hold only ``questions`` (a run that
    checked only them). Where the stored result was graded with another rubric, it keeps
    that rubric's digest, so a later ``--resume`` grades the student in full again rather
    than keep a mixture.
    """
    if before is None or before.submission_sha256 != result.submission_sha256 or \
            before.run.outcome in RETRY_OUTCOMES:
        return result
    old = {q.id: q for q in before.questions}
    new = {q.id: q for q in result.questions}
    merged = tuple(new[i] if i in new and (i in questions or i not in old) else old[i]
                   for i in (order or tuple(new)) if i in new or i in old)
    digest = result.rubric_digest if before.rubric_digest == result.rubric_digest \
        else before.rubric_digest
    return replace(result, questions=merged, rubric_digest=digest,
                   score=round(sum(q.score for q in merged), 6))


def _partial(result: SubmissionResult, rubric: Rubric) -> bool:
    """Whether ``result`` lacks a verdict for some question of ``rubric``."""
    return not {q.id for q in rubric.questions} <= {q.id for q in result.questions}


def _limited_failure(sub: Any, rubric: Rubric, result: SubmissionResult,
                     questions: Sequence[str]) -> SubmissionResult:
    """A grader_error for a student checked on ``questions`` alone whose other verdicts are lost.

    The outcome is one ``--resume`` grades again, in full.
    """
    from grader.grade import failed_result
    from grader.results import RunLog

    message = (f"only --questions {', '.join(questions)} was checked, and the verdicts of "
               f"the other questions could not be kept: the submission's files changed "
               f"while it was graded; grade it again without --questions")
    failed = failed_result(sub, rubric, message)
    return replace(failed, submission=result.submission, command=result.command,
                   submission_sha256=result.submission_sha256,
                   run=RunLog(outcome="grader_error", message=message))


def _cannot_write(student: str, exc: Exception) -> None:
    print(printable(f"grader: could not write the page of {student}: "
                    f"{type(exc).__name__}: {exc}"), file=sys.stderr)


def _digest(sub: Any, digest: Callable[[Any], str]) -> str:
    try:
        return digest(sub)
    except OSError:
        return ""


def _legacy(out: Path, sub: Any, rubric: Rubric,
            digest: Callable[[Any], str]) -> SubmissionResult | None:
    # Older graders wrote <student>.json at the top of --out, beside the summary pages.
    for path in (student_file(out, sub.student, ".json"), out / f"{sub.student}.json"):
        try:
            data = json.loads(path.read_text("utf-8"))
            if data.get("submission_sha256") == _digest(sub, digest) and \
                    data.get("rubric_digest") == rubric.digest:
                return SubmissionResult.from_dict(data)
        except (OSError, ValueError, KeyError, TypeError):
            pass
    return None


def write_course(out: Path, rubric: Rubric, book: Gradebook) -> tuple[tuple[str, str], ...]:
    """Write ``grades.csv`` and the summary pages from a pass over the gradebook.

    One result at a time goes into the CSV and the summary's tallies (a few fields a
    student), so a course of any size takes the memory of one result and those. A failure
    of the summary is reported, never fatal: the CSV is written all the same. Returns
    (student, run outcome) of every row, by student.
    """
    from grader.summary import CourseSummary

    roster = CourseRecord(book.db).roster()
    table = course_table(rubric, roster)
    summary: CourseSummary | None = CourseSummary(rubric, roster)
    failure: Exception | None = None
    outcomes = []
    for r in book.streamed():
        table.add(r)
        outcomes.append((r.student, r.run.outcome))
        if summary is not None:
            try:
                summary.add(r)
            except Exception as exc:
                summary, failure = None, exc
    atomic_write(out / "grades.csv", table.text())
    if summary is not None:
        try:
            summary.write(out)
        except Exception as exc:
            failure = exc
    if failure is not None:
        print(printable(f"grader: could not write the summary pages: "
                        f"{type(failure).__name__}: {failure}"), file=sys.stderr)
    return tuple(outcomes)


def _stale(out: Path, result: SubmissionResult) -> bool:
    """Whether a kept student's page is missing or is not the page of ``result``.

    Its JSON, written after the HTML, is compared as text: another score, late penalty or
    override shows there, and so does a page pair an interrupted batch left half-written
    (a re-checker stopped between committing a row and writing its page).
    """
    try:
        written = student_file(out, result.student, ".json").read_text("utf-8")
    except (OSError, ValueError):
        return True
    return written != to_json(result)


# --------------------------------------------------------------------------- manual grades


@dataclass(frozen=True, kw_only=True)
class Merged:
    """What ``grader manual`` merged: grades of text answers, overrides, logged changes."""

    grades: int
    overrides: int
    withdrawn: int
    changes: int


def merge_manual(out: Path, csv_path: Path, rubric: Rubric,
                 write_page: Callable[[SubmissionResult], None] | None = None, *,
                 by: str = "") -> Merged:
    """Merge a TA's grades CSV into the gradebook of ``out`` and redo what shows them.

    ``by`` is who the regrade log names (default: the login of whoever runs it).
    """
    import getpass

    from grader.manual_csv import read_grades_csv

    write = write_page or (lambda r: write_student(r, rubric, out))
    who = by or getpass.getuser()
    with Gradebook.existing(out) as book:
        book.claim(rubric)
        rows = read_grades_csv(csv_path, rubric, book.results(), by=who)
        changes = book.set_staff(rows.manual, rows.overrides, withdrawn=rows.withdrawn, by=who)
        touched = ({g.student for g in rows.manual} | {o.student for o in rows.overrides}
                   | {s for s, _, _ in rows.withdrawn})
        staff, latest = book.staff(), Latest(book)
        for sid in sorted(touched):
            result = latest.get(sid)
            if result is not None:
                write(dated(book.db, staff.apply(result)))
        write_course(out, rubric, book)
    return Merged(grades=len(rows.manual), overrides=len(rows.overrides),
                  withdrawn=len(rows.withdrawn), changes=changes)
