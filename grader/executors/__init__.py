"""Where a batch's submissions are graded: the executors, one module each, and their table.

:mod:`~grader.executors.protocol` says what an executor is and must guarantee;
:mod:`~grader.executors.local` grades in worker processes on this machine (with
:mod:`~grader.executors.worker`'s warm kernels), :mod:`~grader.executors.dask` on a Dask
cluster (with :mod:`~grader.executors.remote`'s warm grading processes). Adding an
executor is a module with a class that has the protocol's ``run``, and a line in
:data:`EXECUTORS`; ``grader grade --executor`` offers every name in it.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable

from grader.errors import GraderError
from grader.executors.protocol import (
    BatchOptions,
    Executor,
    Finished,
    Report,
    Task,
    default_jobs,
)

__all__ = ["EXECUTORS", "BatchOptions", "Executor", "Finished", "Report", "Task",
           "default_jobs", "executor"]


def _lazy(where: str) -> Callable[[], Executor]:
    """A maker of the executor class at ``module:Class``, imported only when called."""
    module, _, name = where.partition(":")

    def make() -> Executor:
        made: Executor = getattr(importlib.import_module(module), name)()
        return made

    return make


# The name ``--executor`` takes, and what makes that executor. Lazy: the Dask executor's
# module (and Dask) is imported only for a batch that chose it.
EXECUTORS: dict[str, Callable[[], Executor]] = {
    "local": _lazy("grader.executors.local:LocalExecutor"),
    "dask": _lazy("grader.executors.dask:DaskExecutor"),
}


def executor(name: str) -> Executor:
    """The executor called ``name`` in :data:`EXECUTORS`."""
    make = EXECUTORS.get(name)
    if make is None:
        raise GraderError(f"--executor {name!r}: one of {', '.join(EXECUTORS)}")
    return make()
