"""Late work: when a submission came in, whether it was late, and the rubric's penalty.

The rubric's ``[late]`` table (read here, validated when the rubric loads) is a
:class:`LatePolicy`::

    [late]
    deadline = 2026-03-01T23:59:00+01:00   # a TOML date-time with its UTC offset
    penalty_per_day = 0.10                 # or penalty_per_hour: a fraction of the maximum
    floor = 0.5                            # never below half the maximum (a fraction too)
    grace = "15m"                          # m, h or d; within it a submission is on time
    cutoff = "7d"                          # after the deadline (or a date-time): score 0
    extensions = "extensions.csv"          # student, deadline (ISO) or days; next to the rubric

A penalty counts every started day (or hour) after the deadline, once the grace period
is over: 10 minutes past a deadline with ``grace = "5m"`` is one day late. It is applied
after grading, on the score with the TA's grades merged, by :func:`apply_late`, a pure
function of the result, the policy and the submission's time; so a changed policy is
applied again without running any notebook (the rubric's digest leaves ``[late]`` out).

A submission's time (:class:`SubmissionTime`) comes from its LMS (Canvas marks late files
``_LATE_`` but gives no time; a GitHub Classroom repository has the commit time of the
graded file) or from the TA (``--submitted-at times.csv``); a file's modification time
is never one.
"""

from __future__ import annotations

import csv
import datetime as _dt
import io
import math
import re
from collections.abc import Mapping
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from grader.errors import GraderError
from grader.results import LatePenalty, SubmissionResult
from grader.tables import Reader

KEYS = ("deadline", "penalty_per_day", "penalty_per_hour", "floor", "grace", "cutoff",
        "extensions")
UNIT_HOURS = {"day": 24.0, "hour": 1.0}
_DURATION = re.compile(r"^\s*(?P<n>\d+(?:\.\d+)?)\s*(?P<unit>m|min|minutes?|h|hours?|d|days?)\s*$")
_UNIT_MINUTES = {"m": 1.0, "h": 60.0, "d": 1440.0}


@dataclass(frozen=True, kw_only=True)
class Extension:
    """A student's own deadline: a new date-time, or extra days on the course's."""

    student: str
    deadline: _dt.datetime | None = None
    days: float = 0.0


@dataclass(frozen=True, kw_only=True)
class LatePolicy:
    """The rubric's ``[late]`` table; ``per`` is empty when it only sets a deadline."""

    deadline: _dt.datetime | None = None
    per: str = ""  # "day" or "hour": the unit a penalty counts in
    rate: float = 0.0  # fraction of the maximum score per started unit late
    floor: float = 0.0  # fraction of the maximum the penalty never goes below
    grace_minutes: float = 0.0
    cutoff: _dt.datetime | None = None  # after it the score is 0
    cutoff_minutes: float | None = None  # or: this long after a student's deadline
    extensions: tuple[Extension, ...] = ()

    def deadline_of(self, student: str) -> _dt.datetime | None:
        """The deadline of ``student``: theirs from the extensions, else the course's."""
        for ext in self.extensions:
            if ext.student == student:
                if ext.deadline is not None:
                    return ext.deadline
                if self.deadline is not None:
                    return self.deadline + _dt.timedelta(days=ext.days)
        return self.deadline

    def cutoff_of(self, student: str) -> _dt.datetime | None:
        """When a submission of ``student`` stops counting at all."""
        if self.cutoff_minutes is not None:
            deadline = self.deadline_of(student)
            return None if deadline is None else \
                deadline + _dt.timedelta(minutes=self.cutoff_minutes)
        return self.cutoff

    def with_deadline(self, deadline: _dt.datetime) -> LatePolicy:
        """The policy with the course's deadline replaced (``--deadline``)."""
        return replace(self, deadline=deadline)

    def to_dict(self) -> dict[str, Any]:
        """Plain data, for the gradebook's record of the policy graded with."""
        return {"deadline": _iso(self.deadline), "per": self.per, "rate": self.rate,
                "floor": self.floor, "grace_minutes": self.grace_minutes,
                "cutoff": _iso(self.cutoff), "cutoff_minutes": self.cutoff_minutes,
                "extensions": [{"student": e.student, "deadline": _iso(e.deadline),
                                "days": e.days} for e in self.extensions]}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> LatePolicy:
        """Rebuild a policy from :meth:`to_dict` output (our own record)."""
        return cls(deadline=_time(data.get("deadline")), per=data.get("per", ""),
                   rate=float(data.get("rate", 0.0)), floor=float(data.get("floor", 0.0)),
                   grace_minutes=float(data.get("grace_minutes", 0.0)),
                   cutoff=_time(data.get("cutoff")), cutoff_minutes=data.get("cutoff_minutes"),
                   extensions=tuple(Extension(student=e["student"],
                                              deadline=_time(e.get("deadline")),
                                              days=float(e.get("days", 0.0)))
                                    for e in data.get("extensions", ())))


@dataclass(frozen=True, kw_only=True)
class SubmissionTime:
    """When a student's submission came in, as far as anything says, and from where."""

    student: str
    submitted_at: str = ""  # ISO 8601 with a UTC offset, or "" when nothing says
    marked_late: bool = False  # the LMS called it late (Canvas's _LATE_)
    source: str = ""  # "canvas", "git", "times.csv line 3"


def _iso(value: _dt.datetime | None) -> str:
    return "" if value is None else value.isoformat()


def _time(text: Any) -> _dt.datetime | None:
    return _dt.datetime.fromisoformat(text) if text else None


def parse_time(text: str, *, where: str) -> _dt.datetime:
    """An ISO 8601 date-time with its UTC offset; ``GraderError`` naming ``where`` if not."""
    try:
        value = _dt.datetime.fromisoformat(text.strip())
    except ValueError:
        raise GraderError(f"{where}: {text!r} is not an ISO 8601 date-time (write it as "
                          "2026-03-01T23:59:00+01:00)") from None
    if value.tzinfo is None:
        raise GraderError(f"{where}: {text!r} has no UTC offset; add one "
                          "(2026-03-01T23:59:00+01:00, or Z for UTC)")
    return value


# --------------------------------------------------------------------------- reading


def read_policy(reader: Reader, table: Mapping[str, Any]) -> LatePolicy:
    """The ``[late]`` table of the rubric ``reader`` reads, validated."""
    reader.keys(table, KEYS, where="[late]")
    deadline = _datetime(reader, table, "deadline")
    per = [u for u in UNIT_HOURS if f"penalty_per_{u}" in table]
    if len(per) > 1:
        raise reader.error("give one of penalty_per_day and penalty_per_hour",
                           key="late.penalty_per_hour")
    rate = 0.0
    if per:
        rate = reader.get(table, f"penalty_per_{per[0]}", float)
        if not (math.isfinite(rate) and 0 < rate <= 1):
            raise reader.error("must be a fraction of the maximum score, above 0 and at most 1",
                               key=f"late.penalty_per_{per[0]}", allowed="e.g. 0.1 for 10%")
    floor = reader.get(table, "floor", float, default=0.0)
    if not (math.isfinite(floor) and 0 <= floor <= 1):
        raise reader.error("must be a fraction of the maximum score from 0 to 1",
                           key="late.floor", allowed="e.g. 0.5: never below half")
    grace = _duration(reader, table, "grace") or 0.0
    cutoff_minutes = None
    cutoff = None
    if isinstance(table.get("cutoff"), str) and _DURATION.match(table["cutoff"]):
        cutoff_minutes = _duration(reader, table, "cutoff")
    else:
        cutoff = _datetime(reader, table, "cutoff")
    if (per or grace or cutoff_minutes is not None or "extensions" in table) and \
            deadline is None:
        raise reader.error("a late policy needs the deadline it counts from",
                           key="late.deadline", allowed="deadline = 2026-03-01T23:59:00+01:00")
    if cutoff is not None and deadline is not None and cutoff <= deadline:
        raise reader.error("the cutoff must come after the deadline", key="late.cutoff")
    extensions: tuple[Extension, ...] = ()
    if "extensions" in table:
        name = reader.get(table, "extensions", str, describe="a CSV file next to the rubric")
        extensions = read_extensions(Path(reader.path).parent / name, key="late.extensions",
                                     rubric=str(reader.path))
    return LatePolicy(deadline=deadline, per=per[0] if per else "", rate=rate, floor=floor,
                      grace_minutes=grace, cutoff=cutoff, cutoff_minutes=cutoff_minutes,
                      extensions=extensions)


def _datetime(reader: Reader, table: Mapping[str, Any], key: str) -> _dt.datetime | None:
    if key not in table:
        return None
    value = table[key]
    if isinstance(value, str):
        try:
            value = parse_time(value, where=f"late.{key}")
        except GraderError as exc:
            raise reader.error(str(exc), key=f"late.{key}") from None
    if not isinstance(value, _dt.datetime) or value.tzinfo is None:
        raise reader.error("must be a date-time with its UTC offset", key=f"late.{key}",
                           allowed="2026-03-01T23:59:00+01:00 (or Z for UTC)")
    return value


def _duration(reader: Reader, table: Mapping[str, Any], key: str) -> float | None:
    """Minutes, from ``"15m"``, ``"2h"`` or ``"1d"``."""
    if key not in table:
        return None
    value = table[key]
    m = _DURATION.match(value) if isinstance(value, str) else None
    if m is None:
        raise reader.error(f"{value!r} is not a duration", key=f"late.{key}",
                           allowed='a number and m, h or d: "15m", "2h", "1d"')
    return float(m.group("n")) * _UNIT_MINUTES[m.group("unit")[0]]


def read_extensions(path: Path, *, key: str, rubric: str) -> tuple[Extension, ...]:
    """The extensions CSV: columns ``student`` and ``deadline`` (ISO) or ``days``."""
    out: dict[str, Extension] = {}
    for where, row in _rows(path, ("deadline", "days"), f"{rubric}: {key} = {path.name!r}: "
                            f"cannot read {path}", fix="; the path is relative to the rubric"):
        student, deadline, days = row["student"], row["deadline"], row["days"]
        if not student or bool(deadline) == bool(days):
            raise GraderError(f"{where}: give a student and either a deadline or days")
        if student in out:
            raise GraderError(f"{where}: a second extension for {student!r}; keep one")
        if deadline:
            out[student] = Extension(student=student, deadline=parse_time(deadline, where=where))
            continue
        try:
            extra = float(days)
        except ValueError:
            raise GraderError(f"{where}: days {days!r} is not a number") from None
        if not (math.isfinite(extra) and extra > 0):
            raise GraderError(f"{where}: days must be more than 0")
        out[student] = Extension(student=student, days=extra)
    return tuple(out.values())


def read_times(path: Path) -> dict[str, SubmissionTime]:
    """``--submitted-at times.csv``: columns ``student`` and ``submitted_at`` (ISO 8601)."""
    out: dict[str, SubmissionTime] = {}
    for where, row in _rows(path, ("submitted_at",), f"--submitted-at {path}: cannot read it"):
        student, at = row["student"], row["submitted_at"]
        if not student or not at:
            raise GraderError(f"{where}: give a student and a submitted_at time")
        if student in out:
            raise GraderError(f"{where}: a second time for {student!r}; keep one")
        out[student] = SubmissionTime(student=student,
                                      submitted_at=parse_time(at, where=where).isoformat(),
                                      source=where.rsplit("/", 1)[-1])
    return out


def _rows(path: Path, columns: tuple[str, ...], unreadable: str, *, fix: str = ""
          ) -> list[tuple[str, dict[str, str]]]:
    """The non-blank rows of a TA's CSV with ``student`` and one of ``columns``, stripped."""
    try:
        text = Path(path).read_text("utf-8-sig")
    except (OSError, UnicodeDecodeError) as exc:
        raise GraderError(f"{unreadable} ({exc}){fix}") from None
    reader = csv.DictReader(io.StringIO(text, newline=""))
    header = [h for h in reader.fieldnames or () if h]
    if "student" not in header or not set(header) & set(columns):
        raise GraderError(f"{path}: the header needs student and {' or '.join(columns)} "
                          f"(got {', '.join(header) or 'nothing'})")
    out = []
    for row in reader:
        values = {k: (row.get(k) or "").strip() for k in ("student", *columns)}
        if any(values.values()):
            out.append((f"{path} line {reader.line_num}", values))
    return out


# --------------------------------------------------------------------------- applying


def apply_late(result: SubmissionResult, policy: LatePolicy | None,
               time: SubmissionTime | None) -> SubmissionResult:
    """``result`` with its submission time, whether it was late, and the policy's penalty.

    Late means after the student's deadline and its grace period, when the time is
    known; else what the LMS marked. A late submission without a time gets no penalty
    (nothing says how late), and its ``late_penalty`` says so.
    """
    at = _time(time.submitted_at) if time is not None and time.submitted_at else None
    marked = time is not None and time.marked_late
    deadline = policy.deadline_of(result.student) if policy is not None else None
    if at is None or deadline is None:
        late = marked
        hours = 0.0
    else:
        hours = (at - deadline).total_seconds() / 3600
        late = hours * 60 > (policy.grace_minutes if policy is not None else 0.0)
    dated = replace(result, submitted_at=at.isoformat() if at is not None else "", late=late)
    if policy is None or not late or not (policy.per or policy.cutoff_of(result.student)):
        return dated
    base = LatePenalty(score_before=result.score, penalty=0.0, hours_late=round(hours, 4),
                       deadline=_iso(deadline), per=policy.per, rate=policy.rate,
                       floor=policy.floor, grace_minutes=policy.grace_minutes,
                       cutoff=_iso(policy.cutoff_of(result.student)), reason="no_time")
    if at is None:
        return replace(dated, late_penalty=base)
    cutoff = policy.cutoff_of(result.student)
    if cutoff is not None and at > cutoff:
        after = 0.0
        reason = "cutoff"
    else:
        units = math.ceil(hours / UNIT_HOURS[policy.per] - 1e-9) if policy.per else 0
        keep = min(result.score, policy.floor * result.max_score)
        after = max(result.score - units * policy.rate * result.max_score, keep)
        reason = "penalty"
    after = round(after, 6)
    return replace(dated, score=after, late_penalty=replace(
        base, penalty=round(result.score - after, 6), reason=reason))
