"""Grade the mutants of each answer's reference code with the rubric's own check.

A mutant's fate is one of :data:`FATES`:

- ``killed``: it loses points (or its code raises, as a student's would);
- ``matched``: it loses points and is named by one of the check's mistakes (its feedback
  reaches the student);
- ``timeout``: it ran past the per-mutant budget. A student's function that loops forever
  hits the kernel's time limit and loses the check's points, so a timeout counts as
  killed in the score; it is shown in a column of its own;
- ``equivalent``: it gives the reference's output on the check's inputs and on a dense
  sample around them (:mod:`grader.audit.samples`) under the check's comparison (a value
  answer: it passes and equals the reference's value as the kernel sends it: a sympy
  expression at random points beyond the check's domain too, a number or an array
  exactly); no check could tell it, so it is left out of the score;
- ``survived``: full marks, though it differs from the reference somewhere in the
  sample: the rubric cannot see that error. Its suggestion is the first sampled input
  (or point) where it differs;
- ``not run``: the total budget ran out first; left out of the score.

Mutants are graded exactly as ``grader validate`` grades a mistake (through the check's
kind, with the answer sent through the kernel's wire format), in the grader's process:
the reference is trusted staff code, so its mutants are too. Each mutant runs in a
process forked for it, up to ``jobs`` at once; one that passes its budget is killed.
Only the mutated slice is run, in a copy of the reference module's namespace: the value
a value answer gets is that of the whole mutated module, since nothing outside its slice
feeds it.
"""

from __future__ import annotations

import ast
import copy
import dataclasses
import os
import time
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import Any

from grader.answers import CallOutcome
from grader.audit.mutants import Mutant, Slice, mutants, slice_of
from grader.audit.samples import dense_sample
from grader.calls import Call
from grader.checks.protocol import CheckKind, CheckSpec, Evidence
from grader.checks.registry import kind_of
from grader.errors import GraderError
from grader.results import CheckResult
from grader.rubric import Rubric
from grader.validate import called_evidence, wire

FATES = ("killed", "matched", "timeout", "equivalent", "survived", "not run")
KILLED = ("killed", "matched", "timeout")


@dataclass(frozen=True, kw_only=True)
class Settings:
    """The bounds of one audit."""

    budget: float = 10.0  # seconds per mutant
    total_budget: float = 900.0  # seconds for every mutant of the rubric
    max_mutants: int = 0  # per answer; 0: all
    jobs: int = 0  # mutants run at once; 0: the number of cores
    questions: tuple[str, ...] = ()  # only these questions; (): all


@dataclass(frozen=True, kw_only=True)
class Verdict:
    """What became of one mutant."""

    fate: str
    mistake: str = ""
    message: str = ""
    suggestion: str = ""


@dataclass(kw_only=True)
class AnswerAudit:
    """The mutants of one check's answer and their verdicts."""

    question: str
    answer: str
    kind: str
    skipped: str = ""  # why this answer has no mutants ("" when it has)
    mutants: list[Mutant] = field(default_factory=list)
    verdicts: dict[int, Verdict] = field(default_factory=dict)
    capped: int = 0  # mutants left out by --max-mutants

    def count(self, *fates: str) -> int:
        """How many verdicts are of one of ``fates``."""
        return sum(1 for v in self.verdicts.values() if v.fate in fates)

    @property
    def score(self) -> float | None:
        """killed / (generated - equivalent), mutants not run left out; None: nothing to score."""
        scored = self.count("killed", "matched", "timeout", "survived")
        return self.count(*KILLED) / scored if scored else None

    def survivors(self) -> list[tuple[Mutant, Verdict]]:
        """The survived mutants, in source order."""
        return [(m, self.verdicts[m.index]) for m in self.mutants
                if self.verdicts.get(m.index, Verdict(fate="")).fate == "survived"]


@dataclass(kw_only=True)
class Audit:
    """An audited rubric: every check's answer, in rubric order."""

    rubric: Rubric
    answers: list[AnswerAudit]
    seconds: float = 0.0

    def questions(self) -> list[tuple[str, float | None, list[AnswerAudit]]]:
        """(question id, its score over all its answers' mutants, its answers)."""
        out: dict[str, list[AnswerAudit]] = {}
        for a in self.answers:
            out.setdefault(a.question, []).append(a)
        rows = []
        for qid, answers in out.items():
            scored = sum(a.count("killed", "matched", "timeout", "survived") for a in answers)
            killed = sum(a.count(*KILLED) for a in answers)
            rows.append((qid, killed / scored if scored else None, answers))
        return rows


# --------------------------------------------------------------------------- targets


@dataclass(frozen=True, kw_only=True)
class Target:
    """One check's answer, with what its mutants are graded against."""

    question: str
    spec: CheckSpec
    piece: Slice
    calls: tuple[Call, ...] | None  # None: a value answer
    samples: tuple[Call, ...] = ()  # calls near them on which the reference itself returns


def _why_not(spec: CheckSpec, kind: CheckKind, piece: Slice | None, called: bool) -> str:
    if not kind.auto:
        return "graded by a person"
    if getattr(spec.options, "outputs", None) is not None:
        return "the expected outputs are literals of the rubric"
    if getattr(spec.options, "value", None) is not None:
        return "the expected value is a literal of the rubric"
    if piece is None:
        return f"the reference has no top-level definition of {spec.reference_name}"
    if called != piece.function:
        return f"the reference's {spec.reference_name} is not a " + (
            "function" if called else "value")
    return ""


def targets(rubric: Rubric, reference: ModuleType, tree: ast.Module,
            questions: Sequence[str] = ()) -> tuple[list[Target], list[AnswerAudit]]:
    """The answers to mutate, and an empty audit for every check (skipped ones say why)."""
    found: list[Target] = []
    audits: list[AnswerAudit] = []
    known = {q.id for q in rubric.questions}
    unknown = [q for q in questions if q not in known]
    if unknown:
        raise GraderError(f"{rubric.path}: --questions names {', '.join(unknown)}, not "
                          f"questions of the rubric (its questions: {', '.join(known)})")
    for q in rubric.questions:
        if questions and q.id not in questions:
            continue
        for spec in q.checks:
            kind = kind_of(spec)
            plan = kind.plan(spec, reference) if kind.auto else None
            piece = slice_of(tree, spec.reference_name)
            skipped = _why_not(spec, kind, piece, plan is not None)
            audits.append(AnswerAudit(question=q.id, answer=spec.answer, kind=spec.kind,
                                      skipped=skipped))
            if skipped or piece is None:
                continue
            spec = dataclasses.replace(spec, feedback="full")
            calls = None if plan is None else plan.calls
            samples = () if calls is None else tuple(_runs(reference, spec, calls))
            found.append(Target(question=q.id, spec=spec, piece=piece, calls=calls,
                                samples=samples))
    return found, audits


def _runs(reference: ModuleType, spec: CheckSpec, calls: tuple[Call, ...]) -> list[Call]:
    """The dense sample around ``calls``, without the inputs the reference itself fails on."""
    func = getattr(reference, spec.reference_name)
    kept = []
    for call in dense_sample(calls):
        outcome = _call(func, call)
        if outcome.error is None:
            kept.append(call)
    return kept


# --------------------------------------------------------------------------- one mutant


def _call(func: Any, call: Call) -> CallOutcome:
    """One call as the kernel reports it: the value through the wire, or the error."""
    import numpy as np

    try:
        with np.errstate(all="ignore"):
            value = func(*copy.deepcopy(call.args), **copy.deepcopy(dict(call.kwargs)))
    except Exception as exc:  # trusted mutant code; its error is a student's error
        return CallOutcome(error=f"{type(exc).__name__}: {exc}"[:2000])
    try:
        return CallOutcome(value=wire(value))
    except Exception as exc:
        return CallOutcome(error=f"the value could not be sent: {type(exc).__name__}")


def _graded(target: Target, result: CheckResult) -> Verdict | None:
    """Killed or matched (None: full marks)."""
    if result.status == "passed":
        return None
    if result.mistake:
        return Verdict(fate="matched", mistake=result.mistake, message=result.message)
    return Verdict(fate="killed", message=result.message)


def grade_mutant(target: Target, mutant: Mutant, reference: ModuleType) -> Verdict:
    """The verdict on one mutant (run in the process forked for it)."""
    # The only code run here is the rubric's own reference module, mutated: staff code the
    # rubric names, never anything a student sent (audit starts no kernel and reads no
    # submission), in a process forked for this mutant and killed at its budget.
    namespace = dict(vars(reference))
    module = ast.fix_missing_locations(ast.Module(body=list(mutant.statements),
                                                  type_ignores=[]))
    try:
        import numpy as np

        with np.errstate(all="ignore"):
            exec(compile(module, str(getattr(reference, "__file__", "reference")), "exec"),
                 namespace)
    except Exception as exc:  # a mutant of trusted code: like a student cell that raises
        return Verdict(fate="killed", message=f"the mutated code raised {type(exc).__name__}")
    answer = namespace[target.piece.name]
    kind = kind_of(target.spec)
    if target.calls is not None:
        return _function_verdict(target, kind, answer, reference)
    return _value_verdict(target, kind, namespace, reference)


def _function_verdict(target: Target, kind: CheckKind, func: Any,
                      reference: ModuleType) -> Verdict:
    spec, calls = target.spec, target.calls or ()
    outcomes = [_call(func, c) for c in calls]
    evidence = called_evidence(spec.answer, reference, calls, outcomes)
    verdict = _graded(target, kind.grade(spec, evidence, 1.0))
    if verdict is not None:
        return verdict
    plain = _plain(spec)
    rest = list(target.samples)
    outcomes = [_call(func, c) for c in rest]
    sample = called_evidence(spec.answer, reference, tuple(rest), outcomes)
    if not rest or kind.grade(plain, sample, 1.0).status == "passed":
        return Verdict(fate="equivalent")
    for call, outcome in zip(rest, outcomes, strict=True):
        one = called_evidence(spec.answer, reference, (call,), [outcome])
        result = kind.grade(plain, one, 1.0)
        if result.status != "passed":
            return Verdict(fate="survived", suggestion=f"{spec.answer}{call.display()}",
                           message=result.message)
    return Verdict(fate="equivalent")  # pragma: no cover - the whole sample failed above


def _plain(spec: CheckSpec) -> CheckSpec:
    """The check without mistakes or partial credit: pass or fail on each call."""
    names = {f.name for f in dataclasses.fields(spec.options)}
    changes = {k: v for k, v in (("mistakes", ()), ("partial", False)) if k in names}
    return dataclasses.replace(spec, options=dataclasses.replace(spec.options, **changes))


def _value_verdict(target: Target, kind: CheckKind, namespace: dict[str, Any],
                   reference: ModuleType) -> Verdict:
    spec = target.spec
    mutated = ModuleType(reference.__name__)
    mutated.__dict__.update(namespace)
    try:
        evidence = kind.reference_evidence(spec, mutated, wire, ())
    except Exception as exc:  # the value cannot be read as an answer: it scores nothing
        return Verdict(fate="killed", message=f"the value cannot be read: {type(exc).__name__}")
    if evidence is None:
        return Verdict(fate="equivalent", message="the kind has no value to send")
    evidence = dataclasses.replace(evidence, reference=reference)
    verdict = _graded(target, kind.grade(spec, evidence, 1.0))
    if verdict is not None:
        return verdict
    name = target.piece.name
    where = differs(wire(namespace[name]), wire(getattr(reference, name)))
    if where is None:
        return Verdict(fate="equivalent")
    return Verdict(fate="survived", suggestion=where)


def differs(mutant: Any, truth: Any, *, points: int = 24, seed: int = 0) -> str | None:
    """Where a mutated value differs from the reference's (None: nowhere we can see)."""
    import numpy as np
    import sympy as sp

    if isinstance(truth, dict) and isinstance(mutant, dict):
        keyed = {str(k): v for k, v in mutant.items()}
        for key in truth:
            if str(key) not in keyed:
                return f"key {key!r} is missing"
            where = differs(keyed[str(key)], truth[key], points=points, seed=seed)
            if where is not None:
                return f"[{key!r}]{'' if where.startswith('[') else ' '}{where}"
        return None
    if isinstance(truth, sp.Basic) and isinstance(mutant, sp.Basic):
        if mutant == truth:
            return None
        symbols = sorted(truth.free_symbols | mutant.free_symbols, key=str)
        rng = np.random.default_rng(seed)
        for _ in range(points):
            at = {s: sp.Float(float(rng.uniform(-5, 5))) for s in symbols}
            a, b = complex(mutant.evalf(subs=at)), complex(truth.evalf(subs=at))
            if not (np.isclose(a, b, rtol=1e-9, atol=1e-12) or (np.isnan(a) and np.isnan(b))):
                shown = ", ".join(f"{s}={float(v):.4g}" for s, v in at.items())
                return f"{sp.sstr(mutant)} differs from {sp.sstr(truth)} at {shown}"
        return None
    return _unequal(mutant, truth)


def _unequal(mutant: Any, truth: Any) -> str | None:
    """Where a number, an array or a list differs from the reference's, exactly.

    Exactly, since the check passed it: a property check has no comparison with the
    reference, and another curve it accepts is another output all the same.
    """
    import numpy as np

    try:
        a, b = np.asarray(mutant), np.asarray(truth)
        if a.dtype.kind not in "biufc" or b.dtype.kind not in "biufc":
            return None if mutant == truth else f"is {mutant!r}, the reference's {truth!r}"
    except Exception:  # a value numpy cannot read compares as itself
        return None if mutant is truth else f"is {mutant!r}, the reference's {truth!r}"
    if a.shape != b.shape:
        return f"has shape {a.shape}, the reference's {b.shape}"
    same = (a == b) | (np.isnan(a) & np.isnan(b)) if a.dtype.kind in "fc" else a == b
    if np.all(same):
        return None
    if a.ndim == 0:
        return f"is {a.item()!r}, the reference's {b.item()!r}"
    i = tuple(int(k) for k in np.argwhere(~np.asarray(same))[0])
    where = "".join(f"[{k}]" for k in i)
    return f"{where} is {a[i].item()!r}, the reference's {b[i].item()!r}"


# --------------------------------------------------------------------------- the pool


Task = tuple[int, int]  # (target index, mutant index)


def _child(send: Any, work: Callable[[], Verdict]) -> None:
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, 1)  # a mutant that prints must not draw over the progress bar
    os.dup2(devnull, 2)
    try:
        verdict = work()
    except BaseException as exc:  # anything the mutant does is its verdict
        verdict = Verdict(fate="killed", message=f"the mutant raised {type(exc).__name__}")
    send.send(verdict)
    send.close()


def run_pool(tasks: Sequence[Task], work: Callable[[Task], Verdict], *, jobs: int,
             budget: float, total_budget: float,
             done: Callable[[Task, Verdict], None]) -> None:
    """Run ``work`` for each task in a process forked for it, ``jobs`` at a time."""
    import multiprocessing
    from multiprocessing.connection import wait

    ctx = multiprocessing.get_context("fork")
    pending = deque(tasks)
    running: dict[Any, tuple[Task, Any, float]] = {}
    deadline = time.monotonic() + total_budget
    while pending or running:
        while pending and len(running) < jobs and time.monotonic() < deadline:
            task = pending.popleft()
            recv, send = ctx.Pipe(duplex=False)
            process = ctx.Process(target=_child, args=(send, lambda t=task: work(t)),
                                  daemon=True)
            process.start()
            send.close()
            running[recv] = (task, process, time.monotonic())
        if not running:
            break
        now = time.monotonic()
        first_due = min(started + budget for _, _, started in running.values())
        for conn in wait(list(running), timeout=max(0.0, min(first_due, deadline) - now)):
            task, process, _ = running.pop(conn)
            try:
                verdict: Verdict = conn.recv()  # type: ignore[union-attr,call-arg,assignment]
            except EOFError:  # it ended its own process (os._exit, a crash)
                verdict = Verdict(fate="killed", message="the mutant ended its process")
            conn.close()  # type: ignore[union-attr]
            process.join()
            done(task, verdict)
        now = time.monotonic()
        for conn, (task, process, started) in list(running.items()):
            late = now - started > budget
            if late or now > deadline:
                process.kill()
                process.join()
                conn.close()
                del running[conn]
                done(task, Verdict(fate="timeout", message=f"ran past {budget:g} s")
                     if late else Verdict(fate="not run", message="the total budget ran out"))
    for task in pending:
        done(task, Verdict(fate="not run", message="the total budget ran out"))


# --------------------------------------------------------------------------- the audit


def audit(rubric: Rubric, settings: Settings = Settings(),
          progress: Callable[[int], Callable[[Verdict], None]] | None = None) -> Audit:
    """Generate, run and grade the mutants of every automatic answer of ``rubric``."""
    started = time.monotonic()
    if rubric.reference_path is None:
        raise GraderError(f"{rubric.path}: the rubric has no reference to mutate (a released "
                          "public rubric); audit the full rubric")
    reference = rubric.load_reference()
    source = Path(rubric.reference_path).read_text("utf-8")
    tree = ast.parse(source, str(rubric.reference_path))
    found, audits = targets(rubric, reference, tree, settings.questions)
    by_answer = {(a.question, a.answer): a for a in audits}
    tasks: list[Task] = []
    for t, target in enumerate(found):
        made = mutants(target.piece, source)
        kept = _capped(made, settings.max_mutants)
        record = by_answer[(target.question, target.spec.answer)]
        record.mutants, record.capped = kept, len(made) - len(kept)
        if not kept:
            record.skipped = "no operator applies to its code"
        tasks += [(t, m.index) for m in kept]
        _check_reference(target, reference)
    lookup = {(t, m.index): m for t, target in enumerate(found)
              for m in by_answer[(target.question, target.spec.answer)].mutants}

    def work(task: Task) -> Verdict:
        return grade_mutant(found[task[0]], lookup[task], reference)

    tick = progress(len(tasks)) if progress else None

    def done(task: Task, verdict: Verdict) -> None:
        target = found[task[0]]
        by_answer[(target.question, target.spec.answer)].verdicts[task[1]] = verdict
        if tick:
            tick(verdict)

    run_pool(tasks, work, jobs=settings.jobs or os.cpu_count() or 1, budget=settings.budget,
             total_budget=settings.total_budget, done=done)
    return Audit(rubric=rubric, answers=audits, seconds=time.monotonic() - started)


def _capped(made: list[Mutant], cap: int) -> list[Mutant]:
    """At most ``cap`` mutants, spread evenly over the answer's code."""
    if not cap or len(made) <= cap:
        return made
    step = len(made) / cap
    return [made[int(i * step)] for i in range(cap)]


def _check_reference(target: Target, reference: ModuleType) -> None:
    """The unmutated reference must pass its own check, else no verdict means anything.

    Grading it here also imports what the kind needs (sympy) before the forks.
    """
    kind = kind_of(target.spec)
    spec = target.spec
    if target.calls is not None:
        func = getattr(reference, spec.reference_name)
        evidence: Evidence | None = called_evidence(spec.answer, reference, target.calls,
                                                    [_call(func, c) for c in target.calls])
    else:
        evidence = kind.reference_evidence(spec, reference, wire, ())
    result = kind.grade(spec, evidence, 1.0) if evidence is not None else None
    if result is not None and result.status != "passed":
        raise GraderError(f"{target.spec.answer} of question {target.question}: the reference "
                          f"does not pass its own check ({result.message}); run grader "
                          "validate and fix the rubric first")
