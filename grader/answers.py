"""What crosses over from the kernel for an answer, besides plain decoded data.

:data:`MISSING` (the name is not defined), :class:`Rejected` (it could not be brought
over safely), :class:`CallableAnswer` (a function: only its name crossed over) and, for
each call of a student's function, a :class:`CallOutcome`. The kernel side writes these,
the checks read them; neither imports the other.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


class _Missing:
    """The answer's name is not defined by the submission."""

    _instance: _Missing | None = None

    def __new__(cls) -> _Missing:
        if cls._instance is None:
            cls._instance = super().__new__(cls)
        return cls._instance

    def __repr__(self) -> str:
        return "MISSING"


MISSING = _Missing()


@dataclass(frozen=True)
class Rejected:
    """The answer exists but could not be brought over safely (type, size, malformed data)."""

    reason: str


@dataclass(frozen=True)
class CallableAnswer:
    """The answer is a callable in the kernel; only its name crossed over."""

    name: str
    signature: str = ""


@dataclass(frozen=True, kw_only=True)
class CallOutcome:
    """What one call of a student function in the kernel gave back.

    Exactly one of: ``value`` (decoded, may be :class:`Rejected`), ``error`` (the
    exception the call raised, as text), or ``timed_out``. A timed-out outcome carries
    the per-call ``limit`` that applied (seconds, the grader's own figure) and whether it
    was ``not_run``: skipped because an earlier call of the same check timed out.
    """

    value: Any = None
    error: str | None = None
    timed_out: bool = False
    not_run: bool = False
    limit: float | None = None
