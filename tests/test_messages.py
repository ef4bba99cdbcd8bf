"""Check messages in the page's language: catalogue parts, their JSON, and the Persian page.

A check's message is a :class:`grader.messages.Message`: English text (what every reader
of ``CheckResult.message`` sees, unchanged) that keeps the catalogue parts it was rendered
from; a page in another language renders the parts with its own catalogue. Values stay
as they are, and so does text as written (a rubric's feedback, a property's own words).
"""

from __future__ import annotations

import ast
import html
import json
import re
import string
from pathlib import Path
from typing import Any

import pytest

from grader import report
from grader.cli import main
from grader.messages import Message, joined, load_catalogue, parts_of, render, say, sentence
from grader.report import STUDENTS, catalogue, render_html
from grader.results import CheckResult, QuestionResult, SubmissionResult
from grader.rubric import Rubric, load_rubric

ROOT = Path(__file__).parents[1]
PACKAGE = ROOT / "grader"


def _check_keys(lang: str) -> dict[str, Any]:
    return {k: v for k, v in load_catalogue(lang).items() if k.startswith("check.")}


def _forms(template: Any) -> list[str]:
    return list(template.values()) if isinstance(template, dict) else [template]


def _placeholders(template: Any) -> set[str]:
    return {name for form in _forms(template)
            for _, name, _, _ in string.Formatter().parse(form) if name}


# --------------------------------------------------------------------------- catalogues


def test_both_catalogues_have_the_same_check_keys_and_placeholders() -> None:
    en, fa = _check_keys("en"), _check_keys("fa")
    assert len(en) >= 60
    assert sorted(en) == sorted(fa)
    for key, text in en.items():
        assert _placeholders(fa[key]) == _placeholders(text), key
        assert fa[key] != text, f"{key} is not translated"
        # Plural forms: both catalogues pick them by the count `n`.
        if isinstance(text, dict) or isinstance(fa[key], dict):
            assert "n" in _placeholders(text), key


def _said_keys() -> dict[str, str]:
    """Every check message key the modules of grader/ spell out, with where it is."""
    found: dict[str, str] = {}
    for path in sorted(PACKAGE.rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text("utf-8"))):
            # say("a" if ok else "b"), joined(items, "check.list.comma"), a default argument
            if isinstance(node, ast.Constant) and isinstance(node.value, str) and \
                    re.fullmatch(r"check\.[a-z_.]+", node.value):
                found[node.value] = f"{path.name}:{node.lineno}"
    return found


def test_every_key_a_check_says_is_in_the_catalogue_and_every_key_is_said() -> None:
    said = _said_keys()
    en = _check_keys("en")
    assert len(said) >= 60
    assert {k: where for k, where in said.items() if k not in en} == {}
    assert sorted(set(en) - set(said)) == []


# --------------------------------------------------------------------------- messages

MESSAGES = [
    # (the message, its English text as checks wrote it before, its Persian text)
    (say("check.correct"), "Correct.", "درست است."),
    (say("check.correct_on_all", n=7), "correct on all 7 test inputs.",
     "روی هر 7 ورودی آزمون درست است."),
    (say("check.first_wrong", summary=say("check.wrong_on", wrong=1, n=7),
         detail=say("check.call_detail", call="q(2)",
                    detail=say("check.num.expected_got", expected="4", got="3"))),
     "wrong on 1 of 7 test inputs; first: q(2): expected 4, got 3",
     "روی 1 ورودی از 7 ورودی آزمون نادرست است؛ نخستین مورد: `q(2)`: مقدار مورد انتظار "
     "`4` است، اما `3` به دست آمد"),
    (say("check.not_defined", answer="q1"), "`q1` is not defined in the submission.",
     "`q1` در فایل ارسالی تعریف نشده است."),
    (sentence(say("check.num.expected_got", expected="4", got="3")),
     "Expected 4, got 3.", "مقدار مورد انتظار `4` است، اما `3` به دست آمد."),
    (sentence("already a sentence."), "Already a sentence.", "Already a sentence."),
    (say("check.call_raised", error="ZeroDivisionError: division by zero"),
     "the call raised ZeroDivisionError: division by zero",
     "فراخوانی خطای `ZeroDivisionError: division by zero` داد"),
    (say("check.num.missing_keys", keys="'a', 'b'") + " and text as written",
     "missing keys: 'a', 'b' and text as written",
     "کلیدهای جاافتاده: `'a', 'b'` and text as written"),
    (joined([say("check.num.missing_keys", keys="'a'"), say("check.num.extra_keys", keys="'b'")]),
     "missing keys: 'a'; extra keys: 'b'", "کلیدهای جاافتاده: `'a'`؛ کلیدهای اضافه: `'b'`"),
]


@pytest.mark.parametrize(("message", "english", "persian"), MESSAGES,
                         ids=[m[1][:30] for m in MESSAGES])
def test_a_message_is_its_english_text_and_renders_in_persian(message: Message, english: str,
                                                              persian: str) -> None:
    assert isinstance(message, str) and message == english
    assert render(message.parts, load_catalogue("en")) == english
    assert render(message.parts, load_catalogue("fa"), load_catalogue("en")) == persian
    # The parts are plain JSON data, and survive it.
    assert render(json.loads(json.dumps(message.parts)), load_catalogue("fa")) == persian


def test_a_message_survives_pickle_and_copy() -> None:
    import copy
    import pickle

    message = say("check.first_wrong", summary=say("check.wrong_on", wrong=1, n=7),
                  detail="as written")
    for again in (pickle.loads(pickle.dumps(message)), copy.deepcopy(message),
                  copy.copy(message)):
        assert isinstance(again, Message) and again == message
        assert again.parts == message.parts


def test_plural_forms_are_picked_by_n() -> None:
    plural = {"one": "{n} entry differs", "other": "{n} entries differ"}
    for n, text in ((1, "1 entry differs"), (3, "3 entries differ")):
        assert render(say("check.correct_on_all", n=n).parts, {"check.correct_on_all": plural}) \
            == text


def test_text_that_is_not_a_message_is_one_part_as_written() -> None:
    assert parts_of("The variance of a mean ...") == ({"text": "The variance of a mean ..."},)
    assert parts_of("") == ()
    # A str method gives plain text again: it has no parts and is shown as written.
    assert not isinstance(say("check.correct").upper(), Message)


def _result(*checks: CheckResult) -> SubmissionResult:
    q = QuestionResult(id="q1", title="Q1", score=0, max_score=2, status="failed",
                       checks=checks)
    return SubmissionResult(student="s", submission="s.py", score=0, max_score=2,
                            questions=(q,))


def _check(message: str, hint: str = "", **fields: Any) -> CheckResult:
    return CheckResult(**{"answer": "q1", "kind": "numeric", "status": "failed", "score": 0,
                          "max_score": 1, "message": message, "hint": hint, **fields})


def test_a_result_keeps_plain_text_and_the_parts_through_its_json() -> None:
    message = say("check.first_wrong", summary=say("check.wrong_on", wrong=2, n=3),
                  detail=say("check.call_raised", error="KeyError: 'x'"))
    hint = say("check.num.sign_flipped")
    check = _check(message, hint)
    assert type(check.message) is str and type(check.hint) is str
    assert check.message == "wrong on 2 of 3 test inputs; first: the call raised KeyError: 'x'"
    assert check.message_parts == message.parts and check.hint_parts == hint.parts
    data = json.loads(report.to_json(_result(check)))
    assert data["questions"][0]["checks"][0]["message_parts"][0]["key"] == "check.first_wrong"
    assert SubmissionResult.from_dict(data) == _result(check)
    # A result written before the parts existed reads back without them.
    del data["questions"][0]["checks"][0]["message_parts"]
    assert SubmissionResult.from_dict(data).questions[0].checks[0].message_parts == ()


def _message_on_page(page: str) -> list[str]:
    return [html.unescape(re.sub(r"<[^>]+>", "", m)) for m in
            re.findall(r'<p class="(?:message|hint)"[^>]*>(.*?)</p>', page, re.S)]


def test_the_persian_page_renders_the_parts_and_keeps_text_as_written() -> None:
    rubric = load_rubric(ROOT / "tests" / "data" / "mini" / "rubric.toml")
    feedback = "Rubric feedback: the variance of a mean is sigma**2 / m."
    written = _check(feedback, mistake="m1")
    parted = _check(sentence(say("check.num.expected_got", expected="4", got="3")),
                    hint=say("check.num.sign_flipped"))
    # Parts that no longer say the message (it was changed after the check wrote it,
    # say by a TA's comment) are not shown in its place: the text is, as written.
    stale = CheckResult(**{**vars(parted), "message": "A TA's comment."})
    page = render_html(_result(written, parted, stale), rubric, lang="fa")
    assert _message_on_page(page) == [
        feedback, "مقدار مورد انتظار 4 است، اما 3 به دست آمد.", "تفاوت: علامت برعکس است",
        "A TA's comment.", "تفاوت: علامت برعکس است"]
    english = render_html(_result(written, parted, stale), rubric, lang="en")
    assert _message_on_page(english) == [feedback, "Expected 4, got 3.",
                                         "How they differ: sign flipped", "A TA's comment.",
                                         "How they differ: sign flipped"]


def test_parts_with_a_key_no_catalogue_has_show_the_text() -> None:
    t = catalogue("fa")
    assert t.check_text("from a newer grader", ({"key": "check.nope", "args": {}},)) == \
        "from a newer grader"
    assert t.check_text("Correct.", say("check.correct").parts) == "درست است."


# --------------------------------------------------------------------------- the examples

# What the page shows that is not the checks' words: values and code, the students' own
# text, and the rubric's text as written.
_NOT_MESSAGES = re.compile(
    r"<(code|pre|math|style|script|table)\b.*?</\1>|<dl class=\"values\">.*?</dl>"
    r"|<div class=\"text-answer\"[^>]*>.*?</div>|<p class=\"evalue\"[^>]*>.*?</p>", re.S)
_PERSIAN = re.compile(r"[\u0600-\u06ff\u200c]")
_WORD = re.compile(r"[A-Za-z]+")
_TOKEN = re.compile(r"[A-Za-z_][A-Za-z_0-9]*")  # an identifier (equal_nan) is one token
# The technical words the Persian messages keep as they are (names of types and options).
TERMS = {"markdown", "str", "bool", "dict", "list", "tuple", "nan", "sympy", "atol", "true",
         "false", "equal_nan", "unordered", "up_to_sign", "python", "numpy", "traceback"}


def _english_vocabulary() -> set[str]:
    """The words of the English check messages (placeholders left out)."""
    words: set[str] = set()
    for template in _check_keys("en").values():
        for form in _forms(template):
            literal = "".join(text for text, *_ in string.Formatter().parse(form))
            words |= {w.lower() for w in _WORD.findall(literal)}
    return words


def english_left(page: str, as_written: list[str], vocabulary: set[str]) -> list[str]:
    """The runs of English words left on a page, once values and text as written are removed.

    A run is two or more words in a row with no Persian between them, or one word of the
    English check messages ("Correct.", "differs") that is not a technical term: either is
    an English check message, untranslated.
    """
    body = _NOT_MESSAGES.sub(" ", page.split("<body", 1)[1])
    nodes = [html.unescape(n) for n in re.split(r"<[^>]+>", body)]
    text = "\n".join(nodes)
    for written in sorted(as_written, key=len, reverse=True):
        text = text.replace(written, " ")
    found = []
    for node in text.split("\n"):
        for segment in _PERSIAN.split(node):
            words = _TOKEN.findall(segment)
            if len(words) >= 2 or any(w.lower() in vocabulary - TERMS for w in words):
                found.append(segment.strip())
    return found


def _as_written(rubric: Rubric, results: dict[str, SubmissionResult]) -> list[str]:
    """The rubric's own text (titles, feedback) and the property checks' own words."""
    texts = [rubric.title, *(q.title for q in rubric.questions)]
    texts += [m.feedback for q in rubric.questions for c in q.checks
              for m in getattr(c.options, "mistakes", ())]
    texts += [c.message for r in results.values() for q in r.questions for c in q.checks
              if c.kind == "property" and not c.message_parts]
    return [t for t in texts if t]


FLAWED = ("carol", "dave", "erin")


@pytest.fixture(scope="module")
def persian_examples(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """The examples graded as `make demo` grades them, with --lang fa."""
    out = tmp_path_factory.mktemp("fa")
    status = main(["grade", str(ROOT / "submissions_example"), "--rubric",
                   str(ROOT / "rubrics" / "hw2.toml"), "--out", str(out), "-j", "1",
                   "--lang", "fa"])
    assert status == 0
    results = {p.stem: SubmissionResult.from_dict(json.loads(p.read_text("utf-8")))
               for p in sorted((out / STUDENTS).glob("*.json"))}
    pages = {s: (out / STUDENTS / f"{s}.html").read_text("utf-8") for s in results}
    return {"results": results, "pages": pages}


@pytest.mark.kernel
def test_no_english_check_message_is_left_on_the_persian_pages(persian_examples) -> None:
    rubric = load_rubric(ROOT / "rubrics" / "hw2.toml")
    results, pages = persian_examples["results"], persian_examples["pages"]
    assert set(FLAWED) <= set(pages)
    vocabulary = _english_vocabulary()
    as_written = _as_written(rubric, results)
    for student in FLAWED:
        assert '<html lang="fa" dir="rtl">' in pages[student]
        assert english_left(pages[student], as_written, vocabulary) == [], student
    # The flawed examples show the messages of a missing, a wrong and a passed check.
    shown = set().union(*(_keys(c.message_parts + c.hint_parts) for s in FLAWED
                          for q in results[s].questions for c in q.checks))
    assert {"check.not_defined", "check.manual.no_answer", "check.correct",
            "check.correct_on_all", "check.sym.differs_where"} <= shown
    # The English pages of the same results are full of them: the test sees English.
    for student in FLAWED:
        english = render_html(results[student], rubric, lang="en")
        assert len(english_left(english, as_written, vocabulary)) >= 10, student


def _keys(parts: Any) -> set[str]:
    found: set[str] = set()
    for p in parts:
        if "key" in p:
            found.add(p["key"])
            for v in p.get("args", {}).values():
                found |= _keys(v) if isinstance(v, list) else set()
        found |= _keys(p.get("sentence", ()))
    return found


@pytest.mark.kernel
def test_one_translation_missing_is_english_the_test_finds(persian_examples,
                                                           monkeypatch) -> None:
    rubric = load_rubric(ROOT / "rubrics" / "hw2.toml")
    results = {s: persian_examples["results"][s] for s in FLAWED}
    vocabulary = _english_vocabulary()
    as_written = _as_written(rubric, persian_examples["results"])
    # A text answer waiting for a TA shows the page's own words, not its message.
    used = {s: set().union(*(_keys(c.message_parts + c.hint_parts) for q in r.questions
                             for c in q.checks if not c.awaits_staff))
            for s, r in results.items()}
    fa = load_catalogue("fa")
    missed = []
    wordless = {k for k, v in _check_keys("en").items() if not any(
        _WORD.search(text) for form in _forms(v) for text, *_ in string.Formatter().parse(form))}
    for key in sorted(set().union(*used.values()) - wordless):
        student = next(s for s in FLAWED if key in used[s])
        without = {k: v for k, v in fa.items() if k != key}
        monkeypatch.setattr(report, "load_catalogue",
                            lambda lang, w=without: w if lang == "fa" else load_catalogue(lang))
        if not english_left(render_html(results[student], rubric, lang="fa"), as_written,
                            vocabulary):
            missed.append(key)
    assert missed == []


# --------------------------------------------------------------------------- every call site


def _call_sites() -> list[tuple[str, str, frozenset[str] | None]]:
    """Every ``say(...)`` in grader/: where, the key (each of ``a if c else b``), the args.

    The args are the keyword names given, or None when they are spread (``**values``).
    """
    sites = []
    for path in sorted(PACKAGE.rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text("utf-8"))):
            if not (isinstance(node, ast.Call) and isinstance(node.func, ast.Name)
                    and node.func.id == "say" and node.args):
                continue
            names = None if any(k.arg is None for k in node.keywords) else frozenset(
                k.arg for k in node.keywords if k.arg)
            first = node.args[0]
            keys = [first] if not isinstance(first, ast.IfExp) else [first.body, first.orelse]
            for key in keys:
                where = f"{path.relative_to(ROOT)}:{node.lineno}"
                sites.append((where, key.value if isinstance(key, ast.Constant) else "", names))
    return sites


CALL_SITES = _call_sites()


def test_the_call_sites_are_found() -> None:
    assert len(CALL_SITES) >= 250
    # A key that is not spelled out (a table's entry) is said without values.
    dynamic = [(where, names) for where, key, names in CALL_SITES if not key]
    assert dynamic and all(names == frozenset() for _, names in dynamic), dynamic


@pytest.mark.parametrize(("where", "key", "names"), [s for s in CALL_SITES if s[1]],
                         ids=[f"{s[0]}:{s[1]}" for s in CALL_SITES if s[1]])
def test_every_say_names_a_key_of_both_catalogues_with_its_placeholders(
        where: str, key: str, names: frozenset[str] | None) -> None:
    for lang in ("en", "fa"):
        catalogue = load_catalogue(lang)
        assert key in catalogue, f"{where}: {key} is not in {lang}.json"
        if names is not None:
            assert _placeholders(catalogue[key]) == names, f"{where}: {key} in {lang}.json"


# --------------------------------------------------------------------------- wrong answers


def _wrong_answers() -> list[tuple[str, Any, Any, tuple[Any, ...]]]:
    """(id, check, received, call outcomes): a wrong answer of each kind and each family."""
    import numpy as np
    import sympy as sp

    from grader.answers import MISSING, CallableAnswer, CallOutcome, Rejected
    from grader.calls import Call
    from grader.checks.public import canonical, digest
    from grader.checks.registry import make_check

    x, y = sp.symbols("x y")
    calls = (Call(args=(2.0,)), Call(args=(3.0,)))
    func = CallableAnswer("f", "(x)")

    def sym(value: Any, **options: Any) -> Any:
        return make_check("symbolic", answer="f", symbols=options.pop("symbols", ("x",)),
                          value=value, **options)

    salt = "0" * 32
    return [
        # numeric
        ("numeric scalar", make_check("numeric", answer="f", value=4), 3, ()),
        ("numeric shape", make_check("numeric", answer="f", value=[1.0, 2.0]), [[1.0, 2.0]], ()),
        ("numeric dict", make_check("numeric", answer="f", value={"a": 1}), {"b": 1}, ()),
        ("numeric text", make_check("numeric", answer="f", value=1.5), "one and a half", ()),
        ("missing", make_check("numeric", answer="f", value=1), MISSING, ()),
        ("unreadable", make_check("numeric", answer="f", value=1), Rejected("too large"), ()),
        # function
        ("function wrong", make_check("function", answer="f", inputs=calls, outputs=(4.0, 9.0)),
         func, (CallOutcome(value=4.0), CallOutcome(value=6.0))),
        ("function timeout", make_check("function", answer="f", inputs=calls,
                                        outputs=(4.0, 9.0)),
         func, (CallOutcome(timed_out=True, limit=2.0), CallOutcome(timed_out=True,
                                                                    not_run=True))),
        ("function raised", make_check("function", answer="f", inputs=calls,
                                       outputs=(4.0, 9.0)),
         func, (CallOutcome(error="ZeroDivisionError: division by zero"),
                CallOutcome(value=9.0))),
        ("function hidden", make_check("function", answer="f", inputs=calls,
                                       outputs=(4.0, 9.0), visibility="hidden"),
         func, (CallOutcome(timed_out=True, limit=2.0), CallOutcome(value=1.0))),
        ("not a function", make_check("function", answer="f", inputs=calls,
                                      outputs=(4.0, 9.0)), 3, ()),
        # format and digest (public checks)
        ("format array", make_check("format", answer="f", form={"type": "array",
                                                                 "shape": [2]}), [1, 2, 3], ()),
        ("format dict", make_check("format", answer="f", form={"type": "dict",
                                                                "keys": ["a"]}), 3, ()),
        ("format symbols", make_check("format", answer="f", form={
            "type": "expression", "symbols": ["x"]}), x + y, ()),
        ("format call", make_check("format", answer="f", form={"type": "callable"},
                                   inputs=calls, outputs=({"type": "number"},) * 2),
         func, (CallOutcome(value="text"), CallOutcome(value=1.0))),
        ("format call timeout", make_check("format", answer="f", form={"type": "callable"},
                                           inputs=calls, outputs=({"type": "number"},) * 2),
         func, (CallOutcome(timed_out=True), CallOutcome(value=1.0))),
        ("digest value", make_check("digest", answer="f", salt=salt,
                                    digest=digest(salt, canonical(4))), 5, ()),
        ("digest inexact", make_check("digest", answer="f", salt=salt,
                                      digest=digest(salt, canonical(4))), 0.1, ()),
        ("digest call", make_check("digest", answer="f", salt=salt, inputs=calls,
                                   digests=(digest(salt, canonical(4)),) * 2),
         func, (CallOutcome(value=5), CallOutcome(error="KeyError: 'a'"))),
        ("digest not a function", make_check("digest", answer="f", salt=salt, inputs=calls,
                                             digests=(digest(salt, canonical(4)),) * 2), 4, ()),
        # symbolic: each family of the engine
        ("expression", sym("x**2"), x**2 + 1, ()),
        ("sign", sym("x**3 - x"), x - x**3, ()),
        ("not an expression", sym("x**2"), True, ()),
        ("unreadable text", sym("x**2"), "x**", ()),
        ("undeclared symbol", sym("x**2"), x * y, ()),
        ("unknown function", sym("x**2"), sp.Function("g")(x), ()),
        ("boundary", sym("Abs(x)"), x * sp.sign(x) + sp.Piecewise((1, sp.Eq(x, 0)), (0, True)),
         ()),
        ("exact difference", sym("x**2"), x**2 + sp.Rational(1, 10**40), ()),
        ("constant", sym("sqrt(2)"), sp.Rational(141421356237, 10**11), ()),
        ("form", sym("(x - 1)*(x + 1)", form=("factored",)), "x**2 - 1", ()),
        ("order term", sym("1 + x"), 1 + x + sp.O(x**2), ()),
        ("equation", sym("Eq(x**2, 1)"), sp.Eq(x, 1), ()),
        ("not an equation", sym("Eq(x, 1)"), x - 1, ()),
        ("interval", sym("Interval(0, 1)"), sp.Interval.Lopen(0, 1), ()),
        ("interval end", sym("Interval(0, 1)"), sp.Interval(0, 2), ()),
        ("inequality", sym("x > 1"), x >= 1, ()),
        ("finite set", sym("FiniteSet(1, 2)"), sp.FiniteSet(1, 3), ()),
        ("condition", sym("x > y", symbols=("x", "y")), y > x, ()),
        ("system", sym(["Eq(x + y, 2)", "Eq(x - y, 0)"], symbols=("x", "y"),
                       compare="system"), [sp.Eq(x + y, 2), sp.Eq(x, 2)], ()),
        ("system extra", sym(["Eq(x + y, 2)", "Eq(x - y, 0)"], symbols=("x", "y"),
                             compare="system"), [sp.Eq(x + y, 2)], ()),
        ("matrix", sym("Matrix([[1, x], [0, 1]])"), sp.Matrix([[1, 0], [x, 1]]), ()),
        ("matrix shape", sym("Matrix([[1, x]])"), sp.Matrix([[1], [x]]), ()),
        ("sequence", sym(["x", "x**2"]), [x], ()),
        ("sequence element", sym(["x", "x**2"]), [x, x**3], ()),
        ("dict", sym({"a": "x", "b": "x**2"}), {"a": x, "c": x**2}, ()),
        ("array", sym("x"), np.array([1, 2]), ()),
        ("a function for an expression", sym("x"), func, ()),
        # property and manual
        ("property", make_check("property", answer="f", property_name="is_positive"), -1, ()),
        ("property calls", make_check("property", answer="f", property_name="is_positive",
                                      inputs=calls),
         func, (CallOutcome(value=-1.0), CallOutcome(timed_out=True, limit=2.0))),
        ("manual", make_check("manual", answer="f"), 3, ()),
    ]


def _reference() -> Any:
    import types

    module = types.ModuleType("reference")
    module.is_positive = lambda value, *args: value > 0  # type: ignore[attr-defined]
    return module


WRONG = _wrong_answers()


def _values_left_out(parts: Any) -> list[Any]:
    """The parts with every value left out: what the catalogue itself says, and text as written."""
    out = []
    for part in parts:
        if "key" in part:
            out.append({"key": part["key"], "args": {
                name: _values_left_out(v) if isinstance(v, list) else ""
                for name, v in part.get("args", {}).items()}})
        elif "sentence" in part:
            out.append({"sentence": _values_left_out(part["sentence"])})
        else:
            out.append(part)
    return out


# Words the Persian messages keep: names of types, options and functions, written as code.
_KEPT = TERMS | {"eq", "lhs", "rhs", "sigfigs", "decimals", "int64"}


def _graded(check: Any, received: Any, outcomes: Any) -> CheckResult:
    from grader.checks import Evidence
    from grader.checks.registry import kind_of

    evidence = Evidence(received=received, reference=_reference(),
                        calls=getattr(check.options, "inputs", ()), outcomes=outcomes)
    return kind_of(check).grade(check, evidence, 1.0)


def _english_words(parts: Any, messages: dict[str, Any]) -> list[str]:
    """The English words of ``parts`` rendered with ``messages``, values and code left out."""
    text = render(_values_left_out(parts), messages, load_catalogue("en"))
    return [w for w in _TOKEN.findall(re.sub(r"`[^`]*`", " ", text)) if w.lower() not in _KEPT]


def test_the_wrong_answers_cover_every_kind_that_grades_by_itself_or_not() -> None:
    from grader.checks.registry import KINDS

    assert {w[1].kind for w in WRONG} == set(KINDS)


@pytest.mark.parametrize(("check", "received", "outcomes"), [w[1:] for w in WRONG],
                         ids=[w[0] for w in WRONG])
def test_a_wrong_answer_of_each_kind_and_family_says_nothing_in_english_in_persian(
        check: Any, received: Any, outcomes: Any) -> None:
    result = _graded(check, received, outcomes)
    assert result.status in ("failed", "error", "partial", "missing"), result.message
    fa, en = load_catalogue("fa"), load_catalogue("en")
    for text, parts in ((result.message, result.message_parts),
                        (result.hint, result.hint_parts)):
        if not text:
            continue
        # The whole message is the catalogue's: no piece of it is English glued on.
        assert parts and render(parts, en) == text
        assert all("text" not in p for p in parts), parts
        assert _english_words(parts, fa) == [], (text, render(parts, fa, en))
        assert _PERSIAN.search(render(parts, fa, en))
        # The English rendering is full of words the test would see.
        assert _english_words(parts, en)


def test_a_translation_missing_is_english_the_wrong_answers_find() -> None:
    fa = load_catalogue("fa")
    found = {}
    for _, check, received, outcomes in WRONG:
        result = _graded(check, received, outcomes)
        for parts in (result.message_parts, result.hint_parts):
            for key in _keys(parts):
                without = {k: v for k, v in fa.items() if k != key}
                found[key] = found.get(key, False) or bool(_english_words(parts, without))
    wordless = {k for k, v in _check_keys("en").items() if not _WORD.search(
        "".join(text for form in _forms(v) for text, *_ in string.Formatter().parse(form)))}
    assert len(found) >= 80
    assert sorted(k for k, seen in found.items() if not seen and k not in wordless) == []
