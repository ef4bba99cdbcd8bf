"""Rubric literals: TOML data, plus tagged tables for what TOML lacks, both ways.

:func:`literal_value` reads a rubric's literal (``value``, ``outputs``, a mistake's
``value``); :func:`encode_literal` writes a Python value in the form it reads back as it
is (``grader release`` freezes expectations with it).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from grader.errors import ReleaseError

_TAG_KEYS = ({"tuple"}, {"complex"}, {"none"}, {"dict"})

LITERAL_FORMS = ("TOML values; {array = [...], dtype = \"float64\"}, {tuple = [...]}, "
                 "{complex = [re, im]}, {none = true}, {dict = {...}}")
_DTYPE_KINDS = "biufc"


def literal_value(raw: Any) -> Any:
    """A rubric literal as a Python value: TOML data, plus tagged tables for what TOML lacks.

    ``{array = [...], dtype = "float64"}`` is a numpy array (``shape = [...]`` is added for
    an empty one), ``{tuple = [...]}`` a tuple, ``{complex = [re, im]}`` a complex number,
    ``{none = true}`` None, and ``{dict = {...}}`` a dict whose keys would otherwise read
    as one of these tags. Any other table is a dict, any array a list. Raises ValueError
    (or TypeError) for a malformed tag.
    """
    if isinstance(raw, list):
        return [literal_value(v) for v in raw]
    if not isinstance(raw, dict):
        return raw
    keys = set(raw)
    if "array" in keys and keys <= {"array", "dtype", "shape"}:
        import numpy as np

        dtype = np.dtype(str(raw.get("dtype", "float64")))
        if dtype.kind not in _DTYPE_KINDS or dtype.fields is not None:
            raise ValueError(f"an array of dtype {dtype} (numbers and bools only)")
        if not isinstance(raw["array"], list):
            raise ValueError("array = [...] must be a (nested) array of numbers")
        arr = np.array(raw["array"], dtype=dtype)
        return arr.reshape(raw["shape"]) if "shape" in raw else arr
    if keys == {"tuple"} and isinstance(raw["tuple"], list):
        return tuple(literal_value(v) for v in raw["tuple"])
    if keys == {"complex"}:
        re_im = raw["complex"]
        if not (isinstance(re_im, list) and len(re_im) == 2 and all(
                isinstance(v, int | float) and not isinstance(v, bool) for v in re_im)):
            raise ValueError("complex = [re, im] takes two numbers")
        return complex(re_im[0], re_im[1])
    if keys == {"none"}:
        if raw["none"] is not True:
            raise ValueError("write None as {none = true}")
        return None
    if keys == {"dict"} and isinstance(raw["dict"], dict):
        return {k: literal_value(v) for k, v in raw["dict"].items()}
    return {k: literal_value(v) for k, v in raw.items()}


def encode_literal(value: Any, where: str) -> Any:
    """TOML data for ``value`` that :func:`grader.rubric.literal_value` reads back as it is.

    Numpy arrays keep dtype and shape, tuples stay tuples; anything TOML cannot hold
    exactly (a dict with non-text keys, an object) is a :class:`ReleaseError`.
    """
    import numpy as np

    if value is None:
        return {"none": True}
    if isinstance(value, bool | np.bool_):
        return bool(value)
    if isinstance(value, int | np.integer):
        return int(value)
    if isinstance(value, float | np.floating):
        return float(value)
    if isinstance(value, complex | np.complexfloating):
        return {"complex": [float(value.real), float(value.imag)]}
    if isinstance(value, str):
        return value
    if isinstance(value, np.ndarray):
        if value.dtype.kind not in "biuf" or value.dtype.fields is not None:
            raise ReleaseError(f"{where}: an array of dtype {value.dtype} has no rubric form")
        data = value.tolist() if value.ndim else [value.item()]
        encoded: dict[str, Any] = {"array": data, "dtype": value.dtype.name}
        if value.size == 0 or value.ndim == 0:
            encoded["shape"] = list(value.shape)
        return encoded
    if isinstance(value, tuple):
        return {"tuple": [encode_literal(v, where) for v in value]}
    if isinstance(value, list):
        return [encode_literal(v, where) for v in value]
    if isinstance(value, Mapping):
        if not all(isinstance(k, str) for k in value):
            raise ReleaseError(f"{where}: a dict with keys other than text has no rubric form")
        table = {k: encode_literal(v, where) for k, v in value.items()}
        keys = set(table)
        if keys in _TAG_KEYS or ("array" in keys and keys <= {"array", "dtype", "shape"}):
            return {"dict": table}  # would otherwise read back as a tag
        return table
    raise ReleaseError(f"{where}: a value of type {type(value).__name__} has no rubric form")
