"""The README and docs/ stay true: their links resolve and the quick start still works.

Every relative link in ``README.md`` and ``docs/*.md`` must name a file of the repository
(and a heading of it, when it has a ``#fragment``), and every repository path the pages
give as inline code (``grader/kernel/agent.py``, ``tests/test_hostile.py``) must exist,
so a moved module or page shows here rather than in a reader's dead end. The README's
quick start is the two commands a fresh clone runs, and ``.ci/run`` runs the second.
"""

from __future__ import annotations

import re
import unicodedata
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
QUICK_START = ("make demo", "make test")

_FENCE = re.compile(r"^[ \t]*(```|~~~).*?^[ \t]*\1", re.M | re.S)
_LINK = re.compile(r"!?\[(?:[^\[\]]|\[[^\]]*\])*\]\(([^)\s]+)\)")
_CODE = re.compile(r"`([^`\n]+)`")
_HEADING = re.compile(r"^#{1,6}\s+(.+?)\s*#*\s*$", re.M)
# Top-level folders whose paths the pages name as inline code.
_MODULE = re.compile(r"grader(\.[A-Za-z_]\w*)+")
_TREES = ("grader/", "tests/", "benchmarks/", "rubrics/", "reference/", "docs/", ".ci/",
          "submissions_example/")


def _prose(text: str) -> str:
    """The page without its fenced code blocks, where links and paths are examples."""
    return _FENCE.sub("", text)


def _slug(heading: str) -> str:
    """GitHub's anchor for a heading: lower case, punctuation dropped, spaces to '-'."""
    text = re.sub(r"!?\[([^\]]*)\]\([^)]*\)", r"\1", heading).lower()
    kept = "".join(ch for ch in text if ch in " -_" or unicodedata.category(ch)[0] in "LN")
    return kept.replace(" ", "-")


def _anchors(page: Path) -> set[str]:
    seen: dict[str, int] = {}
    anchors = set()
    for heading in _HEADING.findall(_prose(page.read_text(encoding="utf-8"))):
        slug = _slug(heading)
        count = seen.get(slug, 0)
        seen[slug] = count + 1
        anchors.add(slug if count == 0 else f"{slug}-{count}")
    return anchors


def _links(page: Path) -> list[str]:
    return _LINK.findall(_prose(page.read_text(encoding="utf-8")))


def test_the_pages_exist() -> None:
    assert (ROOT / "docs" / "security.md") in PAGES and len(PAGES) > 2


@pytest.mark.parametrize("page", PAGES, ids=lambda p: str(p.relative_to(ROOT)))
def test_relative_links_resolve(page: Path) -> None:
    broken = []
    for target in _links(page):
        if re.match(r"^[a-z][a-z0-9+.-]*:", target):  # https:, mailto:: not ours to check
            continue
        path, _, fragment = target.partition("#")
        resolved = (page.parent / path).resolve() if path else page
        if not resolved.exists():
            broken.append(f"{target}: no such file")
        elif fragment and resolved.suffix == ".md" and fragment not in _anchors(resolved):
            broken.append(f"{target}: no heading #{fragment}")
    assert not broken, f"{page.relative_to(ROOT)}: {broken}"


@pytest.mark.parametrize("page", PAGES, ids=lambda p: str(p.relative_to(ROOT)))
def test_repository_paths_named_exist(page: Path) -> None:
    missing = []
    for code in _CODE.findall(_prose(page.read_text(encoding="utf-8"))):
        if not code.startswith(_TREES) or re.search(r"[<>*…\s]|\.\.\.", code):
            continue  # a command line, or a pattern such as students/<student>.json
        if not (ROOT / code).exists():
            missing.append(code)
    for code in _CODE.findall(_prose(page.read_text(encoding="utf-8"))):
        if _MODULE.fullmatch(code):  # a dotted module name, grader.kernel.agent
            path = ROOT / code.replace(".", "/")
            if not (path.with_suffix(".py").is_file() or (path / "__init__.py").is_file()):
                missing.append(code)
    assert not missing, f"{page.relative_to(ROOT)} names paths that do not exist: {missing}"


def test_quick_start_has_the_two_commands() -> None:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    section = readme.split("## Quick start", 1)[1].split("\n## ", 1)[0]
    block = re.search(r"```sh\n(.*?)```", section, re.S)
    assert block, "the quick start has no sh block"
    commands = [line.split("#", 1)[0].strip() for line in block.group(1).splitlines()]
    assert [c for c in commands if c] == list(QUICK_START)


def test_ci_runs_the_readmes_test_command() -> None:
    ci = (ROOT / ".ci" / "run").read_text(encoding="utf-8")
    assert re.search(r"^make test$", ci, re.M)
    makefile = (ROOT / "Makefile").read_text(encoding="utf-8")
    for command in QUICK_START:
        assert re.search(rf"^{command.split()[1]}:", makefile, re.M), command
