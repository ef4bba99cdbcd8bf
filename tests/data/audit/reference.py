"""Reference of the audit's small rubric (tests/test_audit.py): trusted staff code."""

import math

_SIDES = 4


def area(r: float) -> float:
    """The area of a disc of radius r."""
    return math.pi * r**2


def _step(i: int) -> int:
    return i + 1


def count_up(n: int) -> int:
    """n, counted one step at a time (a mutant that steps backwards never ends)."""
    i = 0
    while i < n:
        i = _step(i)
    return i


corners = _SIDES * 2 + 0


def mistake_area_no_square(r: float) -> float:
    """pi * r: the square forgotten."""
    return math.pi * r
