"""Running code in kernels: module splitting, notebook reading, timeouts, dead kernels."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from grader.kernel.cells import strip_ansi
from grader.kernel.execute import KernelSession, code_cell
from grader.kernel.notebook import load_notebook, markdown_cells, notebook_from_module
from grader.kernel.workspace import matplotlib_cache, workspace
from grader.settings import ExecutionSettings
from grader.submission import Submission


def sources(text: str) -> list[str]:
    return [c.source for c in notebook_from_module(text).cells]


def test_module_splits_at_top_level_statements_with_their_comments():
    text = "import os\n\n# the answer\nk = 1\n\n@dec\ndef f():\n    return 1\nx = 2; y = 3\n"
    assert sources(text) == ["import os", "# the answer\nk = 1", "@dec\ndef f():\n    return 1",
                             "x = 2; y = 3"]


def test_cell_markers_split_a_module():
    text = "a = 1\n# %%\nb = 2\nc = 3\n# %% [markdown]\n# %%\nd = 4\n"
    assert sources(text) == ["a = 1", "b = 2\nc = 3", "d = 4"]


def test_module_that_does_not_parse_is_one_cell():
    assert sources("def f(:\n  pass\nk = 1\n") == ["def f(:\n  pass\nk = 1"]


def test_strip_ansi():
    assert strip_ansi("\x1b[0;31mValueError\x1b[0m: boom") == "ValueError: boom"


@pytest.mark.parametrize(
    "content",
    [
        b"{not json",
        b'{"cells": []}',  # no nbformat key
        json.dumps({"nbformat": 4, "nbformat_minor": 5, "metadata": {},
                    "cells": [{"cell_type": "code"}]}).encode(),
        b"\xff\xfe\x00garbage",
        json.dumps({"nbformat": 99, "nbformat_minor": 0, "metadata": {}, "cells": []}).encode(),
        b"",
    ],
)
def test_unreadable_notebooks_become_one_clear_error(tmp_path, content):
    path = tmp_path / "bad.ipynb"
    path.write_bytes(content)
    loaded = load_notebook(Submission(student="bad", path=path))
    assert loaded.nb is None
    assert loaded.error


def test_old_notebook_is_upgraded(tmp_path):
    v3 = {"nbformat": 3, "nbformat_minor": 0, "metadata": {},
          "worksheets": [{"cells": [{"cell_type": "code", "input": "k = 1", "outputs": [],
                                     "language": "python"}]}]}
    path = tmp_path / "old.ipynb"
    path.write_text(json.dumps(v3))
    loaded = load_notebook(Submission(student="old", path=path))
    assert loaded.nb is not None and loaded.nb.cells[0].source == "k = 1"



ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = sorted([*ROOT.glob("submissions_example/**/*.ipynb"),
                    *ROOT.glob("tests/data/**/*.ipynb")])


def _markdown(cells) -> list[tuple[str, list]]:
    return [(c["source"], c.get("metadata", {}).get("tags", [])) for c in cells
            if c["cell_type"] == "markdown"]


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: str(p.relative_to(ROOT)))
def test_markdown_cells_read_as_nbformat_reads_them(path: Path) -> None:
    # What a regrade reads of a notebook's text answers, without nbformat.
    sub = Submission(student="s", path=path)
    loaded = load_notebook(sub)
    light = markdown_cells(sub)
    if loaded.nb is None:
        return  # a notebook that does not read is never re-checked from stored answers
    assert light is not None
    assert _markdown(light) == _markdown(loaded.nb.cells)


def _v4(*cells: object) -> dict:
    return {"nbformat": 4, "nbformat_minor": 5, "metadata": {}, "cells": list(cells)}


@pytest.mark.parametrize(("doc", "expected"), [
    # source as a list of lines is joined, as nbformat joins it; code cells are left out
    (_v4({"cell_type": "markdown", "metadata": {"tags": ["a"]}, "source": ["x\n", "y"], "id": "1"},
         {"cell_type": "code", "metadata": {}, "source": "k = 1", "outputs": [],
          "execution_count": None, "id": "2"}),
     [("x\ny", ["a"])]),
    (_v4({"cell_type": "markdown", "metadata": {}, "source": "\ud800 lone", "id": "1"}),
     [("\ufffd lone", [])]),  # a lone surrogate scrubbed, as load_notebook scrubs it
    (_v4(), []),
])
def test_markdown_cells_of_small_notebooks(tmp_path: Path, doc: dict, expected: list) -> None:
    path = tmp_path / "n.ipynb"
    path.write_text(json.dumps(doc))
    sub = Submission(student="n", path=path)
    light = markdown_cells(sub)
    assert light is not None and _markdown(light) == expected
    assert _markdown(load_notebook(sub).nb.cells) == expected


@pytest.mark.parametrize("content", [
    json.dumps({"nbformat": 3, "nbformat_minor": 0, "metadata": {},
                "worksheets": [{"cells": []}]}).encode(),  # another version: read in full
    json.dumps({"nbformat": 4, "nbformat_minor": 5, "metadata": {}, "cells": {}}).encode(),
    json.dumps(_v4("not a cell")).encode(),
    json.dumps(_v4({"cell_type": "markdown", "metadata": {}, "source": 7})).encode(),
    json.dumps(_v4({"cell_type": "markdown", "metadata": {}, "source": ["a", 7]})).encode(),
    b"{not json", b"\xff\xfe", b"[]",
])
def test_markdown_cells_leave_what_they_do_not_take_to_nbformat(tmp_path: Path,
                                                                 content: bytes) -> None:
    path = tmp_path / "n.ipynb"
    path.write_bytes(content)
    assert markdown_cells(Submission(student="n", path=path)) is None


def test_a_module_has_no_markdown_cells(tmp_path: Path) -> None:
    path = tmp_path / "m.py"
    path.write_text("# %% [markdown]\n# text\nk = 1\n")
    assert markdown_cells(Submission(student="m", path=path)) == []
    assert not [c for c in load_notebook(Submission(student="m", path=path)).nb.cells
                if c.cell_type == "markdown"]


def test_workspace_copies_only_the_students_own_files(tmp_path):
    (tmp_path / "alice.ipynb").write_text("{}")
    (tmp_path / "bob.ipynb").write_text("{}")
    with workspace(Submission(student="alice", path=tmp_path / "alice.ipynb")) as space:
        assert sorted(p.name for p in space.work.iterdir()) == ["alice.ipynb"]
        assert space.agent.is_file()


def run_module(tmp_path: Path, text: str, **settings: float):
    path = tmp_path / "sub.py"
    path.write_text(text)
    sub = Submission(student="sub", path=path)
    nb = load_notebook(sub).nb
    with KernelSession(ExecutionSettings(**settings)) as s:
        s.load(sub)
        return s.run_notebook(nb)


@pytest.mark.kernel
def test_cell_timeout_interrupts_and_later_cells_run(tmp_path):
    run = run_module(tmp_path, "a = 1\n# %%\nwhile True:\n    pass\n# %%\nb = 2\n",
                     cell_timeout=2, timeout=30)
    assert run.outcome == "ok"
    assert [(e.index, e.ename) for e in run.errors] == [(1, "Timeout")]
    assert run.cells_run == 3


@pytest.mark.kernel
def test_whole_run_deadline_kills_the_kernel(tmp_path):
    text = ("import signal, time\nsignal.signal(signal.SIGINT, signal.SIG_IGN)\n# %%\n"
            "while True:\n    try:\n        time.sleep(0.05)\n    except BaseException:\n"
            "        pass\n# %%\nb = 2\n")
    run = run_module(tmp_path, text, cell_timeout=30, timeout=3)
    assert run.outcome == "timeout"
    assert "time limit" in run.message


@pytest.mark.kernel
def test_kernel_death_is_reported(tmp_path):
    run = run_module(tmp_path, "import os\n# %%\nos._exit(3)\n# %%\nb = 2\n")
    assert run.outcome == "kernel_died"
    assert run.errors[-1].index == 1


def test_matplotlib_font_list_is_built_once_and_copied_into_each_workspace(tmp_path,
                                                                           monkeypatch):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    matplotlib_cache.cache_clear()
    try:
        folder = matplotlib_cache()
        assert folder is not None and folder.parent == tmp_path / "cache" / "grader"
        built = sorted(p.name for p in folder.iterdir())
        assert built and all(n.startswith("fontlist-") for n in built)
        assert [p.name for p in folder.parent.iterdir()] == [folder.name]  # no build left
        sub = tmp_path / "sub.py"
        sub.write_text("k = 1")
        with workspace(Submission(student="s", path=sub)) as space:
            copied = space.home / ".matplotlib"
            assert sorted(p.name for p in copied.iterdir()) == built
            assert not copied.is_symlink()  # a kernel's writes stay in its own copy
    finally:
        matplotlib_cache.cache_clear()


@pytest.mark.kernel
def test_a_kernel_uses_the_font_list_instead_of_scanning_fonts(tmp_path):
    sub = tmp_path / "sub.py"
    sub.write_text("import matplotlib.font_manager, os\n"
                   "built = sorted(os.listdir(os.environ['MPLCONFIGDIR']))\n")
    with KernelSession(ExecutionSettings()) as s:
        s.load(Submission(student="s", path=sub))
        fonts = s.space.home / ".matplotlib"
        before = {p.name: p.stat().st_mtime_ns for p in fonts.iterdir()}
        log = s.run_notebook(load_notebook(Submission(student="s", path=sub)).nb)
        assert log.errors == ()
        assert {p.name: p.stat().st_mtime_ns for p in fonts.iterdir()} == before


@pytest.mark.parametrize("source", ["", "x = 1", "for i in range(3):\n    print(i)", "# ☃ \u200f"])
def test_a_code_cell_is_the_cell_nbformat_makes(source: str) -> None:
    import nbformat

    cell, theirs = code_cell(source), nbformat.v4.new_code_cell(source)
    assert {**cell, "id": ""} == {**theirs, "id": ""}
    assert cell.id != code_cell(source).id  # each its own id, as nbformat gives
    nbformat.validate(nbformat.v4.new_notebook(cells=[cell, code_cell(source)]))
