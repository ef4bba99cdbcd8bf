"""Comparing numeric arrays entry by entry: shapes, closeness, hints, and the report's diff."""

from __future__ import annotations

from typing import Any

import numpy as np

from grader.checks import Comparison
from grader.checks.common import Number, _num, _scalar
from grader.checks.numbers.display import _index_text, _pair, _rows, _shape_text
from grader.checks.numbers.reading import _NotNumbers, _received_array, _to_array, squeezed
from grader.checks.numbers.rule import _Tol, _tol_of
from grader.checks.numbers.scalars import (
    _TIE,
    _exact_close,
    _is_nan,
    _numbers_equal,
    _rounded_equal,
)
from grader.messages import say

DIFF_MAX_ENTRIES = 200  # arrays up to this size get an entry-by-entry diff for the report


def array_diff(expected: Any, received: Any, **options: Any) -> dict[str, Any] | None:
    """Entry-by-entry display of two 1-D or 2-D arrays of up to 200 entries, for the report.

    ``{"expected": rows, "received": rows, "mismatch": [[i, j], ...]}``: rows are lists of
    display strings (a flat list for 1-D, where ``i`` is 0); ``mismatch`` lists the
    entries that differ under the options of :func:`compare` (empty when the shapes
    differ, since entries do not correspond). None when either side is not such an array.
    """
    try:
        if options.get("squeeze"):
            expected, received = squeezed(expected), squeezed(received)
        e = _to_array(expected, "expected")
        a = _received_array(received)
    except (_NotNumbers, TypeError, ValueError, OverflowError):
        return None
    if not all(1 <= arr.ndim <= 2 and 0 < arr.size <= DIFF_MAX_ENTRIES for arr in (e, a)):
        return None
    tol = _tol_of(options)
    mismatch: list[list[int]] = []
    if e.shape == a.shape:
        try:
            close = _close(*_same_kind(e, a, tol), tol)
        except _NotNumbers:
            close = np.zeros(e.shape, dtype=bool)
        for index in np.argwhere(~close):
            mismatch.append([0, int(index[0])] if e.ndim == 1 else [int(i) for i in index])
    return {"expected": _rows(e), "received": _rows(a), "mismatch": mismatch}


def _same_kind(e: np.ndarray, a: np.ndarray, tol: _Tol) -> tuple[np.ndarray, np.ndarray]:
    """Arrays ready to compare: bools as 0/1 when the check allows it, no unsigned ints."""

    def fix(arr: np.ndarray) -> np.ndarray:
        if arr.dtype.kind == "b" and tol.bool_as_number:
            return arr.astype(np.int64)
        if arr.dtype.kind == "u":  # negating or subtracting unsigned ints wraps around
            return arr.astype(np.int64 if arr.size == 0 or arr.max() < 2**62 else float)
        return arr

    return fix(e), fix(a)


def _compare_arrays(e: np.ndarray, a: np.ndarray, tol: _Tol) -> Comparison:
    e, a = _same_kind(e, a, tol)
    if e.shape != a.shape:
        hint = ""
        if a.ndim == 2 and a.T.shape == e.shape and _all_close(e, a.T, tol):
            hint = say("check.num.transposed")
        elif a.size == e.size and a.size > 1 and _all_close(e.ravel(), a.ravel(), tol):
            hint = say("check.num.shape_only")
        shapes = {"expected": _shape_text(e.shape), "got": _shape_text(a.shape)}
        return Comparison(equal=False, hint=hint or say("check.num.shape_instead", **shapes),
                          message=say("check.num.shape_expected", **shapes))
    if (e.dtype.kind == "b") != (a.dtype.kind == "b"):
        if e.dtype.kind == "b":
            return Comparison(equal=False, message=say("check.num.bools_got_numbers"))
        return Comparison(equal=False, message=say("check.num.numbers_got_bools"))
    if e.size == 0:
        return Comparison(equal=True)
    close = _close(e, a, tol)
    if bool(close.all()):
        return Comparison(equal=True)
    bad = np.argwhere(~close)
    first = tuple(int(i) for i in bad[0])
    where = _index_text(first)
    e_text, a_text = _pair(_scalar(e[first]), _scalar(a[first]))
    message = say("check.num.at_index_differs", index=where, expected=e_text, got=a_text)
    if not tol.equal_nan and any(_is_nan(v) for v in (_scalar(e[first]), _scalar(a[first]))
                                 if v is not None):
        message = say("check.num.nan_note", detail=message)
    if e.size > 1:
        message = say("check.num.entries_differ", wrong=len(bad), n=e.size, detail=message)
    return Comparison(equal=False, message=message, hint=_array_hint(e, a, tol))


def _close(e: np.ndarray, a: np.ndarray, tol: _Tol) -> np.ndarray:
    """Elementwise equality under the number rule (arrays of the same shape)."""
    shape = e.shape
    e, a = e.reshape(-1), a.reshape(-1)  # flat: 0-d arrays have no nonzero() to loop over
    if e.dtype.kind == "b" or a.dtype.kind == "b":
        return np.asarray(e == a).reshape(shape)
    if "O" in (e.dtype.kind, a.dtype.kind):
        # Exact numbers past int64 or a float's range: one by one, by the scalar rule.
        return np.array([_numbers_equal(_number(x), _number(y), tol)
                         for x, y in zip(e.tolist(), a.tolist(), strict=True)],
                        dtype=bool).reshape(shape)
    with np.errstate(all="ignore"):
        if e.dtype.kind in "iu" and not tol.given:
            return _exact_int_close(e, a).reshape(shape)
        ef = e.astype(complex if e.dtype.kind == "c" else float)
        af = a.astype(complex if a.dtype.kind == "c" else float)
        finite = np.isfinite(ef) & np.isfinite(af)
        same_inf = np.isinf(ef) & (af == ef)
        both_nan = (np.isnan(ef) & np.isnan(af)) if tol.equal_nan else np.zeros(e.shape, bool)
        if tol.rounding:
            ok = np.zeros(e.shape, dtype=bool)
            for i in np.flatnonzero(finite):
                ok[i] = _rounded_equal(_number(e[i]), _number(a[i]), tol)
            return np.asarray(ok | same_inf | both_nan).reshape(shape)
        diff = np.abs(af - ef)
        bound = tol.atol + tol.rtol * np.abs(ef)
        ok = finite & (diff <= bound)
        if ef.dtype.kind == "f" and af.dtype.kind == "f":
            # Entries on the boundary in binary are decided on their decimal values.
            near = finite & (bound > 0) & (np.abs(diff - bound) <= _TIE * bound)
            for i in np.flatnonzero(near):
                ok[i] = _exact_close(_number(e[i]), _number(a[i]), tol)
        return np.asarray(ok | same_inf | both_nan).reshape(shape)


def _number(value: Any) -> Number:
    number = _scalar(value)
    return 0 if number is None else number


def _exact_int_close(e: np.ndarray, a: np.ndarray) -> np.ndarray:
    if a.dtype.kind in "iu":
        return np.asarray(e == a)
    if a.dtype.kind == "c":
        real_ok = a.imag == 0
        a = a.real
    else:
        real_ok = np.ones(a.shape, dtype=bool)
    # Compare as integers: a float equals an int only if it is exactly integral, and
    # converting ints to float would merge neighbours above 2**53.
    ok = real_ok & np.isfinite(a) & (np.floor(a) == a) & (np.abs(a) < 2.0**63)
    a_int = np.where(ok, a, 0).astype(np.int64)
    return np.asarray(ok & (a_int == e))


def _all_close(e: np.ndarray, a: np.ndarray, tol: _Tol) -> bool:
    if e.shape != a.shape or e.dtype.kind == "b" or a.dtype.kind == "b":
        return False
    return bool(_close(e, a, tol).all())


def _array_hint(e: np.ndarray, a: np.ndarray, tol: _Tol) -> str:
    if e.dtype.kind in "bO" or a.dtype.kind in "bO":  # no hints for exact huge numbers
        return ""
    loose = _Tol(tol.rtol, tol.atol)  # hints use the float tolerance even for exact ints
    with np.errstate(all="ignore"):
        try:
            ef = e.astype(complex if e.dtype.kind == "c" else float)
            af = a.astype(complex if a.dtype.kind == "c" else float)
        except (OverflowError, TypeError, ValueError):  # exact numbers past a float's range
            return ""
        if not (np.isfinite(ef).all() and np.isfinite(af).all()):
            return ""
        nonzero = np.abs(ef) > tol.atol
        if nonzero.any() and _all_close(ef, -af, loose):
            return say("check.num.sign_flipped")
        if e.ndim == 2 and e.shape[0] == e.shape[1] and _all_close(ef, af.T, loose):
            return say("check.num.transposed")
        if int(nonzero.sum()) >= 2:
            i = np.unravel_index(int(np.argmax(np.abs(ef))), ef.shape)
            k = af[i] / ef[i]
            if np.isfinite(k) and abs(k) > 1e-12 and abs(abs(k) - 1) > 1e-9 and _all_close(
                    k * ef, af, loose):
                return say("check.num.constant_factor", factor=_num(_scalar(k) or 0))
        if e.ndim == 1 and e.size > 1 and _all_close(np.sort(ef.real), np.sort(af.real),
                                                      loose) and not np.iscomplexobj(ef):
            return say("check.num.reordered")
    return ""
