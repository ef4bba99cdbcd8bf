"""Display of symbolic values: message text, dict keys, and presentation MathML."""

from __future__ import annotations

import functools
from collections.abc import Mapping
from typing import Any

import numpy as np
import sympy as sp

from grader.answers import CallableAnswer
from grader.checks.algebra.cache import _structure
from grader.checks.common import _describe_plain, format_value
from grader.messages import say

MATHML_MAX_CHARS = 50_000  # longer MathML is left out (the report shows the text)


def _describe_for_expressions(value: Any) -> str:
    """Name what was received where an expression is expected ("None", "a 2x1 matrix", ...)."""
    plain = _describe_plain(value)
    if plain is not None:
        return plain
    if isinstance(value, CallableAnswer):
        return say("check.sym.a_function", name=value.name)
    if isinstance(value, bool | np.bool_):
        return say("check.sym.a_bool", value=bool(value))
    if isinstance(value, sp.MatrixBase):
        return say("check.sym.a_matrix", shape=_shape(value))
    if isinstance(value, np.ndarray):
        return say("check.num.array_of_shape", shape=value.shape)
    if isinstance(value, sp.Equality):
        return say("check.sym.the_equation", equation=_display(value))
    if isinstance(value, sp.Basic):
        return say("check.sym.sympy_typed", value=_display(value), type=type(value).__name__)
    return say("check.num.value_of_type", type=type(value).__name__)


def _display(value: Any, limit: int = 1000) -> str:
    """Display text: ``sympy.sstr`` for sympy objects, the numeric format otherwise."""
    try:
        if isinstance(value, Mapping):
            text = "{" + ", ".join(f"{_key(k)!r}: {_display(v, limit)}"
                                   for k, v in value.items()) + "}"
        elif isinstance(value, sp.Basic | sp.MatrixBase):
            key = _structure(value)
            text = (_printed(key, value, "text") if key is not None
                    else sp.sstr(value, order="none"))
        elif isinstance(value, str):
            text = value
        else:
            text = format_value(value)
    except Exception:  # display text must never break grading
        text = f"<{type(value).__name__}>"
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _shape(m: Any) -> str:
    return f"{m.shape[0]}x{m.shape[1]}"


def _key(key: Any) -> Any:
    """Dict keys as students write them: a sympy Symbol key counts as its name."""
    return key.name if isinstance(key, sp.Symbol) else key


# --------------------------------------------------------------------------- MathML


def mathml(value: Any) -> str | None:
    """Presentation MathML of a sympy value (a dict of them as a two-column table).

    None for anything else, or when sympy's printer fails or the markup is too long. The
    markup is not sanitised here: the report does that before showing it.
    """
    try:
        if isinstance(value, Mapping):
            rows = []
            for key, item in value.items():
                cell = mathml(item)
                if cell is None:
                    return None
                name = _xml_text(str(_key(key)))
                rows.append(f"<mtr><mtd><mtext>{name}</mtext></mtd><mtd><mo>:</mo></mtd>"
                            f"<mtd>{cell}</mtd></mtr>")
            text = f"<mtable>{''.join(rows)}</mtable>"
        elif isinstance(value, sp.Basic | sp.MatrixBase):
            text = _mathml_cached(_structure(value), value)
        else:
            return None
    except Exception:  # the printer is third-party code on odd input; the text suffices
        return None
    return text if len(text) <= MATHML_MAX_CHARS else None


def _mathml_cached(key: Any, value: Any) -> str:
    """sympy's presentation MathML, remembered by the value's structure."""
    if key is None:
        return str(sp.printing.mathml(value, printer="presentation", order="none"))
    return _printed(key, value, "mathml")


@functools.lru_cache(maxsize=2048)
def _printed_cached(key: Any, how: str) -> str:
    value = key[-1]  # ("sympy", type name, value) or ("matrix", value)
    if how == "mathml":
        return str(sp.printing.mathml(value, printer="presentation", order="none"))
    return str(sp.sstr(value, order="none"))


def _printed(key: Any, value: Any, how: str) -> str:
    """Printing is the slow part of a result: sympy's printers, cached by structure.

    ``order="none"`` prints terms in sympy's own stored order instead of sorting them
    again, which is deterministic for equal values and several times faster.
    """
    try:
        return _printed_cached(key, how)
    except TypeError:  # an unhashable part after all: print without the cache
        printer = sp.printing.mathml if how == "mathml" else sp.sstr
        return str(printer(value, order="none"))


def _xml_text(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
