"""The number rule of one comparison: tolerances or rounding, special values, whole options."""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping
from typing import Any

DEFAULT_RTOL = 1e-6
DEFAULT_ATOL = 1e-9
MAX_ROUNDING_DIGITS = 50  # sigfigs and decimals above this are a rubric error


class _Tol:
    """The number rule of one comparison: tolerances or rounding, and the special values."""

    def __init__(self, rtol: float | None = None, atol: float | None = None, *,
                 sigfigs: int | None = None, decimals: int | None = None,
                 equal_nan: bool = False, bool_as_number: bool = False) -> None:
        self.sigfigs = sigfigs
        self.decimals = decimals
        self.rounding = sigfigs is not None or decimals is not None
        # Any option that says how close is close turns the exact-integer rule off.
        self.given = rtol is not None or atol is not None or self.rounding
        self.rtol = DEFAULT_RTOL if rtol is None else float(rtol)
        self.atol = DEFAULT_ATOL if atol is None else float(atol)
        self.equal_nan = equal_nan
        self.bool_as_number = bool_as_number

    def floats(self) -> _Tol:
        """The same rule without the exact-integer case (for scaled or negated values)."""
        out = _Tol(self.rtol, self.atol, sigfigs=self.sigfigs, decimals=self.decimals,
                   equal_nan=self.equal_nan, bool_as_number=self.bool_as_number)
        out.given = True
        return out


@dataclasses.dataclass(frozen=True)
class _Whole:
    """Options that apply to the value as a whole rather than number by number."""

    unordered: bool = False
    up_to_sign: bool = False
    up_to_scale: bool = False


def options_problem(*, rtol: Any = None, atol: Any = None, sigfigs: Any = None,
                    decimals: Any = None) -> str:
    """What is wrong with a set of number options ("" when nothing is)."""
    for name, value in (("rtol", rtol), ("atol", atol)):
        if value is not None and (isinstance(value, bool) or not isinstance(value, int | float)
                                  or not math.isfinite(value) or value < 0):
            return f"{name} must be a finite number >= 0"
    for name, value, low in (("sigfigs", sigfigs, 1), ("decimals", decimals, 0)):
        if value is not None and (isinstance(value, bool) or not isinstance(value, int)
                                  or not low <= value <= MAX_ROUNDING_DIGITS):
            return f"{name} must be an integer from {low} to {MAX_ROUNDING_DIGITS}"
    if sigfigs is not None and decimals is not None:
        return "give sigfigs or decimals, not both"
    if (sigfigs is not None or decimals is not None) and (rtol is not None or atol is not None):
        return "sigfigs and decimals replace rtol and atol; give one kind of rule"
    return ""


def _tol_of(options: Mapping[str, Any]) -> _Tol:
    return _Tol(options.get("rtol"), options.get("atol"), sigfigs=options.get("sigfigs"),
                decimals=options.get("decimals"), equal_nan=bool(options.get("equal_nan")),
                bool_as_number=bool(options.get("bool_as_number")))
