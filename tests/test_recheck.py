"""Re-checks from stored answers shared with forked processes (grader.recheck).

Without kernels: the sharing itself (every submission once, whatever the number of
re-checkers; one that dies loses nothing; stopping early stops them). With kernels,
through ``grader grade --resume`` as a TA runs it: the forked path's results and pages are
the in-place path's.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import sqlite3
import time
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

import grader.recheck as recheck
import grader.report as report
from grader.cli import main
from grader.executors import Finished
from grader.gradebook import Gradebook
from grader.kernel.sandbox import Isolation
from grader.recheck import Rechecks
from grader.results import CheckResult, QuestionResult, RunLog, SubmissionResult
from grader.rubric import load_rubric

ROOT = Path(__file__).resolve().parents[1]
MINI = ROOT / "tests" / "data" / "mini"
PARENT = os.getpid()


def _result(student: str) -> SubmissionResult:
    check = CheckResult(answer="k", kind="numeric", status="passed", score=1.0,
                        max_score=1.0, message=f"Correct, {student}. ✓")
    q = QuestionResult(id="q", title="Q", score=1.0, max_score=1.0, status="passed",
                       checks=(check,))
    return SubmissionResult(student=student, submission=f"{student}.py", score=1.0,
                            max_score=1.0, questions=(q,), run=RunLog(cells_total=1))


def _fake(book: Any, sub: Any, *rest: Any) -> Finished | str:
    if sub.student.startswith("rerun"):
        return "ValueError: a bug"
    if sub.student.startswith("dies") and os.getpid() != PARENT:
        os._exit(3)  # a re-checker killed mid-batch
    where = "coordinator" if os.getpid() == PARENT else "re-checker"
    marks = Path(book.path).parent / "marks"
    if where == "re-checker":
        (marks / str(os.getpid())).touch()
        time.sleep(0.01)  # some work: the coordinator gets its turns
    elif not sub.student.startswith("dies"):
        # The coordinator waits until every re-checker has done one: each gets a share,
        # however slowly the machine starts them.
        deadline = time.monotonic() + 30
        while len(list(marks.iterdir())) < EXPECTED_CHECKERS and time.monotonic() < deadline:
            time.sleep(0.01)
    return Finished(student=sub.student, result=_result(sub.student), started="s",
                    finished=where, transcript="{}")


EXPECTED_CHECKERS = 0


def _rechecks(tmp_path: Path, names: list[str], workers: int,
              commit: Any = None) -> Rechecks:
    global EXPECTED_CHECKERS
    (tmp_path / "marks").mkdir(parents=True, exist_ok=True)
    with Gradebook.in_folder(tmp_path) as book:
        pass
    book = Gradebook.in_folder(tmp_path)
    subs = [SimpleNamespace(student=n) for n in names]
    rubric = load_rubric(MINI / "rubric.toml")
    shared = Rechecks(book, subs, rubric, {n: _result(n) for n in names},
                      settings=rubric.execution,
                      isolation=Isolation(mode="none", reason="a test"),
                      questions={}, workers=workers, commit=commit)
    EXPECTED_CHECKERS = len(shared.children)
    return shared


@pytest.fixture(autouse=True)
def four_cores(monkeypatch: pytest.MonkeyPatch) -> None:
    """As many re-checkers as the tests ask for, whatever this machine has."""
    monkeypatch.setattr(recheck, "default_jobs", lambda: 4)


def _pipes() -> int:
    found = 0
    for fd in os.listdir("/proc/self/fd"):
        try:
            found += os.readlink(f"/proc/self/fd/{fd}").startswith("pipe:")
        except OSError:
            pass
    return found


def _gone(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    return False


@pytest.mark.parametrize("workers", [1, 2, 3])
def test_every_submission_is_rechecked_once_whatever_the_workers(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, workers: int) -> None:
    monkeypatch.setattr(recheck, "recheck_one", _fake)
    names = [f"s{i:02d}" for i in range(24)] + ["rerun1"]
    shared = _rechecks(tmp_path, names, workers)
    pids = list(shared.children.values())
    assert len(pids) == workers - 1
    got = list(shared)
    assert sorted(sub.student for sub, _ in got) == sorted(names)
    for sub, done in got:
        if sub.student == "rerun1":
            assert done == "ValueError: a bug"  # why, as the re-checker said it
        else:
            assert isinstance(done, Finished)
            # what crossed the pipe is the result the re-checker made, to the character
            assert done.result == _result(sub.student)
    if workers > 1:
        assert {d.finished for _, d in got if isinstance(d, Finished)} == {
            "coordinator", "re-checker"}  # both took a share
    assert shared.children == {} and all(_gone(p) for p in pids)


def test_a_rechecker_commits_what_it_rechecks(tmp_path: Path,
                                              monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(recheck, "recheck_one", _fake)
    commits = tmp_path / "commits"
    commits.mkdir()

    def commit(done: Finished, own: Gradebook) -> bool:
        assert os.getpid() != PARENT  # only re-checkers commit this way
        assert own.path == tmp_path / "gradebook.sqlite"  # through a connection of its own
        if done.student.startswith("cannot"):
            return False  # the coordinator commits those
        (commits / done.student).write_text(done.result.student)
        return True

    names = [f"s{i:02d}" for i in range(16)] + [f"cannot{i}" for i in range(8)]
    shared = _rechecks(tmp_path, names, 2, commit)
    got = {sub.student: done for sub, done in shared}
    assert sorted(got) == sorted(names)
    forked = {s for s, d in got.items() if isinstance(d, Finished) and d.finished == "re-checker"}
    assert forked - {n for n in names if n.startswith("cannot")}  # some were committed there
    # Committed: those a re-checker re-checked and committed; not the coordinator's, nor
    # those it could not commit.
    assert shared.committed == {s for s in forked if not s.startswith("cannot")}
    assert sorted(p.name for p in commits.iterdir()) == sorted(shared.committed)


def test_a_rechecker_that_dies_loses_nothing(tmp_path: Path,
                                              monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(recheck, "recheck_one", _fake)
    names = [f"dies{i:02d}" for i in range(16)]
    shared = _rechecks(tmp_path, names, 3)
    pids = list(shared.children.values())
    # Each re-checker dies with the first submission it takes.
    got = {sub.student: done for sub, done in shared}
    assert sorted(got) == sorted(names)
    assert {d.finished for d in got.values() if isinstance(d, Finished)} == {"coordinator"}
    assert all(isinstance(d, Finished) for d in got.values())
    assert all(_gone(p) for p in pids)


def test_stopping_early_stops_the_recheckers(tmp_path: Path,
                                             monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(recheck, "recheck_one", _fake)
    shared = _rechecks(tmp_path, [f"s{i:02d}" for i in range(40)], 3)
    pids = list(shared.children.values())
    walk = iter(shared)
    next(walk)
    walk.close()  # the coordinator was interrupted
    assert shared.children == {} and all(_gone(p) for p in pids)


def test_no_more_recheckers_than_cores(tmp_path: Path,
                                       monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(recheck, "recheck_one", _fake)
    monkeypatch.setattr(recheck, "default_jobs", lambda: 2)
    shared = _rechecks(tmp_path, [f"s{i:02d}" for i in range(40)], 64)  # -j 64, or Dask's
    assert len(shared.children) == 1
    assert len(list(shared)) == 40


def test_a_fork_that_fails_leaves_fewer_recheckers(tmp_path: Path,
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(recheck, "recheck_one", _fake)
    real, forks = os.fork, []

    def fork() -> int:
        forks.append(1)
        if len(forks) == 2:
            raise BlockingIOError(11, "Resource temporarily unavailable")
        return real()

    monkeypatch.setattr(os, "fork", fork)
    before = _pipes()
    shared = _rechecks(tmp_path, [f"s{i:02d}" for i in range(40)], 4)
    monkeypatch.setattr(os, "fork", real)
    assert len(shared.children) == 1  # the first, and none after the one that failed
    assert sorted(sub.student for sub, _ in shared) == [f"s{i:02d}" for i in range(40)]
    assert _pipes() == before  # the failed fork's pipe is closed too


def test_rechecks_never_read_are_stopped_by_close(tmp_path: Path,
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(recheck, "recheck_one", _fake)
    before = _pipes()
    shared = _rechecks(tmp_path, [f"s{i:02d}" for i in range(40)], 3)
    pids = list(shared.children.values())
    assert _pipes() == before + 2
    shared.close()  # the batch stopped before it read a line
    assert shared.children == {} and all(_gone(p) for p in pids)
    assert _pipes() == before


def test_few_rechecks_are_done_in_place(tmp_path: Path,
                                        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(recheck, "recheck_one", _fake)
    shared = _rechecks(tmp_path, [f"s{i}" for i in range(recheck.MIN_FORKED - 1)], 4)
    assert shared.children == {}
    assert {d.finished for _, d in shared if isinstance(d, Finished)} == {"coordinator"}



@pytest.mark.parametrize(("n", "processes", "runs"), [
    (40, 2, [0, 20, 20, 40]),
    (10, 3, [0, 3, 3, 6, 6, 10]),
    (8, 4, [0, 2, 2, 4, 4, 6, 6, 8]),
    (5, 1, [0, 5]),
])
def test_each_process_is_given_one_run_of_the_order(n: int, processes: int,
                                                    runs: list[int]) -> None:
    assert recheck._runs(n, processes) == runs


def test_a_process_takes_its_own_run_then_the_end_of_the_longest_left() -> None:
    import multiprocessing

    shared = Rechecks.__new__(Rechecks)
    shared.subs = list(range(12))
    shared.runs = multiprocessing.get_context("fork").Array("l", recheck._runs(12, 3))
    # the runs are 0-3, 4-7 and 8-11
    assert [shared.take(0), shared.take(0)] == [0, 1]
    assert [shared.take(1) for _ in range(4)] == [4, 5, 6, 7]  # its own, in order
    assert shared.take(1) == 11  # then the last of the run with the most left (2's)
    assert [shared.take(0), shared.take(0)] == [2, 3]
    assert shared.take(0) == 10
    assert [shared.take(2), shared.take(2)] == [8, 9]
    assert [shared.take(k) for k in (0, 1, 2)] == [12, 12, 12]  # nothing left: len(subs)


def test_students_who_gave_the_same_answers_stand_side_by_side(tmp_path: Path) -> None:
    answers = {"a": "1", "b": "2", "c": "1", "d": "3", "e": "2", "f": "1", "g": "3",
               "h": "2"}

    def result(student: str, received: str) -> SubmissionResult:
        check = CheckResult(answer="k", kind="numeric", status="passed", score=1.0,
                            max_score=1.0, message="", received=received)
        q = QuestionResult(id="q", title="Q", score=1.0, max_score=1.0, status="passed",
                           checks=(check,))
        return SubmissionResult(student=student, submission=f"{student}.py", score=1.0,
                                max_score=1.0, questions=(q,), run=RunLog(cells_total=1))

    with Gradebook.in_folder(tmp_path) as book:
        for student, received in answers.items():
            book.record(result(student, received), started="s", finished="f")
        book.record(result("a", "3"), started="s", finished="f")  # a's latest says 3
        subs = [SimpleNamespace(student=n) for n in [*answers, "new"]]
        order = [s.student for s in recheck._side_by_side(book, subs)]
    assert order == ["new", "c", "f", "b", "e", "h", "a", "d", "g"]  # stable within


@pytest.mark.parametrize(("count", "workers"), [(recheck.MIN_FORKED - 1, 4), (12, 1)])
def test_rechecks_done_in_place_keep_the_order_given(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, count: int, workers: int) -> None:
    # Nobody to share with: the order would change nothing, and is not asked for.
    asked: list[int] = []
    monkeypatch.setattr(recheck, "_side_by_side", lambda book, subs: asked.append(1) or
                        sorted(subs, key=lambda s: s.student))
    names = [f"s{i:02d}" for i in range(count)][::-1]
    shared = _rechecks(tmp_path, names, workers)
    assert shared.children == {} and asked == []
    assert [s.student for s in shared.subs] == names
    monkeypatch.setattr(recheck, "recheck_one", _fake)
    shared = _rechecks(tmp_path / "shared", [f"s{i:02d}" for i in range(16)][::-1], 2)
    assert asked == [1] and [s.student for s in shared.subs] == sorted(
        f"s{i:02d}" for i in range(16))  # forked: put in order
    assert len(list(shared)) == 16


@pytest.mark.parametrize(("line", "read"), [
    (b"not json\n", ("", None, False)),
    (b"[1, 2]\n", ("", None, False)),
    (b'{"student": 7}\n', ("", None, False)),
    (b'{"result": {"student": "a"}}\n', ("a", None, False)),  # no times: re-checked in place
    (b'{"result": {"student": "a", "nope": 1}, "started": "", "finished": ""}\n',
     ("a", None, False)),
    (b'{"result": "a", "started": "", "finished": ""}\n', ("", None, False)),
    (b'{"student": "a", "rerun": ""}\n', ("a", "", False)),
    (b'{"student": "a", "rerun": "", "committed": true}\n', ("a", "", False)),
    (b'{"result": {"student": "a"}, "committed": true}\n', ("a", None, False)),
])
def test_a_line_that_cannot_be_read_is_rechecked_in_place(line: bytes, read: Any) -> None:
    assert Rechecks._read(line) == read


@pytest.mark.parametrize("committed", [True, False, "yes", None])
def test_a_line_says_whether_the_rechecker_committed_it(committed: Any) -> None:
    done = Finished(student="a", result=_result("a"), started="s", finished="f",
                    transcript="{}")
    line = json.dumps({**done.to_dict(), "committed": committed}).encode() + b"\n"
    assert Rechecks._read(line) == ("a", done, committed is True)


# --------------------------------------------------------------------------- the command


def _rubric(folder: Path, edits: list[tuple[str, str]]) -> Path:
    folder.mkdir(parents=True)
    shutil.copy(MINI / "reference.py", folder / "reference.py")
    text = (MINI / "rubric.toml").read_text("utf-8")
    for old, new in edits:
        assert old in text, old
        text = text.replace(old, new, 1)
    (folder / "rubric.toml").write_text(text, "utf-8")
    return folder / "rubric.toml"


def _pages(out: Path) -> dict[str, Any]:
    found = {}
    for path in sorted((out / "students").iterdir()):
        if path.suffix == ".json":
            data = json.loads(path.read_text("utf-8"))
            del data["graded_at"]
            found[path.name] = data
        else:  # the page says when it was graded
            found[path.name] = re.sub(r"\d{4}-\d\d-\d\dT[\d:]+\+00:00", "<when>",
                                      path.read_text("utf-8"))
    return found


@pytest.mark.kernel
def test_grade_resume_rechecks_in_forked_processes_as_in_place(
        tmp_path: Path, capsys: pytest.CaptureFixture[str],
        monkeypatch: pytest.MonkeyPatch) -> None:
    subs = tmp_path / "subs"
    subs.mkdir()
    for i in range(5):  # ten submissions: enough to share
        for name in ("good", "wrong"):
            shutil.copy(MINI / "submissions" / f"{name}.ipynb", subs / f"{name}{i}.ipynb")
    first = _rubric(tmp_path / "r0", [])
    out = tmp_path / "out"
    assert main(["grade", str(subs), "--rubric", str(first), "--out", str(out)]) == 0
    edited = _rubric(tmp_path / "r1", [("rtol = 1e-6", "rtol = 1e-3"),
                                       ("points = 2", "points = 3"),
                                       ("credit = 0.5", "credit = 0.25")])
    pids, writers = tmp_path / "pids", tmp_path / "writers"
    real, real_write = recheck.recheck_one, report.write_student

    def noted(*args: Any) -> Any:
        with pids.open("a") as f:
            f.write(f"{os.getpid()}\n")
        return real(*args)

    def written(result: SubmissionResult, *args: Any, **kwargs: Any) -> None:
        with writers.open("a") as f:
            f.write(f"{os.getpid()} {result.student}\n")
        real_write(result, *args, **kwargs)

    monkeypatch.setattr(recheck, "recheck_one", noted)
    monkeypatch.setattr(report, "write_student", written)
    pages = {}
    for jobs in ("1", "3"):
        pids.write_text("")
        writers.write_text("")
        again = tmp_path / f"out-j{jobs}"
        shutil.copytree(out, again)
        capsys.readouterr()
        assert main(["grade", str(subs), "--rubric", str(edited), "--out", str(again),
                     "--resume", "-j", jobs]) == 0
        assert "0 graded now in a kernel, 10 re-checked from stored answers" in \
            capsys.readouterr().out
        db = sqlite3.connect(f"file:{again / 'gradebook.sqlite'}?mode=ro", uri=True)
        try:
            assert {e for (e,) in db.execute("SELECT executor FROM latest")} == {
                "stored answers"}
            # Each re-check committed once, by whichever process made it.
            assert db.execute("SELECT COUNT(*) FROM results WHERE executor = "
                              "'stored answers'").fetchone() == (10,)
        finally:
            db.close()
        pages[jobs] = _pages(again)
        who = pids.read_text().split()
        assert len(who) == 10
        # Each page written once, by whoever re-checked the student.
        wrote = [line.split() for line in writers.read_text().splitlines()]
        assert sorted(s for _, s in wrote) == sorted(p.stem for p in subs.iterdir())
        assert sorted(w for w, _ in wrote) == sorted(who)
        if jobs == "1":
            assert set(who) == {str(os.getpid())}  # all in place
        else:
            assert len(set(who) - {str(os.getpid())}) >= 1  # forked ones took a share
    assert pages["1"] == pages["3"]
    assert pages["1"] != _pages(out)  # the edit shows on the pages
    assert (tmp_path / "out-j1" / "grades.csv").read_text() == \
        (tmp_path / "out-j3" / "grades.csv").read_text()

