"""The course around the graded results, kept in the gradebook: who, when, what was not graded.

Tables of ``gradebook.sqlite`` beside the results (created here, on first use):

``roster``
    The ``--roster`` last given: ``student``, ``name``, ``email``, ``section``,
    ``lms_id``, in the roster's order. Without ``--roster`` the stored one stays, so
    ``grader export`` and later runs know it.
``submitted``
    Per student, when their submission came in (``submitted_at``, ISO 8601, or empty),
    whether the LMS marked it late (``marked_late``) and where that came from
    (``source``: ``canvas``, ``git``, ``times.csv line 3``). Rewritten for each student
    discovered, on every run.
``not_graded``
    Students whose entries held no file to grade (a PDF only, several candidates and none
    named): ``student``, ``submission`` (as the TA gave it) and ``reason``.

The gradebook creates these tables with its own (:data:`SCHEMA`). Its ``meta`` table
holds the late policy graded with (``late_policy``, JSON) and the assignment's maximum
(``max_score``). :func:`course_view` is what pages and exports show:
each result with its late penalty, and a row for every student with nothing graded.
"""

from __future__ import annotations

import heapq
import json
import sqlite3
from collections.abc import Collection, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from grader.discover import Problem
from grader.late import LatePolicy, SubmissionTime, apply_late, parse_time, read_times
from grader.results import ABSENT, SubmissionResult
from grader.roster import Roster, RosterEntry, absent_result, read_roster
from grader.submission import Submission

SCHEMA = """
CREATE TABLE IF NOT EXISTS roster (
    position INTEGER NOT NULL,
    student TEXT PRIMARY KEY,
    name TEXT NOT NULL DEFAULT '',
    email TEXT NOT NULL DEFAULT '',
    section TEXT NOT NULL DEFAULT '',
    lms_id TEXT NOT NULL DEFAULT ''
);
CREATE TABLE IF NOT EXISTS submitted (
    student TEXT PRIMARY KEY,
    submitted_at TEXT NOT NULL DEFAULT '',
    marked_late INTEGER NOT NULL DEFAULT 0,
    source TEXT NOT NULL DEFAULT ''
);
CREATE TABLE IF NOT EXISTS not_graded (
    student TEXT PRIMARY KEY,
    submission TEXT NOT NULL,
    reason TEXT NOT NULL
);
"""
NO_SUBMISSION = "no submission"


class CourseRecord:
    """The course tables of one gradebook's connection (the caller commits)."""

    def __init__(self, db: sqlite3.Connection) -> None:
        self.db = db  # the gradebook has created SCHEMA's tables

    def _meta(self, key: str) -> str | None:
        row = self.db.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
        return None if row is None else str(row[0])

    def _set_meta(self, key: str, value: str) -> None:
        self.db.execute("INSERT OR REPLACE INTO meta (key, value) VALUES (?, ?)", (key, value))

    def roster(self) -> Roster | None:
        """The roster stored last, or None when none was ever given."""
        rows = self.db.execute("SELECT student, name, email, section, lms_id FROM roster "
                               "ORDER BY position").fetchall()
        if not rows:
            return None
        return Roster(entries=tuple(RosterEntry(student=r[0], name=r[1], email=r[2],
                                                section=r[3], lms_id=r[4]) for r in rows),
                      source=self._meta("roster") or "")

    def set_roster(self, roster: Roster) -> None:
        """Replace the stored roster."""
        self.db.execute("DELETE FROM roster")
        self.db.executemany(
            "INSERT INTO roster (position, student, name, email, section, lms_id) "
            "VALUES (?, ?, ?, ?, ?, ?)",
            [(i, e.student, e.name, e.email, e.section, e.lms_id)
             for i, e in enumerate(roster.entries)])
        self._set_meta("roster", roster.source)

    def times(self) -> dict[str, SubmissionTime]:
        """When each student's submission came in, as far as anything said."""
        return {r[0]: SubmissionTime(student=r[0], submitted_at=r[1], marked_late=bool(r[2]),
                                     source=r[3])
                for r in self.db.execute(
                    "SELECT student, submitted_at, marked_late, source FROM submitted")}

    def time_of(self, student: str) -> SubmissionTime | None:
        """When one student's submission came in (one indexed look-up, not the table)."""
        row = self.db.execute("SELECT submitted_at, marked_late, source FROM submitted "
                              "WHERE student = ?", (student,)).fetchone()
        return None if row is None else SubmissionTime(
            student=student, submitted_at=row[0], marked_late=bool(row[1]), source=row[2])

    def set_times(self, times: Iterable[SubmissionTime]) -> None:
        """Store the times of the students discovered now (others keep theirs)."""
        self.db.executemany(
            "INSERT OR REPLACE INTO submitted (student, submitted_at, marked_late, source) "
            "VALUES (?, ?, ?, ?)",
            [(t.student, t.submitted_at, int(t.marked_late), t.source) for t in times])

    def not_graded(self) -> dict[str, tuple[str, str]]:
        """Students with no file to grade: student -> (submission, reason)."""
        return {r[0]: (r[1], r[2]) for r in self.db.execute(
            "SELECT student, submission, reason FROM not_graded")}

    def set_not_graded(self, found: Mapping[str, tuple[str, str]],
                       graded: Iterable[str]) -> None:
        """Record the students found without a file to grade; forget those graded now."""
        self.db.executemany("DELETE FROM not_graded WHERE student = ?",
                            [(s,) for s in graded])
        self.db.executemany(
            "INSERT OR REPLACE INTO not_graded (student, submission, reason) VALUES (?, ?, ?)",
            [(s, sub, why) for s, (sub, why) in found.items()])

    def late_policy(self) -> LatePolicy | None:
        """The late policy of the last grading, or None."""
        text = self._meta("late_policy")
        return LatePolicy.from_dict(json.loads(text)) if text else None

    def set_late_policy(self, policy: LatePolicy | None, deadline: str = "") -> None:
        """Store the late policy graded with, and the ``--deadline`` that replaced its own."""
        self._set_meta("late_policy", json.dumps(policy.to_dict()) if policy else "")
        self._set_meta("deadline", deadline)

    def reread_policy(self) -> LatePolicy | None:
        """The ``[late]`` policy of the rubric graded with as it is now, stored again.

        For ``grader export``: a policy edited since the last grading counts, on the raw
        scores. A rubric no longer there leaves the stored policy as it was; a broken one
        is an error, as it would be for ``grader grade``.
        """
        from grader.rubric import load_rubric

        path = self._meta("rubric")
        if not path or not Path(path).is_file():
            return self.late_policy()
        policy = load_rubric(path, check_reference=False).late
        deadline = self._meta("deadline") or ""
        policy = effective_policy(policy, deadline)
        self.set_late_policy(policy, deadline)
        return policy

    def max_score(self, maxima: Iterable[float]) -> float:
        """The assignment's maximum: as the gradebook's claim stored it, else the largest
        of the results' ``maxima`` (read only then)."""
        stored = self._meta("max_score")
        if stored:
            return float(stored)
        return max(maxima, default=0.0)


def effective_policy(policy: LatePolicy | None, deadline: str) -> LatePolicy | None:
    """The rubric's policy with ``--deadline`` (ISO text, or "") in place of its deadline."""
    if not deadline:
        return policy
    at = parse_time(deadline, where="--deadline")
    return policy.with_deadline(at) if policy is not None else LatePolicy(deadline=at)


def course_view(db: sqlite3.Connection, results: Sequence[SubmissionResult],
                students: Iterable[str] | None = None) -> list[SubmissionResult]:
    """``results`` with their late penalties, and a row for each student not graded.

    Absent rows (``run = missing`` for a roster student without a submission,
    ``no_gradable_file`` for one whose entries held no notebook or module) are added for
    the students of ``students`` (all by default) who have no result among ``results``.
    Sorted by student.
    """
    ordered = sorted(results, key=_student)
    return list(course_stream(db, ordered, graded={r.student for r in ordered},
                              top=CourseRecord(db).max_score(r.max_score for r in ordered),
                              students=students))


def course_stream(db: sqlite3.Connection, results: Iterable[SubmissionResult], *,
                  graded: Collection[str], top: float,
                  students: Iterable[str] | None = None) -> Iterator[SubmissionResult]:
    """What :func:`course_view` returns, one result at a time: for a pass over a course.

    ``results`` come sorted by student, and ``graded`` are their students; ``top`` is the
    maximum an absent row shows (:meth:`CourseRecord.max_score`). Only the absent rows,
    a few fields each, are held; the results go by as they come.
    """
    record = CourseRecord(db)
    policy = record.late_policy()
    times = record.times()
    wanted = None if students is None else set(students)
    absent: dict[str, SubmissionResult] = {}
    for sid, (submission, reason) in record.not_graded().items():
        absent[sid] = absent_result(sid, outcome="no_gradable_file", message=reason,
                                    max_score=top, submission=submission)
    roster = record.roster()
    for sid in roster.students if roster is not None else ():
        absent.setdefault(sid, absent_result(sid, outcome="missing", message=NO_SUBMISSION,
                                             max_score=top))
    rows = sorted((r for sid, r in absent.items()
                   if sid not in graded and (wanted is None or sid in wanted)), key=_student)
    shown = (apply_late(r, policy, times.get(r.student)) for r in results)
    return heapq.merge(shown, rows, key=_student)


def _student(result: SubmissionResult) -> str:
    return result.student


def dated(db: sqlite3.Connection, result: SubmissionResult) -> SubmissionResult:
    """One fresh result with its submission time and late penalty, as pages show it."""
    record = CourseRecord(db)
    return apply_late(result, record.late_policy(), record.time_of(result.student))


@dataclass(frozen=True, kw_only=True)
class Intake:
    """What a TA says of the course beside the submissions, for one ``grader grade`` run.

    ``times`` are the ``--submitted-at`` CSV's (they win over an LMS's or git's),
    ``not_graded`` the students discovery found without a file to grade (student ->
    (submission, reason)), ``deadline`` the ``--deadline`` given (ISO text, or "").
    """

    roster: Roster | None = None
    times: Mapping[str, SubmissionTime] = field(default_factory=dict)
    not_graded: Mapping[str, tuple[str, str]] = field(default_factory=dict)
    deadline: str = ""

    def record(self, db: sqlite3.Connection, subs: Sequence[Submission],
               policy: LatePolicy | None) -> None:
        """Store the roster, the submissions' times, what was not graded and the policy."""
        record = CourseRecord(db)
        if self.roster is not None:
            record.set_roster(self.roster)
        stored = record.times()
        found = []
        for sub in subs:
            # This run's CSV, else what discovery read (git), else the time given before.
            given = self.times.get(sub.student) or (
                SubmissionTime(student=sub.student, submitted_at=sub.submitted_at,
                               source="git") if sub.submitted_at else stored.get(sub.student))
            found.append(SubmissionTime(
                student=sub.student, marked_late=sub.marked_late,
                submitted_at=given.submitted_at if given else "",
                source=given.source if given else "canvas" if sub.marked_late else ""))
        graded = {s.student for s in subs}
        found += [t for sid, t in self.times.items() if sid not in graded]
        record.set_times(found)
        record.set_not_graded(self.not_graded, graded)
        record.set_late_policy(effective_policy(policy, self.deadline), self.deadline)

    @classmethod
    def given(cls, problems: Iterable[Problem], *, roster: Path | None = None,
              times: Path | None = None, deadline: str | None = None) -> Intake:
        """The intake of a run: ``--roster``, ``--submitted-at`` and ``--deadline`` read and
        checked (``GraderError`` naming the file and line), and the students discovery
        found with nothing to grade."""
        if deadline:
            deadline = parse_time(deadline, where="--deadline").isoformat()
        return cls(roster=read_roster(roster) if roster is not None else None,
                   times=read_times(times) if times is not None else {},
                   not_graded={p.student: (str(p.path), p.reason) for p in problems
                               if p.student and not p.graded},
                   deadline=deadline or "")

    def lines(self, outcomes: Sequence[tuple[str, str]]) -> list[str]:
        """What the terminal says of the course after a run: the roster's strangers, the
        students without a submission and those with no gradable file.

        ``outcomes`` are (student, run outcome) of every row of the course, by student.
        """
        roster = self.roster
        out = []
        graded = [s for s, outcome in outcomes if outcome not in ABSENT]
        if roster is not None:
            strangers = roster.strangers(graded)
            if strangers:
                out.append(f"not on the roster {roster.source}: {', '.join(strangers)} "
                           "(graded all the same)")
        for kind, what in (("missing", "no submission"), ("no_gradable_file", "no gradable file")):
            absent = [s for s, outcome in outcomes if outcome == kind]
            if absent:
                out.append(f"{what} ({len(absent)}): {', '.join(absent)}")
        return out
