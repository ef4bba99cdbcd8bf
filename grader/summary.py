"""The course at a glance: ``index.html`` and a page per text question for the TA.

``index.html`` shows the score distribution and each question's pass rate as inline SVG
charts, the most common wrong answers of each check with their counts (answers grouped
by their normalised display text: whitespace runs collapsed, case folded), the
submissions that failed to run and those with cells that raised, the late ones and their
penalties, and a link to every student's page. With a roster it also lists the students
without a submission and the submissions of students not on it; students who handed in
no gradable file are listed either way. Students with nothing graded are kept out of the
charts and statistics (their 0 is in ``grades.csv``).

``answers-<answer>.html`` lists every student's text for one text question, grouped by
identical normalised text, largest group first, each with the group id a TA writes in the
manual-grades CSV to grade the whole group at once.

Pages are self-contained like the student's: inline CSS, no scripts (a
Content-Security-Policy forbids them), every student string autoescaped.
"""

from __future__ import annotations

import functools
import statistics
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote

from grader.atomic import atomic_write
from grader.checks.registry import kind_of
from grader.gradebook import group_id, normalise
from grader.points import format_points
from grader.report import STUDENTS
from grader.results import ABSENT, SubmissionResult
from grader.roster import Roster
from grader.rubric import Rubric

BINS = 10  # score distribution: tenths of the maximum
TOP_WRONG = 5  # wrong answers shown per check
MAX_TEXT = 4000  # characters of an answer shown in a group
WRONG = ("failed", "partial")


@dataclass(frozen=True, kw_only=True)
class Bar:
    """One bar of a chart, with its geometry already computed (numbers only)."""

    label: str
    count: int
    x: float
    y: float
    width: float
    height: float


@dataclass(frozen=True, kw_only=True)
class QuestionRate:
    """How a question went across the course."""

    id: str
    title: str
    points: float
    passed: int
    partial: int
    other: int
    manual: int
    mean: float
    total: int
    overridden: int = 0  # of those counted above, questions with points a TA set

    @property
    def pass_rate(self) -> float:
        """The share of students with full marks on the question."""
        return self.passed / self.total if self.total else 0.0


@dataclass(frozen=True, kw_only=True)
class WrongAnswer:
    """A group of identical wrong answers to one check."""

    text: str
    count: int
    mistake: str | None
    message: str
    students: tuple[str, ...]


@dataclass(frozen=True, kw_only=True)
class CheckWrong:
    """The common wrong answers of one check."""

    question: str
    answer: str
    wrong: int  # students with a failed or partial verdict
    groups: tuple[WrongAnswer, ...]


@dataclass(frozen=True, kw_only=True)
class AnswerGroup:
    """Students who wrote the same text (after normalising) for one text question."""

    id: str
    text: str
    students: tuple[str, ...]
    graded: tuple[tuple[str, float, str], ...]  # (student, points, status) of TA grades


@dataclass(frozen=True, kw_only=True)
class TextQuestion:
    """A text answer of the rubric and the groups of what students wrote."""

    question: str
    answer: str
    points: float
    groups: tuple[AnswerGroup, ...]
    missing: tuple[str, ...]
    pending: int

    @property
    def page(self) -> str:
        """The file name of its answers page."""
        return f"answers-{self.answer}.html"


def page_href(student: str) -> str:
    """A link from a summary page to a student's page, safe in any id."""
    return f"{STUDENTS}/{quote(student, safe='')}.html"


def score_bars(results: Sequence[SubmissionResult], *, width: float = 520,
               height: float = 150) -> tuple[Bar, ...]:
    """Bars of the score histogram in tenths of the maximum (full marks in the last)."""
    counts = [0] * BINS
    for r in results:
        fraction = r.score / r.max_score if r.max_score else 0.0
        counts[min(BINS - 1, max(0, int(fraction * BINS)))] += 1
    top = max(counts) or 1
    step = width / BINS
    bars = []
    for i, n in enumerate(counts):
        h = height * n / top
        label = f"{i * 10}-{(i + 1) * 10}%" if i < BINS - 1 else "90-100%"
        bars.append(Bar(label=label, count=n, x=round(i * step + 2, 2),
                        y=round(height - h, 2), width=round(step - 4, 2), height=round(h, 2)))
    return tuple(bars)


def question_rates(results: Sequence[SubmissionResult], rubric: Rubric
                   ) -> tuple[QuestionRate, ...]:
    """Per-question counts of full marks, partial marks and the rest.

    A question a TA overrode counts by the points given (full marks, partial or none:
    ``QuestionResult.verdict``), as a TA reading the table expects, not as "none".
    """
    out = []
    for q in rubric.questions:
        found = [qr for r in results for qr in r.questions if qr.id == q.id]
        status = Counter(qr.verdict for qr in found)
        out.append(QuestionRate(
            id=q.id, title=q.title, points=q.points, passed=status["passed"],
            partial=status["partial"], manual=status["manual"],
            other=len(found) - status["passed"] - status["partial"] - status["manual"],
            mean=round(statistics.fmean([qr.score for qr in found]), 3) if found else 0.0,
            total=len(found), overridden=sum(qr.status == "overridden" or any(
                c.status == "overridden" for c in qr.checks) for qr in found)))
    return tuple(out)


def common_wrong(results: Sequence[SubmissionResult], *, top: int = TOP_WRONG
                 ) -> tuple[CheckWrong, ...]:
    """For each automatically graded check, its most common wrong answers with counts."""
    groups: dict[tuple[str, str], dict[str, list[tuple[str, Any]]]] = {}
    order: list[tuple[str, str]] = []
    wrong: Counter[tuple[str, str]] = Counter()
    for r in results:
        for q in r.questions:
            for c in q.checks:
                key = (q.id, c.answer)
                if key not in groups:
                    groups[key] = {}
                    order.append(key)
                if c.manual or c.status not in WRONG:
                    continue
                wrong[key] += 1
                text = c.received if c.received is not None else "(not shown)"
                groups[key].setdefault(normalise(text), []).append((r.student, c))
    out = []
    for key in order:
        if not wrong[key]:
            continue
        ranked = sorted(groups[key].values(), key=lambda g: (-len(g), g[0][0]))[:top]
        out.append(CheckWrong(question=key[0], answer=key[1], wrong=wrong[key], groups=tuple(
            WrongAnswer(text=_cut(g[0][1].received or "(not shown)"), count=len(g),
                        mistake=g[0][1].mistake, message=g[0][1].message,
                        students=tuple(sorted(s for s, _ in g)))
            for g in ranked)))
    return tuple(out)


def text_questions(results: Sequence[SubmissionResult], rubric: Rubric
                   ) -> tuple[TextQuestion, ...]:
    """Every text answer of the rubric with its groups of identical answers."""
    out = []
    for q in rubric.questions:
        total = sum(c.weight for c in q.checks)
        for spec in q.checks:
            if kind_of(spec).auto:
                continue
            members: dict[str, list[tuple[str, str, Any]]] = {}
            missing = []
            pending = 0
            for r in results:
                check = next((c for qr in r.questions if qr.id == q.id for c in qr.checks
                              if c.answer == spec.answer), None)
                if check is None or not check.received:
                    missing.append(r.student)
                    continue
                if check.awaits_staff:
                    pending += 1
                gid = group_id(spec.answer, check.received)
                members.setdefault(gid, []).append((r.student, check.received, check))
            groups = sorted(members.items(), key=lambda kv: (-len(kv[1]), kv[0]))
            out.append(TextQuestion(
                question=q.id, answer=spec.answer,
                points=q.points * spec.weight / total if total else 0.0,
                missing=tuple(sorted(missing)), pending=pending,
                groups=tuple(AnswerGroup(
                    id=gid, text=_cut(entries[0][1]),
                    students=tuple(sorted(s for s, _, _ in entries)),
                    graded=tuple(sorted((s, c.score, c.status) for s, _, c in entries
                                        if not c.awaits_staff)))
                    for gid, entries in groups)))
    return tuple(out)


def _cut(text: str) -> str:
    return text if len(text) <= MAX_TEXT else text[:MAX_TEXT] + " […]"


@functools.cache
def _environment() -> Any:
    from jinja2 import Environment, PackageLoader, select_autoescape

    # Autoescape on for every template: student names and answers are hostile HTML.
    env = Environment(loader=PackageLoader("grader", "templates"),
                      autoescape=select_autoescape(default=True, default_for_string=True),
                      trim_blocks=True, lstrip_blocks=True)
    env.filters["points"] = format_points
    env.filters["pct"] = lambda x: f"{100 * x:.0f}%"
    env.globals["href"] = page_href
    return env


def prepare() -> None:
    """Compile the summary pages' templates now (a lone submission's kernel starts meanwhile)."""
    for name in ("index.html.j2", "answers.html.j2"):
        _environment().get_template(name)


def render_index(rubric: Rubric, results: Sequence[SubmissionResult],
                 roster: Roster | None = None) -> str:
    """The course's index page; ``roster`` the course's, when one was given."""
    everyone = results
    results = [r for r in everyone if r.run.outcome not in ABSENT]
    scores = [r.score for r in results]
    texts = text_questions(results, rubric)
    return str(_environment().get_template("index.html.j2").render(
        rubric=rubric, results=results, everyone=everyone, bars=score_bars(results),
        rates=question_rates(results, rubric), wrong=common_wrong(results),
        failed=[r for r in results if r.run.outcome != "ok"],
        raised=[r for r in results if r.run.errors],
        late=[r for r in results if r.late],
        absent={o: [r for r in everyone if r.run.outcome == o] for o in ABSENT},
        strangers=roster.strangers(r.student for r in results) if roster else (),
        roster=roster, texts=texts,
        pending={r.student: r.pending_manual for r in everyone},
        stats={"n": len(results), "max": rubric.max_score,
               "mean": statistics.fmean(scores) if scores else 0.0,
               "median": statistics.median(scores) if scores else 0.0}))


def render_answers(rubric: Rubric, question: TextQuestion) -> str:
    """The page of one text question's answer groups."""
    return str(_environment().get_template("answers.html.j2").render(
        rubric=rubric, q=question))


def write_summary(out: Path, rubric: Rubric, results: Sequence[SubmissionResult], *,
                  roster: Roster | None = None) -> None:
    """Write ``index.html`` and one ``answers-<answer>.html`` per text question."""
    results = sorted(results, key=lambda r: r.student)
    atomic_write(out / "index.html", render_index(rubric, results, roster))
    graded = [r for r in results if r.run.outcome not in ABSENT]
    for question in text_questions(graded, rubric):
        atomic_write(out / question.page, render_answers(rubric, question))
