"""Decode the kernel's tagged JSON into plain values, trusting nothing in it.

The counterpart of :mod:`grader.kernel.agent`. Everything here treats its input as
hostile: only known tags, bounded sizes, numeric dtypes only, and sympy objects rebuilt
by the whitelist parser :func:`grader.parse.parse_srepr`. Nothing is evaluated.
"""

from __future__ import annotations

import base64
import binascii
import functools
import math
import re
import time
from typing import Any

from grader.answers import MISSING, CallableAnswer, Rejected
from grader.errors import DecodeError, ParseError
from grader.kernel.wire import clean_text

_DTYPE = re.compile(r"^[<|]?(b1|[iu][1248]|f[248]|c(8|16))$")
_FLOAT = re.compile(r"^-?(nan|inf|\d+(\.\d*)?(e[-+]?\d+)?|\.\d+(e[-+]?\d+)?)$")
_MAX_DEPTH = 80
_MAX_INT_DIGITS = 4000
_MAX_NDIM = 32


class DecodeBudget:
    """What the grader spends decoding one submission's answers, across all of them.

    Each decoded value costs a node (a sympy text one more per call in it), its text and
    array data their bytes, and the grader's CPU time is looked at as it goes: once any
    runs out, the answer being decoded and every later one (the results of calls
    included) are "too large to grade". A kernel can send its own harvest, of anything
    its answers may hold; this keeps the cost of reading it, and of keeping what was
    read, bounded.
    """

    _EVERY = 256  # nodes between looks at the clock

    def __init__(self, *, nodes: int, seconds: float, nbytes: int | None = None) -> None:
        self.nodes = nodes
        self.seconds = seconds
        self.nbytes = nbytes
        self.spent = 0
        self.spent_bytes = 0
        self._started: float | None = None
        self._next_look = 0
        self.exhausted = ""

    def start(self) -> None:
        """Start the clock (the first decode does, if not called before)."""
        if self._started is None:
            self._started = time.thread_time()

    @property
    def cpu_seconds(self) -> float:
        """CPU time spent since :meth:`start`."""
        return 0.0 if self._started is None else time.thread_time() - self._started

    def spend(self, nodes: int = 1, nbytes: int = 0) -> None:
        """Count ``nodes`` and ``nbytes`` more; raise :class:`BudgetExhausted` once gone."""
        if self.exhausted:
            raise BudgetExhausted(self.exhausted)
        self.spent += nodes
        self.spent_bytes += nbytes
        if self.spent > self.nodes:
            self._exhaust(f"more than {self.nodes:,} values")
        if self.nbytes is not None and self.spent_bytes > self.nbytes:
            self._exhaust(f"more than {self.nbytes / 1_000_000:g} MB")
        if self.spent >= self._next_look:
            self._next_look = self.spent + self._EVERY
            if self.cpu_seconds > self.seconds:
                self._exhaust(f"more than {self.seconds:g} s of the grader's CPU time")

    def _exhaust(self, what: str) -> None:
        self.exhausted = (f"too large to grade: reading this submission's answers took {what} "
                          "(the grader's budget for them all)")
        raise BudgetExhausted(self.exhausted)


class BudgetExhausted(DecodeError):
    """The submission's :class:`DecodeBudget` ran out."""


def decode_answer(obj: Any, budget: DecodeBudget | None = None) -> Any:
    """Decode one harvested answer; malformed data gives :class:`Rejected`, never raises.

    With ``budget`` (one per submission), the values decoded are counted against it.
    """
    if budget is not None:
        budget.start()
    try:
        return _decode(obj, 0, budget)
    except DecodeError as exc:
        return Rejected(str(exc))
    except ParseError as exc:
        return Rejected(f"the sympy expression was refused: {exc}")
    except RecursionError:
        return Rejected("the value is nested too deeply")


def _decode(obj: Any, depth: int, budget: DecodeBudget | None = None) -> Any:
    if depth > _MAX_DEPTH:
        raise DecodeError("the value is nested too deeply")
    if budget is not None:
        budget.spend()
    if not isinstance(obj, dict) or not isinstance(obj.get("t"), str):
        raise DecodeError("malformed value from the kernel")
    t = obj["t"]
    if t == "none":
        return None
    if t == "missing":
        return MISSING
    if t == "bool":
        return _typed(obj, "v", bool)
    if t == "int":
        text = _typed(obj, "v", str)
        if len(text) > _MAX_INT_DIGITS or not re.fullmatch(r"-?\d+", text):
            raise DecodeError("an integer too large or malformed")
        return int(text)
    if t == "float":
        return _float(_typed(obj, "v", str))
    if t == "complex":
        return complex(_float(_typed(obj, "re", str)), _float(_typed(obj, "im", str)))
    if t == "str":
        # A lone surrogate cannot be written as UTF-8 (a page, a reply, the gradebook):
        # what came through the wire is already clean, a transcript read back may not be.
        text = clean_text(_typed(obj, "v", str))
        if budget is not None:
            budget.spend(0, len(text))
        return text
    if t in ("list", "tuple", "set"):
        items = [_decode(i, depth + 1, budget) for i in _typed(obj, "v", list)]
        if t == "list":
            return items
        if t == "tuple":
            return tuple(items)
        try:
            return frozenset(items)
        except TypeError:
            raise DecodeError("a set of unhashable items") from None
    if t == "dict":
        out: dict[Any, Any] = {}
        for pair in _typed(obj, "v", list):
            if not isinstance(pair, list) or len(pair) != 2:
                raise DecodeError("malformed dict item")
            key = _decode(pair[0], depth + 1, budget)
            try:
                out[key] = _decode(pair[1], depth + 1, budget)
            except TypeError:
                raise DecodeError("a dict key that cannot be hashed") from None
        return out
    if t == "ndarray":
        if budget is not None:
            budget.spend(0, len(_typed(obj, "data", str)) * 3 // 4)
        return _array(obj)
    if t == "objarray":
        return _object_array(obj, depth, budget)
    if t == "sympy":
        text = clean_text(_typed(obj, "srepr", str))
        if budget is not None:
            # Each call in the text builds a sympy object; parse_srepr bounds one text.
            budget.spend(text.count("("), len(text))
        return _srepr(text)
    if t == "callable":
        return CallableAnswer(clean_text(str(obj.get("name", ""))[:200]),
                              clean_text(str(obj.get("signature", ""))[:500]))
    if t == "rejected":
        reason = clean_text(str(obj.get("reason", "rejected in the kernel"))[:500])
        if depth:  # a part that cannot be read makes the whole answer unreadable
            raise DecodeError(reason)
        return Rejected(reason)
    if t == "unsupported":
        reason = f"values of type {str(obj.get('type', '?'))[:200]} cannot be graded"
        if depth:
            raise DecodeError(f"a part of the answer is not plain data: {reason}")
        return Rejected(reason)
    raise DecodeError(f"unknown tag {t[:40]!r}")


_MAX_CACHED_SREPR = 8_000  # characters: a course's many equal answers, not one huge one


def _srepr(text: str) -> Any:
    """The sympy object of ``text``: one parse for the many students who wrote the same."""
    if len(text) > _MAX_CACHED_SREPR:
        from grader.parse import parse_srepr

        return parse_srepr(text)
    return _cached_srepr(text)


@functools.lru_cache(maxsize=512)
def _cached_srepr(text: str) -> Any:
    # sympy objects are immutable, so one student's parse is the same value as another's
    # own; a text that is refused raises each time (exceptions are not cached).
    from grader.parse import parse_srepr

    return parse_srepr(text)


def _typed(obj: dict[str, Any], key: str, kind: type) -> Any:
    value = obj.get(key)
    if not isinstance(value, kind):
        raise DecodeError(f"malformed {obj.get('t')!s:.20} value")
    return value


def _float(text: str) -> float:
    if not _FLOAT.match(text.lower()):
        raise DecodeError("a malformed float")
    return float(text)


def _shape(obj: dict[str, Any]) -> tuple[int, ...]:
    shape = _typed(obj, "shape", list)
    if len(shape) > _MAX_NDIM or not all(
            isinstance(n, int) and not isinstance(n, bool) and n >= 0 for n in shape):
        raise DecodeError("a malformed array shape")
    return tuple(shape)


def _array(obj: dict[str, Any]) -> Any:
    import numpy as np

    dtype_text = _typed(obj, "dtype", str)
    if not _DTYPE.match(dtype_text):
        raise DecodeError(f"arrays of dtype {dtype_text[:20]!r} cannot be graded")
    dtype = np.dtype(dtype_text)
    shape = _shape(obj)
    try:
        data = base64.b64decode(_typed(obj, "data", str), validate=True)
    except (binascii.Error, ValueError):
        raise DecodeError("malformed array data") from None
    if len(data) != math.prod(shape) * dtype.itemsize:
        raise DecodeError("array data does not match its shape")
    return np.frombuffer(data, dtype=dtype).reshape(shape).copy()


def _object_array(obj: dict[str, Any], depth: int, budget: DecodeBudget | None) -> Any:
    import numpy as np

    shape = _shape(obj)
    items = [_decode(i, depth + 1, budget) for i in _typed(obj, "v", list)]
    if len(items) != math.prod(shape):
        raise DecodeError("array data does not match its shape")
    arr = np.empty(len(items), dtype=object)
    arr[:] = items
    return arr.reshape(shape)
