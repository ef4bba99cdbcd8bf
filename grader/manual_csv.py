"""A TA's CSV of grades: text answers' points, overrides of checks and questions.

``grader manual`` reads it (:func:`read_grades_csv`), checked against the rubric and the
stored results, before anything is merged into the gradebook.
"""

from __future__ import annotations

import csv
import io
import math
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from grader.checks.registry import kind_of
from grader.errors import GraderError
from grader.gradebook import ManualGrade, group_id, text_sha256
from grader.overrides import WHOLE_QUESTION, StaffOverride
from grader.results import SubmissionResult
from grader.rubric import Rubric

MANUAL_COLUMNS = ("student", "group", "question", "answer", "points", "comment")
WITHDRAW = "auto"  # the points that take an override back


@dataclass(frozen=True, kw_only=True)
class StaffRows:
    """What a TA's CSV holds: grades of text answers, overrides, and overrides taken back."""

    manual: tuple[ManualGrade, ...] = ()
    overrides: tuple[StaffOverride, ...] = ()
    withdrawn: tuple[tuple[str, str, str], ...] = ()  # (student, question, answer)


@dataclass(frozen=True)
class _Target:
    """What a row gives points to: a check (text or automatic) or a whole question."""

    question: str
    answer: str  # WHOLE_QUESTION for the question
    max_points: float
    text: bool


def read_manual_csv(path: Path, rubric: Rubric,
                    results: Iterable[SubmissionResult]) -> list[ManualGrade]:
    """The grades of text answers in a TA's CSV (:func:`read_grades_csv` reads it all)."""
    return list(read_grades_csv(path, rubric, results).manual)


def read_grades_csv(path: Path, rubric: Rubric, results: Iterable[SubmissionResult], *,
                    by: str = "") -> StaffRows:
    """The grades and overrides in a TA's CSV, checked against the rubric and the results.

    Columns: ``student``, ``question``, ``points``, and optionally ``answer``,
    ``comment`` and ``group``. A row gives points to one of:

    - a check, text or automatic: ``question`` is its answer name (``q1_4_params``), or
      with an ``answer`` column, ``question`` its question id and ``answer`` the name;
    - a whole question: with an ``answer`` column, ``question`` the id and ``answer``
      empty; without one, ``question`` the id of a question that does not have exactly
      one text answer (the id of one that does means that text answer, as it always has).

    A text answer takes a TA's grade (:func:`apply_manual`); an automatic check or a
    question an override (:mod:`grader.overrides`), and ``points`` = ``auto`` takes the
    override back. A row with a ``group`` id from an answers page, and no student, grades
    every student whose text answer is in that group; a row for one student overrides
    their group's. Points run from 0 to the target's share of the question's points. Any
    bad row is an error naming its line, and nothing is merged.
    """
    try:
        text = Path(path).read_text("utf-8-sig")
    except (OSError, UnicodeDecodeError) as exc:
        raise GraderError(f"{path}: cannot read the grades ({exc})") from None
    # newline="": a quoted comment may span lines, as spreadsheets write them.
    reader = csv.DictReader(io.StringIO(text, newline=""))
    rows = [(reader.line_num, row) for row in reader]
    header = set(reader.fieldnames or ())
    if rows and not ({"question", "points"} <= header and header & {"student", "group"}):
        raise GraderError(f"{path}: the header needs question, points and student or group "
                          f"(got {', '.join(sorted(k for k in header if k))})")
    with_answer = "answer" in header
    index = _targets(rubric)
    by_student = {r.student: r for r in results}
    groups: dict[str, list[tuple[str, str]]] = {}
    for r in by_student.values():
        for q in r.questions:
            for c in q.checks:
                if c.manual and c.received:
                    groups.setdefault(group_id(c.answer, c.received), []).append(
                        (r.student, c.received))
    errors: list[str] = []
    from_groups: dict[tuple[str, str], ManualGrade] = {}
    single: dict[tuple[str, str], ManualGrade] = {}
    overrides: dict[tuple[str, str, str], StaffOverride | None] = {}
    for line, row in rows:
        where = f"{path} line {line}"
        student = (row.get("student") or "").strip()
        group = (row.get("group") or "").strip()
        question = (row.get("question") or "").strip()
        answer = (row.get("answer") or "").strip()
        comment = (row.get("comment") or "").strip()
        raw_points = (row.get("points") or "").strip()
        if not (student or group or question or answer or raw_points):
            continue  # a blank line a spreadsheet left
        if group and not question and not answer:
            question = group.rsplit("-", 1)[0]
        target = _resolve(question, answer, with_answer=with_answer, index=index)
        if isinstance(target, str):
            errors.append(f"{where}: {target}")
            continue
        source = f"{Path(path).name} line {line}"
        if raw_points.casefold() == WITHDRAW and student and not target.text:
            if student not in by_student:
                errors.append(f"{where}: no graded student {student!r}")
                continue
            overrides[(student, target.question, target.answer)] = None
            continue
        try:
            points = float(raw_points)
        except ValueError:
            errors.append(f"{where}: points {raw_points!r} is not a number"
                          + ("" if target.text else f" (or {WITHDRAW}, to take an override "
                                                    "back)"))
            continue
        named = target.answer or f"question {target.question}"
        if not (math.isfinite(points) and 0 <= points <= target.max_points + 1e-9):
            errors.append(f"{where}: points {points:g} outside 0..{target.max_points:g} for "
                          f"{named}")
            continue
        if student:
            result = by_student.get(student)
            if result is None:
                errors.append(f"{where}: no graded student {student!r}")
                continue
            if not target.text:
                overrides[(student, target.question, target.answer)] = StaffOverride(
                    student=student, question=target.question, answer=target.answer,
                    points=points, comment=comment, by=by, source=source)
                continue
            received = _received(result, target.question, target.answer)
            single[(student, target.answer)] = ManualGrade(
                student=student, answer=target.answer, question=target.question,
                points=points, comment=comment, source=source,
                answer_sha256=text_sha256(received) if received else "")
        else:
            members = groups.get(group)
            if not target.text:
                errors.append(f"{where}: a group row grades a text answer; {named} is not one "
                              "(give a student)")
                continue
            if members is None or not group.startswith(target.answer + "-"):
                errors.append(f"{where}: no answer group {group!r} for {target.answer}")
                continue
            for sid, received in members:
                from_groups[(sid, target.answer)] = ManualGrade(
                    student=sid, answer=target.answer, question=target.question,
                    points=points, comment=comment, source=f"group {group}",
                    answer_sha256=text_sha256(received))
    if errors:
        shown = errors[:20] + ([f"... and {len(errors) - 20} more"] if len(errors) > 20 else [])
        raise GraderError("manual grades not merged:\n  " + "\n  ".join(shown))
    return StaffRows(manual=tuple({**from_groups, **single}.values()),
                     overrides=tuple(o for o in overrides.values() if o is not None),
                     withdrawn=tuple(k for k, o in overrides.items() if o is None))


@dataclass(frozen=True)
class _Index:
    by_answer: dict[str, list[_Target]]  # answer name -> its checks, in every question
    by_question: dict[str, list[_Target]]  # question id -> its checks
    whole: dict[str, _Target]  # question id -> the question


def _targets(rubric: Rubric) -> _Index:
    index = _Index(by_answer={}, by_question={}, whole={})
    for q in rubric.questions:
        total = sum(c.weight for c in q.checks)
        index.whole[q.id] = _Target(q.id, WHOLE_QUESTION, float(q.points), text=False)
        for c in q.checks:
            target = _Target(q.id, c.answer, q.points * c.weight / total if total else 0.0,
                             text=not kind_of(c).auto)
            index.by_answer.setdefault(c.answer, []).append(target)
            index.by_question.setdefault(q.id, []).append(target)
    return index


def _resolve(question: str, answer: str, *, with_answer: bool, index: _Index
             ) -> _Target | str:
    """The target of a row, or what is wrong with it."""
    if not question and not answer:
        return "no question"
    if answer:
        if question and question not in index.whole:
            return f"no question {question!r} in the rubric"
        found = [t for t in index.by_answer.get(answer, ())
                 if not question or t.question == question]
        where = f"question {question}" if question else "the rubric"
        return _one(found, answer, where, index)
    if question in index.by_answer:
        return _one(index.by_answer[question], question, "the rubric", index)
    if question in index.whole:
        texts = [t for t in index.by_question.get(question, ()) if t.text]
        if len(texts) == 1 and not with_answer:
            return texts[0]  # the old spelling of a question's one text answer
        return index.whole[question]
    return (f"{question!r} is not a question or check of the rubric (questions: "
            f"{', '.join(index.whole) or 'none'})")


def _one(found: list[_Target], answer: str, where: str, index: _Index) -> _Target | str:
    if not found:
        known = ", ".join(sorted(index.by_answer)) or "none"
        return f"{answer!r} is not a check of {where} (checks: {known})"
    if len({t.question for t in found}) > 1:
        return (f"{answer!r} is checked in questions {', '.join(t.question for t in found)}: "
                "add an answer column and name the question")
    if len(found) > 1:
        return (f"{answer!r} has {len(found)} checks in question {found[0].question}: "
                "give the whole question's points instead (answer empty)")
    return found[0]


def _received(result: SubmissionResult, qid: str, answer: str) -> str | None:
    for q in result.questions:
        if q.id == qid:
            for c in q.checks:
                if c.answer == answer:
                    return c.received
    return None
