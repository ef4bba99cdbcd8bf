"""Check messages as catalogue parts, so that a page can show them in its own language.

A check builds its message with :func:`say`: a key of the message catalogue
(``grader/locales/<lang>.json``, the ``check.*`` keys) and the values to put in it. What
comes back is a :class:`Message`: the English text, a ``str`` like any other (so every
reader of ``CheckResult.message`` is unchanged), which also keeps its :attr:`parts`.
:func:`grader.checks.protocol.make_result` stores them in ``CheckResult.message_parts``,
and the page renders them with its own catalogue (:func:`render`).

Values are never translated: numbers, expressions, calls and inputs go in as values, and
so does any text a check got from elsewhere (an exception's message, a property's own
words); a value may itself be a :class:`Message` (``detail`` of "wrong on 1 of 7 test
inputs; first: {detail}"), which is rendered in the same language. Text that is not a
Message stays as written: that is how a rubric's own ``feedback`` reaches every page.

The parts are plain JSON data: ``{"key": ..., "args": {...}}``, an argument being a
string, a number or a nested list of parts; ``{"text": ...}`` for text as written; and
``{"sentence": [parts]}`` for :func:`sentence`.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Mapping, Sequence
from importlib import resources
from typing import Any

from grader.errors import GraderError

DEFAULT_LANG = "en"

Part = dict[str, Any]


def languages() -> tuple[str, ...]:
    """The language codes a catalogue ships for, e.g. ``("en", "fa")``."""
    folder = resources.files("grader").joinpath("locales")
    return tuple(sorted(p.name.removesuffix(".json") for p in folder.iterdir()
                        if p.name.endswith(".json")))


@functools.cache
def load_catalogue(lang: str) -> dict[str, Any]:
    """The messages of ``lang``'s catalogue (``GraderError`` when none ships)."""
    if lang not in languages():
        raise GraderError(f"no message catalogue for language {lang!r} "
                          f"(available: {', '.join(languages())})")
    text = resources.files("grader").joinpath("locales", f"{lang}.json").read_text("utf-8")
    data: dict[str, Any] = json.loads(text)
    return data


class Message(str):
    """A check's message: its English text, and the catalogue parts it was rendered from.

    ``+`` keeps the parts (a plain ``str`` joins as text as written); anything else a
    ``str`` method returns is plain text again, which a page shows as written.
    """

    parts: tuple[Part, ...]

    def __new__(cls, parts: Sequence[Part]) -> Message:
        """The message of ``parts``, rendered with the English catalogue."""
        parts = tuple(parts)
        self = super().__new__(cls, render(parts, load_catalogue(DEFAULT_LANG)))
        self.parts = parts
        return self

    def __getnewargs__(self) -> tuple[tuple[Part, ...]]:  # type: ignore[override]
        # pickle and copy make a str subclass again from its text; a Message is its parts.
        return (self.parts,)

    def __add__(self, other: str) -> Message:
        return Message((*self.parts, *parts_of(other)))

    def __radd__(self, other: str) -> Message:
        return Message((*parts_of(other), *self.parts))


def say(key: str, /, **args: Any) -> Message:
    """The message ``key`` of the catalogue with ``args`` filled in (``n`` picks a plural)."""
    return Message(({"key": key, "args": {k: _value(v) for k, v in args.items()}},))


def joined(items: Sequence[str], sep: str = "check.list.semicolon") -> Message:
    """``items`` one after another, with the separator the catalogue's key ``sep`` says."""
    parts: list[Part] = []
    for i, item in enumerate(items):
        if i:
            parts.append({"key": sep, "args": {}})
        parts.extend(parts_of(item))
    return Message(parts)


def sentence(text: str) -> Message:
    """``text`` as a sentence: a capital first and a full stop at the end, in any language."""
    return Message(({"sentence": list(parts_of(text))},))


def parts_of(text: str) -> tuple[Part, ...]:
    """The parts of a message; text that is not a :class:`Message` is one part, as written."""
    if isinstance(text, Message):
        return text.parts
    return ({"text": str(text)},) if text else ()


def _value(value: Any) -> Any:
    if isinstance(value, Message):
        return list(value.parts)
    if isinstance(value, bool) or not isinstance(value, int | float):
        return str(value)
    return value


def render(parts: Sequence[Part], messages: Mapping[str, Any],
           fallback: Mapping[str, Any] | None = None) -> str:
    """``parts`` in the language of ``messages``; a key it lacks is looked up in ``fallback``.

    A key in neither is a ``KeyError``: a result written by another version of the grader
    (its page then shows the English text the result carries).
    """
    return "".join(_render_part(p, messages, fallback) for p in parts)


def _render_part(part: Part, messages: Mapping[str, Any],
                 fallback: Mapping[str, Any] | None) -> str:
    if "text" in part:
        return str(part["text"])
    if "sentence" in part:
        text = render(part["sentence"], messages, fallback)
        return text[:1].upper() + text[1:] + ("" if text.endswith(".") else ".")
    key = part["key"]
    template = messages.get(key)
    if template is None and fallback is not None:
        template = fallback.get(key)
    if template is None:
        raise KeyError(f"message {key!r} is in no catalogue")
    args = {name: render(v, messages, fallback) if isinstance(v, list) else v
            for name, v in part.get("args", {}).items()}
    if isinstance(template, dict):
        template = template["one"] if args.get("n") == 1 and "one" in template else \
            template["other"]
    return str(template).format(**args)
