"""The grader command: grade a folder, validate a rubric, exit statuses."""

from __future__ import annotations

import csv
import json
import shutil
from pathlib import Path

import pytest

from grader.cli import main

MINI = Path(__file__).parent / "data" / "mini"


def copy_mini(tmp_path: Path) -> Path:
    dest = tmp_path / "mini"
    shutil.copytree(MINI, dest)
    return dest


@pytest.mark.kernel
def test_grade_writes_pages_json_and_gradebook(tmp_path, capsys):
    subs = tmp_path / "subs"
    subs.mkdir()
    for name in ("good.ipynb", "wrong.ipynb"):
        shutil.copy(MINI / "submissions" / name, subs / name)
    out = tmp_path / "reports"
    assert main(["grade", str(subs), "--rubric", str(MINI / "rubric.toml"),
                 "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "good" in printed and str(out) in printed
    assert sorted(p.name for p in out.iterdir()) == [
        "answers-why.html", "gradebook.sqlite", "grades.csv", "index.html", "students"]
    assert sorted(p.name for p in (out / "students").iterdir()) == [
        "good.html", "good.json", "wrong.html", "wrong.json"]
    rows = list(csv.DictReader((out / "grades.csv").open()))
    assert [r["student"] for r in rows] == ["good", "wrong"]
    assert float(rows[0]["total"]) > float(rows[1]["total"])
    good = json.loads((out / "students" / "good.json").read_text())
    assert good["student"] == "good" and good["score"] == float(rows[0]["total"])

    # --resume keeps unchanged results and regrades a changed submission.
    before = (out / "students" / "good.json").read_text()
    (subs / "wrong.ipynb").write_text((MINI / "submissions" / "good.ipynb").read_text())
    assert main(["grade", str(subs), "--rubric", str(MINI / "rubric.toml"),
                 "--out", str(out), "--resume"]) == 0
    printed = capsys.readouterr().out
    assert "good: kept" in printed
    assert "wrong: kept" not in printed
    assert (out / "students" / "good.json").read_text() == before
    rows = list(csv.DictReader((out / "grades.csv").open()))
    assert rows[0]["total"] == rows[1]["total"]


def test_grade_without_submissions_is_a_usage_error(tmp_path, capsys):
    assert main(["grade", str(tmp_path), "--rubric", str(MINI / "rubric.toml"),
                 "--out", str(tmp_path / "r")]) == 2
    assert "no submissions" in capsys.readouterr().err


def test_bad_rubric_exits_2_with_one_line(tmp_path, capsys):
    bad = tmp_path / "bad.toml"
    bad.write_text("[assignment]\nid = 1\n")
    assert main(["validate", str(bad)]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "bad.toml" in err and "'id'" in err


@pytest.mark.kernel
def test_validate_accepts_the_mini_rubric(capsys):
    assert main(["validate", str(MINI / "rubric.toml")]) == 0
    assert "ok:" in capsys.readouterr().out


@pytest.mark.kernel
@pytest.mark.parametrize(
    ("old", "new", "answer"),
    [
        ('  answer = "k"\n  kind = "numeric"\n',
         '  answer = "k"\n  kind = "numeric"\n  value = 662\n', "k"),
        ('  answer = "expr"\n  kind = "symbolic"\n',
         '  answer = "expr"\n  kind = "symbolic"\n  value = "x**2 + 2*x"\n', "expr"),
    ],
)
def test_validate_rejects_a_rubric_whose_reference_is_wrong(tmp_path, capsys, old, new,
                                                             answer):
    mini = copy_mini(tmp_path)
    text = (mini / "rubric.toml").read_text()
    assert old in text
    (mini / "rubric.toml").write_text(text.replace(old, new))
    assert main(["validate", str(mini / "rubric.toml")]) == 1
    captured = capsys.readouterr()
    assert f" {answer} [failed]" in captured.out
    assert "does not earn full marks" in captured.err


@pytest.mark.kernel
def test_validate_rejects_a_reference_failing_its_own_property(tmp_path, capsys):
    mini = copy_mini(tmp_path)
    ref = (mini / "reference.py").read_text()
    (mini / "reference.py").write_text(ref.replace("[100.0, 60.0, 40.0, 30.0, 26.0]",
                                                   "[100.0, 60.0, 70.0, 30.0, 26.0]"))
    assert main(["validate", str(mini / "rubric.toml")]) == 1
    assert "curve [failed]: steps must not increase" in capsys.readouterr().out


def test_a_rubric_is_read_once_and_graded_by_what_was_read(tmp_path, monkeypatch):
    # The settings, the sandbox and the checks all come from one reading of the rubric:
    # an edit on disk after it cannot give a run of one rubric's settings and another's
    # checks (it counts from the next command).
    import grader.batch
    import grader.rubric
    from grader import cli
    from grader.batch import BatchReport

    rubric = tmp_path / "rubric.toml"
    shutil.copy(MINI / "reference.py", tmp_path / "reference.py")
    text = (MINI / "rubric.toml").read_text("utf-8")
    rubric.write_text(text, "utf-8")
    sub = tmp_path / "good.ipynb"
    shutil.copy(MINI / "submissions" / "good.ipynb", sub)
    reads: list[str] = []
    real_load = grader.rubric.load_rubric

    def load(path, **kwargs):
        reads.append(str(path))
        loaded = real_load(path, **kwargs)
        # Edited on disk right after the command read it.
        rubric.write_text(text.replace("[execution]\n", '[execution]\nsandbox = "none"\n', 1),
                          "utf-8")
        return loaded

    used: list[tuple[object, str, str]] = []

    def batch(subs, graded, *, isolation, settings, **kwargs):
        used.append((graded, isolation.mode, settings.sandbox))
        return BatchReport(graded=(), kept=(), results=(), rechecked=())

    monkeypatch.setattr(cli, "load_rubric", load)
    monkeypatch.setattr(grader.batch, "grade_batch", batch)
    # --resume: no kernel is started ahead for the lone file (this test starts none).
    assert cli.main(["grade", str(sub), "--rubric", str(rubric), "--out",
                     str(tmp_path / "out"), "--resume"]) == 0
    assert reads == [str(rubric)]
    [(graded, mode, sandbox_setting)] = used
    assert graded.path == rubric and sandbox_setting != "none" and mode != "none"


def test_an_archive_is_told_by_its_suffix_in_any_case(tmp_path, monkeypatch):
    # An LMS export named COURSE.ZIP holds many students, as course.zip does: both start
    # a batch's workers ahead, and discovery unpacks both.
    import argparse

    import grader.executors.local
    from grader import cli
    from grader.discover import is_archive

    assert is_archive(Path("canvas.zip")) and is_archive(Path("CANVAS.ZIP"))
    assert not is_archive(Path("canvas.py"))
    started: list[int] = []
    monkeypatch.setattr(grader.executors.local, "WorkersAhead",
                        lambda rubric, settings, isolation, jobs, fork: started.append(jobs))
    for name in ("course.zip", "COURSE.ZIP"):
        args = argparse.Namespace(executor="local", resume=False, only=None, questions=None,
                                  jobs=2, paths=[tmp_path / name], fresh_kernels=False)
        cli._workers_ahead(args, None, None, None)
    assert started == [2, 2]


def test_a_big_local_batch_gets_a_worker_more_than_the_cores(tmp_path, monkeypatch):
    import argparse

    import grader.executors.protocol as protocol
    from grader.cli import SPARE_WORKER_FROM, _batch_jobs

    monkeypatch.setattr(protocol, "default_jobs", lambda: 2)
    big, small = tmp_path / "big", tmp_path / "small"
    for folder, n in ((big, 2 * SPARE_WORKER_FROM), (small, 2 * SPARE_WORKER_FROM - 1)):
        folder.mkdir()
        for i in range(n):
            (folder / f"s{i}.ipynb").write_text("{}")

    def jobs(paths, **given):
        args = {"jobs": 0, "executor": "local", "resume": False, "only": None,
                "questions": None, **given}
        return _batch_jobs(argparse.Namespace(paths=paths, **args))

    assert jobs([big]) == 3
    assert jobs([small]) == 0  # the cores
    assert jobs([small, tmp_path / "small" / "s0.ipynb"]) == 3
    assert jobs([big], jobs=2) == 2  # -j as given
    assert jobs([big], resume=True) == 0  # re-checks, mostly: no kernels to wait on
    assert jobs([big], executor="dask") == 0
    monkeypatch.setattr(protocol, "default_jobs", lambda: 1)
    assert jobs([big]) == 0  # one core: one worker


def test_the_command_collects_less_often_than_a_caller_of_main(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    import gc
    import sys

    from grader.settings import COLLECTOR_THRESHOLDS

    # A command that fails at once (no gradebook there): the collector is set before it.
    command = ["export", "--out", str(tmp_path / "none"), "--format", "csv"]
    before = gc.get_threshold()
    try:
        assert main(command) == 2
        assert gc.get_threshold() == before  # a caller's process keeps its collector
        monkeypatch.setattr(sys, "argv", ["grader", *command])
        assert main() == 2  # the command's own process
        assert gc.get_threshold() == COLLECTOR_THRESHOLDS
    finally:
        gc.set_threshold(*before)
        gc.unfreeze()
    assert "gradebook" in capsys.readouterr().err
