"""The feedback page in a real browser: headless Chromium driven by Playwright.

The pages are the realistic results of test_report (math from sympy, an array diff, a PNG
and an SVG figure, a failing cell, Persian text answers), opened from files. Chromium is
the system's (Debian package ``chromium``, installed by .ci/run); Playwright never
downloads a browser of its own here. Screenshots of the English and the Persian page are
written to docs/screenshots/ and linked from the README.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from grader.report import render_html

try:  # tests/ is a folder of modules, which pytest puts on sys.path ...
    from test_report import hw2_rubric, realistic
except ImportError:  # ... unless it becomes a package
    from tests.test_report import hw2_rubric, realistic

pytestmark = pytest.mark.browser

ROOT = Path(__file__).parent.parent
SCREENSHOTS = ROOT / "docs" / "screenshots"
MAX_FULL_PAGE_PNG = 400_000  # bytes; a longer page is shot at the viewport's size
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run"]


def _chromium() -> str | None:
    candidates = [os.environ.get("CHROMIUM"), "/usr/bin/chromium",
                  shutil.which("chromium"), shutil.which("chromium-browser")]
    return next((c for c in candidates if c and Path(c).is_file()), None)


CHROMIUM = _chromium()
if CHROMIUM is None:
    pytest.skip("no chromium binary (Debian: apt-get install chromium; or set CHROMIUM)",
                allow_module_level=True)
sync_api = pytest.importorskip("playwright.sync_api",
                               reason="Playwright for Python is not installed (pip install "
                                      "-e '.[dev]')")


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    with sync_api.sync_playwright() as pw:
        b = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield b
        b.close()


class Opened:
    """A page loaded from a file, with every request and console error it caused."""

    def __init__(self, browser: Any, path: Path) -> None:
        self.url = path.as_uri()
        self.requests: list[str] = []
        self.errors: list[str] = []
        self.page = browser.new_page(viewport={"width": 1000, "height": 1400})
        self.page.on("request", lambda r: self.requests.append(r.url))
        self.page.on("console",
                     lambda m: self.errors.append(m.text) if m.type == "error" else None)
        self.page.on("pageerror", lambda e: self.errors.append(str(e)))
        # Nothing leaves the machine even if the page asked: every other URL is refused.
        self.page.route("**/*", lambda route: route.continue_() if route.request.url in (
            self.url,) or route.request.url.startswith("data:") else route.abort())
        self.page.goto(self.url, wait_until="load")

    def js(self, script: str) -> Any:
        return self.page.evaluate(script)


@pytest.fixture(scope="module", params=["en", "fa"])
def opened(request: pytest.FixtureRequest, browser: Any,
           tmp_path_factory: pytest.TempPathFactory) -> Iterator[Opened]:
    lang = request.param
    path = tmp_path_factory.mktemp(lang) / "sara.html"
    path.write_text(render_html(realistic(lang), hw2_rubric(lang), lang=lang), "utf-8")
    page = Opened(browser, path)
    page.lang = lang  # type: ignore[attr-defined]
    yield page
    page.page.close()


def test_no_network_request_and_no_console_error(opened):
    assert [u for u in opened.requests if u != opened.url and not u.startswith("data:")] == []
    assert opened.errors == []
    # Nothing the student wrote became live: no scripts, frames or inline SVG in the DOM.
    assert opened.js("document.querySelectorAll('script, iframe, object, embed, svg, "
                     "foreignObject, a:not([href^=\"#\"])').length") == 0


def test_math_is_laid_out_as_math(opened):
    boxes = opened.js("""[...document.querySelectorAll('math')].map(m => {
        const r = m.getBoundingClientRect(); return [r.width, r.height]; })""")
    assert len(boxes) == 2 and all(w > 0 and h > 0 for w, h in boxes), boxes
    # Rendered as MathML, not as a run of text: a fraction's numerator sits above its
    # denominator, and the math stays left-to-right on a right-to-left page.
    stacked = opened.js("""[...document.querySelectorAll('mfrac')].every(f => {
        const [num, den] = f.children;
        return num.getBoundingClientRect().bottom <= den.getBoundingClientRect().top + 1; })""")
    assert stacked
    assert opened.js("[...document.querySelectorAll('math')].map(m => "
                     "getComputedStyle(m).direction)") == ["ltr", "ltr"]


def test_figures_are_loaded(opened):
    images = opened.js("""[...document.images].map(i => [i.complete, i.naturalWidth, i.alt,
                                                         i.src.slice(0, 22)])""")
    assert len(images) == 2
    for complete, width, alt, src in images:
        assert complete and width > 0 and alt and src.startswith("data:image/"), (src, width)


def test_direction_follows_the_language(opened):
    expected = "rtl" if opened.lang == "fa" else "ltr"
    assert opened.js("getComputedStyle(document.body).direction") == expected
    assert opened.js("document.documentElement.lang") == opened.lang
    # Code, tracebacks and arrays read left to right on either page.
    kept = opened.js("""[...document.querySelectorAll('pre, table.array')]
                        .map(e => getComputedStyle(e).direction)""")
    assert kept and set(kept) == {"ltr"}


def test_layout_fits_and_text_has_contrast(opened):
    # Nothing wider than the window (a right-to-left page that overflows scrolls sideways).
    assert opened.js("document.documentElement.scrollWidth <= window.innerWidth")
    low = opened.js("""(() => {
      const rgb = s => (s.match(/[\\d.]+/g) || []).map(Number);
      const lum = ([r, g, b]) => [r, g, b].map(v => { v /= 255;
          return v <= 0.03928 ? v / 12.92 : ((v + 0.055) / 1.055) ** 2.4; })
          .reduce((a, v, i) => a + v * [0.2126, 0.7152, 0.0722][i], 0);
      const background = e => { for (; e; e = e.parentElement) {
          const c = rgb(getComputedStyle(e).backgroundColor);
          if (c.length === 3 || c[3] > 0) return c.slice(0, 3); } return [255, 255, 255]; };
      const bad = [];
      for (const e of document.body.querySelectorAll('*')) {
        const own = [...e.childNodes].some(n => n.nodeType === 3 && n.textContent.trim());
        if (!own || e.offsetWidth <= 1 || e.closest('.sr-only')) continue;
        const s = getComputedStyle(e), a = lum(rgb(s.color)), b = lum(background(e));
        const ratio = (Math.max(a, b) + 0.05) / (Math.min(a, b) + 0.05);
        const large = parseFloat(s.fontSize) >= 24 ||
                      (parseFloat(s.fontSize) >= 18.6 && Number(s.fontWeight) >= 700);
        if (ratio < (large ? 3 : 4.5)) bad.push([e.tagName, e.className, ratio.toFixed(2)]);
      }
      return bad; })()""")
    assert low == []


def test_landmarks_and_table_headers(opened):
    assert opened.js("['header', 'main', 'footer'].map(t => "
                     "document.querySelectorAll('body > ' + t).length)") == [1, 1, 1]
    assert opened.js("[...document.querySelectorAll('th')].every(th => th.scope || "
                     "th.closest('thead'))")


def test_prints_on_paper(opened):
    opened.page.emulate_media(media="print")
    try:
        assert opened.js("getComputedStyle(document.body).maxWidth") == "none"
        assert opened.js("[...document.querySelectorAll('pre')].every(p => "
                         "getComputedStyle(p).overflowX === 'visible')")
    finally:
        opened.page.emulate_media(media="screen")


def test_screenshot(opened):
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    target = SCREENSHOTS / f"feedback-{opened.lang}.png"
    png = opened.page.screenshot(full_page=True)
    if len(png) > MAX_FULL_PAGE_PNG:
        png = opened.page.screenshot(full_page=False)
    assert png[:8] == b"\x89PNG\r\n\x1a\n"
    # Rewritten only when it changed: the same machine renders the same bytes.
    if not target.exists() or target.read_bytes() != png:
        target.write_bytes(png)


def test_the_audit_page_opens_fits_and_shows_each_survivor_as_a_diff(browser, tmp_path):
    # The HW2 rubric with q1_2 weakened to m = 1: two survivors, one a long line.
    from grader.audit.report import write_page
    from grader.audit.run import Settings, audit
    from grader.rubric import load_rubric

    text = (ROOT / "rubrics" / "hw2.toml").read_text("utf-8")
    weak = text.replace("inputs = [[2.0, 4], [1.0, 1], [3.0, 100], [0.5, 7], [1.5, 32]]",
                        "inputs = [[2.0, 1]]").replace(
        '"../reference/hw2.py"', f'"{ROOT / "reference" / "hw2.py"}"')
    assert weak != text
    (tmp_path / "hw2.toml").write_text(weak, "utf-8")
    result = audit(load_rubric(tmp_path / "hw2.toml"),
                   Settings(questions=("q1_2", "q2_1"), jobs=2))
    page = Opened(browser, write_page(result, tmp_path / "out"))
    try:
        assert [u for u in page.requests if u != page.url] == []
        assert page.errors == []
        assert page.js("document.querySelectorAll('script').length") == 0
        assert page.js("document.documentElement.scrollWidth <= window.innerWidth")
        assert page.js("[...document.querySelectorAll('.survivor .del')].map(e => "
                       "e.innerText)") == ["- return float(sigma_p) / math.sqrt(m)"] * 2
        assert page.js("[...document.querySelectorAll('.survivor .add')].map(e => "
                       "e.innerText)") == ["+ return float(sigma_p) * math.sqrt(m)",
                                           "+ return float(sigma_p) / m"]
        assert page.js("[...document.querySelectorAll('th')].every(th => th.scope || "
                       "th.closest('thead'))")
        assert page.js("document.querySelectorAll('body > header, body > main').length") == 2
    finally:
        page.page.close()
