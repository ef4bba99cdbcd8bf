"""What the grader reads from a kernel is bounded before it is parsed, and after.

The pre-scan of a message (``grader.kernel.wire``), the guard in the client's Session, the
budget for decoding a submission's answers (``grader.kernel.codec.DecodeBudget``), the agent's
budget for a submission's answers in all, and the summary of failing cells past the cap.
The hostile corpus (``GRADER_BOUND_CASES`` in ``tests/test_hostile.py``) runs each of them
against a live kernel.
"""

from __future__ import annotations

import json
import random
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from grader.answers import Rejected
from grader.errors import RubricError
from grader.kernel import agent as kernel_agent
from grader.kernel import wire
from grader.kernel.cells import MAX_CELL_ERRORS, _clip, omitted_errors
from grader.kernel.client import capped_client_class
from grader.kernel.codec import DecodeBudget, decode_answer
from grader.rubric import load_rubric
from grader.settings import DEFAULTS, ExecutionSettings

LIMITS = wire.Limits.of(DEFAULTS)
SMALL = wire.Limits.of(replace(DEFAULTS, max_answers_mb=1, max_output_bytes=10_000))


# --------------------------------------------------------------------------- the limits


def test_the_limits_follow_the_settings() -> None:
    assert LIMITS.answer_bytes == 128_000_000
    assert LIMITS.message_bytes == 128_000_000 + wire.ENVELOPE_BYTES
    assert LIMITS.answer_nodes == 128_000_000 // wire.BYTES_PER_NODE
    assert LIMITS.decode_seconds == wire.MAX_DECODE_SECONDS  # 60 s cells, capped
    bigger = wire.Limits.of(replace(DEFAULTS, max_answers_mb=512, cell_timeout=5))
    assert bigger.message_bytes > 4 * LIMITS.answer_bytes
    assert bigger.message_nodes > 4 * LIMITS.answer_nodes
    assert bigger.decode_seconds == 5
    # Output up to its cap fits a message too, escaped and all commas.
    chatty = wire.Limits.of(replace(DEFAULTS, max_answers_mb=1, max_output_bytes=10**7))
    assert chatty.message_bytes > 2 * 10**7 and chatty.message_nodes > 10**7


def _rubric(tmp_path: Path, execution: str) -> Path:
    path = tmp_path / "rubric.toml"
    path.write_text(f'[assignment]\nid = "t"\ntitle = "T"\n\n[execution]\n{execution}\n\n'
                    '[[questions]]\nid = "q"\ntitle = "Q"\npoints = 1\n'
                    '  [[questions.checks]]\n  answer = "a"\n  kind = "numeric"\n'
                    '  value = 1\n')
    return path


def test_max_answers_mb_is_a_setting_checked_at_load_time(tmp_path: Path) -> None:
    assert ExecutionSettings().max_answers_mb == 128
    rubric = load_rubric(_rubric(tmp_path, "max_answers_mb = 16"))
    assert rubric.execution.max_answers_mb == 16
    for bad in ("0", "-4", '"lots"', "1.5"):
        with pytest.raises(RubricError) as info:
            load_rubric(_rubric(tmp_path, f"max_answers_mb = {bad}"))
        assert info.value.key in ("max_answers_mb", "execution.max_answers_mb"), bad


# --------------------------------------------------------------------------- the pre-scan


def _message(payload: Any) -> bytes:
    """A harvest's content as the kernel's session packs it."""
    content = {"data": {kernel_agent.RESULT_MIME: {"nonce": "n", "payload": payload}},
               "metadata": {}, "transient": {}}
    return json.dumps(content, ensure_ascii=False).encode()


def test_an_ordinary_harvest_passes() -> None:
    import numpy as np

    payload = {"v": kernel_agent.encode(np.ones(100_000)),
               "xs": kernel_agent.encode([0.1 * i for i in range(100_000)]),
               "text": kernel_agent.encode("naïve, [bracketed] {text} \"quoted\" 😀")}
    assert wire.prescan(_message(payload), LIMITS) == ""
    assert wire.loads(_message(payload), LIMITS)["data"][kernel_agent.RESULT_MIME] \
        ["payload"]["text"] == {"t": "str", "v": "naïve, [bracketed] {text} \"quoted\" 😀"}


def test_too_many_values_are_refused_unparsed(monkeypatch: pytest.MonkeyPatch) -> None:
    raw = b"[" + b"[], " * SMALL.message_nodes + b"[]]"
    # The refusal must come before any parsing: json.loads would cost ~25x the bytes.
    monkeypatch.setattr(json, "loads", lambda *a, **k: pytest.fail("parsed"))
    with pytest.raises(wire.MessageRefused, match=r"larger than the limit.*JSON values"):
        wire.loads(raw, SMALL)


def test_a_long_text_is_refused_by_its_size_once_decoded() -> None:
    ascii_text = json.dumps("x" * (SMALL.message_bytes - 100)).encode()
    assert wire.prescan(ascii_text, SMALL) == ""
    # One character past U+FFFF makes Python store every character in 4 bytes.
    wide = json.dumps("x" * (SMALL.message_bytes // 2) + "😀", ensure_ascii=False).encode()
    assert "larger than the limit" in wire.prescan(wide, SMALL)
    assert wire.decoded_size(wide) == 4 * len(wide)
    assert wire.decoded_size("é".encode()) == 2  # latin-1 range: one byte a character...
    assert wire.decoded_size("é€".encode()) == 2 * len("é€".encode())  # ...U+20AC: two
    assert "larger than the limit" in wire.prescan(b"x" * (SMALL.message_bytes + 1), SMALL)


def test_deep_nesting_is_refused_and_brackets_in_strings_are_text() -> None:
    deep = b"[" * (LIMITS.message_depth + 1) + b"]" * (LIMITS.message_depth + 1)
    assert "nested 257 levels deep" in wire.prescan(deep, LIMITS)
    shallow = json.dumps(["[[[[{{{{" * 1000, {"k]]]": "}}}}\\\"[[[["}]).encode()
    assert wire.depth(shallow) == 2
    assert wire.prescan(shallow, LIMITS) == ""


def _reference_depth(text: str) -> int:
    level = deepest = 0
    inside = escaped = False
    for char in text:
        if inside:
            if escaped:
                escaped = False
            elif char == "\\":
                escaped = True
            elif char == '"':
                inside = False
        elif char == '"':
            inside = True
        elif char in "[{":
            level += 1
            deepest = max(deepest, level)
        elif char in "]}":
            level -= 1
    return deepest


def _value(rng: random.Random, depth: int) -> Any:
    if depth <= 0 or rng.random() < 0.25:
        return rng.choice([1, None, "a]", '\\"[', "\\\\", 'x\\\\"{', "[[{", "\\", '"'])
    if rng.random() < 0.5:
        return [_value(rng, depth - 1) for _ in range(rng.randint(0, 3))]
    return {str(_value(rng, 0)): _value(rng, depth - 1) for _ in range(rng.randint(0, 3))}


def test_depth_agrees_with_a_tokenizer() -> None:
    rng = random.Random(11)
    for _ in range(2000):
        text = json.dumps(_value(rng, 8))
        assert wire.depth(text.encode()) == _reference_depth(text), text


def test_the_pre_scan_is_linear_on_hostile_text() -> None:
    # Quotes and backslashes that a backtracking string pattern would rescan per quote.
    for raw in (b'x"' + b'\\"' * 2_000_000, b'["' + b'\\\\"[' * 1_000_000,
                b"[" * 2_000_000):
        started = time.process_time()
        wire.prescan(raw, LIMITS)
        assert time.process_time() - started < 2.0


# --------------------------------------------------------------------------- the guard


def test_the_guard_reads_through_the_session_and_stops_once() -> None:
    from jupyter_client.session import Session

    refused: list[str] = []
    guard = wire.Guard(SMALL, on_refused=refused.append)
    session = Session()
    guard.install(session)
    guard.install(session)  # idempotent
    small = session.msg("stream", content={"name": "stdout", "text": "hello"})
    msg = session.deserialize(session.serialize(small)[1:])
    assert msg["content"]["text"] == "hello" and msg[wire.SIZE_KEY] > 5
    flood = session.serialize(session.msg("stream", content={
        "name": "stdout", "text": [[] for _ in range(SMALL.message_nodes)]}))
    with pytest.raises(wire.MessageRefused):
        session.deserialize(flood[1:])
    buffers = [*session.serialize(small), b"x" * SMALL.message_bytes]
    with pytest.raises(wire.MessageRefused, match="larger than the limit"):
        session.deserialize(buffers[1:])
    guard.cut("iopub")
    assert len(refused) == 1 and "JSON values" in refused[0] == guard.refused


# --------------------------------------------------------------------------- decoding


def test_the_decode_budget_is_shared_by_a_submissions_answers() -> None:
    budget = DecodeBudget(nodes=1000, seconds=60)
    small = kernel_agent.encode(list(range(100)))
    assert decode_answer(small, budget) == list(range(100))
    big = kernel_agent.encode(list(range(2000)))
    first = decode_answer(big, budget)
    assert isinstance(first, Rejected) and "too large to grade" in first.reason
    assert "more than 1,000 values" in first.reason
    # From there on every answer is too large to grade, even a small one.
    later = decode_answer(kernel_agent.encode(1), budget)
    assert isinstance(later, Rejected) and later.reason == first.reason


def test_the_answers_and_call_results_share_their_bytes() -> None:
    import numpy as np

    budget = DecodeBudget(nodes=10_000, seconds=60, nbytes=1_000_000)
    assert decode_answer(kernel_agent.encode("x" * 600_000), budget) == "x" * 600_000
    array = decode_answer(kernel_agent.encode(np.zeros(60_000)), budget)  # 480 kB more
    assert isinstance(array, Rejected) and "more than 1 MB" in array.reason


def test_sympy_texts_count_their_calls_and_the_cpu_time() -> None:
    import sympy

    budget = DecodeBudget(nodes=10_000, seconds=60)
    x = sympy.Symbol("x")
    assert decode_answer(kernel_agent.encode(x + 1), budget) == x + 1
    assert budget.spent == 1 + "Add(Symbol('x'), Integer(1))".count("(")
    slow = DecodeBudget(nodes=10_000_000, seconds=0.0)
    many = {"t": "list", "v": [{"t": "sympy", "srepr": f"Integer({i})"} for i in range(300)]}
    out = decode_answer(many, slow)
    assert isinstance(out, Rejected) and "s of the grader's CPU time" in out.reason


# --------------------------------------------------------------------------- the agent


def _harvest_here(monkeypatch: pytest.MonkeyPatch, namespace: dict[str, Any],
                  limits: wire.Limits) -> dict[str, Any]:
    published: list[Any] = []
    monkeypatch.setattr(kernel_agent, "_publish", lambda nonce, payload: published.append(payload))
    kernel_agent._grader_harvest(namespace, "n", list(namespace), limits.answer_bytes,
                                 limits.answer_nodes)
    return published[0]


def test_the_agent_keeps_a_harvest_within_the_submissions_budget(
        monkeypatch: pytest.MonkeyPatch) -> None:
    chunk = "x" * 300_000  # 0.3 MB an answer; 1 MB in all
    namespace = {f"a{i}": [chunk] for i in range(5)} | {"small": 661}
    payload = _harvest_here(monkeypatch, namespace, SMALL)
    assert [payload[f"a{i}"]["t"] for i in range(5)] == ["list"] * 3 + ["rejected"] * 2
    assert "together are too large to grade" in payload["a4"]["reason"]
    assert payload["small"] == {"t": "int", "v": "661"}  # a later answer that fits is kept
    # What the agent lets through, the grader's pre-scan accepts.
    assert wire.prescan(_message(payload), SMALL) == ""


def test_the_agent_counts_values_and_wide_characters(monkeypatch: pytest.MonkeyPatch) -> None:
    # Each int is three values on the wire: its object, its separator and the list's.
    values = {"many": list(range(SMALL.answer_nodes // 4)),
              "more": list(range(SMALL.answer_nodes // 4))}
    payload = _harvest_here(monkeypatch, values, SMALL)
    assert (payload["many"]["t"], payload["more"]["t"]) == ("list", "rejected")
    wide = {"plain": "x" * 400_000, "emoji": "😀" * 10}  # now 4 bytes a character in all
    payload = _harvest_here(monkeypatch, wide, SMALL)
    assert (payload["plain"]["t"], payload["emoji"]["t"]) == ("str", "rejected")
    assert wire.prescan(_message(payload), SMALL) == ""


# --------------------------------------------------------------------------- the client


def _client() -> Any:
    import nbformat

    client = capped_client_class()(nbformat.v4.new_notebook())
    client.nb.cells.append(nbformat.v4.new_code_cell("x"))
    client.clear_before_next_output = False  # as nbclient sets it when a cell starts
    return client


def _display(size: int, display_id: str | None = None, kind: str = "display_data"
             ) -> dict[str, Any]:
    content: dict[str, Any] = {"data": {"text/plain": "y" * size}, "metadata": {}}
    if display_id:
        content["transient"] = {"display_id": display_id}
    return {"msg_type": kind, "header": {"msg_type": kind}, "parent_header": {},
            "content": content, wire.SIZE_KEY: size + 100}


def test_the_grader_keeps_one_messages_worth_of_its_own_cells() -> None:
    client = _client()
    client.capping, client.grader_budget = False, 1000
    outs: list[Any] = []
    client.output(outs, _display(500), None, 0)
    client.output(outs, _display(500), None, 0)  # past the budget: a hook's extra
    assert len(outs) == 1


def test_display_updates_count_against_the_output_cap() -> None:
    client = _client()
    client.output_budget = 2000
    outs = client.nb.cells[-1].setdefault("outputs", [])
    client.output(outs, _display(10, "d"), "d", 0)
    client._update_display_id("d", _display(50_000, "d", "update_display_data"))
    assert outs[0]["data"]["text/plain"] == "y" * 10  # the update was dropped
    assert client.output_capped
    # In the grader's own cells a display update is a student's hook: never applied.
    client.capping, client.grader_budget = False, 10**9
    client._update_display_id("d", _display(5, "d", "update_display_data"))
    assert outs[0]["data"]["text/plain"] == "y" * 10


# --------------------------------------------------------------------------- cell errors


def test_failing_cells_past_the_cap_are_counted_by_kind() -> None:
    omitted = [(i, "NameError") for i in range(22, 3002)] + \
        [(i, "ZeroDivisionError") for i in range(3002, 4002)]
    summary = omitted_errors(omitted)
    assert summary.index == 22 and summary.ename == "MoreErrors"
    assert summary.evalue.startswith(
        "and 3,980 more cells raised: NameError x2,980, ZeroDivisionError x1,000")
    assert summary.source == summary.traceback == ""
    kinds = omitted_errors([(i, f"E{i}" * 500) for i in range(5000)])
    assert len(kinds.evalue) < 2000 and "4,990 other kinds" in kinds.evalue
    assert MAX_CELL_ERRORS == 20


def test_a_kept_errors_source_and_traceback_are_clipped() -> None:
    assert _clip("short") == "short"
    long = _clip("a" * 10_000 + "END", 100)
    assert long.startswith("a" * 100) and "9,903 more characters not kept" in long
    tail = _clip("START" + "b" * 10_000, 100, keep_end=True)
    assert tail.endswith("b" * 100) and "START" not in tail
