"""The executor protocol: the one call a batch makes of whatever grades its submissions.

The coordinator (:func:`grader.batch.grade_batch`) knows nothing of processes, kernels or
clusters. It hands an :class:`Executor` the submissions left to grade as :class:`Task`
values, with the rubric, the execution settings, the sandbox and the
:class:`BatchOptions`, and a callback that takes each :class:`Finished` result. What
runs where is the executor's affair; the table of them is :data:`grader.executors.EXECUTORS`.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Generator, Mapping, Sequence
from contextlib import closing
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from grader.results import SubmissionResult
from grader.settings import ExecutionSettings
from grader.submission import Submission

if TYPE_CHECKING:
    from grader.kernel.sandbox import Isolation
    from grader.rubric import Rubric


@dataclass(frozen=True, kw_only=True)
class BatchOptions:
    """How a batch runs: the executor, its workers, and what may be kept from before."""

    jobs: int = 0  # local workers; 0: the number of cores
    warm: int = 1  # kernels each local worker keeps started ahead of need
    fork: bool = True  # fork kernels from a preloaded server; False: a new process each
    executor: str = "local"  # a name in grader.executors.EXECUTORS
    scheduler: Any = None  # dask: "tcp://HOST:8786" or a Client; None: a local cluster
    retries: int = 2  # dask: retries of a task that failed
    resume: bool = False  # keep results already graded for the same content and rubric
    only: tuple[str, ...] = ()  # grade these students only (--only); (): every one given
    questions: tuple[str, ...] = ()  # keep the stored verdicts of every other question
    # Local: kernels already starting for this batch's settings (a WarmPool), which the
    # batch's one worker takes over; the command starts one for a single submission
    # before it loads the rubric's reference. None: each worker starts its own.
    kernels: Any = None
    # Local: worker processes already starting (a grader.executors.local.WorkersAhead),
    # which a batch of as many workers with the same settings takes over; None: started
    # when the batch runs.
    ahead: Any = None

    @property
    def workers(self) -> int:
        """Submissions graded at once: ``jobs``, else the number of cores."""
        return self.jobs or default_jobs()


def default_jobs() -> int:
    """The number of cores this process may use."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # not on Linux
        return max(1, os.cpu_count() or 1)


@dataclass(frozen=True, kw_only=True)
class Task:
    """One submission for a worker, as plain data."""

    student: str
    path: str
    folder: str | None = None
    prefetch: bool = True  # start the next warm kernel when this one is taken
    # Question ids: check only these (--questions, the others' stored verdicts are kept);
    # empty: every question.
    questions: tuple[str, ...] = ()

    @classmethod
    def of(cls, sub: Submission, *, prefetch: bool = True,
           questions: tuple[str, ...] = ()) -> Task:
        """The task of grading ``sub`` (only ``questions``, when given)."""
        return cls(student=sub.student, path=str(sub.path),
                   folder=None if sub.folder is None else str(sub.folder), prefetch=prefetch,
                   questions=questions)

    def submission(self) -> Submission:
        """The submission this task grades."""
        return Submission(student=self.student, path=Path(self.path),
                          folder=None if self.folder is None else Path(self.folder))


@dataclass(frozen=True, kw_only=True)
class Finished:
    """A graded submission back in the coordinator, with when its grading ran."""

    student: str
    result: SubmissionResult
    started: str
    finished: str
    # The kernel run's transcript as JSON text (grader.transcript), for the gradebook;
    # empty when no kernel ran. It is stored as text and read back only by the codec.
    transcript: str = ""

    def to_dict(self) -> dict[str, Any]:
        """The result and its times as plain JSON data (see :meth:`from_dict`)."""
        return {"result": self.result.to_dict(), "started": self.started,
                "finished": self.finished, "transcript": self.transcript}

    def to_json(self) -> str:
        """What a worker sends back: the result and its times as JSON text (see from_json)."""
        return json.dumps(self.to_dict(), ensure_ascii=False, allow_nan=False, default=str)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Finished:
        """Read :meth:`to_dict`'s data (keys it does not know are ignored)."""
        result = SubmissionResult.from_dict(data["result"])
        transcript = data.get("transcript", "")
        return cls(student=result.student, result=result, started=data["started"],
                   finished=data["finished"],
                   transcript=transcript if isinstance(transcript, str) else "")

    @classmethod
    def from_json(cls, text: str) -> Finished:
        """Read what a worker sent back: a result and its times as JSON text, never a pickle."""
        return cls.from_dict(json.loads(text))

    @classmethod
    def failed(cls, task: Task, rubric: Rubric, message: str) -> Finished:
        """A zero result for ``task`` that says why the grader could not grade it."""
        from grader.grade import failed_result
        from grader.gradebook import now

        stamp = now()
        return cls(student=task.student, started=stamp, finished=stamp,
                   result=failed_result(task.submission(), rubric, message))


Report = Callable[[Finished], None]


class Executor(Protocol):
    """Grades a batch's tasks somewhere and hands each result on as it finishes.

    What every executor guarantees, whatever it runs on:

    - **Results as they finish.** ``report`` is called once per task, in the calling
      thread, as soon as that task's result is back (in any order), never all at the end:
      the coordinator commits each one, so an interrupted batch keeps them.
    - **One broken submission never stops the batch.** A submission that crashes its
      kernel, its worker or the grader comes back as a failed result
      (:meth:`Finished.failed`) saying why; the other tasks go on.
    - **No unbounded waits.** A worker that hangs or will not leave is given up after a
      bound (the run's deadline with a margin, then a grace to stop) and killed; when
      ``report`` or the caller raises (Ctrl-C), the executor stops its workers before the
      exception leaves :meth:`run`.
    - **Only plain data from workers.** What comes back is our own result as JSON text
      (:meth:`Finished.from_json`), never a pickle of anything a student made.

    An executor may ignore what it has no use for (a cluster resolves its own sandbox on
    each worker; ``isolation`` is this machine's).
    """

    def run(self, tasks: Sequence[Task], *, rubric: Rubric, settings: ExecutionSettings,
            isolation: Isolation, options: BatchOptions, report: Report) -> None:
        """Grade ``tasks``; call ``report`` with each one's result as it finishes."""


def deliver(results: Generator[Finished, None, None], report: Report) -> None:
    """Hand each of ``results`` to ``report``, and close ``results`` whatever happens.

    Closing an executor's generator at once, on an exception too, is what stops its
    workers rather than leaving that to the garbage collector.
    """
    with closing(results) as each:
        for done in each:
            report(done)
