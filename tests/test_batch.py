"""Batch grading: workers and warm kernels, progress output, and losing nothing when killed."""

from __future__ import annotations

import io
import json
import multiprocessing
import os
import re
import shutil
import signal
import sqlite3
import subprocess
import sys
import time
import zipfile
from dataclasses import replace
from pathlib import Path

import pytest

from grader.batch import Progress, RichProgress, progress_for
from grader.executors import Task, local
from grader.executors.worker import WarmPool, die_with_parent
from grader.gradebook import Gradebook, now, result_json
from grader.kernel import sandbox
from grader.kernel.sandbox import Isolation
from grader.results import RunLog, SubmissionResult
from grader.rubric import load_rubric
from grader.settings import ExecutionSettings

ROOT = Path(__file__).parent.parent
MINI = Path(__file__).parent / "data" / "mini"
# Every kind of run: right, wrong, a module, a dying kernel (run again), unreadable.
BATCH = ("good.ipynb", "wrong.ipynb", "good_module.py", "dies.py", "broken.ipynb")


def _grade_cmd(subs: Path, out: Path, *extra: str, jobs: int = 2) -> list[str]:
    return [sys.executable, "-m", "grader", "grade", str(subs), "--rubric",
            str(MINI / "rubric.toml"), "--out", str(out), "-j", str(jobs), *extra]


def _subs(tmp_path: Path, names: tuple[str, ...] = BATCH) -> Path:
    subs = tmp_path / "subs"
    subs.mkdir()
    for name in names:
        shutil.copy(MINI / "submissions" / name, subs / name)
    return subs


def _verdicts(out: Path) -> dict[str, object]:
    """What must not depend on how the batch ran: scores and every check's verdict."""
    with Gradebook.existing(out) as book:
        return {r.student: (r.score, r.run.outcome, len(r.run.errors), [
            (q.id, q.score, [(c.answer, c.status, c.score, c.mistake, c.received)
                             for c in q.checks]) for q in r.questions])
                for r in book.results()}


def test_starting_the_grader_stays_light():
    code = ("import sys, grader.cli; heavy = [m for m in ('numpy', 'sympy', 'nbclient', "
            "'rich', 'distributed', 'jinja2') if m in sys.modules]; print(heavy)")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          check=True, cwd=ROOT)
    assert done.stdout.strip() == "[]"


def _result(student: str, outcome: str = "ok") -> SubmissionResult:
    return SubmissionResult(student=student, submission="x", score=1.0, max_score=2.0,
                            questions=(), run=RunLog(outcome=outcome, message="why not"))


def test_plain_progress_is_a_line_per_submission(tmp_path):
    stream = io.StringIO()
    progress = progress_for(3, tmp_path, stream)
    assert type(progress) is Progress  # not a terminal
    progress.kept(_result("alice"))
    progress.graded(_result("bob", "timeout"))
    progress.graded(_result("carol"))
    progress.close()
    assert stream.getvalue().splitlines() == [
        "[1/3] alice: kept 1/2 (unchanged)",
        f"[2/3] bob: 1/2 [timeout] -> {tmp_path / 'students' / 'bob.html'}",
        f"[3/3] carol: 1/2 -> {tmp_path / 'students' / 'carol.html'}"]


class _Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_terminal_progress_bar_counts_graded_failed_and_remaining(tmp_path, monkeypatch):
    pytest.importorskip("rich")
    monkeypatch.setenv("TERM", "xterm")
    stream = _Terminal()
    progress = progress_for(3, tmp_path, stream)
    assert isinstance(progress, RichProgress)
    progress.kept(_result("alice"))
    progress.graded(_result("bob", "timeout"))
    progress.bar.refresh()
    progress.close()
    text = re.sub(r"\x1b\[[0-9;?]*[A-Za-z]", "", stream.getvalue())
    assert "graded 1 · failed to run 1 · remaining 1" in text and "ETA" in text
    assert "bob: 1/2 [timeout]: why not" in text  # a failure gets a line above the bar


@pytest.mark.kernel
def test_warm_kernels_are_preloaded_and_never_shared():
    settings = ExecutionSettings(preload=("json", "numpy"), timeout=60)
    pool = WarmPool(settings, Isolation(mode="none"), size=1, fork=False)
    try:
        first = pool.take(prefetch=True)
        second = pool.take(prefetch=False)
        assert first is not None and second is not None and first is not second
        assert first._pid() != second._pid()
        for session in (first, second):
            session.load(_FakeSubmission())
            status, outputs = session.run_code(
                "import sys; print('numpy' in sys.modules, 'numpy' in dir())")
            assert status == "ok" and outputs[0]["text"].strip() == "True False"
            session.close()
    finally:
        pool.close()


@pytest.mark.kernel
@pytest.mark.parametrize("mode", ["none", "bwrap"])
def test_forked_kernels_are_preloaded_fresh_and_one_at_a_time(mode):
    if mode == "bwrap" and sandbox.probe_bwrap():
        pytest.skip(sandbox.probe_bwrap())
    settings = ExecutionSettings(preload=("json", "numpy"), timeout=60)
    pool = WarmPool(settings, Isolation(mode=mode), size=1)
    try:
        assert pool.forkserver is not None
        seen = []
        for student in ("first", "second"):
            session = pool.take()
            assert session is not None and session.forkserver is pool.forkserver
            assert pool.take() is None  # never two kernels in one sandbox
            session.load(_FakeSubmission())
            status, outputs = session.run_code(
                "named = 'numpy' in dir()\n"
                "import os, sys\n"
                "preloaded = 'numpy' in sys.modules\n"
                "import numpy\n"
                # In its own PID namespace every kernel is pid 2: its start time tells them
                # apart.
                "start = str(os.getpid()) + '@' + open('/proc/self/stat').read().split()[21]\n"
                "print(start, preloaded, named, "
                "numpy.random.randint(1 << 30), sorted(os.listdir('.')))\n"
                f"open('left-by-{student}', 'w').close()")
            assert status == "ok", outputs
            pid, preloaded, in_namespace, draw, files = outputs[0]["text"].split(" ", 4)
            # Imported in the server, so in sys.modules, but not a name the student has.
            assert preloaded == "True" and in_namespace == "False"
            assert "left-by" not in files  # nothing of the previous student
            seen.append((pid, draw))
            session.close()
        assert seen[0][0] != seen[1][0]  # a fresh kernel each time
        assert seen[0][1] != seen[1][1]  # numpy's generator reseeded after the fork
        assert pool.forkserver.preloaded[-2:] == ("json", "numpy")
    finally:
        pool.close()


class _FakeSubmission:
    """Just enough of a Submission for KernelSession.load: one empty module."""

    folder = None
    path = MINI / "reference.py"


def _descendants(pid: int) -> set[int]:
    out: set[int] = set()
    stack = [pid]
    while stack:
        p = stack.pop()
        try:
            for task in os.listdir(f"/proc/{p}/task"):
                with open(f"/proc/{p}/task/{task}/children") as fh:
                    kids = {int(x) for x in fh.read().split()}
        except OSError:
            continue
        out |= kids
        stack += list(kids)
    return out


def _alive(pids: set[int]) -> set[int]:
    alive = set()
    for pid in pids:
        try:
            with open(f"/proc/{pid}/stat") as fh:
                if fh.read().rsplit(")", 1)[1].split()[0] != "Z":
                    alive.add(pid)
        except OSError:
            pass
    return alive


@pytest.fixture(scope="module")
def uninterrupted(tmp_path_factory):
    """The batch graded once, start to end, by the command line."""
    tmp = tmp_path_factory.mktemp("whole")
    out = tmp / "out"
    subprocess.run(_grade_cmd(_subs(tmp), out), check=True, capture_output=True, cwd=ROOT)
    return out


@pytest.mark.kernel
def test_killed_mid_batch_then_resume_grades_everything_once(tmp_path, uninterrupted):
    subs = _subs(tmp_path)
    out = tmp_path / "out"
    proc = subprocess.Popen(_grade_cmd(subs, out), stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL, cwd=ROOT)
    db_path = out / "gradebook.sqlite"
    finished, family = 0, set()
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and proc.poll() is None:
        family |= _descendants(proc.pid)
        if db_path.exists():
            try:
                db = sqlite3.connect(f"file:{db_path}?mode=ro", uri=True)
                finished = db.execute("SELECT COUNT(*) FROM results").fetchone()[0]
                db.close()
            except sqlite3.OperationalError:  # the schema is being created
                finished = 0
        if finished >= 2:  # the unreadable one is instant: wait for a kernel's too
            break
        time.sleep(0.05)
    assert proc.poll() is None, "the batch ended before it could be killed"
    family |= _descendants(proc.pid)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert 2 <= finished < len(BATCH)
    # Its workers and their kernels die with it: nothing is left running.
    deadline = time.monotonic() + 30
    while _alive(family) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert not _alive(family)

    with Gradebook.existing(out) as book:
        kept = set(book.gradings())
    assert len(kept) >= 1
    done = subprocess.run(_grade_cmd(subs, out, "--resume"), capture_output=True, text=True,
                          cwd=ROOT, check=True)
    for student in kept:
        assert f"{student}: kept" in done.stdout
    with Gradebook.existing(out) as book:
        assert book.gradings() == {Path(n).stem: 1 for n in BATCH}  # each graded once
    assert _verdicts(out) == _verdicts(uninterrupted)
    assert (out / "grades.csv").read_text() == (uninterrupted / "grades.csv").read_text()
    assert "dies" in (out / "index.html").read_text()


@pytest.mark.kernel
def test_zip_of_canvas_files_graded_in_process(tmp_path, uninterrupted):
    archive = tmp_path / "submissions.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        zf.write(MINI / "submissions" / "good.ipynb", "hw/smithjane_101_9001_good.ipynb")
        zf.write(MINI / "submissions" / "wrong.ipynb", "hw/doejohn_LATE_102_9002_wrong.ipynb")
    out = tmp_path / "out"
    done = subprocess.run(_grade_cmd(archive, out, jobs=1), capture_output=True, text=True,
                          cwd=ROOT, check=True)
    assert "[2/2]" in done.stdout
    graded = _verdicts(out)
    reference = _verdicts(uninterrupted)
    assert graded["smithjane"] == reference["good"]
    assert graded["doejohn"] == reference["wrong"]


# --------------------------------------------------------------------------- stuck workers
# Workers that grade without kernels (their task function and set-up replaced: spawned
# workers find both in this module by name) and do what a wedged worker does.


def _stubborn_worker(config: str) -> None:
    """Set up a worker that ignores SIGTERM and never finishes leaving when asked to.

    As a real one can: its SIGTERM may reach a thread other than the main one, and its
    kernels' closing may hang.
    """
    from multiprocessing import util

    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    die_with_parent()
    util.Finalize(None, time.sleep, args=(3600,), exitpriority=10)


def _kernel_free_grade(task: Task) -> str:
    """Grade without a kernel: "oom..." is killed as the OOM killer would, "hang..." hangs."""
    if task.student.startswith("oom"):
        time.sleep(1.5)  # the others finish first
        os.kill(os.getpid(), signal.SIGKILL)
    if task.student.startswith("hang"):
        time.sleep(3600)
    adj = Path("/proc/self/oom_score_adj")
    result = SubmissionResult(student=task.student, submission=task.path, score=1.0,
                              max_score=1.0, questions=(),
                              run=RunLog(outcome="ok", message=json.dumps({
                                  "pid": os.getpid(),
                                  "oom": adj.read_text().strip() if adj.exists() else None})))
    return json.dumps({"result": json.loads(result_json(result)), "started": now(),
                       "finished": now()})


@pytest.fixture
def stubborn(monkeypatch):
    """Run a batch of such tasks on stubborn workers (a second's grace to leave)."""
    monkeypatch.setattr(local, "_init_worker", _stubborn_worker)
    monkeypatch.setattr(local, "_grade_in_worker", _kernel_free_grade)
    monkeypatch.setattr(local, "STOP_GRACE", 1.0)
    rubric = load_rubric(MINI / "rubric.toml")

    def run(*students: str):
        tasks = [Task(student=s, path=str(MINI / "reference.py")) for s in students]
        return local.run_local(tasks, rubric=rubric, settings=ExecutionSettings(),
                               isolation=Isolation(mode="none"), jobs=2)

    return run


def _graded(run) -> tuple[dict[str, SubmissionResult], float]:
    start = time.monotonic()
    results = {done.student: done.result for done in run}
    return results, time.monotonic() - start


def _workers_of(results: dict[str, SubmissionResult]) -> set[int]:
    return {json.loads(r.run.message)["pid"] for r in results.values() if r.run.outcome == "ok"}


def test_a_worker_that_ignores_sigterm_is_killed_when_another_dies(stubborn):
    # The incident: the OOM killer took a worker; the pool sent SIGTERM to the others and
    # waited for one that ignored it, and so did the batch.
    results, took = _graded(stubborn("a", "b", "c", "oom"))
    assert {s: r.run.outcome for s, r in results.items()} == {
        "a": "ok", "b": "ok", "c": "ok", "oom": "not_run"}
    assert "died or hung twice" in results["oom"].run.message
    assert took < 30
    assert not _alive(_workers_of(results))


def test_a_worker_that_does_not_leave_at_the_end_is_killed(stubborn):
    results, took = _graded(stubborn("a", "b", "c"))
    assert all(r.run.outcome == "ok" for r in results.values()) and len(results) == 3
    assert took < 20
    assert not _alive(_workers_of(results))


def test_stopping_a_batch_kills_workers_that_ignore_sigterm(stubborn):
    run = stubborn("a", "hang1", "hang2")
    assert next(run).student == "a"
    workers = multiprocessing.active_children()
    assert workers
    start = time.monotonic()
    run.close()  # what Ctrl-C does to the batch
    assert time.monotonic() - start < 1.0 + 5
    assert not _alive({p.pid for p in workers if p.pid is not None})


def test_a_hung_worker_is_given_up_and_the_batch_goes_on(stubborn, monkeypatch):
    monkeypatch.setattr(local, "task_limit", lambda timeout, startup: 4.0)
    results, took = _graded(stubborn("a", "hang", "b"))
    assert {s: r.run.outcome for s, r in results.items()} == {
        "a": "ok", "hang": "not_run", "b": "ok"}
    assert "died or hung twice" in results["hang"].run.message
    assert took < 40


def test_workers_take_the_lowest_oom_score_they_may(monkeypatch):
    # The real set-up, with no kernel to keep warm; the kernels raise theirs to 1000.
    monkeypatch.setattr(local, "_grade_in_worker", _kernel_free_grade)
    rubric = load_rubric(MINI / "rubric.toml")
    tasks = [Task(student=s, path=str(MINI / "reference.py")) for s in ("a", "b")]
    results = {done.student: done.result for done in local.run_local(
        tasks, rubric=rubric, settings=ExecutionSettings(), isolation=Isolation(mode="none"),
        jobs=2, warm=0)}
    probe = subprocess.run([sys.executable, "-c", "from grader.kernel.oom import protect_from_oom; "
                            "print(protect_from_oom())"], capture_output=True, text=True,
                           check=True, cwd=ROOT)
    lowest = probe.stdout.strip()  # what a process like them may reach here
    assert lowest != "None"
    assert {json.loads(r.run.message)["oom"] for r in results.values()} == {lowest}


@pytest.mark.parametrize("same", [True, False])
def test_workers_started_ahead_grade_the_batch_or_are_stopped(monkeypatch, same):
    """Started before the batch knows its submissions: taken over when the batch wants as
    many workers with the same settings; otherwise stopped at once, and fresh ones grade."""
    monkeypatch.setattr(local, "_grade_in_worker", _kernel_free_grade)
    rubric = load_rubric(MINI / "rubric.toml")
    isolation = Isolation(mode="none")
    ahead = local.WorkersAhead(rubric, ExecutionSettings(), isolation, 2, warm=0)
    assert ahead.pool is not None
    early = {p.pid for p in local._workers(ahead.pool)}
    assert len(early) == 2  # spawned now, not when the batch submits
    settings = ExecutionSettings() if same else ExecutionSettings(timeout=30)
    tasks = [Task(student=s, path=str(MINI / "reference.py")) for s in ("a", "b", "c")]
    start = time.monotonic()
    results = {done.student: done.result for done in local.run_local(
        tasks, rubric=rubric, settings=settings, isolation=isolation, jobs=2, warm=0,
        ahead=ahead)}
    assert sorted(results) == ["a", "b", "c"]
    assert ahead.pool is None  # the batch's now, or stopped
    if same:
        assert _workers_of(results) <= early
    else:
        assert not _workers_of(results) & early
        assert not _alive(early)
    assert time.monotonic() - start < 30


# --------------------------------------------------------------------------- --only, --questions


def _mini_result(student: str, sha: str, scores: dict[str, float], *, outcome: str = "ok",
                 digest: str = "r1") -> SubmissionResult:
    from grader.results import QuestionResult

    questions = tuple(QuestionResult(id=q, title="", score=s, max_score=2.0,
                                     status="passed" if s == 2 else "failed", checks=())
                      for q, s in scores.items())
    return SubmissionResult(student=student, submission=f"{student}.ipynb",
                            score=sum(scores.values()), max_score=2.0 * len(scores),
                            questions=questions, run=RunLog(outcome=outcome),
                            submission_sha256=sha, rubric_digest=digest)


def test_questions_keep_the_other_stored_verdicts_of_the_same_files_only():
    from grader.batch import only_questions

    before = _mini_result("a", "s1", {"q1": 0.0, "q2": 2.0, "q3": 0.0})
    now_ = _mini_result("a", "s1", {"q1": 2.0, "q2": 0.0, "q3": 2.0, "q4": 1.0})
    merged = only_questions(now_, before, ("q1",))
    assert [(q.id, q.score) for q in merged.questions] == [
        ("q1", 2.0), ("q2", 2.0), ("q3", 0.0), ("q4", 1.0)]  # q4 is new: graded now
    assert (merged.score, merged.rubric_digest) == (5.0, "r1")
    # Stored under another rubric: its digest stays, so --resume grades it in full later.
    assert only_questions(now_, replace(before, rubric_digest="r0"), ("q1",)).rubric_digest \
        == "r0"
    # Other files, a failed grading of ours, or nothing stored: the new result whole.
    for stale in (replace(before, submission_sha256="s2"),
                  replace(before, run=RunLog(outcome="grader_error")), None):
        assert only_questions(now_, stale, ("q1",)) is now_


@pytest.mark.kernel
def test_questions_never_record_a_row_missing_the_other_questions(tmp_path, monkeypatch):
    # --questions plans to keep good's other verdicts, then good hands in again before
    # its run: the new run checked q_num alone and the stored verdicts are of other
    # files. The row recorded says so (a grader_error, graded in full by --resume); it
    # never stands as a grade holding q_num only.
    import grader.batch
    from grader.cli import main

    subs = _subs(tmp_path, ("good.ipynb",))
    out = tmp_path / "out"
    rubric = load_rubric(MINI / "rubric.toml")
    args = ["grade", str(subs), "--rubric", str(MINI / "rubric.toml"), "--out", str(out),
            "-j", "1"]
    assert main(args) == 0
    keeps_others = grader.batch.keeps_others

    def handed_in_again(before, rubric, digest):
        kept = keeps_others(before, rubric, digest)
        with (subs / "good.ipynb").open("a") as f:
            f.write("\n")  # the same notebook, other bytes
        return kept

    monkeypatch.setattr(grader.batch, "keeps_others", handed_in_again)
    assert main([*args, "--questions", "q_num"]) == 0
    with Gradebook.existing(out) as book:
        row = book.result("good")
    assert row is not None
    assert row.run.outcome == "grader_error"
    assert "grade it again without --questions" in row.run.message
    assert [q.id for q in row.questions] == [q.id for q in rubric.questions]
    assert row.score == 0
    monkeypatch.setattr(grader.batch, "keeps_others", keeps_others)
    assert main([*args, "--resume"]) == 0
    with Gradebook.existing(out) as book:
        again = book.result("good")
    assert again is not None and again.run.outcome == "ok"
    assert [q.id for q in again.questions] == [q.id for q in rubric.questions]


def test_only_and_questions_name_what_is_unknown():
    from grader.batch import check_questions, chosen
    from grader.errors import GraderError
    from grader.submission import Submission

    subs = [Submission(student=s, path=Path(f"{s}.ipynb")) for s in ("alice", "bob")]
    assert chosen(subs, [" bob", "alice", "bob"]) == ("bob", "alice")
    with pytest.raises(GraderError, match=r"--only: no submission of zed, yan among those "
                                          r"found \(students: alice, bob\)"):
        chosen(subs, ["alice", "zed", "yan"])
    rubric = load_rubric(MINI / "rubric.toml")
    assert check_questions(rubric, ["q_num", "q_text"]) == ("q_num", "q_text")
    with pytest.raises(GraderError, match=r"--questions: q9 not in .*rubric.toml \(questions: "
                                          r"q_num, q_arr, q_sym, q_fun, q_prop, q_text\)"):
        check_questions(rubric, ["q_num", "q9"])


@pytest.mark.kernel
def test_regrade_one_student_and_one_question_keeps_the_rest(tmp_path, monkeypatch):
    import grader.grade
    from grader.cli import main

    subs = _subs(tmp_path, ("good.ipynb", "wrong.ipynb"))
    out = tmp_path / "out"
    subprocess.run(_grade_cmd(subs, out, jobs=1), check=True, capture_output=True, cwd=ROOT)
    first = _verdicts(out)
    done = subprocess.run(_grade_cmd(subs, out, "--only", "wrong", jobs=1),
                          capture_output=True, text=True, cwd=ROOT, check=True)
    assert "[1/1] wrong:" in done.stdout and "good" not in done.stdout.split("Reports")[0]
    with Gradebook.existing(out) as book:
        assert book.gradings() == {"good": 1, "wrong": 2}
        # Doctor good's stored q_arr, to see that --questions q_num keeps it.
        good = book.result("good")
        assert good is not None
        doctored = replace(good, questions=tuple(
            replace(q, score=0.25) if q.id == "q_arr" else q for q in good.questions))
        book.record(doctored)
    assert _verdicts(out)["wrong"] == first["wrong"]
    with Gradebook.existing(out) as book:
        assert len(book.transcript("wrong").calls) == 2  # q_fun's two functions were called
    # --questions q_num checks k alone: in good's kernel run (its stored result is
    # doctored, so no transcript of it) no function of q_fun is called, and wrong is
    # checked from the answers its --only run stored, without a kernel.
    checked: list[str] = []
    kernels: list[str] = []
    check, grade_run = grader.grade._check, grader.grade.grade_run

    def counted(spec, evidence, max_score):
        checked.append(spec.answer)
        return check(spec, evidence, max_score)

    def running(sub, *args, **kwargs):
        kernels.append(sub.student)
        return grade_run(sub, *args, **kwargs)

    monkeypatch.setattr(grader.grade, "_check", counted)
    monkeypatch.setattr(grader.grade, "grade_run", running)
    assert main(["grade", str(subs), "--rubric", str(MINI / "rubric.toml"), "--out",
                 str(out), "-j", "1", "--questions", "q_num"]) == 0
    assert checked == ["k", "k"] and kernels == ["good"]
    with Gradebook.existing(out) as book:
        assert book.gradings() == {"good": 3, "wrong": 3}
        good = book.result("good")
        assert book.transcript("good").calls == ()
        executors = dict(book.db.execute(
            "SELECT student, executor FROM results WHERE id IN (SELECT id FROM latest)"))
    assert executors == {"good": "local", "wrong": "stored answers"}
    assert good is not None
    scores = {q.id: q.score for q in good.questions}
    assert scores["q_arr"] == 0.25  # kept from the stored result
    assert scores["q_num"] == 2.0  # checked again
    assert good.score == round(sum(scores.values()), 6)
    assert _verdicts(out)["wrong"] == first["wrong"]
    rows = (out / "grades.csv").read_text()
    assert "good," in rows and "wrong," in rows
    # Again: good's stored run now is the one limited to q_num, so no kernel runs at all.
    checked.clear()
    kernels.clear()
    assert main(["grade", str(subs), "--rubric", str(MINI / "rubric.toml"), "--out",
                 str(out), "-j", "1", "--questions", "q_num"]) == 0
    assert checked == ["k", "k"] and kernels == []
    with Gradebook.existing(out) as book:
        again = book.result("good")
        executors = dict(book.db.execute(
            "SELECT student, executor FROM results WHERE id IN (SELECT id FROM latest)"))
    assert executors == {"good": "stored answers", "wrong": "stored answers"}
    assert again is not None and [(q.id, q.score) for q in again.questions] == [
        (q.id, q.score) for q in good.questions]
    bad = subprocess.run(_grade_cmd(subs, out, "--only", "nobody", jobs=1),
                         capture_output=True, text=True, cwd=ROOT)
    assert bad.returncode == 2 and "--only: no submission of nobody" in bad.stderr
    bad = subprocess.run(_grade_cmd(subs, out, "--questions", "q_nine", jobs=1),
                         capture_output=True, text=True, cwd=ROOT)
    assert bad.returncode == 2 and "--questions: q_nine not in" in bad.stderr


def test_a_kept_page_is_written_again_unless_it_is_the_stored_results(tmp_path, monkeypatch):
    import grader.report as report
    from grader.batch import _stale

    rubric = load_rubric(ROOT / "rubrics" / "hw2.toml")
    line = (ROOT / "tests" / "data" / "course" / "examples.jsonl").read_text("utf-8")
    result = SubmissionResult.from_dict(json.loads(line.splitlines()[0]))
    order: list[str] = []
    real = report.atomic_write

    def noted(path, text):
        order.append(Path(path).suffix)
        real(path, text)

    monkeypatch.setattr(report, "atomic_write", noted)
    report.write_student(result, rubric, tmp_path)
    assert order == [".html", ".json"]  # the JSON last: the pair is whole once it is there
    assert not _stale(tmp_path, result)
    # The same score with other feedback (a rubric edit whose page a batch stopped before
    # writing, or wrote only the HTML of): not the stored result's page, written again.
    q = result.questions[0]
    reworded = replace(result, questions=(
        replace(q, checks=(replace(q.checks[0], message="Reworded."), *q.checks[1:])),
        *result.questions[1:]))
    assert reworded.score == result.score
    assert _stale(tmp_path, reworded)
    report.student_file(tmp_path, result.student, ".json").unlink()
    assert _stale(tmp_path, result)
