"""Release an assignment to its students: a public rubric, a handout and a CI workflow.

``grader release rubrics/hw2.toml --out dist/hw2/`` writes a bundle that a student's
repository starts from. It holds nothing that gives an answer away:

- ``rubric.toml``, the public rubric: for each check, what its ``public`` setting allows
  (see :mod:`grader.checks.public`): the form of the answer (``format`` checks), a salted
  hash of an exact answer or of a function's outputs on public inputs (``digest``
  checks), or a public property check; never an expected value, a hidden input, an
  output or a mistake (their values and feedback stay in the full rubric);
- ``public_checks.py``, when a property check is public: the source of its check
  function, which the public rubric names as its reference;
- the handout notebook (``hw2.ipynb``): the question texts, and one cell per contract
  answer, a code stub or a markdown cell tagged with the answer's name;
- ``pyproject.toml``, which points the grader's pytest plugin at the two, so that a plain
  ``pytest`` checks the notebook;
- ``.github/workflows/grade.yml``, which installs the grader and runs ``pytest``;
- ``README.md`` for the student, with what the local checks can and cannot tell.

Before anything is written the public rubric is checked against the reference: the
reference's own answers, sent through the kernel wire format, must pass every public
check, so a form or a hash that would fail a right answer fails here and not in a
student's CI.
"""

from __future__ import annotations

import inspect
import json
import math
import re
import tempfile
import tomllib
from dataclasses import dataclass, replace
from pathlib import Path
from types import ModuleType
from typing import Any

from grader.atomic import atomic_write
from grader.checks.protocol import CheckSpec, Frozen
from grader.checks.registry import kind_of
from grader.errors import ReleaseError
from grader.rubric import Question, Rubric, load_rubric

RUBRIC_NAME = "rubric.toml"
PUBLIC_CHECKS = "public_checks.py"
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
    reason: str  # its public setting: "none" (graded at the final grading only)


@dataclass(frozen=True, kw_only=True)
class Bundle:
    """What a release wrote."""

    out: Path
    files: tuple[Path, ...]
    public_questions: tuple[str, ...]
    withheld: tuple[Withheld, ...] = ()
    install: str = DEFAULT_INSTALL
    # (question, answer, kind, public, what the bundle checks) for every check.
    checks: tuple[tuple[str, str, str, str, str], ...] = ()


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
        raise ReleaseError(f"{rubric_path}: no question has a public check to release")
    sources = _sources(rubric, reference, frozen)
    text = public_rubric_text(rubric, public, frozen, reference=bool(sources))
    with tempfile.TemporaryDirectory(prefix="grader-release-") as tmp:
        draft = Path(tmp) / RUBRIC_NAME
        draft.write_text(text, "utf-8")
        if sources:
            (Path(tmp) / PUBLIC_CHECKS).write_text(sources, "utf-8")
        _verify(load_rubric(draft), frozen, reference)
    notebook = _notebook_name(rubric)
    written = [_write(out / RUBRIC_NAME, text)]
    if sources:
        written.append(_write(out / PUBLIC_CHECKS, sources))
    written.append(_write(out / notebook, handout_json(rubric, reference)))
    context = {"title": rubric.title, "id": rubric.id, "notebook": notebook,
               "rubric": RUBRIC_NAME, "install": install,
               "examples": [c.answer for q in rubric.questions for c in q.checks
                            if kind_of(c).auto][:2],
               "coverage": _coverage(rubric, public, frozen)}
    written.append(_write(out / "pyproject.toml", _render("pyproject.toml.j2", context)))
    written.append(_write(out / "README.md", _render("README.md.j2", context)))
    written.append(_write(out / WORKFLOW, _render("grade.yml.j2", context)))
    return Bundle(out=out, files=tuple(written), public_questions=tuple(q.id for q in public),
                  withheld=tuple(withheld), install=install, checks=_table(rubric, frozen))


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
                       frozen: dict[str, list[_Frozen]], *, reference: bool = False) -> str:
    """The public rubric as TOML text."""
    lines = [
        f"# Public rubric of {rubric.id}, written by `grader release` from {rubric.path.name}.",
        "# It checks the form of your answers (and, where the course chose so, compares them",
        "# through salted hashes); it holds no expected value. Do not edit: the final grading",
        "# uses the full rubric, with more checks, not this file.",
        "",
        "[assignment]",
        f"id = {toml_value(rubric.id)}",
        f"title = {toml_value(rubric.title)}",
    ]
    if reference:
        lines.append(f"reference = {toml_value(PUBLIC_CHECKS)}")
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
        kept: list[_Frozen] = []
        for c, raw in zip(q.checks, raw_checks[q.id], strict=True):
            table = kind_of(c).publish(c, raw, reference, f"{q.id} {c.answer}")
            if table is None:
                withheld.append(Withheld(question=q.id, answer=c.answer, reason=c.public))
            else:
                kept.append(_Frozen(source=c, table=table))
        if not kept:
            continue
        total = sum(c.weight for c in q.checks)
        # Points follow the kept checks' weights, so each check is worth what it is worth in
        # the full rubric.
        points = round(q.points * sum(f.source.weight for f in kept) / total, 6) if total \
            else 0.0
        public.append(Question(id=q.id, title=q.title, points=points,
                               checks=tuple(f.source for f in kept)))
        frozen[q.id] = kept
    return public, frozen, withheld


def _sources(rubric: Rubric, reference: ModuleType, frozen: dict[str, list[_Frozen]]) -> str:
    """``public_checks.py``: the source of each public property check's function."""
    names = [n for checks in frozen.values() for f in checks for n in f.table.sources]
    if not names:
        return ""
    parts = [f'"""Public check functions of {rubric.id}, copied by `grader release` from its '
             'reference."""', "", "import math", "", "import numpy as np",
             "import sympy as sp", ""]
    for name in dict.fromkeys(names):
        try:
            parts += ["", inspect.getsource(getattr(reference, name)).rstrip(), ""]
        except (OSError, TypeError) as exc:
            raise ReleaseError(f"the public check function {name!r} has no source to copy: "
                               f"{exc}") from exc
    return "\n".join(parts) + "\n"


def _table(rubric: Rubric, frozen: dict[str, list[_Frozen]]
           ) -> tuple[tuple[str, str, str, str, str], ...]:
    """Every check of the rubric with its public setting and what the bundle checks."""
    published = {(qid, f.source.answer): f for qid, checks in frozen.items() for f in checks}
    rows = []
    for q in rubric.questions:
        for c in q.checks:
            f = published.get((q.id, c.answer))
            what = "final grading only" if f is None else str(f.table.keys.get("kind"))
            rows.append((q.id, c.answer, c.kind, c.public, what))
    return tuple(rows)


def _raw_checks(path: Path) -> dict[str, list[dict[str, Any]]]:
    """Each question's check tables as written in the rubric (the loader has vetted them)."""
    data = tomllib.loads(path.read_text("utf-8"))
    return {q["id"]: list(q["checks"]) for q in data["questions"]}


def _verify(public: Rubric, frozen: dict[str, list[_Frozen]], reference: ModuleType) -> None:
    """The reference's answers must pass every check of ``public``."""
    from grader.kernel.agent import encode
    from grader.kernel.codec import decode_answer

    def wire(value: Any) -> Any:  # what the kernel would send back for this value
        return decode_answer(encode(value))

    checks_module = public.load_reference()
    for q in public.questions:
        for check, origin in zip(q.checks, frozen[q.id], strict=True):
            kind = kind_of(check)
            plan = kind.plan(check, checks_module)
            evidence = kind_of(origin.source).reference_evidence(
                origin.source, reference, wire, plan.calls if plan else ())
            if evidence is None:
                continue
            result = kind.grade(check, replace(evidence, reference=checks_module), 1.0)
            if result.status != "passed":
                raise ReleaseError(
                    f"{q.id} {check.answer}: the public check does not pass the reference's "
                    f"own answer ({result.status}: {result.message}); it would fail a right "
                    "answer in a student's CI")


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


def _coverage(rubric: Rubric, public: list[Question], frozen: dict[str, list[_Frozen]]
              ) -> list[dict[str, str]]:
    """Per question: what the bundle checks of it (each published kind's summary)."""
    rows = []
    for q in rubric.questions:
        said = dict.fromkeys(kind_of(str(f.table.keys["kind"])).summary
                             for f in frozen.get(q.id, ()))
        state = "; ".join(said) if said else "final grading only"
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
    if isinstance(value, list) and value and key in ("inputs", "outputs", "digests"):
        return f"{key} = [\n" + "".join(f"  {toml_value(v)},\n" for v in value) + "]"
    return f"{_toml_key(key)} = {toml_value(value)}"
