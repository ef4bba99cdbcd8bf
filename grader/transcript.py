"""What a submission's kernel run handed the grader, kept so that it can be checked again.

A :class:`Transcript` holds the harvested answers and the items of each function check's
calls as tagged JSON, exactly as they crossed from the kernel, with the
:func:`fingerprint` of everything that run depended on. The gradebook stores it beside
the result (``transcripts``); ``grader grade --resume`` after a rubric edit that changed
only checks (tolerances, mistakes, points, feedback) re-checks from it without starting a
kernel (:func:`grader.grade.regrade`). A changed fingerprint (the submission, the answers
or calls planned, the execution settings, the sandbox, the grader or its environment)
means the kernel runs again.

The gradebook is the TA's file, but what a transcript holds came from students: it is read
back only by the kernel's hostile-input codec (:mod:`grader.kernel.codec`, never
unpickled or evaluated), and a blob that does not parse, has the wrong shape or does not
match its stored checksum is refused (:class:`TranscriptError`): that submission runs
again rather than being trusted.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from grader.calls import Call
from grader.errors import TranscriptError

FORMAT = 1


@dataclass(frozen=True, kw_only=True)
class Transcript:
    """A kernel run's answers and call results as they crossed, and what the run depended on.

    ``answers`` is the tagged JSON of each contract name, or None when none could be read
    (each answer is then rejected for ``refused``); ``calls`` has one entry per function
    check that called, in the rubric's order: its :func:`call_key`, the per-call limit and
    the agent's items. ``isolation`` is the sandbox the kernel ran in.
    """

    fingerprint: str
    answers: Mapping[str, Any] | None
    refused: str = ""
    calls: tuple[tuple[str, float, tuple[Any, ...]], ...] = ()
    isolation: str = "none"

    def to_json(self) -> str:
        """The stored form (compact JSON text)."""
        return json.dumps({"format": FORMAT, "fingerprint": self.fingerprint,
                           "answers": self.answers, "refused": self.refused,
                           "calls": [[k, limit, list(items)] for k, limit, items in self.calls],
                           "isolation": self.isolation},
                          ensure_ascii=False, separators=(",", ":"))

    @classmethod
    def from_json(cls, text: str) -> Transcript:
        """Read a stored transcript; :class:`TranscriptError` for anything malformed.

        Only the envelope is checked here; the tagged values in it are decoded later, by
        the hostile-input codec, like a harvest fresh from a kernel.
        """
        try:
            data = json.loads(text)
        except (ValueError, RecursionError) as exc:
            raise TranscriptError(f"not JSON ({exc})") from None
        if not isinstance(data, dict) or data.get("format") != FORMAT:
            raise TranscriptError("not a transcript of this grader's format")
        answers, calls = data.get("answers"), data.get("calls")
        if not (answers is None or (isinstance(answers, dict) and
                                    all(isinstance(v, dict) for v in answers.values()))):
            raise TranscriptError("malformed answers")
        if not isinstance(calls, list) or not all(_is_call_entry(c) for c in calls):
            raise TranscriptError("malformed calls")
        fingerprint, refused = data.get("fingerprint"), data.get("refused", "")
        isolation = data.get("isolation", "none")
        if not (isinstance(fingerprint, str) and isinstance(refused, str)
                and isinstance(isolation, str)):
            raise TranscriptError("malformed fields")
        return cls(fingerprint=fingerprint, answers=answers, refused=refused,
                   calls=tuple((k, float(limit), tuple(items)) for k, limit, items in calls),
                   isolation=isolation)


def _is_call_entry(entry: Any) -> bool:
    return (isinstance(entry, list) and len(entry) == 3 and isinstance(entry[0], str)
            and isinstance(entry[1], int | float) and not isinstance(entry[1], bool)
            and entry[1] > 0 and isinstance(entry[2], list))


def checksum(text: str) -> str:
    """SHA-256 of a stored transcript's text: a changed blob no longer matches it."""
    return hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()


def call_key(answer: str, calls: Sequence[Call], timeout: float | None) -> str:
    """The identity of one check's calls: the function, each call's arguments as the
    kernel's codec encodes them (what the kernel was sent), and the check's limit."""
    from grader.kernel.agent import encode

    wire = [[encode(tuple(c.args)), encode(dict(c.kwargs))] for c in calls]
    text = json.dumps([answer, wire, timeout], sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()


def fingerprint(*, submission: str, answers: Sequence[str], calls: Sequence[str],
                settings: Mapping[str, Any], isolation: str, grader: str,
                environment: Mapping[str, str]) -> str:
    """SHA-256 of what a kernel run depends on: equal fingerprints, the same run.

    ``submission`` is its content digest, ``answers`` the names harvested, ``calls`` the
    :func:`call_key` of each check's calls in the order they are made, ``settings`` the
    execution settings (preload and limits included), ``isolation`` the sandbox mode,
    ``grader`` its version and ``environment`` its Python, numpy and sympy.
    """
    text = json.dumps({"format": FORMAT, "submission": submission, "answers": list(answers),
                       "calls": list(calls), "settings": dict(settings),
                       "isolation": isolation, "grader": grader,
                       "environment": dict(environment)},
                      sort_keys=True, default=str, separators=(",", ":"))
    return hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()
