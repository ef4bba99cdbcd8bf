"""Re-check submissions from the answers their last kernel run left in the gradebook.

``grader grade --resume`` after a rubric edit that changes only checks (tolerances,
mistakes, points, feedback) grades a submission again from its stored transcript, without
a kernel (:func:`grader.grade.regrade`). Each result is committed to the gradebook and
its page written; on a machine with more than one core the re-checks run in forked
processes of the coordinator as well as in it (:class:`Rechecks`), and a re-checker
commits what it re-checks itself, the row and then the page, as the coordinator does: a
page costs about half as much as a re-check, and left to the coordinator alone the pages
made it the batch's bottleneck.

A forked re-checker is the grader's own code on data the grader stored: it reads
transcripts through a gradebook connection of its own and sends each result back as JSON
text (the form worker processes use, :meth:`Finished.from_json`), never a pickle. A
submission it could not re-check, or one it never sent back (it died), is re-checked by
the coordinator itself; what cannot be re-checked from stored answers runs in a kernel.
"""

from __future__ import annotations

import json
import os
import selectors
import signal
import sys
from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import Any

from grader.executors import Finished
from grader.executors.protocol import default_jobs
from grader.gradebook import Gradebook, now
from grader.kernel.sandbox import Isolation
from grader.results import SubmissionResult
from grader.rubric import Rubric
from grader.settings import ExecutionSettings

MIN_FORKED = 8  # fewer re-checks than this are not worth a process: do them in place
_GIVE_UP = "rerun"  # a message's key: this submission is run in a kernel instead
_COMMITTED = "committed"  # a message's key: true when the re-checker committed the result
_LOCK_TIMEOUT = 10.0  # seconds


def recheck_one(book: Gradebook, sub: Any, rubric: Rubric,
                before: SubmissionResult, settings: ExecutionSettings, isolation: Isolation,
                questions: tuple[str, ...] = ()) -> Finished | str:
    """``sub`` checked again from its stored transcript, or why it must run in a kernel.

    With ``questions``, only their checks (see :func:`grader.grade.regrade`). The reason is
    empty when the transcript is missing, malformed, changed since it was stored, or of a
    kernel run other than the one the rubric and settings now make (a stored blob is never
    trusted past what the codec reads of it), and names the error when a bug of ours
    stopped the re-check.
    """
    from grader.errors import TranscriptError
    from grader.grade import regrade

    started = now()
    try:
        transcript = book.transcript(sub.student)
        result = regrade(sub, rubric, transcript, before.run, settings=settings,
                         isolation=isolation, questions=questions)
    except TranscriptError:
        return ""
    except Exception as exc:  # a bug of ours here must not lose the submission: run it
        return f"{type(exc).__name__}: {exc}"
    return Finished(student=sub.student, result=result, started=started, finished=now(),
                    transcript=transcript.to_json())


class Rechecks:
    """Re-check ``subs``, sharing the work with forked processes when there is enough.

    Iterating yields ``(submission, Finished | str)`` as each is done, in no set order;
    a string is why the submission must run in a kernel (see :func:`recheck_one`).
    ``workers - 1`` processes fork at construction, before the coordinator starts any
    thread of its own (a progress bar's): a fork copies only the thread that forks. The
    submissions are put in the order of what their stored results received
    (:meth:`Gradebook.received`), so that students who gave the same answers stand side
    by side, and each process is given one run of that order: the first comparison of an
    answer is the costly one (a symbolic one samples the expression), and later ones are
    remembered in the process that made it, so an answer is compared afresh in about one
    process rather than in each. A process takes the next submission of its own run, and
    when that is done the last one of the run with the most left, all through memory
    shared with the re-checkers: the coordinator re-checks whenever no result waits to be
    committed, and the work stays balanced however long each part takes. What a
    re-checker took but never sent (it died) is re-checked by the coordinator at the end.

    ``commit(done, book)``, when given, commits a result in the re-checker that made it,
    through the re-checker's own connection to the gradebook, and says whether it did;
    :attr:`committed` holds the students whose result a re-checker committed and then
    sent, so that the coordinator does not commit it again. A result committed but never
    sent is in the gradebook all the same (the batch was interrupted meanwhile), or is
    re-checked and committed again in place (its re-checker died, or its line was lost).
    """

    def __init__(self, book: Gradebook, subs: Sequence[Any], rubric: Rubric,
                 before: Mapping[str, SubmissionResult], *, settings: ExecutionSettings,
                 isolation: Isolation, questions: Mapping[str, tuple[str, ...]],
                 workers: int,
                 commit: Callable[[Finished, Gradebook], bool] | None = None) -> None:
        self.book = book
        self.subs = list(subs)
        self.rubric = rubric
        self.before = before
        self.settings = settings
        self.isolation = isolation
        self.questions = questions
        self.commit = commit
        self.committed: set[str] = set()
        self.children: dict[int, int] = {}  # read end -> pid
        self._reading: set[int] = set()  # the read ends _shared has taken over
        self.runs: Any = None  # each process's run of subs: [start, end) by process
        # The cores, not -j or a cluster's size: more re-checkers than cores would only
        # share them, and push comparisons towards their wall-clock limit. Linux only:
        # elsewhere a fork after numpy's and the system's libraries loaded is not safe.
        forks = min(workers, default_jobs()) - 1 \
            if sys.platform == "linux" and len(self.subs) >= MIN_FORKED else 0
        forks = min(forks, len(self.subs) // (MIN_FORKED // 2))
        if forks > 0:
            import multiprocessing

            self.subs = _side_by_side(book, self.subs)
            # What is left to take of each process's run, in memory shared with the
            # re-checkers; the coordinator's is the first. A run whose fork failed is
            # taken from its end by the others.
            self.runs = multiprocessing.get_context("fork").Array(
                "l", _runs(len(self.subs), forks + 1))
            for me in range(1, forks + 1):
                try:
                    self._fork(me)
                except OSError:  # no process or pipe to be had: fewer re-checkers, then
                    break

    def take(self, me: int = 0) -> int:
        """The index of the next submission nobody has taken (``len(subs)`` when none).

        ``me`` is the taking process (0 the coordinator, then the re-checkers in turn):
        the first of its own run, else the last of the run with the most left.
        """
        if self.runs is None:
            return len(self.subs)
        lock = self.runs.get_lock()
        # A re-checker killed while it held the lock must not hang the rest: whoever
        # cannot take stops taking, and the coordinator re-checks what was never sent.
        if not lock.acquire(timeout=_LOCK_TIMEOUT):
            return len(self.subs)
        try:
            runs = self.runs.get_obj()
            if runs[2 * me] < runs[2 * me + 1]:
                runs[2 * me] += 1
                return int(runs[2 * me]) - 1
            most = max(range(len(runs) // 2), key=lambda k: runs[2 * k + 1] - runs[2 * k])
            if runs[2 * most] < runs[2 * most + 1]:
                runs[2 * most + 1] -= 1
                return int(runs[2 * most + 1])
        finally:
            lock.release()
        return len(self.subs)

    def __iter__(self) -> Iterator[tuple[Any, Finished | str]]:
        if not self.children:
            for sub in self.subs:
                yield sub, self._here(sub)
            return
        by_student = {s.student: s for s in self.subs}
        sent: set[str] = set()
        try:
            for student, done, committed in self._shared():
                sub = by_student.get(student)
                if sub is None or student in sent:
                    continue  # a line naming nobody we gave out, or a second time
                sent.add(student)
                if committed and isinstance(done, Finished):
                    self.committed.add(student)
                yield sub, (self._here(sub) if done is None else done)
        finally:
            self.close()
        for sub in self.subs:  # taken by a re-checker that died before it sent them
            if sub.student not in sent:
                yield sub, self._here(sub)

    def _shared(self) -> Iterator[tuple[str, Finished | str | None, bool]]:
        """What the re-checkers send, and between their lines what this process does."""
        # Read unbuffered: a line read ahead into a file object's buffer would wait there
        # unseen by select while this process re-checks its own.
        pending = {fd: b"" for fd in self.children}
        with selectors.DefaultSelector() as sel:
            for fd in pending:
                sel.register(fd, selectors.EVENT_READ)
                self._reading.add(fd)
            try:
                while pending:
                    ready = sel.select(timeout=0)
                    if not ready:
                        mine = self.take()
                        if mine < len(self.subs):
                            sub = self.subs[mine]
                            yield sub.student, self._here(sub), False
                            continue
                        ready = sel.select()  # all taken: wait for the re-checkers
                    for key, _ in ready:
                        chunk = os.read(key.fd, 1 << 16)
                        if not chunk:  # end of file: that re-checker is done (or died)
                            sel.unregister(key.fd)
                            del pending[key.fd]
                            self._done(key.fd)
                            continue
                        *lines, pending[key.fd] = (pending[key.fd] + chunk).split(b"\n")
                        for line in lines:
                            yield self._read(line)
            finally:
                for fd in pending:
                    self._done(fd)

    def _here(self, sub: Any) -> Finished | str:
        return recheck_one(self.book, sub, self.rubric, self.before[sub.student],
                           self.settings, self.isolation, self.questions.get(sub.student, ()))

    @staticmethod
    def _read(line: bytes) -> tuple[str, Finished | str | None, bool]:
        """A re-checker's line: the student; the result, why it gives up, or None (the
        line cannot be read: the coordinator re-checks that student itself); and whether
        the re-checker committed the result."""
        try:
            data = json.loads(line.decode("utf-8", "surrogatepass"))
        except ValueError:
            return "", None, False
        if isinstance(data, dict) and _GIVE_UP in data:
            student = data.get("student")
            return (student, str(data[_GIVE_UP]), False) if isinstance(student, str) \
                else ("", None, False)
        try:
            done = Finished.from_dict(data)
        except (ValueError, KeyError, TypeError, AttributeError):
            # Unreadable: re-checked in place, if the line says whose it is.
            result = data.get("result") if isinstance(data, dict) else None
            student = result.get("student") if isinstance(result, dict) else None
            return (student if isinstance(student, str) else ""), None, False
        return done.student, done, data.get(_COMMITTED) is True

    def _fork(self, me: int) -> None:
        read, write = os.pipe()
        try:
            pid = os.fork()
        except OSError:
            os.close(read)
            os.close(write)
            raise
        if pid == 0:  # the re-checker
            code = 1
            try:
                os.close(read)
                for other in self.children:  # the other re-checkers' pipes are not ours
                    os.close(other)
                signal.signal(signal.SIGINT, signal.SIG_DFL)  # Ctrl-C ends it at once
                code = _recheck_into(write, self, me)
            finally:
                os._exit(code)  # no finalizers: the coordinator's connection is not ours
        os.close(write)
        self.children[read] = pid

    def _done(self, fd: int) -> None:
        """Close a re-checker's read end and wait for it (killed first when not done)."""
        pid = self.children.pop(fd, None)
        os.close(fd)
        if pid is not None:
            try:
                if os.waitpid(pid, os.WNOHANG) == (0, 0):
                    os.kill(pid, signal.SIGKILL)
                    os.waitpid(pid, 0)
            except (ChildProcessError, ProcessLookupError):
                pass

    def close(self) -> None:
        """Stop the re-checkers still running (an interrupted batch, or one never read)."""
        for fd in list(self.children):
            if fd not in self._reading:  # _shared closes those it took over
                self._done(fd)
        for pid in list(self.children.values()):
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass


def _side_by_side(book: Gradebook, subs: Sequence[Any]) -> list[Any]:
    """``subs`` in the order of what their stored results received (see :class:`Rechecks`)."""
    try:
        received = book.received()
    except Exception:  # an order is worth no failure: keep the one given
        return list(subs)
    return sorted(subs, key=lambda s: received.get(s.student, ()))


def _runs(n: int, processes: int) -> list[int]:
    """``[start, end, start, end, ...]``: ``range(n)`` cut into one run per process."""
    cuts = [n * k // processes for k in range(processes + 1)]
    return [x for k in range(processes) for x in (cuts[k], cuts[k + 1])]


def _recheck_into(fd: int, shared: Rechecks, me: int) -> int:
    """Re-check, in a forked process, what it takes of ``shared``: a JSON line each on ``fd``."""
    # A connection of its own: one opened before a fork must not be used after it.
    book = Gradebook(shared.book.path)
    with os.fdopen(fd, "wb") as out:
        while (i := shared.take(me)) < len(shared.subs):
            sub = shared.subs[i]
            done = recheck_one(book, sub, shared.rubric, shared.before[sub.student],
                               shared.settings, shared.isolation,
                               shared.questions.get(sub.student, ()))
            if isinstance(done, Finished):
                committed = shared.commit is not None and shared.commit(done, book)
                line = json.dumps({**done.to_dict(), _COMMITTED: committed},
                                  ensure_ascii=False, allow_nan=False, default=str)
            else:
                line = json.dumps({"student": sub.student, _GIVE_UP: done})
            # surrogatepass: what the in-place path would take, crosses unchanged
            out.write(line.encode("utf-8", "surrogatepass") + b"\n")
            out.flush()
    book.db.close()
    return 0
