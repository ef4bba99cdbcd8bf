"""Names that cannot hurt anyone: ids one student's alone, pages apart, safe to print.

Each attack found against the grader is a case here: a name that collapses onto another
student's id, a merge that replaced a file, a student named like a summary page, escape
sequences in a file name, a name too long for a file.
"""

from __future__ import annotations

import io
import json
import shutil
import zipfile
from dataclasses import replace
from pathlib import Path

import pytest

from grader.batch import Progress, grade_batch, printable
from grader.cli import main
from grader.discover import ID_MAX, NAME_MAX, discover, student_id
from grader.executors import BatchOptions
from grader.grade import failed_result, submission_digest
from grader.gradebook import now
from grader.kernel.sandbox import Isolation
from grader.report import write_student
from grader.results import RunLog
from grader.rubric import load_rubric
from grader.submission import Submission
from grader.summary import write_summary

MINI = Path(__file__).parent / "data" / "mini"
GOOD = MINI / "submissions" / "good.ipynb"


@pytest.fixture(scope="module")
def rubric():
    return load_rubric(MINI / "rubric.toml")


def _tree(root: Path, files: tuple[str, ...]) -> None:
    """Make ``files`` under ``root``; a ``.git`` part makes its folder a repository."""
    for name in files:
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text("{}" if name.endswith(".ipynb") else "k = 661\n", "utf-8")


# --------------------------------------------------------------------------- one id, one student


# (layout options, files, the entries refused together, the reason)
COLLAPSING = [
    pytest.param({}, ("bob!.py", "bob.py"), ("bob!.py", "bob.py"),
                 "both map to student id 'bob'; rename one", id="plain-punctuation"),
    pytest.param({}, ("bob/hw2.py", "bob?.ipynb"), ("bob", "bob?.ipynb"),
                 "both map to student id 'bob'; rename one", id="plain-folder-and-file"),
    pytest.param({}, ("Bob.py", "bob.py"), ("Bob.py", "bob.py"),
                 "both map to student ids 'Bob', 'bob', one file name where case does not "
                 "count; rename one", id="plain-case"),
    pytest.param({}, ("Jos\u00e9.py", "Jose\u0301.py"), ("Jos\u00e9.py", "Jose\u0301.py"),
                 "both map to student id 'Jos\u00e9'; rename one", id="plain-unicode-forms"),
    pytest.param({}, ("bob.py", "bob!.py", "bob?.py"), ("bob!.py", "bob.py", "bob?.py"),
                 "all 3 map to student id 'bob'; rename all but one", id="plain-three"),
    pytest.param({"layout": "canvas"}, ("Bob_1234_1_hw2.py", "bob_1234_2_hw2.py"),
                 ("Bob_1234_1_hw2.py", "bob_1234_2_hw2.py"),
                 "both map to student ids 'Bob', 'bob', one file name where case does not "
                 "count; rename one", id="canvas"),
    pytest.param({}, ("Bob Smith_111_assignsubmission_file_hw2.py",
                      "Bob!Smith_111_assignsubmission_file_hw2.py"),
                 ("Bob Smith_111_assignsubmission_file_hw2.py",
                  "Bob!Smith_111_assignsubmission_file_hw2.py"),
                 "both map to student id 'Bob_Smith'; rename one", id="moodle"),
    pytest.param({}, ("hw2-bob/.git/HEAD", "hw2-bob/hw2.ipynb", "hw2-bob!/.git/HEAD",
                      "hw2-bob!/hw2.ipynb"), ("hw2-bob", "hw2-bob!"),
                 "both map to student id 'bob'; rename one", id="github"),
    pytest.param({"id_pattern": r"^(?P<id>[^_]+)_(?P<file>.+)$"},
                 ("bob_hw2.py", "bob~_hw2.py"), ("bob_hw2.py", "bob~_hw2.py"),
                 "both map to student id 'bob'; rename one", id="id-pattern-files"),
    pytest.param({"id_pattern": r"^(?P<id>[^_.]+)(?:_(?P<file>.+))?"},
                 ("bob/hw2.py", "bob~_hw2.py"), ("bob", "bob~_hw2.py"),
                 "both map to student id 'bob'; rename one", id="id-pattern-folder"),
]


@pytest.mark.parametrize(("options", "files", "refused", "reason"), COLLAPSING)
def test_entries_that_collapse_onto_one_id_are_all_refused(tmp_path, options, files,
                                                           refused, reason):
    subs = tmp_path / "subs"
    _tree(subs, (*files, "alice.py" if "id_pattern" not in options else "alice_hw2.py"))
    found, problems = discover([subs], **options)
    # The bystander is graded; of the colliding entries, none, in anyone's name.
    assert [s.student for s in found] == ["alice"]
    assert [(p.where, p.reason, p.graded) for p in problems] == [
        (", ".join(str(subs / name) for name in sorted(refused)), reason, False)]


# (layout options, files, the ids graded): one student's several entries, not a collision.
ONE_STUDENT = [
    pytest.param({}, ("erin_1236_98767_hw2.ipynb", "erin_1236_98767_hw2-1.ipynb",
                      "erin_1236_98767_hw2-2.ipynb"), [("erin", "hw2-2.ipynb")],
                 id="canvas-resubmissions"),
    pytest.param({}, ("Ali R_401_assignsubmission_file_/hw2.ipynb",
                      "Ali R_401_assignsubmission_onlinetext_/onlinetext.html"),
                 [("Ali_R", "hw2.ipynb")], id="moodle-plugins"),
    pytest.param({}, ("Ali R_111_assignsubmission_file_hw2.py",
                      "Ali!R_222_assignsubmission_file_hw2.py"),
                 [("Ali_R_111", "Ali R_111_assignsubmission_file_hw2.py"),
                  ("Ali_R_222", "Ali!R_222_assignsubmission_file_hw2.py")],
                 id="moodle-namesakes-told-apart-by-number"),
    pytest.param({"id_pattern": r"^(?P<id>[a-z]+)_(?P<file>.+)$"},
                 ("bob_hw2.py", "bob_helpers.py"), [("bob", "hw2.py")],
                 id="id-pattern-gathers"),
]


@pytest.mark.parametrize(("options", "files", "graded"), ONE_STUDENT)
def test_one_students_several_entries_are_still_theirs(tmp_path, options, files, graded):
    _tree(tmp_path, files)
    found, problems = discover([tmp_path], names=("hw2.ipynb", "hw2.py"), **options)
    assert [(s.student, s.path.name) for s in found] == graded
    assert [p for p in problems if not p.graded] == []


# (layout options, files, the two paths that would be one file in the merge, the student)
CLASHING = [
    pytest.param({"id_pattern": r"^(?P<id>[a-z]+)_"}, ("bob_a/hw2.py", "bob_b/hw2.py"),
                 ("bob_a/hw2.py", "bob_b/hw2.py"), "hw2.py", id="id-pattern-folders"),
    pytest.param({"id_pattern": r"^(?P<id>[a-z]+)(?:_(?P<file>.+))?$"},
                 ("bob/hw2.py", "bob_hw2.py"), ("bob/hw2.py", "bob_hw2.py"), "hw2.py",
                 id="id-pattern-folder-and-file"),
    pytest.param({}, ("Bob_1_assignsubmission_file_/hw2.py",
                      "Bob_1_assignsubmission_onlinetext_/hw2.py"),
                 ("Bob_1_assignsubmission_file_/hw2.py",
                  "Bob_1_assignsubmission_onlinetext_/hw2.py"), "hw2.py", id="moodle-plugins"),
    pytest.param({}, ("bob_1_2_hw2.py", "bob_1_3_hw2.py"),
                 ("bob_1_2_hw2.py", "bob_1_3_hw2.py"), "hw2.py", id="canvas-submissions"),
    pytest.param({}, ("Bob_1_assignsubmission_file_/helpers/x.py",
                      "Bob_1_assignsubmission_file_helpers"),
                 ("Bob_1_assignsubmission_file_helpers", "Bob_1_assignsubmission_file_/helpers"),
                 "helpers", id="file-over-folder"),
]


@pytest.mark.parametrize(("options", "files", "clashing", "name"), CLASHING)
def test_a_merge_never_replaces_a_file(tmp_path, options, files, clashing, name):
    _tree(tmp_path, files)
    found, problems = discover([tmp_path], scratch=tmp_path / "scratch", **options)
    assert found == []
    (problem,) = problems
    assert problem.where == ", ".join(str(tmp_path / p) for p in clashing)
    assert problem.reason.startswith(f"both would be {name} among the files of student ")
    assert problem.reason.endswith("one replacing the other; rename one")


# --------------------------------------------------------------------------- reserved names


SUMMARY_NAMED = ("index", "answers-why", "grades.csv", "gradebook.sqlite", "export")


def test_students_named_like_the_graders_files_get_their_own_pages(tmp_path, rubric):
    out = tmp_path / "reports"
    results = [failed_result(Submission(student=sid, path=tmp_path / f"{sid}.py"), rubric,
                             f"not run: {sid}") for sid in SUMMARY_NAMED]
    for r in results:
        write_student(r, rubric, out)
    write_summary(out, rubric, results)
    _assert_pages_apart(out, SUMMARY_NAMED)


def _assert_pages_apart(out: Path, students: tuple[str, ...]) -> None:
    index = (out / "index.html").read_text("utf-8")
    assert 'id="students"' in index  # the summary, not a student's page
    assert "grader manual" in (out / "answers-why.html").read_text("utf-8")
    for sid in students:
        assert json.loads((out / "students" / f"{sid}.json").read_text("utf-8"))["student"] \
            == sid
        assert 'id="students"' not in (out / "students" / f"{sid}.html").read_text("utf-8")
        assert f'href="students/{sid}.html"' in index


@pytest.mark.kernel
def test_grading_students_named_index_and_answers_keeps_every_page(tmp_path, capsys):
    subs = tmp_path / "subs"
    subs.mkdir()
    for sid in ("index", "answers-why"):
        shutil.copy(GOOD, subs / f"{sid}.ipynb")
    out = tmp_path / "reports"
    assert main(["grade", str(subs), "--rubric", str(MINI / "rubric.toml"), "--out", str(out),
                 "--sandbox", "none", "-j", "1"]) == 0
    printed = capsys.readouterr().out
    assert f"-> {out / 'students' / 'index.html'}" in printed
    assert f"-> {out / 'students' / 'answers-why.html'}" in printed
    _assert_pages_apart(out, ("index", "answers-why"))
    assert sorted(p.name for p in out.iterdir()) == [
        "answers-why.html", "gradebook.sqlite", "grades.csv", "index.html", "students"]


def test_resume_takes_in_top_level_results_of_an_older_grader(tmp_path, rubric):
    subs = tmp_path / "subs"
    _tree(subs, ("carol.py",))
    sub = Submission(student="carol", path=subs / "carol.py")
    old = replace(failed_result(sub, rubric, ""), run=RunLog(outcome="ok"), graded_at=now(),
                  submission_sha256=submission_digest(sub), rubric_digest=rubric.digest)
    out = tmp_path / "reports"
    out.mkdir()
    (out / "carol.json").write_text(json.dumps(old.to_dict()), "utf-8")
    stream = io.StringIO()
    report = grade_batch([sub], rubric, out=out, settings=rubric.execution,
                         isolation=Isolation(mode="none"), options=BatchOptions(resume=True),
                         progress=Progress(1, out, stream))
    assert report.kept == ("carol",) and report.graded == ()
    assert stream.getvalue() == "[1/1] carol: kept 0/10 (unchanged)\n"
    # Its page is written where the summary links to.
    assert 'href="students/carol.html"' in (out / "index.html").read_text("utf-8")
    assert (out / "students" / "carol.html").is_file()


# --------------------------------------------------------------------------- terminals


@pytest.mark.parametrize(("text", "shown"), [
    ("\x1b[2J", r"\x1b[2J"),
    ("bob\n[5/5] all graded", r"bob\n[5/5] all graded"),
    ("a\rb\tc\x00d\x7fe", r"a\rb\tc\x00d\x7fe"),
    ("\x9b2J", r"\x9b2J"),  # the one-byte CSI of C1
    ("\u202egnp.exe", r"\u202egnp.exe"),
    ("x\u2028y", r"x\u2028y"),
    ("علی‌رضا رضایی/hw2.ipynb", "علی‌رضا رضایی/hw2.ipynb"),  # with its ZWNJ
])
def test_control_characters_are_escaped_for_the_terminal(text, shown):
    assert printable(text) == shown


def test_escape_sequences_in_file_names_print_escaped(tmp_path, capsys):
    subs = tmp_path / "subs"
    _tree(subs, ("bob\x1b\x07\r.py", "bob.py", "dave/\x1b]0;pwned\x07.ipynb",
                 "dave/hw2.ipynb"))
    fake = tmp_path / "x\x1b[2J\x1b[H\n[5 of 5] all graded.txt"
    fake.write_text("")
    assert main(["grade", str(subs), str(fake), "--rubric", str(MINI / "rubric.toml"),
                 "--out", str(tmp_path / "reports")]) == 2  # nothing left to grade
    err = capsys.readouterr().err
    assert "\x1b" not in err and "\r" not in err and "\x07" not in err
    shown = rf"{tmp_path}/x\x1b[2J\x1b[H\n[5 of 5] all graded.txt"
    assert err.splitlines() == [
        rf"skipped {shown}: not a .ipynb, .py or .zip file",
        rf"skipped {subs}/bob\x1b\x07\r.py, {subs}/bob.py: both map to student id 'bob'; "
        "rename one",
        rf"skipped {subs}/dave: several candidate files (\x1b]0;pwned\x07.ipynb, "
        "hw2.ipynb); name one in the rubric's submission_names",
        f"grader: no submissions found in {subs}, {shown}"]


def test_progress_lines_escape_paths(tmp_path):
    stream = io.StringIO()
    out = tmp_path / "r\x1b[2J"
    Progress(1, out, stream).graded(failed_result(
        Submission(student="bob", path=tmp_path / "bob.py"), load_rubric(MINI / "rubric.toml"),
        "x"))
    assert "\x1b" not in stream.getvalue()
    assert stream.getvalue() == (f"[1/1] bob: 0/10 [not_run] -> "
                                 f"{tmp_path}/r\\x1b[2J/students/bob.html\n")


# --------------------------------------------------------------------------- long names


PERSIAN = "دانشجوی" * 22  # 14 bytes each: 308 bytes of UTF-8
PRESENTATION = "\ufe8f" * 84  # an Arabic letter's presentation form: 3 bytes, 252 in all


@pytest.mark.parametrize("name", [
    pytest.param(PERSIAN, id="persian-308-bytes"),
    pytest.param(PRESENTATION, id="presentation-forms-252-bytes"),
    pytest.param("x" * 300, id="ascii-300"),
    pytest.param("ب" * 124 + "xyz", id="cut-inside-no-character"),
])
def test_long_names_are_cut_by_bytes_and_get_a_page(tmp_path, rubric, name):
    sid = student_id(name)
    assert len(sid.encode()) <= ID_MAX and len(f"{sid}.html".encode()) <= NAME_MAX
    if len(name.encode()) > ID_MAX:
        assert sid.rsplit("-", 1)[0] in name and len(sid.rsplit("-", 1)[1]) == 8
        # Two long names sharing every byte that is kept stay two students.
        assert student_id(name + "2") != sid
    else:
        assert sid == name
    write_student(failed_result(Submission(student=sid, path=tmp_path / "x.py"), rubric, ""),
                  rubric, tmp_path / "reports")
    assert (tmp_path / "reports" / "students" / f"{sid}.html").is_file()


def test_names_at_and_over_the_limit_of_a_file_name_are_graded(tmp_path, rubric):
    archive = tmp_path / "export.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        zf.writestr(PERSIAN + ".py", "k = 661\n")  # no file may have this name: cut
        zf.writestr("alice.py", "k = 661\n")
    _tree(tmp_path / "subs", (PRESENTATION + ".py",))  # 255 bytes: a file name at the limit
    found, problems = discover([archive, tmp_path / "subs"], scratch=tmp_path / "scratch")
    assert [s.student for s in found][::2] == ["alice", student_id(PRESENTATION)]
    assert found[1].student.startswith(PERSIAN[:100])
    assert [(p.graded, p.reason.startswith("a name over 255 bytes")) for p in problems] == [
        (True, True)]
    assert len(found[1].path.name.encode()) <= NAME_MAX and found[1].path.suffix == ".py"
    for sub in found:
        write_student(failed_result(sub, rubric, ""), rubric, tmp_path / "reports")
        assert (tmp_path / "reports" / "students" / f"{sub.student}.html").is_file()
