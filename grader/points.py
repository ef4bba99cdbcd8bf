"""How points read, wherever a person sees them: pages, CSV files, tables and log lines.

One rounding for all of them, so that a student's page, the gradebook CSV and the
terminal never show the same points two ways.
"""

from __future__ import annotations

DECIMALS = 2


def format_points(value: float) -> str:
    """Points rounded to two decimals, without trailing zeros: ``2``, ``0.5``, ``0.33``."""
    text = f"{value:.{DECIMALS}f}".rstrip("0").rstrip(".")
    return "0" if text in ("", "-0") else text
