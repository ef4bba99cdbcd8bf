"""The grader's exceptions: one root, each carrying structured fields.

Exceptions are for misconfiguration and for failures of the grader itself. A wrong,
missing or malformed student answer is never an exception: it is a ``CheckResult``.
"""

from __future__ import annotations


class GraderError(Exception):
    """Root of every exception the grader raises on purpose."""


class RubricError(GraderError):
    """A rubric file is wrong: names the file, the question, the key and what is allowed."""

    def __init__(
        self,
        message: str,
        *,
        path: str | None = None,
        question: str | None = None,
        key: str | None = None,
        allowed: str | None = None,
    ) -> None:
        self.path = path
        self.question = question
        self.key = key
        self.allowed = allowed
        self.reason = message
        where = []
        if path:
            where.append(str(path))
        if question:
            where.append(f"question {question!r}")
        if key:
            where.append(f"key {key!r}")
        text = (": ".join([", ".join(where), message]) if where else message)
        if allowed:
            text += f" (allowed: {allowed})"
        super().__init__(text)


class ReferenceModuleError(GraderError):
    """The reference module cannot be loaded or lacks a name the rubric needs."""

    def __init__(self, message: str, *, path: str | None = None, name: str | None = None) -> None:
        self.path = path
        self.name = name
        super().__init__(f"{path}: {message}" if path else message)


class SubmissionError(GraderError):
    """A submission cannot be found or read at all (not: it ran badly)."""

    def __init__(self, message: str, *, path: str | None = None) -> None:
        self.path = path
        super().__init__(f"{path}: {message}" if path else message)


class DecodeError(GraderError):
    """Data from the kernel does not follow the codec: the answer is rejected.

    Raised by the decoder and caught by the harvest stage, which turns it into a
    rejected answer; it never escapes to the user.
    """

    def __init__(self, message: str, *, name: str | None = None) -> None:
        self.name = name
        super().__init__(message)


class TranscriptError(GraderError):
    """A stored kernel transcript cannot be used (malformed, or not what was stored).

    Raised while reading the gradebook's stored answers and caught by the batch, which
    then runs that submission again; it never escapes to the user.
    """


class ParseError(GraderError):
    """Text or ``srepr`` data that the whitelist parsers refuse: never evaluated, rejected."""

    def __init__(self, message: str, *, text: str | None = None, offset: int | None = None) -> None:
        self.text = text
        self.offset = offset
        super().__init__(message)


class ReleaseError(GraderError):
    """A rubric cannot be released as it is; the message says which check and why."""


class RubricWarning(UserWarning):
    """A rubric uses a deprecated form; the message names the file, the key and the fix."""
