"""The words a symbolic check's options may use: the rubric reads them, the engine obeys them.

Light on purpose (no sympy): the rubric loader validates options against these lists,
and :mod:`grader.checks.algebra` checks the same lists when it builds a comparison.
"""

from __future__ import annotations

# "complex" is what an undeclared symbol already is (sympy's default), said explicitly.
ASSUMPTIONS = ("real", "positive", "negative", "nonnegative", "nonpositive", "nonzero",
               "integer", "complex")
FORMS = ("factored", "expanded", "no_derivative")
INPUT_SYNTAXES = ("python", "math")
COMPARE_MODES = ("system",)


def assumptions_problem(words: list[str] | tuple[str, ...]) -> str:
    """Why a set of assumption words contradicts itself ("" when it does not)."""
    given = set(words)
    plus, minus = given & {"positive", "nonnegative"}, given & {"negative", "nonpositive"}
    if plus and minus and not (plus == {"nonnegative"} and minus == {"nonpositive"}):
        return "contradictory signs"
    if {"nonzero", "nonnegative", "nonpositive"} <= given:
        return "nonzero contradicts nonnegative and nonpositive (which mean zero)"
    return ""
