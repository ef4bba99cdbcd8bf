"""The ``grader compare`` command: ask the checks whether two answers are equivalent.

``grader compare CASES.json`` reads a JSON list of cases::

    [{"kind": "symbolic", "expected": "x**2 - 1", "answer": "(x - 1)*(x + 1)",
      "options": {"variables": ["x"]}},
     {"kind": "numeric", "expected": "1/7", "answer": "0.1429", "options": {"sigfigs": 4}}]

and prints one JSON line per case, in order: ``{"equivalent": true|false|null,
"message": "..."}``. ``null`` means the case was rejected (a malformed case, an option
the rubric would refuse, text the safe parsers refuse) or undecidable; the message says
which. The options are the rubric's, validated by the rubric loader itself: numeric
``rtol, atol, sigfigs, decimals, unordered, equal_nan, bool_as_number, up_to_sign,
up_to_scale``; symbolic ``variables`` (or ``symbols``), ``assumptions``, ``domain``,
``functions``, ``compare``, ``form``, ``input_syntax``, ``rtol``, ``atol``. Without
``variables`` a symbolic case declares the names that its two texts use.

Both strings are read by the grader's safe parsers (numbers, fractions and lists for
numeric cases; :func:`grader.parse.parse_expression` for symbolic ones) and compared by
the same functions that grade submissions. Keys other than these four (``id``, ``note``)
are ignored, so a case file can carry its own notes. The command exits 0 when it ran.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import IO, Any

from grader.errors import GraderError, RubricError

_PLACEHOLDER = "__no_symbols__"  # stands in for "no symbols" while the loader validates


def run(path: Path, out: IO[str] | None = None) -> int:
    """Compare every case of the JSON file ``path``, one JSON line each; exit status 0.

    A file that cannot be read or is not a JSON list is a :class:`GraderError` (exit 2).
    """
    stream = out or sys.stdout
    try:
        text = Path(path).read_text("utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise GraderError(f"{path}: cannot read the cases: {exc}") from exc
    try:
        cases = json.loads(text)
    except ValueError as exc:
        raise GraderError(f"{path}: not valid JSON: {exc}") from exc
    if not isinstance(cases, list):
        raise GraderError(f"{path}: expected a JSON list of cases, got a "
                          f"{type(cases).__name__}")
    for index, case in enumerate(cases):
        stream.write(json.dumps(compare_case(case, index=index)) + "\n")
        stream.flush()
    return 0


def compare_case(case: Any, *, index: int = 0) -> dict[str, Any]:
    """One case as ``{"equivalent": True | False | None, "message": str}``; never raises."""
    try:
        return _compare_case(case, index)
    except Exception as exc:  # a case must never stop the others; this is our bug
        return _null(f"the grader failed on this case (a grader problem): "
                     f"{type(exc).__name__}: {exc}")


def _null(message: str) -> dict[str, Any]:
    return {"equivalent": None, "message": message}


def _compare_case(case: Any, index: int) -> dict[str, Any]:
    if not isinstance(case, dict):
        return _null("a case is a JSON object with kind, expected, answer and options")
    kind = case.get("kind")
    if kind not in KINDS:
        return _null(f"kind must be one of {', '.join(KINDS)}, not {kind!r}")
    for key in ("expected", "answer"):
        if not isinstance(case.get(key), str):
            return _null(f"{key} must be a string (the text of the {key} value)")
    options = case.get("options", {})
    if not isinstance(options, dict):
        return _null("options must be a JSON object")
    return _COMPARERS[kind](case["expected"], case["answer"], options, index)


def _spec(kind: str, options: dict[str, Any], index: int, extra: dict[str, Any]) -> Any:
    """The options validated by the rubric loader, as a check's spec (RubricError if bad)."""
    from grader.rubric import read_check
    from grader.tables import Reader

    raw = {"answer": "answer", "kind": kind, **options, **extra}
    for reserved in ("answer", "kind", "value", "expected"):
        if reserved in options:
            raise RubricError("not an option of grader compare", key=reserved)
    return read_check(Reader(Path("CASES.json")), raw, f"case {index}")


def _option_error(exc: RubricError) -> dict[str, Any]:
    where = f"option {exc.key!r}: " if exc.key else ""
    allowed = f" (allowed: {exc.allowed})" if exc.allowed else ""
    return _null(f"rejected: {where}{exc.reason}{allowed}")


def _verdict(comparison: Any) -> dict[str, Any]:
    message = comparison.message or ("equal" if comparison.equal else "not equal")
    if comparison.hint and not comparison.equal:
        message += f" (hint: {comparison.hint})"
    return {"equivalent": comparison.equal, "message": message}


def _numeric(expected: str, answer: str, options: dict[str, Any],
             index: int) -> dict[str, Any]:
    from grader.checks import numbers, numeric

    try:
        spec = _spec("numeric", options, index, {})
    except RubricError as exc:
        return _option_error(exc)
    try:
        expected_value = numbers.parse_text(expected)
    except ValueError as exc:
        return _null(f"rejected: the expected value cannot be read: {exc}")
    try:
        answer_value = numbers.parse_text(answer)
    except ValueError as exc:
        return _null(f"rejected: the answer cannot be read: {exc}")
    return _verdict(numbers.compare(expected_value, answer_value, **numeric.spec_options(spec)))


def _symbolic(expected: str, answer: str, options: dict[str, Any],
              index: int) -> dict[str, Any]:
    from dataclasses import replace

    from grader.checks import algebra, symbolic

    extra: dict[str, Any] = {}
    if "variables" not in options and "symbols" not in options:
        names: set[str] = set()
        for name, text in (("expected expression", expected), ("answer", answer)):
            found = _names_in(text, options)
            if isinstance(found, str):
                return _null(f"rejected: the {name} cannot be read: {found}")
            names.update(found)
        extra["variables"] = sorted(names) or [_PLACEHOLDER]
    try:
        spec = _spec("symbolic", options, index, extra)
    except RubricError as exc:
        return _option_error(exc)
    if spec.symbols == (_PLACEHOLDER,):
        spec = replace(spec, options=replace(spec.options, symbols=()))
    setup = symbolic.setup_for(spec, None)
    for name, text in (("expected expression", expected), ("answer", answer)):
        try:
            algebra.parse_text(text, setup)
        except GraderError as exc:
            return _null(f"rejected: the {name} cannot be read: {exc}")
    # The texts themselves go on: a form requirement judges how the answer is written.
    return _verdict(algebra.compare_with(expected, answer, setup))


def _names_in(expected: str, options: dict[str, Any]) -> list[str] | str:
    """The symbol names of a text (when the case declares none), or why it is unreadable."""
    import sympy

    from grader.parse import expression_names, parse_expression

    functions = options.get("functions", {})
    placeholders = ({name: sympy.Function(name) for name in functions}
                    if isinstance(functions, dict) else {})
    syntax = options.get("input_syntax", "python")
    syntax = syntax if syntax in ("python", "math") else "python"
    try:
        value = parse_expression(expected, functions=placeholders, syntax=syntax)
    except GraderError as exc:
        return str(exc)
    items = value if isinstance(value, list) else [value]
    names = {s.name for item in items for s in getattr(item, "free_symbols", ())
             if isinstance(s, sympy.Symbol)}
    # The names the text is written with too: sympy cancels x - x, 0*y and x/x + 1 to
    # numbers while building, but declaring their names is what lets the text parse.
    names.update(expression_names(expected, syntax=syntax, functions=tuple(placeholders)))
    return sorted(names)


# The kinds whose two texts `grader compare` can read and compare.
_COMPARERS = {"numeric": _numeric, "symbolic": _symbolic}
KINDS = tuple(_COMPARERS)
