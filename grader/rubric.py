"""Load a TOML rubric into frozen, typed objects, validated once at load time.

Every problem is a :class:`~grader.errors.RubricError` naming the file, the question,
the key and what is allowed. The loader reads the rubric's own tables and each check's
common keys (``answer``, ``kind``, ``weight``, ``visibility``); the check's kind reads
the rest (:mod:`grader.checks.registry`). The rubric's reference module is trusted code
of the course staff; it is imported here, never anything a student wrote.
"""

from __future__ import annotations

import hashlib
import importlib.util
import json
import math
import re
import sys
import tomllib
import warnings
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any

from grader.checks.protocol import (
    COMMON_KEYS,
    FEEDBACK,
    FEEDBACK_WHEN,
    OLD_VISIBILITY,
    PUBLIC,
    VISIBILITIES,
    CheckKind,
    CheckSpec,
)
from grader.checks.registry import KINDS, kind_of
from grader.errors import ReferenceModuleError, RubricError, RubricWarning
from grader.late import LatePolicy, read_policy
from grader.settings import SANDBOX_MODES, ExecutionSettings
from grader.tables import IDENT, Reader

_QUESTION_ID = re.compile(r"^[A-Za-z0-9_.-]+$")


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
        auto = sum(c.weight for c in self.checks if kind_of(c).auto)
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
    late: LatePolicy | None = None  # the [late] table: deadline and penalty

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


def rubric_digest(data: Mapping[str, Any]) -> str:
    """SHA-256 of what a rubric grades by: every table but ``[late]``.

    The late policy is applied to graded results, so changing it must not make
    ``--resume`` run the notebooks again; comments and layout do not count either.
    """
    graded = {k: v for k, v in data.items() if k != "late"}
    return hashlib.sha256(json.dumps(graded, sort_keys=True, default=str).encode()).hexdigest()


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
    loader = _Loader(Reader(path))
    rubric = loader.rubric(data, rubric_digest(data))
    if check_reference:
        check_reference_names(rubric)
    return rubric


class _Loader:
    """Turns the parsed TOML into dataclasses, with errors that say where and what."""

    def __init__(self, reader: Reader) -> None:
        self.r = reader
        self.defaults = Defaults()

    def rubric(self, data: Mapping[str, Any], digest: str) -> Rubric:
        self.r.keys(data, ("assignment", "execution", "questions", "late"), where="the rubric")
        assignment = self.r.get(data, "assignment", dict, required=True,
                              describe="a table [assignment] with id, title, reference")
        self.r.keys(assignment, ("id", "title", "reference", "submission_names", "feedback",
                                 "public"), where="[assignment]")
        self.defaults = Defaults(
            feedback=self.r.get(assignment, "feedback", str, default=None),
            public=self.r.get(assignment, "public", str, default=None))
        for key, allowed in (("feedback", FEEDBACK), ("public", PUBLIC)):
            value = getattr(self.defaults, key)
            if value is not None and value not in allowed:
                raise self.r.error(f"unknown {key} {value!r}", key=f"assignment.{key}",
                                   allowed=", ".join(allowed))
        rid = self.r.get(assignment, "id", str, required=True, describe="a short name, e.g. 'hw2'")
        title = self.r.get(assignment, "title", str, default=rid)
        ref = self.r.get(assignment, "reference", str,
                       describe="a path to the reference module, relative to the rubric")
        reference_path = None if ref is None else (self.r.path.parent / ref).resolve()
        names = self.r.get(assignment, "submission_names", list, default=[])
        if not all(isinstance(n, str) for n in names):
            raise self.r.error("must be a list of file names", key="submission_names")
        execution = self.execution(self.r.get(data, "execution", dict, default={}))
        raw_questions = self.r.get(data, "questions", list, required=True,
                                 describe="an array of tables [[questions]]")
        if not raw_questions:
            raise self.r.error("a rubric needs at least one question", key="questions")
        questions = []
        seen: set[str] = set()
        for raw in raw_questions:
            if not isinstance(raw, dict):
                raise self.r.error("each entry must be a table", key="questions",
                                 allowed="[[questions]]")
            q = self.question(raw)
            if q.id in seen:
                raise self.r.error("duplicate question id", question=q.id, key="id")
            if reference_path is None:
                self.reference_free(q)
            seen.add(q.id)
            questions.append(q)
        late_table = self.r.get(data, "late", dict, default=None,
                                describe="a table [late] with deadline and a penalty")
        late = None if late_table is None else read_policy(self.r, late_table)
        return Rubric(path=self.r.path, id=rid, title=title, reference_path=reference_path,
                      execution=execution, questions=tuple(questions),
                      submission_names=tuple(names), digest=digest, late=late)

    def execution(self, table: Mapping[str, Any]) -> ExecutionSettings:
        numbers = {"cell_timeout": float, "timeout": float, "call_timeout": float,
                   "startup_timeout": float, "max_output_bytes": int, "memory_mb": int,
                   "max_memory_mb": int, "cpu_seconds": int, "max_processes": int,
                   "max_file_mb": int, "max_disk_mb": int, "max_files": int,
                   "max_answers_mb": int}
        self.r.keys(table, (*numbers, "sandbox", "preload"), where="[execution]")
        values: dict[str, Any] = {}
        for key, kind in numbers.items():
            if key in table:
                value = self.r.get(table, key, kind, describe=f"a positive {kind.__name__}")
                if not value > 0 or (isinstance(value, float) and not math.isfinite(value)):
                    raise self.r.error("must be a positive number", key=f"execution.{key}")
                values[key] = value
        if "sandbox" in table:
            mode = self.r.get(table, "sandbox", str)
            if mode not in SANDBOX_MODES:
                raise self.r.error(f"unknown sandbox mode {mode!r}", key="execution.sandbox",
                                 allowed=", ".join(SANDBOX_MODES))
            values["sandbox"] = mode
        preload = self.r.get(table, "preload", list, default=[])
        if not all(isinstance(m, str) and re.fullmatch(r"[A-Za-z_][\w.]*", m) for m in preload):
            raise self.r.error("must be a list of module names", key="execution.preload")
        values["preload"] = tuple(preload)
        return ExecutionSettings(**values)

    def question(self, raw: Mapping[str, Any]) -> Question:
        qid = raw.get("id")
        if not isinstance(qid, str) or not _QUESTION_ID.match(qid):
            raise self.r.error("each question needs an id of letters, digits, '_', '.', '-'",
                             key="id", question=str(qid) if qid is not None else None)
        self.r.keys(raw, ("id", "title", "points", "checks", "text"), where="a question",
                  question=qid)
        title = self.r.get(raw, "title", str, question=qid, default=qid)
        text = self.r.get(raw, "text", str, question=qid, default="")
        points = self.r.get(raw, "points", float, question=qid, required=True,
                          describe="a number of points >= 0")
        if not (math.isfinite(points) and points >= 0):
            raise self.r.error("points must be a finite number >= 0", question=qid, key="points")
        raw_checks = self.r.get(raw, "checks", list, question=qid, required=True,
                              describe="an array of tables [[questions.checks]]")
        if not raw_checks:
            raise self.r.error("a question needs at least one check", question=qid, key="checks")
        checks = tuple(read_check(self.r, c, qid, defaults=self.defaults) for c in raw_checks)
        return Question(id=qid, title=title, points=points, checks=checks, text=text)

    def reference_free(self, q: Question) -> None:
        """Without ``[assignment] reference`` every expectation must be a literal."""
        for c in q.checks:
            needs = kind_of(c).needs(c)
            if not needs:
                continue
            need = needs[0]
            raise self.r.error(
                f"{c.answer}: a rubric without [assignment] reference cannot use {need.what}",
                question=q.id, key=need.free_key or need.key,
                allowed="literal value, inputs and outputs (as `grader release` writes them)")


def option_keys() -> tuple[str, ...]:
    """Every key a check table may have, common ones first, in the registry's order."""
    seen: dict[str, None] = dict.fromkeys(COMMON_KEYS)
    for kind in KINDS.values():
        seen.update(dict.fromkeys(kind.keys))
    return tuple(seen)


def read_check(reader: Reader, raw: Any, qid: str, *,
               defaults: Defaults | None = None) -> CheckSpec:
    """One check table: its common keys here, its options by its kind."""
    if not isinstance(raw, dict):
        raise reader.error("each check must be a table", question=qid, key="checks")
    answer = reader.get(raw, "answer", str, question=qid, required=True,
                        describe="the contract name of the answer")
    if not IDENT.match(answer):
        raise reader.error(f"{answer!r} is not a Python identifier", question=qid,
                           key="answer")
    name = reader.get(raw, "kind", str, question=qid, required=True,
                      describe=", ".join(KINDS))
    if name not in KINDS:
        raise reader.error(f"unknown check kind {name!r}", question=qid, key="kind",
                           allowed=", ".join(KINDS))
    kind = KINDS[name]
    reader.keys(raw, option_keys(), where="a check", question=qid)
    weight = reader.get(raw, "weight", float, question=qid, default=1.0)
    if not (math.isfinite(weight) and weight > 0):
        raise reader.error("weight must be a positive number", question=qid, key="weight")
    feedback, visibility, public = _showing(reader, raw, qid, kind, defaults or Defaults())
    for key in raw:
        if key not in COMMON_KEYS and key not in kind.keys:
            raise reader.error(f"not an option of a {name} check", question=qid, key=key,
                               allowed=", ".join(sorted(kind.keys)) or "none")
    options = kind.read_options(reader, raw, qid)
    return CheckSpec(answer=answer, kind=name, weight=weight, feedback=feedback,
                     visibility=visibility, public=public, options=options)


@dataclass(frozen=True, kw_only=True)
class Defaults:
    """The assignment's own defaults of ``feedback`` and ``public`` (None: the kind's)."""

    feedback: str | None = None
    public: str | None = None


def _showing(reader: Reader, raw: Mapping[str, Any], qid: str, kind: CheckKind,
             defaults: Defaults) -> tuple[str, str, str]:
    """A check's ``feedback``, Gradescope ``visibility`` and ``public``, validated."""
    old = [k for k in ("visible", "visibility") if k in raw]
    new = [k for k in ("feedback", "feedback_when", "public") if k in raw]
    if old and new:
        raise reader.error(f"{old[0]} is the old form of feedback and public: give one form",
                           question=qid, key=old[0], allowed="feedback, feedback_when, public")
    public = reader.get(raw, "public", str, question=qid, default=None)
    if old:
        visible = reader.get(raw, "visible", bool, question=qid, default=True)
        visibility = reader.get(raw, "visibility", str, question=qid,
                                default="visible" if visible else "hidden")
        if visibility not in VISIBILITIES or ("visible" in raw and visible != (
                visibility == "visible")):
            raise reader.error(f"visibility {visibility!r} is unknown or contradicts visible",
                               question=qid, key="visibility",
                               allowed=", ".join(VISIBILITIES))
        feedback, when, public = OLD_VISIBILITY[visibility]
        replacement = f'feedback = "{feedback}"' + (
            f', feedback_when = "{_WHEN_OF[when]}"' if when in _WHEN_OF else "") + (
            f', public = "{public}"' if public else "")
        warnings.warn(RubricWarning(
            f"{reader.path}: question {qid!r}, key {old[0]!r} is deprecated; write "
            f"{replacement} instead"), stacklevel=2)
        visibility = when
    else:
        feedback = reader.get(raw, "feedback", str, question=qid,
                              default=defaults.feedback or "full")
        if feedback not in FEEDBACK:
            raise reader.error(f"unknown feedback {feedback!r}", question=qid, key="feedback",
                               allowed=", ".join(FEEDBACK))
        when = reader.get(raw, "feedback_when", str, question=qid, default="graded")
        if when not in FEEDBACK_WHEN:
            raise reader.error(f"unknown feedback_when {when!r}", question=qid,
                               key="feedback_when", allowed=", ".join(FEEDBACK_WHEN))
        visibility = "hidden" if feedback == "none" else FEEDBACK_WHEN[when]
    if public is None:
        public = (defaults.public if defaults.public in kind.public_modes
                  else kind.public_modes[0])
    if public not in kind.public_modes:
        raise reader.error(f"a {kind.name} check cannot be public = {public!r}", question=qid,
                           key="public", allowed=", ".join(kind.public_modes))
    return feedback, visibility, public


_WHEN_OF = {v: k for k, v in FEEDBACK_WHEN.items() if k != "graded"}


def check_reference_names(rubric: Rubric) -> None:
    """Resolve every reference name the rubric uses, so a typo fails at load time.

    :func:`load_rubric` does it unless told not to; a command that starts a kernel from
    the rubric's tables first (a lone submission) does it once the kernel is starting.
    """
    if rubric.reference_path is None:  # the loader made sure nothing needs one
        return
    module = rubric.load_reference()
    path = str(rubric.path)
    for q in rubric.questions:
        for c in q.checks:
            for need in kind_of(c).needs(c):
                if not hasattr(module, need.name):
                    raise RubricError(
                        f"the reference module {rubric.reference_path.name} has no "
                        f"{need.name!r}", path=path, question=q.id, key=need.key,
                        allowed="a name defined at top level of the reference module")
                if need.callable and not callable(getattr(module, need.name)):
                    raise RubricError(f"reference {need.name!r} must be a function",
                                      path=path, question=q.id, key=need.key)
