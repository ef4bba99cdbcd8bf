"""The executor protocol: the batch needs nothing of an executor but its one call."""

from __future__ import annotations

import io
import shutil
import signal
import sqlite3
import subprocess
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import ClassVar

import pytest

from grader import executors
from grader.batch import Progress, grade_batch
from grader.cli import main
from grader.discover import discover
from grader.errors import GraderError
from grader.executors import BatchOptions, Finished, Report, Task
from grader.kernel.sandbox import Isolation
from grader.rubric import Rubric, load_rubric
from grader.settings import ExecutionSettings

ROOT = Path(__file__).parent.parent
MINI = Path(__file__).parent / "data" / "mini"
NAMES = ("good.ipynb", "wrong.ipynb", "good_module.py")


class ToyExecutor:
    """Grades nothing and starts no kernel: every task comes back failed, last first."""

    calls: ClassVar[list[dict[str, object]]] = []

    def run(self, tasks: Sequence[Task], *, rubric: Rubric, settings: ExecutionSettings,
            isolation: Isolation, options: BatchOptions, report: Report) -> None:
        ToyExecutor.calls.append({"students": [t.student for t in tasks],
                                  "options": options, "isolation": isolation})
        for task in reversed(tasks):  # results may come back in any order
            report(Finished.failed(task, rubric, f"toy executor: {task.student} not graded"))


@pytest.fixture
def toy(monkeypatch):
    """The executors' table with a toy one added, for this test alone."""
    ToyExecutor.calls = []
    monkeypatch.setattr(executors, "EXECUTORS", {**executors.EXECUTORS, "toy": ToyExecutor})
    return ToyExecutor


def _subs(tmp_path: Path) -> Path:
    subs = tmp_path / "subs"
    subs.mkdir()
    for name in NAMES:
        shutil.copy(MINI / "submissions" / name, subs / name)
    return subs


def _rows(out: Path) -> dict[str, tuple[str, str]]:
    db = sqlite3.connect(f"file:{out / 'gradebook.sqlite'}?mode=ro", uri=True)
    try:
        return {student: (outcome, executor) for student, outcome, executor in db.execute(
            "SELECT student, outcome, executor FROM results")}
    finally:
        db.close()


def test_the_batch_runs_on_any_executor_in_the_table(tmp_path, toy):
    rubric = load_rubric(MINI / "rubric.toml")
    found, _ = discover([_subs(tmp_path)])
    out = tmp_path / "out"
    isolation = Isolation(mode="none", reason="a test")
    options = BatchOptions(executor="toy", jobs=3)
    stream = io.StringIO()
    report = grade_batch(found, rubric, out=out, settings=rubric.execution,
                         isolation=isolation, options=options,
                         progress=Progress(len(found), out, stream))
    students = sorted(s.student for s in found)
    assert toy.calls == [{"students": students, "options": options, "isolation": isolation}]
    # Committed as each was reported: gradebook rows, pages, the CSV and the summary.
    assert sorted(report.graded) == students
    assert _rows(out) == {s: ("not_run", "toy") for s in students}
    assert all(f"toy executor: {s} not graded" in r.run.message
               for s, r in zip(students, report.results, strict=True))
    for s in students:
        assert (out / "students" / f"{s}.html").exists()
    assert (out / "grades.csv").read_text().count("\n") == len(students) + 1
    assert (out / "index.html").exists()
    assert stream.getvalue().count("[not_run]") == len(students)


def test_the_command_line_offers_every_executor_in_the_table(tmp_path, toy, capsys):
    out = tmp_path / "out"
    status = main(["grade", str(_subs(tmp_path)), "--rubric", str(MINI / "rubric.toml"),
                   "--out", str(out), "--executor", "toy", "--sandbox", "none"])
    assert status == 0
    assert len(toy.calls) == 1
    assert set(_rows(out).values()) == {("not_run", "toy")}
    assert "3 graded now" in capsys.readouterr().out


def test_an_executor_not_in_the_table_is_refused(tmp_path):
    with pytest.raises(GraderError, match="one of local, dask"):
        executors.executor("carrier-pigeon")
    with pytest.raises(SystemExit):
        main(["grade", str(tmp_path), "--rubric", "r.toml", "--executor", "carrier-pigeon"])


def test_every_executor_in_the_table_has_the_protocols_call():
    for name, make in executors.EXECUTORS.items():
        assert callable(make().run), name


def test_choosing_the_local_executor_imports_nothing_of_dask():
    code = ("import sys; from grader.executors import executor; executor('local'); "
            "print([m for m in ('distributed', 'dask', 'grader.executors.dask') "
            "if m in sys.modules])")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          check=True, cwd=ROOT)
    assert done.stdout.strip() == "[]"


@pytest.mark.kernel
def test_a_warm_pool_starts_kernel_after_kernel_in_its_thread():
    """Each kernel a pool starts in its thread and hands over answers within start-up.

    The thread's event loop is closed after each start: one kept would hold the handed
    kernel's sockets as registered, and a later socket given such a number would never
    be woken (a start waited out most of its start-up timeout: three submissions graded
    with --fresh-kernels -j 1 took 70 s).
    """
    from grader.executors.worker import WarmPool
    from grader.kernel import sandbox

    settings = ExecutionSettings(startup_timeout=20.0, preload=("json",))
    pool = WarmPool(settings, sandbox.resolve(settings.sandbox), 1, fork=False)
    try:
        for _ in range(4):
            began = time.monotonic()
            session = pool.take()
            assert session is not None, "the kernel did not start within its start-up timeout"
            # Half the start-up timeout: a stalled start would reach (most of) all of it.
            assert time.monotonic() - began < settings.startup_timeout / 2
            try:
                assert session.run_code("x = 1", timeout=10)[0] == "ok"
            finally:
                session.close()
            time.sleep(0.5)  # the next kernel's start, meanwhile, is done: as in a batch
    finally:
        pool.close()


@pytest.mark.kernel
@pytest.mark.parametrize("fork", [False, True], ids=["plain", "forked"])
def test_a_kernel_has_no_debugger_and_works_as_one_started_by_jupyter(fork):
    """Grading never debugs: a kernel goes without debugpy (its import was a tenth of a
    second of each start), whether forked or started on its own, and is otherwise the
    kernel it was: IPython, inline figures, a student's own error reported."""
    from grader.kernel import sandbox
    from grader.kernel.execute import KernelSession
    from grader.kernel.forkserver import ForkServer

    settings = ExecutionSettings()
    isolation = sandbox.resolve(settings.sandbox)
    server = ForkServer(settings, isolation).start() if fork else None
    try:
        session = KernelSession(settings, isolation=isolation, forkserver=server).start()
        try:
            status, outputs = session.run_code(
                "import sys, matplotlib\n"
                "print(sys.modules.get('debugpy'), type(get_ipython()).__name__,\n"
                "      matplotlib.get_backend())\n", timeout=30)
            assert status == "ok", outputs
            assert "".join(o.get("text", "") for o in outputs).split() == [
                "None", "ZMQInteractiveShell", "module://matplotlib_inline.backend_inline"]
            status, outputs = session.run_code("import debugpy", timeout=30)
            assert status == "error"
            assert [o.get("ename") for o in outputs] == ["ModuleNotFoundError"]
        finally:
            session.close()
    finally:
        if server is not None:
            server.close()


@pytest.mark.kernel
def test_a_forked_kernel_is_gone_when_its_kill_returns():
    """The fork server answers a SIGKILL once the kernel has ended: jupyter_client, finding
    it still alive, would sleep 0.1 s on every submission before it asked again."""
    from grader.kernel import sandbox
    from grader.kernel.execute import KernelSession
    from grader.kernel.forkserver import ForkServer

    settings = ExecutionSettings()
    isolation = sandbox.resolve(settings.sandbox)
    server = ForkServer(settings, isolation).start()
    try:
        for _ in range(4):  # a kernel may die before the next poll anyway: ask of several
            session = KernelSession(settings, isolation=isolation, forkserver=server).start()
            try:
                session.run_code("import time", timeout=10)
                process = session._client.km.provisioner.process
                assert process.poll() is None
                process.kill()
                assert process.poll() == -signal.SIGKILL
            finally:
                session.close()
    finally:
        server.close()
