"""Grade one submission against a rubric: :func:`grade`, and the facade around it.

:func:`grade` runs a :class:`~grader.submission.Submission` in a fresh kernel and checks
its answers; ``grader grade`` reaches it through :mod:`grader.batch` (one call per
student, in a worker), ``grader validate`` directly. :func:`grade_submission` is the
facade for one path (a file, or a student's folder): the pytest plugin, ``grader check``
and ``grader gradescope`` come through it. The kernel runs the student's code and answers
calls; every comparison happens here, in the grader's process, on decoded plain data.
"""

from __future__ import annotations

import datetime as _dt
import hashlib
import platform
import time
from collections.abc import Collection
from dataclasses import replace
from pathlib import Path
from types import ModuleType
from typing import Any

import grader.timings as timings
from grader.answers import MISSING, CallableAnswer, Rejected
from grader.checks.protocol import CallPlan, CheckSpec, Evidence, make_result
from grader.checks.registry import kind_of
from grader.errors import GraderError, SubmissionError, TranscriptError
from grader.kernel import sandbox
from grader.kernel.execute import KernelSession
from grader.kernel.notebook import load_notebook, markdown_cells
from grader.kernel.sandbox import Isolation
from grader.messages import say
from grader.results import (
    CellError,
    CheckResult,
    QuestionResult,
    RunLog,
    SubmissionResult,
    question_status,
)
from grader.rubric import Rubric
from grader.settings import ExecutionSettings
from grader.submission import Submission
from grader.transcript import Transcript, call_key, fingerprint
from grader.version import __version__


def environment() -> dict[str, str]:
    """The fingerprint of the grading environment, so two runs can be matched."""
    import numpy
    import sympy

    return {"python": platform.python_version(), "numpy": numpy.__version__,
            "sympy": sympy.__version__, "platform": platform.platform(terse=True)}


def file_digest(path: Path) -> str:
    """SHA-256 of a submission's file, to recognise an unchanged submission on resume."""
    return hashlib.sha256(path.read_bytes()).hexdigest()


def submission_digest(sub: Submission) -> str:
    """SHA-256 over everything a submission brings: its file, or its whole folder."""
    if sub.folder is None:
        return file_digest(sub.path)
    h = hashlib.sha256()
    for p in sorted(sub.folder.rglob("*")):
        if p.is_file() and not p.is_symlink():
            h.update(str(p.relative_to(sub.folder)).encode() + b"\0")
            h.update(hashlib.sha256(p.read_bytes()).digest())
    return h.hexdigest()


def grade_submission(
    path: str | Path,
    rubric: Rubric,
    *,
    student: str | None = None,
    settings: ExecutionSettings | None = None,
    isolation: Isolation | None = None,
    session: KernelSession | None = None,
) -> SubmissionResult:
    """Grade one notebook or module, or a student's folder holding one.

    A broken submission gives a result, never an exception; only a path that holds no
    submission at all raises :class:`~grader.errors.SubmissionError`. ``session`` (a
    kernel started ahead of need, under ``isolation``) is as for :func:`grade`.
    """
    from grader.discover import pick, student_id

    path = Path(path)
    if path.is_dir():
        picked = pick(path, rubric.submission_names)
        if not isinstance(picked, Path):
            raise SubmissionError(picked.reason, path=str(path))
        sub = Submission(student=student or student_id(path.name), path=picked, folder=path)
    else:
        sub = Submission(student=student or student_id(path.stem), path=path)
    return grade(sub, rubric, settings=settings, isolation=isolation, session=session)


def grade(sub: Submission, rubric: Rubric, *,
          settings: ExecutionSettings | None = None,
          isolation: Isolation | None = None,
          session: KernelSession | None = None,
          command: str = "") -> SubmissionResult:
    """Run ``sub`` in a fresh kernel, harvest its answers and check them.

    ``session`` may be a kernel started ahead of need (never one that ran another
    student's code); ``isolation`` defaults to what ``settings.sandbox`` resolves to.
    """
    return grade_run(sub, rubric, settings=settings, isolation=isolation, session=session,
                     command=command)[0]


def grade_run(sub: Submission, rubric: Rubric, *,
              settings: ExecutionSettings | None = None,
              isolation: Isolation | None = None,
              session: KernelSession | None = None,
              command: str = "",
              questions: Collection[str] = ()) -> tuple[SubmissionResult, Transcript | None]:
    """:func:`grade`, and the transcript of its kernel run (None when no kernel ran).

    ``questions`` (ids) limits the work to those questions' checks: only their calls are
    made and only they are checked, so the result holds only them
    (:func:`grader.batch.only_questions` puts the stored others back).
    """
    settings = settings or rubric.execution
    isolation = isolation or sandbox.resolve(settings.sandbox)
    reference = rubric.load_reference()
    loaded = load_notebook(sub)
    answers: dict[str, Any]
    outcomes: dict[int, tuple[Any, ...]] = {}
    calls = _planned_calls(rubric, reference, questions)
    digest = _digest_or_empty(sub)
    transcript = None
    if loaded.nb is None:
        if session is not None:
            session.close()  # started ahead of need, for a notebook that cannot run
        run = RunLog(outcome="unreadable", message=loaded.error)
        answers = {n: Rejected(loaded.error) for n in rubric.answer_names}
    else:
        keys = _call_keys(rubric, calls)
        try:
            run, answers, outcomes, crossed = _run(sub, loaded.nb, rubric, calls, keys,
                                                   settings, isolation, session)
        except GraderError as exc:
            run = RunLog(outcome="not_run", message=str(exc))
            answers = {n: Rejected(f"the submission could not be run: {exc}")
                       for n in rubric.answer_names}
        else:
            if digest:
                transcript = replace(crossed, isolation=isolation.mode, fingerprint=(
                    run_fingerprint(digest, rubric, calls, settings, isolation.mode, keys)))
        answers.update(_text_answers(loaded.nb.cells, rubric))
    began = time.monotonic()
    result = _result(sub, rubric, answers, outcomes, calls, reference, run=run,
                     isolation=isolation.mode, command=command, digest=digest,
                     questions=questions)
    timings.add("checks", began)
    return result, transcript


def regrade(sub: Submission, rubric: Rubric, transcript: Transcript, run: RunLog, *,
            settings: ExecutionSettings | None = None,
            isolation: Isolation | None = None, command: str = "",
            questions: Collection[str] = ()) -> SubmissionResult:
    """Check ``sub`` again from the transcript of an earlier kernel run, without a kernel.

    ``run`` is that grading's run log. The result is the one :func:`grade` gives when the
    kernel hands over the same answers; a transcript of another run (its fingerprint
    differs: the submission, the calls planned, the settings) or one that does not fit
    the rubric raises :class:`~grader.errors.TranscriptError`: run the kernel instead.
    With ``questions``, only their checks are checked, as :func:`grade_run` does; the
    transcript may be of a whole run or of a run limited to the same questions.
    """
    from grader.kernel import wire
    from grader.kernel.harvest import budget_of, decode_answers, decode_calls

    settings = settings or rubric.execution
    mode = (isolation or sandbox.resolve(settings.sandbox)).mode
    reference = rubric.load_reference()
    digest = _digest_or_empty(sub)
    plan = next((p for p in _regrade_plans(rubric, reference, tuple(questions))
                 if digest and transcript.fingerprint == run_fingerprint(
                     digest, rubric, p[0], settings, mode, p[1])), None)
    if plan is None:
        raise TranscriptError("the transcript is of another kernel run")
    calls, keys = plan
    # Decoded in the order grade() decodes them, against one budget, as a harvest is.
    budget = budget_of(wire.Limits.of(settings))
    answers: dict[str, Any]
    if transcript.answers is None:
        answers = {n: Rejected(transcript.refused) for n in rubric.answer_names}
    elif list(transcript.answers) == list(rubric.answer_names):
        answers = decode_answers(transcript.answers, budget)
    else:
        raise TranscriptError("the transcript holds other answers than the rubric asks for")
    stored = iter(transcript.calls)
    outcomes: dict[int, tuple[Any, ...]] = {}
    for c in _calling(rubric, calls, answers):
        entry = next(stored, None)
        if entry is None or entry[0] != keys[id(c)] or len(entry[2]) != len(calls[id(c)].calls):
            raise TranscriptError("the transcript's calls are not the ones planned")
        outcomes[id(c)] = decode_calls(entry[2], budget, entry[1])
    if next(stored, None) is not None:
        raise TranscriptError("the transcript holds calls that are not planned")
    if _manual_names(rubric):
        # The digest above is the transcript's: these bytes read as a notebook when they
        # ran, so their text answers need no nbformat (see markdown_cells).
        cells = markdown_cells(sub)
        if cells is None:
            loaded = load_notebook(sub)
            if loaded.nb is None:
                raise TranscriptError("the submission no longer reads")
            cells = loaded.nb.cells
        answers.update(_text_answers(cells, rubric))
    return _result(sub, rubric, answers, outcomes, calls, reference, run=run,
                   isolation=transcript.isolation, command=command, digest=digest,
                   questions=questions)


def run_fingerprint(digest: str, rubric: Rubric, calls: dict[int, CallPlan],
                    settings: ExecutionSettings, isolation: str,
                    keys: dict[int, str] | None = None) -> str:
    """The fingerprint of the kernel run that grading a submission of ``digest`` makes.

    ``keys`` are the :func:`call_key` of ``calls`` when the caller has them already.
    """
    import dataclasses

    keys = _call_keys(rubric, calls) if keys is None else keys
    return fingerprint(submission=digest, answers=rubric.answer_names,
                       calls=[keys[id(c)] for q in rubric.questions for c in q.checks
                              if id(c) in keys],
                       settings=dataclasses.asdict(settings), isolation=isolation,
                       grader=__version__, environment=environment())


def planned_calls(rubric: Rubric) -> dict[int, CallPlan]:
    """The calls each check of ``rubric`` makes, keyed by ``id(check)``."""
    return _planned_calls(rubric, rubric.load_reference())


Plans = list[tuple[dict[int, CallPlan], dict[int, str]]]
# (id(rubric), id(reference), questions) -> (rubric, reference, plans); the objects are
# held so that their ids are not reused while the entry stands.
_PLANS: dict[tuple[int, int, tuple[str, ...]], tuple[Rubric, ModuleType, Plans]] = {}


def _regrade_plans(rubric: Rubric, reference: ModuleType, questions: tuple[str, ...]
                   ) -> Plans:
    """The calls a transcript may be of, with their keys: the whole run's, then (with
    ``questions``) the run limited to them.

    Made once for a batch of re-checks: they depend on the rubric and the reference
    alone, and building them (the reference's ``inputs_from``) and encoding every call's
    arguments was most of a re-check's bookkeeping. A reference whose inputs change from
    one call to the next (unseeded) never matches a stored run either way, so it is run
    again in a kernel, as it was.
    """
    # A rubric without a reference gets a new empty module each time: its id says nothing.
    key = (id(rubric), 0 if rubric.reference_path is None else id(reference), questions)
    entry = _PLANS.get(key)
    if entry is not None and entry[0] is rubric and (
            entry[1] is reference or rubric.reference_path is None):
        return entry[2]
    plans: Plans = []
    for limited in ((), questions) if questions else ((),):
        calls = _planned_calls(rubric, reference, limited)
        plans.append((calls, _call_keys(rubric, calls)))
    if len(_PLANS) >= 8:  # a process that reads many rubrics (a test run)
        _PLANS.clear()
    _PLANS[key] = (rubric, reference, plans)
    return plans


def _call_keys(rubric: Rubric, calls: dict[int, CallPlan]) -> dict[int, str]:
    return {id(c): call_key(c.answer, calls[id(c)].calls, calls[id(c)].timeout)
            for q in rubric.questions for c in q.checks if id(c) in calls}


def _calling(rubric: Rubric, calls: dict[int, CallPlan], answers: dict[str, Any]
             ) -> list[CheckSpec]:
    """The checks whose calls are made, in the order they are made: a function answer's."""
    return [c for q in rubric.questions for c in q.checks
            if id(c) in calls and isinstance(answers.get(c.answer), CallableAnswer)]


def _text_answers(cells: Any, rubric: Rubric) -> dict[str, str]:
    from grader.kernel.harvest import text_answers

    return {name: text for name, text in text_answers(cells, _manual_names(rubric)).items()
            if text}


def _result(sub: Submission, rubric: Rubric, answers: dict[str, Any],
            outcomes: dict[int, tuple[Any, ...]], calls: dict[int, CallPlan],
            reference: ModuleType, *, run: RunLog, isolation: str, command: str,
            digest: str, questions: Collection[str] = ()) -> SubmissionResult:
    """Check the answers and put the result together: the one step grade and regrade share.

    With ``questions``, only those questions are checked and the result holds only them.
    """
    checked = tuple(_question(q, answers, outcomes, calls, reference)
                    for q in rubric.questions if not questions or q.id in questions)
    return SubmissionResult(
        student=sub.student,
        submission=str(sub.path),
        score=round(sum(q.score for q in checked), 6),
        max_score=rubric.max_score,
        questions=checked,
        run=run,
        rubric=str(rubric.path),
        grader_version=__version__,
        graded_at=_dt.datetime.now(_dt.UTC).isoformat(timespec="seconds"),
        isolation=isolation,
        environment=environment(),
        command=command or reproduce_command(sub, rubric),
        submission_sha256=digest,
        rubric_digest=rubric.digest,
    )


def _digest_or_empty(sub: Submission) -> str:
    try:
        return submission_digest(sub)
    except OSError:
        return ""


def reproduce_command(sub: Submission, rubric: Rubric) -> str:
    """The command that grades this one submission again, the same way.

    For a submission unpacked from an archive, one that unpacks its members again (the
    folder it was graded in is gone after the batch).
    """
    import shlex

    if sub.origin is not None:
        from grader.discover import unpack_command

        return unpack_command(sub.origin, rubric.path)
    target = sub.folder if sub.folder is not None else sub.path
    return shlex.join(["grader", "grade", str(target), "--rubric", str(rubric.path)])


def _manual_names(rubric: Rubric) -> list[str]:
    """The answers a TA scores: text, read from tagged markdown cells too."""
    return [c.answer for q in rubric.questions for c in q.checks if not kind_of(c).auto]


def _planned_calls(rubric: Rubric, reference: ModuleType,
                   questions: Collection[str] = ()) -> dict[int, CallPlan]:
    """The calls each check needs of the student's function, keyed by ``id(check)``.

    With ``questions``, only the checks of those questions call.
    """
    planned = {}
    for q in rubric.questions:
        if questions and q.id not in questions:
            continue
        for c in q.checks:
            plan = kind_of(c).plan(c, reference)
            if plan is not None:
                planned[id(c)] = plan
    return planned


MAX_RERUNS = 2


def _run(sub: Submission, nb: Any, rubric: Rubric, calls: dict[int, CallPlan],
         keys: dict[int, str], settings: ExecutionSettings, isolation: Isolation,
         session: KernelSession | None,
         ) -> tuple[RunLog, dict[str, Any], dict[int, tuple[Any, ...]], Transcript]:
    """Run, harvest and call; when a cell kills the kernel, run again without it.

    The transcript holds what crossed from the kernel (its fingerprint is left empty).
    """
    from grader.kernel.harvest import Harvester

    preamble = "" if sub.is_notebook else f"__name__ = {sub.path.stem!r}"
    skip: tuple[int, ...] = ()
    fatal: list[CellError] = []
    for attempt in range(MAX_RERUNS + 1):
        current = session if attempt == 0 and session is not None else \
            KernelSession(settings, isolation=isolation,
                          forkserver=session.forkserver if session is not None else None)
        with current:
            current.load(sub)
            harvester = Harvester(current)
            harvester.load()
            began = time.monotonic()
            run = current.run_notebook(nb, preamble=preamble, skip=skip,
                                       answer_names=rubric.answer_names)
            timings.add("cells", began)
            bad = run.errors[-1].index if run.errors and run.outcome != "ok" else None
            if bad is not None and attempt < MAX_RERUNS:
                # A dead kernel is never a pass: grade what the rest of the code defines.
                fatal.append(run.errors[-1])
                skip = (*skip, bad)
                continue
            if run.outcome != "ok":
                reason = run.message or "the submission did not finish running"
                return (_with_fatal(run, fatal), {n: Rejected(reason) for n in rubric.answer_names},
                        {}, Transcript(fingerprint="", answers=None, refused=reason))
            # The answers and every function check's calls in one request to the kernel.
            began = time.monotonic()
            planned = [c for q in rubric.questions for c in q.checks if id(c) in calls]
            answers, done = harvester.collect(
                rubric.answer_names,
                [(c.answer, calls[id(c)].calls, calls[id(c)].timeout) for c in planned])
            timings.add("harvest", began)
            outcomes: dict[int, tuple[Any, ...]] = {}
            made = []
            for c, calls_made in zip(planned, done, strict=True):
                if calls_made is not None:  # a function answer's check, as _calling says
                    outcomes[id(c)] = calls_made.outcomes
                    made.append((keys[id(c)], calls_made.limit, calls_made.items))
            if current.deadline_hit:
                run = replace(run, outcome="timeout", message=(
                    f"the submission ran past its time limit of {settings.timeout:g} s"))
            crossed = Transcript(fingerprint="", answers=harvester.crossed,
                                 refused=harvester.refused, calls=tuple(made))
            return _with_fatal(run, fatal), answers, outcomes, crossed
    raise AssertionError("unreachable")  # the loop returns on its last attempt


def _with_fatal(run: RunLog, fatal: list[CellError]) -> RunLog:
    """Fold the cells that killed earlier kernels into the final run's log."""
    if not fatal:
        return run
    skipped = ", ".join(str(e.index) for e in fatal)
    note = (f"cell{'s' if len(fatal) > 1 else ''} {skipped} stopped the kernel and "
            f"{'were' if len(fatal) > 1 else 'was'} left out of a fresh run; "
            "everything else was graded")
    message = f"{note}; {run.message}" if run.message else note
    return replace(run, errors=(*fatal, *run.errors), message=message)


def _question(q: Any, answers: dict[str, Any], outcomes: dict[int, tuple[Any, ...]],
              calls: dict[int, CallPlan], reference: ModuleType) -> QuestionResult:
    total_weight = sum(c.weight for c in q.checks)
    results = []
    for c in q.checks:
        max_score = q.points * c.weight / total_weight if total_weight else 0.0
        evidence = Evidence(received=answers.get(c.answer, MISSING), reference=reference,
                            calls=_calls(calls.get(id(c))), outcomes=outcomes.get(id(c), ()))
        results.append(_check(c, evidence, max_score))
    score = min(q.points, max(0.0, sum(r.score for r in results)))
    return QuestionResult(id=q.id, title=q.title, score=round(score, 6), max_score=q.points,
                          status=question_status(results), checks=tuple(results))


def _calls(plan: CallPlan | None) -> tuple[Any, ...]:
    return plan.calls if plan is not None else ()


def _check(spec: CheckSpec, evidence: Evidence, max_score: float) -> CheckResult:
    try:
        return kind_of(spec).grade(spec, evidence, max_score)
    except Exception as exc:  # a bug of ours in one check must not sink the submission
        return make_result(spec, max_score, fraction=0.0, status="error",
                           message=say("check.grader_error",
                                       error=f"{type(exc).__name__}: {exc}"))


def failed_result(sub: Submission, rubric: Rubric, message: str) -> SubmissionResult:
    """A zero result that says why a submission could not be graded at all."""
    questions = tuple(
        QuestionResult(id=q.id, title=q.title, score=0.0, max_score=q.points, status="error",
                       checks=tuple(
                           CheckResult(answer=c.answer, kind=c.kind, status="error", score=0.0,
                                       max_score=q.points * c.weight / sum(
                                           x.weight for x in q.checks),
                                       message=message, visible=c.visible,
                                       visibility=c.visibility, feedback=c.feedback)
                           for c in q.checks))
        for q in rubric.questions)
    return SubmissionResult(student=sub.student, submission=str(sub.path), score=0.0,
                            max_score=rubric.max_score, questions=questions,
                            run=RunLog(outcome="not_run", message=message),
                            rubric=str(rubric.path), grader_version=__version__)
