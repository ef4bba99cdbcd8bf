"""Release an assignment to its students: a public rubric, a handout and a CI workflow.

``grader release rubrics/hw2.toml --out dist/hw2/`` writes a bundle that a student's
repository starts from. It holds nothing a student may not see:

- ``rubric.toml``, the public rubric: only the checks whose visibility is ``visible``,
  every expectation frozen as a literal (numeric ``value``; symbolic ``value`` as
  ``sympy.sstr`` text; function checks' inputs with their ``outputs``; mistakes likewise)
  and no ``reference``, so it grades without the reference module;
- the handout notebook (``hw2.ipynb``): the question texts, and one cell per contract
  answer, a code stub or a markdown cell tagged with the answer's name;
- ``pyproject.toml``, which points the grader's pytest plugin at the two, so that a plain
  ``pytest`` checks the notebook;
- ``.github/workflows/grade.yml``, which installs the grader and runs ``pytest``;
- ``README.md`` for the student.

Property checks stay out of the public rubric: their check function is code of the
reference module, which often computes the answer itself (HW2's q1_5 check evaluates the
very softmax-to-logistic relation the question asks for), and a bundle carries no
reference code. The bundle's README lists them, with the questions that have hidden
checks, as graded by the course staff only.

Before anything is written the public rubric is checked against the reference: the
reference's own answers, sent through the kernel wire format, must earn full marks on
every frozen check, so a literal that lost precision or a type on the way fails here and
not in a student's CI.
"""

from __future__ import annotations

import inspect
import json
import math
import re
import tempfile
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import Any

from grader.atomic import atomic_write
from grader.calls import Call
from grader.errors import GraderError
from grader.rubric import CheckSpec, Question, Rubric, load_rubric, resolve_inputs

RUBRIC_NAME = "rubric.toml"
WORKFLOW = Path(".github") / "workflows" / "grade.yml"
# Where the students' CI installs the grader from: a placeholder for the TA to edit (or to
# set with --install); the README says so.
DEFAULT_INSTALL = "grader @ git+https://github.com/YOUR-ORG/grader.git"
_TAG_KEYS = ({"tuple"}, {"complex"}, {"none"}, {"dict"})
_BARE_KEY = re.compile(r"^[A-Za-z0-9_-]+$")


class ReleaseError(GraderError):
    """The rubric cannot be released as it is; the message says which check and why."""


@dataclass(frozen=True, kw_only=True)
class Withheld:
    """A check that is not in the public rubric, and why."""

    question: str
    answer: str
    reason: str  # "hidden" (visibility other than visible) or "property"


@dataclass(frozen=True, kw_only=True)
class Bundle:
    """What a release wrote."""

    out: Path
    files: tuple[Path, ...]
    public_questions: tuple[str, ...]
    withheld: tuple[Withheld, ...] = ()
    install: str = DEFAULT_INSTALL


@dataclass(kw_only=True)
class _Frozen:
    """One public check: its TOML keys, mistakes, and the full rubric's check it came from."""

    source: CheckSpec
    keys: dict[str, Any]
    mistakes: list[dict[str, Any]] = field(default_factory=list)


# --------------------------------------------------------------------------- public API


def release(rubric_path: str | Path, out: str | Path, *, install: str | None = None,
            force: bool = False) -> Bundle:
    """Write the student bundle of ``rubric_path`` into the folder ``out``."""
    rubric_path, out = Path(rubric_path), Path(out)
    install = install or DEFAULT_INSTALL
    if any(ch in install for ch in "\"'\n\r\\`$"):
        raise ReleaseError(f"--install {install!r}: a pip requirement without quotes, "
                           "backslashes, $ or line breaks")
    rubric = load_rubric(rubric_path)
    if rubric.reference_path is None:
        raise ReleaseError(f"{rubric_path}: a release starts from the full rubric, with its "
                           "reference (this one has none)")
    if out.exists() and any(out.iterdir()) and not force:
        raise ReleaseError(f"{out} is not empty: choose a new folder, or pass --force to "
                           "write the bundle's files into it")
    reference = rubric.load_reference()
    public, frozen, withheld = _public_questions(rubric, reference)
    if not public:
        raise ReleaseError(f"{rubric_path}: no question has a visible check to release")
    text = public_rubric_text(rubric, public, frozen)
    with tempfile.TemporaryDirectory(prefix="grader-release-") as tmp:
        draft = Path(tmp) / RUBRIC_NAME
        draft.write_text(text, "utf-8")
        _verify(load_rubric(draft), frozen, reference)
    notebook = _notebook_name(rubric)
    written = [_write(out / RUBRIC_NAME, text)]
    written.append(_write(out / notebook, handout_json(rubric, reference)))
    context = {"title": rubric.title, "id": rubric.id, "notebook": notebook,
               "rubric": RUBRIC_NAME, "install": install,
               "examples": [c.answer for q in rubric.questions for c in q.checks
                            if c.kind != "manual"][:2],
               "coverage": _coverage(rubric, public, withheld)}
    written.append(_write(out / "pyproject.toml", _render("pyproject.toml.j2", context)))
    written.append(_write(out / "README.md", _render("README.md.j2", context)))
    written.append(_write(out / WORKFLOW, _render("grade.yml.j2", context)))
    return Bundle(out=out, files=tuple(written), public_questions=tuple(q.id for q in public),
                  withheld=tuple(withheld), install=install)


def encode_literal(value: Any, where: str) -> Any:
    """TOML data for ``value`` that :func:`grader.rubric.literal_value` reads back as it is.

    Numpy arrays keep dtype and shape, tuples stay tuples; anything TOML cannot hold
    exactly (a dict with non-text keys, an object) is a :class:`ReleaseError`.
    """
    import numpy as np

    if value is None:
        return {"none": True}
    if isinstance(value, bool | np.bool_):
        return bool(value)
    if isinstance(value, int | np.integer):
        return int(value)
    if isinstance(value, float | np.floating):
        return float(value)
    if isinstance(value, complex | np.complexfloating):
        return {"complex": [float(value.real), float(value.imag)]}
    if isinstance(value, str):
        return value
    if isinstance(value, np.ndarray):
        if value.dtype.kind not in "biuf" or value.dtype.fields is not None:
            raise ReleaseError(f"{where}: an array of dtype {value.dtype} has no rubric form")
        data = value.tolist() if value.ndim else [value.item()]
        encoded: dict[str, Any] = {"array": data, "dtype": value.dtype.name}
        if value.size == 0 or value.ndim == 0:
            encoded["shape"] = list(value.shape)
        return encoded
    if isinstance(value, tuple):
        return {"tuple": [encode_literal(v, where) for v in value]}
    if isinstance(value, list):
        return [encode_literal(v, where) for v in value]
    if isinstance(value, Mapping):
        if not all(isinstance(k, str) for k in value):
            raise ReleaseError(f"{where}: a dict with keys other than text has no rubric form")
        table = {k: encode_literal(v, where) for k, v in value.items()}
        keys = set(table)
        if keys in _TAG_KEYS or ("array" in keys and keys <= {"array", "dtype", "shape"}):
            return {"dict": table}  # would otherwise read back as a tag
        return table
    raise ReleaseError(f"{where}: a value of type {type(value).__name__} has no rubric form")


def encode_symbolic(value: Any, where: str) -> Any:
    """Rubric text for a sympy value: ``sympy.sstr``, which the grader's parser reads back."""
    import sympy as sp

    if isinstance(value, sp.Rel):  # the parser reads `a == b` (an Eq) and the inequalities
        return f"{sp.sstr(value.lhs)} {value.rel_op} {sp.sstr(value.rhs)}"
    if isinstance(value, sp.Basic):
        return sp.sstr(value)
    if isinstance(value, Mapping):
        if not all(isinstance(k, str) for k in value):
            raise ReleaseError(f"{where}: a dict with keys other than text has no rubric form")
        return {k: encode_symbolic(v, where) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [encode_symbolic(v, where) for v in value]
    if isinstance(value, str | int | float) and not isinstance(value, bool):
        return value
    raise ReleaseError(f"{where}: a value of type {type(value).__name__} has no symbolic form")


def toml_value(value: Any) -> str:
    """One TOML value (inline: arrays and tables on one line)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if math.isnan(value):
            return "nan"
        if math.isinf(value):
            return "inf" if value > 0 else "-inf"
        return repr(value)
    if isinstance(value, str):
        # JSON string escapes are TOML basic-string escapes; TOML also wants DEL escaped.
        return json.dumps(value, ensure_ascii=False).replace("\x7f", "\\u007f")
    if isinstance(value, list):
        return "[" + ", ".join(toml_value(v) for v in value) + "]"
    if isinstance(value, dict):
        if not value:
            return "{}"
        return "{ " + ", ".join(f"{_toml_key(k)} = {toml_value(v)}"
                                for k, v in value.items()) + " }"
    raise TypeError(f"no TOML form for {type(value).__name__}")


def public_rubric_text(rubric: Rubric, public: list[Question],
                       frozen: dict[str, list[_Frozen]]) -> str:
    """The public rubric as TOML text."""
    lines = [
        f"# Public rubric of {rubric.id}, written by `grader release` from {rubric.path.name}.",
        "# It holds the checks visible to students, their expected values frozen as literals;",
        "# hidden checks and property checks are graded by the course staff only. Do not edit:",
        "# the final grading uses the full rubric, not this file.",
        "",
        "[assignment]",
        f"id = {toml_value(rubric.id)}",
        f"title = {toml_value(rubric.title)}",
    ]
    if rubric.submission_names:
        lines.append(f"submission_names = {toml_value(list(rubric.submission_names))}")
    execution = _raw_execution(rubric.path)
    if execution:
        lines += ["", "[execution]"]
        lines += [f"{_toml_key(k)} = {toml_value(v)}" for k, v in execution.items()]
    for q in public:
        lines += ["", "[[questions]]", f"id = {toml_value(q.id)}",
                  f"title = {toml_value(q.title)}", f"points = {toml_value(q.points)}"]
        for check in frozen[q.id]:
            lines += ["", "[[questions.checks]]"]
            lines += [_toml_entry(k, v) for k, v in check.keys.items()]
            for mistake in check.mistakes:
                lines += ["", "[[questions.checks.mistakes]]"]
                lines += [_toml_entry(k, v) for k, v in mistake.items()]
    return "\n".join(lines) + "\n"


def handout_json(rubric: Rubric, reference: ModuleType) -> str:
    """The handout notebook: the question texts, and a cell for each contract answer."""
    import nbformat

    v4 = nbformat.v4
    cells = [
        v4.new_markdown_cell(
            f"# {rubric.title}\n\n"
            "Answer each question in the cells below it and keep the names they define: "
            "the grader finds your answers by these names. Code answers are Python "
            "(numbers, numpy arrays, functions, sympy expressions); a text answer goes in "
            "the markdown cell tagged with its name (show the tags with View > Cell "
            "Toolbar > Tags, or in JupyterLab's property inspector).\n\n"
            "Run `pytest` in this folder to check your answers against the visible checks "
            "(see README.md)."),
        v4.new_code_cell("import numpy as np\nimport sympy as sp"),
    ]
    seen: set[str] = set()
    for q in rubric.questions:
        answers = [c for c in q.checks if c.answer not in seen]
        seen.update(c.answer for c in answers)
        heading = f"## {q.title}\n\n*{q.id}, {q.points:g} points*"
        if q.text:
            heading += f"\n\n{q.text.strip()}"
        texts = [c.answer for c in answers if c.kind == "manual"]
        if texts:
            # Left empty, so that an unanswered text reads as missing, not as an answer.
            heading += "\n\n" + " ".join(
                f"*Write `{name}` in the empty markdown cell tagged `{name}` below.*"
                for name in texts)
        cells.append(v4.new_markdown_cell(heading))
        cells += [_answer_cell(c, reference) for c in answers]
    nb = v4.new_notebook(cells=cells)
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3",
                                 "language": "python"}
    nb.metadata["language_info"] = {"name": "python"}
    nbformat.validate(nb)
    return nbformat.writes(nb) + "\n"


# --------------------------------------------------------------------------- freezing


def _public_questions(rubric: Rubric, reference: ModuleType
                      ) -> tuple[list[Question], dict[str, list[_Frozen]], list[Withheld]]:
    public: list[Question] = []
    frozen: dict[str, list[_Frozen]] = {}
    withheld: list[Withheld] = []
    raw_checks = _raw_checks(rubric.path)
    for q in rubric.questions:
        kept: list[tuple[CheckSpec, dict[str, Any]]] = []
        for c, raw in zip(q.checks, raw_checks[q.id], strict=True):
            if c.visibility != "visible":
                withheld.append(Withheld(question=q.id, answer=c.answer, reason="hidden"))
            elif c.kind == "property":
                withheld.append(Withheld(question=q.id, answer=c.answer, reason="property"))
            else:
                kept.append((c, raw))
        if not kept:
            continue
        total = sum(c.weight for c in q.checks)
        # Points follow the kept checks' weights, so each check is worth what it is worth in
        # the full rubric.
        points = round(q.points * sum(c.weight for c, _ in kept) / total, 6) if total else 0.0
        public.append(Question(id=q.id, title=q.title, points=points,
                               checks=tuple(c for c, _ in kept)))
        frozen[q.id] = [_freeze(c, raw, reference, f"{q.id} {c.answer}") for c, raw in kept]
    return public, frozen, withheld


# The keys of a check that the release replaces by literals (or drops); every other key
# (tolerances, the number rule, symbolic options, time limits...) is copied as written.
_FROZEN_KEYS = ("expected", "value", "inputs", "inputs_from", "random", "array_args",
                "outputs", "mistakes", "visible", "visibility")


def _freeze(c: CheckSpec, raw: dict[str, Any], reference: ModuleType, where: str) -> _Frozen:
    keys: dict[str, Any] = {k: v for k, v in raw.items() if k not in _FROZEN_KEYS}
    frozen = _Frozen(source=c, keys=keys)
    if c.kind == "manual":
        return frozen
    if c.kind in ("numeric", "symbolic"):
        value = c.value if c.value is not None else getattr(reference, c.reference_name)
        keys["value"] = _encode_for(c.kind, value, f"{where} value")
    calls: tuple[Call, ...] = ()
    if c.kind == "function":
        calls = resolve_inputs(c, reference)
        inputs, array_args = _freeze_inputs(calls, where)
        keys["inputs"] = inputs
        if array_args:
            keys["array_args"] = array_args
        func = getattr(reference, c.reference_name)
        keys["outputs"] = [encode_literal(v, f"{where} output")
                           for v in _outputs(func, calls, f"{where}: the reference")]
    for m in c.mistakes:
        entry: dict[str, Any] = {"id": m.id, "feedback": m.feedback}
        if m.credit:
            entry["credit"] = m.credit
        if c.kind == "function":
            try:
                wrong = _outputs(getattr(reference, m.reference or ""), calls, "")
            except ReleaseError:
                continue  # the grader never matches a mistake that raises: leave it out
            entry["outputs"] = [encode_literal(v, f"{where} mistake {m.id}") for v in wrong]
        else:
            value = m.value if m.reference is None else getattr(reference, m.reference)
            entry["value"] = _encode_for(c.kind, value, f"{where} mistake {m.id}")
        frozen.mistakes.append(entry)
    return frozen


def _raw_checks(path: Path) -> dict[str, list[dict[str, Any]]]:
    """Each question's check tables as written in the rubric (the loader has vetted them)."""
    data = tomllib.loads(path.read_text("utf-8"))
    return {q["id"]: list(q["checks"]) for q in data["questions"]}


def _encode_for(kind: str, value: Any, where: str) -> Any:
    if kind == "symbolic":
        return encode_symbolic(value, where)
    if value is None:  # `value` absent and None read the same in a rubric
        raise ReleaseError(f"{where}: an expected value of None has no rubric form")
    return encode_literal(value, where)


def _outputs(func: Any, calls: tuple[Call, ...], where: str) -> list[Any]:
    from grader.calls import reference_outputs

    try:
        return reference_outputs(func, calls)
    except Exception as exc:  # trusted code, but a broken generator must name itself
        raise ReleaseError(f"{where} raised {type(exc).__name__}: {exc}") from exc


def _freeze_inputs(calls: tuple[Call, ...], where: str) -> tuple[list[Any], list[int | str]]:
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


def _verify(public: Rubric, frozen: dict[str, list[_Frozen]], reference: ModuleType) -> None:
    """The reference's answers must earn full marks on every frozen check of ``public``."""
    from grader.answers import CallableAnswer, CallOutcome
    from grader.checks import Evidence, grader_for
    from grader.kernel.agent import encode
    from grader.kernel.codec import decode_answer

    def wire(value: Any) -> Any:  # what the kernel would send back for this value
        return decode_answer(encode(value))

    empty = public.load_reference()
    for q in public.questions:
        for check, origin in zip(q.checks, frozen[q.id], strict=True):
            if check.kind == "manual":
                continue
            source = origin.source
            if check.kind == "symbolic" and source.value is not None:
                continue  # rubric text copied as it is: nothing was computed
            if check.kind == "function":
                func = getattr(reference, source.reference_name)
                outputs = _outputs(func, check.inputs, f"{q.id} {check.answer}")
                evidence = Evidence(received=CallableAnswer(name=check.answer), reference=empty,
                                    calls=check.inputs,
                                    outcomes=tuple(CallOutcome(value=wire(o)) for o in outputs))
            else:
                truth = (source.value if source.value is not None
                         else getattr(reference, source.reference_name))
                evidence = Evidence(received=wire(truth), reference=empty)
            result = grader_for(check.kind)(check, evidence, 1.0)
            if result.status != "passed":
                raise ReleaseError(
                    f"{q.id} {check.answer}: the frozen check does not give the reference full "
                    f"marks ({result.status}: {result.message}); the value does not survive "
                    "the rubric's literal form")


# --------------------------------------------------------------------------- handout


def _answer_cell(c: CheckSpec, reference: ModuleType) -> Any:
    import nbformat

    v4 = nbformat.v4
    if c.kind == "manual":
        cell = v4.new_markdown_cell("")
        cell.metadata["tags"] = [c.answer]
        return cell
    if c.kind == "function" or (c.kind == "property" and (c.inputs or c.inputs_from)):
        func = getattr(reference, c.reference_name if c.kind == "function" else c.answer, None)
        return v4.new_code_cell(f"def {c.answer}{_signature(func)}:\n"
                                "    # your code here\n"
                                "    raise NotImplementedError")
    if c.kind == "symbolic":
        names = ", ".join(c.symbols)
        return v4.new_code_cell(
            f"{names} = sp.symbols({' '.join(c.symbols)!r})\n"
            f"{c.answer} = None  # your answer: sympy expression(s) in {names}")
    return v4.new_code_cell(f"{c.answer} = None  # your answer")


def _signature(func: Any) -> str:
    """The parameters of a reference function, without annotations (the contract's names)."""
    try:
        sig = inspect.signature(func)
    except (TypeError, ValueError):
        return "(*args, **kwargs)"
    params = [p.replace(annotation=inspect.Parameter.empty) for p in sig.parameters.values()]
    return str(sig.replace(parameters=params, return_annotation=inspect.Signature.empty))


# --------------------------------------------------------------------------- files


def _notebook_name(rubric: Rubric) -> str:
    for name in rubric.submission_names:
        if name.endswith(".ipynb") and "/" not in name:
            return name
    return f"{rubric.id}.ipynb"


def _coverage(rubric: Rubric, public: list[Question],
              withheld: list[Withheld]) -> list[dict[str, str]]:
    """Per question: checked here, in part, or only by the course staff."""
    released = {q.id for q in public}
    held = {w.question for w in withheld}
    rows = []
    for q in rubric.questions:
        manual_only = all(c.kind == "manual" for c in q.checks)
        if q.id not in released:
            state = "final grading only"
        elif manual_only:
            state = "text answer, graded by a TA"
        elif q.id in held:
            state = "in part (more checks in the final grading)"
        else:
            state = "yes" + (" (text answers graded by a TA)" if any(
                c.kind == "manual" for c in q.checks) else "")
        rows.append({"id": q.id, "title": q.title, "points": f"{q.points:g}", "state": state})
    return rows


def _raw_execution(path: Path) -> dict[str, Any]:
    """The full rubric's [execution] table, less the TA machine's sandbox requirement.

    Students run their own code on their own machines and CI, where bwrap may be missing:
    the public rubric keeps the default (isolate when possible).
    """
    data = tomllib.loads(path.read_text("utf-8"))
    execution = data.get("execution", {})
    if not isinstance(execution, dict):
        return {}
    return {k: v for k, v in execution.items() if k != "sandbox"}


def _render(template: str, context: dict[str, Any]) -> str:
    import jinja2

    env = jinja2.Environment(
        loader=jinja2.PackageLoader("grader", "templates/release"),
        autoescape=False,  # Markdown, TOML and YAML, not HTML
        keep_trailing_newline=True, undefined=jinja2.StrictUndefined)
    env.filters["toml"] = toml_value
    return env.get_template(template).render(**context)


def _write(path: Path, text: str) -> Path:
    atomic_write(path, text)
    path.chmod(0o644)  # files of a repository to share, not private reports
    return path


def _toml_key(key: str) -> str:
    return key if _BARE_KEY.match(key) else toml_value(key)


def _toml_entry(key: str, value: Any) -> str:
    """``key = value``; long arrays (inputs, outputs) one element per line."""
    if isinstance(value, list) and value and key in ("inputs", "outputs"):
        return f"{key} = [\n" + "".join(f"  {toml_value(v)},\n" for v in value) + "]"
    return f"{_toml_key(key)} = {toml_value(value)}"
