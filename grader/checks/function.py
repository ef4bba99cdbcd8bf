"""Function answers: call the student's function on hidden inputs, compare with the reference.

The calls happen inside the student's kernel (see :mod:`grader.kernel.harvest`); this module
sees only their decoded outcomes and compares them in the grader with the numeric rules
(and the check's numeric options: ``rtol``, ``atol``, ``sigfigs``, ``decimals``,
``equal_nan``, ``bool_as_number``, ``unordered``, ``up_to_sign``, ``up_to_scale``).

Inputs are the rubric's literal ``inputs`` (edge cases), then those of ``inputs_from``,
then ``count`` calls drawn by :func:`generate_calls` from the check's ``[random]`` table
with a generator seeded by its ``seed`` (the same inputs on every run and machine). A
visible check's message shows the first failing input with the expected and received
output; with ``partial`` the check earns the share of inputs it gets right.
"""

from __future__ import annotations

import dataclasses
import inspect
from collections.abc import Mapping
from dataclasses import dataclass
from types import ModuleType
from typing import Any

from grader.answers import CallableAnswer
from grader.calls import Call, reference_outputs
from grader.checks.numeric import spec_options
from grader.checks.options import (
    INPUT_KEYS,
    NUMBER_RULE_KEYS,
    Inputs,
    Mistake,
    NumberRule,
    input_needs,
    mistake_needs,
    read_call_options,
    read_inputs,
    read_literal_outputs,
    read_mistakes,
    read_number_rule,
    read_outputs,
    with_arrays,
)
from grader.checks.protocol import (
    BaseKind,
    CallPlan,
    CheckSpec,
    Comparison,
    Evidence,
    Frozen,
    Need,
    Stub,
    Wire,
    absent_result,
    make_result,
)
from grader.checks.public import PUBLIC_SIGFIGS
from grader.errors import ReleaseError
from grader.messages import joined, say
from grader.results import CheckResult
from grader.tables import Reader


def not_callable(spec: CheckSpec, received: Any, max_score: float) -> CheckResult | None:
    """A failed result when the answer exists but is not a function."""
    from grader.checks.common import format_value

    if isinstance(received, CallableAnswer):
        return None
    return make_result(spec, max_score, fraction=0.0, status="failed",
                       message=say("check.not_a_function", answer=spec.answer,
                                   value=format_value(received), type=type(received).__name__),
                       received=format_value(received))


def grade(spec: CheckSpec, evidence: Evidence, max_score: float) -> CheckResult:
    """Compare each call's outcome with the reference's output on the same input."""
    from grader.checks.common import format_value
    from grader.checks.numbers import array_diff

    early = absent_result(spec, evidence.received, max_score) or not_callable(
        spec, evidence.received, max_score)
    if early is not None:
        return early
    calls, outcomes = evidence.calls, evidence.outcomes
    try:
        # A released public rubric carries the expected outputs as literals.
        expected = (list(spec.outputs) if spec.outputs is not None else
                    reference_outputs(getattr(evidence.reference, spec.reference_name), calls))
    except Exception as exc:
        return make_result(spec, max_score, fraction=0.0, status="error",
                           message=say("check.reference_raised", name=spec.reference_name,
                                       error=f"{type(exc).__name__}: {exc}"))
    verdicts = [_verdict(e, o, spec) for e, o in zip(expected, outcomes, strict=True)]
    passed = sum(1 for v in verdicts if v.equal)
    n = len(verdicts)
    if passed == n:
        return make_result(spec, max_score, fraction=1.0, status="passed",
                           message=say("check.correct_on_all", n=n))
    share = passed / n if spec.partial and n else 0.0
    for mistake in spec.mistakes:
        try:
            wrong = (list(mistake.outputs) if mistake.outputs is not None else
                     reference_outputs(getattr(evidence.reference, mistake.reference or ""),
                                       calls))
        except Exception:  # a mistake the reference cannot compute on an input never matches
            continue
        if all(_verdict(w, o, spec).equal for w, o in zip(wrong, outcomes, strict=True)):
            # Naming the mistake must never cost points that partial credit would give.
            fraction = max(mistake.credit, share)
            return make_result(spec, max_score, fraction=fraction,
                               status="partial" if fraction > 0 else "failed",
                               message=mistake.feedback, mistake=mistake.id)
    first = next(i for i, v in enumerate(verdicts) if not v.equal)
    exp_text: str | None
    rec_text: str | None
    summary = say("check.wrong_on", wrong=n - passed, n=n)
    hint = ""
    diff = None
    if spec.visible:
        verdict = verdicts[first]
        call = f"{spec.answer}{calls[first].display()}"
        detail = (say("check.call_detail_hint", call=call, detail=verdict.message,
                      hint=verdict.hint) if verdict.hint else
                  say("check.call_detail", call=call, detail=verdict.message))
        message = say("check.first_wrong", summary=summary, detail=detail)
        exp_text = format_value(expected[first])
        got = outcomes[first]
        rec_text = ("timed out" if got.timed_out else f"raised {got.error}" if got.error
                    else format_value(got.value))
        hint = verdict.hint
        if not (got.timed_out or got.error):
            diff = array_diff(expected[first], got.value, **_number_options(spec))
    else:
        kinds = sorted({_failure_kind(outcomes[i], v) for i, v in enumerate(verdicts)
                        if not v.equal})
        message = say("check.wrong_hidden", summary=summary,
                      kinds=joined(kinds, "check.list.comma"))
        exp_text = rec_text = None
    result = make_result(spec, max_score, fraction=share,
                         status="partial" if share > 0 else "failed",
                         message=message, expected=exp_text, received=rec_text)
    if hint or diff:
        result = dataclasses.replace(result, hint=hint, diff=diff)
    return result


def _number_options(spec: CheckSpec) -> dict[str, Any]:
    options = spec_options(spec)
    for name in ("unordered", "up_to_sign", "up_to_scale"):
        options.pop(name, None)  # whole-value options say nothing about single entries
    return options


def _verdict(expected: Any, outcome: Any, spec: CheckSpec) -> Comparison:
    from grader.checks.numbers import compare

    if outcome.timed_out:
        return Comparison(equal=False, message=timeout_text(outcome, spec))
    if outcome.error:
        return Comparison(equal=False, message=say("check.call_raised", error=outcome.error))
    try:
        return compare(expected, outcome.value, **spec_options(spec))
    except Exception as exc:  # a comparator bug must not end the batch
        return Comparison(equal=None, message=say("check.compare_error", error=exc))


def timeout_text(outcome: Any, spec: CheckSpec) -> str:
    """What a timed-out call says: its limit, or that an earlier call's timeout skipped it."""
    limit = outcome.limit or spec.call_timeout
    if outcome.not_run:
        # The kernel stops calling a function once a call of the check hangs (one limit
        # per check, not one per input): the rest are failed without being tried.
        return (say("check.fun.not_run_after", limit=f"{limit:g}") if limit else
                say("check.fun.not_run"))
    return (say("check.fun.timed_out_limit", limit=f"{limit:g}") if limit else
            say("check.fun.timed_out"))


def _failure_kind(outcome: Any, verdict: Comparison) -> str:
    if outcome.not_run:
        return verdict.message
    if outcome.timed_out:
        return (say("check.fun.kind_timeout_limit", limit=f"{outcome.limit:g}")
                if outcome.limit else say("check.fun.kind_timeout"))
    if outcome.error:
        return say("check.fun.kind_raised", error=outcome.error.split(":", 1)[0])
    return say("check.fun.kind_wrong")


# --------------------------------------------------------------------------- the kind


@dataclass(frozen=True, kw_only=True)
class FunctionOptions(NumberRule, Inputs):
    """A function check: its calls, the number rule, the expected outputs or reference."""

    expected: str | None = None
    # The expected output of each call of `inputs`, frozen as literals (a released public
    # rubric has no reference to compute them from).
    outputs: tuple[Any, ...] | None = None
    mistakes: tuple[Mistake, ...] = ()
    # Inputs a student bundle may call (distinct from the hidden ones), and the
    # significant figures of a float output before its hash (public = "inputs").
    public_inputs: tuple[Call, ...] = ()
    public_sigfigs: int = PUBLIC_SIGFIGS


class FunctionKind(BaseKind):
    """Call the student's function in the kernel; compare with the reference's outputs."""

    name = "function"
    summary = "a function, called on hidden inputs and compared with the reference"
    keys = ("expected", *NUMBER_RULE_KEYS, *INPUT_KEYS, "mistakes", "outputs",
            "public_inputs", "public_sigfigs")
    options_type = FunctionOptions
    public_modes = ("format", "inputs", "none")

    def read_options(self, reader: Reader, raw: Mapping[str, Any],
                     question: str) -> FunctionOptions:
        """Inputs (one kind at least), the number rule, outputs and mistakes."""
        spec = read_call_options(reader, raw, question)
        spec["expected"] = reader.name(raw, "expected", question=question)
        if "outputs" in raw:
            spec["outputs"] = read_outputs(reader, raw["outputs"], question, "outputs")
        spec["mistakes"] = read_mistakes(reader, raw.get("mistakes", []), question,
                                         outputs=True, literal=False)
        if not (raw.get("inputs") or raw.get("inputs_from") or raw.get("random")):
            raise reader.error("a function check needs hidden inputs", question=question,
                               key="inputs", allowed="inputs = [[...], ...], inputs_from or "
                                                     "[random]")
        spec.update(read_number_rule(reader, raw, question))
        read_literal_outputs(reader, spec, raw, question)
        spec["inputs"] = with_arrays(spec["inputs"], spec["array_args"])
        spec.update(read_public_inputs(reader, raw, question, spec["array_args"]))
        return FunctionOptions(**spec)

    def grade(self, spec: CheckSpec, evidence: Evidence, max_score: float) -> CheckResult:
        """See :func:`grade`."""
        return grade(spec, evidence, max_score)

    def needs(self, spec: CheckSpec) -> tuple[Need, ...]:
        """The reference function (unless outputs are literals), inputs_from, mistakes."""
        o = _options(spec)
        expected: tuple[Need, ...] = ()
        if o.outputs is None:
            expected = (Need(key="expected", name=spec.reference_name, callable=True,
                             what=("expected (a name in the reference)" if o.expected
                                   else "a function check without outputs"),
                             free_key="expected" if o.expected else "outputs"),)
        first, then = (expected, ()) if o.expected else ((), expected)
        return (*first, *input_needs(o), *then, *mistake_needs(o.mistakes, callable=True))

    def plan(self, spec: CheckSpec, reference: ModuleType) -> CallPlan | None:
        """Every call of the check's inputs."""
        o = _options(spec)
        return CallPlan(calls=o.resolve(reference), timeout=o.call_timeout)

    def publish(self, spec: CheckSpec, raw: Mapping[str, Any], reference: ModuleType,
                where: str) -> Frozen | None:
        """A format check (callable; the outputs' forms on public inputs), or hashed outputs."""
        from grader.checks.digest import digest_calls_table
        from grader.checks.format import format_table
        from grader.checks.public import describe

        o = _options(spec)
        if spec.public == "none":
            return None
        calls = o.public_inputs
        inputs, array_args = calls_as_toml(calls, where)
        outputs = (release_outputs(getattr(reference, spec.reference_name), calls,
                                   f"{where}: the reference") if calls else [])
        if spec.public == "inputs":
            return digest_calls_table(spec, inputs, array_args, outputs, where,
                                      sigfigs=o.public_sigfigs)
        return format_table(spec, {"type": "callable"}, inputs=inputs, array_args=array_args,
                            outputs=[describe(v) for v in outputs])

    def reference_evidence(self, spec: CheckSpec, reference: ModuleType, wire: Wire,
                           calls: tuple[Call, ...]) -> Evidence | None:
        """The reference function's outputs on ``calls``, through the wire."""
        from grader.answers import CallableAnswer, CallOutcome

        outputs = release_outputs(getattr(reference, spec.reference_name), calls, spec.answer)
        return Evidence(received=CallableAnswer(name=spec.answer), reference=reference,
                        calls=calls, outcomes=tuple(CallOutcome(value=wire(o)) for o in outputs))

    def stub(self, spec: CheckSpec, reference: ModuleType) -> Stub:
        """``def answer(...)`` with the reference function's parameters."""
        return function_stub(spec.answer, getattr(reference, spec.reference_name, None))


def read_public_inputs(reader: Reader, raw: Mapping[str, Any], question: str,
                       array_args: tuple[int | str, ...]) -> dict[str, Any]:
    """``public_inputs`` (calls a student bundle may make) and ``public_sigfigs``."""
    out: dict[str, Any] = {}
    if "public_inputs" in raw:
        calls = read_inputs(reader, raw["public_inputs"], question)
        out["public_inputs"] = with_arrays(calls, array_args)
    if "public_sigfigs" in raw:
        n = reader.get(raw, "public_sigfigs", int, question=question,
                       describe="significant figures, 1 to 15")
        if not 1 <= n <= 15:
            raise reader.error("must be from 1 to 15", question=question, key="public_sigfigs")
        out["public_sigfigs"] = n
    if raw.get("public") == "inputs" and not out.get("public_inputs"):
        raise reader.error('public = "inputs" needs public_inputs', question=question,
                           key="public_inputs", allowed="public_inputs = [[...], ...]")
    return out


def _options(spec: CheckSpec) -> FunctionOptions:
    assert isinstance(spec.options, FunctionOptions)
    return spec.options


def function_stub(name: str, func: Any) -> Stub:
    """A handout cell defining ``name`` with the parameters of ``func`` (the contract's)."""
    try:
        sig = inspect.signature(func)
    except (TypeError, ValueError):
        params = "(*args, **kwargs)"
    else:
        plain = [p.replace(annotation=inspect.Parameter.empty) for p in sig.parameters.values()]
        params = str(sig.replace(parameters=plain, return_annotation=inspect.Signature.empty))
    return Stub(source=f"def {name}{params}:\n    # your code here\n    raise NotImplementedError")


def release_outputs(func: Any, calls: tuple[Call, ...], where: str) -> list[Any]:
    """The reference's outputs for a release; a failing reference names itself."""
    try:
        return reference_outputs(func, calls)
    except Exception as exc:  # trusted code, but a broken generator must name itself
        raise ReleaseError(f"{where} raised {type(exc).__name__}: {exc}") from exc


def calls_as_toml(calls: tuple[Call, ...], where: str) -> tuple[list[Any], list[int | str]]:
    """Calls as TOML data, with the positions whose numpy arrays ``array_args`` restores."""
    import numpy as np

    positions: list[int | str] = []
    for call in calls:
        named: list[tuple[int | str, Any]] = [*enumerate(call.args), *call.kwargs.items()]
        for pos, arg in named:
            if isinstance(arg, np.ndarray) and pos not in positions:
                positions.append(pos)
    for call in calls:
        for pos in positions:
            arg = (call.args[pos] if isinstance(pos, int) and pos < len(call.args)
                   else call.kwargs.get(pos) if isinstance(pos, str) else None)
            if arg is None:
                continue
            if not isinstance(arg, np.ndarray) or arg.dtype != np.float64:
                # array_args turns every argument at a position into a float array
                raise ReleaseError(f"{where}: argument {pos!r} is an array but not a float64 "
                                   "array in every call; array_args cannot restore it")
    out: list[Any] = []
    for call in calls:
        args = [_plain(a, where) for a in call.args]
        if call.kwargs:
            out.append({"args": args,
                        "kwargs": {k: _plain(v, where) for k, v in call.kwargs.items()}})
        else:
            out.append(args)
    return out, positions


def _plain(value: Any, where: str) -> Any:
    """An argument as TOML data; numpy scalars become Python numbers, as on the kernel wire."""
    import numpy as np

    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, bool | np.bool_):
        return bool(value)
    if isinstance(value, int | np.integer):
        return int(value)
    if isinstance(value, float | np.floating):
        return float(value)
    if isinstance(value, str):
        return value
    if isinstance(value, list):
        return [_plain(v, where) for v in value]
    if isinstance(value, dict) and all(isinstance(k, str) for k in value):
        return {k: _plain(v, where) for k, v in value.items()}
    raise ReleaseError(f"{where}: an input of type {type(value).__name__} has no rubric form "
                       "(numbers, text, lists, dicts and float arrays do)")


KIND = FunctionKind()
