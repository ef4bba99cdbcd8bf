"""Options more than one check kind shares, and how each is read from a check's table.

A kind's options are a frozen dataclass built from these pieces (:class:`Tolerances`,
:class:`NumberRule`, :class:`Expectation`, :class:`Inputs`) plus its own fields; the
readers here validate each piece once, at load time, with errors that name the file,
the question and the key.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from types import ModuleType
from typing import Any

from grader.calls import GENERATORS, ArgGenerator, Call, RandomInputs, generate_calls
from grader.checks.protocol import KindOptions, Need
from grader.errors import ReferenceModuleError
from grader.tables import IDENT, Reader

NUMBER_FLAGS = ("equal_nan", "bool_as_number", "unordered", "up_to_sign", "up_to_scale",
                "squeeze")
TOLERANCE_KEYS = ("rtol", "atol")
NUMBER_RULE_KEYS = (*TOLERANCE_KEYS, "sigfigs", "decimals", *NUMBER_FLAGS)
EXPECTATION_KEYS = ("expected", "value", "partial", "mistakes")
INPUT_KEYS = ("inputs", "inputs_from", "array_args", "partial", "random", "call_timeout")
MAX_ROUNDING = 50  # sigfigs / decimals
MAX_GENERATED_CALLS = 1000
MAX_GENERATED_ENTRIES = 100_000  # numbers in one generated argument


@dataclass(frozen=True, kw_only=True)
class Mistake:
    """A known wrong answer with its feedback and the fraction of the check it earns."""

    id: str
    feedback: str
    credit: float = 0.0
    value: Any = None
    reference: str | None = None
    outputs: tuple[Any, ...] | None = None  # function checks: the mistaken output per call


@dataclass(frozen=True, kw_only=True)
class Tolerances(KindOptions):
    """``rtol`` and ``atol``: how close a number must be (None: the kind's default)."""

    rtol: float | None = None
    atol: float | None = None


@dataclass(frozen=True, kw_only=True)
class NumberRule(Tolerances):
    """The number rule of numeric and function checks (see grader.checks.numeric)."""

    sigfigs: int | None = None
    decimals: int | None = None
    equal_nan: bool = False
    bool_as_number: bool = False
    unordered: bool = False
    up_to_sign: bool = False
    up_to_scale: bool = False
    squeeze: bool = False


@dataclass(frozen=True, kw_only=True)
class Expectation(KindOptions):
    """A value answer's expectation: a reference name or a literal, and known mistakes."""

    expected: str | None = None
    value: Any = None
    partial: bool = False
    mistakes: tuple[Mistake, ...] = ()


@dataclass(frozen=True, kw_only=True)
class Inputs(KindOptions):
    """The calls a function-like check makes, and the time each may take."""

    inputs: tuple[Call, ...] = ()
    inputs_from: str | None = None
    array_args: tuple[int | str, ...] = ()
    random: RandomInputs | None = None
    call_timeout: float | None = None
    partial: bool = False

    @property
    def has_inputs(self) -> bool:
        """True when the check calls the answer (literal or generated inputs)."""
        return bool(self.inputs or self.inputs_from or self.random)

    def resolve(self, reference: ModuleType) -> tuple[Call, ...]:
        """The calls: literal inputs, then those of ``inputs_from``, then generated ones."""
        calls = list(self.inputs)
        if self.inputs_from:
            produced = getattr(reference, self.inputs_from)()
            for item in produced:
                if isinstance(item, Call):
                    calls.append(item)
                elif isinstance(item, tuple | list):
                    calls.append(Call(args=tuple(item)))
                else:
                    raise ReferenceModuleError(
                        f"{self.inputs_from}() must return argument tuples, got "
                        f"{type(item).__name__}", name=self.inputs_from)
        if self.random is not None:
            calls.extend(generate_calls(self.random))
        return tuple(calls)


def read_tolerances(reader: Reader, raw: Mapping[str, Any], qid: str) -> dict[str, Any]:
    """``rtol`` and ``atol``, finite and >= 0."""
    spec: dict[str, Any] = {}
    for key in TOLERANCE_KEYS:
        if key in raw:
            tol = reader.get(raw, key, float, question=qid)
            if not (math.isfinite(tol) and tol >= 0):
                raise reader.error("must be a finite number >= 0", question=qid, key=key)
            spec[key] = tol
    return spec


def read_expectation(reader: Reader, raw: Mapping[str, Any], qid: str, *,
                     literal: bool) -> dict[str, Any]:
    """``expected`` or ``value`` (read as a rubric literal when ``literal``), partial, mistakes."""
    spec: dict[str, Any] = {
        "partial": reader.get(raw, "partial", bool, question=qid, default=False)}
    spec["expected"] = reader.name(raw, "expected", question=qid)
    if "value" in raw:
        spec["value"] = reader.literal(raw["value"], qid, "value") if literal else raw["value"]
    spec["mistakes"] = read_mistakes(reader, raw.get("mistakes", []), qid, outputs=False,
                                     literal=literal)
    if "value" in raw and "expected" in raw:
        raise reader.error("give either value or expected, not both", question=qid,
                           key="value")
    return spec


def read_call_options(reader: Reader, raw: Mapping[str, Any], qid: str) -> dict[str, Any]:
    """inputs, inputs_from, array_args, random, call_timeout and partial of a calling check.

    ``inputs`` come back as read; :func:`with_arrays` applies ``array_args`` to them.
    """
    spec: dict[str, Any] = {
        "partial": reader.get(raw, "partial", bool, question=qid, default=False),
        "inputs_from": reader.name(raw, "inputs_from", question=qid),
        "inputs": read_inputs(reader, raw.get("inputs", []), qid)}
    spec["array_args"] = read_array_args(reader, raw, qid)
    if "random" in raw:
        spec["random"] = read_random_inputs(reader, raw["random"], qid)
    spec["call_timeout"] = reader.positive(raw, "call_timeout", question=qid,
                                           what="a positive number of seconds")
    return spec


def read_array_args(reader: Reader, raw: Mapping[str, Any], qid: str) -> tuple[int | str, ...]:
    """``array_args``: the argument positions and keyword names read as float arrays."""
    array_args = reader.get(raw, "array_args", list, question=qid, default=[])
    for a in array_args:
        if isinstance(a, bool) or not isinstance(a, int | str):
            raise reader.error("entries must be argument positions or keyword names",
                               question=qid, key="array_args")
    return tuple(array_args)


def read_literal_calls(reader: Reader, raw: Mapping[str, Any], qid: str
                       ) -> tuple[tuple[Call, ...], tuple[int | str, ...]]:
    """Literal ``inputs`` with ``array_args`` applied, and the ``array_args``."""
    array_args = read_array_args(reader, raw, qid)
    return with_arrays(read_inputs(reader, raw.get("inputs", []), qid), array_args), array_args


def with_arrays(calls: tuple[Call, ...], array_args: tuple[int | str, ...]) -> tuple[Call, ...]:
    """Turn the arguments named by ``array_args`` into float numpy arrays."""
    if not array_args:
        return calls
    import numpy as np

    out = []
    for call in calls:
        args = list(call.args)
        kwargs = dict(call.kwargs)
        for a in array_args:
            if isinstance(a, int) and a < len(args):
                args[a] = np.asarray(args[a], dtype=float)
            elif isinstance(a, str) and a in kwargs:
                kwargs[a] = np.asarray(kwargs[a], dtype=float)
        out.append(Call(args=tuple(args), kwargs=kwargs))
    return tuple(out)


def input_needs(options: Inputs) -> tuple[Need, ...]:
    """The reference's generator of inputs, if the check names one."""
    if not options.inputs_from:
        return ()
    return (Need(key="inputs_from", name=options.inputs_from, callable=True,
                 what="inputs_from (a generator in the reference)", free_key="inputs_from"),)


def mistake_needs(mistakes: tuple[Mistake, ...], *, callable: bool) -> tuple[Need, ...]:
    """The reference names the mistakes are given by."""
    return tuple(Need(key="mistakes", name=m.reference, callable=callable,
                      what="a mistake given by reference", free_key="mistakes")
                 for m in mistakes if m.reference)


def expectation_need(spec_answer: str, options: Expectation, kind: str,
                     *, callable: bool = False) -> tuple[Need, ...]:
    """The reference's expected value (or function), unless a literal is given."""
    if options.value is not None:
        return ()
    if options.expected is not None:
        what, free_key = "expected (a name in the reference)", "expected"
    else:
        what, free_key = f"a {kind} check without value", "value"
    return (Need(key="expected", name=options.expected or spec_answer, callable=callable,
                 what=what, free_key=free_key),)


def read_number_rule(reader: Reader, raw: Mapping[str, Any], qid: str) -> dict[str, Any]:
    """sigfigs or decimals (instead of rtol/atol) and the flags of the numeric rule."""
    spec = read_tolerances(reader, raw, qid)
    for key, low in (("sigfigs", 1), ("decimals", 0)):
        if key in raw:
            value = reader.get(raw, key, int, question=qid,
                             describe=f"an integer from {low} to {MAX_ROUNDING}")
            if not low <= value <= MAX_ROUNDING:
                raise reader.error(f"must be an integer from {low} to {MAX_ROUNDING}",
                                 question=qid, key=key)
            spec[key] = value
    if "sigfigs" in raw and "decimals" in raw:
        raise reader.error("give sigfigs or decimals, not both", question=qid,
                         key="decimals")
    rounding = [k for k in ("sigfigs", "decimals") if k in raw]
    tolerance = [k for k in ("rtol", "atol") if k in raw]
    if rounding and tolerance:
        raise reader.error(f"{rounding[0]} replaces rtol and atol; give one kind of rule",
                         question=qid, key=tolerance[0],
                         allowed="rtol/atol, or sigfigs, or decimals")
    for key in NUMBER_FLAGS:
        if key in raw:
            spec[key] = reader.get(raw, key, bool, question=qid, describe="true or false")
    return spec



def read_random_inputs(reader: Reader, raw: Any, qid: str) -> RandomInputs:
    """The [random] table of a function or property check: count, seed, args, kwargs."""
    if not isinstance(raw, dict):
        raise reader.error("must be a table with count, seed and args (and/or kwargs)",
                         question=qid, key="random")
    reader.keys(raw, ("count", "seed", "args", "kwargs"), where="[random]", question=qid)
    count = reader.get(raw, "count", int, question=qid, required=True,
                     describe=f"the number of calls, 1 to {MAX_GENERATED_CALLS}")
    if not 1 <= count <= MAX_GENERATED_CALLS:
        raise reader.error(f"must be from 1 to {MAX_GENERATED_CALLS}", question=qid,
                         key="random.count")
    seed = reader.get(raw, "seed", int, question=qid, required=True,
                    describe="an integer >= 0, so every run draws the same inputs")
    if seed < 0:
        raise reader.error("must be an integer >= 0", question=qid, key="random.seed")
    args = reader.get(raw, "args", list, question=qid, default=[],
                    describe="a list of generator tables, one per positional argument")
    kwargs = reader.get(raw, "kwargs", dict, question=qid, default={},
                      describe="a table of generator tables, one per keyword argument")
    if not args and not kwargs:
        raise reader.error("needs args and/or kwargs to generate", question=qid,
                         key="random.args")
    generated = tuple(read_generator(reader, g, qid, f"random.args[{i}]")
                      for i, g in enumerate(args))
    named = []
    for name, g in kwargs.items():
        if not IDENT.match(name):
            raise reader.error(f"{name!r} is not a keyword argument name", question=qid,
                             key="random.kwargs")
        named.append((name, read_generator(reader, g, qid, f"random.kwargs.{name}")))
    return RandomInputs(count=count, seed=seed, args=generated, kwargs=tuple(named))


def read_generator(reader: Reader, raw: Any, qid: str, where: str) -> ArgGenerator:
    """One argument generator, e.g. ``{ kind = "uniform", low = -1, high = 1 }``."""
    example = 'e.g. { kind = "uniform", low = -1.0, high = 1.0, shape = [3] }'
    if not isinstance(raw, dict):
        raise reader.error("must be a generator table", question=qid, key=where,
                         allowed=example)
    kind = raw.get("kind")
    if kind not in GENERATORS:
        raise reader.error(f"unknown generator kind {kind!r}", question=qid,
                         key=f"{where}.kind", allowed=", ".join(GENERATORS))
    reader.keys(raw, ("kind", *GENERATORS[kind]), where=f"a {kind} generator ({where})",
              question=qid)
    out: dict[str, Any] = {"kind": kind}

    def number(key: str, default: float, integer: bool = False) -> float:
        value = reader.get(raw, key, int if integer else float, question=qid,
                         default=default, describe="an integer" if integer else "a number")
        if not math.isfinite(value):
            raise reader.error("must be finite", question=qid, key=f"{where}.{key}")
        return value

    if kind in ("uniform", "integer"):
        integer = kind == "integer"
        for key in ("low", "high"):
            if key not in raw:
                raise reader.error(f"a {kind} generator needs {key}", question=qid,
                                 key=f"{where}.{key}", allowed="low and high")
        out["low"], out["high"] = number("low", 0, integer), number("high", 1, integer)
        if not (out["low"] < out["high"] or (integer and out["low"] == out["high"])):
            raise reader.error("low must be below high", question=qid, key=f"{where}.high")
    if kind == "normal":
        out["mean"], out["std"] = number("mean", 0.0), number("std", 1.0)
        if out["std"] <= 0:
            raise reader.error("must be > 0", question=qid, key=f"{where}.std")
    if kind in ("uniform", "integer", "normal"):
        shape = reader.get(raw, "shape", list, question=qid, default=[],
                         describe="a list of positive integers, e.g. [3] or [2, 3]")
        if len(shape) > 4 or not all(isinstance(d, int) and not isinstance(d, bool)
                                     and d >= 1 for d in shape):
            raise reader.error("must be a list of at most 4 positive integers",
                             question=qid, key=f"{where}.shape")
        if math.prod(shape) > MAX_GENERATED_ENTRIES:
            raise reader.error(f"more than {MAX_GENERATED_ENTRIES} numbers", question=qid,
                             key=f"{where}.shape")
        out["shape"] = tuple(shape)
    if kind == "choice":
        values = reader.get(raw, "values", list, question=qid, required=True,
                          describe="a non-empty list of values")
        if not values:
            raise reader.error("must not be empty", question=qid, key=f"{where}.values")
        out["values"] = tuple(values)
    if kind == "spd":
        n = reader.get(raw, "n", int, question=qid, required=True,
                     describe="the matrix size, 1 to 50")
        if not 1 <= n <= 50:
            raise reader.error("must be from 1 to 50", question=qid, key=f"{where}.n")
        out["n"] = n
        bounds = reader.get(raw, "eigenvalues", list, question=qid, default=[0.5, 5.0],
                          describe="[low, high] with 0 < low <= high")
        ok = (len(bounds) == 2 and all(isinstance(v, int | float) and not isinstance(
            v, bool) and math.isfinite(v) for v in bounds) and 0 < bounds[0] <= bounds[1])
        if not ok:
            raise reader.error("must be [low, high] with 0 < low <= high", question=qid,
                             key=f"{where}.eigenvalues")
        out["eigenvalues"] = (float(bounds[0]), float(bounds[1]))
    if kind == "constant":
        if "value" not in raw:
            raise reader.error("a constant generator needs value", question=qid,
                             key=f"{where}.value")
        out["value"] = raw["value"]
    return ArgGenerator(**out)


def read_literal_outputs(reader: Reader, spec: Mapping[str, Any], raw: Mapping[str, Any],
                         qid: str) -> None:
    """Literal outputs (of the check or its mistakes) need one per literal input."""
    lists = [("outputs", spec.get("outputs"))]
    lists += [(f"mistakes ({m.id})", m.outputs) for m in spec["mistakes"]]
    for key, outputs in lists:
        if outputs is None:
            continue
        if "inputs_from" in raw or "expected" in raw or "random" in raw:
            raise reader.error("literal outputs go with literal inputs only, without "
                             "inputs_from, random or expected", question=qid, key=key)
        if len(outputs) != len(spec["inputs"]):
            raise reader.error(f"{len(outputs)} outputs for {len(spec['inputs'])} inputs: "
                             "give one output per input", question=qid, key=key)


def read_outputs(reader: Reader, raw: Any, qid: str, key: str) -> tuple[Any, ...]:
    """Literal outputs, one per input."""
    if not isinstance(raw, list):
        raise reader.error("must be an array with one output per input", question=qid,
                         key=key)
    return tuple(reader.literal(item, qid, key) for item in raw)


def read_inputs(reader: Reader, raw: Any, qid: str) -> tuple[Call, ...]:
    """Literal calls: argument lists, or {args, kwargs} tables."""
    if not isinstance(raw, list):
        raise reader.error("must be an array of argument lists", question=qid, key="inputs")
    calls = []
    for item in raw:
        if isinstance(item, list):
            calls.append(Call(args=tuple(item)))
        elif isinstance(item, dict) and set(item) <= {"args", "kwargs"}:
            args = item.get("args", [])
            kwargs = item.get("kwargs", {})
            if not isinstance(args, list) or not isinstance(kwargs, dict):
                raise reader.error("a call table has args = [...] and kwargs = {...}",
                                 question=qid, key="inputs")
            calls.append(Call(args=tuple(args), kwargs=dict(kwargs)))
        else:
            raise reader.error("each input is a list of arguments or {args, kwargs}",
                             question=qid, key="inputs")
    return tuple(calls)


def read_mistakes(reader: Reader, raw: Any, qid: str, *, outputs: bool,
                  literal: bool) -> tuple[Mistake, ...]:
    """A check's known mistakes: outputs (function checks) or values (literal: read as one)."""
    if not isinstance(raw, list):
        raise reader.error("must be an array of tables [[questions.checks.mistakes]]",
                         question=qid, key="mistakes")
    out = []
    for item in raw:
        if not isinstance(item, dict):
            raise reader.error("each mistake is a table", question=qid, key="mistakes")
        reader.keys(item, ("id", "feedback", "credit", "value", "reference", "outputs"),
                  where="a mistake", question=qid)
        mid = reader.get(item, "id", str, question=qid, required=True,
                       describe="a short id such as 'no-output-bias'")
        feedback = reader.get(item, "feedback", str, question=qid, required=True,
                            describe="what the student did and how to fix it")
        credit = reader.get(item, "credit", float, question=qid, default=0.0)
        if not 0.0 <= credit < 1.0:
            raise reader.error(f"mistake {mid!r}: credit is a fraction in [0, 1)",
                             question=qid, key="credit")
        given = [k for k in ("value", "reference", "outputs") if k in item]
        if len(given) != 1:
            raise reader.error(f"mistake {mid!r} needs exactly one of value, reference, "
                             "outputs", question=qid, key="mistakes")
        if outputs and "value" in item:
            raise reader.error(f"mistake {mid!r}: a function check's mistake is a "
                             "reference function or literal outputs", question=qid,
                             key="value")
        if not outputs and "outputs" in item:
            raise reader.error(f"mistake {mid!r}: only a function check's mistake has "
                             "outputs", question=qid, key="outputs")
        reference = reader.get(item, "reference", str, question=qid)
        value = item.get("value")
        if literal and "value" in item:
            value = reader.literal(value, qid, "value")
        wrong = (read_outputs(reader, item["outputs"], qid, "outputs") if "outputs" in item
                 else None)
        out.append(Mistake(id=mid, feedback=feedback, credit=credit, value=value,
                           reference=reference, outputs=wrong))
    return tuple(out)
