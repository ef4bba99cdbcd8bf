"""The ``dask`` executor: each submission a task on a Dask distributed cluster.

Each task is sent with the files it needs (the submission's, the rubric's, the
reference's) as plain data (:mod:`grader.executors.remote`). On the worker the task
grades in a fresh ``python -m grader.executors.remote`` process (main thread, a hard
deadline, nothing left behind) and returns the result's JSON. Dask moves the tasks of a
worker that is lost to the others, and ``retries`` retries a task that failed. Dask
itself is imported only when this executor runs.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import subprocess
import sys
from collections.abc import Generator, Sequence
from typing import TYPE_CHECKING, Any

from grader.errors import GraderError
from grader.executors.protocol import (
    BatchOptions,
    Finished,
    Report,
    Task,
    default_jobs,
    deliver,
)
from grader.executors.remote import COMMAND, bundle, payload
from grader.executors.worker import task_limit
from grader.gradebook import now
from grader.settings import ExecutionSettings

if TYPE_CHECKING:
    from grader.kernel.sandbox import Isolation
    from grader.rubric import Rubric


class DaskExecutor:
    """Grades on a Dask cluster: ``options.scheduler``, or a local one of ``-j`` workers."""

    def run(self, tasks: Sequence[Task], *, rubric: Rubric, settings: ExecutionSettings,
            isolation: Isolation, options: BatchOptions, report: Report) -> None:
        """Grade ``tasks`` as cluster tasks; report each as it comes back.

        ``isolation`` is unused: each worker machine resolves its own sandbox.
        """
        deliver(run_dask(tasks, rubric=rubric, settings=settings, scheduler=options.scheduler,
                         retries=options.retries, jobs=options.jobs), report)


def grade_remote(packed: dict[str, Any], files: dict[str, Any],
                 settings: dict[str, Any]) -> str:
    """A Dask task: grade one submission in a fresh ``python -m grader.executors.remote``.

    Returns the result's JSON text; raises (and Dask retries) only when that process
    fails, which no submission can cause on its own.
    """
    request = json.dumps({"bundle": packed, "payload": files, "settings": settings})
    limit = task_limit(float(settings.get("timeout", 600)),
                       float(settings.get("startup_timeout", 60)))
    done = subprocess.run([sys.executable, *COMMAND], input=request.encode(),
                          capture_output=True, timeout=limit, check=False)
    if done.returncode != 0:
        tail = done.stderr.decode("utf-8", "replace").strip().splitlines()[-5:]
        raise RuntimeError(f"grading process exited {done.returncode}: " + " | ".join(tail))
    return done.stdout.decode("utf-8")


def run_dask(tasks: Sequence[Task], *, rubric: Rubric, settings: ExecutionSettings,
             scheduler: Any, retries: int = 2, jobs: int = 0
             ) -> Generator[Finished, None, None]:
    """Grade ``tasks`` on a Dask cluster; yield each as it comes back.

    ``scheduler`` is an address (``tcp://HOST:8786``), a ``distributed.Client``, or None
    for a local cluster of ``jobs`` worker processes.
    """
    try:
        from distributed import Client, LocalCluster, as_completed
    except ImportError:
        raise GraderError("--executor dask needs Dask: pip install 'grader[dask]'") from None
    if not tasks:
        return
    with contextlib.ExitStack() as stack:
        if isinstance(scheduler, Client):
            client = scheduler
        elif scheduler is None:
            cluster = stack.enter_context(LocalCluster(
                n_workers=jobs or default_jobs(), threads_per_worker=1, processes=True,
                dashboard_address=None))
            client = stack.enter_context(Client(cluster))
        else:
            try:
                client = stack.enter_context(Client(scheduler, timeout="30s"))
            except (OSError, TimeoutError) as exc:
                raise GraderError(f"cannot reach the Dask scheduler {scheduler}: {exc}") \
                    from None
        packed = bundle(rubric)
        settings_data = dataclasses.asdict(settings)
        futures = {}
        for task in tasks:
            future = client.submit(grade_remote, packed, payload(task), settings_data,
                                   key=f"grade-{task.student}-{rubric.digest[:12]}-{now()}",
                                   retries=retries, pure=False)
            futures[future] = task
        for future in as_completed(list(futures)):
            task = futures[future]
            try:
                yield Finished.from_json(future.result())
            except Exception as exc:  # retries used up, or the task was lost too often
                yield Finished.failed(task, rubric, f"grader error on the cluster: "
                                                    f"{type(exc).__name__}: {exc}")
            finally:
                future.release()
