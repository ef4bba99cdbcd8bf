"""The table of check kinds: a kind's name in a rubric, and the object that is the kind.

Adding a kind is one module under ``grader/checks/`` with a :class:`CheckKind` (most
easily a :class:`~grader.checks.protocol.BaseKind` subclass) and one line here; see
``docs/extending.md``. Kind modules are light to import: a kind that needs a heavy
library (sympy) imports it when it first grades.
"""

from __future__ import annotations

from typing import Any

from grader.checks import digest, format, function, manual, numeric, property, symbolic
from grader.checks.protocol import OLD_VISIBILITY, VISIBILITIES, CheckKind, CheckSpec

KINDS: dict[str, CheckKind] = {
    "numeric": numeric.KIND,
    "symbolic": symbolic.KIND,
    "function": function.KIND,
    "property": property.KIND,
    "manual": manual.KIND,
    # What a student bundle checks in place of the above (grader.checks.public).
    "format": format.KIND,
    "digest": digest.KIND,
}


def kind_of(check: CheckSpec | str) -> CheckKind:
    """The kind of a check (or of a kind's name); the loader has vetted the name."""
    name = check if isinstance(check, str) else check.kind
    try:
        return KINDS[name]
    except KeyError:  # the rubric loader refuses unknown kinds; reaching here is our bug
        raise ValueError(f"unknown check kind {name!r}") from None


def make_check(kind: str, *, answer: str, weight: float = 1.0, visible: bool | None = None,
               visibility: str | None = None, feedback: str | None = None,
               public: str | None = None, **options: Any) -> CheckSpec:
    """A check built in code (tests, tools): its kind's options given as keywords.

    Unlike the rubric loader this does not validate values; it refuses only options the
    kind does not have. ``visible``/``visibility`` read as in an old rubric.
    """
    found = kind_of(kind)
    if visibility is None:
        visibility = "visible" if visible in (None, True) else "hidden"
    if visibility not in OLD_VISIBILITY:
        raise ValueError(f"visibility {visibility!r}: one of {', '.join(VISIBILITIES)}")
    old_feedback, _, old_public = OLD_VISIBILITY[visibility]
    return CheckSpec(answer=answer, kind=kind, weight=weight,
                     feedback=feedback or old_feedback, visibility=visibility,
                     public=public or old_public or found.public_modes[0],
                     options=found.options_type(**options))
