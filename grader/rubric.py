"""Load a TOML rubric into frozen, typed objects, validated once at load time.

Every problem is a :class:`~grader.errors.RubricError` naming the file, the question,
the key and what is allowed. The rubric's reference module is trusted code of the
course staff; it is imported here, never anything a student wrote.
"""

from __future__ import annotations

import hashlib
import importlib.util
import math
import re
import sys
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import Any

from grader.errors import ReferenceModuleError, RubricError

KINDS = ("numeric", "symbolic", "function", "property", "manual")
SANDBOX_MODES = ("auto", "bwrap", "none", "required")
VISIBILITIES = ("visible", "hidden", "after_due_date", "after_published")
_IDENT = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_QUESTION_ID = re.compile(r"^[A-Za-z0-9_.-]+$")


@dataclass(frozen=True, kw_only=True)
class ExecutionSettings:
    """How a submission runs; the single source of defaults for CLI, plugin and rubric."""

    cell_timeout: float = 60.0
    timeout: float = 600.0
    call_timeout: float = 10.0
    startup_timeout: float = 60.0
    max_output_bytes: int = 2_000_000
    memory_mb: int = 4096
    cpu_seconds: int = 900
    max_processes: int = 128
    max_file_mb: int = 256
    sandbox: str = "auto"  # auto | bwrap | none | required
    preload: tuple[str, ...] = ()  # modules a pooled kernel imports ahead of need


DEFAULTS = ExecutionSettings()


@dataclass(frozen=True, kw_only=True)
class Call:
    """One call of a function answer: positional and keyword arguments (trusted data)."""

    args: tuple[Any, ...] = ()
    kwargs: Mapping[str, Any] = field(default_factory=dict)

    def display(self) -> str:
        """Render the call's arguments the way a student would type them."""
        parts = [_short(a) for a in self.args]
        parts += [f"{k}={_short(v)}" for k, v in self.kwargs.items()]
        return "(" + ", ".join(parts) + ")"


def _short(value: Any) -> str:
    try:
        import numpy as np

        if isinstance(value, np.ndarray):
            return "np.array(" + repr(value.tolist()) + ")"
    except ImportError:  # pragma: no cover - numpy is a core dependency
        pass
    return repr(value)


@dataclass(frozen=True, kw_only=True)
class Mistake:
    """A known wrong answer with its feedback and the fraction of the check it earns."""

    id: str
    feedback: str
    credit: float = 0.0
    value: Any = None
    reference: str | None = None


@dataclass(frozen=True, kw_only=True)
class CheckSpec:
    """One check of one answer; kind-specific fields are validated for their kind only."""

    answer: str
    kind: str
    weight: float = 1.0
    visible: bool = True  # shown to the student now: visibility == "visible"
    visibility: str = "visible"
    expected: str | None = None
    value: Any = None
    rtol: float | None = None
    atol: float | None = None
    partial: bool = False
    inputs: tuple[Call, ...] = ()
    inputs_from: str | None = None
    array_args: tuple[int | str, ...] = ()
    property_name: str | None = None  # the TOML key `property`
    symbols: tuple[str, ...] = ()
    functions: Mapping[str, tuple[str, str]] = field(default_factory=dict)
    domain: Mapping[str, tuple[float, float]] = field(default_factory=dict)
    mistakes: tuple[Mistake, ...] = ()

    @property
    def reference_name(self) -> str:
        """The name in the reference module that holds the expected value or function."""
        return self.expected or self.answer


@dataclass(frozen=True, kw_only=True)
class Question:
    """A question of the assignment: its points are shared by its weighted checks."""

    id: str
    title: str
    points: float
    checks: tuple[CheckSpec, ...]

    @property
    def auto_points(self) -> float:
        """Points the grader awards by itself (all but the manual checks' share)."""
        total = sum(c.weight for c in self.checks)
        auto = sum(c.weight for c in self.checks if c.kind != "manual")
        return self.points * auto / total if total else 0.0


@dataclass(frozen=True, kw_only=True)
class Rubric:
    """An assignment's rubric, loaded and validated."""

    path: Path
    id: str
    title: str
    reference_path: Path
    execution: ExecutionSettings
    questions: tuple[Question, ...]
    submission_names: tuple[str, ...] = ()
    digest: str = ""

    @property
    def max_score(self) -> float:
        """The total points of the assignment, manual questions included."""
        return sum(q.points for q in self.questions)

    @property
    def answer_names(self) -> tuple[str, ...]:
        """Every contract name the rubric grades, in rubric order, without repeats."""
        seen: dict[str, None] = {}
        for q in self.questions:
            for c in q.checks:
                seen.setdefault(c.answer, None)
        return tuple(seen)

    def load_reference(self) -> ModuleType:
        """Import the rubric's reference module (trusted staff code) once per process."""
        return load_reference(self.reference_path)


def load_reference(path: Path) -> ModuleType:
    """Import a reference module from ``path`` under a name unique to its location."""
    path = Path(path).resolve()
    name = "grader_reference_" + hashlib.sha1(str(path).encode()).hexdigest()[:12]
    if name in sys.modules:
        return sys.modules[name]
    if not path.is_file():
        raise ReferenceModuleError("reference module not found", path=str(path))
    spec = importlib.util.spec_from_file_location(name, path)
    if spec is None or spec.loader is None:
        raise ReferenceModuleError("not an importable Python file", path=str(path))
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    try:
        spec.loader.exec_module(module)
    except Exception as exc:
        del sys.modules[name]
        raise ReferenceModuleError(
            f"importing the reference failed: {type(exc).__name__}: {exc}", path=str(path)
        ) from exc
    return module


# --------------------------------------------------------------------------- loading


def load_rubric(path: str | Path, *, check_reference: bool = True) -> Rubric:
    """Read and validate a rubric file; with ``check_reference`` also resolve its names."""
    path = Path(path)
    try:
        raw_bytes = path.read_bytes()
    except OSError as exc:
        raise RubricError(f"cannot read the rubric: {exc.strerror}", path=str(path)) from exc
    try:
        data = tomllib.loads(raw_bytes.decode("utf-8"))
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise RubricError(f"not valid TOML: {exc}", path=str(path)) from exc
    loader = _Loader(path)
    rubric = loader.rubric(data, hashlib.sha256(raw_bytes).hexdigest())
    if check_reference:
        _check_reference(rubric)
    return rubric


class _Loader:
    """Turns the parsed TOML into dataclasses, with errors that say where and what."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def error(self, message: str, *, question: str | None = None, key: str | None = None,
              allowed: str | None = None) -> RubricError:
        return RubricError(message, path=str(self.path), question=question, key=key,
                           allowed=allowed)

    def keys(self, table: Mapping[str, Any], allowed: tuple[str, ...], *, where: str,
             question: str | None = None) -> None:
        for key in table:
            if key not in allowed:
                raise self.error(f"unknown key in {where}", question=question, key=key,
                                 allowed=", ".join(allowed))

    def get(self, table: Mapping[str, Any], key: str, kind: type | tuple[type, ...], *,
            question: str | None = None, required: bool = False, default: Any = None,
            describe: str | None = None) -> Any:
        if key not in table:
            if required:
                raise self.error("missing required key", question=question, key=key,
                                 allowed=describe)
            return default
        value = table[key]
        kinds = kind if isinstance(kind, tuple) else (kind,)
        # TOML booleans are ints to isinstance(); a rubric's `points = true` is a mistake.
        if isinstance(value, bool) and bool not in kinds:
            ok = False
        elif float in kinds and isinstance(value, int) and not isinstance(value, bool):
            value = float(value)
            ok = True
        else:
            ok = isinstance(value, kinds)
        if not ok:
            names = describe or " or ".join(k.__name__ for k in kinds)
            raise self.error(f"wrong type {type(value).__name__}", question=question, key=key,
                             allowed=names)
        return value

    def rubric(self, data: Mapping[str, Any], digest: str) -> Rubric:
        self.keys(data, ("assignment", "execution", "questions"), where="the rubric")
        assignment = self.get(data, "assignment", dict, required=True,
                              describe="a table [assignment] with id, title, reference")
        self.keys(assignment, ("id", "title", "reference", "submission_names"),
                  where="[assignment]")
        rid = self.get(assignment, "id", str, required=True, describe="a short name, e.g. 'hw2'")
        title = self.get(assignment, "title", str, default=rid)
        ref = self.get(assignment, "reference", str, required=True,
                       describe="a path to the reference module, relative to the rubric")
        reference_path = (self.path.parent / ref).resolve()
        names = self.get(assignment, "submission_names", list, default=[])
        if not all(isinstance(n, str) for n in names):
            raise self.error("must be a list of file names", key="submission_names")
        execution = self.execution(self.get(data, "execution", dict, default={}))
        raw_questions = self.get(data, "questions", list, required=True,
                                 describe="an array of tables [[questions]]")
        if not raw_questions:
            raise self.error("a rubric needs at least one question", key="questions")
        questions = []
        seen: set[str] = set()
        for raw in raw_questions:
            if not isinstance(raw, dict):
                raise self.error("each entry must be a table", key="questions",
                                 allowed="[[questions]]")
            q = self.question(raw)
            if q.id in seen:
                raise self.error("duplicate question id", question=q.id, key="id")
            seen.add(q.id)
            questions.append(q)
        return Rubric(path=self.path, id=rid, title=title, reference_path=reference_path,
                      execution=execution, questions=tuple(questions),
                      submission_names=tuple(names), digest=digest)

    def execution(self, table: Mapping[str, Any]) -> ExecutionSettings:
        numbers = {"cell_timeout": float, "timeout": float, "call_timeout": float,
                   "startup_timeout": float, "max_output_bytes": int, "memory_mb": int,
                   "cpu_seconds": int, "max_processes": int, "max_file_mb": int}
        self.keys(table, (*numbers, "sandbox", "preload"), where="[execution]")
        values: dict[str, Any] = {}
        for key, kind in numbers.items():
            if key in table:
                value = self.get(table, key, kind, describe=f"a positive {kind.__name__}")
                if not value > 0 or (isinstance(value, float) and not math.isfinite(value)):
                    raise self.error("must be a positive number", key=f"execution.{key}")
                values[key] = value
        if "sandbox" in table:
            mode = self.get(table, "sandbox", str)
            if mode not in SANDBOX_MODES:
                raise self.error(f"unknown sandbox mode {mode!r}", key="execution.sandbox",
                                 allowed=", ".join(SANDBOX_MODES))
            values["sandbox"] = mode
        preload = self.get(table, "preload", list, default=[])
        if not all(isinstance(m, str) and re.fullmatch(r"[A-Za-z_][\w.]*", m) for m in preload):
            raise self.error("must be a list of module names", key="execution.preload")
        values["preload"] = tuple(preload)
        return ExecutionSettings(**values)

    def question(self, raw: Mapping[str, Any]) -> Question:
        qid = raw.get("id")
        if not isinstance(qid, str) or not _QUESTION_ID.match(qid):
            raise self.error("each question needs an id of letters, digits, '_', '.', '-'",
                             key="id", question=str(qid) if qid is not None else None)
        self.keys(raw, ("id", "title", "points", "checks"), where="a question", question=qid)
        title = self.get(raw, "title", str, question=qid, default=qid)
        points = self.get(raw, "points", float, question=qid, required=True,
                          describe="a number of points >= 0")
        if not (math.isfinite(points) and points >= 0):
            raise self.error("points must be a finite number >= 0", question=qid, key="points")
        raw_checks = self.get(raw, "checks", list, question=qid, required=True,
                              describe="an array of tables [[questions.checks]]")
        if not raw_checks:
            raise self.error("a question needs at least one check", question=qid, key="checks")
        checks = tuple(self.check(c, qid) for c in raw_checks)
        return Question(id=qid, title=title, points=points, checks=checks)

    def check(self, raw: Any, qid: str) -> CheckSpec:
        if not isinstance(raw, dict):
            raise self.error("each check must be a table", question=qid, key="checks")
        allowed = ("answer", "kind", "weight", "visible", "visibility", "expected", "value",
                   "rtol", "atol", "partial", "inputs", "inputs_from", "array_args",
                   "property", "symbols", "functions", "domain", "mistakes")
        self.keys(raw, allowed, where="a check", question=qid)
        answer = self.get(raw, "answer", str, question=qid, required=True,
                          describe="the contract name of the answer")
        if not _IDENT.match(answer):
            raise self.error(f"{answer!r} is not a Python identifier", question=qid,
                             key="answer")
        kind = self.get(raw, "kind", str, question=qid, required=True,
                        describe=", ".join(KINDS))
        if kind not in KINDS:
            raise self.error(f"unknown check kind {kind!r}", question=qid, key="kind",
                             allowed=", ".join(KINDS))
        weight = self.get(raw, "weight", float, question=qid, default=1.0)
        if not (math.isfinite(weight) and weight > 0):
            raise self.error("weight must be a positive number", question=qid, key="weight")
        visible = self.get(raw, "visible", bool, question=qid, default=True)
        visibility = self.get(raw, "visibility", str, question=qid,
                              default="visible" if visible else "hidden")
        if visibility not in VISIBILITIES or ("visible" in raw and visible != (
                visibility == "visible")):
            raise self.error(f"visibility {visibility!r} is unknown or contradicts visible",
                             question=qid, key="visibility", allowed=", ".join(VISIBILITIES))
        spec: dict[str, Any] = {
            "answer": answer, "kind": kind, "weight": weight,
            "visible": visibility == "visible", "visibility": visibility,
            "partial": self.get(raw, "partial", bool, question=qid, default=False),
        }
        for key in ("rtol", "atol"):
            if key in raw:
                tol = self.get(raw, key, float, question=qid)
                if not (math.isfinite(tol) and tol >= 0):
                    raise self.error("must be a finite number >= 0", question=qid, key=key)
                spec[key] = tol
        for key in ("expected", "inputs_from", "property"):
            if key in raw:
                name = self.get(raw, key, str, question=qid)
                if not _IDENT.match(name):
                    raise self.error(f"{name!r} is not a name in the reference module",
                                     question=qid, key=key)
                spec["property_name" if key == "property" else key] = name
        if "value" in raw:
            spec["value"] = raw["value"]
        spec["inputs"] = self.inputs(raw.get("inputs", []), qid)
        array_args = self.get(raw, "array_args", list, question=qid, default=[])
        for a in array_args:
            if isinstance(a, bool) or not isinstance(a, int | str):
                raise self.error("entries must be argument positions or keyword names",
                                 question=qid, key="array_args")
        spec["array_args"] = tuple(array_args)
        symbols = self.get(raw, "symbols", list, question=qid, default=[])
        if not all(isinstance(s, str) and _IDENT.match(s) for s in symbols):
            raise self.error("must be a list of symbol names", question=qid, key="symbols")
        spec["symbols"] = tuple(symbols)
        spec["functions"] = self.functions(raw.get("functions", {}), qid)
        spec["domain"] = self.domain(raw.get("domain", {}), qid)
        spec["mistakes"] = self.mistakes(raw.get("mistakes", []), qid, kind)
        self.kind_rules(kind, spec, raw, qid)
        if "inputs" in raw or "inputs_from" in raw:
            spec["inputs"] = _arrays(spec["inputs"], spec["array_args"])
        return CheckSpec(**spec)

    def kind_rules(self, kind: str, spec: Mapping[str, Any], raw: Mapping[str, Any],
                   qid: str) -> None:
        """Reject keys that mean nothing for the check's kind, and demand the ones it needs."""
        relevant = {
            "numeric": {"expected", "value", "rtol", "atol", "partial", "mistakes"},
            "symbolic": {"expected", "value", "rtol", "atol", "partial", "symbols",
                         "functions", "domain", "mistakes"},
            "function": {"expected", "rtol", "atol", "partial", "inputs", "inputs_from",
                         "array_args", "mistakes"},
            "property": {"property", "inputs", "inputs_from", "array_args", "partial"},
            "manual": set(),
        }[kind]
        common = {"answer", "kind", "weight", "visible", "visibility"}
        for key in raw:
            if key not in common and key not in relevant:
                raise self.error(f"not an option of a {kind} check", question=qid, key=key,
                                 allowed=", ".join(sorted(relevant)) or "none")
        if kind == "function" and not (raw.get("inputs") or raw.get("inputs_from")):
            raise self.error("a function check needs hidden inputs", question=qid,
                             key="inputs", allowed="inputs = [[...], ...] or inputs_from")
        if kind == "property" and "property" not in raw:
            raise self.error("a property check names its check function", question=qid,
                             key="property", allowed="a function in the reference module")
        if "value" in raw and "expected" in raw:
            raise self.error("give either value or expected, not both", question=qid,
                             key="value")
        if kind == "symbolic" and not spec["symbols"]:
            raise self.error("a symbolic check declares its symbols", question=qid,
                             key="symbols", allowed='e.g. symbols = ["w", "b", "x"]')

    def inputs(self, raw: Any, qid: str) -> tuple[Call, ...]:
        if not isinstance(raw, list):
            raise self.error("must be an array of argument lists", question=qid, key="inputs")
        calls = []
        for item in raw:
            if isinstance(item, list):
                calls.append(Call(args=tuple(item)))
            elif isinstance(item, dict) and set(item) <= {"args", "kwargs"}:
                args = item.get("args", [])
                kwargs = item.get("kwargs", {})
                if not isinstance(args, list) or not isinstance(kwargs, dict):
                    raise self.error("a call table has args = [...] and kwargs = {...}",
                                     question=qid, key="inputs")
                calls.append(Call(args=tuple(args), kwargs=dict(kwargs)))
            else:
                raise self.error("each input is a list of arguments or {args, kwargs}",
                                 question=qid, key="inputs")
        return tuple(calls)

    def functions(self, raw: Any, qid: str) -> dict[str, tuple[str, str]]:
        if not isinstance(raw, dict):
            raise self.error("must be a table name = [parameter, body]", question=qid,
                             key="functions")
        out = {}
        for name, value in raw.items():
            ok = (isinstance(value, list) and len(value) == 2
                  and all(isinstance(v, str) for v in value) and _IDENT.match(name)
                  and _IDENT.match(value[0]))
            if not ok:
                raise self.error(f"functions.{name} must be [parameter, body]", question=qid,
                                 key="functions", allowed='e.g. sigma = ["z", "1/(1 + exp(-z))"]')
            out[name] = (value[0], value[1])
        return out

    def domain(self, raw: Any, qid: str) -> dict[str, tuple[float, float]]:
        if not isinstance(raw, dict):
            raise self.error("must be a table name = [low, high]", question=qid, key="domain")
        out = {}
        for name, value in raw.items():
            ok = (isinstance(value, list) and len(value) == 2
                  and all(isinstance(v, int | float) and not isinstance(v, bool) for v in value)
                  and value[0] < value[1])
            if not ok:
                raise self.error(f"domain.{name} must be [low, high] with low < high",
                                 question=qid, key="domain")
            out[name] = (float(value[0]), float(value[1]))
        return out

    def mistakes(self, raw: Any, qid: str, kind: str) -> tuple[Mistake, ...]:
        if not isinstance(raw, list):
            raise self.error("must be an array of tables [[questions.checks.mistakes]]",
                             question=qid, key="mistakes")
        out = []
        for item in raw:
            if not isinstance(item, dict):
                raise self.error("each mistake is a table", question=qid, key="mistakes")
            self.keys(item, ("id", "feedback", "credit", "value", "reference"),
                      where="a mistake", question=qid)
            mid = self.get(item, "id", str, question=qid, required=True,
                           describe="a short id such as 'no-output-bias'")
            feedback = self.get(item, "feedback", str, question=qid, required=True,
                                describe="what the student did and how to fix it")
            credit = self.get(item, "credit", float, question=qid, default=0.0)
            if not 0.0 <= credit < 1.0:
                raise self.error(f"mistake {mid!r}: credit is a fraction in [0, 1)",
                                 question=qid, key="credit")
            has_value, has_ref = "value" in item, "reference" in item
            if has_value == has_ref:
                raise self.error(f"mistake {mid!r} needs exactly one of value, reference",
                                 question=qid, key="mistakes")
            if kind == "function" and has_value:
                raise self.error(f"mistake {mid!r}: a function check's mistake is a "
                                 "reference function", question=qid, key="value")
            reference = self.get(item, "reference", str, question=qid)
            out.append(Mistake(id=mid, feedback=feedback, credit=credit,
                               value=item.get("value"), reference=reference))
        return tuple(out)


def _arrays(calls: tuple[Call, ...], array_args: tuple[int | str, ...]) -> tuple[Call, ...]:
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


def _check_reference(rubric: Rubric) -> None:
    """Resolve every reference name the rubric uses, so a typo fails at load time."""
    module = rubric.load_reference()
    path = str(rubric.path)
    for q in rubric.questions:
        for c in q.checks:
            needed: list[tuple[str, str]] = []
            if c.kind in ("numeric", "symbolic") and "value" not in _given(c):
                needed.append(("expected", c.reference_name))
            if c.kind == "function":
                needed.append(("expected", c.reference_name))
            if c.kind == "property" and c.property_name:
                needed.append(("property", c.property_name))
            if c.inputs_from:
                needed.append(("inputs_from", c.inputs_from))
            needed += [("mistakes", m.reference) for m in c.mistakes if m.reference]
            for key, name in needed:
                if not hasattr(module, name):
                    raise RubricError(
                        f"the reference module {rubric.reference_path.name} has no {name!r}",
                        path=path, question=q.id, key=key,
                        allowed="a name defined at top level of the reference module")
                if key in ("property", "inputs_from") or (
                        c.kind == "function" and key in ("expected", "mistakes")):
                    if not callable(getattr(module, name)):
                        raise RubricError(f"reference {name!r} must be a function", path=path,
                                          question=q.id, key=key)


def _given(check: CheckSpec) -> set[str]:
    return {"value"} if check.value is not None else set()


def resolve_inputs(check: CheckSpec, reference: ModuleType) -> tuple[Call, ...]:
    """The calls a function or property check makes: literal inputs, then generated ones."""
    calls = list(check.inputs)
    if check.inputs_from:
        produced = getattr(reference, check.inputs_from)()
        for item in produced:
            if isinstance(item, Call):
                calls.append(item)
            elif isinstance(item, tuple | list):
                calls.append(Call(args=tuple(item)))
            else:
                raise ReferenceModuleError(
                    f"{check.inputs_from}() must return argument tuples, got "
                    f"{type(item).__name__}", name=check.inputs_from)
    return tuple(calls)
