"""Digest checks: the answer's canonical form hashes to the reference's, which stays secret.

``grader release`` writes these into a student bundle for checks whose ``public`` is
``hash`` (a value that compares exactly) or ``inputs`` (a function's outputs on public
inputs); see :mod:`grader.checks.public` for the canonical form, the rounding and what a
hash does and does not hide.
"""

from __future__ import annotations

import re
import secrets
from collections.abc import Mapping
from dataclasses import dataclass
from types import ModuleType
from typing import Any

from grader.answers import CallableAnswer
from grader.calls import Call
from grader.checks.options import MAX_ROUNDING, read_literal_calls
from grader.checks.protocol import (
    BaseKind,
    CallPlan,
    CheckSpec,
    Evidence,
    Frozen,
    KindOptions,
    absent_result,
    make_result,
)
from grader.checks.public import Inexact, canonical, digest
from grader.errors import ReleaseError
from grader.messages import say
from grader.results import CheckResult
from grader.tables import Reader

_HEX = re.compile(r"^[0-9a-f]{16,128}$")


@dataclass(frozen=True, kw_only=True)
class DigestOptions(KindOptions):
    """The salt, the answer's digest (or one per call of the public inputs), the rounding."""

    salt: str
    digest: str | None = None
    inputs: tuple[Call, ...] = ()
    array_args: tuple[int | str, ...] = ()
    digests: tuple[str, ...] = ()
    sigfigs: int | None = None
    decimals: int | None = None


class DigestKind(BaseKind):
    """Equal to a secret answer, compared through a salted hash of its canonical form."""

    name = "digest"
    summary = "equal to a secret answer, compared through a salted hash"
    keys = ("salt", "digest", "inputs", "array_args", "digests", "sigfigs", "decimals")
    options_type = DigestOptions
    public_modes = ("hash", "none")

    def read_options(self, reader: Reader, raw: Mapping[str, Any],
                     question: str) -> DigestOptions:
        """A hex salt and digest, or inputs with one digest each; optional rounding."""
        salt = reader.get(raw, "salt", str, question=question, required=True,
                          describe="hex text")
        hexes = [salt, *([raw["digest"]] if "digest" in raw else []),
                 *reader.get(raw, "digests", list, question=question, default=[])]
        if not all(isinstance(h, str) and _HEX.match(h) for h in hexes):
            raise reader.error("salt and digests are lower-case hex text", question=question,
                               key="digest")
        inputs, array_args = read_literal_calls(reader, raw, question)
        digests = tuple(raw.get("digests", []))
        if ("digest" in raw) == bool(inputs) or len(digests) != len(inputs):
            raise reader.error("give digest, or inputs with one digest per input",
                               question=question, key="digests")
        rounding = {}
        for key, low in (("sigfigs", 1), ("decimals", 0)):
            if key in raw:
                value = reader.get(raw, key, int, question=question)
                if not low <= value <= MAX_ROUNDING:
                    raise reader.error(f"must be from {low} to {MAX_ROUNDING}",
                                       question=question, key=key)
                rounding[key] = value
        return DigestOptions(salt=salt, digest=raw.get("digest"),
                             inputs=inputs, array_args=array_args,
                             digests=digests, **rounding)

    def plan(self, spec: CheckSpec, reference: ModuleType) -> CallPlan | None:
        """The public inputs of a function answer."""
        o = _options(spec)
        return CallPlan(calls=o.inputs) if o.inputs else None

    def grade(self, spec: CheckSpec, evidence: Evidence, max_score: float) -> CheckResult:
        """Passed when every canonical form hashes to its digest; never shows a value."""
        early = absent_result(spec, evidence.received, max_score)
        if early is not None:
            return early
        o = _options(spec)
        if not o.inputs:
            ok, why = self._matches(o, evidence.received, o.digest or "")
            if ok:
                return make_result(spec, max_score, fraction=1.0, status="passed",
                                   message=say("check.digest.matches"))
            return make_result(spec, max_score, fraction=0.0, status="failed",
                               message=say("check.digest.inexact", why=why) if why else
                               say("check.digest.no_match"))
        if not isinstance(evidence.received, CallableAnswer):
            return make_result(spec, max_score, fraction=0.0, status="failed",
                               message=say("check.digest.not_function", answer=spec.answer))
        wrong = []
        for call, outcome, expected in zip(o.inputs, evidence.outcomes, o.digests,
                                           strict=True):
            shown = f"{spec.answer}{call.display()}"
            if outcome.timed_out or outcome.error:
                wrong.append(say("check.public_call.timeout", call=shown) if outcome.timed_out
                             else say("check.public_call.raised", call=shown,
                                      error=outcome.error))
                continue
            ok, why = self._matches(o, outcome.value, expected)
            if not ok:
                wrong.append(say("check.digest.call_inexact", call=shown, why=why) if why else
                             say("check.digest.call_wrong", call=shown))
        n = len(o.inputs)
        if not wrong:
            return make_result(spec, max_score, fraction=1.0, status="passed",
                               message=say("check.digest.all_match", n=n))
        return make_result(spec, max_score, fraction=0.0, status="failed",
                           message=say("check.digest.wrong_on", wrong=len(wrong), n=n,
                                       detail=wrong[0]))

    @staticmethod
    def _matches(o: DigestOptions, value: Any, expected: str) -> tuple[bool, str]:
        """Whether ``value`` hashes to ``expected``, and why it cannot be compared ("")."""
        try:
            text = canonical(value, sigfigs=o.sigfigs, decimals=o.decimals)
        except Inexact as exc:
            return False, exc.why
        return digest(o.salt, text) == expected, ""


def _options(spec: CheckSpec) -> DigestOptions:
    assert isinstance(spec.options, DigestOptions)
    return spec.options


KIND = DigestKind()


def digest_table(spec: CheckSpec, value: Any, where: str, *, sigfigs: int | None = None,
                 decimals: int | None = None) -> Frozen:
    """The public rubric's digest check of a value answer (ReleaseError if inexact)."""
    salt = secrets.token_hex(16)
    keys: dict[str, Any] = {"answer": spec.answer, "kind": KIND.name, "weight": spec.weight,
                            "salt": salt, "digest": digest(salt, _exact(value, where, sigfigs,
                                                                        decimals))}
    keys.update({k: v for k, v in (("sigfigs", sigfigs), ("decimals", decimals))
                 if v is not None})
    return Frozen(keys=keys)


def digest_calls_table(spec: CheckSpec, inputs: list[Any], array_args: list[int | str],
                       outputs: list[Any], where: str, *, sigfigs: int) -> Frozen:
    """The public rubric's digest check of a function on its public inputs."""
    salt = secrets.token_hex(16)
    keys: dict[str, Any] = {"answer": spec.answer, "kind": KIND.name, "weight": spec.weight,
                            "salt": salt, "inputs": inputs}
    if array_args:
        keys["array_args"] = array_args
    keys["digests"] = [digest(salt, _exact(v, f"{where} output {i}", sigfigs, None))
                       for i, v in enumerate(outputs)]
    keys["sigfigs"] = sigfigs
    return Frozen(keys=keys)


def _exact(value: Any, where: str, sigfigs: int | None, decimals: int | None) -> str:
    try:
        return canonical(value, sigfigs=sigfigs, decimals=decimals)
    except Inexact as exc:
        raise ReleaseError(
            f"{where}: public = \"hash\" needs an answer that compares exactly ({exc}); "
            "use public = \"format\", or sigfigs or decimals for a float") from None
