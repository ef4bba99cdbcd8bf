"""The symbolic check kind: expression answers graded by the rule of :mod:`grader.checks.algebra`.

This module reads a check's spec (declared symbols, functions, options, known mistakes)
and turns the comparison into a result, with per-key partial credit. It imports the
engine, and so sympy, only when a check is graded: loading a rubric stays cheap.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from types import ModuleType
from typing import TYPE_CHECKING, Any

from grader.checks.options import (
    EXPECTATION_KEYS,
    TOLERANCE_KEYS,
    Expectation,
    Mistake,
    Tolerances,
    expectation_need,
    mistake_needs,
    read_expectation,
    read_tolerances,
)
from grader.checks.protocol import (
    BaseKind,
    CheckSpec,
    Evidence,
    Frozen,
    Need,
    Stub,
    Wire,
    absent_result,
    make_result,
)
from grader.checks.vocabulary import (
    ASSUMPTIONS,
    COMPARE_MODES,
    FORMS,
    INPUT_SYNTAXES,
    assumptions_problem,
)
from grader.messages import say, sentence
from grader.results import CheckResult
from grader.tables import IDENT, Reader

if TYPE_CHECKING:
    from grader.checks.algebra.setup import _Setup


def grade(spec: CheckSpec, evidence: Evidence, max_score: float) -> CheckResult:
    """Grade a symbolic answer: equality, then known mistakes and per-key partial credit."""
    from grader.checks.algebra.display import _display

    received = evidence.received
    absent = absent_result(spec, received, max_score)
    if absent is not None:
        return absent
    received_text = _display(received)
    try:
        return _grade(spec, evidence, max_score, received, received_text)
    except Exception as exc:  # grading must never raise; reaching here is our bug
        return make_result(
            spec, max_score, fraction=0.0, status="error", received=received_text,
            message=say("check.grader_failed", error=f"{type(exc).__name__}: {exc}"))


def setup_for(spec: CheckSpec, reference_value: Any) -> _Setup:
    """The comparison setup of a check: its declared symbols, functions and options."""
    from grader.checks.algebra.setup import _declared, _functions, _Setup, declare

    symbols = declare(_declared(spec.symbols, reference_value), spec.assumptions, spec.domain)
    functions = _functions(tuple(sorted(spec.functions.items())), tuple(symbols.items()))
    return _Setup.make(symbols, functions, spec.domain, spec.rtol, spec.atol, 12, 0,
                       syntax=spec.input_syntax, form=spec.form, mode=spec.compare,
                       series_order=spec.series_order)


def _grade(spec: CheckSpec, evidence: Evidence, max_score: float, received: Any,
           received_text: str) -> CheckResult:
    from grader.checks.algebra.cache import timed_out
    from grader.checks.algebra.comparing import compare_keys
    from grader.checks.algebra.display import _display, _key, mathml
    from grader.checks.algebra.reading import _for_display, _rubric_value

    raw = (spec.value if spec.value is not None
           else getattr(evidence.reference, spec.reference_name))
    setup = setup_for(spec, raw)
    expected = _rubric_value(raw, setup)
    expected_text = _display(expected)
    expected_math = mathml(expected) if spec.visible else None
    received_math = mathml(_for_display(received, setup))
    comparison, per_key = compare_keys(expected, received, setup)

    def result(fraction: float, message: str, status: Any = None,
               mistake: str | None = None) -> CheckResult:
        if status is None:
            status = "passed" if fraction >= 1 else "partial" if fraction > 0 else "failed"
        out = make_result(spec, max_score, fraction=fraction, status=status, message=message,
                          expected=expected_text, received=received_text, mistake=mistake)
        return replace(out, expected_math=expected_math, received_math=received_math,
                       hint="" if comparison.equal else comparison.hint)

    if comparison.equal:
        return result(1.0, say("check.correct"))

    share = 0.0
    if spec.partial and isinstance(expected, Mapping) and per_key:
        got = {_key(k) for k in received} if isinstance(received, Mapping) else set()
        keys = {_key(k) for k in expected} | got
        share = sum(1 for c in per_key.values() if c.equal) / len(keys)
    # An answer too expensive to check once is too expensive against every mistake too.
    mistake = None if timed_out(comparison) else _matched_mistake(spec.mistakes, evidence,
                                                                   received, setup)
    if mistake is not None:
        # A known mistake explains the answer; partial credit may still be worth more.
        return result(min(max(share, mistake.credit), _BELOW_ONE), mistake.feedback,
                      mistake=mistake.id)
    if comparison.equal is None and share == 0:
        return result(0.0, say("check.undecided", detail=comparison.message), status="error")
    return result(min(share, _BELOW_ONE), _capitalise(comparison.message))


_BELOW_ONE = 0.999999  # a failed comparison never earns full marks (e.g. extra keys)


def _capitalise(message: str) -> str:
    return sentence(message or say("check.not_equal_answer"))


def _matched_mistake(mistakes: tuple[Mistake, ...], evidence: Evidence, received: Any,
                     setup: _Setup) -> Mistake | None:
    from grader.checks.algebra.cache import _cached, _guarded
    from grader.checks.algebra.comparing import _compare
    from grader.checks.algebra.reading import _rubric_value

    for m in mistakes:
        value = m.value if m.reference is None else getattr(evidence.reference, m.reference)
        value = _rubric_value(value, setup)
        run = functools.partial(_guarded, functools.partial(_compare, value, received, setup))
        if _cached(value, received, setup, run)[0].equal:
            return m
    return None


# --------------------------------------------------------------------------- the kind


@dataclass(frozen=True, kw_only=True)
class SymbolicOptions(Tolerances, Expectation):
    """A symbolic check: declared symbols and functions, and how answers are compared."""

    symbols: tuple[str, ...] = ()
    functions: Mapping[str, tuple[str, str]] = field(default_factory=dict)
    domain: Mapping[str, tuple[float, float]] = field(default_factory=dict)
    # name -> "positive", "nonnegative integer"...
    assumptions: Mapping[str, str] = field(default_factory=dict)
    compare: str | None = None  # "system": lists of equations compared as solution sets
    form: tuple[str, ...] = ()  # "factored", "expanded", "no_derivative"
    input_syntax: str = "python"  # how text answers are read: "python" or "math"
    series_order: int | None = None  # n: answers with O(x**n) compared by polynomial part


class SymbolicKind(BaseKind):
    """An expression (or equation, set, matrix, system) equal to the expected one."""

    name = "symbolic"
    summary = "a sympy expression, equation, set or system, equal to the expected one"
    keys = (*EXPECTATION_KEYS, *TOLERANCE_KEYS, "symbols", "variables", "functions",
            "domain", "assumptions", "compare", "form", "input_syntax", "series_order")
    options_type = SymbolicOptions
    public_modes = ("format", "none")

    def read_options(self, reader: Reader, raw: Mapping[str, Any],
                     question: str) -> SymbolicOptions:
        """Symbols (required), functions, domain, assumptions, comparison and form."""
        spec = read_tolerances(reader, raw, question)
        spec.update(read_expectation(reader, raw, question, literal=False))
        spec["symbols"] = _read_symbols(reader, raw, question)
        spec["functions"] = read_functions(reader, raw.get("functions", {}), question)
        spec["domain"] = read_domain(reader, raw.get("domain", {}), question)
        if not spec["symbols"]:
            raise reader.error("a symbolic check declares its symbols", question=question,
                               key="symbols", allowed='e.g. symbols = ["w", "b", "x"]')
        read_symbolic_options(reader, spec, raw, question)
        if "series_order" in raw:
            order = raw["series_order"]
            if isinstance(order, bool) or not isinstance(order, int) or order < 1:
                raise reader.error("must be a positive integer n: answers with O(x**n) are "
                                   "compared by their polynomial part", question=question,
                                   key="series_order", allowed="e.g. series_order = 5")
            spec["series_order"] = order
        return SymbolicOptions(**spec)

    def grade(self, spec: CheckSpec, evidence: Evidence, max_score: float) -> CheckResult:
        """See :func:`grade`."""
        return grade(spec, evidence, max_score)

    def needs(self, spec: CheckSpec) -> tuple[Need, ...]:
        """The expected expression (unless a literal is given) and mistakes by reference."""
        o = _options(spec)
        return (*expectation_need(spec.answer, o, self.name),
                *mistake_needs(o.mistakes, callable=False))

    def publish(self, spec: CheckSpec, raw: Mapping[str, Any], reference: ModuleType,
                where: str) -> Frozen | None:
        """The answer's form: expression, equation, set or matrix, and its free symbols."""
        from grader.checks.algebra.reading import _rubric_value
        from grader.checks.format import format_table
        from grader.checks.public import describe

        if spec.public != "format":
            return None
        o = _options(spec)
        raw_value = o.value if o.value is not None else getattr(reference,
                                                                spec.reference_name)
        return format_table(spec, describe(_rubric_value(raw_value, setup_for(spec, raw_value))))

    def reference_evidence(self, spec: CheckSpec, reference: ModuleType, wire: Wire,
                           calls: tuple[Any, ...]) -> Evidence | None:
        """The reference's expression as the kernel would send it (or the rubric's text, read)."""
        from grader.checks.algebra.reading import _rubric_value

        o = _options(spec)
        raw_value = o.value if o.value is not None else getattr(reference,
                                                                spec.reference_name)
        value = _rubric_value(raw_value, setup_for(spec, raw_value))
        return Evidence(received=wire(value), reference=reference)

    def stub(self, spec: CheckSpec, reference: ModuleType) -> Stub:
        """The declared symbols, and the answer's name."""
        symbols = _options(spec).symbols
        names = ", ".join(symbols)
        return Stub(source=f"{names} = sp.symbols({' '.join(symbols)!r})\n"
                           f"{spec.answer} = None  # your answer: sympy expression(s) in {names}")


def _options(spec: CheckSpec) -> SymbolicOptions:
    assert isinstance(spec.options, SymbolicOptions)
    return spec.options


def _read_symbols(reader: Reader, raw: Mapping[str, Any], qid: str) -> tuple[str, ...]:
    """``symbols`` (or its other name ``variables``): distinct identifiers."""
    if "symbols" in raw and "variables" in raw:
        raise reader.error("give symbols or variables (two names for the same list), not "
                           "both", question=qid, key="variables")
    names_key = "variables" if "variables" in raw else "symbols"
    symbols = reader.get(raw, names_key, list, question=qid, default=[])
    if not all(isinstance(s, str) and IDENT.match(s) for s in symbols):
        raise reader.error("must be a list of symbol names", question=qid, key=names_key)
    if len(set(symbols)) != len(symbols):
        raise reader.error("a symbol is declared twice", question=qid, key=names_key)
    return tuple(symbols)


def read_functions(reader: Reader, raw: Any, qid: str) -> dict[str, tuple[str, str]]:
    """Helper functions the expressions may use: name = [parameter, body]."""
    if not isinstance(raw, dict):
        raise reader.error("must be a table name = [parameter, body]", question=qid,
                         key="functions")
    out = {}
    for name, value in raw.items():
        ok = (isinstance(value, list) and len(value) == 2
              and all(isinstance(v, str) for v in value) and IDENT.match(name)
              and IDENT.match(value[0]))
        if not ok:
            raise reader.error(f"functions.{name} must be [parameter, body]", question=qid,
                             key="functions", allowed='e.g. sigma = ["z", "1/(1 + exp(-z))"]')
        out[name] = (value[0], value[1])
    return out


def read_domain(reader: Reader, raw: Any, qid: str) -> dict[str, tuple[float, float]]:
    """Where each symbol is sampled: name = [low, high]."""
    if not isinstance(raw, dict):
        raise reader.error("must be a table name = [low, high]", question=qid, key="domain")
    out = {}
    for name, value in raw.items():
        ok = (isinstance(value, list) and len(value) == 2
              and all(isinstance(v, int | float) and not isinstance(v, bool) for v in value)
              and value[0] < value[1])
        if not ok:
            raise reader.error(f"domain.{name} must be [low, high] with low < high",
                             question=qid, key="domain")
        out[name] = (float(value[0]), float(value[1]))
    return out


def read_symbolic_options(reader: Reader, spec: dict[str, Any], raw: Mapping[str, Any],
                          qid: str) -> None:
    """assumptions, compare, form and input_syntax; domain names must be declared."""
    declared = set(spec["symbols"])
    for name in spec["domain"]:
        if name not in declared:
            raise reader.error(f"domain.{name} names a symbol that is not declared",
                             question=qid, key="domain",
                             allowed=", ".join(spec["symbols"]) or "(no symbols)")
    table = reader.get(raw, "assumptions", dict, question=qid, default={},
                     describe='a table such as { t = "positive integer" }')
    assumptions = {}
    for name, words in table.items():
        if name not in declared:
            raise reader.error(f"assumptions.{name} names a symbol that is not declared",
                             question=qid, key="assumptions",
                             allowed=", ".join(spec["symbols"]) or "(no symbols)")
        parts = words.split() if isinstance(words, str) else []
        if not parts or any(p not in ASSUMPTIONS for p in parts) or len(set(parts)) != len(
                parts):
            raise reader.error(f"assumptions.{name} must be a string of space-separated "
                             f"assumptions, each once", question=qid, key="assumptions",
                             allowed=", ".join(ASSUMPTIONS))
        problem = assumptions_problem(parts)
        if problem:
            raise reader.error(f"assumptions.{name}: {problem}", question=qid,
                             key="assumptions", allowed=", ".join(ASSUMPTIONS))
        assumptions[name] = " ".join(parts)
    spec["assumptions"] = assumptions
    if "compare" in raw:
        mode = reader.get(raw, "compare", str, question=qid)
        if mode not in COMPARE_MODES:
            raise reader.error(f"unknown comparison {mode!r}", question=qid, key="compare",
                             allowed=", ".join(COMPARE_MODES))
        spec["compare"] = mode
    forms = reader.get(raw, "form", list, question=qid, default=[],
                     describe=f"a list of {', '.join(FORMS)}")
    if any(f not in FORMS for f in forms) or len(set(forms)) != len(forms):
        raise reader.error("must list each form requirement at most once", question=qid,
                         key="form", allowed=", ".join(FORMS))
    if "factored" in forms and "expanded" in forms:
        raise reader.error("an answer cannot be required to be both factored and expanded",
                         question=qid, key="form", allowed=", ".join(FORMS))
    spec["form"] = tuple(forms)
    if "input_syntax" in raw:
        syntax = reader.get(raw, "input_syntax", str, question=qid)
        if syntax not in INPUT_SYNTAXES:
            raise reader.error(f"unknown input syntax {syntax!r}", question=qid,
                             key="input_syntax", allowed=", ".join(INPUT_SYNTAXES))
        spec["input_syntax"] = syntax


KIND = SymbolicKind()
