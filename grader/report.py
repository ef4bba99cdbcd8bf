"""Render results: one HTML page and one JSON file per student.

Results are plain data; everything about presentation lives here and in the templates.
The page's own words come from a message catalogue (``grader/locales/<lang>.json``), and a
TA can override any template by putting one of the same name in a folder of their own.
Files are written atomically (:func:`grader.atomic.atomic_write`), so a crash never leaves
a half-written report behind. The gradebook CSV is :func:`grader.export.grades_csv`.
"""

from __future__ import annotations

import base64
import binascii
import functools
import html.entities
import json
import math
import re
import xml.etree.ElementTree as ET
from collections.abc import Mapping
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from markupsafe import Markup, escape

from grader.atomic import atomic_write
from grader.errors import GraderError
from grader.messages import DEFAULT_LANG, load_catalogue, render
from grader.messages import languages as languages  # the CLI's --lang choices come from here
from grader.points import format_points
from grader.results import CheckResult, Figure, SubmissionResult
from grader.rubric import Rubric

STATUS_SYMBOLS = {
    "passed": "✓",
    "failed": "✗",
    "partial": "◐",
    "error": "!",
    "missing": "∅",
    "manual": "✎",
    "overridden": "✍",
}
PAGE_TEMPLATE = "student.html.j2"

# What the page shows at most: it must stay a small file a student can read.
MAX_ARRAY_ROWS = 12
MAX_ARRAY_COLS = 12
MAX_TRACEBACK_LINES = 40
MAX_SOURCE_LINES = 60
MAX_FIGURE_BYTES = 4_000_000
MAX_MATHML_CHARS = 200_000
MAX_MATHML_DEPTH = 64


# --------------------------------------------------------------------------- files

# Students' files live in their own folder of --out, so that no student id, whatever it
# is, can be the name of one of the grader's pages (index.html, answers-*.html, ...).
STUDENTS = "students"


def student_file(out: Path, student: str, suffix: str) -> Path:
    """Where a student's ``.json`` or ``.html`` is in the output folder ``out``."""
    return Path(out) / STUDENTS / f"{student}{suffix}"


def to_json(result: SubmissionResult) -> str:
    """The documented JSON form of one student's result."""
    return json.dumps(result.to_dict(), indent=2, ensure_ascii=False, allow_nan=False,
                      default=str)


def write_student(result: SubmissionResult, rubric: Rubric, out: Path, *,
                  lang: str = DEFAULT_LANG, templates: Path | str | None = None) -> None:
    """Write ``students/<student>.html`` and then ``students/<student>.json`` into ``out``.

    The JSON last: a batch stopped between the two leaves the JSON of the page before,
    and a later ``--resume`` sees that the page is not of the stored result (it compares
    the JSON's text) and writes both again.
    """
    atomic_write(student_file(out, result.student, ".html"),
                 render_html(result, rubric, lang=lang, templates=templates))
    atomic_write(student_file(out, result.student, ".json"), to_json(result))


# --------------------------------------------------------------------------- messages


@dataclass(frozen=True)
class Catalogue:
    """The page's own words in one language, with English for any key a catalogue lacks.

    Called as ``t(key, **values)`` in templates. The message is ours, but it is escaped
    all the same, and so is every value that is not already markup: a student's name can
    be passed in as plain text, a fragment the template built as ``Markup``.
    """

    lang: str
    dir: str
    messages: Mapping[str, Any]
    fallback: Mapping[str, Any]

    def __call__(self, key: str, /, count: int | None = None, **values: Any) -> Markup:
        """The message ``key`` with ``values`` filled in; ``count`` picks a plural form."""
        message = self.messages.get(key, self.fallback.get(key))
        if message is None:  # a template asked for a word no catalogue has: our bug
            raise KeyError(f"message {key!r} is in no catalogue")
        if isinstance(message, dict):
            message = message["one"] if count == 1 and "one" in message else message["other"]
        if count is not None:
            values.setdefault("n", count)
        return Markup(escape(message)).format(**values)

    def check_text(self, text: str, parts: tuple[dict[str, Any], ...]) -> str:
        """A check's message or hint in this language: its parts, else ``text`` as written.

        Text without parts (a rubric's feedback, a TA's comment) stays as written, and so
        does text whose parts no longer say it in English: a message changed after the
        check wrote it, or parts with a key this version's catalogues lack.
        """
        if not parts or self.lang == DEFAULT_LANG:
            return text
        try:
            if render(parts, self.fallback) != text:
                return text
            return render(parts, self.messages, self.fallback)
        except (KeyError, IndexError, ValueError, TypeError):
            return text


def catalogue(lang: str = DEFAULT_LANG) -> Catalogue:
    """The message catalogue of ``lang`` (``GraderError`` when none ships)."""
    messages = load_catalogue(lang)
    meta = messages.get("_meta", {})
    direction = meta.get("dir", "ltr")
    return Catalogue(lang=lang, dir="rtl" if direction == "rtl" else "ltr",
                     messages=messages, fallback=load_catalogue(DEFAULT_LANG))


# --------------------------------------------------------------------------- templates


def _make_environment(templates: str | None) -> Any:
    from jinja2 import ChoiceLoader, Environment, FileSystemLoader, PackageLoader, select_autoescape

    loaders: list[Any] = [PackageLoader("grader", "templates")]
    if templates is not None:
        # The TA's folder first: a template of the same name there replaces ours.
        loaders.insert(0, FileSystemLoader(templates))
    # Autoescape is off in jinja2 unless asked for, and select_autoescape only turns it on
    # for some file names: every student string is hostile HTML, so it is on for all.
    env = Environment(loader=ChoiceLoader(loaders),
                      autoescape=select_autoescape(default=True, default_for_string=True),
                      trim_blocks=True, lstrip_blocks=True, bytecode_cache=template_cache())
    env.globals.update(status_symbols=STATUS_SYMBOLS, array_diff=array_diff,
                       tidy_pair=tidy_pair, figure_view=figure_view,
                       is_graded_text=is_graded_text, max_rows=MAX_ARRAY_ROWS,
                       max_cols=MAX_ARRAY_COLS)
    env.filters["points"] = format_points
    env.filters["mathml"] = mathml
    env.filters["number"] = tidy_number
    env.filters["last_lines"] = last_lines
    env.filters["first_lines"] = first_lines
    env.filters["code_spans"] = code_spans
    return env


# One environment per template folder: it caches compiled templates across students.
_environment = functools.cache(_make_environment)


@functools.cache
def template_cache() -> Any:
    """Where compiled templates are kept from one run to the next; None where there is none.

    Compiling the page's templates takes a twentieth of a second, in every process that
    writes pages (each worker, each re-checker, a lone submission's command): jinja2 keeps
    the compiled code in ``$XDG_CACHE_HOME/grader`` (``~/.cache/grader``), keyed by each
    template's file and checked against its source, so an edited template compiles anew.
    Every environment that uses it is made with the same options (autoescape on, blocks
    trimmed). That code runs as the grader: a folder that is not the grader's own, or
    that others may write to, is not used; nor is a cache that cannot be written or read,
    which costs the compiling alone.
    """
    import os
    import stat

    import jinja2

    from grader.settings import cache_folder

    try:
        folder = cache_folder() / f"templates-jinja2-{jinja2.__version__}"
        folder.mkdir(mode=0o700, parents=True, exist_ok=True)
        found = folder.lstat()
    except (OSError, RuntimeError):  # RuntimeError: no home folder to be found
        return None
    if not stat.S_ISDIR(found.st_mode) or found.st_uid != os.getuid() \
            or found.st_mode & (stat.S_IWGRP | stat.S_IWOTH):
        return None

    class QuietCache(jinja2.FileSystemBytecodeCache):
        def load_bytecode(self, bucket: Any) -> None:
            try:
                super().load_bytecode(bucket)
            except Exception:  # unreadable or cut short: compile, as without a cache
                bucket.reset()

        def dump_bytecode(self, bucket: Any) -> None:
            try:
                super().dump_bytecode(bucket)
            except OSError:  # a full disk, a folder gone: the page is made all the same
                pass

    return QuietCache(str(folder))


def prepare(templates: Path | str | None = None) -> None:
    """Compile the feedback page's templates now, ahead of the first page.

    For a lone submission the command does this while the kernel starts, rather than
    after the checks, where the student waits on it.
    """
    _environment(None if templates is None else str(templates)).get_template(PAGE_TEMPLATE)


def check_templates(templates: Path | str | None) -> None:
    """Fail early, naming the file, when a TA's template folder is missing or has a typo."""
    if templates is None:
        return
    folder = Path(templates)
    if not folder.is_dir():
        raise GraderError(f"--templates {folder}: not a folder")
    from jinja2 import TemplateSyntaxError

    env = _make_environment(str(folder))  # uncached: the TA may have just edited a file
    for path in sorted(folder.rglob("*")):
        if path.is_file() and not path.name.startswith("."):
            name = path.relative_to(folder).as_posix()
            try:
                env.get_template(name)
            except TemplateSyntaxError as exc:
                raise GraderError(f"template {path}, line {exc.lineno}: {exc.message}") from None
            except UnicodeDecodeError:
                raise GraderError(f"template {path}: not UTF-8 text") from None


def render_html(result: SubmissionResult, rubric: Rubric, *, lang: str = DEFAULT_LANG,
                templates: Path | str | None = None) -> str:
    """One self-contained feedback page: inline CSS, no scripts, no network assets.

    ``lang`` picks the message catalogue (and the page's direction); ``templates`` is a
    folder whose templates replace the package's of the same name.
    """
    t = catalogue(lang)
    env = _environment(None if templates is None else str(templates))
    template = env.get_template(PAGE_TEMPLATE)
    by_question, loose = place_figures(result)
    result = in_language(result, t)
    return str(template.render(result=result, rubric=rubric, t=t, lang=t.lang, dir=t.dir,
                               pending_manual=result.pending_manual,
                               figures_by_question=by_question,
                               loose_figures=loose))


def in_language(result: SubmissionResult, t: Catalogue) -> SubmissionResult:
    """``result`` with its checks' messages and hints in ``t``'s language, for its page.

    The page's templates (ours or a TA's) read ``c.message`` and ``c.hint`` as before.
    """
    if t.lang == DEFAULT_LANG:
        return result
    questions = tuple(
        replace(q, checks=tuple(replace(c, message=t.check_text(c.message, c.message_parts),
                                        hint=t.check_text(c.hint, c.hint_parts))
                                for c in q.checks))
        for q in result.questions)
    return replace(result, questions=questions)


# --------------------------------------------------------------------------- numbers


# A decimal number with a point or an exponent; integers are shown as they are.
_FLOAT = re.compile(r"[-+]?(\d+\.\d*|\.\d+|\d+(?=[eE]))([eE][-+]?\d+)?")
_SIGNIFICANT = 6


def _short(value: float, digits: int) -> str:
    text = f"{value:.{digits}g}"
    # 1e+20 reads better as 1e20; a bare exponent sign is noise.
    return re.sub(r"e\+?(-?)0*(\d)", r"e\1\2", text)


def tidy_number(text: Any) -> Any:
    """Shorten a long decimal (``0.30000000000000004``) to 6 significant digits.

    Anything that is not one decimal number (integers, arrays, words) is left as it is.
    """
    if not isinstance(text, str) or not _FLOAT.fullmatch(text.strip()):
        return text
    value = float(text)
    return _short(value, _SIGNIFICANT) if math.isfinite(value) else text


def tidy_pair(expected: Any, received: Any) -> tuple[Any, Any]:
    """Shorten two decimals, but never so far that two different values read the same."""
    if not (isinstance(expected, str) and isinstance(received, str)
            and _FLOAT.fullmatch(expected.strip()) and _FLOAT.fullmatch(received.strip())):
        return tidy_number(expected), tidy_number(received)
    e, r = float(expected), float(received)
    if not (math.isfinite(e) and math.isfinite(r)):
        return expected, received
    for digits in range(_SIGNIFICANT, 17):
        se, sr = _short(e, digits), _short(r, digits)
        if e == r or se != sr:
            return se, sr
    # Only the last bit differs: the shortest text that reads back as each float.
    return _short_repr(e), _short_repr(r)


def _short_repr(value: float) -> str:
    return re.sub(r"e\+?(-?)0*(\d)", r"e\1\2", repr(value))


# --------------------------------------------------------------------------- arrays


@dataclass(frozen=True)
class Cell:
    """One entry of an array table: its display text and whether it differs."""

    text: str
    differs: bool


@dataclass(frozen=True)
class ArrayDiff:
    """Expected and received arrays as rows of cells, cut to what the page shows."""

    expected: tuple[tuple[Cell, ...], ...]
    received: tuple[tuple[Cell, ...], ...]
    differing: int  # entries that differ in all, shown or not
    truncated: bool
    vector: bool  # one-dimensional: a single row without a row index


def _rows(value: Any) -> tuple[list[list[str]], bool] | None:
    if not isinstance(value, list | tuple):
        return [[str(value)]], True
    if all(isinstance(row, list | tuple) for row in value) and value:
        if any(isinstance(x, list | tuple) for row in value for x in row):
            return None  # three or more dimensions: the text display says it better
        return [[str(x) for x in row] for row in value], False
    if any(isinstance(x, list | tuple) for x in value):
        return None
    return [[str(x) for x in value]], True


def _index(entry: Any, vector: bool) -> tuple[int, int] | None:
    if isinstance(entry, int) and vector:
        return (0, entry)
    if not isinstance(entry, list | tuple) or not all(isinstance(i, int) for i in entry):
        return None
    if len(entry) == 1 and vector:
        return (0, entry[0])
    if len(entry) == 2:
        return (entry[0], entry[1])
    return None


def array_diff(diff: Any) -> ArrayDiff | None:
    """Tables for a check's ``diff``; ``None`` when it is absent or not one or two dims."""
    if not isinstance(diff, Mapping) or "expected" not in diff or "received" not in diff:
        return None
    exp, rec = _rows(diff["expected"]), _rows(diff["received"])
    if exp is None or rec is None:
        return None
    vector = exp[1] and rec[1]
    marks = {i for i in (_index(m, vector) for m in diff.get("mismatch") or ()) if i is not None}

    def table(rows: list[list[str]], other: list[list[str]]) -> tuple[tuple[Cell, ...], ...]:
        out = []
        for i, row in enumerate(rows[:MAX_ARRAY_ROWS]):
            cells = []
            for j, text in enumerate(row[:MAX_ARRAY_COLS]):
                differs = (i, j) in marks
                if differs and i < len(other) and j < len(other[i]):
                    text = tidy_pair(text, other[i][j])[0]
                else:
                    text = tidy_number(text)
                cells.append(Cell(text=text, differs=differs))
            out.append(tuple(cells))
        return tuple(out)

    truncated = any(len(rows) > MAX_ARRAY_ROWS or any(len(r) > MAX_ARRAY_COLS for r in rows)
                    for rows in (exp[0], rec[0]))
    return ArrayDiff(expected=table(exp[0], rec[0]), received=table(rec[0], exp[0]),
                     differing=len(marks), truncated=truncated, vector=vector)


# --------------------------------------------------------------------------- MathML

# MathML presentation elements that render and cannot run anything or fetch anything.
MATHML_ELEMENTS = frozenset({
    "math", "mrow", "mi", "mn", "mo", "msup", "msub", "msubsup", "mfrac", "msqrt", "mroot",
    "mfenced", "mtable", "mtr", "mtd", "mtext", "mspace", "mstyle", "mover", "munder",
    "munderover", "mpadded", "mphantom", "menclose", "semantics",
})
# Alternative encodings of the same expression: never rendered, so never kept.
MATHML_DROPPED = frozenset({"annotation", "annotation-xml"})
MATHML_ATTRIBUTES = frozenset({
    "mathvariant", "stretchy", "fence", "separator", "open", "close", "separators",
    "linethickness", "columnalign", "display",
})
_MATHML_NS = "{http://www.w3.org/1998/Math/MathML}"
_ENTITY = re.compile(r"&([A-Za-z][A-Za-z0-9]{0,31});")


class _Unsafe(Exception):
    """The MathML holds something outside the whitelist; show the text instead."""


def _numeric_entities(match: re.Match[str]) -> str:
    # sympy writes HTML entities (&InvisibleTimes;, &pi;) that XML does not define;
    # character references mean the same and need no DTD. Unknown names fail to parse.
    chars = html.entities.html5.get(match.group(1) + ";")
    return match.group(0) if chars is None else "".join(f"&#{ord(c)};" for c in chars)


def _local(tag: Any) -> str:
    if not isinstance(tag, str):  # comments and processing instructions
        raise _Unsafe
    if tag.startswith(_MATHML_NS):
        return tag[len(_MATHML_NS):]
    if tag.startswith("{"):
        raise _Unsafe
    return tag


def _serialise(elem: ET.Element, depth: int) -> str:
    if depth > MAX_MATHML_DEPTH:
        raise _Unsafe
    name = _local(elem.tag)
    tail = str(escape(elem.tail or ""))
    if name in MATHML_DROPPED:
        return tail
    if name not in MATHML_ELEMENTS:
        raise _Unsafe
    children = [_serialise(child, depth + 1) for child in elem]
    text = str(escape(elem.text or ""))
    if name == "mfenced":
        # MathML Core (what Chromium renders) has no mfenced: spell out its fences.
        open_ = escape(elem.get("open", "("))
        close = escape(elem.get("close", ")"))
        seps = "".join((elem.get("separators", ",")).split()) or ""
        parts = [f"<mo>{open_}</mo>", text]
        for i, child in enumerate(children):
            if i and seps:
                parts.append(f"<mo>{escape(seps[min(i - 1, len(seps) - 1)])}</mo>")
            parts.append(child)
        parts.append(f"<mo>{close}</mo>")
        return f"<mrow>{''.join(parts)}</mrow>{tail}"
    attrs = "".join(f' {key}="{escape(value)}"' for key, value in sorted(elem.attrib.items())
                    if key in MATHML_ATTRIBUTES)
    return f"<{name}{attrs}>{text}{''.join(children)}</{name}>{tail}"


def sanitize_mathml(markup: str, alt: str | None = None) -> Markup | None:
    """Whitelisted MathML markup for ``markup``, or ``None`` when it cannot be trusted.

    sympy's printer does not escape symbol names, so a student's ``Symbol('<script>')``
    arrives as markup. The text is parsed as XML (no DTDs, no entities beyond HTML's
    named characters), only MathML presentation elements and a few layout attributes
    are kept, and every text node is escaped again on the way out. Anything else, or
    anything that does not parse, gives ``None`` and the caller shows plain text.
    ``alt`` (the plain text of the expression) becomes the ``alttext`` of ``<math>``.
    """
    if not isinstance(markup, str) or len(markup) > MAX_MATHML_CHARS:
        return None
    if "<!" in markup or "<?" in markup:  # DTDs, entity declarations, CDATA, comments
        return None
    try:
        root = ET.fromstring(f"<wrap>{_ENTITY.sub(_numeric_entities, markup)}</wrap>")
        nodes = list(root)
        lead = root.text or ""
        if len(nodes) == 1 and _local(nodes[0].tag) == "math" and not lead.strip() \
                and not (nodes[0].tail or "").strip():
            lead, nodes = nodes[0].text or "", list(nodes[0])
        body = str(escape(lead)) + "".join(_serialise(node, 1) for node in nodes)
    except (ET.ParseError, _Unsafe, RecursionError, ValueError):
        return None
    alttext = f' alttext="{escape(alt)}"' if alt else ""
    return Markup(f'<math display="block"{alttext}>{body}</math>')


def mathml(markup: Any, alt: Any = None) -> Markup | None:
    """Template filter: sanitised MathML, or ``None`` to fall back to the text."""
    if not markup:
        return None
    return sanitize_mathml(markup, alt if isinstance(alt, str) else None)


# --------------------------------------------------------------------------- figures


@dataclass(frozen=True)
class FigureView:
    """A figure as the page shows it: an ``<img>`` data URL, or why it is left out."""

    cell: int
    answers: tuple[str, ...]
    url: str | None
    omitted: str = ""  # too_large | unreadable | unsupported
    mime: str = ""


_IMAGE_MIMES = ("image/png", "image/jpeg", "image/gif")


def figure_view(figure: Figure) -> FigureView:
    """A data URL for ``figure``: PNG as it is, SVG re-encoded (never inlined as markup).

    An SVG inlined in the page could carry scripts and links; inside ``<img>`` nothing in
    it runs or loads, and the page's Content-Security-Policy allows only data: images.
    """
    view = functools.partial(FigureView, cell=figure.cell, answers=tuple(figure.answers),
                             mime=figure.mime)
    if figure.mime == "image/svg+xml":
        data = figure.data.encode("utf-8")
    elif figure.mime in _IMAGE_MIMES:
        try:
            data = base64.b64decode("".join(figure.data.split()), validate=True)
        except (binascii.Error, ValueError):
            return view(url=None, omitted="unreadable")
    else:
        return view(url=None, omitted="unsupported")
    if not data:
        return view(url=None, omitted="unreadable")
    if len(data) > MAX_FIGURE_BYTES:
        return view(url=None, omitted="too_large")
    encoded = base64.b64encode(data).decode("ascii")
    return view(url=f"data:{figure.mime};base64,{encoded}")


def place_figures(result: SubmissionResult) -> tuple[dict[str, list[FigureView]],
                                                      list[FigureView]]:
    """Figures by question id (through the answers their cell names), and the rest."""
    owner = {c.answer: q.id for q in result.questions for c in q.checks}
    by_question: dict[str, list[FigureView]] = {}
    loose: list[FigureView] = []
    for figure in result.run.figures:
        view = figure_view(figure)
        questions = list(dict.fromkeys(owner[a] for a in figure.answers if a in owner))
        for qid in questions:
            by_question.setdefault(qid, []).append(view)
        if not questions:
            loose.append(view)
    return by_question, loose


# --------------------------------------------------------------------------- text

_ANSI = re.compile(r"\x1b\[[0-9;?]*[ -/]*[@-~]")


def last_lines(text: Any, limit: int = MAX_TRACEBACK_LINES) -> tuple[str, int]:
    """The last ``limit`` lines of a traceback (where the error is) and how many are cut."""
    lines = _ANSI.sub("", str(text or "")).rstrip("\n").splitlines()
    cut = max(0, len(lines) - limit)
    return "\n".join(lines[cut:]), cut


def first_lines(text: Any, limit: int = MAX_SOURCE_LINES) -> tuple[str, int]:
    """The first ``limit`` lines of a cell's source and how many are cut."""
    lines = _ANSI.sub("", str(text or "")).rstrip("\n").splitlines()
    return "\n".join(lines[:limit]), max(0, len(lines) - limit)


_CODE_SPAN = re.compile(r"`([^`\n]{1,200})`")


def code_spans(text: Any) -> Markup:
    """Escaped text in which the checks' `backtick` spans become ``<code>`` elements."""
    parts = _CODE_SPAN.split(str(text or ""))
    # split() alternates: text, code, text, ... and every piece is escaped.
    return Markup("").join(escape(part) if i % 2 == 0 else
                           Markup('<code dir="ltr">{}</code>').format(part)
                           for i, part in enumerate(parts))


def is_graded_text(check: CheckResult) -> bool:
    """A text answer a TA has graded (its status is no longer ``manual``)."""
    return check.staff_graded
