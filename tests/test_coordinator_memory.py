"""The batch's coordinator holds no result per student: the course pages come from the gradebook.

``grades.csv``, ``index.html`` and the answers pages are written once, at the end of a
batch, from a pass over the gradebook (:func:`grader.batch.write_course`). They are held
byte for byte to the pages the grader wrote when it kept every result in memory: the
SHA-256 of each file it wrote of the same courses is in ``tests/data/course/golden.json``.
After a deliberate change of the pages, ``GRADER_WRITE_GOLDEN=1`` writes the new ones.
"""

from __future__ import annotations

import gc
import hashlib
import io
import json
import os
import random
import tracemalloc
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from grader import executors
from grader.batch import BatchReport, Progress, grade_batch, write_course
from grader.course import CourseRecord, Intake
from grader.executors import BatchOptions, Finished
from grader.export import grades_csv
from grader.gradebook import Gradebook, Latest, ManualGrade
from grader.kernel.sandbox import Isolation
from grader.late import LatePolicy, SubmissionTime, parse_time
from grader.overrides import WHOLE_QUESTION, StaffOverride
from grader.results import SubmissionResult
from grader.roster import Roster, RosterEntry
from grader.rubric import Rubric, load_rubric
from grader.submission import Submission
from grader.summary import write_summary

ROOT = Path(__file__).parent.parent
DATA = Path(__file__).parent / "data" / "course"
GOLDEN = DATA / "golden.json"
EVIL = '<script>alert(1)</script><img src=x onerror=alert(2)>'
# Text answers students wrote, a few spellings of each (grouped alike: case, spaces).
TEXTS = ("Larger batches average the noise away.", "larger  batches AVERAGE the noise away.",
         "It converges.", "it converges.  ", EVIL, "Because of the learning rate.")
NAMES = ("zoë", "=cmd|' /C calc'!A0", "o'brien", "<b>bold</b>", "ünïcode-名前")


@pytest.fixture(scope="module")
def rubric() -> Rubric:
    return load_rubric(ROOT / "rubrics" / "hw2.toml")


def examples() -> list[SubmissionResult]:
    """The results of ``submissions_example`` as the grader made them (figures left out)."""
    lines = (DATA / "examples.jsonl").read_text("utf-8").splitlines()
    return [SubmissionResult.from_dict(json.loads(line)) for line in lines if line]


def _student(i: int) -> str:
    return NAMES[i // 7] if i % 7 == 3 and i // 7 < len(NAMES) else f"s{i:04d}"


def course(n: int, seed: int = 7) -> list[SubmissionResult]:
    """``n`` results made from the examples': other text and wrong answers, runs that failed."""
    rng = random.Random(seed)
    bases = [r.to_dict() for r in examples()]
    out = []
    for i in range(n):
        data = json.loads(json.dumps(bases[i % len(bases)]))
        data["student"] = _student(i)
        for q in data["questions"]:
            for c in q["checks"]:
                if c["kind"] == "manual":
                    c["received"] = rng.choice((*TEXTS, None))
                    c["status"] = "manual" if c["received"] else "missing"
                elif c["status"] in ("failed", "partial") and c["received"] is not None:
                    c["received"] = c["received"] + rng.choice(("", " ", "0", " 0 ", "1"))
        if i % 17 == 5:
            data["run"] = {**data["run"], "outcome": "timeout",
                           "message": f"ran past 60 s {EVIL}"}
        if i % 23 == 8:
            data["run"] = {**data["run"], "outcome": "grader_error", "message": "a bug"}
        out.append(SubmissionResult.from_dict(data))
    return out


def _staff(results: list[SubmissionResult]) -> tuple[list[ManualGrade], list[StaffOverride]]:
    """Grades of text answers and overrides (of checks and of questions) for some."""
    grades, overrides = [], []
    for i, r in enumerate(results):
        texts = [(q, c) for q in r.questions for c in q.checks if c.awaits_staff]
        if i % 3 == 0 and texts:
            q, c = texts[i % len(texts)]
            grades.append(ManualGrade(student=r.student, answer=c.answer, question=q.id,
                                      points=round(c.max_score * (i % 4) / 3, 2),
                                      comment="ok" if i % 2 else ""))
        auto = [(q, c) for q in r.questions for c in q.checks if not c.manual]
        if i % 5 == 1 and auto:
            q, c = auto[i % len(auto)]
            overrides.append(StaffOverride(student=r.student, question=q.id, answer=c.answer,
                                           points=c.max_score / 2, comment="half"))
        if i % 11 == 2:
            q = r.questions[i % len(r.questions)]
            overrides.append(StaffOverride(student=r.student, question=q.id,
                                           answer=WHOLE_QUESTION, points=q.max_score))
    return grades, overrides


def grade_into(out: Path, rubric: Rubric, results: list[SubmissionResult], *,
               staff: bool = True, intake: bool = True) -> Gradebook:
    """A gradebook of ``results`` (recorded in another order, some twice), with staff's
    work, a roster, times and a late policy; the caller closes it."""
    book = Gradebook.in_folder(out)
    book.claim(rubric)
    order = list(results)
    random.Random(3).shuffle(order)
    for r in order[: len(order) // 4]:  # graded before: the later row is the one shown
        book.record(replace(r, score=0.0), started="2026-01-01T00:00:00+00:00")
    for r in order:
        book.record(r, started="2026-01-02T00:00:00+00:00")
    if intake:
        ids = [r.student for r in results]
        roster = Roster(entries=tuple(
            RosterEntry(student=s, name=f"Name {s}", section=f"S{i % 3}", lms_id=str(1000 + i))
            for i, s in enumerate([*ids[2:], "absent-1", "absent-0", "nofile-1"])),
            source="roster.csv")
        subs = [Submission(student=s, path=Path(f"{s}.ipynb"),
                           submitted_at=f"2026-01-{10 + i % 4:02d}T1{i % 10}:30:00+00:00"
                           if i % 4 else "", marked_late=i % 8 == 4)
                for i, s in enumerate(ids)]
        times = {s: SubmissionTime(student=s, submitted_at="2026-01-20T00:00:00+00:00",
                                   source="times.csv line 2") for s in ids[1:2]}
        policy = LatePolicy(deadline=parse_time("2026-01-11T12:00:00+00:00", where="test"),
                            per="day", rate=0.1, floor=0.2, grace_minutes=15,
                            cutoff=parse_time("2026-01-19T00:00:00+00:00", where="test"))
        with book.transaction():
            Intake(roster=roster, times=times,
                   not_graded={"nofile-1": ("nofile-1/report.pdf", "only a PDF"),
                               "nofile-2": ("nofile-2.zip", f"no notebook {EVIL}")}
                   ).record(book.db, subs, policy)
    if staff:
        grades, overrides = _staff(results)
        book.set_staff(grades, overrides, by="ta")
    return book


def _files(folder: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(folder.iterdir())
            if p.name == "grades.csv" or p.suffix == ".html"}


COURSES = {"examples": lambda: (examples(), False), "synthetic": lambda: (course(60), True)}


@pytest.mark.parametrize("name", sorted(COURSES))
def test_course_pages_are_byte_for_byte_those_of_before(tmp_path, rubric, name):
    results, everything = COURSES[name]()
    with grade_into(tmp_path, rubric, results, staff=everything, intake=everything) as book:
        write_course(tmp_path, rubric, book)
    written = {page: hashlib.sha256(text).hexdigest() for page, text in _files(tmp_path).items()}
    golden = json.loads(GOLDEN.read_text("utf-8"))
    if os.environ.get("GRADER_WRITE_GOLDEN"):
        GOLDEN.write_text(json.dumps({**golden, name: written}, indent=1, sort_keys=True) + "\n",
                          "utf-8")
    assert written == golden[name], f"the pages written are in {tmp_path}"


def test_a_pass_over_the_gradebook_writes_what_the_results_in_memory_did(tmp_path, rubric):
    # A larger course: the CSV and pages from write_course's pass over the gradebook are
    # those write_summary and grades_csv make of the merged results held all at once.
    with grade_into(tmp_path / "a", rubric, course(300, seed=11)) as book:
        write_course(tmp_path / "a", rubric, book)
        merged, roster = book.merged(), CourseRecord(book.db).roster()
    held = tmp_path / "b"
    held.mkdir()
    (held / "grades.csv").write_text(grades_csv(merged, rubric, roster), "utf-8", newline="")
    write_summary(held, rubric, merged, roster=roster)
    assert _files(tmp_path / "a") == _files(held)


class Replay:
    """An executor that hands back stored results, as a worker would (JSON text)."""

    def run(self, tasks, *, rubric, settings, isolation, options, report) -> None:
        from grader.grade import submission_digest

        bases = [r.to_dict() for r in examples()]
        for i, task in enumerate(tasks):
            data = json.loads(json.dumps(bases[i % len(bases)]))
            data.update(student=task.student, rubric_digest=rubric.digest,
                        submission_sha256=submission_digest(task.submission()))
            for q in data["questions"]:  # each student's own text, as a course's would be
                for c in q["checks"]:
                    if c["received"]:
                        c["received"] += f" ({task.student})"
            report(Finished.from_json(json.dumps({
                "result": data, "started": "2026-01-02T00:00:00+00:00",
                "finished": "2026-01-02T00:00:01+00:00", "transcript": ""})))
            if Replay.marks is not None and i + 1 in Replay.marks:
                gc.collect()
                Replay.marks[i + 1] = tracemalloc.get_traced_memory()[0]

    marks: dict[int, int] | None = None


@pytest.fixture
def replay(monkeypatch):
    monkeypatch.setattr(executors, "EXECUTORS", {**executors.EXECUTORS, "replay": Replay})
    Replay.marks = None
    return Replay


def _batch(out: Path, rubric: Rubric, n: int, **options: Any) -> BatchReport:
    subs = [Submission(student=f"s{i:04d}", path=ROOT / "submissions_example" / "alice.ipynb")
            for i in range(n)]
    return grade_batch(subs, rubric, out=out, settings=rubric.execution,
                       isolation=Isolation(mode="none", reason="a test"),
                       options=BatchOptions(executor="replay", jobs=1, **options),
                       write_page=lambda r: None, progress=Progress(n, out, io.StringIO()),
                       intake=Intake(roster=Roster(entries=(RosterEntry(student="absent"),))))


def test_the_coordinator_holds_no_result_per_student(tmp_path, rubric, replay):
    # Each result is committed and let go: what the coordinator holds between the 20th
    # and the 120th result grows by far less than one result (some 50 KB in memory).
    replay.marks = {20: 0, 120: 0}
    tracemalloc.start()
    try:
        report = _batch(tmp_path, rubric, 120)
    finally:
        tracemalloc.stop()
    grown = (replay.marks[120] - replay.marks[20]) / 100
    print(f"{grown:.0f} bytes a result")
    assert grown < 2000, f"{grown:.0f} bytes a result"
    # The report holds ids and outcomes; the results are read from the gradebook if asked.
    assert len(report.results) == len(report.outcomes) == 121
    assert report.outcomes[0] == ("absent", "missing")
    assert [r.student for r in report.results] == [s for s, _ in report.outcomes]
    assert report.results[5].student == "s0004"
    assert (tmp_path / "grades.csv").read_text("utf-8").count("\n") == 122


def test_resume_keeps_and_shows_the_stored_results(tmp_path, rubric, replay):
    _batch(tmp_path, rubric, 30)
    index = (tmp_path / "index.html").read_bytes()
    # Nothing to grade again: every kept result is read back for the progress line, and
    # the pages are made again, the same.
    report = _batch(tmp_path, rubric, 30, resume=True)
    assert (len(report.kept), report.graded) == (30, ())
    assert (tmp_path / "index.html").read_bytes() == index


def test_stored_results_can_be_read_in_a_forked_process(tmp_path, rubric):
    results = examples()
    with grade_into(tmp_path, rubric, results, staff=False, intake=False) as book:
        latest = Latest(book)
        read, write = os.pipe()
        pid = os.fork()
        if pid == 0:  # the child: a connection of its own, not the parent's
            code = 1
            try:
                os.close(read)
                os.write(write, json.dumps([latest["carol"].score, "x" in latest]).encode())
                code = 0
            finally:
                os._exit(code)
        os.close(write)
        with os.fdopen(read, "rb") as pipe:
            got = json.loads(pipe.read())
        assert os.waitpid(pid, 0)[1] == 0
        assert got == [next(r.score for r in results if r.student == "carol"), False]
        assert latest["carol"] == next(r for r in results if r.student == "carol")
        assert len(latest) == 5 and sorted(latest) == sorted(r.student for r in results)
