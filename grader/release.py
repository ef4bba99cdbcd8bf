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

import json
import math
import re
import tempfile
import tomllib
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any

from grader.atomic import atomic_write
from grader.checks.protocol import CheckSpec, Frozen
from grader.checks.registry import kind_of
from grader.errors import ReleaseError
from grader.rubric import Question, Rubric, load_rubric

RUBRIC_NAME = "rubric.toml"
WORKFLOW = Path(".github") / "workflows" / "grade.yml"
# Where the students' CI installs the grader from: a placeholder for the TA to edit (or to
# set with --install); the README says so.
DEFAULT_INSTALL = "grader @ git+https://github.com/YOUR-ORG/grader.git"
_BARE_KEY = re.compile(r"^[A-Za-z0-9_-]+$")


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
    """One public check as the kind froze it, and the full rubric's check it came from."""

    source: CheckSpec
    table: Frozen


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
                            if kind_of(c).auto][:2],
               "coverage": _coverage(rubric, public, withheld)}
    written.append(_write(out / "pyproject.toml", _render("pyproject.toml.j2", context)))
    written.append(_write(out / "README.md", _render("README.md.j2", context)))
    written.append(_write(out / WORKFLOW, _render("grade.yml.j2", context)))
    return Bundle(out=out, files=tuple(written), public_questions=tuple(q.id for q in public),
                  withheld=tuple(withheld), install=install)


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
            lines += [_toml_entry(k, v) for k, v in check.table.keys.items()]
            for mistake in check.table.mistakes:
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
        texts = [c.answer for c in answers if not kind_of(c).auto]
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
            elif not kind_of(c).releasable:
                withheld.append(Withheld(question=q.id, answer=c.answer, reason=c.kind))
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
        frozen[q.id] = [_Frozen(source=c, table=kind_of(c).freeze(c, raw, reference,
                                                                  f"{q.id} {c.answer}"))
                        for c, raw in kept]
    return public, frozen, withheld


def _raw_checks(path: Path) -> dict[str, list[dict[str, Any]]]:
    """Each question's check tables as written in the rubric (the loader has vetted them)."""
    data = tomllib.loads(path.read_text("utf-8"))
    return {q["id"]: list(q["checks"]) for q in data["questions"]}


def _verify(public: Rubric, frozen: dict[str, list[_Frozen]], reference: ModuleType) -> None:
    """The reference's answers must earn full marks on every frozen check of ``public``."""
    from grader.kernel.agent import encode
    from grader.kernel.codec import decode_answer

    def wire(value: Any) -> Any:  # what the kernel would send back for this value
        return decode_answer(encode(value))

    empty = public.load_reference()
    for q in public.questions:
        for check, origin in zip(q.checks, frozen[q.id], strict=True):
            kind = kind_of(check)
            evidence = kind.release_evidence(check, origin.source, reference, wire, empty)
            if evidence is None:
                continue
            result = kind.grade(check, evidence, 1.0)
            if result.status != "passed":
                raise ReleaseError(
                    f"{q.id} {check.answer}: the frozen check does not give the reference full "
                    f"marks ({result.status}: {result.message}); the value does not survive "
                    "the rubric's literal form")


# --------------------------------------------------------------------------- handout


def _answer_cell(c: CheckSpec, reference: ModuleType) -> Any:
    import nbformat

    stub = kind_of(c).stub(c, reference)
    if stub.markdown:
        cell = nbformat.v4.new_markdown_cell(stub.source)
        cell.metadata["tags"] = [c.answer]
        return cell
    return nbformat.v4.new_code_cell(stub.source)


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
        manual_only = not any(kind_of(c).auto for c in q.checks)
        if q.id not in released:
            state = "final grading only"
        elif manual_only:
            state = "text answer, graded by a TA"
        elif q.id in held:
            state = "in part (more checks in the final grading)"
        else:
            state = "yes" + (" (text answers graded by a TA)" if not all(
                kind_of(c).auto for c in q.checks) else "")
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
