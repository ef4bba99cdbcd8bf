"""Regrades without re-running: the gradebook's stored transcripts, checked again.

A check-only rubric edit (tolerances, points, mistakes, feedback) re-checks from the
answers and call outputs a kernel run left in the gradebook, and gives exactly the result
of a full re-run; a changed input list or execution setting runs the kernel again, and a
stored blob that is malformed or changed is refused (the submission runs again).
"""

from __future__ import annotations

import dataclasses
import io
import json
import shutil
import sqlite3
from pathlib import Path
from typing import Any

import pytest

from grader.batch import RECHECKED, Progress, grade_batch
from grader.errors import TranscriptError
from grader.executors import BatchOptions
from grader.grade import grade, grade_run, regrade
from grader.gradebook import Gradebook
from grader.kernel.sandbox import Isolation
from grader.results import RunLog, SubmissionResult
from grader.rubric import Rubric, load_rubric
from grader.submission import Submission
from grader.transcript import Transcript, checksum

ROOT = Path(__file__).resolve().parents[1]
MINI = ROOT / "tests" / "data" / "mini"
EXAMPLES = ROOT / "submissions_example"

# A check-only edit of each rubric: a tolerance, a question's points, a mistake's credit
# and feedback. None of it changes what the kernel is asked to do.
CHECK_EDITS = {
    "mini": [("rtol = 1e-6", "rtol = 1e-3"), ("points = 2", "points = 3"),
             ("credit = 0.5", "credit = 0.25"),
             ('feedback = "You forgot the output bias."', 'feedback = "Add the bias."')],
    "hw2": [("inputs = [[2.0, 4], [1.0, 1], [3.0, 100], [0.5, 7], [1.5, 32]]\n",
             "inputs = [[2.0, 4], [1.0, 1], [3.0, 100], [0.5, 7], [1.5, 32]]\nrtol = 1e-3\n"),
            ("points = 6", "points = 9"), ("credit = 0.5", "credit = 0.25")],
}
# An edit of the calls: one more input of a function check.
CALL_EDITS = {
    "mini": [("inputs = [[[1, 2, 3, 4]], [[5]]]", "inputs = [[[1, 2, 3, 4]], [[5]], [[7, 8]]]")],
    "hw2": [("inputs = [[2.0, 4], [1.0, 1], [3.0, 100], [0.5, 7], [1.5, 32]]",
             "inputs = [[2.0, 4], [1.0, 1], [3.0, 100], [0.5, 7], [1.5, 32], [2.5, 3]]")],
}
SOURCES = {"mini": (MINI / "rubric.toml", MINI / "reference.py", "reference.py"),
           "hw2": (ROOT / "rubrics" / "hw2.toml", ROOT / "reference" / "hw2.py",
                   "../reference/hw2.py")}


def _edited(tmp: Path, which: str, edits: list[tuple[str, str]], name: str) -> Rubric:
    """The rubric ``which`` with ``edits`` applied, in ``tmp`` beside a copy of its reference."""
    toml, reference, written = SOURCES[which]
    tmp.mkdir(parents=True, exist_ok=True)
    shutil.copy(reference, tmp / reference.name)
    text = toml.read_text("utf-8").replace(f'reference = "{written}"',
                                            f'reference = "{reference.name}"')
    for old, new in edits:
        assert old in text, old
        text = text.replace(old, new, 1)
    (tmp / f"{name}.toml").write_text(text, "utf-8")
    return load_rubric(tmp / f"{name}.toml")


def _submissions() -> list[tuple[str, Submission]]:
    subs = [("mini", Submission(student=p.stem, path=p))
            for p in sorted((MINI / "submissions").iterdir())]
    for p in sorted(EXAMPLES.iterdir()):
        if p.is_dir():
            subs.append(("hw2", Submission(student=p.name, path=p / "hw2.ipynb", folder=p)))
        else:
            subs.append(("hw2", Submission(student=p.stem, path=p)))
    return subs


SUBMISSIONS = _submissions()


def _comparable(result: SubmissionResult) -> dict[str, Any]:
    """A result's JSON form without what differs between two gradings of the same run."""
    data = result.to_dict()
    del data["graded_at"]
    data["run"] = {**data["run"], "seconds": 0.0}
    return data


# --------------------------------------------------------------------------- without kernels


def _transcript(**changes: Any) -> Transcript:
    base = Transcript(fingerprint="f" * 64,
                      answers={"k": {"t": "int", "v": "7"}, "double": {
                          "t": "callable", "name": "double", "signature": "(x)"}},
                      calls=(("c" * 64, 2.0, ({"value": {"t": "float", "v": "3.0"}},
                                              {"timeout": True, "not_run": True})),),
                      isolation="none")
    return dataclasses.replace(base, **changes)


def test_a_transcript_reads_back_as_it_was_written() -> None:
    for t in (_transcript(), _transcript(answers=None, refused="the kernel died", calls=())):
        assert Transcript.from_json(t.to_json()) == t


GOOD = json.loads(_transcript().to_json())


@pytest.mark.parametrize(("text", "why"), [
    ("{not json", "not JSON"),
    ("[]", "not a transcript"),
    (json.dumps({**GOOD, "format": 2}), "not a transcript"),
    (json.dumps({**GOOD, "answers": [1, 2]}), "malformed answers"),
    (json.dumps({**GOOD, "answers": {"k": "7"}}), "malformed answers"),
    (json.dumps({**GOOD, "calls": {"a": 1}}), "malformed calls"),
    (json.dumps({**GOOD, "calls": [["c", 2.0]]}), "malformed calls"),
    (json.dumps({**GOOD, "calls": [["c", True, []]]}), "malformed calls"),
    (json.dumps({**GOOD, "calls": [["c", -1, []]]}), "malformed calls"),
    (json.dumps({**GOOD, "calls": [["c", 2.0, {}]]}), "malformed calls"),
    (json.dumps({**GOOD, "fingerprint": 5}), "malformed fields"),
    ("[" * 100_000, "not JSON"),
])
def test_a_malformed_transcript_is_refused(text: str, why: str) -> None:
    with pytest.raises(TranscriptError, match=why):
        Transcript.from_json(text)


def _recorded(tmp_path: Path) -> Gradebook:
    book = Gradebook.in_folder(tmp_path)
    result = SubmissionResult(student="s1", submission="s1.py", score=1.0, max_score=2.0,
                              questions=(), run=RunLog())
    book.record(result, transcript=_transcript().to_json())
    return book


def _tamper(book: Gradebook, sql: str, *args: Any) -> None:
    with book.transaction():
        book.db.execute(sql, args)


def test_the_gradebook_keeps_a_transcript_beside_the_result(tmp_path: Path) -> None:
    with _recorded(tmp_path) as book:
        assert book.with_transcripts() == {"s1"}
        assert book.transcript("s1") == _transcript()
        with pytest.raises(TranscriptError, match="no transcript"):
            book.transcript("s2")


@pytest.mark.parametrize(("sql", "args", "why"), [
    # an answer changed in place: the checksum no longer matches
    ("UPDATE transcripts SET transcript = replace(transcript, '\"7\"', '\"8\"')", (),
     "checksum"),
    # changed, and the checksum recomputed, but no longer a transcript
    ("UPDATE transcripts SET transcript = ?, sha256 = ?", ("[1]", checksum("[1]")),
     "not a transcript"),
    # the fingerprint column says another run than the blob
    ("UPDATE transcripts SET fingerprint = ?", ("0" * 64,), "fingerprint"),
    ("UPDATE transcripts SET transcript = ?", (b"\x00binary",), "checksum"),
])
def test_a_tampered_stored_blob_is_refused(tmp_path: Path, sql: str, args: tuple[Any, ...],
                                           why: str) -> None:
    with _recorded(tmp_path) as book:
        _tamper(book, sql, *args)
        with pytest.raises(TranscriptError, match=why):
            book.transcript("s1")


# --------------------------------------------------------------------------- with kernels


@pytest.fixture(scope="module")
def first_runs(tmp_path_factory: pytest.TempPathFactory
               ) -> dict[str, tuple[SubmissionResult, Transcript | None]]:
    """Every example and golden submission graded once by its rubric, with its transcript."""
    tmp = tmp_path_factory.mktemp("first")
    rubrics = {which: _edited(tmp / which, which, [], "rubric") for which in SOURCES}
    return {f"{which}/{sub.student}": grade_run(sub, rubrics[which])
            for which, sub in SUBMISSIONS}


@pytest.mark.kernel
@pytest.mark.parametrize(("which", "sub"), SUBMISSIONS,
                         ids=[f"{w}/{s.student}" for w, s in SUBMISSIONS])
def test_a_check_only_regrade_equals_a_full_rerun(
        tmp_path: Path, first_runs: dict[str, Any], which: str, sub: Submission) -> None:
    first, transcript = first_runs[f"{which}/{sub.student}"]
    edited = _edited(tmp_path, which, CHECK_EDITS[which], "edited")
    full = grade(sub, edited)
    assert full.max_score != first.max_score  # the edit is one the results show
    if transcript is None:  # no kernel ran (unreadable): nothing to re-check from
        assert first.run.outcome == "unreadable"
        return
    stored = Transcript.from_json(transcript.to_json())  # as the gradebook gives it back
    again = regrade(sub, edited, stored, first.run)
    assert _comparable(again) == _comparable(full)
    # The same rubric re-checked gives the first result back.
    original = _edited(tmp_path / "same", which, [], "rubric")
    assert _comparable(regrade(sub, original, stored, first.run))["questions"] == \
        _comparable(first)["questions"]


@pytest.mark.kernel
@pytest.mark.parametrize("which", list(SOURCES))
def test_a_changed_call_plan_or_setting_refuses_the_transcript(
        tmp_path: Path, first_runs: dict[str, Any], which: str) -> None:
    wanted = {"mini": "good", "hw2": "alice"}[which]
    sub = next(s for w, s in SUBMISSIONS if w == which and s.student == wanted)
    first, transcript = first_runs[f"{which}/{wanted}"]
    inputs = _edited(tmp_path / "inputs", which, CALL_EDITS[which], "inputs")
    settings = dataclasses.replace(inputs.execution, call_timeout=7.0)
    same = _edited(tmp_path / "same", which, [], "rubric")
    other = Isolation(mode="none" if transcript.isolation == "bwrap" else "bwrap")
    for rubric, how in ((inputs, {}), (same, {"settings": settings}),
                        (same, {"isolation": other})):
        with pytest.raises(TranscriptError, match="another kernel run"):
            regrade(sub, rubric, transcript, first.run, **how)


def _batch(subs: list[Submission], rubric: Rubric, out: Path) -> tuple[Any, str]:
    stream = io.StringIO()
    report = grade_batch(subs, rubric, out=out, settings=rubric.execution,
                         isolation=Isolation(mode="none", reason="a test"),
                         options=BatchOptions(jobs=1, resume=True),
                         progress=Progress(len(subs), out, stream))
    return report, stream.getvalue()


def _executors(out: Path) -> dict[str, str]:
    db = sqlite3.connect(f"file:{out / 'gradebook.sqlite'}?mode=ro", uri=True)
    try:
        return dict(db.execute("SELECT student, executor FROM latest").fetchall())
    finally:
        db.close()


@pytest.mark.kernel
def test_resume_rechecks_from_stored_answers_and_reruns_what_changed(tmp_path: Path) -> None:
    subs = [Submission(student=n, path=MINI / "submissions" / f"{n}.ipynb")
            for n in ("good", "wrong", "broken")]
    out = tmp_path / "out"
    report, _ = _batch(subs, _edited(tmp_path / "r0", "mini", [], "rubric"), out)
    assert sorted(report.graded) == ["broken", "good", "wrong"]
    # A check-only edit: re-checked without a kernel (the unreadable one has no
    # transcript: it is graded again, which takes no kernel either).
    edited = _edited(tmp_path / "r1", "mini", CHECK_EDITS["mini"], "rubric")
    report, printed = _batch(subs, edited, out)
    assert (sorted(report.rechecked), report.graded) == (["good", "wrong"], ("broken",))
    assert printed.count("(from stored answers)") == 2
    assert _executors(out) == {"good": RECHECKED, "wrong": RECHECKED, "broken": "local"}
    by_student = {r.student: r for r in report.results}
    for name in ("good", "wrong"):
        full = grade(next(s for s in subs if s.student == name), edited,
                     isolation=Isolation(mode="none", reason="a test"))
        assert (by_student[name].score, by_student[name].questions) == \
            (full.score, full.questions)
    # grades.csv is written once, at the end, with every student
    assert (out / "grades.csv").read_text().count("\n") == 4
    # A tampered blob: that submission runs again, the other is re-checked.
    with Gradebook.existing(out) as book, book.transaction():
        book.db.execute("UPDATE transcripts SET transcript = replace(transcript, 'double', "
                        "'triple') WHERE result_id = (SELECT id FROM latest WHERE "
                        "student = 'wrong')")
    again = _edited(tmp_path / "r2", "mini", [*CHECK_EDITS["mini"][:1],
                                              ("points = 1", "points = 4")], "rubric")
    report, _ = _batch(subs, again, out)
    assert (sorted(report.rechecked), sorted(report.graded)) == (["good"], ["broken", "wrong"])
    # A changed input list: every submission runs again.
    calls = _edited(tmp_path / "r3", "mini", CALL_EDITS["mini"], "rubric")
    report, _ = _batch(subs, calls, out)
    assert (report.rechecked, sorted(report.graded)) == ((), ["broken", "good", "wrong"])


def test_a_property_that_changes_its_arguments_changes_no_other_students_verdict(
        tmp_path: Path) -> None:
    from grader.answers import CallableAnswer, CallOutcome
    from grader.grade import _question, _regrade_plans

    (tmp_path / "reference.py").write_text(
        "def first(xs):\n    return xs[0]\n\n"
        "def inputs_first():\n    return [([3, 1, 2],)]\n\n"
        "def check_first(args, out):\n    xs = args[0]\n    ok = out == xs[0]\n"
        "    xs.reverse()  # works on its input in place\n    return ok, ''\n", "utf-8")
    (tmp_path / "rubric.toml").write_text(
        '[assignment]\nid = "p"\ntitle = "P"\nreference = "reference.py"\n\n'
        '[[questions]]\nid = "q1"\ntitle = "First"\npoints = 1\n'
        '  [[questions.checks]]\n  answer = "first"\n  kind = "property"\n'
        '  property = "check_first"\n  inputs_from = "inputs_first"\n', "utf-8")
    rubric = load_rubric(tmp_path / "rubric.toml")
    reference = rubric.load_reference()
    question, check = rubric.questions[0], rubric.questions[0].checks[0]
    answers = {"first": CallableAnswer("first", "(xs)")}
    verdicts = []
    for _ in range(3):  # three students whose function returned 3, each re-checked
        calls, _keys = _regrade_plans(rubric, reference, ())[0]  # one plan for the batch
        outcomes = {id(check): (CallOutcome(value=3),)}
        verdicts.append(_question(question, answers, outcomes, calls, reference).status)
    assert verdicts == ["passed", "passed", "passed"]
