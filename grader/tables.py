"""Read the tables of one TOML file, with errors that name the file, the question and the key.

The rubric loader and every check kind's option parser read through a :class:`Reader`,
so that each problem is a :class:`~grader.errors.RubricError` saying where it is and
what is allowed, whichever module found it.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from grader.errors import RubricError
from grader.literals import LITERAL_FORMS, literal_value

IDENT = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


class Reader:
    """Typed access to the tables of the TOML file at ``path``."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def error(self, message: str, *, question: str | None = None, key: str | None = None,
              allowed: str | None = None) -> RubricError:
        """A RubricError at this file (raise it)."""
        return RubricError(message, path=str(self.path), question=question, key=key,
                           allowed=allowed)

    def keys(self, table: Mapping[str, Any], allowed: tuple[str, ...], *, where: str,
             question: str | None = None) -> None:
        """Refuse a key of ``table`` that is not in ``allowed``."""
        for key in table:
            if key not in allowed:
                raise self.error(f"unknown key in {where}", question=question, key=key,
                                 allowed=", ".join(allowed))

    def get(self, table: Mapping[str, Any], key: str, kind: type | tuple[type, ...], *,
            question: str | None = None, required: bool = False, default: Any = None,
            describe: str | None = None) -> Any:
        """``table[key]`` checked to be of ``kind`` (an int is a float where floats go)."""
        if key not in table:
            if required:
                raise self.error("missing required key", question=question, key=key,
                                 allowed=describe)
            return default
        value = table[key]
        kinds = kind if isinstance(kind, tuple) else (kind,)
        # TOML booleans are ints to isinstance(); a rubric's `points = true` is a mistake.
        if isinstance(value, bool) and bool not in kinds:
            ok = False
        elif float in kinds and isinstance(value, int) and not isinstance(value, bool):
            value = float(value)
            ok = True
        else:
            ok = isinstance(value, kinds)
        if not ok:
            names = describe or " or ".join(k.__name__ for k in kinds)
            raise self.error(f"wrong type {type(value).__name__}", question=question, key=key,
                             allowed=names)
        return value

    def positive(self, table: Mapping[str, Any], key: str, *, question: str | None = None,
                 what: str = "a positive number") -> float | None:
        """An optional finite number > 0."""
        if key not in table:
            return None
        value = self.get(table, key, float, question=question)
        if not (math.isfinite(value) and value > 0):
            raise self.error(f"must be {what}", question=question, key=key)
        return float(value)

    def name(self, table: Mapping[str, Any], key: str, *, question: str | None = None,
             what: str = "a name in the reference module") -> str | None:
        """An optional Python identifier (a name the reference module defines)."""
        if key not in table:
            return None
        name = self.get(table, key, str, question=question)
        if not IDENT.match(name):
            raise self.error(f"{name!r} is not {what}", question=question, key=key)
        return str(name)

    def literal(self, raw: Any, question: str, key: str) -> Any:
        """A rubric literal (:func:`grader.literals.literal_value`)."""
        try:
            return literal_value(raw)
        except (ValueError, TypeError) as exc:
            raise self.error(f"not a valid literal: {exc}", question=question, key=key,
                             allowed=LITERAL_FORMS) from None
