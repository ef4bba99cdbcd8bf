"""Finding submissions and naming students: folders, LMS layouts, zip archives."""

from __future__ import annotations

import os
import stat
import zipfile
from pathlib import Path

import pytest

from grader.discover import ZipLimits, choose, discover, safe_extract, student_id
from grader.errors import GraderError


@pytest.mark.parametrize(
    ("name", "expected"),
    [("alice", "alice"), ("../../etc/passwd", "etc_passwd"), ("a b/c", "a_b_c"),
     ("..", "student"), (".hidden", "hidden"), ("ali.ce-2@uni", "ali.ce-2@uni"),
     ("x" * 300, "x" * 241 + "-0d4e2ca9")],
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
    # A stray file is reported; a module beside a notebook is a helper, not news.
    assert [(p.path, p.reason, p.graded) for p in problems] == [
        (tmp_path / "notes.txt", "not a notebook or module", False)]


def test_ambiguous_folder_is_reported_not_guessed(tmp_path):
    erin = tmp_path / "erin"
    erin.mkdir()
    (erin / "a.ipynb").write_text("{}")
    (erin / "b.ipynb").write_text("{}")
    subs, problems = discover([tmp_path])
    assert subs == []
    assert "several candidate files" in problems[0].reason
    subs, problems = discover([tmp_path], names=("b.ipynb",))
    assert [s.path.name for s in subs] == ["b.ipynb"]
    # The choice among several notebooks is graded and reported, not silent.
    assert [(p.graded, "graded b.ipynb" in p.reason) for p in problems] == [(True, True)]


def test_module_folder_and_duplicates(tmp_path):
    (tmp_path / "frank").mkdir()
    (tmp_path / "frank" / "hw2.py").write_text("")
    (tmp_path / "frank.ipynb").write_text("{}")
    subs, problems = discover([tmp_path])
    # Which of the two is frank's is a guess: neither is graded, one line names both.
    assert len(subs) == 0 and len(problems) == 1
    assert problems[0].reason == "both map to student id 'frank'; rename one"
    assert problems[0].where == f"{tmp_path / 'frank'}, {tmp_path / 'frank.ipynb'}"


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


# --------------------------------------------------------------------------- LMS layouts



def _ids(subs):
    return [(s.student, s.path.name) for s in subs]


def test_canvas_names_give_the_name_part_and_gather_a_students_files(tmp_path):
    # Canvas: <lastfirst>[_LATE]_<user id>_<submission id>_<file name>, a file each.
    for name in ("rahimialice_1234_98765_hw2.ipynb", "rahimialice_1234_98765_helpers.py",
                 "tehranibob_LATE_1235_98766_hw2.py",
                 "erin_1236_98767_hw2.ipynb", "erin_1236_98767_hw2-1.ipynb"):
        (tmp_path / name).write_text("{}")
    subs, problems = discover([tmp_path], names=("hw2.ipynb", "hw2.py"))
    assert _ids(subs) == [("erin", "hw2-1.ipynb"), ("rahimialice", "hw2.ipynb"),
                          ("tehranibob", "tehranibob_LATE_1235_98766_hw2.py")]
    alice = subs[1]
    # Alice's two files are gathered under their real names, so `import helpers` works.
    assert alice.folder is not None
    assert sorted(p.name for p in alice.folder.iterdir()) == ["helpers.py", "hw2.ipynb"]
    # Erin resubmitted: Canvas numbered the new file hw2-1; the latest is graded, and said.
    assert [p.reason for p in problems if p.graded] == [
        "several candidate files (hw2-1.ipynb, hw2.ipynb); graded hw2-1.ipynb (named in the "
        "rubric's submission_names, the latest resubmission)"]
    assert not [p for p in problems if not p.graded]


def test_moodle_folders_and_flat_files(tmp_path):
    a = tmp_path / "Alice Rahimi_401102233_assignsubmission_file_"
    a.mkdir()
    (a / "hw2.ipynb").write_text("{}")
    (a / "helpers.py").write_text("")
    # The online-text plugin's folder of the same student is merged, not a second student.
    t = tmp_path / "Alice Rahimi_401102233_assignsubmission_onlinetext_"
    t.mkdir()
    (t / "onlinetext.html").write_text("<p>hi</p>")
    (tmp_path / "Bob Tehrani_401101456_assignsubmission_file_hw2.py").write_text("")
    subs, problems = discover([tmp_path])
    assert _ids(subs) == [("Alice_Rahimi", "hw2.ipynb"),
                          ("Bob_Tehrani", "Bob Tehrani_401101456_assignsubmission_file_hw2.py")]
    assert sorted(p.name for p in subs[0].folder.iterdir()) == [
        "helpers.py", "hw2.ipynb", "onlinetext.html"]
    assert [(p.path, p.reason, p.graded) for p in problems] == [
        (t / "onlinetext.html", "not a notebook or module; kept beside hw2.ipynb", True)]


def test_students_of_the_same_name_are_told_apart_by_the_lms_number(tmp_path):
    for num in ("111", "222"):
        d = tmp_path / f"Ali Rezaei_{num}_assignsubmission_file_"
        d.mkdir()
        (d / "hw2.ipynb").write_text("{}")
    subs, _ = discover([tmp_path])
    assert [s.student for s in subs] == ["Ali_Rezaei_111", "Ali_Rezaei_222"]


def test_unicode_names_stay_readable():
    assert student_id("علی رضایی") == "علی_رضایی"
    assert student_id("\u202eevil/../x") == "evil_.._x"


def _repo(root: Path, name: str, notebook: str = "hw2.ipynb") -> Path:
    repo = root / name
    (repo / ".git").mkdir(parents=True)
    (repo / ".git" / "HEAD").write_text("ref: refs/heads/main\n")
    nb = repo / notebook
    nb.parent.mkdir(parents=True, exist_ok=True)
    nb.write_text("{}")
    (nb.parent / "helpers.py").write_text("")
    (repo / "README.md").write_text("")
    return repo


def test_github_classroom_repositories(tmp_path):
    _repo(tmp_path, "hw2-alice-r")
    _repo(tmp_path, "hw2-bob", notebook="src/work/hw2.ipynb")
    carol = _repo(tmp_path, "hw2-carol")
    (carol / "scratch").mkdir()
    (carol / "scratch" / "hw2.ipynb").write_text("{}")  # deeper: the top-level one wins
    subs, problems = discover([tmp_path], names=("hw2.ipynb",))
    assert [(s.student, s.path.relative_to(tmp_path).as_posix()) for s in subs] == [
        ("alice-r", "hw2-alice-r/hw2.ipynb"), ("bob", "hw2-bob/src/work/hw2.ipynb"),
        ("carol", "hw2-carol/hw2.ipynb")]
    # The kernel runs in the folder holding the notebook, as Jupyter would.
    assert subs[1].folder == tmp_path / "hw2-bob" / "src" / "work"
    assert [p.graded for p in problems] == [True]  # carol's choice is reported


def test_a_lone_repository_loses_the_assignment_prefix(tmp_path):
    _repo(tmp_path, "hw2-dave")
    subs, _ = discover([tmp_path], assignment="hw2")
    assert [s.student for s in subs] == ["dave"]
    subs, _ = discover([tmp_path], layout="plain")
    assert [s.student for s in subs] == ["hw2-dave"]


def test_id_pattern(tmp_path):
    for name in ("hw2 - 401102233 - Alice.ipynb", "hw2 - 401101456 - Bob.py", "notes.txt"):
        (tmp_path / name).write_text("{}")
    subs, problems = discover([tmp_path], id_pattern=r"^hw2 - (?P<id>\d+) - ")
    assert [s.student for s in subs] == ["401101456", "401102233"]
    assert [(p.path.name, p.reason) for p in problems] == [
        ("notes.txt", "the name does not match --id-pattern")]
    with pytest.raises(GraderError, match="named group"):
        discover([tmp_path], id_pattern=r"(\d+)")
    with pytest.raises(GraderError, match="not a regular expression"):
        discover([tmp_path], id_pattern=r"(?P<id>")


def test_choice_rule(tmp_path):
    f = tmp_path / "s"
    f.mkdir()
    (f / "a.py").write_text("")
    (f / "b.py").write_text("")
    assert choose(f, ())[0] is None  # two modules: refused, not guessed
    assert choose(f, ("b",))[0] == f / "b.py"
    (f / "hw2.ipynb").write_text("{}")
    assert choose(f, ()) == (f / "hw2.ipynb", "")  # modules beside a notebook are helpers
    (f / "hw2-2.ipynb").write_text("{}")
    (f / "hw2-10.ipynb").write_text("{}")
    picked, note = choose(f, ())
    assert picked == f / "hw2-10.ipynb" and "latest resubmission" in note
    (f / "other.ipynb").write_text("{}")
    picked, note = choose(f, ())
    assert picked is None and "several candidate files" in note


# --------------------------------------------------------------------------- zip input


def _zip(path: Path, members: dict[str, bytes], links: dict[str, str] | None = None) -> Path:
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as zf:
        for name, data in members.items():
            zf.writestr(name, data)
        for name, target in (links or {}).items():
            info = zipfile.ZipInfo(name)
            info.external_attr = (stat.S_IFLNK | 0o777) << 16
            zf.writestr(info, target)
    return path


def test_zip_of_an_lms_export_is_graded_like_its_folder(tmp_path):
    archive = _zip(tmp_path / "submissions.zip", {
        "HW2/rahimialice_1234_98765_hw2.ipynb": b"{}",
        "HW2/tehranibob_1235_98766_hw2.py": b"",
        "__MACOSX/HW2/._x": b"",
    })
    subs, problems = discover([archive], scratch=tmp_path / "scratch")
    assert [s.student for s in subs] == ["rahimialice", "tehranibob"]
    assert all(s.path.is_relative_to(tmp_path / "scratch") for s in subs)
    assert problems == []


def test_zip_wrapping_one_students_folder(tmp_path):
    archive = _zip(tmp_path / "dave.zip", {"dave/hw2.ipynb": b"{}", "dave/helpers.py": b""})
    subs, _ = discover([archive], scratch=tmp_path / "s")
    assert [(s.student, s.path.name) for s in subs] == [("dave", "hw2.ipynb")]


def test_zip_refuses_traversal_absolute_paths_and_links(tmp_path):
    archive = _zip(tmp_path / "evil.zip", {
        "../escape.py": b"x", "/abs.py": b"x", "a/../../b.py": b"x", "C:/win.py": b"x",
        "ok.py": b"", "..\\back.py": b"x",
    }, links={"link.py": "/etc/passwd"})
    dest = tmp_path / "out"
    problems = safe_extract(archive, dest)
    assert sorted(p.relative_to(dest).as_posix() for p in dest.rglob("*")) == ["ok.py"]
    assert len(problems) == 6
    assert not (tmp_path / "escape.py").exists() and not Path("/abs.py").exists()
    assert any("symbolic link" in p.reason for p in problems)


def test_zip_bombs_are_refused(tmp_path):
    bomb = _zip(tmp_path / "bomb.zip", {"big.py": b"0" * 5_000_000})
    with pytest.raises(GraderError, match="zip bomb"):
        safe_extract(bomb, tmp_path / "o1")
    many = _zip(tmp_path / "many.zip", {f"f{i}.py": b"" for i in range(20)})
    with pytest.raises(GraderError, match="members"):
        safe_extract(many, tmp_path / "o2", limits=ZipLimits(max_files=10))
    total = _zip(tmp_path / "total.zip", {f"f{i}.py": bytes(range(256)) * 40 for i in range(5)})
    with pytest.raises(GraderError, match="unpacks to more than"):
        safe_extract(total, tmp_path / "o3", limits=ZipLimits(max_total_bytes=30_000))
    # Through discover, a refused archive is a reported problem, not a crash.
    subs, problems = discover([bomb], scratch=tmp_path / "s")
    assert subs == [] and "zip bomb" in problems[0].reason


def test_a_damaged_zip_is_reported(tmp_path):
    bad = tmp_path / "bad.zip"
    bad.write_bytes(b"PK\x03\x04 not really")
    subs, problems = discover([bad], scratch=tmp_path / "s")
    assert subs == [] and "not a readable zip" in problems[0].reason


def _canvas_zip(tmp_path: Path) -> Path:
    archive = tmp_path / "canvas.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        zf.writestr("submissions/smithann_101_9001_hw3.ipynb", "{}")
        zf.writestr("submissions/smithann_101_9001_data.csv", "1,2")
        zf.writestr("submissions/leeben_LATE_102_9002_hw3.ipynb", "{}")
        zf.writestr("submissions/kimcat_103_9003_hw3.pdf", "%PDF")
        zf.writestr("submissions/README.txt", "export notes")
    return archive


def test_an_archive_names_members_marks_late_and_reports_what_is_not_graded(tmp_path):
    subs, problems = discover([_canvas_zip(tmp_path)], scratch=tmp_path / "s")
    got = [(s.student, s.shown, s.marked_late, s.origin.folder, s.origin.members)
           for s in subs]
    zipped = f"{tmp_path / 'canvas.zip'}!submissions/"
    assert got == [
        ("leeben", zipped + "leeben_LATE_102_9002_hw3.ipynb", True, "submissions",
         ("submissions/leeben_LATE_102_9002_hw3.ipynb",)),
        ("smithann", zipped + "smithann_101_9001_hw3.ipynb", False, "submissions",
         ("submissions/smithann_101_9001_data.csv", "submissions/smithann_101_9001_hw3.ipynb")),
    ]
    assert sorted((str(p.path), p.reason, p.graded, p.student) for p in problems) == [
        (zipped + "README.txt", "not a notebook or module", False, ""),
        (zipped + "kimcat_103_9003_hw3.pdf",
         "not a .ipynb or .py file; kimcat handed in no gradable file", False, "kimcat"),
        (zipped + "smithann_101_9001_data.csv", "not a notebook or module; kept beside hw3.ipynb",
         True, ""),
    ]


def test_a_folder_without_a_notebook_lists_what_was_handed_in(tmp_path):
    (tmp_path / "dave").mkdir()
    (tmp_path / "dave" / "report.pdf").write_text("%PDF")
    subs, problems = discover([tmp_path])
    assert subs == []
    assert [(p.student, p.reason) for p in problems] == [
        ("dave", "no .ipynb or .py file in the folder (handed in: report.pdf)")]


def _git(repo: Path, *args: str, **env: str) -> None:
    import subprocess

    subprocess.run(["git", "-c", "user.name=s", "-c", "user.email=s@x", *args], cwd=repo,
                   check=True, capture_output=True, env={**os.environ, **env})


def test_a_repository_submission_has_its_commit_time(tmp_path):
    repo = tmp_path / "hw3-ann"
    repo.mkdir()
    (repo / "hw3.ipynb").write_text("{}")
    _git(repo, "init", "-q")
    _git(repo, "add", "hw3.ipynb")
    _git(repo, "commit", "-qm", "done", GIT_COMMITTER_DATE="2026-03-02T10:00:00+01:00")
    (repo / "notes.py").write_text("")  # never committed: no time of its own
    # A repository may name programs for git to run: none of them runs.
    _git(repo, "config", "core.pager", f"touch {tmp_path / 'ran'}")
    _git(repo, "config", "gpg.program", f"touch {tmp_path / 'ran'}")
    _git(repo, "config", "log.showSignature", "true")
    subs, _ = discover([tmp_path], assignment="hw3", layout="github")
    assert [(s.student, s.submitted_at) for s in subs] == [
        ("ann", "2026-03-02T10:00:00+01:00")]
    assert not (tmp_path / "ran").exists()
