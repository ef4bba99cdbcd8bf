"""Answer checks: one module per kind, each holding a :class:`CheckKind`, in one registry.

A check never raises for a wrong, missing or malformed answer: it returns a
:class:`~grader.results.CheckResult`. The protocol and the data every kind shares are in
:mod:`grader.checks.protocol`; the table of kinds is :mod:`grader.checks.registry`;
options shared by several kinds are in :mod:`grader.checks.options`.
"""

from __future__ import annotations

from grader.checks.protocol import (
    BaseKind,
    CallPlan,
    CheckKind,
    CheckSpec,
    Comparison,
    Evidence,
    Frozen,
    KindOptions,
    Need,
    Stub,
    absent_result,
    make_result,
)

__all__ = [
    "BaseKind",
    "CallPlan",
    "CheckKind",
    "CheckSpec",
    "Comparison",
    "Evidence",
    "Frozen",
    "KindOptions",
    "Need",
    "Stub",
    "absent_result",
    "make_result",
]
