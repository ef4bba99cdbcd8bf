"""The wire codec: what the kernel agent encodes, the grader decodes, and nothing more."""

from __future__ import annotations

import base64
import math

import numpy as np
import pytest

from grader.answers import MISSING, CallableAnswer, Rejected
from grader.kernel.agent import decode_trusted, encode
from grader.kernel.codec import decode_answer
from grader.settings import DEFAULTS

ROUND_TRIPS = [
    None,
    True,
    False,
    0,
    -7,
    10**40,
    0.1,
    -2.5e-300,
    float("inf"),
    float("-inf"),
    complex(1.5, -2),
    "",
    "héllo\n<script>",
    [1, 2.0, "x"],
    (1, (2, 3)),
    {"a": 1, 2: [3], (1, 2): None},
    [[]],
]


@pytest.mark.parametrize("value", ROUND_TRIPS, ids=repr)
def test_round_trip(value):
    assert decode_answer(encode(value)) == value
    assert decode_trusted(encode(value)) == value


def test_nan_round_trips_as_nan():
    assert math.isnan(decode_answer(encode(float("nan"))))


@pytest.mark.parametrize("dtype", ["float64", "float32", "int64", "int8", "uint16", "bool",
                                   "complex128"])
def test_arrays_keep_dtype_and_shape(dtype):
    arr = (np.arange(12) % 3).astype(dtype).reshape(3, 4)
    back = decode_answer(encode(arr))
    assert back.dtype == arr.dtype and back.shape == (3, 4)
    assert np.array_equal(back, arr)


def test_big_endian_and_non_contiguous_arrays():
    arr = np.arange(6, dtype=">f8").reshape(2, 3).T
    back = decode_answer(encode(arr))
    assert back.shape == (3, 2) and np.array_equal(back, arr)


def test_numpy_scalars_become_plain_numbers():
    assert decode_answer(encode(np.float32(0.5))) == 0.5
    assert decode_answer(encode(np.int64(661))) == 661
    assert decode_answer(encode(np.bool_(True))) is True


def test_sympy_goes_through_srepr():
    sympy = pytest.importorskip("sympy")
    x, t = sympy.symbols("x t")
    expr = sympy.exp(-x) / (1 + t**2)
    assert encode(expr)["t"] == "sympy"
    assert decode_answer(encode(expr)) == expr


def test_callables_cross_as_names_only():
    def q(a, b=2):
        return a

    assert decode_answer(encode(q)) == CallableAnswer("q", "(a, b=2)")


def test_lying_subclasses_cross_as_plain_data():
    class Liar(float):
        def __repr__(self):
            return "1.0"

        def __eq__(self, other):
            return True

        __hash__ = float.__hash__

    class LyingList(list):
        def __iter__(self):
            return iter([42])

    assert decode_answer(encode(Liar(0.25))) == 0.25
    assert type(decode_answer(encode(Liar(0.25)))) is float
    assert decode_answer(encode(LyingList([1, 2]))) == [1, 2]


def test_object_lying_about_its_class_is_not_trusted():
    class Fake:
        @property
        def __class__(self):
            return float

    assert decode_answer(encode(Fake()))  # an unsupported marker, not a crash
    assert isinstance(decode_answer(encode(Fake())), Rejected)


def test_oversized_value_is_rejected_in_the_kernel():
    big = list(range(1_100_000))
    assert encode(big)["t"] == "rejected"
    assert isinstance(decode_answer(encode(big)), Rejected)


def test_missing_marker():
    assert decode_answer({"t": "missing"}) is MISSING


HOSTILE = [
    "not a dict",
    {"t": "pickle", "v": "gASV"},
    {"t": "int", "v": "1" * 5000},
    {"t": "int", "v": "__import__('os')"},
    {"t": "float", "v": "1e5; import os"},
    {"t": "ndarray", "dtype": "O", "shape": [1], "data": ""},
    {"t": "ndarray", "dtype": "<f8", "shape": [2], "data": base64.b64encode(b"x" * 8).decode()},
    {"t": "ndarray", "dtype": "<f8", "shape": [-1], "data": ""},
    {"t": "ndarray", "dtype": "<f8,<i4", "shape": [1], "data": ""},
    {"t": "ndarray", "dtype": "<f8", "shape": [1], "data": "!!!"},
    {"t": "sympy", "srepr": "__import__('os').system('echo pwned')"},
    {"t": "sympy", "srepr": "Symbol('x').__class__"},
    {"t": "list", "v": "abc"},
    {"t": "dict", "v": [[{"t": "list", "v": []}, {"t": "none"}]]},
    {"t": "set", "v": [{"t": "list", "v": []}]},
    {"t": "str"},
]


@pytest.mark.parametrize("wire", HOSTILE, ids=lambda w: str(w)[:40])
def test_hostile_wire_data_is_rejected_not_run(wire):
    assert isinstance(decode_answer(wire), Rejected)


def test_deep_nesting_is_rejected():
    wire: dict = {"t": "none"}
    for _ in range(500):
        wire = {"t": "list", "v": [wire]}
    assert isinstance(decode_answer(wire), Rejected)


def test_zero_dimensional_array_keeps_its_shape():
    back = decode_answer(encode(np.asarray(1.5)))
    assert back.shape == () and back == 1.5


def _load_agent_afresh(monkeypatch: pytest.MonkeyPatch, **patched: object):
    """Load the agent's file as a new module while builtins are patched, as a reload is."""
    import builtins
    import importlib.util
    from importlib.resources import files

    for name, value in patched.items():
        monkeypatch.setattr(builtins, name, value)
    path = str(files("grader.kernel").joinpath("agent.py"))
    spec = importlib.util.spec_from_file_location("grader_kernel_agent_reloaded", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_an_agent_loaded_after_builtins_are_patched_still_reads_plain_types(monkeypatch):
    real = issubclass

    def lying_issubclass(cls, base):
        return True if cls is list and base is bool else real(cls, base)

    agent = _load_agent_afresh(monkeypatch, issubclass=lying_issubclass, list=tuple,
                               len=lambda x: 0, callable=lambda x: False)
    monkeypatch.undo()
    assert agent.encode([False]) == {"t": "list", "v": [{"t": "bool", "v": False}]}
    assert agent.encode("abc") == {"t": "str", "v": "abc"}
    assert agent.encode(len)["t"] == "callable"
    assert agent.encode(frozenset({1})) == {"t": "set", "v": [{"t": "int", "v": "1"}]}


def test_a_metaclass_that_claims_equality_with_every_class_is_not_a_bool():
    class Equal(type):
        def __eq__(cls, other):
            return True

        __hash__ = type.__hash__

        def __subclasscheck__(cls, sub):
            return True

    class Liar(metaclass=Equal):
        pass

    assert encode(Liar())["t"] == "unsupported"
    assert encode(Liar()) == {"t": "unsupported", "type": f"{__name__}.{Liar.__qualname__}"}


def test_a_stand_in_numpy_is_not_trusted(monkeypatch):
    import sys
    import types

    fake = types.ModuleType("numpy")
    fake.ndarray, fake.bool_, fake.integer, fake.floating = list, list, int, float
    fake.complexfloating, fake.True_ = complex, [True]
    monkeypatch.setitem(sys.modules, "numpy", fake)
    agent = _load_agent_afresh(monkeypatch)
    monkeypatch.undo()
    assert agent._numpy is None
    assert agent.encode([False]) == {"t": "list", "v": [{"t": "bool", "v": False}]}


def test_sets_cross_as_frozensets_within_the_list_bounds():
    # A set answer (graded with unordered = true) keeps its elements, not its order.
    for value in ({3, 1, 2}, frozenset({0.5, 2**70}), {(1, 2), (3, 4)}, set()):
        decoded = decode_answer(encode(value))
        assert isinstance(decoded, frozenset) and decoded == value
    assert encode(set(range(1_100_000)))["t"] == "rejected"  # the bound lists have
    nested = {"t": "set", "v": [{"t": "set", "v": [{"t": "int", "v": "1"}]}]}
    assert decode_answer(nested) == frozenset({frozenset({1})})


def test_lone_surrogates_from_the_kernel_become_replacement_characters():
    # JSON can spell a lone surrogate; Python reads it as a str no UTF-8 writer accepts
    # (a page, a Dask reply, sqlite). Every string read off the wire is made safe.
    import json

    from grader.kernel import wire
    from grader.kernel.harvest import budget_of, decode_answers, decode_calls

    text = json.dumps({"answers": {"a": {"t": "str", "v": "x\ud800y"},
                                   "d": {"t": "dict", "v": [[{"t": "str", "v": "\udfff"},
                                                             {"t": "int", "v": "1"}]]}},
                       "calls": [{"value": {"t": "str", "v": "\udc80"}},
                                 {"error": "ValueError: bad \ud800 value"}],
                       "\ud801key": "fine \U0001f600"})
    assert "\\ud800" in text
    limits = wire.Limits.of(DEFAULTS)
    for raw in (text, text.encode("ascii")):
        data = wire.loads(raw, limits)
        budget = budget_of(limits)
        answers = decode_answers(data["answers"], budget)
        calls = decode_calls(data["calls"], budget, 1.0)
        assert answers == {"a": "x\ufffdy", "d": {"\ufffd": 1}}
        assert calls[0].value == "\ufffd"
        assert calls[1].error == "ValueError: bad \ufffd value"
        assert data["\ufffdkey"] == "fine \U0001f600"  # a real pair is kept
        json.dumps([answers, [c.error for c in calls], data],
                   ensure_ascii=False).encode("utf-8")
    # A transcript read back from disk is decoded by the codec itself, not the wire.
    assert decode_answer({"t": "str", "v": "\ud800"}) == "\ufffd"
    assert decode_answer({"t": "rejected", "reason": "r\ud800"}) == Rejected("r\ufffd")


def test_a_sympy_text_decodes_to_the_same_value_each_time_and_is_charged_each_time():
    import sympy

    from grader.kernel.codec import DecodeBudget, decode_answer

    expr = sympy.sin(sympy.Symbol("x", positive=True)) ** 2 + 1
    text = sympy.srepr(expr)
    tag = {"t": "sympy", "srepr": text}
    spent = []
    values = []
    for _ in range(3):
        budget = DecodeBudget(nodes=10_000, seconds=10.0)
        values.append(decode_answer(tag, budget))
        spent.append((budget.spent, budget.spent_bytes))
    assert values[0] == values[1] == values[2] == expr
    assert values[1] is values[0]  # parsed once
    assert spent[0] == spent[1] == spent[2] != (0, 0)
    refused = {"t": "sympy", "srepr": "__import__('os').system('true')"}
    first, second = decode_answer(refused), decode_answer(refused)
    assert type(first).__name__ == type(second).__name__ == "Rejected"
    assert first == second
