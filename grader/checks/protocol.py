"""What a check kind is: the :class:`CheckKind` protocol, a check's spec, and its evidence.

A kind (``numeric``, ``symbolic``, ``function``, ``property``, ``manual``, or one a course
adds) lives in one module and one line of :data:`grader.checks.registry.KINDS`. It
declares its options (a frozen dataclass read from the check's TOML table), how it grades
(``grade``: never raises for a wrong answer, returns a :class:`CheckResult`), which calls
of the student's function it needs in the kernel (``plan``), which names of the
reference module it reads (``needs``), how it freezes for the student bundle
(``freeze``, ``release_evidence``) and how its answer cell looks in the handout
(``stub``). The rubric loader, the facade, ``grader release`` and the summary ask the
kind; none of them branches on a kind's name. :class:`BaseKind` gives the defaults of a
value check that needs nothing from the kernel.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from types import ModuleType
from typing import TYPE_CHECKING, Any, ClassVar, Protocol

from grader.answers import MISSING, CallOutcome, Rejected
from grader.calls import Call
from grader.results import CheckResult, Status

if TYPE_CHECKING:
    from grader.tables import Reader

# The keys every check has, whatever its kind; the loader reads them, the kind the rest.
COMMON_KEYS = ("answer", "kind", "weight", "visible", "visibility")
VISIBILITIES = ("visible", "hidden", "after_due_date", "after_published")
# Keys a release replaces by literals (or drops); the others are copied as written.
FROZEN_KEYS = ("expected", "value", "inputs", "inputs_from", "random", "array_args",
               "outputs", "mistakes", "visible", "visibility")


@dataclass(frozen=True, kw_only=True)
class KindOptions:
    """The base of a kind's options: frozen, keyword-only, validated when read."""


@dataclass(frozen=True, kw_only=True)
class CheckSpec:
    """One check of one answer: the common fields, and the options its kind read.

    A kind's options also read as the spec's own attributes (``spec.rtol`` is
    ``spec.options.rtol``); asking for an option the kind does not have is an
    AttributeError.
    """

    answer: str
    kind: str
    weight: float = 1.0
    visibility: str = "visible"
    options: KindOptions = field(default_factory=KindOptions)

    @property
    def visible(self) -> bool:
        """Shown to the student now: ``visibility == "visible"``."""
        return self.visibility == "visible"

    @property
    def reference_name(self) -> str:
        """The name in the reference module that holds the expected value or function."""
        return getattr(self.options, "expected", None) or self.answer

    def __getattr__(self, name: str) -> Any:
        if name.startswith("__"):
            raise AttributeError(name)
        options = object.__getattribute__(self, "options")
        try:
            return getattr(options, name)
        except AttributeError:
            kind = object.__getattribute__(self, "kind")
            raise AttributeError(f"a {kind} check has no option {name!r}") from None


@dataclass(frozen=True, kw_only=True)
class Comparison:
    """Whether a received value equals an expected one; ``None`` when undecidable."""

    equal: bool | None
    message: str = ""
    hint: str = ""


@dataclass(frozen=True, kw_only=True)
class Evidence:
    """What a check may look at: the decoded answer, the reference, and call outcomes."""

    received: Any
    reference: ModuleType
    calls: tuple[Call, ...] = ()
    outcomes: tuple[CallOutcome, ...] = ()


@dataclass(frozen=True, kw_only=True)
class CallPlan:
    """The calls of the student's function a check needs, and each call's time limit."""

    calls: tuple[Call, ...]
    timeout: float | None = None  # None: the rubric's [execution] call_timeout


@dataclass(frozen=True, kw_only=True)
class Need:
    """A name the check reads from the reference module.

    ``key`` is the rubric key that names it; ``callable`` whether it must be a function;
    ``what`` how a rubric without a reference is told it cannot have it, under
    ``free_key`` (the key to change there).
    """

    key: str
    name: str
    callable: bool = False
    what: str = ""
    free_key: str = ""


@dataclass(kw_only=True)
class Frozen:
    """A check as the public rubric writes it: its TOML keys and its mistakes' tables."""

    keys: dict[str, Any]
    mistakes: list[dict[str, Any]] = field(default_factory=list)


@dataclass(frozen=True, kw_only=True)
class Stub:
    """The handout's cell for an answer: code to start from, or a tagged markdown cell."""

    source: str
    markdown: bool = False


Wire = Callable[[Any], Any]  # a value as it comes back from the kernel


class CheckKind(Protocol):
    """A kind of check: one module, one line in the registry."""

    @property
    def name(self) -> str:
        """The rubric's ``kind = "..."``."""
        ...

    @property
    def summary(self) -> str:
        """One line, for the docs and error messages."""
        ...

    @property
    def auto(self) -> bool:
        """False: the answer is text, collected for a TA to score."""
        ...

    @property
    def releasable(self) -> bool:
        """False: its checks never go into a student bundle."""
        ...

    @property
    def keys(self) -> tuple[str, ...]:
        """The option keys of its TOML table, besides :data:`COMMON_KEYS`."""
        ...

    @property
    def options_type(self) -> type[KindOptions]:
        """The dataclass ``read_options`` returns."""
        ...

    def read_options(self, reader: Reader, raw: Mapping[str, Any],
                     question: str) -> KindOptions:
        """The check's options from its TOML table ``raw`` (RubricError if wrong)."""
        ...

    def grade(self, spec: CheckSpec, evidence: Evidence, max_score: float) -> CheckResult:
        """The verdict; a wrong, missing or malformed answer is a result, never raised."""
        ...

    def needs(self, spec: CheckSpec) -> tuple[Need, ...]:
        """The names of the reference module this check reads."""
        ...

    def plan(self, spec: CheckSpec, reference: ModuleType) -> CallPlan | None:
        """The calls of the student's function it needs in the kernel (None: none)."""
        ...

    def freeze(self, spec: CheckSpec, raw: Mapping[str, Any], reference: ModuleType,
               where: str) -> Frozen:
        """The public rubric's table: every expectation as a literal, no reference."""
        ...

    def release_evidence(self, public: CheckSpec, source: CheckSpec, reference: ModuleType,
                         wire: Wire, empty: ModuleType) -> Evidence | None:
        """The reference's own answer to ``public``, as the kernel would send it back.

        ``grader release`` grades it with ``public`` and refuses a bundle where it does
        not earn full marks; ``None``: there is nothing computed to verify.
        """
        ...

    def stub(self, spec: CheckSpec, reference: ModuleType) -> Stub:
        """The handout's cell for this answer."""
        ...


class BaseKind:
    """Defaults for a kind: a value answer, nothing from the kernel or the reference.

    A kind subclasses it, sets the class attributes and overrides what it does
    differently; ``grade`` and ``read_options`` it always writes itself.
    """

    name: ClassVar[str] = ""
    summary: ClassVar[str] = ""
    auto: ClassVar[bool] = True
    releasable: ClassVar[bool] = True
    keys: ClassVar[tuple[str, ...]] = ()
    options_type: ClassVar[type[KindOptions]] = KindOptions

    def read_options(self, reader: Reader, raw: Mapping[str, Any],
                     question: str) -> KindOptions:
        """No options."""
        return KindOptions()

    def grade(self, spec: CheckSpec, evidence: Evidence, max_score: float) -> CheckResult:
        """Every kind writes its own."""
        raise NotImplementedError(f"check kind {self.name!r} has no grade()")

    def needs(self, spec: CheckSpec) -> tuple[Need, ...]:
        """Nothing from the reference."""
        return ()

    def plan(self, spec: CheckSpec, reference: ModuleType) -> CallPlan | None:
        """No calls."""
        return None

    def freeze(self, spec: CheckSpec, raw: Mapping[str, Any], reference: ModuleType,
               where: str) -> Frozen:
        """The table as written, less the keys a release replaces."""
        return Frozen(keys={k: v for k, v in raw.items() if k not in FROZEN_KEYS})

    def release_evidence(self, public: CheckSpec, source: CheckSpec, reference: ModuleType,
                         wire: Wire, empty: ModuleType) -> Evidence | None:
        """Nothing to verify."""
        return None

    def stub(self, spec: CheckSpec, reference: ModuleType) -> Stub:
        """A code cell that defines the answer's name."""
        return Stub(source=f"{spec.answer} = None  # your answer")


def make_result(
    spec: CheckSpec,
    max_score: float,
    *,
    fraction: float,
    status: Status,
    message: str,
    expected: str | None = None,
    received: str | None = None,
    mistake: str | None = None,
) -> CheckResult:
    """Build a CheckResult, clamping the fraction to [0, 1] and hiding hidden values."""
    fraction = min(1.0, max(0.0, fraction))
    return CheckResult(
        answer=spec.answer,
        kind=spec.kind,
        status=status,
        score=round(max_score * fraction, 6),
        max_score=max_score,
        message=message,
        expected=expected if spec.visible else None,
        received=received,
        mistake=mistake,
        visible=spec.visible,
        visibility=spec.visibility,
    )


def absent_result(spec: CheckSpec, received: Any, max_score: float) -> CheckResult | None:
    """The result for a missing or rejected answer, or ``None`` when there is an answer."""
    if received is MISSING:
        return make_result(spec, max_score, fraction=0.0, status="missing",
                           message=f"`{spec.answer}` is not defined in the submission.")
    if isinstance(received, Rejected):
        return make_result(spec, max_score, fraction=0.0, status="error",
                           message=f"`{spec.answer}` could not be read: {received.reason}")
    return None
