"""Grades back into an LMS: what the LMS formats of :mod:`grader.export` share.

Who a graded student is in the LMS (:func:`identity`): the roster's ``lms_id`` and
``email`` when a roster was given, else the Canvas user id in the submission's file name
(``lastfirst_12345_678901_hw3.ipynb``: 12345), and the note on text answers not graded
yet (:func:`pending_note`). An export tells what it could not match through its options'
``notify`` (:class:`grader.export_format.ExportOptions`); points are written as the
grader writes them everywhere (two decimals at most: :func:`grader.points.format_points`).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from grader.layouts import CANVAS
from grader.results import SubmissionResult
from grader.roster import Roster


@dataclass(frozen=True, kw_only=True)
class Identity:
    """How a graded student may be known to the LMS; empty strings where unknown."""

    student: str
    lms_id: str = ""  # Canvas user id (the roster's lms_id, else from the file name)
    email: str = ""
    name: str = ""


def file_lms_id(submission: str) -> str:
    """The Canvas user id in a submission's recorded file name, or "".

    The file is the last part of ``canvas.zip!lastfirst_12345_678901_hw3.ipynb`` or of a
    path; Canvas puts the user id first of its two numbers.
    """
    name = re.split(r"[!/\\]", submission)[-1]
    found = CANVAS.match(name)
    return found.group("num") if found else ""


def identity(result: SubmissionResult, roster: Roster | None) -> Identity:
    """Who ``result``'s student is in the LMS: the roster's ids first, else the file name's."""
    entry = roster.entry(result.student) if roster is not None else None
    lms_id = (entry.lms_id if entry is not None else "") or file_lms_id(result.submission)
    return Identity(student=result.student, lms_id=lms_id,
                    email=entry.email if entry is not None else "",
                    name=entry.name if entry is not None else "")


def pending_note(results: list[SubmissionResult]) -> str:
    """A note naming the students whose text answers a TA has not graded yet, or ""."""
    waiting = sorted(r.student for r in results if r.pending_manual)
    if not waiting:
        return ""
    return (f"{len(waiting)} student(s) have text answers not yet graded; their grade leaves "
            f"those points out: {', '.join(waiting)}")
