"""Hung calls: once a call of a check times out, the function is not called again.

A function that hangs costs at most one ``call_timeout`` per check; the inputs after
the one that hung are failed as "not run", with the limit named. The agent's rule is
run in this process first (no kernel), then in a real kernel through ``grade``.
"""

from __future__ import annotations

import itertools
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
    spans, arrivals = _time_parts(monkeypatch)
    result = grade_submission(tmp_path / "sub.py", load_rubric(tmp_path / "r.toml"))
    assert result.run.outcome == "ok", result.run.message
    f, g = (q.checks[0] for q in result.questions)
    assert (f.status, f.score) == ("failed", 0.0)
    assert f.message == ("wrong on 5 of 5 test inputs; first: f(0): the call did not finish "
                         "in time (limit 1 s)")
    assert (g.status, g.score) == ("partial", pytest.approx(0.4))
    assert g.message == ("wrong on 3 of 5 test inputs (hidden): not run: an earlier call "
                         "timed out after 1 s, timed out (limit 1 s)")
    assert len(spans) == 1  # the answers and both checks' calls: one request
    # Each check's calls, from the part before them: 1 s of CPU time (at most 3 s on the
    # clock on a crowded machine), not 5 x 1 s.
    assert len(arrivals) == 4, arrivals  # start, the answers, f's calls, g's
    checks = [later - earlier for earlier, later in itertools.pairwise(arrivals[1:])]
    assert max(checks) < 4.0, checks


def _time_parts(monkeypatch: pytest.MonkeyPatch) -> tuple[list[float], list[float]]:
    """Each one-request span, and when it started then when each of its parts arrived.

    The harvester is kept from asking for any check on its own.
    """
    from grader.kernel.harvest import Harvester

    spans: list[float] = []
    arrivals: list[float] = []
    collect, watch = Harvester.collect, Harvester._watch

    def timed(self: Harvester, *args: Any, **kwargs: Any) -> Any:
        start = time.monotonic()
        arrivals.append(start)
        try:
            return collect(self, *args, **kwargs)
        finally:
            spans.append(time.monotonic() - start)

    def timed_watch(self: Harvester, checks: Any) -> Any:
        arrived = watch(self, checks)

        def noted(out: Any) -> Any:
            limit = arrived(out)
            if limit is not None:
                arrivals.append(time.monotonic())
            return limit
        return noted

    def one_by_one(self: Harvester, *args: Any, **kwargs: Any) -> Any:
        raise AssertionError("every call was to be made in the one request")

    monkeypatch.setattr(Harvester, "collect", timed)
    monkeypatch.setattr(Harvester, "_watch", timed_watch)
    monkeypatch.setattr(Harvester, "call", one_by_one)
    return spans, arrivals


@pytest.mark.kernel
def test_a_function_that_switches_off_the_agents_timers_costs_its_own_limit_only(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The grader interrupts a check past its own limit: the next check gets its calls."""
    from grader.grade import grade_submission

    (tmp_path / "ref.py").write_text("def f(x):\n    return 2 * x\n\n\n"
                                     "def g(x):\n    return 2 * x\n")
    (tmp_path / "r.toml").write_text('[assignment]\nid = "t"\nreference = "ref.py"\n' + "".join(
        f'[[questions]]\nid = "{name}"\npoints = 1\n[[questions.checks]]\n'
        f'answer = "{name}"\nkind = "function"\ninputs = [[0], [1]]\ncall_timeout = 0.5\n'
        for name in ("f", "g")))
    (tmp_path / "sub.py").write_text(
        "import signal\nimport time\n\n\n"
        "def f(x):\n"
        "    signal.setitimer(signal.ITIMER_PROF, 0)\n"
        "    signal.setitimer(signal.ITIMER_REAL, 0)\n"
        "    signal.signal(signal.SIGALRM, signal.SIG_IGN)\n"
        "    signal.signal(signal.SIGPROF, signal.SIG_IGN)\n"
        "    time.sleep(120)\n\n\n"
        "def g(x):\n"
        "    return 2 * x\n")
    spans, arrivals = _time_parts(monkeypatch)
    result = grade_submission(tmp_path / "sub.py", load_rubric(tmp_path / "r.toml"))
    assert result.run.outcome == "ok", result.run.message
    f, g = (q.checks[0] for q in result.questions)
    assert (f.status, f.score) == ("failed", 0.0)
    assert "did not finish in time" in (f.message or ""), f.message
    assert (g.status, g.score) == ("passed", 1.0), g.message
    assert len(spans) == 1 and len(arrivals) == 4, (spans, arrivals)
    # f's own limit is 2 x 0.5 s + 10 s; the request's, the harvest's 60 s and both checks'.
    assert arrivals[2] - arrivals[1] < 10.0 + 1.0 + 3.0, arrivals
    assert spans[0] < 10.0 + 1.0 + 6.0, spans


# --------------------------------------------------------------------------- one request


def _agent_collect(monkeypatch: pytest.MonkeyPatch, namespace: dict[str, Any],
                   checks: list[tuple[str, int, float]]) -> list[tuple[Any, Any]]:
    """What the agent publishes for one request: (part, payload), in order, in this process.

    ``checks`` are (function name, number of calls on 0 .. n-1, per-call limit).
    """
    from grader.kernel import agent

    published: list[tuple[Any, Any]] = []
    monkeypatch.setattr(agent, "_publish", lambda nonce, payload, call=None:
                        published.append((call, payload)))
    request = json.dumps([{"name": name, "timeout": limit,
                           "calls": [{"args": agent.encode((i,)), "kwargs": agent.encode({})}
                                     for i in range(n)]} for name, n, limit in checks])
    agent._grader_collect(namespace, "nonce", sorted(namespace), 10**8, 10**7, request)
    assert signal.getitimer(signal.ITIMER_PROF) == signal.getitimer(signal.ITIMER_REAL) \
        == (0.0, 0.0)
    return published


def test_one_request_harvests_then_calls_each_function_check_with_its_own_limits(
        monkeypatch: pytest.MonkeyPatch) -> None:
    made: list[tuple[str, int]] = []

    def hangs_on_1(x: int) -> int:
        made.append(("h", x))
        while x == 1:
            pass
        return x

    def double(x: int) -> int:
        made.append(("d", x))
        return 2 * x

    namespace = {"h": hangs_on_1, "d": double, "k": 3}
    start = time.monotonic()
    published = _agent_collect(monkeypatch, namespace,
                               [("h", 4, 0.3), ("k", 2, 1.0), ("d", 3, 0.5), ("h", 1, 0.2)])
    took = time.monotonic() - start
    parts = [part for part, _ in published]
    # The answers first, then each function check's calls as their own part; k is no
    # function, so its check (index 1) is not called at all.
    assert parts == [None, 0, 2, 3]
    answers = published[0][1]
    assert answers["k"] == {"t": "int", "v": "3"} and answers["d"]["t"] == "callable"
    hung = dict(published)[0]
    assert hung[:1] == [{"value": {"t": "int", "v": "0"}}]
    assert hung[1] == {"timeout": True, "limit": "cpu",
                       "message": "the call used more than 0.3 s of CPU time"}
    assert hung[2:] == [{"timeout": True, "not_run": True,
                         "message": "not run: an earlier call timed out after 0.3 s"}] * 2
    # The hung check costs the next check nothing; a later check of the same function
    # is called afresh, with its own limit.
    assert dict(published)[2] == [{"value": {"t": "int", "v": str(2 * i)}} for i in range(3)]
    assert dict(published)[3] == [{"value": {"t": "int", "v": "0"}}]
    assert made == [("h", 0), ("h", 1), ("d", 0), ("d", 1), ("d", 2), ("h", 0)]
    assert took < 0.3 * 3 + 0.5


class _Kernel:
    """A session whose one request answers with the parts given (and what status)."""

    def __init__(self, parts: dict[Any, Any], status: str = "ok") -> None:
        self.settings = types.SimpleNamespace(call_timeout=10.0, cell_timeout=30.0)
        self.space = types.SimpleNamespace(agent=Path("agent.py"))
        self.parts, self.status = parts, status
        self.requests: list[tuple[str, float, int]] = []

    def run_code(self, code: str, timeout: float, parts: Any = None,
                 first: float = 0.0) -> tuple[str, list[Any]]:
        from grader.kernel.agent import RESULT_MIME

        self.requests.append((code, timeout, first))
        nonce = code.split("(globals(), '", 1)[1].split("'", 1)[0] if "(globals(), '" in code \
            else ""
        if "_grader_collect(" not in code:
            return "ok", []  # the agent is loaded; a call asked for on its own finds nothing
        outputs = [{"output_type": "display_data", "data": {RESULT_MIME: {
            "nonce": nonce, **({} if part is None else {"call": part}), "payload": payload}}}
            for part, payload in self.parts.items()]
        self.limits = [parts(out) for out in outputs] if parts is not None else []
        return self.status, outputs


FUNCTION = {"t": "callable", "name": "f", "signature": "(x)"}


@pytest.mark.parametrize(("status", "expected"), [
    # The request ran out of time in check 1: it fails as its own request would have, and
    # check 2, never reached, is asked for on its own.
    ("timeout", ["value", "ran past", "asked"]),
    ("dead", ["value", "died", "asked"]),
    # Everything came back but check 1 (the agent found no function): asked for alone.
    ("ok", ["value", "asked", "asked"]),
])
def test_a_check_missing_from_the_request_fails_as_alone_and_the_rest_are_asked_for(
        status: str, expected: list[str]) -> None:
    from grader.kernel.harvest import Harvester

    kernel = _Kernel({None: {"f": FUNCTION, "k": {"t": "int", "v": "1"}},
                      0: [{"value": {"t": "int", "v": "2"}}]}, status)
    harvester = Harvester(kernel)  # type: ignore[arg-type]
    asked: list[str] = []

    def call(name: str, calls: Any, *, timeout: float | None = None) -> Any:
        asked.append(name)
        harvester.last_items = [{"error": "asked"}] * len(calls)
        return tuple(CallOutcome(error="asked") for _ in calls)

    harvester.call = call  # type: ignore[method-assign]
    one = [Call(args=(0,))]
    answers, made = harvester.collect(["f", "k"], [("f", one, None), ("f", one, 2.0),
                                                   ("f", one, None), ("k", one, None)])
    assert isinstance(answers["f"], CallableAnswer) and answers["k"] == 1
    assert made[3] is None  # k is no function: no calls
    got = [m.outcomes[0] for m in made[:3] if m is not None]
    assert [("value" if o.value == 2 else o.error or "") for o in got][:1] == ["value"]
    assert [next(w for w in ("ran past", "died", "asked") if w in (o.error or ""))
            for o in got[1:]] == expected[1:]
    assert [m.limit for m in made[:3] if m is not None] == [10.0, 2.0, 10.0]
    [(limit, first)] = [(t, m) for code, t, m in kernel.requests
                        if "_grader_collect(" in code]
    # The answers in the harvest's limit; once they are back, the first check's calls in
    # that check's own (1 call x 10 s + 10 s), then the second's (2 s + 10 s).
    assert first == 30.0 and kernel.limits == [20.0, 12.0]
    # The harvest's limit, and each check's own (limit x calls + 10 s).
    assert limit == 30.0 + (10 + 10) + (2 + 10) + (10 + 10) + (10 + 10)


def test_each_part_of_a_request_gets_one_messages_worth_of_bytes_as_the_one_before_arrives(
        ) -> None:
    """The grader's budget for one request does not grow with its function checks."""
    import nbformat

    from grader.kernel import wire
    from grader.kernel.agent import RESULT_MIME
    from grader.kernel.client import capped_client_class
    from grader.kernel.harvest import Harvester

    harvester = Harvester(_Kernel({}))  # type: ignore[arg-type]
    checks = 10
    client = capped_client_class()(nbformat.from_dict(
        {"nbformat": 4, "nbformat_minor": 5, "metadata": {}, "cells": []}))
    message = 1000
    client.guard = types.SimpleNamespace(limits=types.SimpleNamespace(message_bytes=message))
    client.capping, client.grader_budget = False, message
    client.grader_part = harvester._watch([(f"f{i}", [Call(args=(0,))], 1.0)
                                           for i in range(checks)])
    outs: list[Any] = []
    kept = 0

    def send(size: int, part: Any = "none", payload: Any = None) -> bool:
        nonlocal kept
        data = {"text/plain": "x"} if part == "none" else {RESULT_MIME: {
            "nonce": harvester.nonce, **({} if part is None else {"call": part}),
            "payload": payload}}
        before = len(outs)
        client.output(outs, {"msg_type": "display_data", wire.SIZE_KEY: size,
                             "content": {"data": data}}, None, 0)
        assert client.grader_budget <= message  # never more than one message's worth
        kept += size * (len(outs) - before)
        return len(outs) > before

    function = {"t": "callable", "name": "f", "signature": "(x)"}
    assert send(900) and not send(900)  # the student's output, before the answers
    assert not send(200, None, {})  # the answers no longer fit: no grant for the checks
    client.grader_budget = message
    assert send(300, None, {f"f{i}": function for i in range(checks)})
    for i in range(checks):
        # Each check's part gets its own allowance once the part before it is back, and
        # output beyond it is dropped however many checks the request has.
        assert send(950) and not send(100)
        client.grader_budget += 100  # room for the part itself
        assert send(60, i, [])
    assert kept <= (1 + checks) * message + 100 * checks
    # A payload without this run's nonce is not decoded at all.
    text = {"output_type": "display_data", "data": {RESULT_MIME: '{"nonce": "other"}'}}
    assert harvester._part(text) is None
