"""The grader's agent inside a student's kernel: serialise answers, call student functions.

This file's *text* is sent to the kernel after the student's cells have run (see
``grader.harvest``); the grader process itself imports it only to encode the trusted
arguments it sends. It must stay self-contained: standard library at import, numpy
and sympy only if the kernel already has them loaded.

Wire format (tagged JSON), one object per value::

    {"t": "none"} | {"t": "bool", "v": true} | {"t": "int", "v": "123"}
    {"t": "float", "v": "0.1" | "nan" | "inf" | "-inf"}
    {"t": "complex", "re": <float text>, "im": <float text>}
    {"t": "str", "v": "..."}
    {"t": "list" | "tuple" | "set", "v": [<value>, ...]}
    {"t": "dict", "v": [[<key value>, <value>], ...]}
    {"t": "ndarray", "dtype": "<f8", "shape": [2, 3], "data": "<base64 of C-order bytes>"}
    {"t": "sympy", "srepr": "Add(Symbol('x'), Integer(1))"}
    {"t": "callable", "name": "f", "signature": "(x, y)"}
    {"t": "missing"} | {"t": "rejected", "reason": "..."} | {"t": "unsupported", "type": "..."}

Values are read through the base types' own methods (``float.__repr__``,
``int.__repr__``, ``str.__str__``, ``list.__iter__`` ...), so a subclass that lies in
``__repr__``, ``__eq__`` or ``__iter__`` still crosses over as its plain data.
"""

from __future__ import annotations

import base64
import importlib
import json
import sys
from typing import Any

# The agent is loaded before the student's cells run. Binding the builtins it uses, and
# numpy, at that moment means a submission that later rebinds builtins.issubclass or puts
# a numpy.py beside itself cannot change how its answers are read.
issubclass = issubclass
callable = callable
list = list
tuple = tuple
set = set
dict = dict
str = str
int = int
float = float
complex = complex
bool = bool
type = type
len = len
getattr = getattr
_numpy: Any
try:
    _numpy = importlib.import_module("numpy")
except ImportError:  # a kernel without numpy still grades everything else
    _numpy = None

RESULT_MIME = "application/vnd.grader.result+json"
_MAX_DEPTH = 64
_MAX_ITEMS = 1_000_000
_MAX_BYTES = 64_000_000
_MAX_STR = 1_000_000


class _TooBig(Exception):
    pass


class _Budget:
    def __init__(self) -> None:
        self.items = 0
        self.bytes = 0

    def spend(self, items: int = 1, nbytes: int = 0) -> None:
        self.items += items
        self.bytes += nbytes
        if self.items > _MAX_ITEMS or self.bytes > _MAX_BYTES:
            raise _TooBig(
                f"the value is too large to grade (over {_MAX_ITEMS} items or "
                f"{_MAX_BYTES // 1_000_000} MB)"
            )


def _float_text(x: float) -> str:
    text = float.__repr__(x)
    return text


def _encode(x: Any, budget: _Budget, depth: int = 0) -> dict[str, Any]:
    if depth > _MAX_DEPTH:
        raise _TooBig(f"the value is nested more than {_MAX_DEPTH} levels deep")
    budget.spend()
    # type(), not isinstance(): an object can lie about __class__.
    t = type(x)
    if x is None:
        return {"t": "none"}
    np = _numpy
    if issubclass(t, bool) or (np is not None and issubclass(t, np.bool_)):
        return {"t": "bool", "v": x is True or (np is not None and x is np.True_)}
    if issubclass(t, int):
        try:
            return {"t": "int", "v": int.__repr__(x)}
        except ValueError as exc:  # more digits than Python will print
            raise _TooBig(str(exc)) from None
    if issubclass(t, float):
        return {"t": "float", "v": _float_text(x)}
    if issubclass(t, complex):
        return {"t": "complex", "re": _float_text(complex.real.__get__(x)),
                "im": _float_text(complex.imag.__get__(x))}
    if issubclass(t, str):
        text = str.__str__(x)
        if len(text) > _MAX_STR:
            raise _TooBig(f"a string of {len(text)} characters is too long to grade")
        budget.spend(0, len(text))
        return {"t": "str", "v": text}
    if np is not None:
        if issubclass(t, np.integer):
            return {"t": "int", "v": str(int(x))}
        if issubclass(t, np.floating):
            return {"t": "float", "v": _float_text(float(x))}
        if issubclass(t, np.complexfloating):
            c = complex(x)
            return {"t": "complex", "re": _float_text(c.real), "im": _float_text(c.imag)}
        if issubclass(t, np.ndarray):
            return _encode_array(np, x, budget, depth)
    sympy = sys.modules.get("sympy")
    if sympy is not None and issubclass(t, sympy.Basic | sympy.MatrixBase):
        text = sympy.srepr(x)
        budget.spend(0, len(text))
        return {"t": "sympy", "srepr": str.__str__(text)}
    if issubclass(t, list | tuple | set | frozenset):
        tag = "list" if issubclass(t, list) else "tuple" if issubclass(t, tuple) else "set"
        base = list if tag == "list" else tuple if tag == "tuple" else None
        items = list(base.__iter__(x)) if base is not None else list(set.__iter__(set(x)))
        budget.spend(len(items))
        return {"t": tag, "v": [_encode(i, budget, depth + 1) for i in items]}
    if issubclass(t, dict):
        pairs = list(dict.items(x))
        budget.spend(len(pairs))
        return {"t": "dict", "v": [[_encode(k, budget, depth + 1), _encode(v, budget, depth + 1)]
                                   for k, v in pairs]}
    if callable(x):
        return {"t": "callable", "name": str(getattr(x, "__name__", "")), "signature": _sig(x)}
    return {"t": "unsupported", "type": type(x).__module__ + "." + type(x).__qualname__}


def _encode_array(np: Any, x: Any, budget: _Budget, depth: int) -> dict[str, Any]:
    arr = x.view(np.ndarray) if type(x) is not np.ndarray else x
    if arr.dtype.kind in "biufc" and arr.dtype.fields is None:
        budget.spend(int(arr.size), int(arr.nbytes))
        # Not np.ascontiguousarray: it turns a 0-d array into shape (1,).
        arr = arr if arr.flags.c_contiguous else arr.copy(order="C")
        dtype = arr.dtype.newbyteorder("<") if arr.dtype.byteorder == ">" else arr.dtype
        arr = arr.astype(dtype, copy=False)
        return {"t": "ndarray", "dtype": dtype.str, "shape": list(arr.shape),
                "data": base64.b64encode(arr.tobytes()).decode("ascii")}
    if arr.dtype.kind == "O":
        budget.spend(int(arr.size))
        return {"t": "objarray", "shape": list(arr.shape),
                "v": [_encode(i, budget, depth + 1) for i in arr.ravel().tolist()]}
    return {"t": "unsupported", "type": f"numpy array of dtype {arr.dtype}"}


def _sig(f: Any) -> str:
    try:
        import inspect

        return str(inspect.signature(f))
    except (TypeError, ValueError):
        return ""


def encode(value: Any) -> dict[str, Any]:
    """Encode one value into the tagged form, or a ``rejected`` marker if it is too big."""
    try:
        return _encode(value, _Budget())
    except _TooBig as exc:
        return {"t": "rejected", "reason": str(exc)}
    except RecursionError:
        return {"t": "rejected", "reason": "the value is nested too deeply"}
    except Exception as exc:  # a hostile object's methods may raise anything
        return {"t": "rejected", "reason": f"the value could not be read: {type(exc).__name__}"}


def decode_trusted(obj: dict[str, Any]) -> Any:
    """Decode arguments the grader sent (trusted): the inverse of :func:`encode`."""
    t = obj["t"]
    if t == "none":
        return None
    if t in ("bool", "str"):
        return obj["v"]
    if t == "int":
        return int(obj["v"])
    if t == "float":
        return float(obj["v"])
    if t == "complex":
        return complex(float(obj["re"]), float(obj["im"]))
    if t == "list":
        return [decode_trusted(i) for i in obj["v"]]
    if t == "tuple":
        return tuple(decode_trusted(i) for i in obj["v"])
    if t == "set":
        return {decode_trusted(i) for i in obj["v"]}
    if t == "dict":
        return {decode_trusted(k): decode_trusted(v) for k, v in obj["v"]}
    if t == "ndarray":
        np = _numpy
        if np is None:
            raise ValueError("numpy is not installed in the kernel")
        data = base64.b64decode(obj["data"])
        return np.frombuffer(data, dtype=np.dtype(obj["dtype"])).reshape(obj["shape"]).copy()
    raise ValueError(f"cannot decode a {t!r} argument")


def _publish(nonce: str, payload: Any) -> None:
    from IPython.display import publish_display_data

    publish_display_data({RESULT_MIME: {"nonce": nonce, "payload": payload}})


def _grader_harvest(namespace: dict[str, Any], nonce: str, names: list[str]) -> None:
    """Encode each contract name found in the student's namespace and publish them."""
    out: dict[str, Any] = {}
    for name in names:
        if name in namespace:
            out[name] = encode(namespace[name])
        else:
            out[name] = {"t": "missing"}
    _publish(nonce, out)


class _CallTimeout(BaseException):
    """Raised by the alarm inside a student function that runs past its budget."""


def _grader_call(namespace: dict[str, Any], nonce: str, name: str, calls_json: str,
                 timeout: float) -> None:
    """Call a student function on each argument set; publish results, errors, timeouts."""
    import signal

    calls = json.loads(calls_json)
    func = namespace.get(name)
    results: list[dict[str, Any]] = []

    def on_alarm(signum: int, frame: Any) -> None:
        raise _CallTimeout()

    previous = signal.signal(signal.SIGALRM, on_alarm)
    try:
        for call in calls:
            if not callable(func):
                results.append({"error": f"{name} is not a function"})
                continue
            args = decode_trusted(call["args"])
            kwargs = decode_trusted(call["kwargs"])
            try:
                signal.setitimer(signal.ITIMER_REAL, timeout)
                try:
                    value = func(*args, **kwargs)
                finally:
                    signal.setitimer(signal.ITIMER_REAL, 0)
                results.append({"value": encode(value)})
            except _CallTimeout:
                results.append({"timeout": True})
            except BaseException as exc:  # the student's exception is a result, even SystemExit
                results.append({"error": f"{type(exc).__name__}: {_safe_str(exc)}"})
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)
    _publish(nonce, results)


def _safe_str(exc: BaseException) -> str:
    try:
        return str(exc)[:2000]
    except Exception:
        return "<unprintable exception>"
