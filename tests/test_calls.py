"""Hung calls: once a call of a check times out, the function is not called again.

A function that hangs costs at most one ``call_timeout`` per check; the inputs after
the one that hung are failed as "not run", with the limit named. The agent's rule is
run in this process first (no kernel), then in a real kernel through ``grade``.
"""

from __future__ import annotations

import json
import signal
import time
import types
from pathlib import Path
from typing import Any

import pytest

from grader.answers import CallableAnswer, CallOutcome
from grader.calls import Call
from grader.checks import Evidence
from grader.checks.registry import kind_of, make_check
from grader.rubric import load_rubric


def _agent_calls(monkeypatch: pytest.MonkeyPatch, func: Any, n: int,
                 timeout: float) -> list[dict[str, Any]]:
    """The agent's published results for ``func`` called on 0 .. n-1, in this process."""
    from grader.kernel import agent

    published: list[Any] = []
    monkeypatch.setattr(agent, "_publish", lambda nonce, payload: published.append(payload))
    wire = json.dumps([{"args": agent.encode((i,)), "kwargs": agent.encode({})}
                       for i in range(n)])
    agent._grader_call({"f": func}, "nonce", "f", wire, timeout)
    assert signal.getitimer(signal.ITIMER_PROF) == (0.0, 0.0)
    return list(published[0])


NOT_RUN = {"timeout": True, "not_run": True,
           "message": "not run: an earlier call timed out after 0.3 s"}


@pytest.mark.parametrize(("hangs_on", "expected_calls", "answered"), [
    (range(5), 1, 0),  # hangs on every input: one limit, then nothing more is tried
    ({2}, 3, 2),  # answers 0 and 1, hangs on 2: 3 and 4 are not tried (the rule)
    ({4}, 5, 4),  # the last input hangs: every earlier one was answered
    (set(), 5, 5),  # never hangs: every input is called
])
def test_a_check_stops_calling_a_function_once_a_call_hangs(
        monkeypatch: pytest.MonkeyPatch, hangs_on: Any, expected_calls: int,
        answered: int) -> None:
    made: list[int] = []

    def f(x: int) -> int:
        made.append(x)
        if x in hangs_on:
            while True:
                pass
        return 2 * x

    start = time.monotonic()
    results = _agent_calls(monkeypatch, f, 5, timeout=0.3)
    took = time.monotonic() - start
    assert made == list(range(expected_calls))
    assert results[:answered] == [{"value": {"t": "int", "v": str(2 * i)}}
                                  for i in range(answered)]
    if answered < 5:
        assert results[answered] == {"timeout": True, "limit": "cpu",
                                     "message": "the call used more than 0.3 s of CPU time"}
        assert results[answered + 1:] == [NOT_RUN] * (4 - answered)
    # one limit of CPU at most, whatever the clock did meanwhile (the wall bound is 3x)
    assert took < 0.3 * 3 + 0.5


def _check(visible: bool) -> Any:
    return make_check("function", answer="double", expected="double", visible=visible,
                      inputs=tuple(Call(args=(i,)) for i in range(5)))


def _reference() -> types.ModuleType:
    module = types.ModuleType("reference")
    module.double = lambda x: 2 * x  # type: ignore[attr-defined]
    return module


HUNG = CallOutcome(timed_out=True, limit=1.0)
SKIPPED = CallOutcome(timed_out=True, not_run=True, limit=1.0)


@pytest.mark.parametrize(("visible", "outcomes", "score", "message"), [
    (True, [HUNG] + [SKIPPED] * 4, 0.0,
     "wrong on 5 of 5 test inputs; first: double(0): the call did not finish in time "
     "(limit 1 s)"),
    (False, [HUNG] + [SKIPPED] * 4, 0.0,
     "wrong on 5 of 5 test inputs (hidden): not run: an earlier call timed out after 1 s, "
     "timed out (limit 1 s)"),
    (False, [CallOutcome(value=0), CallOutcome(value=2), HUNG, SKIPPED, SKIPPED], 0.0,
     "wrong on 3 of 5 test inputs (hidden): not run: an earlier call timed out after 1 s, "
     "timed out (limit 1 s)"),
])
def test_not_run_inputs_fail_with_the_limit_named(visible: bool, outcomes: list[CallOutcome],
                                                  score: float, message: str) -> None:
    spec = _check(visible)
    evidence = Evidence(received=CallableAnswer("double", "(x)"), reference=_reference(),
                        calls=spec.inputs, outcomes=tuple(outcomes))
    result = kind_of(spec).grade(spec, evidence, 2.0)
    assert (result.status, result.score, result.message) == ("failed", score, message)


@pytest.mark.kernel
def test_in_a_kernel_a_hanging_function_costs_one_limit(tmp_path: Path,
                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    """5 inputs, call_timeout 1 s: one limit of call time per check, not five."""
    from grader.grade import grade_submission
    from grader.kernel.harvest import Harvester

    (tmp_path / "ref.py").write_text("def f(x):\n    return 2 * x\n\n\n"
                                     "def g(x):\n    return 2 * x\n")
    (tmp_path / "r.toml").write_text('[assignment]\nid = "t"\nreference = "ref.py"\n' + "".join(
        f'[[questions]]\nid = "{name}"\npoints = 1\n[[questions.checks]]\n'
        f'answer = "{name}"\nkind = "function"\ninputs = [[0], [1], [2], [3], [4]]\n'
        f'call_timeout = 1\npartial = true\n{extra}'
        for name, extra in (("f", ""), ("g", 'feedback = "verdict"\npublic = "none"\n'))))
    # f hangs on every input; g answers 0 and 1 and hangs on 2: 3 and 4 are not tried.
    (tmp_path / "sub.py").write_text(
        "def f(x):\n"
        "    while True:\n"
        "        pass\n\n\n"
        "def g(x):\n"
        "    while x == 2:\n"
        "        pass\n"
        "    return 2 * x\n")
    spans: list[float] = []
    original = Harvester.call

    def timed(self: Harvester, *args: Any, **kwargs: Any) -> Any:
        start = time.monotonic()
        try:
            return original(self, *args, **kwargs)
        finally:
            spans.append(time.monotonic() - start)

    monkeypatch.setattr(Harvester, "call", timed)
    result = grade_submission(tmp_path / "sub.py", load_rubric(tmp_path / "r.toml"))
    assert result.run.outcome == "ok", result.run.message
    f, g = (q.checks[0] for q in result.questions)
    assert (f.status, f.score) == ("failed", 0.0)
    assert f.message == ("wrong on 5 of 5 test inputs; first: f(0): the call did not finish "
                         "in time (limit 1 s)")
    assert (g.status, g.score) == ("partial", pytest.approx(0.4))
    assert g.message == ("wrong on 3 of 5 test inputs (hidden): not run: an earlier call "
                         "timed out after 1 s, timed out (limit 1 s)")
    assert len(spans) == 2
    # 1 s of CPU time each (at most 3 s on the clock on a crowded machine), not 5 x 1 s
    assert max(spans) < 4.0, spans
