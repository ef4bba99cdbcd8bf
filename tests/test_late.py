"""Late work: the rubric's [late] policy, read and validated, and the penalty it gives."""

from __future__ import annotations

import datetime as dt
import textwrap
from pathlib import Path

import pytest

from grader.errors import GraderError, RubricError
from grader.late import LatePolicy, SubmissionTime, apply_late, read_times
from grader.results import SubmissionResult
from grader.rubric import load_rubric

RUBRIC = """
[assignment]
id = "t"

[[questions]]
id = "q1"
points = 10
  [[questions.checks]]
  answer = "x"
  kind = "numeric"
  value = 1
"""
UTC = dt.UTC
DEADLINE = dt.datetime(2026, 3, 1, 23, 59, tzinfo=UTC)


def _rubric(tmp_path: Path, late: str) -> object:
    path = tmp_path / "r.toml"
    path.write_text(RUBRIC + "\n[late]\n" + textwrap.dedent(late))
    return load_rubric(path)


def test_a_policy_is_read_with_its_extensions(tmp_path):
    (tmp_path / "ext.csv").write_text("student,deadline,days\nann,2026-03-04T12:00:00Z,\n"
                                      "ben,,2\n")
    rubric = _rubric(tmp_path, """
        deadline = 2026-03-01T23:59:00Z
        penalty_per_day = 0.1
        floor = 0.5
        grace = "15m"
        cutoff = "7d"
        extensions = "ext.csv"
    """)
    policy = rubric.late
    assert (policy.per, policy.rate, policy.floor, policy.grace_minutes, policy.cutoff_minutes) \
        == ("day", 0.1, 0.5, 15.0, 7 * 1440.0)
    assert policy.deadline_of("ann") == dt.datetime(2026, 3, 4, 12, tzinfo=UTC)
    assert policy.deadline_of("ben") == DEADLINE + dt.timedelta(days=2)
    assert policy.deadline_of("cat") == DEADLINE
    assert policy.cutoff_of("ben") == DEADLINE + dt.timedelta(days=9)
    assert LatePolicy.from_dict(policy.to_dict()) == policy


@pytest.mark.parametrize(("late", "key", "words"), [
    ('deadline = 2026-03-01T23:59:00\npenalty_per_day = 0.1', "late.deadline", "UTC offset"),
    ('penalty_per_day = 0.1', "late.deadline", "needs the deadline"),
    ('deadline = 2026-03-01T23:59:00Z\npenalty_per_day = 0.1\npenalty_per_hour = 0.01',
     "late.penalty_per_hour", "one of"),
    ('deadline = 2026-03-01T23:59:00Z\npenalty_per_day = 2', "late.penalty_per_day", "fraction"),
    ('deadline = 2026-03-01T23:59:00Z\ngrace = "soon"', "late.grace", "not a duration"),
    ('deadline = 2026-03-01T23:59:00Z\ncutoff = 2026-02-01T00:00:00Z', "late.cutoff", "after"),
    ('deadline = 2026-03-01T23:59:00Z\nfloor = -1', "late.floor", "fraction"),
    ('deadline = 2026-03-01T23:59:00Z\nper_day = 0.1', "per_day", "unknown key"),
])
def test_a_bad_policy_names_its_key(tmp_path, late, key, words):
    with pytest.raises(RubricError) as err:
        _rubric(tmp_path, late)
    assert err.value.key == key and words in str(err.value)


def test_a_missing_extensions_file_names_the_rubric_and_the_key(tmp_path):
    with pytest.raises(GraderError, match=r"r\.toml: late\.extensions = 'nope\.csv'"):
        _rubric(tmp_path, 'deadline = 2026-03-01T23:59:00Z\nextensions = "nope.csv"')


def test_the_late_table_is_not_part_of_the_digest(tmp_path):
    one = _rubric(tmp_path, 'deadline = 2026-03-01T23:59:00Z\npenalty_per_day = 0.1')
    two = _rubric(tmp_path, 'deadline = 2026-03-02T23:59:00Z\npenalty_per_hour = 0.01')
    (tmp_path / "r.toml").write_text(RUBRIC.replace("points = 10", "points = 9"))
    assert one.digest == two.digest != load_rubric(tmp_path / "r.toml").digest


def _result(score: float = 8.0) -> SubmissionResult:
    return SubmissionResult(student="ann", submission="ann.ipynb", score=score,
                            max_score=10.0, questions=())


POLICY = LatePolicy(deadline=DEADLINE, per="day", rate=0.1, floor=0.5, grace_minutes=15,
                    cutoff_minutes=3 * 1440.0)


def _at(**delta: float) -> SubmissionTime:
    return SubmissionTime(student="ann",
                          submitted_at=(DEADLINE + dt.timedelta(**delta)).isoformat())


# (time, score, expected: late, score after, penalty, hours late, reason)
@pytest.mark.parametrize(("time", "score", "expected"), [
    (_at(hours=-1), 8.0, (False, 8.0, None, None, None)),
    (_at(minutes=10), 8.0, (False, 8.0, None, None, None)),  # within the grace period
    (_at(minutes=20), 8.0, (True, 7.0, 1.0, 0.3333, "penalty")),  # a started day: 10% of 10
    (_at(hours=24), 8.0, (True, 7.0, 1.0, 24.0, "penalty")),
    (_at(hours=25), 8.0, (True, 6.0, 2.0, 25.0, "penalty")),
    (_at(hours=60), 8.0, (True, 5.0, 3.0, 60.0, "penalty")),  # 8 - 3 = 5, the floor
    (_at(hours=60), 7.0, (True, 5.0, 2.0, 60.0, "penalty")),  # 7 - 3 = 4, floored at 5
    (_at(hours=60), 4.0, (True, 4.0, 0.0, 60.0, "penalty")),  # below the floor: kept
    (_at(hours=73), 8.0, (True, 0.0, 8.0, 73.0, "cutoff")),
    (SubmissionTime(student="ann", marked_late=True), 8.0, (True, 8.0, 0.0, 0.0, "no_time")),
    (None, 8.0, (False, 8.0, None, None, None)),
])
def test_the_penalty_per_started_day_with_floor_grace_and_cutoff(time, score, expected):
    r = apply_late(_result(score), POLICY, time)
    lp = r.late_penalty
    got = (r.late, r.score, lp and lp.penalty, lp and lp.hours_late, lp and lp.reason)
    assert got == expected
    if lp is not None:
        assert lp.score_before == score == r.score_before_late
        assert SubmissionResult.from_dict(r.to_dict()) == r


def test_per_hour_and_an_extension():
    policy = LatePolicy(deadline=DEADLINE, per="hour", rate=0.01)
    r = apply_late(_result(), policy, _at(hours=2, minutes=30))
    assert (r.score, r.late_penalty.penalty) == (7.7, 0.3)
    later = LatePolicy.from_dict({**policy.to_dict(),
                                  "extensions": [{"student": "ann", "days": 1}]})
    assert apply_late(_result(), later, _at(hours=2, minutes=30)).late is False


def test_without_a_penalty_the_time_and_the_mark_are_recorded():
    r = apply_late(_result(), LatePolicy(deadline=DEADLINE), _at(hours=2))
    assert (r.late, r.score, r.late_penalty, r.submitted_at) == (
        True, 8.0, None, "2026-03-02T01:59:00+00:00")
    assert apply_late(_result(), None, SubmissionTime(student="ann", marked_late=True)).late


def test_times_csv(tmp_path):
    path = tmp_path / "times.csv"
    path.write_text("student,submitted_at\nann,2026-03-02T10:00:00+01:00\n\n")
    assert read_times(path)["ann"].submitted_at == "2026-03-02T10:00:00+01:00"
    path.write_text("student,submitted_at\nann,2026-03-02 10:00\n")
    with pytest.raises(GraderError, match=r"times\.csv line 2: .* no UTC offset"):
        read_times(path)
    path.write_text("student,when\nann,x\n")
    with pytest.raises(GraderError, match="needs student and submitted_at"):
        read_times(path)
