"""The grader's agent inside a student's kernel: serialise answers, call student functions.

This file's *text* is sent to the kernel after the student's cells have run (see
``grader.kernel.harvest``); the grader process itself imports it only to encode the trusted
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

# Every type this module trusts comes from a literal, never from a name in builtins: the
# class of ``[]`` is list whatever a submission rebinds ``builtins.list`` to, and a
# submission that deletes this module from sys.modules so that it is loaded again, after
# patching builtins, still gets the real types. Subclass tests walk the real MRO by
# identity (``_is_sub``), so neither a patched ``issubclass`` nor a metaclass's
# ``__eq__``/``__subclasscheck__`` takes part.
_list: Any = [].__class__
_tuple: Any = ().__class__
_dict: Any = {}.__class__
_set: Any = {0}.__class__
_str: Any = "".__class__
_int: Any = (0).__class__
_float: Any = (0.0).__class__
_complex: Any = (0j).__class__
_bool: Any = (True).__class__
_type: Any = _int.__class__
_object = _type.__dict__["__mro__"].__get__(_tuple)[-1]
_mro_of = _type.__dict__["__mro__"].__get__
_flags_of = _type.__dict__["__flags__"].__get__
_dict_of = _type.__dict__["__dict__"].__get__
_HEAPTYPE = 1 << 9  # Py_TPFLAGS_HEAPTYPE: a class made by Python code, not a C type


def _is_sub(t: Any, base: Any) -> bool:
    """Whether ``base`` is in the real MRO of type ``t`` (compared by identity)."""
    for klass in _mro_of(t):
        if klass is base:
            return True
    return False


def _is_c_type(t: Any) -> bool:
    """Whether ``t`` is a real class defined in C (a submission cannot make one in Python)."""
    return _is_sub(_type(t), _type) and not _flags_of(t) & _HEAPTYPE


def _builtin_type(name: str) -> Any:
    for klass in _object.__subclasses__():
        if _is_c_type(klass) and klass.__name__ == name and klass.__module__ == "builtins":
            return klass
    raise ImportError(name)


_frozenset: Any = _builtin_type("frozenset")


def _real_numpy() -> Any:
    """The numpy in the kernel, if it is loaded and its types are numpy's own C types."""
    try:
        np = importlib.import_module("numpy")
        kinds = (np.ndarray, np.bool_, np.integer, np.floating, np.complexfloating)
        # A C type's module comes from its C name: a stand-in cannot borrow list for it.
        if all(_is_c_type(k) and _type.__dict__["__module__"].__get__(k) == "numpy"
               for k in kinds) and _type(np.True_) is np.bool_:
            return np
    except Exception:  # no numpy, or a stand-in that breaks on the first attribute
        pass
    return None


_numpy: Any = _real_numpy()

# Address space held back from the submission (RLIMIT_AS counts it; a calloc'd block is
# never touched, so it costs no memory) and given back when a cell runs out of memory or
# the grader's own work starts: a submission that used up its memory limit still leaves
# room to report the error, run its later cells and encode its answers.
_reserve = [bytearray(16 * 1024 * 1024)]

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


_bytes: Any = b"".__class__


def _clean(text: str) -> str:
    """``text`` with each lone surrogate as U+FFFD (a pair of them joined into its character).

    A lone surrogate cannot be encoded as UTF-8: the kernel could not send a message that
    held one, and every answer of the request would be lost with it.
    """
    if _str.isascii(text):
        return text
    try:
        _str.encode(text, "utf-8")
        return text
    except UnicodeEncodeError:
        return _bytes.decode(_str.encode(text, "utf-16-le", "surrogatepass"), "utf-16-le",
                             "replace")


def _float_text(x: float) -> str:
    text = _float.__repr__(x)
    return text


def _encode(x: Any, budget: _Budget, depth: int = 0) -> dict[str, Any]:
    if depth > _MAX_DEPTH:
        raise _TooBig(f"the value is nested more than {_MAX_DEPTH} levels deep")
    budget.spend()
    # type(), not isinstance(): an object can lie about __class__.
    t = _type(x)
    if x is None:
        return {"t": "none"}
    np = _numpy
    if _is_sub(t, _bool) or (np is not None and _is_sub(t, np.bool_)):
        return {"t": "bool", "v": x is True or (np is not None and x is np.True_)}
    if _is_sub(t, _int):
        try:
            return {"t": "int", "v": _int.__repr__(x)}
        except ValueError as exc:  # more digits than Python will print
            raise _TooBig(_str(exc)) from None
    if _is_sub(t, _float):
        return {"t": "float", "v": _float_text(x)}
    if _is_sub(t, _complex):
        return {"t": "complex", "re": _float_text(_complex.real.__get__(x)),
                "im": _float_text(_complex.imag.__get__(x))}
    if _is_sub(t, _str):
        text = _clean(_str.__str__(x))
        size = _str.__len__(text)
        if size > _MAX_STR:
            raise _TooBig(f"a string of {size} characters is too long to grade")
        budget.spend(0, size)
        return {"t": "str", "v": text}
    if np is not None:
        if _is_sub(t, np.integer):
            return {"t": "int", "v": _int.__repr__(_int(x))}
        if _is_sub(t, np.floating):
            return {"t": "float", "v": _float_text(_float(x))}
        if _is_sub(t, np.complexfloating):
            c = _complex(x)
            return {"t": "complex", "re": _float_text(_complex.real.__get__(c)),
                    "im": _float_text(_complex.imag.__get__(c))}
        if _is_sub(t, np.ndarray):
            return _encode_array(np, x, budget, depth)
    sympy = sys.modules.get("sympy")
    if sympy is not None and (_is_sub(t, sympy.Basic) or _is_sub(t, sympy.MatrixBase)):
        text = _clean(_str.__str__(sympy.srepr(x)))
        budget.spend(0, _str.__len__(text))
        return {"t": "sympy", "srepr": text}
    tag = "list" if _is_sub(t, _list) else "tuple" if _is_sub(t, _tuple) else \
        "set" if _is_sub(t, _set) or _is_sub(t, _frozenset) else ""
    if tag:
        iterate = {"list": _list.__iter__, "tuple": _tuple.__iter__,
                   "set": _set.__iter__ if _is_sub(t, _set) else _frozenset.__iter__}[tag]
        items = _list(iterate(x))
        budget.spend(_list.__len__(items))
        return {"t": tag, "v": [_encode(i, budget, depth + 1) for i in items]}
    if _is_sub(t, _dict):
        pairs = _list(_dict.items(x))
        budget.spend(_list.__len__(pairs))
        return {"t": "dict", "v": [[_encode(k, budget, depth + 1), _encode(v, budget, depth + 1)]
                                   for k, v in pairs]}
    if _has_call(t):
        return {"t": "callable", "name": _name(x), "signature": _sig(x)}
    return {"t": "unsupported", "type": _type_name(t)}


def _has_call(t: Any) -> bool:
    for klass in _mro_of(t):
        if "__call__" in _dict_of(klass):
            return True
    return False


def _name(x: Any) -> str:
    try:
        name = x.__name__
    except Exception:  # a hostile object's attributes may raise anything
        return ""
    return _clean(_str.__str__(name)) if _is_sub(_type(name), _str) else ""


def _type_name(t: Any) -> str:
    module = _type.__dict__["__module__"].__get__(t)
    qualname = _type.__dict__["__qualname__"].__get__(t)
    module = _str.__str__(module) if _is_sub(_type(module), _str) else ""
    return _clean(f"{module}.{qualname}" if module else qualname)


def _encode_array(np: Any, x: Any, budget: _Budget, depth: int) -> dict[str, Any]:
    arr = x.view(np.ndarray) if _type(x) is not np.ndarray else x
    if arr.dtype.kind in "biufc" and arr.dtype.fields is None:
        budget.spend(_int(arr.size), _int(arr.nbytes))
        # Not np.ascontiguousarray: it turns a 0-d array into shape (1,).
        arr = arr if arr.flags.c_contiguous else arr.copy(order="C")
        dtype = arr.dtype.newbyteorder("<") if arr.dtype.byteorder == ">" else arr.dtype
        arr = arr.astype(dtype, copy=False)
        return {"t": "ndarray", "dtype": dtype.str, "shape": list(arr.shape),
                "data": base64.b64encode(arr.tobytes()).decode("ascii")}
    if arr.dtype.kind == "O":
        budget.spend(_int(arr.size))
        return {"t": "objarray", "shape": list(arr.shape),
                "v": [_encode(i, budget, depth + 1) for i in arr.ravel().tolist()]}
    return {"t": "unsupported", "type": f"numpy array of dtype {arr.dtype}"}


def _sig(f: Any) -> str:
    try:
        import inspect

        return _clean(_str(inspect.signature(f)))
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
        return {"t": "rejected", "reason": f"the value could not be read: {_type(exc).__name__}"}


def decode_trusted(obj: dict[str, Any]) -> Any:
    """Decode arguments the grader sent (trusted): the inverse of :func:`encode`."""
    t = obj["t"]
    if t == "none":
        return None
    if t in ("bool", "str"):
        return obj["v"]
    if t == "int":
        return _int(obj["v"])
    if t == "float":
        return _float(obj["v"])
    if t == "complex":
        return _complex(_float(obj["re"]), _float(obj["im"]))
    if t == "list":
        return [decode_trusted(i) for i in obj["v"]]
    if t == "tuple":
        return _tuple(decode_trusted(i) for i in obj["v"])
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


def _grader_prepare(output_budget: int) -> None:
    """Before the student's cells: cap their output, and free the reserve on MemoryError."""
    left = [output_budget]
    _cap_streams(left)
    try:
        from IPython import get_ipython

        shell = get_ipython()
    except Exception:  # not in IPython: nothing to hook
        shell = None
    if shell is None:
        return
    shell.set_custom_exc((MemoryError,), _on_memory_error)
    # IPython 9 wraps the streams' write for the length of each cell and puts back what
    # was there before, which drops a cap set inside a cell: set it again as each begins.
    shell.events.register("pre_run_cell", lambda *args: _cap_streams(left))


def _on_memory_error(shell: Any, etype: Any, value: Any, tb: Any,
                     tb_offset: Any = None) -> None:
    """IPython's handler for a cell's MemoryError: room to report it and to go on."""
    _reserve.clear()
    shell.showtraceback((etype, value, tb), tb_offset=tb_offset)


def _cap_streams(left: list[int]) -> None:
    """Drop what the kernel's stdout and stderr are given once ``left`` characters are used.

    The grader caps output as it arrives too, but by then a fast loop has been batched
    into messages of many megabytes that the grader must receive whole: cutting here,
    before the kernel sends, keeps an ordinary flood (a print in a long loop) small on the
    wire. It is a courtesy, not a wall: code that bypasses the streams meets the grader's
    own cap.
    """
    for name in ("stdout", "stderr"):
        stream = getattr(sys, name, None)
        write = getattr(stream, "write", None)
        if write is None or getattr(write, "_grader_cap", False):
            continue

        def capped(text: Any, write: Any = write) -> int:
            if not _is_sub(_type(text), _str):
                return write(text)  # let the stream raise its own TypeError
            size = _str.__len__(text)
            if left[0] > 0:
                write(text if size <= left[0] else _str.__getitem__(text, slice(0, left[0])))
                left[0] -= size
            return size

        capped._grader_cap = True  # type: ignore[attr-defined]
        try:
            stream.write = capped  # type: ignore[union-attr]
        except (AttributeError, TypeError):  # a stream that does not take attributes
            continue


def _publish(nonce: str, payload: Any, **part: Any) -> None:
    """Send ``payload`` to the grader; ``part`` (``call=i``) says which check's calls it is."""
    from IPython.display import publish_display_data

    publish_display_data({RESULT_MIME: {"nonce": nonce, **part, "payload": payload}})


_json_dumps = json.dumps  # bound now, before a submission can replace it


def _wire_size(obj: Any) -> tuple[int, int, int]:
    """Bytes, bytes a character once decoded, and JSON values of ``obj`` on the wire.

    Counted as the grader's pre-scan counts them (``grader/kernel/wire.py``), on the text the
    session's packer sends (UTF-8, not ASCII-escaped; orjson's is shorter still).
    """
    text = _json_dumps(obj, ensure_ascii=False)
    values = text.count("[") + text.count("{") + text.count(",")
    if text.isascii():
        return len(text), 1, values
    import re

    data = text.encode("utf-8", "surrogatepass")
    width = 4 if re.search(rb"[\xf0-\xf7]", data) else \
        2 if re.search(rb"[\xc4-\xef]", data) else 1
    return len(data), width, values


def _grader_harvest(namespace: dict[str, Any], nonce: str, names: list[str],
                    total_bytes: int | None = None, total_values: int | None = None
                    ) -> dict[str, Any]:
    """Encode each contract name found in the student's namespace and publish them.

    The answers together stay within ``total_bytes`` and ``total_values`` (the grader's
    budget for one submission): an answer that would take them past it is rejected
    instead, and the ones after it may still fit. Returns what it published.
    """
    _reserve.clear()
    out: dict[str, Any] = {}
    size = width = values = 0
    for name in names:
        if name in namespace:
            obj = encode(namespace[name])
        else:
            obj = {"t": "missing"}
        if total_bytes is not None and total_values is not None and \
                obj["t"] not in ("missing", "rejected"):
            n, w, k = _wire_size(obj)
            if (size + n) * max(width, w) > total_bytes or values + k > total_values:
                obj = {"t": "rejected",
                       "reason": f"the answers together are too large to grade (over "
                                 f"{total_bytes // 1_000_000} MB or {total_values:,} values "
                                 "in all)"}
            else:
                size, width, values = size + n, max(width, w), values + k
        out[name] = obj
    _publish(nonce, out)
    return out


def _grader_collect(namespace: dict[str, Any], nonce: str, names: list[str],
                    total_bytes: int, total_values: int, checks_json: str) -> None:
    """Harvest the answers, then make every function check's calls: one request in all.

    ``checks_json`` lists each function check as ``{"name", "calls", "timeout"}``; a
    check is called only when its answer crossed as a function, exactly as if the grader
    had asked for it after the harvest (see :func:`_grader_call`), and its results are
    published as their own message (``call``: the check's index) as soon as they are
    made, so a kernel that dies later keeps them. Each check has its own limits and its
    own hung-call rule.
    """
    # Looked up by name, as the grader's own cell would: a submission that replaced the
    # harvest gets what it would get without this request (no calls: the grader makes
    # them one by one).
    encoded = _grader_harvest(namespace, nonce, names, total_bytes, total_values)
    if _type(encoded) is not _dict:
        return
    for index, check in enumerate(json.loads(checks_json)):
        entry = _dict.get(encoded, check["name"])
        if _type(entry) is not _dict or _dict.get(entry, "t") != "callable":
            continue  # not a function: the grader makes no calls of it
        results = _call_each(namespace, check["name"], check["calls"], check["timeout"])
        _publish(nonce, results, call=index)


class _CallTimeout(BaseException):
    """Raised by a timer inside a student function that runs past one of its limits."""


# How many times its CPU limit a call may take on the clock: a machine loaded by other
# students' kernels slows a call down without making it wrong, but one that sleeps or
# waits uses no CPU and must end all the same.
WALL_FACTOR = 3
# The grader waits ``timeout * len(calls) + 10`` s for one check's calls (grader.kernel.harvest,
# which adds that up over the checks of one request): the calls end before, to be read.
_CELL_MARGIN = 5.0


def _grader_call(namespace: dict[str, Any], nonce: str, name: str, calls_json: str,
                 timeout: float, total: float | None = None) -> None:
    """Call a student function on each argument set; publish results, errors, timeouts.

    A call is stopped once it has used ``timeout`` seconds of this process's CPU time, or
    when it has not returned after ``WALL_FACTOR`` times that on the clock, whichever
    comes first; all the calls together get ``total`` seconds on the clock. Once one call
    is stopped the function is not called again: a function that hangs on every input
    costs one limit, not one per input, and the calls after it are reported not run.
    """
    _publish(nonce, _call_each(namespace, name, json.loads(calls_json), timeout, total))


def _call_each(namespace: dict[str, Any], name: str, calls: list[Any], timeout: float,
               total: float | None = None) -> list[dict[str, Any]]:
    """The results of :func:`_grader_call`'s calls, one item per argument set."""
    _reserve.clear()
    import signal
    import time

    func: Any = namespace.get(name)
    results: list[dict[str, Any]] = []
    wall = timeout * WALL_FACTOR
    ends = time.monotonic() + (timeout * len(calls) + _CELL_MARGIN if total is None
                               else total)

    def on_timer(signum: int, frame: Any) -> None:
        raise _CallTimeout(signum)

    def stop_timers() -> None:
        signal.setitimer(signal.ITIMER_PROF, 0)
        signal.setitimer(signal.ITIMER_REAL, 0)

    previous = {sig: signal.signal(sig, on_timer) for sig in (signal.SIGPROF, signal.SIGALRM)}
    hung = False
    try:
        for call in calls:
            if hung:
                results.append({"timeout": True, "not_run": True, "message":
                                f"not run: an earlier call timed out after {timeout:g} s"})
                continue
            if not _has_call(_type(func)):
                results.append({"error": f"{name} is not a function"})
                continue
            bound = min(wall, ends - time.monotonic())
            if bound <= 0:
                results.append({"timeout": True, "limit": "wall", "message":
                                "the call was not made: the calls before it used up "
                                "their time"})
                continue
            args = decode_trusted(call["args"])
            kwargs = decode_trusted(call["kwargs"])
            try:
                # ITIMER_PROF counts this process's CPU time, user and system.
                signal.setitimer(signal.ITIMER_PROF, timeout)
                signal.setitimer(signal.ITIMER_REAL, bound)
                try:
                    value = func(*args, **kwargs)
                finally:
                    stop_timers()
                results.append({"value": encode(value)})
            except _CallTimeout as exc:
                hung = True
                results.append(
                    {"timeout": True, "limit": "cpu", "message":
                     f"the call used more than {timeout:g} s of CPU time"}
                    if exc.args[:1] == (signal.SIGPROF,) else
                    {"timeout": True, "limit": "wall", "message":
                     f"the call did not return within {round(bound, 1):g} s"})
            except KeyboardInterrupt:
                # The grader interrupts a check that runs past its limit (the student's
                # code switched the timers off, or blocked where signals wait).
                hung = True
                results.append({"timeout": True, "limit": "wall", "message":
                                "the call was stopped: the check ran past its time limit"})
            except BaseException as exc:  # the student's exception is a result, even SystemExit
                results.append({"error": f"{_type(exc).__name__}: {_safe_str(exc)}"})
    finally:
        stop_timers()
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    return results


def _safe_str(exc: BaseException) -> str:
    try:
        return _clean(_str(exc)[:2000])
    except Exception:
        return "<unprintable exception>"
