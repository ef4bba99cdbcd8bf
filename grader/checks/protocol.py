"""What a check kind is: the :class:`CheckKind` protocol, a check's spec, and its evidence.

A kind (``numeric``, ``symbolic``, ``function``, ``property``, ``manual``, or one a course
adds) lives in one module and one line of :data:`grader.checks.registry.KINDS`. It
declares its options (a frozen dataclass read from the check's TOML table), how it grades
(``grade``: never raises for a wrong answer, returns a :class:`CheckResult`), which calls
of the student's function it needs in the kernel (``plan``), which names of the
reference module it reads (``needs``), what it publishes in the student bundle
(``publish``, ``reference_evidence``, ``public_modes``) and how its answer cell looks in the handout
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
from grader.messages import say
from grader.results import CheckResult, Status

if TYPE_CHECKING:
    from grader.tables import Reader

# The keys every check has, whatever its kind; the loader reads them, the kind the rest.
COMMON_KEYS = ("answer", "kind", "weight", "feedback", "feedback_when", "public",
               "visible", "visibility")
# When Gradescope shows a check (a result's `visibility`): feedback_when's values, or
# hidden when the feedback is none.
VISIBILITIES = ("visible", "hidden", "after_due_date", "after_published")
# What the graded page shows of a check: the expected value and diff, the verdict and
# message only, or nothing but its points.
FEEDBACK = ("full", "verdict", "none")
FEEDBACK_WHEN = {"graded": "visible", "due_date": "after_due_date",
                 "published": "after_published"}
# What the student bundle can check before the deadline (see grader.checks.public).
PUBLIC = ("format", "hash", "property", "inputs", "none")
# The deprecated `visibility` values, and what each now says: (feedback, Gradescope
# visibility, public; None: the kind's default).
OLD_VISIBILITY: dict[str, tuple[str, str, str | None]] = {
    "visible": ("full", "visible", None),
    "hidden": ("verdict", "hidden", "none"),
    "after_due_date": ("full", "after_due_date", "none"),
    "after_published": ("full", "after_published", "none"),
}


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
    feedback: str = "full"  # what the graded page shows: full | verdict | none
    visibility: str = "visible"  # when Gradescope shows it (see VISIBILITIES)
    public: str = "format"  # what the student bundle checks (see PUBLIC)
    options: KindOptions = field(default_factory=KindOptions)

    @property
    def visible(self) -> bool:
        """The page may show the expected value: ``feedback == "full"``."""
        return self.feedback == "full"

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
    """A check as the public rubric writes it: its TOML table, never an answer.

    ``sources`` names the reference functions whose source the bundle carries (a
    property check the rubric made public).
    """

    keys: dict[str, Any]
    sources: tuple[str, ...] = ()


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
    def keys(self) -> tuple[str, ...]:
        """The option keys of its TOML table, besides :data:`COMMON_KEYS`."""
        ...

    @property
    def options_type(self) -> type[KindOptions]:
        """The dataclass ``read_options`` returns."""
        ...

    @property
    def public_modes(self) -> tuple[str, ...]:
        """The ``public`` settings it supports; the first is its default."""
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

    def publish(self, spec: CheckSpec, raw: Mapping[str, Any], reference: ModuleType,
                where: str) -> Frozen | None:
        """The public rubric's table for ``spec.public``, revealing no answer (None: none)."""
        ...

    def reference_evidence(self, spec: CheckSpec, reference: ModuleType, wire: Wire,
                           calls: tuple[Call, ...]) -> Evidence | None:
        """The reference's own answer, as the kernel would send it back.

        ``calls`` are the published check's calls (a function's public inputs).
        ``grader release`` grades it with the published check and refuses a bundle where
        it does not earn full marks; ``None``: nothing to verify (a text answer).
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
    keys: ClassVar[tuple[str, ...]] = ()
    options_type: ClassVar[type[KindOptions]] = KindOptions
    public_modes: ClassVar[tuple[str, ...]] = ("none",)

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

    def publish(self, spec: CheckSpec, raw: Mapping[str, Any], reference: ModuleType,
                where: str) -> Frozen | None:
        """Nothing, unless the kind says otherwise."""
        return None

    def reference_evidence(self, spec: CheckSpec, reference: ModuleType, wire: Wire,
                           calls: tuple[Call, ...]) -> Evidence | None:
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
        feedback=spec.feedback,
    )


def absent_result(spec: CheckSpec, received: Any, max_score: float) -> CheckResult | None:
    """The result for a missing or rejected answer, or ``None`` when there is an answer."""
    if received is MISSING:
        return make_result(spec, max_score, fraction=0.0, status="missing",
                           message=say("check.not_defined", answer=spec.answer))
    if isinstance(received, Rejected):
        return make_result(spec, max_score, fraction=0.0, status="error",
                           message=say("check.unreadable", answer=spec.answer,
                                       reason=received.reason))
    return None
