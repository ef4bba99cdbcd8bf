"""Renderers: the student page, the JSON result and the gradebook CSV."""

from __future__ import annotations

import base64
import csv
import io
import itertools
import json
import re
import struct
import xml.etree.ElementTree as ET
import zlib
from dataclasses import replace
from html.parser import HTMLParser
from pathlib import Path

import numpy as np
import pytest
import sympy

from grader.errors import GraderError
from grader.export import grades_csv
from grader.report import (
    MATHML_ATTRIBUTES,
    MATHML_ELEMENTS,
    array_diff,
    catalogue,
    check_templates,
    code_spans,
    languages,
    place_figures,
    render_html,
    sanitize_mathml,
    tidy_number,
    tidy_pair,
    to_json,
    write_student,
)
from grader.results import (
    CellError,
    CheckResult,
    Figure,
    QuestionResult,
    RunLog,
    SubmissionResult,
)
from grader.rubric import Rubric, load_rubric

ROOT = Path(__file__).parent.parent
MINI = Path(__file__).parent / "data" / "mini"
EVIL = '<script>alert("x")</script><img src=x onerror=alert(1)>'


@pytest.fixture(scope="module")
def rubric():
    return load_rubric(MINI / "rubric.toml")


def result(student: str = "alice", message: str = EVIL) -> SubmissionResult:
    checks = (
        CheckResult(answer="k", kind="numeric", status="failed", score=0.0, max_score=2.0,
                    message=message, expected="661", received=EVIL),
        CheckResult(answer="why", kind="manual", status="manual", score=0.0, max_score=1.0,
                    message="Collected; a TA will grade this answer.",
                    received="پاسخ من " + EVIL),
    )
    q = QuestionResult(id="q_num", title="An integer", score=0.0, max_score=3.0,
                       status="failed", checks=checks)
    run = RunLog(cells_total=3, cells_run=3, errors=(CellError(
        index=1, source=EVIL, ename="ValueError", evalue=EVIL, traceback=EVIL),))
    return SubmissionResult(student=student, submission="x/alice.ipynb", score=0.0,
                            max_score=3.0, questions=(q,), run=run, grader_version="0.1.0")


# --------------------------------------------------------------------------- realistic pages
# Built by hand (the browser test reuses them): every kind of block the page can show.


def png_bytes(width: int = 360, height: int = 220) -> bytes:
    """A small line plot as a real PNG, drawn with numpy (no matplotlib)."""
    img = np.full((height, width, 3), 255, dtype=np.uint8)
    img[height - 20, 30:width - 10] = (40, 40, 40)  # x axis
    img[10:height - 20, 30] = (40, 40, 40)  # y axis
    xs = np.arange(31, width - 10)
    ys = (height - 30 - 150 * np.exp(-(xs - 31) / 60.0)).astype(int)
    for dy in (-1, 0, 1):  # a 3-pixel line: steps to converge falling with batch size
        img[np.clip(ys + dy, 0, height - 1), xs] = (31, 78, 153)
    raw = b"".join(b"\x00" + row.tobytes() for row in img)

    def chunk(kind: bytes, data: bytes) -> bytes:
        body = kind + data
        return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body))

    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header)
            + chunk(b"IDAT", zlib.compress(raw, 9)) + chunk(b"IEND", b""))


SVG = ('<svg xmlns="http://www.w3.org/2000/svg" width="240" height="140" '
       'viewBox="0 0 240 140" onload="alert(1)"><script>alert(2)</script>'
       '<rect width="240" height="140" fill="#fff"/>'
       '<polyline points="10,130 60,60 110,90 160,30 230,50" fill="none" stroke="#a4161a" '
       'stroke-width="3"/><image href="https://example.invalid/x.png" width="1" height="1"/>'
       '</svg>')

Z = sympy.Symbol("z")
SIGMA = 1 / (1 + sympy.exp(-Z))


def _mathml(expr: sympy.Expr) -> str:
    return str(sympy.mathml(expr, printer="presentation"))


# What a student, the rubric and a TA wrote, in each language of the sample pages.
WORDS = {
    "en": {
        "q1_1": "Steps to converge vs mini-batch size",
        "q1_2": "Batch normalisation injects noise",
        "q2_1": "Derivative of the sigmoid",
        "q3_2": "Dropout mask scaling",
        "q4_1": "Weight decay",
        "answer_1": "Larger batches give less gradient noise, so fewer steps; past B = 64 the "
                    "gain levels off.",
        "answer_2": "Each batch has its own mean, which adds noise.",
        "feedback": "The variance of a mean of m independent values is sigma_p**2 / m, so its "
                    "standard deviation is sigma_p / sqrt(m), not sigma_p / m.",
        "ta": "Good, but you did not say why the samples must be independent.",
    },
    "fa": {
        "q1_1": "گام‌ها تا همگرایی بر حسب اندازهٔ مینی‌بچ",  # noqa: RUF001
        "q1_2": "نرمال‌سازی دسته‌ای نویز تزریق می‌کند",
        "q2_1": "مشتق تابع سیگموید",
        "q3_2": "مقیاس‌دهی ماسک دراپ‌اوت",
        "q4_1": "کاهش وزن (weight decay)",
        "answer_1": "با بزرگ‌تر شدن مینی‌بچ، نویز گرادیان کم و تعداد گام‌ها کمتر می‌شود؛ "  # noqa: RUF001
                    "اما از B > 64 به بعد بهبود چندانی دیده نمی‌شود.",
        "answer_2": "نرمال‌سازی دسته‌ای با میانگین هر دسته نویز اضافه می‌کند.",
        "feedback": "واریانس میانگین m مقدار مستقل sigma_p**2 / m است، پس انحراف معیار آن "
                    "sigma_p / sqrt(m) است، نه sigma_p / m.",
        "ta": "توضیح خوبی است، اما نگفته‌اید چرا نمونه‌ها باید مستقل باشند.",  # noqa: RUF001
    },
}


def realistic(lang: str = "en") -> SubmissionResult:
    """A graded HW2 submission with math, arrays, figures, a failing cell and text answers."""
    fa = lang == "fa"
    w = WORDS[lang]
    expected_rows = [["0.5", "-0.25", "0", "1"], ["0.125", "2", "-1", "0.333333"],
                     ["4", "0", "0.75", "-2"]]
    received_rows = [["0.5", "-0.25", "0", "1"], ["0.125", "-2", "-1", "0.333333"],
                     ["4", "0", "0.30000000000000004", "-2"]]
    q1 = QuestionResult(
        id="q1_1", title=w["q1_1"], score=3.0, max_score=6.0, status="passed", checks=(
            CheckResult(answer="q1_1_curve", kind="property", status="passed", score=3.0,
                        max_score=3.0, message="Correct.", received="[(1, 812), (8, 240), …]"),
            CheckResult(answer="q1_1_explanation", kind="manual", status="manual", score=0.0,
                        max_score=3.0, message="Collected; a TA will grade this answer.",
                        received=w["answer_1"]),
        ))
    q1_2 = QuestionResult(
        id="q1_2", title=w["q1_2"], score=2.25, max_score=5.0, status="partial", checks=(
            CheckResult(answer="q1_2_batch_mean_std", kind="function", status="partial",
                        score=0.75, max_score=3.0, mistake="sigma-over-m",
                        message=w["feedback"], expected="1.0", received="0.5",
                        hint="off by a factor of sqrt(m) = 2 at (sigma_p, m) = (2.0, 4)"),
            CheckResult(answer="q1_2_explanation", kind="manual", status="partial", score=1.5,
                        max_score=2.0, message=w["ta"], received=w["answer_2"]),
        ))
    q2 = QuestionResult(
        id="q2_1", title=w["q2_1"], score=0.0, max_score=4.0, status="failed", checks=(
            CheckResult(answer="q2_1_dsigma", kind="symbolic", status="failed", score=0.0,
                        max_score=4.0, message="Not equal to the expected expression.",
                        expected=str(SIGMA * (1 - SIGMA)),
                        received=str(sympy.exp(-Z) / (1 + sympy.exp(-Z))),
                        expected_math=_mathml(SIGMA * (1 - SIGMA)),
                        received_math=_mathml(sympy.exp(-Z) / (1 + sympy.exp(-Z))),
                        hint="at z = 0.5: expected 0.235004, received 0.377541"),
        ))
    q3 = QuestionResult(
        id="q3_2", title=w["q3_2"], score=1.0, max_score=3.0, status="partial", checks=(
            CheckResult(answer="q3_2_scaled", kind="numeric", status="failed", score=0.0,
                        max_score=2.0, message="2 of 12 entries differ.",
                        expected="array([[0.5, -0.25, …]])", received="array([[0.5, …]])",
                        diff={"expected": expected_rows, "received": received_rows,
                              "mismatch": [[1, 1], [2, 2]]},
                        hint="sign flipped at [1, 1]"),
            CheckResult(answer="q3_2_keep_prob", kind="numeric", status="passed", score=1.0,
                        max_score=1.0, message="Correct.", expected="0.8", received="0.8"),
        ))
    q4 = QuestionResult(
        id="q4_1", title=w["q4_1"], score=0.0, max_score=4.0, status="failed", checks=(
            CheckResult(answer="q4_1_l2_grad", kind="function", status="failed", score=0.0,
                        max_score=2.0, message="Wrong on hidden input 3 of 5.", expected=None,
                        received="0.30000000000000004", visible=False, visibility="hidden"),
            CheckResult(answer="q4_1_lambda", kind="numeric", status="missing", score=0.0,
                        max_score=1.0, message="`q4_1_lambda` is not defined in the "
                        "submission."),
            CheckResult(answer="q4_1_norm", kind="numeric", status="error", score=0.0,
                        max_score=1.0, message="`q4_1_norm` could not be read: a generator "
                        "is not an answer"),
        ))
    figures = (
        Figure(cell=4, mime="image/png", data=base64.encodebytes(png_bytes()).decode(),
               answers=("q1_1_curve",)),
        Figure(cell=9, mime="image/svg+xml", data=SVG, answers=()),
    )
    traceback = "\n".join([
        "---------------------------------------------------------------------------",
        "ValueError                                Traceback (most recent call last)",
        "Cell In[7], line 3",
        "      1 W = np.random.randn(20, 10)",
        "      2 x = np.ones(9)",
        "----> 3 W @ x",
        "ValueError: matmul: Input operand 1 has a mismatch in its core dimension 0 "
        "(size 9 is different from 10)",
    ])
    run = RunLog(cells_total=14, cells_run=14, figures=figures, errors=(CellError(
        index=7, source="W = np.random.randn(20, 10)\nx = np.ones(9)\nW @ x",
        ename="ValueError", evalue="matmul: Input operand 1 has a mismatch in its core "
        "dimension 0 (size 9 is different from 10)", traceback=traceback),))
    questions = (q1, q1_2, q2, q3, q4)
    return SubmissionResult(
        student="sara" if not fa else "سارا", submission="submissions/sara/hw2.ipynb",
        score=sum(q.score for q in questions), max_score=22.0, questions=questions, run=run,
        grader_version="0.1.0", graded_at="2025-03-02T10:15:00+03:30", isolation="none",
        environment={"python": "3.11.7", "numpy": "2.1.0", "sympy": "1.14.0"},
        command="grader grade submissions/sara --rubric rubrics/hw2.toml --out reports/")


def hw2_rubric(lang: str = "en") -> Rubric:
    """The shipped HW2 rubric; its title in Persian for the Persian page."""
    rub = load_rubric(ROOT / "rubrics" / "hw2.toml")
    if lang == "fa":
        rub = replace(rub, title="یادگیری عمیق، تمرین ۲: بهینه‌سازی، مقداردهی اولیه و منظم‌سازی")
    return rub


# --------------------------------------------------------------------------- escaping


def test_html_escapes_everything_the_student_controls(rubric):
    html = render_html(result(), rubric)
    assert "<script>" not in html and "<img" not in html
    assert "&lt;script&gt;" in html
    assert "Content-Security-Policy" in html and "default-src 'none'" in html


def test_html_is_self_contained(rubric):
    html = render_html(result(), rubric)
    assert not re.search(r"(src|href)=\"(https?:)?//", html)
    assert "<link" not in html
    assert 'dir="auto"' in html
    assert "Not sandboxed" in html


def test_html_shows_status_in_words_and_the_failing_cell(rubric):
    html = render_html(result(), rubric)
    assert "Wrong" in html and "To be graded by a TA" in html
    assert "Cell 1 raised" in html and "ValueError" in html
    assert "0 / 3 points" in html


class _Tags(HTMLParser):
    """Every start tag with its attributes, and every heading level in order."""

    def __init__(self) -> None:
        super().__init__()
        self.tags: list[tuple[str, dict[str, str | None]]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, dict(attrs)))


def tags(html: str) -> list[tuple[str, dict[str, str | None]]]:
    parser = _Tags()
    parser.feed(html)
    return parser.tags


@pytest.mark.parametrize("lang", ["en", "fa"])
def test_realistic_page_runs_nothing_and_loads_nothing(lang):
    html = render_html(realistic(lang), hw2_rubric(lang), lang=lang)
    for tag, attrs in tags(html):
        assert tag not in ("script", "iframe", "object", "embed", "link", "svg", "a") or (
            tag == "a" and (attrs.get("href") or "").startswith("#")), tag
        assert not any(name.startswith("on") for name in attrs), (tag, attrs)
        assert not (attrs.get("src") or "data:").startswith(("http", "//", "file")), attrs
        assert tag != "img" or (attrs.get("src") or "").startswith("data:image/"), attrs
        assert tag != "img" or attrs.get("alt"), "every image has alt text"
    assert "example.invalid" not in html  # the SVG's link is base64 inside an <img> only
    assert "alert(1)" not in html


@pytest.mark.parametrize("lang", ["en", "fa"])
def test_headings_go_in_order_and_landmarks_are_there(lang):
    found = tags(render_html(realistic(lang), hw2_rubric(lang), lang=lang))
    levels = [int(tag[1]) for tag, _ in found if re.fullmatch(r"h[1-6]", tag)]
    assert levels[0] == 1 and levels.count(1) == 1
    assert all(b <= a + 1 for a, b in itertools.pairwise(levels)), levels
    names = [tag for tag, _ in found]
    assert names.count("main") == 1 and "header" in names and "footer" in names
    assert all(attrs.get("scope") in ("col", "row") for tag, attrs in found if tag == "th")


# --------------------------------------------------------------------------- MathML

HOSTILE_MATHML = [
    str(sympy.mathml(sympy.Symbol("<script>alert(1)</script>"), printer="presentation")),
    '<math><mi onload="alert(1)" onclick="x()">x</mi></math>',
    '<mrow><mi>x</mi><script>alert(1)</script></mrow>',
    '<mrow><a href="javascript:alert(1)"><mi>x</mi></a></mrow>',
    '<mrow><foreign><mi>x</mi></foreign></mrow>',
    '<math xmlns="http://www.w3.org/1998/Math/MathML"><mi href="javascript:alert(1)">x</mi>'
    '<mstyle style="background:url(https://e.invalid/)" mathbackground="red"><mn>1</mn>'
    '</mstyle></math>',
    '<math><semantics><mi>x</mi><annotation-xml encoding="text/html"><script>alert(1)'
    '</script></annotation-xml></semantics></math>',
    '<mi xmlns:x="http://www.w3.org/1999/xhtml"><x:script>alert(1)</x:script></mi>',
    '<mi mathvariant="&quot;&gt;&lt;script&gt;alert(1)&lt;/script&gt;">x</mi>',
    '<mtext>&lt;img src=x onerror=alert(1)&gt;</mtext>',
    '<mtext><![CDATA[<script>alert(1)</script>]]></mtext>',
    '<!DOCTYPE m [<!ENTITY e "<script>alert(1)</script>">]><mi>&e;</mi>',
    '<mi>x</mi><?xml-stylesheet href="https://e.invalid/x.css"?>',
    '<mi>&unknownentity;</mi>',
    '<mi>unclosed',
    '<svg><script>alert(1)</script></svg>',
]


def _assert_whitelisted(markup: str) -> None:
    root = ET.fromstring(markup)
    for elem in root.iter():
        assert elem.tag in MATHML_ELEMENTS, elem.tag
        assert set(elem.attrib) <= MATHML_ATTRIBUTES | {"alttext"}, elem.attrib


@pytest.mark.parametrize("markup", HOSTILE_MATHML)
def test_mathml_keeps_nothing_executable(markup):
    clean = sanitize_mathml(markup)
    if clean is not None:
        _assert_whitelisted(clean)
        low = clean.lower()
        assert "<script" not in low and "href" not in low and "onload" not in low
        assert "onclick" not in low and "style=" not in low and "url(" not in low


def test_mathml_falls_back_to_text_for_a_hostile_symbol(rubric):
    name = "<script>alert(1)</script>"
    check = CheckResult(answer="expr", kind="symbolic", status="failed", score=0.0,
                        max_score=1.0, message="Not equal.", expected="x", received=name,
                        expected_math=_mathml(sympy.Symbol("x")),
                        received_math=_mathml(sympy.Symbol(name)))
    q = QuestionResult(id="q", title="t", score=0, max_score=1, status="failed",
                       checks=(check,))
    html = render_html(SubmissionResult(student="s", submission="s.py", score=0, max_score=1,
                                        questions=(q,)), rubric)
    assert "<script" not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html  # shown as the text it is
    assert html.count("<math") == 1  # the expected value still renders as math


def test_mathml_from_sympy_survives_with_its_characters():
    clean = sanitize_mathml(_mathml(sympy.exp(-Z) / (1 + sympy.exp(-Z))), alt="exp(-z)")
    assert clean is not None and clean.startswith('<math display="block" alttext="exp(-z)">')
    _assert_whitelisted(clean)
    assert "<mfrac>" in clean and "\u2147" in clean and "\u2062" in clean  # e, invisible times
    assert sanitize_mathml('<mi mathvariant="bold" onload="x">x</mi>') == (
        '<math display="block"><mi mathvariant="bold">x</mi></math>')


def test_mfenced_becomes_fences_chromium_renders():
    clean = sanitize_mathml('<mfenced open="[" close="]"><mi>a</mi><mi>b</mi></mfenced>')
    assert clean == ('<math display="block"><mrow><mo>[</mo><mi>a</mi><mo>,</mo><mi>b</mi>'
                     '<mo>]</mo></mrow></math>')


# --------------------------------------------------------------------------- values


def test_numbers_are_shortened_but_never_made_equal():
    assert tidy_number("0.30000000000000004") == "0.3"
    assert tidy_number("661") == "661" and tidy_number("[1.0, 2.0]") == "[1.0, 2.0]"
    assert tidy_number("1.0000000000000001e-20") == "1e-20"
    assert tidy_pair("0.1234567", "0.1234568") == ("0.1234567", "0.1234568")
    assert tidy_pair("0.30000000000000004", "0.3") == ("0.30000000000000004", "0.3")
    assert tidy_pair("0.3000000", "0.3") == ("0.3", "0.3")  # equal values
    assert tidy_pair("2.0000001", "2.5") == ("2", "2.5")
    assert tidy_pair("nan", "1.5") == ("nan", "1.5")


def test_array_diff_marks_the_differing_entries():
    d = array_diff({"expected": [["1", "2"], ["3", "4"]], "received": [["1", "2"], ["3", "5"]],
                    "mismatch": [[1, 1]]})
    assert d is not None and not d.vector and d.differing == 1 and not d.truncated
    assert [c.differs for row in d.received for c in row] == [False, False, False, True]
    v = array_diff({"expected": ["1", "2", "3"], "received": ["1", "0", "3"],
                    "mismatch": [[1]]})
    assert v is not None and v.vector and v.received[0][1].differs
    big = array_diff({"expected": [[str(i)] * 30 for i in range(30)],
                      "received": [[str(i)] * 30 for i in range(30)], "mismatch": []})
    assert big is not None and big.truncated and len(big.expected) == 12
    assert array_diff(None) is None and array_diff({"expected": [[[1]]], "received": []}) is None


def test_page_shows_math_arrays_hints_and_the_hidden_test(rubric):
    html = render_html(realistic(), hw2_rubric())
    assert html.count("<math") == 2 and "<mfrac>" in html
    # Two entries differ; each is marked in both tables.
    assert html.count('class="differs"') == 4 and "Entries marked" in html
    assert "sign flipped at [1, 1]" in html and "How they differ" in html
    assert "Hidden test: the expected value is not shown." in html
    assert "<pre dir=\"ltr\">0.3</pre>" in html  # 0.30000000000000004, shortened
    assert '<th scope="col">' in html and '<th scope="row">' in html


def test_a_hidden_check_shows_only_the_students_value(rubric):
    check = CheckResult(answer="h", kind="numeric", status="failed", score=0, max_score=1,
                        message="Wrong on a hidden input.", expected="31337.5",
                        received="2.5", visible=False, visibility="after_due_date",
                        hint="expected 31337.5", expected_math="<mn>31337.5</mn>",
                        diff={"expected": ["31337.5"], "received": ["2.5"], "mismatch": [[0]]})
    q = QuestionResult(id="q", title="t", score=0, max_score=1, status="failed",
                       checks=(check,))
    html = render_html(SubmissionResult(student="s", submission="s.py", score=0, max_score=1,
                                        questions=(q,)), rubric)
    assert "31337" not in html and "2.5" in html
    assert "shown after the due date" in html


def test_status_is_in_words_and_symbols_never_colour_alone():
    html = render_html(realistic(), hw2_rubric())
    for symbol, word in [("✓", "Correct"), ("✗", "Wrong"), ("◐", "Partly correct"),
                         ("∅", "Missing"), ("!", "Error"), ("✎", "To be graded by a TA")]:
        assert re.search(rf'aria-hidden="true">{re.escape(symbol)}</span> {word}</span>', html)


# --------------------------------------------------------------------------- figures, cells, text


def test_figures_go_to_their_question_and_svg_is_never_inlined():
    by_question, loose = place_figures(realistic())
    assert [f.cell for f in by_question["q1_1"]] == [4] and [f.cell for f in loose] == [9]
    assert by_question["q1_1"][0].url.startswith("data:image/png;base64,iVBORw0KGgo")
    assert loose[0].url.startswith("data:image/svg+xml;base64,")
    html = render_html(realistic(), hw2_rubric())
    assert "<svg" not in html and "Your figures for this question" in html
    section = html[html.index('id="q-q1_1"'):html.index('id="q-q1_2"')]
    assert "data:image/png;base64," in section
    assert 'alt="Figure displayed by cell 4 of your notebook, for q1_1_curve"' in section


def test_unreadable_or_huge_figures_are_named_not_shown():
    bad = replace(realistic(), run=RunLog(figures=(
        Figure(cell=1, mime="image/png", data="not base64!"),
        Figure(cell=2, mime="text/html", data="<b>x</b>"),
        Figure(cell=3, mime="image/svg+xml", data="<svg/>" + " " * 5_000_000),
    )))
    html = render_html(bad, hw2_rubric())
    assert "cell 1 could not be read" in html and "cannot show (text/html)" in html
    assert "cell 3 is too large" in html and "<b>x</b>" not in html


def test_failing_cell_shows_source_and_the_end_of_a_long_traceback():
    long = "\n".join(f"\x1b[31mframe {i}\x1b[0m" for i in range(100)) + "\nValueError: boom"
    r = replace(realistic(), run=RunLog(errors=(CellError(
        index=3, source="x = 1\nraise ValueError('boom')", ename="ValueError",
        evalue="boom", traceback=long),)))
    html = render_html(r, hw2_rubric())
    assert "Cell 3 raised" in html and "raise ValueError(&#39;boom&#39;)" in html
    assert "ValueError: boom" in html and "frame 99" in html and "frame 10<" not in html
    assert "61 earlier lines not shown" in html and "\x1b" not in html


def test_text_answers_show_the_ta_comment_and_points_once_graded():
    html = render_html(realistic(), hw2_rubric())
    graded = html[html.index('id="q-q1_2"'):html.index('id="q-q2_1"')]
    assert "TA&#39;s comment" in graded and "did not say why" in graded
    assert "1.5 / 2" in graded
    pending = html[html.index('id="q-q1_1"'):html.index('id="q-q1_2"')]
    assert "A TA will read and grade this answer." in pending and "TA&#39;s comment" not in pending
    assert "1 text answer will be graded by a TA; its points" in html
    # The question's automatic checks all passed; its text answer's points are still open.
    summary = html[html.index('id="summary-heading"'):html.index('id="q-q1_1"')]
    assert summary.count("3 points still to be graded by a TA") == 1


# --------------------------------------------------------------------------- language


def test_catalogues_translate_every_message():
    assert set(languages()) >= {"en", "fa"}
    en, fa = catalogue("en").messages, catalogue("fa").messages
    assert set(en) == set(fa)
    for key, text in en.items():
        if key != "_meta":
            assert fa[key] != text, f"{key} is not translated"
            assert re.findall(r"\{\w+\}", json.dumps(fa[key])) != [] or "{" not in json.dumps(
                text), key
    for key, text in fa.items():
        placeholders = sorted(set(re.findall(r"\{(\w+)\}", json.dumps(text))))
        assert placeholders == sorted(set(re.findall(r"\{(\w+)\}", json.dumps(en[key])))), key
    with pytest.raises(GraderError, match="available: en, fa"):
        catalogue("xx")


def test_persian_page_is_right_to_left_and_keeps_code_left_to_right():
    html = render_html(realistic("fa"), hw2_rubric("fa"), lang="fa")
    assert '<html lang="fa" dir="rtl">' in html
    assert "بازخورد برای" in html and "نادرست" in html and "درست" in html
    assert "</span> Wrong</span>" not in html and "Feedback for" not in html
    assert '<pre dir="ltr">' in html and '<div class="math" dir="ltr">' in html
    assert '<table class="array" dir="ltr"' in html and 'class="text-answer" dir="auto"' in html
    assert "3 از 6 امتیاز" in html  # "3 of 6 points": no slash for bidi to reorder


def test_backtick_spans_become_code_and_stay_escaped():
    assert str(code_spans("`q4_1` is `<script>` & <b>")) == (
        '<code dir="ltr">q4_1</code> is <code dir="ltr">&lt;script&gt;</code> &amp; &lt;b&gt;')
    html = render_html(realistic(), hw2_rubric())
    assert '<code dir="ltr">q4_1_lambda</code> is not defined' in html


def test_catalogue_escapes_values_but_keeps_markup_we_built():
    t = catalogue("en")
    assert str(t("feedback_for", student="<b>x</b>")) == "Feedback for &lt;b&gt;x&lt;/b&gt;"
    assert str(t("pending_manual", count=2)).startswith("2 text answers")


def test_a_ta_template_overrides_ours_by_name(tmp_path, rubric):
    (tmp_path / "macros.html.j2").write_text(
        (ROOT / "grader" / "templates" / "macros.html.j2").read_text("utf-8").replace(
            '<p class="message" dir="auto">{{ c.message|code_spans }}</p>',
            '<p class="message" dir="auto">TA SAYS: {{ c.message }}</p>'), "utf-8")
    (tmp_path / "style.css.j2").write_text("body { color: #000; } /* course style */", "utf-8")
    html = render_html(result(), rubric, templates=tmp_path)
    assert "TA SAYS: &lt;script&gt;" in html  # still autoescaped in the TA's template
    assert "/* course style */" in html and "Summary" in html  # the rest is still ours
    check_templates(tmp_path)
    (tmp_path / "student.html.j2").write_text("{% if %}", "utf-8")
    with pytest.raises(GraderError, match=r"student\.html\.j2, line 1"):
        check_templates(tmp_path)
    with pytest.raises(GraderError, match="not a folder"):
        check_templates(tmp_path / "nope")


# --------------------------------------------------------------------------- other files


def test_json_has_the_documented_fields():
    data = json.loads(to_json(result()))
    assert {"student", "submission", "score", "max_score", "questions"} <= set(data)
    q = data["questions"][0]
    assert {"id", "score", "max_score", "checks"} <= set(q)
    assert {"answer", "status", "score", "max_score", "message"} <= set(q["checks"][0])
    assert SubmissionResult.from_dict(data) == result()


def test_csv_has_a_column_per_question_and_the_total(rubric):
    text = grades_csv([result("bob"), result("=cmd|' /C calc'!A0")], rubric)
    rows = list(csv.reader(io.StringIO(text)))
    assert rows[0] == ["student", *[q.id for q in rubric.questions], "total", "max_score", "run",
                       "cell_errors", "submitted_at", "late", "score_before_late", "late_penalty"]
    assert rows[1][0] == "'=cmd|' /C calc'!A0"  # no spreadsheet formula
    assert rows[2][0] == "bob"


def test_write_student_is_atomic_and_complete(tmp_path, rubric):
    write_student(result(), rubric, tmp_path, lang="fa")
    assert sorted(p.name for p in (tmp_path / "students").iterdir()) == [
        "alice.html", "alice.json"]
    assert 'dir="rtl"' in (tmp_path / "students" / "alice.html").read_text("utf-8")


def test_to_dict_is_what_dataclasses_asdict_gives():
    import dataclasses

    from grader.results import Change, LatePenalty, Override

    base = realistic()
    q = base.questions[0]
    overridden = replace(q, override=Override(points=5.0, comment="fair", by="ta"),
                         checks=(replace(q.checks[0], override=Override(points=1.0)),
                                 *q.checks[1:]))
    rich = replace(base, questions=(overridden, *base.questions[1:]),
                   changes=(Change(question="q1_1", answer="", old_points=None,
                                   new_points=5.0),),
                   late_penalty=LatePenalty(score_before=9.0, penalty=1.0, hours_late=3.5,
                                            deadline="2026-11-01T00:00:00+00:00",
                                            per="day", rate=0.1, floor=0.0, grace_minutes=0.0,
                                            cutoff="", reason="penalty"))
    for r in (result(), base, realistic("fa"), rich):
        data = r.to_dict()
        assert data == dataclasses.asdict(r)
        assert json.dumps(data, sort_keys=True) == json.dumps(dataclasses.asdict(r),
                                                              sort_keys=True)
        assert SubmissionResult.from_dict(data) == r


# --------------------------------------------------------------------------- compiled templates


@pytest.fixture
def cache_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    """A cache folder of the test's own, and environments made anew on it."""
    import grader.report as report
    import grader.summary as summary

    def fresh() -> None:
        for cached in (report.template_cache, report._environment, summary._environment):
            cached.cache_clear()

    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    fresh()
    yield tmp_path / "cache", fresh
    fresh()  # the next test's environments use the real cache folder again


def _compiles(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    import jinja2

    made: list[str] = []
    real = jinja2.Environment.compile

    def compile(self, source, name=None, filename=None, *args, **kwargs):
        made.append(name)
        return real(self, source, name, filename, *args, **kwargs)

    monkeypatch.setattr(jinja2.Environment, "compile", compile)
    return made


def test_compiled_templates_are_kept_for_the_next_run(rubric, cache_home, monkeypatch):
    folder, fresh = cache_home
    made = _compiles(monkeypatch)
    page = render_html(realistic(), rubric)
    assert "student.html.j2" in made  # the first run compiles
    kept = sorted(p.name for p in next(folder.glob("grader/templates-jinja2-*")).iterdir())
    assert len(kept) == len(set(made)) and all(n.endswith(".cache") for n in kept)
    made.clear()
    fresh()  # another process: its own environment, the same cache folder
    assert render_html(realistic(), rubric) == page
    assert made == []  # nothing compiled again


def test_an_edited_template_compiles_anew(rubric, cache_home, monkeypatch, tmp_path):
    _, fresh = cache_home
    mine = tmp_path / "templates"
    mine.mkdir()
    (mine / "student.html.j2").write_text("<p>{{ result.student }} one</p>", "utf-8")
    assert render_html(result(), rubric, templates=mine) == "<p>alice one</p>"
    fresh()
    (mine / "student.html.j2").write_text("<p>{{ result.student }} two</p>", "utf-8")
    assert render_html(result(), rubric, templates=mine) == "<p>alice two</p>"


@pytest.mark.parametrize("spoil", ["others_may_write", "not_a_folder", "garbage"])
def test_a_cache_that_cannot_be_trusted_or_read_costs_only_the_compiling(
        rubric, cache_home, monkeypatch, spoil):
    import grader.report as report

    folder, fresh = cache_home
    page = render_html(realistic(), rubric)
    kept = next(folder.glob("grader/templates-jinja2-*"))
    fresh()
    if spoil == "others_may_write":
        kept.chmod(0o777)  # code another user could put there would run as the grader
    elif spoil == "not_a_folder":
        for p in kept.iterdir():
            p.unlink()
        kept.rmdir()
        kept.write_text("")
    else:
        for p in kept.iterdir():
            p.write_bytes(p.read_bytes()[:40] + b"\x00garbage")
    made = _compiles(monkeypatch)
    if spoil != "garbage":
        assert report.template_cache() is None
    assert render_html(realistic(), rubric) == page
    assert "student.html.j2" in made
