"""Function checks: generated inputs, verdicts, messages, HW2's mistakes, and call limits.

All without kernels but the last test, which runs the agent's call limits in one.
"""

from __future__ import annotations

import json
import signal
import time
import types
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from grader.answers import CallableAnswer, CallOutcome
from grader.calls import ArgGenerator, Call, RandomInputs, generate_calls
from grader.checks import CheckSpec, Evidence
from grader.checks.function import grade
from grader.checks.options import Mistake
from grader.checks.registry import kind_of, make_check
from grader.errors import RubricError
from grader.rubric import load_rubric

ROOT = Path(__file__).resolve().parents[1]


def _rubric(tmp_path: Path, check: str, kind: str = "function") -> Any:
    # References are imported once per path: each rubric here gets a file of its own.
    tmp_path.mkdir(exist_ok=True)
    (tmp_path / "ref.py").write_text("def f(*args, **kwargs):\n    return 1.0\n\n\n"
                                     "def prop(args, output):\n    return True\n")
    (tmp_path / "r.toml").write_text(f"""
[assignment]
id = "t"
reference = "ref.py"
[[questions]]
id = "q1"
points = 1
[[questions.checks]]
answer = "f"
kind = "{kind}"
{check}
""")
    return load_rubric(tmp_path / "r.toml")


# --------------------------------------------------------------------------- generated inputs


RANDOM = """
[questions.checks.random]
count = 6
seed = 3
args = [
  { kind = "uniform", low = -1.0, high = 1.0 },
  { kind = "integer", low = 1, high = 3 },
  { kind = "normal", mean = 5.0, std = 0.5, shape = [2, 3] },
  { kind = "spd", n = 3, eigenvalues = [0.5, 4.0] },
  { kind = "choice", values = [[1, 2], "a", 7] },
  { kind = "constant", value = 0.9 },
]
kwargs = { lr = { kind = "uniform", low = 0.001, high = 0.1, shape = [2] } }
"""


def test_random_inputs_are_drawn_as_declared(tmp_path: Path) -> None:
    rubric = _rubric(tmp_path, RANDOM)
    spec = rubric.questions[0].checks[0]
    assert spec.random is not None and spec.random.count == 6
    calls = generate_calls(spec.random)
    assert len(calls) == 6
    for call in calls:
        u, k, normal, h, choice, constant = call.args
        assert isinstance(u, float) and -1 <= u < 1
        assert isinstance(k, int) and 1 <= k <= 3
        assert normal.shape == (2, 3) and abs(normal.mean() - 5) < 2
        assert np.allclose(h, h.T) and h.shape == (3, 3)
        eigenvalues = np.linalg.eigvalsh(h)
        assert eigenvalues.min() >= 0.5 - 1e-9 and eigenvalues.max() <= 4.0 + 1e-9
        assert choice in ([1, 2], "a", 7) and constant == 0.9
        assert call.kwargs["lr"].shape == (2,)
    # the same seed gives the same inputs; another seed others
    again = generate_calls(spec.random)
    assert all(np.array_equal(a.args[2], b.args[2]) for a, b in zip(calls, again, strict=True))
    other = generate_calls(RandomInputs(count=6, seed=4, args=spec.random.args))
    assert not np.array_equal(calls[0].args[2], other[0].args[2])
    # the integers cover both ends
    ints = generate_calls(RandomInputs(count=200, seed=0,
                                       args=(ArgGenerator(kind="integer", low=1, high=3),)))
    assert {c.args[0] for c in ints} == {1, 2, 3}


def test_generated_inputs_follow_the_literal_ones(tmp_path: Path) -> None:
    rubric = _rubric(tmp_path, "inputs = [[0.0, 1]]\n" + RANDOM)
    calls = rubric.questions[0].checks[0].options.resolve(rubric.load_reference())
    assert len(calls) == 7 and calls[0].args == (0.0, 1)


def test_choice_values_are_copies() -> None:
    spec = RandomInputs(count=2, seed=0, args=(ArgGenerator(kind="choice", values=([1],)),))
    first, second = generate_calls(spec)
    first.args[0].append(2)
    assert second.args[0] == [1]


@pytest.mark.parametrize(("table", "key", "fragment"), [
    ("[questions.checks.random]\ncount = 0\nseed = 1\nargs = [{ kind = \"constant\", value = 1 }]",
     "random.count", "from 1 to 1000"),
    ("[questions.checks.random]\ncount = 2\nseed = -1\nargs = [{ kind = \"constant\", value = 1 }]",
     "random.seed", ">= 0"),
    ("[questions.checks.random]\ncount = 2\nargs = [{ kind = \"constant\", value = 1 }]",
     "seed", "missing required key"),
    ("[questions.checks.random]\ncount = 2\nseed = 1", "random.args", "needs args"),
    ("[questions.checks.random]\ncount = 2\nseed = 1\nargs = [{ kind = \"gaussian\" }]",
     "random.args[0].kind", "uniform, normal, integer, choice, spd, constant"),
    ("[questions.checks.random]\ncount = 2\nseed = 1\nargs = [{ kind = \"uniform\", low = 1 }]",
     "random.args[0].high", "needs high"),
    ("[questions.checks.random]\ncount = 2\nseed = 1\n"
     "args = [{ kind = \"uniform\", low = 1, high = 0 }]", "random.args[0].high", "below high"),
    ("[questions.checks.random]\ncount = 2\nseed = 1\n"
     "args = [{ kind = \"integer\", low = 1.5, high = 3 }]", "low", "wrong type float"),
    ("[questions.checks.random]\ncount = 2\nseed = 1\n"
     "args = [{ kind = \"normal\", std = 0 }]", "random.args[0].std", "> 0"),
    ("[questions.checks.random]\ncount = 2\nseed = 1\n"
     "args = [{ kind = \"normal\", shape = [0] }]", "random.args[0].shape", "positive integers"),
    ("[questions.checks.random]\ncount = 2\nseed = 1\n"
     "args = [{ kind = \"normal\", shape = [1000, 1000] }]", "random.args[0].shape",
     "more than"),
    ("[questions.checks.random]\ncount = 2\nseed = 1\n"
     "args = [{ kind = \"spd\", n = 3, eigenvalues = [0, 1] }]", "random.args[0].eigenvalues",
     "0 < low"),
    ("[questions.checks.random]\ncount = 2\nseed = 1\n"
     "args = [{ kind = \"choice\", values = [] }]", "random.args[0].values", "not be empty"),
    ("[questions.checks.random]\ncount = 2\nseed = 1\n"
     "args = [{ kind = \"uniform\", low = 0, high = 1, n = 3 }]", "n", "unknown key"),
    ("[questions.checks.random]\ncount = 2\nseed = 1\n"
     "kwargs = { \"1x\" = { kind = \"constant\", value = 1 } }", "random.kwargs",
     "not a keyword argument name"),
    ("[questions.checks.random]\ncount = 2\nseed = 1\nrepeat = 3\n"
     "args = [{ kind = \"constant\", value = 1 }]", "repeat", "unknown key"),
    ("call_timeout = 0\ninputs = [[1]]", "call_timeout", "positive"),
    ("call_timeout = \"fast\"\ninputs = [[1]]", "call_timeout", "wrong type"),
    ("inputs = [[1]]\noutputs = [1.0]\n[questions.checks.random]\ncount = 1\nseed = 1\n"
     "args = [{ kind = \"constant\", value = 1 }]", "outputs", "literal inputs only"),
    ("", "inputs", "[random]"),
])
def test_rubric_refuses_bad_generators(tmp_path: Path, table: str, key: str,
                                       fragment: str) -> None:
    with pytest.raises(RubricError) as info:
        _rubric(tmp_path, table)
    assert info.value.key == key and info.value.question == "q1", str(info.value)
    assert fragment in str(info.value)


def test_property_and_function_checks_take_random_and_call_timeout(tmp_path: Path) -> None:
    spec = _rubric(tmp_path, "call_timeout = 2.5\nsigfigs = 3\n" + RANDOM).questions[0].checks[0]
    assert (spec.call_timeout, spec.sigfigs) == (2.5, 3)
    prop = _rubric(tmp_path / "p", 'property = "prop"\ncall_timeout = 1\n' + RANDOM,
                   "property")
    assert prop.questions[0].checks[0].random is not None


# --------------------------------------------------------------------------- grading


def _reference() -> types.ModuleType:
    module = types.ModuleType("reference")

    def square(x: Any) -> Any:
        return np.asarray(x, dtype=float) ** 2

    def cube(x: Any) -> Any:
        return np.asarray(x, dtype=float) ** 3

    module.square = square  # type: ignore[attr-defined]
    module.cube = cube  # type: ignore[attr-defined]
    module.eig = lambda: (np.array([1.0, 3.0]),)  # type: ignore[attr-defined]
    return module


def _spec(**kwargs: Any) -> CheckSpec:
    kwargs.setdefault("inputs", (Call(args=(2.0,)), Call(args=([1.0, -2.0],)),
                                 Call(args=(0.5,))))
    return make_check("function", answer="square", **kwargs)


def _grade(spec: CheckSpec, outcomes: list[CallOutcome]) -> Any:
    evidence = Evidence(received=CallableAnswer("square", "(x)"), reference=_reference(),
                        calls=spec.inputs, outcomes=tuple(outcomes))
    return grade(spec, evidence, 3.0)


def test_all_right() -> None:
    result = _grade(_spec(), [CallOutcome(value=4.0), CallOutcome(value=np.array([1.0, 4.0])),
                              CallOutcome(value=0.25)])
    assert (result.status, result.score) == ("passed", 3.0)


def test_the_first_failure_is_shown_with_hint_and_diff() -> None:
    result = _grade(_spec(), [CallOutcome(value=4.0), CallOutcome(value=np.array([-1.0, -4.0])),
                              CallOutcome(timed_out=True)])
    assert result.status == "failed" and result.score == 0
    assert "wrong on 2 of 3 test inputs" in result.message
    assert "square([1.0, -2.0])" in result.message
    assert result.expected == "[1, 4]" and result.received == "[-1, -4]"
    assert result.hint == "sign flipped"
    assert result.diff == {"expected": ["1.0", "4.0"], "received": ["-1.0", "-4.0"],
                           "mismatch": [[0, 0], [0, 1]]}


def test_partial_credit_is_the_share_of_inputs() -> None:
    outcomes = [CallOutcome(value=4.0), CallOutcome(error="ValueError: no"),
                CallOutcome(value=0.25)]
    assert _grade(_spec(partial=True), outcomes).score == pytest.approx(2.0)
    assert _grade(_spec(), outcomes).score == 0


def test_hidden_checks_say_what_kind_of_failure_only() -> None:
    result = _grade(_spec(visible=False, call_timeout=1.5),
                    [CallOutcome(value=4.0), CallOutcome(timed_out=True),
                     CallOutcome(error="ZeroDivisionError: x")])
    assert result.expected is None and result.received is None and result.diff is None
    assert "timed out" in result.message and "raised ZeroDivisionError" in result.message
    assert "[1.0, -2.0]" not in result.message


def test_timeouts_name_the_check_limit() -> None:
    result = _grade(_spec(call_timeout=1.5), [CallOutcome(timed_out=True)] * 3)
    assert "did not finish in time (limit 1.5 s)" in result.message


def test_numeric_options_apply_to_outputs() -> None:
    spec = _spec(inputs=(Call(args=(1.0,)),), sigfigs=2)
    assert _grade(spec, [CallOutcome(value=1.04)]).status == "passed"
    assert _grade(spec, [CallOutcome(value=1.06)]).status == "failed"
    unordered = make_check("function", answer="eig", expected="eig", inputs=(Call(),),
                          unordered=True)
    evidence = Evidence(received=CallableAnswer("eig"), reference=_reference(),
                        calls=unordered.inputs, outcomes=(CallOutcome(value=[3.0, 1.0]),))
    assert grade(unordered, evidence, 1.0).status == "failed"  # a tuple: (array,)
    evidence = Evidence(received=CallableAnswer("eig"), reference=_reference(),
                        calls=unordered.inputs, outcomes=(CallOutcome(value=([3.0, 1.0],)),))
    assert grade(unordered, evidence, 1.0).status == "failed"  # unordered is the top level
    evidence = Evidence(received=CallableAnswer("eig"), reference=_reference(),
                        calls=unordered.inputs,
                        outcomes=(CallOutcome(value=(np.array([1.0, 3.0]),)),))
    assert grade(unordered, evidence, 1.0).status == "passed"


def test_a_matched_mistake_is_named() -> None:
    mistake = Mistake(id="cubed", feedback="Squared, not cubed.", credit=0.25, reference="cube")
    spec = _spec(mistakes=(mistake,))
    result = _grade(spec, [CallOutcome(value=8.0), CallOutcome(value=np.array([1.0, -8.0])),
                           CallOutcome(value=0.125)])
    assert (result.status, result.mistake, result.score) == ("partial", "cubed", 0.75)
    assert result.message == "Squared, not cubed."


# --------------------------------------------------------------------------- HW2's mistakes


CONTRACT_MISTAKES = {
    # answer: {mistake id: the contract's common mistake}
    "q1_4_params": {"no-output-bias": "660", "weights-only": "610"},
    "q1_2_batch_mean_std": {"sigma-over-m": "sigma/m"},
    "q3_3_gd_step": {"flipped-b0": "flipped b0", "no-learning-rate": "dropped lr"},
    "q3_3_update": {"flipped-b0": "flipped b0", "no-learning-rate": "dropped lr"},
    "adam_step": {"beta2-for-beta1": "beta2 for beta1",
                  "no-bias-correction": "no bias correction",
                  "eps-inside-sqrt": "eps inside the sqrt"},
    "q5_3_converges": {"non-strict": "non-strict inequality in Q5.3"},
}


@pytest.fixture(scope="module")
def hw2() -> Any:
    return load_rubric(ROOT / "rubrics" / "hw2.toml")


def _checks(rubric: Any) -> dict[str, CheckSpec]:
    return {c.answer: c for q in rubric.questions for c in q.checks}


def test_hw2_rubric_encodes_the_contracts_mistakes(hw2: Any) -> None:
    checks = _checks(hw2)
    for answer, expected in CONTRACT_MISTAKES.items():
        ids = {m.id for m in checks[answer].mistakes}
        assert set(expected) <= ids, (answer, ids)
    values = {m.id: m.value for m in checks["q1_4_params"].mistakes}
    assert values == {"no-output-bias": 660, "weights-only": 610}


@pytest.mark.parametrize(("answer", "mistake_id"), [
    (answer, mistake_id) for answer, found in CONTRACT_MISTAKES.items() for mistake_id in found
])
def test_each_hw2_mistake_is_recognised(hw2: Any, answer: str, mistake_id: str) -> None:
    spec = _checks(hw2)[answer]
    mistake = next(m for m in spec.mistakes if m.id == mistake_id)
    reference = hw2.load_reference()
    if spec.kind == "function":
        calls = spec.options.resolve(reference)
        wrong = getattr(reference, mistake.reference)
        outcomes = tuple(CallOutcome(value=wrong(*c.args, **c.kwargs)) for c in calls)
        evidence = Evidence(received=CallableAnswer(answer), reference=reference, calls=calls,
                            outcomes=outcomes)
    else:
        value = mistake.value if mistake.reference is None else getattr(reference,
                                                                         mistake.reference)
        evidence = Evidence(received=value, reference=reference)
    result = kind_of(spec).grade(spec, evidence, 1.0)
    assert result.mistake == mistake_id, result.message
    assert result.status in ("partial", "failed") and result.score < 1.0
    assert result.message == mistake.feedback


# --------------------------------------------------------------------------- plumbing


def test_question_points_are_clamped(monkeypatch: pytest.MonkeyPatch) -> None:
    from grader import grade as grading
    from grader.results import CheckResult
    from grader.rubric import Question

    def generous(spec: CheckSpec, evidence: Evidence, max_score: float) -> CheckResult:
        return CheckResult(answer=spec.answer, kind=spec.kind, status="passed",
                           score=max_score * 3, max_score=max_score, message="")

    monkeypatch.setattr(grading, "kind_of", lambda spec: types.SimpleNamespace(grade=generous))
    checks = (make_check("numeric", answer="a", weight=2.0),
              make_check("numeric", answer="b", weight=1.0))
    question = Question(id="q", title="q", points=6.0, checks=checks)
    result = grading._question(question, {"a": 1, "b": 2}, {}, {}, types.ModuleType("r"))
    assert result.score == 6.0 and [c.max_score for c in result.checks] == [4.0, 2.0]


def test_weighted_checks_share_the_points() -> None:
    from grader import grade as grading
    from grader.rubric import Question

    checks = (make_check("numeric", answer="a", weight=3.0, value=1),
              make_check("numeric", answer="b", weight=1.0, value=2))
    question = Question(id="q", title="q", points=8.0, checks=checks)
    result = grading._question(question, {"a": 1, "b": 3}, {}, {}, types.ModuleType("r"))
    assert (result.score, result.status) == (6.0, "partial")


class _Session:
    """Just enough of a kernel session for the harvester to talk to."""

    def __init__(self) -> None:
        self.settings = types.SimpleNamespace(call_timeout=10.0, cell_timeout=30.0)
        self.space = types.SimpleNamespace(agent=Path("agent.py"))
        self.codes: list[str] = []

    def run_code(self, code: str, timeout: float) -> tuple[str, list[Any]]:
        self.codes.append(code)
        return "ok", []


@pytest.mark.parametrize(("timeout", "per_call"), [(None, 10.0), (2.5, 2.5)])
def test_a_checks_call_timeout_reaches_the_kernel(timeout: float | None,
                                                  per_call: float) -> None:
    from grader.kernel.harvest import Harvester

    session = _Session()
    Harvester(session).call("f", [Call(args=(1,))], timeout=timeout)  # type: ignore[arg-type]
    code = session.codes[-1]
    # The cell first rebinds the agent (see harvest._LOADER), then calls it.
    assert "\n_grader_agent._grader_call(" in code and code.endswith(f", {per_call!r})")
    call = code[code.index("\n_grader_agent._grader_call(") + 1:]
    wire = json.loads(json.loads(call.split(", ", 3)[3].rsplit(", ", 1)[0]))
    assert len(wire) == 1


# --------------------------------------------------------------------------- call limits


def _spin(cpu_seconds: float) -> None:
    """Use this much of the process's CPU time, however long that takes on the clock."""
    end = time.process_time() + cpu_seconds
    while time.process_time() < end:
        pass


def _call_here(monkeypatch: pytest.MonkeyPatch, func: Callable[..., Any], calls: int,
               timeout: float, total: float | None = None) -> list[dict[str, Any]]:
    """Run the kernel agent's calls of ``func`` in this process; what it would publish."""
    from grader.kernel import agent as kernel_agent

    published: list[Any] = []
    monkeypatch.setattr(kernel_agent, "_publish", lambda nonce, payload: published.append(payload))
    wire = json.dumps([{"args": kernel_agent.encode((i,)), "kwargs": kernel_agent.encode({})}
                       for i in range(calls)])
    kernel_agent._grader_call({"f": func}, "nonce", "f", wire, timeout, total)
    # Nothing of the limits is left behind in the process.
    assert signal.getitimer(signal.ITIMER_PROF) == signal.getitimer(signal.ITIMER_REAL) \
        == (0.0, 0.0)
    assert signal.getsignal(signal.SIGPROF) == signal.SIG_DFL
    return published[0]


def test_a_call_slowed_by_a_crowded_cpu_is_not_stopped(monkeypatch: pytest.MonkeyPatch,
                                                       crowded_cpu: int) -> None:
    from grader.kernel import agent as kernel_agent

    monkeypatch.setattr(kernel_agent, "WALL_FACTOR", 30)  # room for a very slow machine

    def f(x: int) -> int:
        _spin(0.4)
        return 2 * x

    start = time.monotonic()
    results = _call_here(monkeypatch, f, 1, timeout=1.0, total=60)
    took = time.monotonic() - start
    assert results == [{"value": {"t": "int", "v": "0"}}]
    assert took > 1.0  # a limit on the clock would have stopped it


def test_a_busy_call_is_stopped_by_its_cpu_time(monkeypatch: pytest.MonkeyPatch) -> None:
    def f(x: int) -> None:
        while True:
            pass

    start = time.process_time()
    results = _call_here(monkeypatch, f, 1, timeout=0.3)
    assert results == [{"timeout": True, "limit": "cpu",
                        "message": "the call used more than 0.3 s of CPU time"}]
    assert 0.25 < time.process_time() - start < 2


def test_a_call_that_sleeps_forever_is_stopped_by_the_clock(
        monkeypatch: pytest.MonkeyPatch) -> None:
    def f(x: int) -> None:
        time.sleep(3600)

    start = time.monotonic()
    results = _call_here(monkeypatch, f, 1, timeout=0.3)
    assert results == [{"timeout": True, "limit": "wall",
                        "message": "the call did not return within 0.9 s"}]
    assert 0.8 < time.monotonic() - start < 3
    # The calls together end before the grader stops waiting for the cell: the last
    # ones get what is left, and none once it is used up.
    def slow(x: int) -> int:
        time.sleep(0.4)
        return x

    start = time.monotonic()
    results = _call_here(monkeypatch, slow, 3, timeout=0.3, total=0.6)
    assert results[0] == {"value": {"t": "int", "v": "0"}}
    assert results[1] == {"timeout": True, "limit": "wall",
                          "message": "the call did not return within 0.2 s"}
    # and the function is not called again once a call of it was stopped
    assert results[2] == {"timeout": True, "not_run": True,
                          "message": "not run: an earlier call timed out after 0.3 s"}
    assert time.monotonic() - start < 3


@pytest.mark.kernel
def test_in_a_kernel_on_a_crowded_cpu(tmp_path: Path, crowded_cpu: int) -> None:
    """A call slowed down by other processes passes; one that sleeps forever is stopped."""
    from grader.grade import grade_submission

    (tmp_path / "ref.py").write_text("def f(x):\n    return 2 * x\n\n\n"
                                     "def g(x):\n    return x\n")
    checks = {"f": "call_timeout = 2", "g": "call_timeout = 1"}
    (tmp_path / "r.toml").write_text('[assignment]\nid = "t"\nreference = "ref.py"\n' + "".join(
        f'[[questions]]\nid = "{name}"\npoints = 1\n[[questions.checks]]\n'
        f'answer = "{name}"\nkind = "function"\ninputs = [[1], [2]]\n{extra}\n'
        for name, extra in checks.items()))
    (tmp_path / "sub.py").write_text(
        "import time\n\n\n"
        "def f(x):\n"
        "    end = time.process_time() + 0.5\n"
        "    while time.process_time() < end:\n"
        "        pass\n"
        "    return 2 * x\n\n\n"
        "def g(x):\n"
        "    time.sleep(3600)\n")
    result = grade_submission(tmp_path / "sub.py", load_rubric(tmp_path / "r.toml"))
    assert result.run.outcome == "ok", result.run.message
    f, g = (q.checks[0] for q in result.questions)
    assert (f.status, f.score) == ("passed", 1.0), f.message
    assert g.status == "failed" and "did not finish in time" in (g.message or "")


def test_squeeze_and_sets_apply_to_outputs() -> None:
    spec = _spec(inputs=(Call(args=([1.0, -2.0],)),), squeeze=True)
    column = np.array([[1.0], [4.0]])
    assert _grade(spec, [CallOutcome(value=column)]).status == "passed"
    strict = _spec(inputs=(Call(args=([1.0, -2.0],)),))
    assert _grade(strict, [CallOutcome(value=column)]).status == "failed"
    wrong = _grade(spec, [CallOutcome(value=np.array([[1.0], [5.0]]))])
    assert wrong.status == "failed" and wrong.diff is not None
    assert wrong.diff["mismatch"] == [[0, 1]]  # the diff is squeezed too
    module = types.ModuleType("reference")
    module.roots = lambda: [1.0, 3.0]  # type: ignore[attr-defined]
    for unordered, status in ((True, "passed"), (False, "failed")):
        check = make_check("function", answer="roots", expected="roots", inputs=(Call(),),
                           unordered=unordered)
        evidence = Evidence(received=CallableAnswer("roots"), reference=module,
                            calls=check.inputs,
                            outcomes=(CallOutcome(value=frozenset({3.0, 1.0})),))
        assert grade(check, evidence, 1.0).status == status


def test_rubric_reads_squeeze_for_function_checks(tmp_path: Path) -> None:
    rubric = _rubric(tmp_path, "squeeze = true\ninputs = [[1.0]]")
    assert rubric.questions[0].checks[0].options.squeeze is True
