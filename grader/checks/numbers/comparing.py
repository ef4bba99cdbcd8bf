"""Comparing a value by its kind: dicts by key, tuples and lists by element, arrays, numbers."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from grader.checks import Comparison
from grader.checks.common import _format, _scalar, _short_text
from grader.checks.numbers.arrays import _close, _compare_arrays, _same_kind
from grader.checks.numbers.display import _describe_for_numbers
from grader.checks.numbers.reading import (
    _is_array_like,
    _is_matrix,
    _NotNumbers,
    _parse_text,
    _received_array,
    _to_array,
)
from grader.checks.numbers.rule import _Tol
from grader.checks.numbers.scalars import _compare_scalar
from grader.messages import joined, say


def _compare(expected: Any, received: Any, tol: _Tol) -> Comparison:
    if isinstance(expected, Mapping):
        return _compare_dict(expected, received, tol)
    if _is_multi(expected):
        return _compare_multi(expected, received, tol)
    if isinstance(expected, str):
        if isinstance(received, str) and received == expected:
            return Comparison(equal=True)
        return Comparison(equal=False, message=say(
            "check.num.expected_described", expected=_format(expected, 0),
            got=_describe_for_numbers(received)))
    if expected is None:
        ok = received is None
        return Comparison(equal=ok, message="" if ok else say(
            "check.num.expected_described", expected="None",
            got=_describe_for_numbers(received)))
    if _is_array_like(expected):
        return _compare_array(expected, received, tol)
    e_scalar = _scalar(expected)
    if e_scalar is not None:
        return _compare_scalar(e_scalar, expected, received, tol)
    if isinstance(expected, set | frozenset):
        return Comparison(equal=None, message=say("check.num.set_expected"))
    return Comparison(equal=None, message=say("check.num.cannot_compare",
                                              type=type(expected).__name__))


def _compare_dict(expected: Mapping[Any, Any], received: Any, tol: _Tol) -> Comparison:
    if not isinstance(received, Mapping):
        keys = ", ".join(repr(k) for k in list(expected)[:8])
        return Comparison(equal=False, message=say("check.num.dict_got", keys=keys,
                                                   got=_describe_for_numbers(received)))
    missing = [k for k in expected if k not in received]
    extra = [k for k in received if k not in expected]
    wrong: list[tuple[Any, Comparison]] = []
    undecided: list[tuple[Any, Comparison]] = []
    for key in expected:
        if key in received:
            c = _compare(expected[key], received[key], tol)
            if c.equal is False:
                wrong.append((key, c))
            elif c.equal is None:
                undecided.append((key, c))
    if not (missing or extra or wrong):
        if undecided:
            key, c = undecided[0]
            return Comparison(equal=None, message=say("check.num.at_key", key=repr(key),
                                                      detail=c.message))
        return Comparison(equal=True)
    parts = []
    if missing:
        parts.append(say("check.num.missing_keys", keys=", ".join(repr(k) for k in missing)))
    if extra:
        parts.append(say("check.num.extra_keys", keys=", ".join(repr(k) for k in extra)))
    if wrong:
        parts.append(say("check.num.wrong_keys", keys=", ".join(repr(k) for k, _ in wrong)))
    message = joined(parts)
    hint = ""
    if wrong:
        key, c = wrong[0]
        message = say("check.num.with_key_detail", summary=message, key=repr(key),
                      detail=c.message)
        hint = c.hint
    elif missing and extra and len(missing) == len(extra):
        hint = say("check.num.keys_renamed")
    return Comparison(equal=False, message=message, hint=hint)


def _is_multi(value: Any) -> bool:
    """A tuple holding containers: several return values, compared element by element."""
    return isinstance(value, tuple) and any(
        isinstance(v, list | tuple | Mapping) or (isinstance(v, np.ndarray) and v.ndim > 0)
        or _is_matrix(v) for v in value)


def _as_sequence(value: Any) -> list[Any] | None:
    if isinstance(value, list | tuple):
        return list(value)
    if isinstance(value, np.ndarray) and value.ndim > 0:
        return list(value)
    return None


def _compare_multi(expected: tuple[Any, ...], received: Any, tol: _Tol) -> Comparison:
    items = _as_sequence(received)
    if items is None:
        return Comparison(equal=False, message=say("check.num.tuple_got", n=len(expected),
                                                   got=_describe_for_numbers(received)))
    if len(items) != len(expected):
        return Comparison(equal=False, message=say("check.num.tuple_length", n=len(expected),
                                                   got=len(items)))
    undecided = None
    for i, (e, a) in enumerate(zip(expected, items, strict=True)):
        c = _compare(e, a, tol)
        if c.equal is False:
            return Comparison(equal=False, hint=c.hint, message=say(
                "check.num.tuple_element", index=i, detail=c.message))
        if c.equal is None and undecided is None:
            undecided = Comparison(equal=None, message=say(
                "check.num.tuple_element", index=i, detail=c.message))
    return undecided or Comparison(equal=True)


def _compare_array(expected: Any, received: Any, tol: _Tol) -> Comparison:
    try:
        e_arr = _to_array(expected, "expected", bools=tol.bool_as_number)
    except _NotNumbers:
        # A ragged or mixed expected list (trusted): compare element by element.
        return _compare_list(list(expected), received, tol)
    if isinstance(received, str):
        try:
            parsed = _parse_text(received)
        except _NotNumbers as exc:
            return Comparison(equal=False, message=say(
                "check.num.shape_got_text", shape=e_arr.shape, text=_short_text(received),
                why=exc.why))
        received = parsed
    try:
        a_arr = _received_array(received, bools=tol.bool_as_number)
    except _NotNumbers as exc:
        return Comparison(equal=False, message=say("check.num.shape_got", shape=e_arr.shape,
                                                   got=exc.why))
    return _compare_arrays(e_arr, a_arr, tol)


def _compare_list(expected: list[Any], received: Any, tol: _Tol) -> Comparison:
    items = _as_sequence(received)
    if items is None or len(items) != len(expected):
        return Comparison(equal=False, message=say("check.num.list_got", n=len(expected),
                                                   got=_describe_for_numbers(received)))
    for i, (e, a) in enumerate(zip(expected, items, strict=True)):
        c = _compare(e, a, tol)
        if not c.equal:
            return Comparison(equal=c.equal, hint=c.hint, message=say(
                "check.num.at_index", index=i, detail=c.message))
    return Comparison(equal=True)


# --------------------------------------------------------------------------- partial credit


def _share(expected: Any, received: Any, tol: _Tol) -> float:
    """The share of keys or elements that match (0 when the shapes do not)."""
    if isinstance(expected, Mapping):
        if not isinstance(received, Mapping):
            return 0.0
        keys = list(expected) + [k for k in received if k not in expected]
        good = sum(1 for k in expected
                   if k in received and _safe_equal(expected[k], received[k], tol))
        return good / len(keys) if keys else 0.0
    if _is_multi(expected):
        items = _as_sequence(received)
        if items is None or len(items) != len(expected):
            return 0.0
        good = sum(1 for e, a in zip(expected, items, strict=True) if _safe_equal(e, a, tol))
        return good / len(expected) if len(expected) else 0.0
    try:
        e_arr = _to_array(expected, "expected")
        a_arr = _received_array(received)
        e_arr, a_arr = _same_kind(e_arr, a_arr, tol)
    except _NotNumbers:
        return 0.0
    if e_arr.shape != a_arr.shape or e_arr.size == 0 or (
            (e_arr.dtype.kind == "b") != (a_arr.dtype.kind == "b")):
        return 0.0
    return float(np.mean(_close(e_arr, a_arr, tol)))


def _safe_equal(expected: Any, received: Any, tol: _Tol) -> bool:
    try:
        return _compare(expected, received, tol).equal is True
    except Exception:  # only used for counting; a failure counts as wrong
        return False
