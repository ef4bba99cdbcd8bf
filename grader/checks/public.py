"""What a student bundle may check before the deadline, derived so that it reveals no answer.

A check's ``public`` setting says what ``grader release`` writes for it into the public
rubric (the full rubric's expectations never go there):

``format`` (the default)
    the form of the reference's answer, not its value: the type, an array's shape, a
    dict's keys, the free symbols of an expression, that a value is finite, that a
    function is callable (and, with ``public_inputs``, the form of what it returns);
    graded by the ``format`` kind.
``hash``
    for answers that compare exactly (ints, bools, text, exact rationals, and lists,
    tuples and sets of them; floats only when the check rounds them with ``sigfigs`` or
    ``decimals``, hashed after that rounding): a salted, slow hash of the answer's
    canonical form (:func:`canonical`), never the value; graded by the ``digest`` kind.
    The boundary: a float answer whose rounding differs from the reference's is reported
    as not matching, never as matching when wrong. A hash is an oracle, as any local
    check is: someone who can list the candidates (a bool, a small count) can find the
    answer by trying them, so it fits answers a student could equally try in pytest.
``inputs``
    a function check's ``public_inputs`` (distinct from the hidden ones), with the
    reference's outputs hashed, floats rounded to ``public_sigfigs`` (default 6)
    significant figures first. A correct float64 implementation lands on the other side
    of a rounding boundary with a probability of the order of 1e-9 per output.
``property``
    a property check whose check function the rubric marks public: its source is
    copied into the bundle (it is the instructor's code, meant to be public).
``none``
    nothing: the check is graded at the final grading only.
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Mapping
from fractions import Fraction
from typing import Any

from grader.messages import say

HASH_ITERATIONS = 20_000  # pbkdf2 rounds: about 10 ms per check, per try of a guesser
PUBLIC_SIGFIGS = 6
_MAX_ITEMS = 100_000  # entries of one canonical form (a bound on what a student sends)


class Inexact(Exception):
    """The value has no exact canonical form under the check's rounding."""

    @property
    def why(self) -> str:
        """Why, as it was raised: a check message keeps its parts (``str(exc)`` would not)."""
        return self.args[0] if self.args and isinstance(self.args[0], str) else str(self)


def digest(salt: str, text: str) -> str:
    """The salted, slow hash of a canonical form, as hex."""
    return hashlib.pbkdf2_hmac("sha256", text.encode("utf-8"), bytes.fromhex(salt),
                               HASH_ITERATIONS).hex()


def canonical(value: Any, *, sigfigs: int | None = None, decimals: int | None = None) -> str:
    """The exact text two answers share when, and only when, they are equal exactly.

    Ints (and integral floats, numpy and sympy integers) as ``i:n``; exact rationals as
    ``q:p/d``; bools ``b:true``; text ``s:...``; floats only with a rounding rule (as the
    rounded decimal ``d:...``); lists, tuples and arrays in order, sets and dicts sorted.
    Raises :class:`Inexact` for anything else (a float without a rounding rule, NaN, a
    symbolic expression, an object).
    """
    count = [0]
    return _canonical(value, sigfigs, decimals, count)


def _canonical(value: Any, sigfigs: int | None, decimals: int | None, count: list[int]) -> str:
    count[0] += 1
    if count[0] > _MAX_ITEMS:
        raise Inexact(say("check.public.too_many", n=_MAX_ITEMS))
    import numpy as np

    if isinstance(value, bool | np.bool_):
        return "b:true" if value else "b:false"
    if isinstance(value, str):
        return "s:" + value
    if isinstance(value, np.ndarray):
        if value.dtype.kind not in "biuf":
            raise Inexact(say("check.public.array_dtype", dtype=value.dtype))
        items = ",".join(_canonical(v, sigfigs, decimals, count) for v in value.tolist()) \
            if value.ndim else _canonical(value.item(), sigfigs, decimals, count)
        return f"a{list(value.shape)}:[{items}]" if value.ndim else items
    if isinstance(value, list | tuple):
        return "[" + ",".join(_canonical(v, sigfigs, decimals, count) for v in value) + "]"
    if isinstance(value, set | frozenset):
        return "{" + ",".join(sorted(_canonical(v, sigfigs, decimals, count)
                                     for v in value)) + "}"
    if isinstance(value, Mapping):
        pairs = sorted((_canonical(k, sigfigs, decimals, count),
                        _canonical(v, sigfigs, decimals, count)) for k, v in value.items())
        return "{" + ",".join(f"{k}=>{v}" for k, v in pairs) + "}"
    return _number(value, sigfigs, decimals)


def _number(value: Any, sigfigs: int | None, decimals: int | None) -> str:
    import numpy as np

    exact = _exact(value)
    rounded = sigfigs is not None or decimals is not None
    if exact is not None and not rounded:
        if exact.denominator == 1:
            return f"i:{exact.numerator}"
        return f"q:{exact.numerator}/{exact.denominator}"
    if isinstance(value, float | np.floating) or exact is not None:
        x = float(value) if exact is None else exact
        if isinstance(x, float) and not math.isfinite(x):
            raise Inexact(say("check.form.not_finite"))
        if not rounded:
            raise Inexact(say("check.public.float_unrounded"))
        # Rounded as the numeric check rounds: ints too, so both sides agree.
        return "d:" + _round(x, sigfigs, decimals)
    raise Inexact(say("check.num.value_of_type", type=type(value).__name__))


def _exact(value: Any) -> Fraction | None:
    """An int, an integral float, or an exact rational, as a Fraction; else None."""
    import numpy as np

    if isinstance(value, int | np.integer):
        return Fraction(int(value))
    if isinstance(value, Fraction):
        return value
    if isinstance(value, float | np.floating):
        f = float(value)
        return Fraction(int(f)) if math.isfinite(f) and f.is_integer() else None
    try:
        import sympy as sp
    except ImportError:  # pragma: no cover - sympy is a core dependency
        return None
    if isinstance(value, sp.Integer | sp.Rational):
        return Fraction(int(value.p), int(value.q))
    return None


def _round(x: Fraction | float, sigfigs: int | None, decimals: int | None) -> str:
    """``x`` rounded by the numeric check's own rule, so that both sides round alike."""
    from decimal import InvalidOperation

    from grader.checks.numbers.rule import _Tol
    from grader.checks.numbers.scalars import _rounded

    try:
        d = _rounded(x, _Tol(sigfigs=sigfigs, decimals=decimals))
    except (InvalidOperation, OverflowError, ValueError) as exc:
        raise Inexact(say("check.public.too_large", error=type(exc).__name__)) from None
    return "0" if d == 0 else format(d.normalize(), "f")


# --------------------------------------------------------------------------- forms


def describe(value: Any) -> dict[str, Any]:
    """The form of a value, as TOML data: what a format check compares, and nothing more."""
    import numpy as np

    if isinstance(value, bool | np.bool_):
        return {"type": "bool"}
    if isinstance(value, str):
        return {"type": "text"}
    if isinstance(value, np.ndarray) and value.dtype.kind in "biufc":
        return {"type": "array", "shape": list(value.shape)}
    if isinstance(value, Mapping):
        return {"type": "dict", "keys": sorted(str(k) for k in value)}
    if isinstance(value, list | tuple):
        return {"type": "sequence", "length": len(value)}
    if callable(value) and not _is_sympy(value):
        return {"type": "callable"}
    if _is_sympy(value):
        return _describe_sympy(value)
    if isinstance(value, int | float | complex | np.number | Fraction):
        return {"type": "number"}
    return {"type": "any"}


def _is_sympy(value: Any) -> bool:
    return type(value).__module__.startswith("sympy")


def _describe_sympy(value: Any) -> dict[str, Any]:
    import sympy as sp

    if isinstance(value, sp.MatrixBase):
        return {"type": "array", "shape": list(value.shape)}
    if isinstance(value, sp.Number):
        return {"type": "number"}
    names = sorted(str(s) for s in getattr(value, "free_symbols", ()))
    what = ("equation" if isinstance(value, sp.Equality) else
            "relation" if isinstance(value, sp.core.relational.Relational) else
            "set" if isinstance(value, sp.Set) else "expression")
    return {"type": what, "symbols": names}


FORM_TYPES = ("bool", "text", "array", "dict", "sequence", "callable", "number",
              "expression", "equation", "relation", "set", "any")


def form_text(form: Mapping[str, Any]) -> str:
    """A form in words, for messages: "an array of shape (3, 2)"."""
    kind = form.get("type", "any")
    if kind == "array":
        return say("check.num.array_of_shape", shape=tuple(form.get("shape", ())))
    if kind == "dict":
        keys = ", ".join(form.get("keys", ()))
        return say("check.form.dict_keys", keys=keys) if keys else say("check.form.dict_no_keys")
    if kind == "sequence":
        return say("check.form.sequence", n=form.get("length"))
    if kind in _SYMPY_KINDS:
        names = ", ".join(form.get("symbols", ()))
        return say("check.form.sympy_in", kind=say(_SYMPY_KINDS[kind]), names=names) if names \
            else say("check.form.sympy_none", kind=say(_SYMPY_KINDS[kind]))
    article = {"any": "check.form.any", "callable": "check.form.callable",
               "text": "check.form.text", "number": "check.form.number",
               "bool": "check.form.bool"}
    return say(article[kind]) if kind in article else kind


# The sympy forms in words (the catalogue's keys).
_SYMPY_KINDS = {"expression": "check.form.kind_expression", "equation": "check.form.kind_equation",
                "relation": "check.form.kind_relation", "set": "check.form.kind_set"}


def form_problem(form: Mapping[str, Any], received: Any) -> str:
    """Why ``received`` is not of the ``form`` ("" when it is)."""
    import numpy as np

    kind = form.get("type", "any")
    if kind == "any":
        return ""
    if kind == "bool":
        return "" if isinstance(received, bool | np.bool_) else say("check.form.not_bool")
    if kind == "text":
        return "" if isinstance(received, str) else say("check.form.not_text")
    if kind == "number":
        if isinstance(received, bool | np.bool_) or not _is_number(received):
            return say("check.form.not_number")
        return "" if _finite(received) else say("check.form.not_finite")
    if kind == "array":
        shape = _shape(received)
        if shape is None:
            return say("check.form.not_array")
        return "" if list(shape) == list(form.get("shape", ())) else say("check.form.of_shape",
                                                                          shape=shape)
    if kind == "dict":
        if not isinstance(received, Mapping):
            return say("check.form.not_dict")
        keys = sorted(str(k) for k in received)
        return "" if keys == list(form.get("keys", ())) else say("check.form.with_keys",
                                                                  keys=", ".join(keys))
    if kind == "sequence":
        if not isinstance(received, list | tuple):
            return say("check.form.not_sequence")
        n = len(received)
        return "" if n == form.get("length") else say("check.form.of_items", n=n)
    if kind in ("expression", "equation", "relation", "set"):
        return _sympy_problem(form, received)
    return ""


def _is_number(value: Any) -> bool:
    import numpy as np

    if isinstance(value, int | float | complex | np.number | Fraction):
        return True
    if _is_sympy(value):
        import sympy as sp

        return isinstance(value, sp.Number)
    return False


def _finite(value: Any) -> bool:
    try:
        z = complex(value)
    except (TypeError, ValueError, OverflowError):
        return False
    return math.isfinite(z.real) and math.isfinite(z.imag)


def _shape(value: Any) -> tuple[int, ...] | None:
    import numpy as np

    if _is_sympy(value):
        import sympy as sp

        return tuple(value.shape) if isinstance(value, sp.MatrixBase) else None
    try:
        arr = np.asarray(value)
    except Exception:  # a ragged list, an object: not an array of numbers
        return None
    if arr.dtype.kind not in "biufc" or arr.size > _MAX_ITEMS:
        return None
    return tuple(arr.shape)


def _sympy_problem(form: Mapping[str, Any], received: Any) -> str:
    import sympy as sp

    kind = form["type"]
    wanted = {"equation": sp.Equality, "relation": sp.core.relational.Relational,
              "set": sp.Set, "expression": sp.Expr}[kind]
    if not isinstance(received, sp.Basic):
        if kind == "expression" and _is_number(received):
            return ""  # a constant is an expression
        return say("check.form.not_sympy", kind=say(_SYMPY_KINDS[kind]))
    if not isinstance(received, wanted):
        return say("check.form.not_sympy", kind=say(_SYMPY_KINDS[kind]))
    allowed = set(form.get("symbols", ()))
    extra = sorted(str(s) for s in received.free_symbols if str(s) not in allowed)
    if extra:
        return say("check.form.extra_symbols", kind=say(_SYMPY_KINDS[kind]),
                   symbols=", ".join(extra))
    return ""
