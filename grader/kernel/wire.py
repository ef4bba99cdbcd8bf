"""Bounds on what the grader reads from a kernel, derived from the rubric's caps.

A kernel is the student's process: it can put any bytes on any of its channels, and
jupyter_client would turn every message into Python objects before the grader sees it
(a JSON text of ``[],[],...`` costs about 25 times its size once parsed). Three walls keep
the grader's memory a small multiple of the rubric's ``max_answers_mb`` and
``max_output_bytes`` whatever is sent:

- libzmq refuses a frame longer than :attr:`Limits.message_bytes` (``ZMQ_MAXMSGSIZE`` on
  every socket of the kernel's client) and cuts that connection without reading it; the
  client notices the cut (:class:`Guard`) and the kernel is stopped.
- :meth:`Guard.deserialize` refuses a message whose frames add up to more than that.
- :meth:`Guard.unpack`, the unpacker of the client's Session, refuses a JSON frame before
  parsing it when a pre-scan of its bytes (:func:`prescan`) finds it too long once
  decoded, with too many values (``[``, ``{`` and ``,`` bound their number from above),
  or nested too deeply.

A refused message is never parsed: the kernel is stopped as when its messages cannot be
read, with a reason that says it sent a message larger than the limit. Decoding the
answers has a budget of its own (:class:`grader.kernel.codec.DecodeBudget`).
"""

from __future__ import annotations

import json
import re
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from grader.settings import ExecutionSettings

# A harvest message around its answers: header frames, the nonce, the MIME type, names.
ENVELOPE_BYTES = 1_000_000
ENVELOPE_NODES = 65_536
# One value of the wire format is at least "{", "," and a separator; a parsed JSON value
# costs the grader at most about 100 bytes (a one-key dict). A value per 32 bytes of the
# answer budget keeps a legal list at the agent's item cap (a million floats) and bounds
# the parsed values to about three times the budget.
BYTES_PER_NODE = 32
# codec.py reads 80 levels of tagged values, each at most 3 levels of JSON (a dict's
# pair list), inside the message's own few levels.
MAX_DEPTH = 3 * 80 + 16
MAX_DECODE_SECONDS = 20.0
SIZE_KEY = "grader_wire_bytes"  # set on each message read: its size as it arrived

_WIDE2 = re.compile(rb"[\xc4-\xef]")  # a lead byte of a character past U+00FF
_WIDE4 = re.compile(rb"[\xf0-\xf7]")  # a lead byte of a character past U+FFFF
_NOT_STRUCTURE = bytes(b for b in range(256) if b not in b'"[]{}')
_CHUNK = 1 << 22  # bytes of structure looked at a time, to keep the scan's own memory small


@dataclass(frozen=True, kw_only=True)
class Limits:
    """What the grader accepts from one kernel, all derived from the execution settings.

    ``answer_bytes`` and ``answer_nodes`` bound a submission's answers in all (the agent
    keeps a harvest within them); ``message_*`` bound any one message, a harvest or
    output up to the cap, with room for its envelope; ``decode_seconds`` is the CPU time
    the grader spends decoding one submission's answers.
    """

    answer_bytes: int
    answer_nodes: int
    message_bytes: int
    message_nodes: int
    message_depth: int = MAX_DEPTH
    decode_seconds: float = MAX_DECODE_SECONDS

    @classmethod
    def of(cls, settings: ExecutionSettings) -> Limits:
        """The limits for a kernel run under ``settings``."""
        answers = settings.max_answers_mb * 1_000_000
        nodes = answers // BYTES_PER_NODE
        # A message carries answers or output, not both: an output message may be escaped
        # to twice its text (JSON's \n, \"), and every character of it may be a comma.
        output = settings.max_output_bytes
        return cls(answer_bytes=answers, answer_nodes=nodes,
                   message_bytes=max(answers, 2 * output) + ENVELOPE_BYTES,
                   message_nodes=max(nodes, output) + ENVELOPE_NODES,
                   decode_seconds=min(settings.cell_timeout, MAX_DECODE_SECONDS))


def _mb(n: int) -> str:
    return f"{n / 1_000_000:.1f} MB"


def decoded_size(raw: bytes) -> int:
    """Bytes the text takes once decoded: Python stores it 1, 2 or 4 bytes a character."""
    if raw.isascii():
        return len(raw)
    if _WIDE4.search(raw):
        return 4 * len(raw)
    return 2 * len(raw) if _WIDE2.search(raw) else len(raw)


def nodes(raw: bytes) -> int:
    """An upper bound of the values in a JSON text: every array, object and separator."""
    return raw.count(b"[") + raw.count(b"{") + raw.count(b",")


def depth(raw: bytes) -> int:
    """How deeply a JSON text nests, its strings left out (their brackets are text)."""
    import numpy as np

    # Escaped backslashes, then escaped quotes, go first (left to right, as JSON pairs
    # them): every quote left opens or closes a string. Then only quotes and brackets.
    text = raw.replace(b"\\\\", b"").replace(b'\\"', b"").translate(None, _NOT_STRUCTURE)
    level, deepest, inside = 0, 0, 0
    for start in range(0, len(text), _CHUNK):
        chunk = np.frombuffer(text, dtype=np.uint8, count=min(_CHUNK, len(text) - start),
                              offset=start)
        quote = chunk == ord('"')
        quotes = np.cumsum(quote, dtype=np.int64)
        in_string = (quotes - quote + inside) % 2 == 1
        opens = (chunk == ord("[")) | (chunk == ord("{"))
        step = np.where(quote | in_string, 0, np.where(opens, 1, -1))
        levels = level + np.cumsum(step, dtype=np.int64)
        deepest = max(deepest, int(levels.max()))
        level, inside = int(levels[-1]), (inside + int(quotes[-1])) % 2
    return deepest


def prescan(raw: bytes | str, limits: Limits) -> str:
    """Why a JSON text must not be parsed under ``limits``, or "" when it may be.

    Cheap (a few passes of C code over the bytes) and an upper bound: what it lets
    through parses to at most ``message_nodes`` values nested ``message_depth`` deep.
    """
    data = raw.encode("utf-8", "surrogatepass") if isinstance(raw, str) else bytes(raw)
    size = decoded_size(data)
    if size > limits.message_bytes:
        return (f"the kernel sent a message larger than the limit ({_mb(size)} once read; "
                f"at most {_mb(limits.message_bytes)})")
    count = nodes(data)
    if count > limits.message_nodes:
        return (f"the kernel sent a message larger than the limit ({count:,} JSON values; "
                f"at most {limits.message_nodes:,})")
    # Nesting needs a pass over the structure; a text with few brackets cannot nest deep.
    if data.count(b"[") + data.count(b"{") > limits.message_depth:
        levels = depth(data)
        if levels > limits.message_depth:
            return (f"the kernel sent a message larger than the limit (nested {levels:,} "
                    f"levels deep; at most {limits.message_depth})")
    return ""


class MessageRefused(ValueError):
    """A message from the kernel that the grader will not read (see :func:`prescan`)."""


def loads(raw: bytes | str, limits: Limits) -> Any:
    """``json.loads`` after :func:`prescan`; raises :class:`MessageRefused` instead."""
    problem = prescan(raw, limits)
    if problem:
        raise MessageRefused(problem)
    if isinstance(raw, bytes):
        raw = raw.decode("utf-8", "replace")  # as jupyter_client's own unpacker does
    return scrubbed(json.loads(raw), raw)


def scrubbed(value: Any, text: str) -> Any:
    """``value``, parsed from the JSON ``text``, with :func:`scrub` applied if it needs it.

    JSON may spell a lone surrogate ("\\ud800"): such a string cannot be encoded as UTF-8,
    so a reply, a page or the gradebook that wrote it would raise. A text that spells no
    surrogate (and holds none) is not walked: ``value`` itself comes back.
    """
    if _SURROGATE_ESCAPE.search(text) or _SURROGATE.search(text):
        return scrub(value)
    return value


_SURROGATE = re.compile("[\ud800-\udfff]")
_SURROGATE_ESCAPE = re.compile(r"\\u[dD][89a-fA-F]")


def clean_text(text: str) -> str:
    """``text`` with each lone surrogate replaced by U+FFFD, so that it encodes as UTF-8."""
    return _SURROGATE.sub("\ufffd", text)


def scrub(value: Any) -> Any:
    """Parsed JSON ``value`` with :func:`clean_text` applied to every string, keys included."""
    if isinstance(value, str):
        return clean_text(value)
    if isinstance(value, list):
        return [scrub(item) for item in value]
    if isinstance(value, dict):
        return {clean_text(k): scrub(v) for k, v in value.items()}
    return value


class Guard:
    """The bounds on one kernel's messages, wired into its client's Session and sockets.

    ``on_refused`` is called once, with the reason, the first time a message is refused
    or a connection is cut; it stops the kernel.
    """

    def __init__(self, limits: Limits, on_refused: Callable[[str], None]) -> None:
        self.limits = limits
        self.on_refused = on_refused
        self.refused = ""
        self._lock = threading.Lock()

    def refuse(self, why: str) -> None:
        """Record ``why`` and tell the owner, the first time only."""
        with self._lock:
            first = not self.refused
            if first:
                self.refused = why
        if first:
            self.on_refused(why)

    def install(self, session: Any) -> None:
        """Make ``session`` (jupyter_client's) read every message through this guard."""
        if getattr(session, "grader_guard", None) is self:
            return
        original = session.deserialize

        def deserialize(msg_list: list[Any], content: bool = True, copy: bool = True
                        ) -> dict[str, Any]:
            total = sum(len(part) for part in msg_list)
            if total > self.limits.message_bytes:
                why = (f"the kernel sent a message larger than the limit ({_mb(total)}; at "
                       f"most {_mb(self.limits.message_bytes)})")
                self.refuse(why)
                raise MessageRefused(why)
            message = original(msg_list, content=content, copy=copy)
            message[SIZE_KEY] = total
            return message

        session.deserialize = deserialize
        session.unpack = self.unpack
        session.grader_guard = self

    def unpack(self, raw: bytes | str) -> Any:
        """The Session's unpacker: :func:`loads`, stopping the kernel on a refusal."""
        try:
            return loads(raw, self.limits)
        except MessageRefused as exc:
            self.refuse(str(exc))
            raise

    def cut(self, channel: str) -> None:
        """A connection to the kernel was cut while it lived: libzmq refused a frame."""
        self.refuse(f"the kernel sent a message larger than the limit of "
                    f"{_mb(self.limits.message_bytes)} (libzmq cut its {channel} connection)")
