"""The gradebook: one SQLite file in the output folder, written as each submission finishes.

``gradebook.sqlite`` (stdlib ``sqlite3``, WAL journal, a commit per submission) holds:

``results``
    One row per grading of a submission, never updated: student, content hash (SHA-256
    of the submission's files), rubric digest, started and finished (UTC, ISO 8601),
    isolation, outcome, the cells that raised (JSON), score, and the whole result JSON.
    A student's current result is their latest row (the view ``latest``).
``checks``
    One row per check of each grading (question, answer, kind, status, points, the
    mistake matched, the received display text).
``transcripts``
    Beside a result row, what its kernel run handed over (:mod:`grader.transcript`): the
    answers and the outputs of function calls as tagged JSON, exactly as they crossed,
    the fingerprint of what the run depended on, and the SHA-256 of the text. ``grader
    grade --resume`` re-checks from it after a rubric edit that changed only checks.
``manual_grades``
    A TA's points and comment for a text answer, keyed by student and answer name. They
    live apart from the automatic results, so re-grading never touches them; they are
    merged into what is shown and exported (:func:`apply_manual`).
``overrides``
    A TA's points and comment for an automatic check (``answer``) or a whole question
    (``answer`` empty), with who entered them and when: kept apart from the results in
    the same way and applied after the text grades (:mod:`grader.overrides`).
``changes``
    The regrade log, one row per change staff made to a student's points or comment:
    question, answer, old and new points, comment, who, when and from where. Never
    updated; shown on the student's page and in their JSON (``changes``).

The course around the results (the roster, submission times, what was not graded, the
late policy) is kept in tables of :mod:`grader.course`.

The coordinating process writes, and so do the re-checkers it forks, each through a
connection of its own (:mod:`grader.recheck`); workers hand results back as plain data.
A TA's CSV of grades and overrides is read by :mod:`grader.manual_csv`.
"""

from __future__ import annotations

import datetime as _dt
import hashlib
import json
import os
import sqlite3
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, replace
from pathlib import Path

from grader.course import SCHEMA as COURSE_SCHEMA
from grader.course import CourseRecord, course_stream, course_view
from grader.errors import GraderError, TranscriptError
from grader.overrides import (
    GRADED_BY_TA,
    Given,
    StaffOverride,
    apply_overrides,
    log_changes,
)
from grader.results import Change, CheckResult, SubmissionResult, points_status, question_status
from grader.rubric import Rubric
from grader.transcript import Transcript, checksum

FILENAME = "gradebook.sqlite"
SCHEMA_VERSION = "1"
# A grading that ended in a failure of ours, not of the student's code: tried again on resume.
RETRY_OUTCOMES = ("not_run", "grader_error")

_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (
    key TEXT PRIMARY KEY,
    value TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS results (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    student TEXT NOT NULL,
    submission TEXT NOT NULL,
    content_sha256 TEXT NOT NULL,
    rubric_digest TEXT NOT NULL,
    started TEXT NOT NULL,
    finished TEXT NOT NULL,
    isolation TEXT NOT NULL,
    outcome TEXT NOT NULL,
    errors TEXT NOT NULL,
    score REAL NOT NULL,
    max_score REAL NOT NULL,
    executor TEXT NOT NULL DEFAULT '',
    result_json TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS results_by_student ON results (student, id);
CREATE TABLE IF NOT EXISTS checks (
    result_id INTEGER NOT NULL REFERENCES results (id) ON DELETE CASCADE,
    question TEXT NOT NULL,
    position INTEGER NOT NULL,
    answer TEXT NOT NULL,
    kind TEXT NOT NULL,
    status TEXT NOT NULL,
    score REAL NOT NULL,
    max_score REAL NOT NULL,
    mistake TEXT,
    received TEXT,
    PRIMARY KEY (result_id, question, position)
);
CREATE TABLE IF NOT EXISTS manual_grades (
    student TEXT NOT NULL,
    answer TEXT NOT NULL,
    question TEXT NOT NULL,
    points REAL NOT NULL,
    comment TEXT NOT NULL DEFAULT '',
    source TEXT NOT NULL DEFAULT '',
    answer_sha256 TEXT NOT NULL DEFAULT '',
    entered TEXT NOT NULL,
    PRIMARY KEY (student, answer)
);
CREATE TABLE IF NOT EXISTS overrides (
    student TEXT NOT NULL,
    question TEXT NOT NULL,
    answer TEXT NOT NULL,
    points REAL NOT NULL,
    comment TEXT NOT NULL DEFAULT '',
    entered_by TEXT NOT NULL DEFAULT '',
    entered TEXT NOT NULL,
    source TEXT NOT NULL DEFAULT '',
    PRIMARY KEY (student, question, answer)
);
CREATE TABLE IF NOT EXISTS changes (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    student TEXT NOT NULL,
    question TEXT NOT NULL,
    answer TEXT NOT NULL,
    old_points REAL,
    new_points REAL,
    comment TEXT NOT NULL DEFAULT '',
    entered_by TEXT NOT NULL DEFAULT '',
    entered TEXT NOT NULL,
    source TEXT NOT NULL DEFAULT ''
);
CREATE TABLE IF NOT EXISTS transcripts (
    result_id INTEGER PRIMARY KEY REFERENCES results (id) ON DELETE CASCADE,
    fingerprint TEXT NOT NULL,
    sha256 TEXT NOT NULL,
    transcript TEXT NOT NULL
);
CREATE VIEW IF NOT EXISTS latest AS
    SELECT * FROM results r WHERE r.id = (SELECT MAX(id) FROM results WHERE student = r.student);
"""


def now() -> str:
    """The current UTC time as the gradebook writes it."""
    return _dt.datetime.now(_dt.UTC).isoformat(timespec="milliseconds")


@dataclass(frozen=True, kw_only=True)
class ManualGrade:
    """A TA's points and comment for one student's text answer."""

    student: str
    answer: str
    question: str
    points: float
    comment: str = ""
    source: str = ""  # where it came from: "grades.csv line 3", "group why-1a2b3c4d"
    answer_sha256: str = ""  # the normalised text that was graded


@dataclass(frozen=True, kw_only=True)
class Graded:
    """A student's latest row: enough to decide whether ``--resume`` may keep it."""

    student: str
    content_sha256: str
    rubric_digest: str
    outcome: str


class Gradebook:
    """The SQLite gradebook of one output folder (a context manager; closes on exit)."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        try:
            # isolation_level=None: we open and commit transactions ourselves.
            self.db = sqlite3.connect(self.path, isolation_level=None, timeout=30)
            self.db.execute("PRAGMA journal_mode=WAL")
            # FULL: a committed submission survives a power cut, not only a killed grader.
            self.db.execute("PRAGMA synchronous=FULL")
            self.db.execute("PRAGMA foreign_keys=ON")
            self.db.executescript(_SCHEMA + COURSE_SCHEMA)
        except sqlite3.DatabaseError as exc:
            raise GraderError(f"{self.path}: not a usable gradebook ({exc})") from None
        version = self.meta("schema")
        if version is None:
            self.set_meta("schema", SCHEMA_VERSION)
        elif version != SCHEMA_VERSION:
            raise GraderError(f"{self.path}: gradebook schema {version}, this grader reads "
                              f"{SCHEMA_VERSION}")

    @classmethod
    def in_folder(cls, out: Path) -> Gradebook:
        """The gradebook of the output folder ``out`` (created when absent)."""
        return cls(Path(out) / FILENAME)

    @classmethod
    def existing(cls, out: Path) -> Gradebook:
        """The gradebook of ``out``; ``GraderError`` when there is none yet."""
        path = Path(out) / FILENAME
        if not path.is_file():
            raise GraderError(f"no gradebook in {out} (grade into it first: grader grade ... "
                              f"--out {out})")
        return cls(path)

    def __enter__(self) -> Gradebook:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def close(self) -> None:
        """Close the connection (SQLite folds the write-ahead log back in)."""
        self.db.close()

    # ----------------------------------------------------------------- meta

    def meta(self, key: str) -> str | None:
        """A value of the ``meta`` table."""
        row = self.db.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
        return None if row is None else str(row[0])

    def set_meta(self, key: str, value: str) -> None:
        """Set a value of the ``meta`` table."""
        self.db.execute("INSERT OR REPLACE INTO meta (key, value) VALUES (?, ?)", (key, value))

    def claim(self, rubric: Rubric) -> None:
        """Tie the gradebook to the rubric's assignment; refuse another assignment's."""
        assignment = self.meta("assignment")
        if assignment is not None and assignment != rubric.id:
            raise GraderError(f"{self.path} holds assignment {assignment!r}, not "
                              f"{rubric.id!r}: grade into another --out folder")
        with self.transaction():
            self.set_meta("assignment", rubric.id)
            self.set_meta("rubric", str(Path(rubric.path).resolve()))
            self.set_meta("max_score", repr(float(rubric.max_score)))

    # ----------------------------------------------------------------- results

    def transaction(self) -> _Transaction:
        """``with gradebook.transaction():`` commits on success, rolls back on error."""
        return _Transaction(self.db)

    def record(self, result: SubmissionResult, *, started: str = "", finished: str = "",
               executor: str = "", transcript: str = "") -> int:
        """Store one grading and its checks in one committed transaction; its row id.

        ``transcript`` is its kernel run's :class:`~grader.transcript.Transcript` as JSON
        text, stored beside the row (none when no kernel ran).
        """
        run = result.run
        errors = [{"cell": e.index, "ename": e.ename, "evalue": e.evalue[:500]}
                  for e in run.errors]
        finished = finished or now()
        with self.transaction():
            cursor = self.db.execute(
                "INSERT INTO results (student, submission, content_sha256, rubric_digest, "
                "started, finished, isolation, outcome, errors, score, max_score, executor, "
                "result_json) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (result.student, result.submission, result.submission_sha256,
                 result.rubric_digest, started or finished, finished, result.isolation,
                 run.outcome, json.dumps(errors, ensure_ascii=False), result.score,
                 result.max_score, executor, result_json(result)))
            rid = int(cursor.lastrowid or 0)
            self.db.executemany(
                "INSERT INTO checks (result_id, question, position, answer, kind, status, "
                "score, max_score, mistake, received) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                [(rid, q.id, i, c.answer, c.kind, c.status, c.score, c.max_score, c.mistake,
                  c.received) for q in result.questions for i, c in enumerate(q.checks)])
            if transcript:
                self.db.execute(
                    "INSERT INTO transcripts (result_id, fingerprint, sha256, transcript) "
                    "VALUES (?, ?, ?, ?)",
                    (rid, Transcript.from_json(transcript).fingerprint, checksum(transcript),
                     transcript))
        return rid

    def transcript(self, student: str) -> Transcript:
        """The transcript of a student's latest grading, checked against its checksum.

        :class:`~grader.errors.TranscriptError` when there is none, or when the stored
        text is malformed or no longer what was stored (then the kernel runs again).
        """
        row = self.db.execute(
            "SELECT t.fingerprint, t.sha256, t.transcript FROM latest l "
            "JOIN transcripts t ON t.result_id = l.id WHERE l.student = ?",
            (student,)).fetchone()
        if row is None:
            raise TranscriptError("no transcript stored")
        fingerprint, digest, text = row
        if not isinstance(text, str) or checksum(text) != digest:
            raise TranscriptError("the stored transcript does not match its checksum")
        found = Transcript.from_json(text)
        if found.fingerprint != fingerprint:
            raise TranscriptError("the stored transcript does not match its fingerprint")
        return found

    def with_transcripts(self) -> set[str]:
        """The students whose latest grading has a transcript stored."""
        return {r[0] for r in self.db.execute(
            "SELECT l.student FROM latest l JOIN transcripts t ON t.result_id = l.id")}

    def received(self) -> dict[str, tuple[str, ...]]:
        """What each student's latest result received, check by check, as display text.

        Equal for students whose answers showed alike: an order that puts them side by
        side (see :class:`~grader.recheck.Rechecks`).
        """
        found: dict[str, list[str]] = {}
        for student, text in self.db.execute(
                "SELECT l.student, c.received FROM latest l JOIN checks c "
                "ON c.result_id = l.id ORDER BY l.id, c.question, c.position"):
            found.setdefault(student, []).append(text or "")
        return {student: tuple(texts) for student, texts in found.items()}

    def graded(self) -> dict[str, Graded]:
        """Every student's latest row, by student id."""
        rows = self.db.execute(
            "SELECT student, content_sha256, rubric_digest, outcome FROM latest")
        return {r[0]: Graded(student=r[0], content_sha256=r[1], rubric_digest=r[2],
                             outcome=r[3]) for r in rows}

    def results(self, students: Iterable[str] | None = None) -> list[SubmissionResult]:
        """The latest automatic result of every student (or of ``students``), by id."""
        rows = self.db.execute("SELECT student, result_json FROM latest ORDER BY student")
        wanted = None if students is None else set(students)
        return [SubmissionResult.from_dict(json.loads(r[1])) for r in rows
                if wanted is None or r[0] in wanted]

    def result(self, student: str) -> SubmissionResult | None:
        """A student's latest automatic result."""
        found = self.results([student])
        return found[0] if found else None

    def streamed(self) -> Iterator[SubmissionResult]:
        """What :meth:`merged` returns, one result at a time: a pass over the course that
        holds no more than one result (and a few fields a student) at a time."""
        staff = self.staff()
        latest = sorted(self.db.execute("SELECT student, MAX(id) FROM results GROUP BY student"
                                        ).fetchall())
        # The maxima are read only when no maximum was stored (a gradebook never claimed).
        top = CourseRecord(self.db).max_score(
            float(m) for (m,) in self.db.execute("SELECT max_score FROM latest"))

        def results() -> Iterator[SubmissionResult]:
            for _, rid in latest:
                (text,) = self.db.execute("SELECT result_json FROM results WHERE id = ?",
                                          (rid,)).fetchone()
                yield staff.apply(SubmissionResult.from_dict(json.loads(text)))

        return course_stream(self.db, results(), graded={s for s, _ in latest}, top=top)

    def gradings(self) -> dict[str, int]:
        """How many times each student was graded (a row each, kept forever)."""
        rows = self.db.execute("SELECT student, COUNT(*) FROM results GROUP BY student")
        return {r[0]: int(r[1]) for r in rows}

    # ----------------------------------------------------------------- manual grades

    def manual(self) -> dict[str, dict[str, ManualGrade]]:
        """The TA's grades: student -> answer name -> grade."""
        out: dict[str, dict[str, ManualGrade]] = {}
        for row in self.db.execute(
                "SELECT student, answer, question, points, comment, source, answer_sha256 "
                "FROM manual_grades"):
            grade = ManualGrade(student=row[0], answer=row[1], question=row[2],
                                points=float(row[3]), comment=row[4], source=row[5],
                                answer_sha256=row[6])
            out.setdefault(grade.student, {})[grade.answer] = grade
        return out

    def set_manual(self, grades: Iterable[ManualGrade]) -> int:
        """Store a TA's grades, all or none; a later grade of the same answer replaces one."""
        rows = [(g.student, g.answer, g.question, g.points, g.comment, g.source,
                 g.answer_sha256, now()) for g in grades]
        with self.transaction():
            self.db.executemany(
                "INSERT OR REPLACE INTO manual_grades (student, answer, question, points, "
                "comment, source, answer_sha256, entered) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                rows)
        return len(rows)

    # ----------------------------------------------------------------- overrides and the log

    def overrides(self) -> dict[str, dict[tuple[str, str], StaffOverride]]:
        """The TA's overrides: student -> (question, answer) -> override."""
        out: dict[str, dict[tuple[str, str], StaffOverride]] = {}
        for row in self.db.execute(
                "SELECT student, question, answer, points, comment, entered_by, entered, "
                "source FROM overrides"):
            o = StaffOverride(student=row[0], question=row[1], answer=row[2],
                              points=float(row[3]), comment=row[4], by=row[5], at=row[6],
                              source=row[7])
            out.setdefault(o.student, {})[o.key] = o
        return out

    def changes(self) -> dict[str, tuple[Change, ...]]:
        """The regrade log: student -> their changes, oldest first."""
        out: dict[str, list[Change]] = {}
        for row in self.db.execute(
                "SELECT student, question, answer, old_points, new_points, comment, "
                "entered_by, entered, source FROM changes ORDER BY id"):
            out.setdefault(row[0], []).append(Change(
                question=row[1], answer=row[2], old_points=row[3], new_points=row[4],
                comment=row[5], by=row[6], at=row[7], source=row[8]))
        return {student: tuple(lines) for student, lines in out.items()}

    def set_staff(self, grades: Iterable[ManualGrade] = (),
                  overrides: Iterable[StaffOverride] = (), *, by: str,
                  withdrawn: Iterable[tuple[str, str, str]] = ()) -> int:
        """Store a TA's grades and overrides, and log each change, all or none.

        ``withdrawn`` are (student, question, answer) overrides taken back: the automatic
        verdict counts again. A later grade or override of the same target replaces one.
        Returns how many changes were logged.
        """
        grades, overrides, withdrawn = list(grades), list(overrides), list(withdrawn)
        at = now()
        before = {r.student: r for r in self.merged()}
        given = [Given(student=g.student, question=g.question, answer=g.answer,
                       points=g.points, comment=g.comment, source=g.source) for g in grades]
        given += [Given(student=o.student, question=o.question, answer=o.answer,
                        points=o.points, comment=o.comment, source=o.source) for o in overrides]
        given += [Given(student=s, question=q, answer=a, points=None) for s, q, a in withdrawn]
        lines = log_changes(before, given, by=by, at=at)
        with self.transaction():
            self.db.executemany(
                "INSERT OR REPLACE INTO manual_grades (student, answer, question, points, "
                "comment, source, answer_sha256, entered) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                [(g.student, g.answer, g.question, g.points, g.comment, g.source,
                  g.answer_sha256, at) for g in grades])
            self.db.executemany(
                "INSERT OR REPLACE INTO overrides (student, question, answer, points, comment, "
                "entered_by, entered, source) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                [(o.student, o.question, o.answer, o.points, o.comment, by, at, o.source)
                 for o in overrides])
            self.db.executemany(
                "DELETE FROM overrides WHERE student = ? AND question = ? AND answer = ?",
                withdrawn)
            self.db.executemany(
                "INSERT INTO changes (student, question, answer, old_points, new_points, "
                "comment, entered_by, entered, source) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                [(s, c.question, c.answer, c.old_points, c.new_points, c.comment, c.by, c.at,
                  c.source) for s, c in lines])
        return len(lines)

    def merged(self, students: Iterable[str] | None = None) -> list[SubmissionResult]:
        """The latest results with staff's work merged in: what pages and exports show.

        The TA's grades of text answers first, then the overrides, then the regrade log.
        """
        staff = self.staff()
        # Then the late penalty, on the score staff's work gave; and the absent students.
        return course_view(self.db, [staff.apply(r) for r in self.results(students)],
                           students)

    def staff(self) -> Staff:
        """Everything staff entered, to merge into results as they are graded."""
        return Staff(manual=self.manual(), overrides=self.overrides(), changes=self.changes())


@dataclass(frozen=True, kw_only=True)
class Staff:
    """What staff entered in a gradebook: text grades, overrides and the regrade log."""

    manual: Mapping[str, Mapping[str, ManualGrade]]
    overrides: Mapping[str, Mapping[tuple[str, str], StaffOverride]]
    changes: Mapping[str, tuple[Change, ...]]

    def apply(self, result: SubmissionResult) -> SubmissionResult:
        """``result`` as pages show it: with this student's grades, overrides and log."""
        sid = result.student
        return replace(apply_overrides(apply_manual(result, self.manual.get(sid, {})),
                                       self.overrides.get(sid, {})),
                       changes=self.changes.get(sid, ()))


class Latest(Mapping[str, SubmissionResult]):
    """Each student's latest automatic result, read from the gradebook when it is asked for.

    A batch's view of the stored results that holds none of them: a look-up is one
    indexed query. It may be used in a process forked from the one that made it, which
    then opens a connection of its own (one opened before a fork must not be used after).
    """

    def __init__(self, book: Gradebook) -> None:
        self.path = book.path
        self._db = book.db
        self._pid = os.getpid()

    def _connection(self) -> sqlite3.Connection:
        if os.getpid() != self._pid:
            self._db = sqlite3.connect(self.path, isolation_level=None, timeout=30)
            self._pid = os.getpid()
        return self._db

    def __getitem__(self, student: str) -> SubmissionResult:
        row = self._connection().execute("SELECT result_json FROM latest WHERE student = ?",
                                         (student,)).fetchone()
        if row is None:
            raise KeyError(student)
        return SubmissionResult.from_dict(json.loads(row[0]))

    def __iter__(self) -> Iterator[str]:
        return iter([r for (r,) in self._connection().execute("SELECT student FROM latest")])

    def __len__(self) -> int:
        return sum(1 for _ in self)


class _Transaction:
    def __init__(self, db: sqlite3.Connection) -> None:
        self.db = db

    def __enter__(self) -> sqlite3.Connection:
        self.db.execute("BEGIN IMMEDIATE")
        return self.db

    def __exit__(self, exc_type: object, *rest: object) -> None:
        try:
            if exc_type is None:
                self.db.execute("COMMIT")
        finally:
            # An error rolls back; so does a COMMIT that failed (a full disk), which may
            # leave the transaction open and the gradebook locked against the others.
            if self.db.in_transaction:
                self.db.execute("ROLLBACK")


def result_json(result: SubmissionResult) -> str:
    """A result as JSON text: how results cross process boundaries and are stored."""
    return json.dumps(result.to_dict(), ensure_ascii=False, allow_nan=False, default=str)


# --------------------------------------------------------------------------- merging


def apply_manual(result: SubmissionResult,
                 grades: Mapping[str, ManualGrade]) -> SubmissionResult:
    """``result`` with a TA's points for its text answers.

    A graded text check gets the TA's points (its status becomes passed, partial or
    failed, the comment its message); its question's score, status and ``manual_points``
    and the total are recomputed. Ungraded checks stay ``manual``.
    """
    if not grades:
        return result
    questions = []
    for q in result.questions:
        checks = []
        manual_points = 0.0
        for c in q.checks:
            g = grades.get(c.answer)
            if g is not None and g.question == q.id and (c.awaits_staff or c.staff_graded):
                c = _graded_check(c, g)
                manual_points += c.score
            checks.append(c)
        if manual_points or any(c is not o for c, o in zip(checks, q.checks, strict=True)):
            score = min(q.max_score, max(0.0, sum(c.score for c in checks)))
            q = replace(q, checks=tuple(checks), score=round(score, 6),
                        status=question_status(checks),
                        manual_points=round(manual_points, 6))
        questions.append(q)
    total = round(sum(q.score for q in questions), 6)
    return replace(result, questions=tuple(questions), score=total)


def _graded_check(check: CheckResult, grade: ManualGrade) -> CheckResult:
    points = min(check.max_score, max(0.0, grade.points))
    message = grade.comment or GRADED_BY_TA
    return replace(check, status=points_status(points, check.max_score),
                   score=round(points, 6), message=message)


# --------------------------------------------------------------------------- answer groups


def normalise(text: str) -> str:
    """An answer's text with whitespace runs collapsed and case folded, for grouping."""
    return " ".join(str(text).split()).casefold()


def group_id(answer: str, text: str) -> str:
    """The id of the group of identical normalised answers (``why-1a2b3c4d``).

    It depends only on the answer name and the text, so it is the same on every run.
    """
    digest = hashlib.sha256(normalise(text).encode("utf-8")).hexdigest()
    return f"{answer}-{digest[:8]}"


def text_sha256(text: str) -> str:
    """SHA-256 of an answer's normalised text."""
    return hashlib.sha256(normalise(text).encode("utf-8")).hexdigest()
