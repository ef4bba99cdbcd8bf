"""Math syntax for typed answers: ``^`` as a power and implicit products, rewritten as Python.

The rewrite works on tokens and keeps, per character, where it came from in the original,
so that errors found in the rewritten text still point into what the student typed.
"""

from __future__ import annotations

import keyword
import re

_MATH_TOKEN = re.compile(
    r"(?P<number>(?:\d[\d_]*(?:\.[\d_]*)?|\.\d[\d_]*)(?:[eE][-+]?\d+)?)"
    r"|(?P<name>[^\W\d]\w*)"
    r"|(?P<space>\s+)"
    r"|(?P<other>\*\*|.)",
    re.DOTALL,
)


def _rewrite_math(text: str) -> tuple[str, list[int]]:
    """Rewrite math syntax as Python: ``^`` -> ``**``, implicit products get ``*``.

    Works on tokens, so digits inside names (``beta1``) are never split. Returns the new
    text and, per character, its position in the original.
    """
    out: list[str] = []
    origin: list[int] = []
    previous: tuple[str, str] | None = None  # (kind, text) of the last non-space token
    for match in _MATH_TOKEN.finditer(text):
        kind = match.lastgroup or "other"
        token = match.group()
        start = match.start()
        if kind == "space":
            out.append(token)
            origin.extend(range(start, match.end()))
            continue
        if previous is not None and _implicit_product(previous, (kind, token)):
            out.append("*")
            origin.append(start)
        if token == "^":
            token = "**"
            origin.extend((start, start))
        else:
            origin.extend(range(start, match.end()))
        out.append(token)
        previous = (kind, token)
    origin.append(len(text))
    return "".join(out), origin


def _implicit_product(left: tuple[str, str], right: tuple[str, str]) -> bool:
    """Whether math syntax reads ``left right`` as ``left * right``."""
    left_kind, left_text = left
    right_kind, right_text = right
    if keyword.iskeyword(left_text) or keyword.iskeyword(right_text):
        return False
    if left_kind == "number":
        return right_kind == "name" or right_text == "("
    if left_text == ")":
        return right_kind == "name" or right_text == "("
    if left_kind == "name":  # 'x y'; a name before '(' stays a function call
        return right_kind == "name"
    return False
