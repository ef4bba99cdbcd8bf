"""The Dask executor: a local cluster of two worker processes grades like the local one."""

from __future__ import annotations

import io
import os
import shutil
import signal
from pathlib import Path

import pytest

from grader.batch import Progress, grade_batch
from grader.discover import discover
from grader.executors import BatchOptions
from grader.gradebook import Gradebook
from grader.kernel import sandbox
from grader.results import SubmissionResult
from grader.rubric import load_rubric

distributed = pytest.importorskip("distributed")

MINI = Path(__file__).parent / "data" / "mini"
# The unreadable one finishes first; a worker is then killed in the middle of another.
NAMES = ("good.ipynb", "wrong.ipynb", "broken.ipynb")


def _verdicts(out: Path) -> dict[str, object]:
    with Gradebook.existing(out) as book:
        return {r.student: (r.score, r.run.outcome, [
            (q.id, q.score, q.status, [(c.answer, c.status, c.score, c.mistake, c.received,
                                        c.message) for c in q.checks])
            for q in r.questions]) for r in book.results()}


class _KillOneWorker(Progress):
    """After the first result, SIGKILL a worker process that holds a task."""

    def __init__(self, client: object, out: Path) -> None:
        super().__init__(len(NAMES), out, io.StringIO())
        self.client = client
        self.killed: list[str] = []

    def graded(self, result: SubmissionResult) -> None:
        super().graded(result)
        if self.killed:
            return
        busy = [addr for addr, keys in self.client.processing().items() if keys]
        if busy:
            pid = self.client.run(os.getpid, workers=busy[:1])[busy[0]]
            os.kill(pid, signal.SIGKILL)
            self.killed.append(busy[0])


@pytest.mark.kernel
def test_dask_cluster_grades_like_the_local_executor_and_survives_a_lost_worker(tmp_path):
    subs = tmp_path / "subs"
    subs.mkdir()
    for name in NAMES:
        shutil.copy(MINI / "submissions" / name, subs / name)
    rubric = load_rubric(MINI / "rubric.toml")
    settings = rubric.execution
    isolation = sandbox.resolve(settings.sandbox)
    found, _ = discover([subs])
    quiet = io.StringIO()
    grade_batch(found, rubric, out=tmp_path / "local", settings=settings, isolation=isolation,
                options=BatchOptions(jobs=1),
                progress=Progress(len(found), tmp_path / "local", quiet))
    with distributed.LocalCluster(n_workers=2, processes=True, threads_per_worker=1,
                                  dashboard_address=None) as cluster, \
            distributed.Client(cluster) as client:
        killer = _KillOneWorker(client, tmp_path / "dask")
        report = grade_batch(found, rubric, out=tmp_path / "dask", settings=settings,
                             isolation=isolation,
                             options=BatchOptions(executor="dask", scheduler=client,
                                                  retries=2),
                             progress=killer)
    assert killer.killed, "no worker was busy to be killed"
    assert sorted(report.graded) == sorted(s.student for s in found)
    assert _verdicts(tmp_path / "dask") == _verdicts(tmp_path / "local")
    with Gradebook.existing(tmp_path / "dask") as book:
        assert set(book.gradings().values()) == {1}
        # Paths are the TA's, not the worker's temporary copy.
        assert {r.submission for r in book.results()} == {str(s.path) for s in found}
