"""What ``grader validate`` checks of a rubric's known mistakes, beyond the reference's marks.

A mistake (``[[questions.checks.mistakes]]``) is worth its feedback only when a student who
makes it is told so. For each check with mistakes this module grades every mistake as if a
student had sent it, through the kernel wire format and the check's own comparison (in
the grader's process: the reference is trusted staff code, no kernel is needed), and
reports a :class:`Problem` when

- the mistake does not parse or resolve, or (a function check) its reference function
  raises on one of the check's inputs;
- it earns full marks: the check cannot tell it from the right answer (for a function,
  on any of its inputs);
- two mistakes of the check match each other, so the second's feedback is never given;
- graded as the student's answer, the check does not name it: its value is of a form or
  type the comparison rejects (a NaN without ``equal_nan``, a value the wire refuses).

The kinds are used through the registry only: a check that calls the student's function
(its kind has a call plan) is given the mistake's outputs on the check's calls, a value
check the mistake's value as the kind would send the reference's.
"""

from __future__ import annotations

import copy
import dataclasses
from collections.abc import Sequence
from dataclasses import dataclass
from types import ModuleType
from typing import Any

from grader.answers import CallableAnswer, CallOutcome
from grader.calls import Call
from grader.checks.options import Mistake
from grader.checks.protocol import CheckKind, CheckSpec, Evidence
from grader.checks.registry import kind_of
from grader.errors import GraderError
from grader.results import CheckResult
from grader.rubric import Rubric


@dataclass(frozen=True, kw_only=True)
class Problem:
    """One thing wrong with one mistake of one check."""

    question: str
    answer: str
    mistake: str
    message: str

    def line(self) -> str:
        """The line ``grader validate`` prints."""
        return f"FAIL {self.question} {self.answer} mistake {self.mistake}: {self.message}"


def check_mistakes(rubric: Rubric, reference: ModuleType | None = None) -> list[Problem]:
    """Every problem with the mistakes of ``rubric``'s checks, in rubric order."""
    module = reference if reference is not None else rubric.load_reference()
    problems: list[Problem] = []
    for q in rubric.questions:
        for spec in q.checks:
            problems += [Problem(question=q.id, answer=spec.answer, mistake=mid, message=text)
                         for mid, text in _Check(spec, module).problems()]
    return problems


# --------------------------------------------------------------------------- one check


def wire(value: Any) -> Any:
    """A value as the kernel would send it back to the grader."""
    from grader.kernel.agent import encode
    from grader.kernel.codec import decode_answer

    return decode_answer(encode(value))


def called_evidence(answer: str, reference: ModuleType, calls: tuple[Call, ...],
                    outcomes: Sequence[CallOutcome]) -> Evidence:
    """What a check that calls the student's function ``answer`` sees of its calls."""
    return Evidence(received=CallableAnswer(name=answer), reference=reference, calls=calls,
                    outcomes=tuple(outcomes))


class _Check:
    """The mistakes of one check, each graded as a student's answer."""

    def __init__(self, spec: CheckSpec, reference: ModuleType) -> None:
        # The rubric's author may see every expected value and input in a message.
        self.spec = dataclasses.replace(spec, feedback="full")
        self.reference = reference
        self.kind: CheckKind = kind_of(spec)
        found = getattr(spec.options, "mistakes", ()) if self.kind.auto else ()
        self.mistakes: tuple[Mistake, ...] = tuple(found or ())
        self.calls: tuple[Call, ...] = ()
        self.called = False  # the check calls the student's function

    def problems(self) -> list[tuple[str, str]]:
        """(mistake id, message) for each problem, mistake by mistake."""
        if not self.mistakes:
            return []
        plan = self.kind.plan(self.spec, self.reference)
        if plan is not None:
            self.called, self.calls = True, plan.calls
        out: list[tuple[str, str]] = []
        told: list[tuple[Mistake, Evidence]] = []  # mistakes read and not the right answer
        for m in self.mistakes:
            evidence, why = self._evidence(m)
            if why:
                out.append((m.id, why))
                continue
            if evidence is None:  # the kind has nothing to send (not a value or a call)
                continue
            result = self._grade(self.spec, evidence)
            if result.status == "passed":
                where = (" on every input: add an input where they differ" if self.called
                         else ": its value passes the check")
                out.append((m.id, f"mistake `{m.id}` is indistinguishable from the right "
                                  f"answer{where}"))
                continue
            twins = [a for a, seen in told if self._alike(a, seen, m, evidence)]
            for a in twins:
                where = " on these inputs" if self.called else ": their values match"
                out.append((m.id, f"mistakes `{a.id}` and `{m.id}` cannot be told apart"
                                  f"{where}"))
            told.append((m, evidence))
            if twins or result.mistake == m.id:
                continue
            if result.mistake is not None:
                out.append((m.id, f"mistake `{m.id}` can never be matched: mistake "
                                  f"`{result.mistake}`, listed before it, matches it first"))
                continue
            own = self._grade(self._expecting(m), evidence)
            reason = (f"compared with itself, {_lower(own.message)}" if own.status != "passed"
                      else _lower(result.message))
            out.append((m.id, f"mistake `{m.id}` can never be matched: {_one_line(reason)}"))
        return out

    def _grade(self, spec: CheckSpec, evidence: Evidence) -> CheckResult:
        return self.kind.grade(spec, evidence, 1.0)

    def _alike(self, a: Mistake, a_evidence: Evidence, b: Mistake, b_evidence: Evidence
               ) -> bool:
        """Either mistake, sent as the answer, earns full marks when the other is expected."""
        return (self._grade(self._expecting(a), b_evidence).status == "passed"
                or self._grade(self._expecting(b), a_evidence).status == "passed")

    def _expecting(self, m: Mistake) -> CheckSpec:
        """The check with ``m`` as its right answer, and no mistakes."""
        names = {f.name for f in dataclasses.fields(self.spec.options)}
        changes: dict[str, Any] = {"mistakes": ()}
        if self.called:
            changes.update(expected=m.reference, outputs=m.outputs)
        else:
            changes.update(expected=m.reference, value=m.value)
        options = dataclasses.replace(self.spec.options,
                                      **{k: v for k, v in changes.items() if k in names})
        return dataclasses.replace(self.spec, options=options)

    def _evidence(self, m: Mistake) -> tuple[Evidence | None, str]:
        """What a student making mistake ``m`` sends, or why it cannot be built."""
        if self.called:
            return self._outcomes(m)
        try:
            return self.kind.reference_evidence(self._expecting(m), self.reference, wire,
                                                ()), ""
        except Exception as exc:  # staff text that does not parse is the rubric's problem
            what = "does not parse" if isinstance(m.value, str) else "cannot be read"
            return None, f"mistake `{m.id}` {what}: {_one_line(_error(exc))}"

    def _outcomes(self, m: Mistake) -> tuple[Evidence | None, str]:
        """The mistake's output on each of the check's calls, through the wire."""
        if m.outputs is not None:
            outputs: Sequence[Any] = m.outputs
        else:
            func = getattr(self.reference, m.reference or "", None)
            if not callable(func):
                return None, (f"mistake `{m.id}` cannot be called: the reference has no "
                              f"function {m.reference!r}")
            outputs, failed = [], []
            for call in self.calls:
                try:
                    outputs.append(func(*copy.deepcopy(call.args),
                                        **copy.deepcopy(dict(call.kwargs))))
                except Exception as exc:  # trusted code; the input that breaks it is news
                    failed.append((call, exc))
            if failed:
                first, error = failed[0]
                more = (f" (and {len(failed) - 1} more of the {len(self.calls)} inputs)"
                        if len(failed) > 1 else "")
                return None, (f"mistake `{m.id}` raised {_one_line(_error(error))} on "
                              f"{self.spec.answer}{first.display()}{more}")
        return called_evidence(self.spec.answer, self.reference, self.calls,
                               [CallOutcome(value=wire(o)) for o in outputs]), ""


def _error(exc: BaseException) -> str:
    """An exception as text; the grader's own errors (a ParseError) speak for themselves."""
    text = str(exc)
    if isinstance(exc, GraderError) and text:
        return text
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


def _lower(message: str) -> str:
    """A result's message (a sentence) as the end of one."""
    return message[:1].lower() + message[1:] if message[1:2].islower() else message


def _one_line(text: str) -> str:
    return " ".join(text.split())
