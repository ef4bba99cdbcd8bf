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

Both are folded from the results one at a time (:class:`CourseSummary`), which a batch
does in one pass over the gradebook: what is held is a few fields a student and each
group's text once, never the results.

Pages are self-contained like the student's: inline CSS, no scripts (a
Content-Security-Policy forbids them), every student string autoescaped.
"""

from __future__ import annotations

import functools
import statistics
from array import array
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol, TypeVar
from urllib.parse import quote

from grader.atomic import atomic_write
from grader.checks.registry import kind_of
from grader.gradebook import group_id, text_sha256
from grader.points import format_points
from grader.report import STUDENTS, template_cache
from grader.results import ABSENT, CellError, CheckResult, LatePenalty, SubmissionResult
from grader.roster import Roster
from grader.rubric import Rubric

BINS = 10  # score distribution: tenths of the maximum
TOP_WRONG = 5  # wrong answers shown per check
MAX_TEXT = 4000  # characters of an answer shown in a group
WRONG = ("failed", "partial")
# Characters of a cell's error value kept for the index, which shows it cut to 160: any
# text longer than 165 (Jinja's truncate, with its leeway) is cut the same from this much.
EVALUE = 500


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


def score_bars(results: Sequence[SubmissionResult | Row], *, width: float = 520,
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


def question_rates(results: Iterable[SubmissionResult], rubric: Rubric
                   ) -> tuple[QuestionRate, ...]:
    """Per-question counts of full marks, partial marks and the rest.

    A question a TA overrode counts by the points given (full marks, partial or none:
    ``QuestionResult.verdict``), as a TA reading the table expects, not as "none".
    """
    return _fold(_Rates(rubric), results).rates()


def common_wrong(results: Iterable[SubmissionResult], *, top: int = TOP_WRONG
                 ) -> tuple[CheckWrong, ...]:
    """For each automatically graded check, its most common wrong answers with counts."""
    return _fold(_Wrong(), results).common(top)


def text_questions(results: Iterable[SubmissionResult], rubric: Rubric
                   ) -> tuple[TextQuestion, ...]:
    """Every text answer of the rubric with its groups of identical answers."""
    return _fold(_Texts(rubric), results).questions()


class _Tally(Protocol):
    def add(self, result: SubmissionResult) -> None: ...


_T = TypeVar("_T", bound=_Tally)


def _fold(tally: _T, results: Iterable[SubmissionResult]) -> _T:
    """``tally`` with each of ``results`` added, in order."""
    for r in results:
        tally.add(r)
    return tally


# --------------------------------------------------------------------------- tallies
# What the pages show of a course, folded from its results one at a time: a pass over the
# gradebook holds these (a few fields a student, and each distinct answer's text once),
# never the results.


@dataclass(frozen=True, slots=True, kw_only=True)
class Row:
    """What the summary shows of one student's result: a few fields, not the result."""

    student: str
    score: float
    max_score: float
    outcome: str
    message: str  # why it did not run, or why nothing was graded ("" for a run that did)
    submission: str  # shown for a student with no gradable file ("" for others)
    cell_errors: int
    first_error: CellError | None  # the first cell that raised, without its traceback
    late: bool
    submitted_at: str
    score_before_late: float
    late_penalty: LatePenalty | None
    pending: int  # text answers awaiting a TA

    @classmethod
    def of(cls, r: SubmissionResult) -> Row:
        """The row of ``r``."""
        first = r.run.errors[0] if r.run.errors else None
        return cls(student=r.student, score=r.score, max_score=r.max_score,
                   outcome=r.run.outcome, message=r.run.message if r.run.outcome != "ok" else "",
                   submission=r.submission if r.run.outcome == "no_gradable_file" else "",
                   cell_errors=len(r.run.errors),
                   first_error=None if first is None else CellError(
                       index=first.index, source="", ename=first.ename,
                       evalue=first.evalue[:EVALUE], traceback=""),
                   late=r.late, submitted_at=r.submitted_at,
                   score_before_late=r.score_before_late, late_penalty=r.late_penalty,
                   pending=r.pending_manual)


@dataclass(slots=True)
class _Question:
    verdicts: Counter[str] = field(default_factory=Counter)
    scores: array[float] = field(default_factory=lambda: array("d"))
    overridden: int = 0


class _Rates:
    """Per question: how many got each verdict, their points, and how many a TA set."""

    def __init__(self, rubric: Rubric) -> None:
        self.rubric = rubric
        self.found = {q.id: _Question() for q in rubric.questions}

    def add(self, r: SubmissionResult) -> None:
        for qr in r.questions:
            tally = self.found.get(qr.id)
            if tally is not None:
                tally.verdicts[qr.verdict] += 1
                tally.scores.append(qr.score)
                tally.overridden += qr.status == "overridden" or any(
                    c.status == "overridden" for c in qr.checks)

    def rates(self) -> tuple[QuestionRate, ...]:
        out = []
        for q in self.rubric.questions:
            t = self.found[q.id]
            status, total = t.verdicts, len(t.scores)
            out.append(QuestionRate(
                id=q.id, title=q.title, points=q.points, passed=status["passed"],
                partial=status["partial"], manual=status["manual"],
                other=total - status["passed"] - status["partial"] - status["manual"],
                mean=round(statistics.fmean(t.scores), 3) if total else 0.0, total=total,
                overridden=t.overridden))
        return tuple(out)


@dataclass(slots=True)
class _Group:
    text: str  # the first answer's, as shown
    mistake: str | None
    message: str
    students: list[str]  # in the order they came


class _Wrong:
    """Per automatic check, its wrong answers grouped by normalised text, with students."""

    def __init__(self) -> None:
        # (question, answer) -> digest of the normalised text -> group; checks in the order
        # first seen, and the groups of each in that order too.
        self.groups: dict[tuple[str, str], dict[str, _Group]] = {}
        self.wrong: Counter[tuple[str, str]] = Counter()

    def add(self, r: SubmissionResult) -> None:
        for q in r.questions:
            for c in q.checks:
                groups = self.groups.setdefault((q.id, c.answer), {})
                if c.manual or c.status not in WRONG:
                    continue
                self.wrong[(q.id, c.answer)] += 1
                # A digest, not the text, keys the group: a long answer is held once.
                key = text_sha256(c.received if c.received is not None else "(not shown)")
                group = groups.get(key)
                if group is None:
                    group = groups[key] = _Group(text=_cut(c.received or "(not shown)"),
                                                 mistake=c.mistake, message=c.message,
                                                 students=[])
                group.students.append(r.student)

    def common(self, top: int) -> tuple[CheckWrong, ...]:
        out = []
        for key, groups in self.groups.items():
            if not self.wrong[key]:
                continue
            ranked = sorted(groups.values(), key=lambda g: (-len(g.students), g.students[0]))
            out.append(CheckWrong(question=key[0], answer=key[1], wrong=self.wrong[key],
                                  groups=tuple(WrongAnswer(
                                      text=g.text, count=len(g.students), mistake=g.mistake,
                                      message=g.message, students=tuple(sorted(g.students)))
                                      for g in ranked[:top])))
        return tuple(out)


@dataclass(slots=True)
class _Answers:
    question: str
    answer: str
    points: float
    # group id -> (the first text as shown, students, (student, points, status) graded)
    groups: dict[str, tuple[str, list[str], list[tuple[str, float, str]]]] = field(
        default_factory=dict)
    missing: list[str] = field(default_factory=list)
    pending: int = 0


class _Texts:
    """Per text answer of the rubric, what students wrote, grouped by normalised text."""

    def __init__(self, rubric: Rubric) -> None:
        self.answers = []
        for q in rubric.questions:
            total = sum(c.weight for c in q.checks)
            self.answers += [_Answers(question=q.id, answer=spec.answer,
                                      points=q.points * spec.weight / total if total else 0.0)
                             for spec in q.checks if not kind_of(spec).auto]

    def add(self, r: SubmissionResult) -> None:
        if not self.answers:
            return
        checks: dict[tuple[str, str], CheckResult] = {}
        for qr in r.questions:
            for c in qr.checks:
                checks.setdefault((qr.id, c.answer), c)  # the first, where one repeats
        for t in self.answers:
            check = checks.get((t.question, t.answer))
            if check is None or not check.received:
                t.missing.append(r.student)
                continue
            if check.awaits_staff:
                t.pending += 1
            gid = group_id(t.answer, check.received)
            group = t.groups.get(gid)
            if group is None:
                group = t.groups[gid] = (_cut(check.received), [], [])
            group[1].append(r.student)
            if not check.awaits_staff:
                group[2].append((r.student, check.score, check.status))

    def questions(self) -> tuple[TextQuestion, ...]:
        return tuple(TextQuestion(
            question=t.question, answer=t.answer, points=t.points,
            missing=tuple(sorted(t.missing)), pending=t.pending,
            groups=tuple(AnswerGroup(id=gid, text=text, students=tuple(sorted(students)),
                                     graded=tuple(sorted(graded)))
                         for gid, (text, students, graded) in sorted(
                             t.groups.items(), key=lambda kv: (-len(kv[1][1]), kv[0]))))
            for t in self.answers)


class CourseSummary:
    """The summary pages of a course, folded from its results one at a time.

    ``add`` each result in the order the index lists them (by student, for the pages a
    batch writes); ``write`` then writes the index and the answers pages. It holds a row
    of a few fields a student and the tallies above, not the results.
    """

    def __init__(self, rubric: Rubric, roster: Roster | None = None) -> None:
        self.rubric = rubric
        self.roster = roster
        self.rows: list[Row] = []
        self.scores: array[float] = array("d")  # of the students with something graded
        self.rates = _Rates(rubric)
        self.wrong = _Wrong()
        self.texts = _Texts(rubric)

    def add(self, result: SubmissionResult) -> None:
        """Count one student's result in."""
        self.rows.append(Row.of(result))
        if result.run.outcome in ABSENT:
            return  # kept out of the charts and statistics: their 0 is in grades.csv
        self.scores.append(result.score)
        self.rates.add(result)
        self.wrong.add(result)
        self.texts.add(result)

    def index(self, texts: tuple[TextQuestion, ...] | None = None) -> str:
        """The course's index page (``texts``: its text questions, when already made)."""
        everyone = self.rows
        rows = [r for r in everyone if r.outcome not in ABSENT]
        roster, scores = self.roster, self.scores
        return str(_environment().get_template("index.html.j2").render(
            rubric=self.rubric, everyone=everyone, bars=score_bars(rows),
            rates=self.rates.rates(), wrong=self.wrong.common(TOP_WRONG),
            failed=[r for r in rows if r.outcome != "ok"],
            raised=[r for r in rows if r.cell_errors],
            late=[r for r in rows if r.late],
            absent={o: [r for r in everyone if r.outcome == o] for o in ABSENT},
            strangers=roster.strangers(r.student for r in rows) if roster else (),
            roster=roster, texts=self.texts.questions() if texts is None else texts,
            pending={r.student: r.pending for r in everyone},
            stats={"n": len(rows), "max": self.rubric.max_score,
                   "mean": statistics.fmean(scores) if scores else 0.0,
                   "median": statistics.median(scores) if scores else 0.0}))

    def write(self, out: Path) -> None:
        """Write ``index.html`` and one ``answers-<answer>.html`` per text question."""
        texts = self.texts.questions()
        atomic_write(out / "index.html", self.index(texts))
        for question in texts:
            atomic_write(out / question.page, render_answers(self.rubric, question))


def _cut(text: str) -> str:
    return text if len(text) <= MAX_TEXT else text[:MAX_TEXT] + " […]"


@functools.cache
def _environment() -> Any:
    from jinja2 import Environment, PackageLoader, select_autoescape

    # Autoescape on for every template: student names and answers are hostile HTML.
    env = Environment(loader=PackageLoader("grader", "templates"),
                      autoescape=select_autoescape(default=True, default_for_string=True),
                      trim_blocks=True, lstrip_blocks=True, bytecode_cache=template_cache())
    env.filters["points"] = format_points
    env.filters["pct"] = lambda x: f"{100 * x:.0f}%"
    env.globals["href"] = page_href
    return env


def prepare() -> None:
    """Compile the summary pages' templates now (a lone submission's kernel starts meanwhile)."""
    for name in ("index.html.j2", "answers.html.j2"):
        _environment().get_template(name)


def render_index(rubric: Rubric, results: Iterable[SubmissionResult],
                 roster: Roster | None = None) -> str:
    """The course's index page, students in the order given; ``roster`` the course's."""
    return _fold(CourseSummary(rubric, roster), results).index()


def render_answers(rubric: Rubric, question: TextQuestion) -> str:
    """The page of one text question's answer groups."""
    return str(_environment().get_template("answers.html.j2").render(
        rubric=rubric, q=question))


def write_summary(out: Path, rubric: Rubric, results: Iterable[SubmissionResult], *,
                  roster: Roster | None = None) -> None:
    """Write ``index.html`` and one ``answers-<answer>.html`` per text question."""
    _fold(CourseSummary(rubric, roster), sorted(results, key=lambda r: r.student)).write(out)
