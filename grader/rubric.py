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

from grader.calls import GENERATORS, ArgGenerator, Call, RandomInputs
from grader.errors import ReferenceModuleError, RubricError
from grader.settings import SANDBOX_MODES, ExecutionSettings

KINDS = ("numeric", "symbolic", "function", "property", "manual")
VISIBILITIES = ("visible", "hidden", "after_due_date", "after_published")
_IDENT = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_QUESTION_ID = re.compile(r"^[A-Za-z0-9_.-]+$")




@dataclass(frozen=True, kw_only=True)
class Mistake:
    """A known wrong answer with its feedback and the fraction of the check it earns."""

    id: str
    feedback: str
    credit: float = 0.0
    value: Any = None
    reference: str | None = None
    outputs: tuple[Any, ...] | None = None  # function checks: the mistaken output per call


ASSUMPTIONS = ("real", "positive", "negative", "nonnegative", "nonpositive", "nonzero",
               "integer")
FORMS = ("factored", "expanded", "no_derivative")
INPUT_SYNTAXES = ("python", "math")
COMPARE_MODES = ("system",)
NUMBER_FLAGS = ("equal_nan", "bool_as_number", "unordered", "up_to_sign", "up_to_scale")
_MAX_ROUNDING = 50  # sigfigs / decimals
_MAX_GENERATED_CALLS = 1000
_MAX_GENERATED_ENTRIES = 100_000  # numbers in one generated argument


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
    # Function checks: the expected output of each call of `inputs`, frozen as literals (a
    # released public rubric has no reference to compute them from).
    outputs: tuple[Any, ...] | None = None
    # The number rule of numeric and function checks (grader.checks.numeric).
    sigfigs: int | None = None
    decimals: int | None = None
    equal_nan: bool = False
    bool_as_number: bool = False
    unordered: bool = False
    up_to_sign: bool = False
    up_to_scale: bool = False
    # Symbolic checks (grader.checks.symbolic): name -> "positive", "nonnegative integer"...
    assumptions: Mapping[str, str] = field(default_factory=dict)
    compare: str | None = None  # "system": lists of equations compared as solution sets
    form: tuple[str, ...] = ()  # "factored", "expanded", "no_derivative"
    input_syntax: str = "python"  # how text answers are read: "python" or "math"
    # Function and property checks: seeded random inputs and a per-call time limit.
    random: RandomInputs | None = None
    call_timeout: float | None = None

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
    text: str = ""  # the question as the handout states it

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
    reference_path: Path | None  # None: a public rubric whose expectations are all literals
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
        """Import the rubric's reference module (trusted staff code) once per process.

        A rubric without a reference gets an empty module: its loader has made sure that
        no check needs one.
        """
        if self.reference_path is None:
            return ModuleType("grader_no_reference")
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
        ref = self.get(assignment, "reference", str,
                       describe="a path to the reference module, relative to the rubric")
        reference_path = None if ref is None else (self.path.parent / ref).resolve()
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
            if reference_path is None:
                self.reference_free(q)
            seen.add(q.id)
            questions.append(q)
        return Rubric(path=self.path, id=rid, title=title, reference_path=reference_path,
                      execution=execution, questions=tuple(questions),
                      submission_names=tuple(names), digest=digest)

    def execution(self, table: Mapping[str, Any]) -> ExecutionSettings:
        numbers = {"cell_timeout": float, "timeout": float, "call_timeout": float,
                   "startup_timeout": float, "max_output_bytes": int, "memory_mb": int,
                   "max_memory_mb": int, "cpu_seconds": int, "max_processes": int,
                   "max_file_mb": int, "max_disk_mb": int, "max_files": int,
                   "max_answers_mb": int}
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
        self.keys(raw, ("id", "title", "points", "checks", "text"), where="a question",
                  question=qid)
        title = self.get(raw, "title", str, question=qid, default=qid)
        text = self.get(raw, "text", str, question=qid, default="")
        points = self.get(raw, "points", float, question=qid, required=True,
                          describe="a number of points >= 0")
        if not (math.isfinite(points) and points >= 0):
            raise self.error("points must be a finite number >= 0", question=qid, key="points")
        raw_checks = self.get(raw, "checks", list, question=qid, required=True,
                              describe="an array of tables [[questions.checks]]")
        if not raw_checks:
            raise self.error("a question needs at least one check", question=qid, key="checks")
        checks = tuple(self.check(c, qid) for c in raw_checks)
        return Question(id=qid, title=title, points=points, checks=checks, text=text)

    def reference_free(self, q: Question) -> None:
        """Without ``[assignment] reference`` every expectation must be a literal."""
        for c in q.checks:
            if c.expected is not None:
                key, what = "expected", "expected (a name in the reference)"
            elif c.inputs_from:
                key, what = "inputs_from", "inputs_from (a generator in the reference)"
            elif c.kind == "property":
                key, what = "property", "a property check (a function in the reference)"
            elif c.kind in ("numeric", "symbolic") and c.value is None:
                key, what = "value", f"a {c.kind} check without value"
            elif c.kind == "function" and c.outputs is None:
                key, what = "outputs", "a function check without outputs"
            elif any(m.reference for m in c.mistakes):
                key, what = "mistakes", "a mistake given by reference"
            else:
                continue
            raise self.error(f"{c.answer}: a rubric without [assignment] reference cannot use "
                             f"{what}", question=q.id, key=key,
                             allowed="literal value, inputs and outputs (as `grader release` "
                                     "writes them)")

    def check(self, raw: Any, qid: str) -> CheckSpec:
        if not isinstance(raw, dict):
            raise self.error("each check must be a table", question=qid, key="checks")
        allowed = ("answer", "kind", "weight", "visible", "visibility", "expected", "value",
                   "rtol", "atol", "partial", "inputs", "inputs_from", "array_args",
                   "property", "symbols", "functions", "domain", "mistakes", "outputs",
                   "sigfigs", "decimals", *NUMBER_FLAGS, "assumptions", "compare", "form",
                   "input_syntax", "variables", "random", "call_timeout")
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
            spec["value"] = (self.literal(raw["value"], qid, "value") if kind == "numeric"
                             else raw["value"])
        if "outputs" in raw:
            spec["outputs"] = self.outputs(raw["outputs"], qid, "outputs")
        spec["inputs"] = self.inputs(raw.get("inputs", []), qid)
        array_args = self.get(raw, "array_args", list, question=qid, default=[])
        for a in array_args:
            if isinstance(a, bool) or not isinstance(a, int | str):
                raise self.error("entries must be argument positions or keyword names",
                                 question=qid, key="array_args")
        spec["array_args"] = tuple(array_args)
        if "symbols" in raw and "variables" in raw:
            raise self.error("give symbols or variables (two names for the same list), not "
                             "both", question=qid, key="variables")
        names_key = "variables" if "variables" in raw else "symbols"
        symbols = self.get(raw, names_key, list, question=qid, default=[])
        if not all(isinstance(s, str) and _IDENT.match(s) for s in symbols):
            raise self.error("must be a list of symbol names", question=qid, key=names_key)
        if len(set(symbols)) != len(symbols):
            raise self.error("a symbol is declared twice", question=qid, key=names_key)
        spec["symbols"] = tuple(symbols)
        spec["functions"] = self.functions(raw.get("functions", {}), qid)
        spec["domain"] = self.domain(raw.get("domain", {}), qid)
        spec["mistakes"] = self.mistakes(raw.get("mistakes", []), qid, kind)
        self.kind_rules(kind, spec, raw, qid)
        self.number_rule(spec, raw, qid)
        self.symbolic_options(spec, raw, qid)
        if "random" in raw:
            spec["random"] = self.random_inputs(raw["random"], qid)
        if "call_timeout" in raw:
            seconds = self.get(raw, "call_timeout", float, question=qid)
            if not (math.isfinite(seconds) and seconds > 0):
                raise self.error("must be a positive number of seconds", question=qid,
                                 key="call_timeout")
            spec["call_timeout"] = seconds
        self.literal_outputs(spec, raw, qid)
        if "inputs" in raw or "inputs_from" in raw:
            spec["inputs"] = _arrays(spec["inputs"], spec["array_args"])
        return CheckSpec(**spec)

    def kind_rules(self, kind: str, spec: Mapping[str, Any], raw: Mapping[str, Any],
                   qid: str) -> None:
        """Reject keys that mean nothing for the check's kind, and demand the ones it needs."""
        relevant = {
            "numeric": {"expected", "value", "rtol", "atol", "partial", "mistakes",
                        "sigfigs", "decimals", *NUMBER_FLAGS},
            "symbolic": {"expected", "value", "rtol", "atol", "partial", "symbols",
                         "variables", "functions", "domain", "mistakes", "assumptions",
                         "compare", "form", "input_syntax"},
            "function": {"expected", "rtol", "atol", "partial", "inputs", "inputs_from",
                         "array_args", "mistakes", "outputs", "sigfigs", "decimals",
                         *NUMBER_FLAGS, "random", "call_timeout"},
            "property": {"property", "inputs", "inputs_from", "array_args", "partial",
                         "random", "call_timeout"},
            "manual": set(),
        }[kind]
        common = {"answer", "kind", "weight", "visible", "visibility"}
        for key in raw:
            if key not in common and key not in relevant:
                raise self.error(f"not an option of a {kind} check", question=qid, key=key,
                                 allowed=", ".join(sorted(relevant)) or "none")
        if kind == "function" and not (raw.get("inputs") or raw.get("inputs_from")
                                       or raw.get("random")):
            raise self.error("a function check needs hidden inputs", question=qid,
                             key="inputs", allowed="inputs = [[...], ...], inputs_from or "
                                                   "[random]")
        if kind == "property" and "property" not in raw:
            raise self.error("a property check names its check function", question=qid,
                             key="property", allowed="a function in the reference module")
        if "value" in raw and "expected" in raw:
            raise self.error("give either value or expected, not both", question=qid,
                             key="value")
        if kind == "symbolic" and not spec["symbols"]:
            raise self.error("a symbolic check declares its symbols", question=qid,
                             key="symbols", allowed='e.g. symbols = ["w", "b", "x"]')

    def number_rule(self, spec: dict[str, Any], raw: Mapping[str, Any], qid: str) -> None:
        """sigfigs or decimals (instead of rtol/atol) and the flags of the numeric rule."""
        for key, low in (("sigfigs", 1), ("decimals", 0)):
            if key in raw:
                value = self.get(raw, key, int, question=qid,
                                 describe=f"an integer from {low} to {_MAX_ROUNDING}")
                if not low <= value <= _MAX_ROUNDING:
                    raise self.error(f"must be an integer from {low} to {_MAX_ROUNDING}",
                                     question=qid, key=key)
                spec[key] = value
        if "sigfigs" in raw and "decimals" in raw:
            raise self.error("give sigfigs or decimals, not both", question=qid,
                             key="decimals")
        rounding = [k for k in ("sigfigs", "decimals") if k in raw]
        tolerance = [k for k in ("rtol", "atol") if k in raw]
        if rounding and tolerance:
            raise self.error(f"{rounding[0]} replaces rtol and atol; give one kind of rule",
                             question=qid, key=tolerance[0],
                             allowed="rtol/atol, or sigfigs, or decimals")
        for key in NUMBER_FLAGS:
            if key in raw:
                spec[key] = self.get(raw, key, bool, question=qid, describe="true or false")

    def symbolic_options(self, spec: dict[str, Any], raw: Mapping[str, Any], qid: str) -> None:
        """assumptions, compare, form and input_syntax; domain names must be declared."""
        declared = set(spec["symbols"])
        for name in spec["domain"]:
            if name not in declared:
                raise self.error(f"domain.{name} names a symbol that is not declared",
                                 question=qid, key="domain",
                                 allowed=", ".join(spec["symbols"]) or "(no symbols)")
        table = self.get(raw, "assumptions", dict, question=qid, default={},
                         describe='a table such as { t = "positive integer" }')
        assumptions = {}
        for name, words in table.items():
            if name not in declared:
                raise self.error(f"assumptions.{name} names a symbol that is not declared",
                                 question=qid, key="assumptions",
                                 allowed=", ".join(spec["symbols"]) or "(no symbols)")
            parts = words.split() if isinstance(words, str) else []
            if not parts or any(p not in ASSUMPTIONS for p in parts) or len(set(parts)) != len(
                    parts):
                raise self.error(f"assumptions.{name} must be a string of space-separated "
                                 f"assumptions, each once", question=qid, key="assumptions",
                                 allowed=", ".join(ASSUMPTIONS))
            problem = assumptions_problem(parts)
            if problem:
                raise self.error(f"assumptions.{name}: {problem}", question=qid,
                                 key="assumptions", allowed=", ".join(ASSUMPTIONS))
            assumptions[name] = " ".join(parts)
        spec["assumptions"] = assumptions
        if "compare" in raw:
            mode = self.get(raw, "compare", str, question=qid)
            if mode not in COMPARE_MODES:
                raise self.error(f"unknown comparison {mode!r}", question=qid, key="compare",
                                 allowed=", ".join(COMPARE_MODES))
            spec["compare"] = mode
        forms = self.get(raw, "form", list, question=qid, default=[],
                         describe=f"a list of {', '.join(FORMS)}")
        if any(f not in FORMS for f in forms) or len(set(forms)) != len(forms):
            raise self.error("must list each form requirement at most once", question=qid,
                             key="form", allowed=", ".join(FORMS))
        if "factored" in forms and "expanded" in forms:
            raise self.error("an answer cannot be required to be both factored and expanded",
                             question=qid, key="form", allowed=", ".join(FORMS))
        spec["form"] = tuple(forms)
        if "input_syntax" in raw:
            syntax = self.get(raw, "input_syntax", str, question=qid)
            if syntax not in INPUT_SYNTAXES:
                raise self.error(f"unknown input syntax {syntax!r}", question=qid,
                                 key="input_syntax", allowed=", ".join(INPUT_SYNTAXES))
            spec["input_syntax"] = syntax

    def random_inputs(self, raw: Any, qid: str) -> RandomInputs:
        """The [random] table of a function or property check: count, seed, args, kwargs."""
        if not isinstance(raw, dict):
            raise self.error("must be a table with count, seed and args (and/or kwargs)",
                             question=qid, key="random")
        self.keys(raw, ("count", "seed", "args", "kwargs"), where="[random]", question=qid)
        count = self.get(raw, "count", int, question=qid, required=True,
                         describe=f"the number of calls, 1 to {_MAX_GENERATED_CALLS}")
        if not 1 <= count <= _MAX_GENERATED_CALLS:
            raise self.error(f"must be from 1 to {_MAX_GENERATED_CALLS}", question=qid,
                             key="random.count")
        seed = self.get(raw, "seed", int, question=qid, required=True,
                        describe="an integer >= 0, so every run draws the same inputs")
        if seed < 0:
            raise self.error("must be an integer >= 0", question=qid, key="random.seed")
        args = self.get(raw, "args", list, question=qid, default=[],
                        describe="a list of generator tables, one per positional argument")
        kwargs = self.get(raw, "kwargs", dict, question=qid, default={},
                          describe="a table of generator tables, one per keyword argument")
        if not args and not kwargs:
            raise self.error("needs args and/or kwargs to generate", question=qid,
                             key="random.args")
        generated = tuple(self.generator(g, qid, f"random.args[{i}]")
                          for i, g in enumerate(args))
        named = []
        for name, g in kwargs.items():
            if not _IDENT.match(name):
                raise self.error(f"{name!r} is not a keyword argument name", question=qid,
                                 key="random.kwargs")
            named.append((name, self.generator(g, qid, f"random.kwargs.{name}")))
        return RandomInputs(count=count, seed=seed, args=generated, kwargs=tuple(named))

    def generator(self, raw: Any, qid: str, where: str) -> ArgGenerator:
        """One argument generator, e.g. ``{ kind = "uniform", low = -1, high = 1 }``."""
        example = 'e.g. { kind = "uniform", low = -1.0, high = 1.0, shape = [3] }'
        if not isinstance(raw, dict):
            raise self.error("must be a generator table", question=qid, key=where,
                             allowed=example)
        kind = raw.get("kind")
        if kind not in GENERATORS:
            raise self.error(f"unknown generator kind {kind!r}", question=qid,
                             key=f"{where}.kind", allowed=", ".join(GENERATORS))
        self.keys(raw, ("kind", *GENERATORS[kind]), where=f"a {kind} generator ({where})",
                  question=qid)
        out: dict[str, Any] = {"kind": kind}

        def number(key: str, default: float, integer: bool = False) -> float:
            value = self.get(raw, key, int if integer else float, question=qid,
                             default=default, describe="an integer" if integer else "a number")
            if not math.isfinite(value):
                raise self.error("must be finite", question=qid, key=f"{where}.{key}")
            return value

        if kind in ("uniform", "integer"):
            integer = kind == "integer"
            for key in ("low", "high"):
                if key not in raw:
                    raise self.error(f"a {kind} generator needs {key}", question=qid,
                                     key=f"{where}.{key}", allowed="low and high")
            out["low"], out["high"] = number("low", 0, integer), number("high", 1, integer)
            if not (out["low"] < out["high"] or (integer and out["low"] == out["high"])):
                raise self.error("low must be below high", question=qid, key=f"{where}.high")
        if kind == "normal":
            out["mean"], out["std"] = number("mean", 0.0), number("std", 1.0)
            if out["std"] <= 0:
                raise self.error("must be > 0", question=qid, key=f"{where}.std")
        if kind in ("uniform", "integer", "normal"):
            shape = self.get(raw, "shape", list, question=qid, default=[],
                             describe="a list of positive integers, e.g. [3] or [2, 3]")
            if len(shape) > 4 or not all(isinstance(d, int) and not isinstance(d, bool)
                                         and d >= 1 for d in shape):
                raise self.error("must be a list of at most 4 positive integers",
                                 question=qid, key=f"{where}.shape")
            if math.prod(shape) > _MAX_GENERATED_ENTRIES:
                raise self.error(f"more than {_MAX_GENERATED_ENTRIES} numbers", question=qid,
                                 key=f"{where}.shape")
            out["shape"] = tuple(shape)
        if kind == "choice":
            values = self.get(raw, "values", list, question=qid, required=True,
                              describe="a non-empty list of values")
            if not values:
                raise self.error("must not be empty", question=qid, key=f"{where}.values")
            out["values"] = tuple(values)
        if kind == "spd":
            n = self.get(raw, "n", int, question=qid, required=True,
                         describe="the matrix size, 1 to 50")
            if not 1 <= n <= 50:
                raise self.error("must be from 1 to 50", question=qid, key=f"{where}.n")
            out["n"] = n
            bounds = self.get(raw, "eigenvalues", list, question=qid, default=[0.5, 5.0],
                              describe="[low, high] with 0 < low <= high")
            ok = (len(bounds) == 2 and all(isinstance(v, int | float) and not isinstance(
                v, bool) and math.isfinite(v) for v in bounds) and 0 < bounds[0] <= bounds[1])
            if not ok:
                raise self.error("must be [low, high] with 0 < low <= high", question=qid,
                                 key=f"{where}.eigenvalues")
            out["eigenvalues"] = (float(bounds[0]), float(bounds[1]))
        if kind == "constant":
            if "value" not in raw:
                raise self.error("a constant generator needs value", question=qid,
                                 key=f"{where}.value")
            out["value"] = raw["value"]
        return ArgGenerator(**out)

    def literal_outputs(self, spec: Mapping[str, Any], raw: Mapping[str, Any],
                        qid: str) -> None:
        """Literal outputs (of the check or its mistakes) need one per literal input."""
        lists = [("outputs", spec.get("outputs"))]
        lists += [(f"mistakes ({m.id})", m.outputs) for m in spec["mistakes"]]
        for key, outputs in lists:
            if outputs is None:
                continue
            if "inputs_from" in raw or "expected" in raw or "random" in raw:
                raise self.error("literal outputs go with literal inputs only, without "
                                 "inputs_from, random or expected", question=qid, key=key)
            if len(outputs) != len(spec["inputs"]):
                raise self.error(f"{len(outputs)} outputs for {len(spec['inputs'])} inputs: "
                                 "give one output per input", question=qid, key=key)

    def literal(self, raw: Any, qid: str, key: str) -> Any:
        try:
            return literal_value(raw)
        except (ValueError, TypeError) as exc:
            raise self.error(f"not a valid literal: {exc}", question=qid, key=key,
                             allowed=LITERAL_FORMS) from None

    def outputs(self, raw: Any, qid: str, key: str) -> tuple[Any, ...]:
        if not isinstance(raw, list):
            raise self.error("must be an array with one output per input", question=qid,
                             key=key)
        return tuple(self.literal(item, qid, key) for item in raw)

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
            self.keys(item, ("id", "feedback", "credit", "value", "reference", "outputs"),
                      where="a mistake", question=qid)
            mid = self.get(item, "id", str, question=qid, required=True,
                           describe="a short id such as 'no-output-bias'")
            feedback = self.get(item, "feedback", str, question=qid, required=True,
                                describe="what the student did and how to fix it")
            credit = self.get(item, "credit", float, question=qid, default=0.0)
            if not 0.0 <= credit < 1.0:
                raise self.error(f"mistake {mid!r}: credit is a fraction in [0, 1)",
                                 question=qid, key="credit")
            given = [k for k in ("value", "reference", "outputs") if k in item]
            if len(given) != 1:
                raise self.error(f"mistake {mid!r} needs exactly one of value, reference, "
                                 "outputs", question=qid, key="mistakes")
            if kind == "function" and "value" in item:
                raise self.error(f"mistake {mid!r}: a function check's mistake is a "
                                 "reference function or literal outputs", question=qid,
                                 key="value")
            if kind != "function" and "outputs" in item:
                raise self.error(f"mistake {mid!r}: only a function check's mistake has "
                                 "outputs", question=qid, key="outputs")
            reference = self.get(item, "reference", str, question=qid)
            value = item.get("value")
            if kind == "numeric" and "value" in item:
                value = self.literal(value, qid, "value")
            outputs = (self.outputs(item["outputs"], qid, "outputs") if "outputs" in item
                       else None)
            out.append(Mistake(id=mid, feedback=feedback, credit=credit, value=value,
                               reference=reference, outputs=outputs))
        return tuple(out)


LITERAL_FORMS = ("TOML values; {array = [...], dtype = \"float64\"}, {tuple = [...]}, "
                 "{complex = [re, im]}, {none = true}, {dict = {...}}")
_DTYPE_KINDS = "biufc"


def literal_value(raw: Any) -> Any:
    """A rubric literal as a Python value: TOML data, plus tagged tables for what TOML lacks.

    ``{array = [...], dtype = "float64"}`` is a numpy array (``shape = [...]`` is added for
    an empty one), ``{tuple = [...]}`` a tuple, ``{complex = [re, im]}`` a complex number,
    ``{none = true}`` None, and ``{dict = {...}}`` a dict whose keys would otherwise read
    as one of these tags. Any other table is a dict, any array a list. Raises ValueError
    (or TypeError) for a malformed tag.
    """
    if isinstance(raw, list):
        return [literal_value(v) for v in raw]
    if not isinstance(raw, dict):
        return raw
    keys = set(raw)
    if "array" in keys and keys <= {"array", "dtype", "shape"}:
        import numpy as np

        dtype = np.dtype(str(raw.get("dtype", "float64")))
        if dtype.kind not in _DTYPE_KINDS or dtype.fields is not None:
            raise ValueError(f"an array of dtype {dtype} (numbers and bools only)")
        if not isinstance(raw["array"], list):
            raise ValueError("array = [...] must be a (nested) array of numbers")
        arr = np.array(raw["array"], dtype=dtype)
        return arr.reshape(raw["shape"]) if "shape" in raw else arr
    if keys == {"tuple"} and isinstance(raw["tuple"], list):
        return tuple(literal_value(v) for v in raw["tuple"])
    if keys == {"complex"}:
        re_im = raw["complex"]
        if not (isinstance(re_im, list) and len(re_im) == 2 and all(
                isinstance(v, int | float) and not isinstance(v, bool) for v in re_im)):
            raise ValueError("complex = [re, im] takes two numbers")
        return complex(re_im[0], re_im[1])
    if keys == {"none"}:
        if raw["none"] is not True:
            raise ValueError("write None as {none = true}")
        return None
    if keys == {"dict"} and isinstance(raw["dict"], dict):
        return {k: literal_value(v) for k, v in raw["dict"].items()}
    return {k: literal_value(v) for k, v in raw.items()}


def assumptions_problem(words: list[str] | tuple[str, ...]) -> str:
    """Why a set of assumption words contradicts itself ("" when it does not)."""
    given = set(words)
    plus, minus = given & {"positive", "nonnegative"}, given & {"negative", "nonpositive"}
    if plus and minus and not (plus == {"nonnegative"} and minus == {"nonpositive"}):
        return "contradictory signs"
    if {"nonzero", "nonnegative", "nonpositive"} <= given:
        return "nonzero contradicts nonnegative and nonpositive (which mean zero)"
    return ""


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
    if rubric.reference_path is None:  # the loader made sure nothing needs one
        return
    module = rubric.load_reference()
    path = str(rubric.path)
    for q in rubric.questions:
        for c in q.checks:
            needed: list[tuple[str, str]] = []
            if c.kind in ("numeric", "symbolic") and "value" not in _given(c):
                needed.append(("expected", c.reference_name))
            if c.kind == "function" and c.outputs is None:
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
    if check.random is not None:
        from grader.calls import generate_calls

        calls.extend(generate_calls(check.random))
    return tuple(calls)
