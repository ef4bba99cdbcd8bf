"""Finding submissions and naming students."""

from __future__ import annotations

import os

import pytest

from grader.discover import discover, student_id


@pytest.mark.parametrize(
    ("name", "expected"),
    [("alice", "alice"), ("../../etc/passwd", "etc_passwd"), ("a b/c", "a_b_c"),
     ("..", "student"), (".hidden", "hidden"), ("ali.ce-2@uni", "ali.ce-2@uni"),
     ("x" * 300, "x" * 100)],
)
def test_student_ids_are_safe_file_names(name, expected):
    assert student_id(name) == expected


def test_files_and_folders(tmp_path):
    (tmp_path / "alice.ipynb").write_text("{}")
    (tmp_path / "bob.py").write_text("")
    (tmp_path / "notes.txt").write_text("")
    dave = tmp_path / "dave"
    dave.mkdir()
    (dave / "hw2.ipynb").write_text("{}")
    (dave / "helpers.py").write_text("")
    (tmp_path / ".ipynb_checkpoints").mkdir()
    subs, problems = discover([tmp_path])
    assert [(s.student, s.path.name, s.folder) for s in subs] == [
        ("alice", "alice.ipynb", None), ("bob", "bob.py", None), ("dave", "hw2.ipynb", dave)]
    assert problems == []


def test_ambiguous_folder_is_reported_not_guessed(tmp_path):
    erin = tmp_path / "erin"
    erin.mkdir()
    (erin / "a.ipynb").write_text("{}")
    (erin / "b.ipynb").write_text("{}")
    subs, problems = discover([tmp_path])
    assert subs == []
    assert "several candidate files" in problems[0].reason
    subs, problems = discover([tmp_path], names=("b.ipynb",))
    assert [s.path.name for s in subs] == ["b.ipynb"] and problems == []


def test_module_folder_and_duplicates(tmp_path):
    (tmp_path / "frank").mkdir()
    (tmp_path / "frank" / "hw2.py").write_text("")
    (tmp_path / "frank.ipynb").write_text("{}")
    subs, problems = discover([tmp_path])
    assert len(subs) == 1 and len(problems) == 1
    assert "second submission" in problems[0].reason


def test_symlinks_are_not_followed(tmp_path):
    target = tmp_path / "secret.py"
    target.write_text("")
    subs_dir = tmp_path / "subs"
    subs_dir.mkdir()
    os.symlink(target, subs_dir / "mallory.py")
    subs, problems = discover([subs_dir])
    assert subs == [] and "symbolic links" in problems[0].reason


def test_missing_path(tmp_path):
    subs, problems = discover([tmp_path / "nope"])
    assert subs == [] and problems[0].reason == "no such file or folder"
