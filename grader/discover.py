"""Find the submissions in the paths a TA gives, and name each student safely.

Inputs are files, folders of submissions, and ``.zip`` archives as an LMS exports them
(extracted safely into a scratch folder first: see :func:`safe_extract`). Every entry at
the top of a folder (or archive) is named by the first of these that applies:

``--id-pattern REGEX``
    A regular expression with a named group ``id``, searched in the entry's name (file
    name with its extension, or folder name). An optional group ``file`` gives the file's
    real name (as Canvas-style prefixes hide it). Entries that do not match are reported.
``--layout`` (default ``auto``)
    The LMS's names: Moodle, Canvas or GitHub Classroom, as :mod:`grader.layouts` tells
    them (``auto`` tries each).
Plain (what no layout claims)
    A file is a student (``alice.ipynb`` -> ``alice``), a folder is a student's folder
    (``dave/hw2.ipynb`` -> ``dave``, copied whole so local helper modules work).

Ids become safe file names (:func:`student_id`). When two LMS students share a name, the
LMS's numeric id is appended to both (``ali_rezaei_123456``). In the LMS layouts and with
``--id-pattern`` the entries of one student (the same name, and the same LMS number) are
gathered into one folder (Canvas hands in every file of a student separately, Moodle one
folder per submission plugin); two of their files that would land on the same name
refuse the student, as a merge must not replace one with the other. Entries of different
names that come out as one id (``bob!.py`` and ``bob.py``; ``Bob`` and ``bob``, one file
on a case-insensitive disk), and in the plain layout any two entries of one id, are all
refused and reported: grading one would grade it in the other's name.

**Which file is graded** when a student has several candidates (``.ipynb``, ``.py``) is
decided by this rule, in order, and every choice among several files is reported:

1. a file named as the rubric asks (``submission_names``; searched in subfolders too for a
   GitHub Classroom repository, the shallowest match winning);
2. else the only notebook, else the only module;
3. where the candidates left are versions of one file as an LMS numbers resubmissions
   (``hw2.ipynb``, ``hw2-1.ipynb``, ``hw2-2.ipynb``), the highest number (the latest);
4. anything else is reported as ambiguous and not graded: never guessed, and never by
   modification time (an archive's times are the LMS's, not the student's).

**What is not graded is reported once**: a file beside the submissions that is not a
notebook, module or archive (``notes.pdf: not a notebook or module``); a student with no
gradable file (a :class:`Problem` with its ``student``, listing what they handed in); and
a file a student handed in beside the graded one that is neither (a ``note``: it stays
beside the graded file). Paths inside an archive are shown as ``canvas.zip!member``, and
a submission from one keeps its members (:class:`~grader.submission.Origin`), so it can
be named and unpacked again after the scratch folder is gone.

A submission also carries what its LMS says of when it came: Canvas's ``_LATE_`` mark,
and for a GitHub Classroom repository the commit time of the graded file
(:func:`grader.layouts.commit_time`).
"""

from __future__ import annotations

import atexit
import hashlib
import os
import re
import shutil
import stat
import tempfile
import time
import unicodedata
import zipfile
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from grader.errors import GraderError
from grader.kernel.notebook import SUFFIXES
from grader.layouts import AUTO, LAYOUTS, Entry, Layout, commit_time
from grader.submission import Origin, Submission

_SAFE = re.compile(r"[^\w.@-]+")
_SKIP_DIRS = {"__pycache__", ".ipynb_checkpoints", ".git", "__MACOSX", "node_modules",
              "site-packages", ".venv", "venv"}
_RESUBMISSION = re.compile(r"^(?P<base>.+?)-(?P<n>\d+)$")


# A file name may have 255 bytes (ext4, APFS, NTFS); ids leave room for the longest
# suffix the grader adds to them (``.html``, ``.json``).
NAME_MAX = 255
ID_MAX = NAME_MAX - len(".html")


def is_archive(path: Path) -> bool:
    """Whether ``path`` is named as an archive the grader unpacks (``.zip``, any case)."""
    return path.suffix.lower() == ".zip"


def student_id(name: str) -> str:
    """A student id usable as a file name: no path separators, no leading dots.

    Letters of any script (in NFC, so a name looks and compares the same however it was
    typed), digits and ``_ . @ -``; at most :data:`ID_MAX` bytes of UTF-8 (see
    :func:`fit_name`).
    """
    clean = _SAFE.sub("_", unicodedata.normalize("NFC", name)).strip("._")
    return fit_name(clean or "student", ID_MAX)


def fit_name(name: str, limit: int) -> str:
    """``name`` cut to ``limit`` bytes of UTF-8 at a character boundary, when longer.

    A cut name ends in ``-`` and a hash of the whole, so two long names that share their
    first ``limit`` bytes stay apart.
    """
    data = name.encode("utf-8")
    if len(data) <= limit:
        return name
    tag = "-" + hashlib.sha256(data).hexdigest()[:8]
    # errors="ignore" drops only the partial character the byte cut leaves at the end.
    return data[:limit - len(tag)].decode("utf-8", "ignore") + tag


@dataclass(frozen=True, kw_only=True)
class Problem:
    """A path that could not be turned into a submission, with the reason.

    ``graded`` is True for a note, not a refusal: about a submission that *is* graded
    (which of several files was chosen, and why), or a member unpacked under a shorter
    name. ``also`` holds the other paths of a problem about several (entries that map to
    one student id, files that a merge would put on one name).
    """

    path: Path
    reason: str
    graded: bool = False
    also: tuple[Path, ...] = ()
    student: str = ""  # the student left without a graded file, when it is one's

    @property
    def where(self) -> str:
        """The path, or the paths, the problem is about, for a line of output."""
        return ", ".join(str(p) for p in (self.path, *self.also))


@dataclass(frozen=True, kw_only=True)
class ZipLimits:
    """Caps on what an archive may unpack to: against zip bombs and runaway exports."""

    max_total_bytes: int = 4 * 1024**3
    max_file_bytes: int = 1024**3
    max_files: int = 50_000
    max_ratio: int = 250  # uncompressed / compressed, for members over 1 MB


ZIP_LIMITS = ZipLimits()


def discover(paths: Iterable[Path], *, names: tuple[str, ...] = (),
             id_pattern: str | None = None, layout: str = "auto",
             scratch: Path | None = None, assignment: str = "",
             zip_limits: ZipLimits = ZIP_LIMITS) -> tuple[list[Submission], list[Problem]]:
    """Submissions under ``paths``, sorted by student id, and what could not be graded.

    ``scratch`` is a folder for unpacked archives and gathered multi-file students (a
    temporary folder removed at exit when not given). ``GraderError`` for a bad
    ``id_pattern`` or ``layout``: those are the TA's to fix, not a student's.
    """
    finder = _Finder(names=names, pattern=_compile(id_pattern), layout=_layout(layout),
                     scratch=scratch, assignment=assignment, zip_limits=zip_limits)
    for path in paths:
        finder.add(Path(path))
    return finder.finish()


def _compile(pattern: str | None) -> re.Pattern[str] | None:
    if pattern is None:
        return None
    try:
        compiled = re.compile(pattern)
    except re.error as exc:
        raise GraderError(f"--id-pattern {pattern!r}: not a regular expression ({exc})") \
            from None
    if "id" not in compiled.groupindex:
        raise GraderError(f"--id-pattern {pattern!r} needs a named group (?P<id>...)")
    return compiled


def _layout(name: str) -> Layout:
    layout = LAYOUTS.get(name)
    if layout is None:
        raise GraderError(f"--layout {name!r}: one of {', '.join(LAYOUTS)}")
    return layout


class _Finder:
    def __init__(self, *, names: tuple[str, ...], pattern: re.Pattern[str] | None,
                 layout: Layout, scratch: Path | None, assignment: str,
                 zip_limits: ZipLimits) -> None:
        self.names = names
        self.pattern = pattern
        self.layout = layout
        self._scratch = scratch
        self.assignment = assignment
        self.zip_limits = zip_limits
        self.entries: list[Entry] = []
        self.problems: list[Problem] = []
        self._archives = 0
        self._roots: list[tuple[Path, Path]] = []  # (unpacked into, archive)

    @property
    def scratch(self) -> Path:
        if self._scratch is None:
            self._scratch = Path(tempfile.mkdtemp(prefix="grader-inputs-"))
            atexit.register(shutil.rmtree, self._scratch, True)
        return self._scratch

    # ----------------------------------------------------------------- inputs

    def add(self, path: Path) -> None:
        if path.is_symlink():
            self.problems.append(Problem(path=path, reason="symbolic links are not graded"))
        elif path.is_file() and is_archive(path):
            self._archive(path)
        elif path.is_file():
            if path.suffix in SUFFIXES or self.pattern is not None:
                self._folder([path], given=True)
            else:
                self.problems.append(Problem(path=path, reason="not a .ipynb, .py or .zip file"))
        elif path.is_dir():
            self._folder(_children(path), given=False)
        else:
            self.problems.append(Problem(path=path, reason="no such file or folder"))

    def _archive(self, path: Path) -> None:
        self._archives += 1
        dest = self.scratch / f"zip{self._archives}" / student_id(path.stem)
        self._roots.append((dest, path))
        try:
            self.problems += safe_extract(path, dest, limits=self.zip_limits)
        except GraderError as exc:
            self.problems.append(Problem(path=path, reason=str(exc)))
            return
        root = dest
        # An export often wraps everything in one folder: look inside it, unless it is
        # itself a student's folder (it holds a notebook or module, and nothing LMS-named).
        while True:
            children = _children(root)
            if len(children) != 1 or not children[0].is_dir() or children[0].is_symlink():
                break
            inner = _children(children[0])
            if any(c.is_file() and c.suffix in SUFFIXES for c in inner) and \
                    not any(self._lms_named(c) for c in inner):
                break
            root = children[0]
        self._folder(_children(root), given=False)

    def shown(self, path: Path) -> Path:
        """``path`` as the TA gave it: ``canvas.zip!member`` for a file unpacked from one."""
        for root, archive in self._roots:
            if path.is_relative_to(root):
                return Path(f"{archive}!{path.relative_to(root).as_posix()}")
        return path

    def _origin(self, graded: Path, entries: list[Entry]) -> Origin | None:
        """Where in an archive a submission's files are, when they came from one."""
        for root, archive in self._roots:
            if graded.is_relative_to(root):
                parent = entries[0].path.parent.relative_to(root).as_posix()
                return Origin(archive=str(archive),
                              graded=graded.relative_to(root).as_posix(),
                              folder="" if parent == "." else parent,
                              members=tuple(e.path.relative_to(root).as_posix()
                                            + ("/*" if e.path.is_dir() else "")
                                            for e in entries))
        return None

    def _lms_named(self, path: Path) -> bool:
        if self.pattern is not None:
            return self.pattern.search(path.name) is not None
        return AUTO.entry(path) is not None

    def _folder(self, children: list[Path], *, given: bool) -> None:
        repos = self.layout.repositories(
            [c for c in children if c.is_dir() and not c.is_symlink()],
            assignment=self.assignment, chosen=True)
        for child in children:
            if child.is_symlink():
                self.problems.append(Problem(path=child, reason="symbolic links are not graded"))
                continue
            entry = self._identify(child, repos.get(child), given=given)
            if isinstance(entry, Problem):
                self.problems.append(entry)
            elif entry is not None:
                self.entries.append(entry)
            elif child.is_file():
                self.problems.append(Problem(path=self.shown(child),
                                             reason="not a notebook or module"))

    def _identify(self, path: Path, repository: Entry | None, *,
                  given: bool) -> Entry | Problem | None:
        """The student an entry belongs to; None for a stray file beside submissions."""
        name = path.name
        if self.pattern is not None:
            m = self.pattern.search(name)
            if m is None or not m.group("id"):
                return Problem(path=path, reason="the name does not match --id-pattern")
            inner = m.groupdict().get("file") or name
            return Entry(path=path, student=m.group("id"), inner=inner, gather=True)
        named = self.layout.entry(path) or repository
        if named is not None:
            return named
        if path.is_file():
            if path.suffix not in SUFFIXES:
                return Problem(path=path, reason="not a .ipynb or .py file") if given else None
            return Entry(path=path, student=path.stem, inner=name)
        return Entry(path=path, student=name)

    # ----------------------------------------------------------------- students

    def finish(self) -> tuple[list[Submission], list[Problem]]:
        # A student is a name with its LMS number; several entries of one are theirs.
        students: dict[str, dict[tuple[str, str], list[Entry]]] = {}
        for e in self.entries:
            students.setdefault(_same_file(student_id(e.student)), {}) \
                .setdefault((e.student, e.number), []).append(e)
        by_file: dict[str, list[tuple[str, list[Entry]]]] = {}
        for namesakes in students.values():
            numbered = len({number for _, number in namesakes}) > 1
            for (name, number), entries in namesakes.items():
                # Two students of the same name: the LMS's own number tells them apart.
                sid = student_id(f"{name}_{number}" if numbered and number else name)
                by_file.setdefault(_same_file(sid), []).append((sid, entries))
        found: list[Submission] = []
        for claimants in by_file.values():
            entries = [e for _, es in claimants for e in es]
            if len(claimants) > 1 or (len(entries) > 1 and not all(e.gather for e in entries)):
                self._refuse_shared_id(sorted({sid for sid, _ in claimants}), entries)
                continue
            sid = claimants[0][0]
            sub = self._gathered(sid, entries) if len(entries) > 1 \
                else self._single(sid, entries[0])
            if sub is not None:
                found.append(sub)
        return sorted(found, key=lambda s: s.student), self.problems

    def _refuse_shared_id(self, ids: list[str], entries: list[Entry]) -> None:
        """Refuse every entry of an id that is not one student's: no one is graded as another."""
        paths = sorted(e.path for e in entries)
        many = "both" if len(paths) == 2 else f"all {len(paths)}"
        if len(ids) == 1:
            target = f"student id {ids[0]!r}"
        else:
            target = (f"student ids {', '.join(map(repr, ids))}, one file name where case "
                      "does not count")
        fix = "rename one" if len(paths) == 2 else "rename all but one"
        self.problems.append(Problem(path=paths[0], also=tuple(paths[1:]),
                                     reason=f"{many} map to {target}; {fix}"))

    def _single(self, sid: str, entry: Entry) -> Submission | None:
        path = entry.path
        if path.is_file():
            if path.suffix not in SUFFIXES:
                self.problems.append(Problem(path=self.shown(path), student=sid,
                                             reason="not a .ipynb or .py file; "
                                                    f"{sid} handed in no gradable file"))
                return None
            return Submission(student=sid, path=path, origin=self._origin(path, [entry]),
                              marked_late=entry.late)
        return self._in_folder(sid, path, [entry], {})

    def _gathered(self, sid: str, entries: list[Entry]) -> Submission | None:
        clash = _clash(entries)
        if clash is not None:
            name, paths = clash
            self.problems.append(Problem(
                path=self.shown(paths[0]), also=tuple(self.shown(p) for p in paths[1:]),
                student=sid, reason=f"both would be {name} among the files of student "
                                    f"{sid!r}, one replacing the other; rename one"))
            return None
        folder = self.scratch / "students" / sid
        folder.mkdir(parents=True, exist_ok=True)
        copied: dict[Path, Path] = {}  # a file of the gathered folder -> where it came from
        for e in entries:
            if e.path.is_dir():
                shutil.copytree(e.path, folder, symlinks=True, dirs_exist_ok=True)
                copied.update({folder / p.relative_to(e.path): p for p in e.path.rglob("*")})
            else:
                target = folder / _safe_name(e.inner or e.path.name)
                shutil.copy2(e.path, target)
                copied[target] = e.path
        return self._in_folder(sid, folder, entries, copied)

    def _in_folder(self, sid: str, folder: Path, entries: list[Entry],
                   copied: dict[Path, Path]) -> Submission | None:
        entry = entries[0]
        picked, note = choose(folder, self.names, recursive=entry.repository)
        where = self.shown(entry.path)
        if picked is None:
            files = [] if entry.repository else _files(folder)
            # Candidates are already named by the note; list what was handed in only when
            # none of it could be graded (a PDF alone).
            gradable = any(f.suffix in SUFFIXES for f in files)
            handed = f" (handed in: {_listed(folder, files)})" if files and not gradable else ""
            self.problems.append(Problem(path=where, reason=note + handed, student=sid))
            return None
        if note:
            self.problems.append(Problem(path=where, reason=note, graded=True))
        if not entry.repository:  # a repository's other files are its own business
            for other in _files(folder):
                if other.suffix not in SUFFIXES:
                    self.problems.append(Problem(
                        path=self.shown(copied.get(other, other)), graded=True,
                        reason=f"not a notebook or module; kept beside {picked.name}"))
        source = copied.get(picked, picked)
        owner = next((e for e in entries if source == e.path or source.is_relative_to(e.path)),
                     entry)
        # A repository's notebook runs where it lies, as Jupyter would run it.
        return Submission(student=sid, path=picked,
                          folder=picked.parent if entry.repository else folder,
                          origin=self._origin(source, entries), marked_late=owner.late,
                          submitted_at=commit_time(entry.path, picked)
                          if entry.repository else "")


def _children(folder: Path) -> list[Path]:
    return [c for c in sorted(folder.iterdir())
            if not c.name.startswith(".") and c.name not in _SKIP_DIRS]


def _files(folder: Path) -> list[Path]:
    """The files under a student's folder, as :func:`choose` would look at them."""
    return [p for p in sorted(folder.rglob("*"))
            if p.is_file() and not p.is_symlink()
            and not any(part.startswith(".") or part in _SKIP_DIRS
                        for part in p.relative_to(folder).parts)]


def _listed(folder: Path, paths: list[Path], limit: int = 10) -> str:
    names = [p.relative_to(folder).as_posix() for p in paths]
    more = f" and {len(names) - limit} more" if len(names) > limit else ""
    return ", ".join(names[:limit]) + more


def _same_file(sid: str) -> str:
    """What decides whether two ids name one file: case does not count on every disk."""
    return sid.casefold()


def _clash(entries: list[Entry]) -> tuple[PurePosixPath, list[Path]] | None:
    """The first name that two of a student's entries would both fill in their merge."""
    files: dict[PurePosixPath, list[Path]] = {}
    folders: dict[PurePosixPath, Path] = {}
    for e in entries:
        if not e.path.is_dir():
            files.setdefault(PurePosixPath(_safe_name(e.inner or e.path.name)), []) \
                .append(e.path)
            continue
        for p in sorted(e.path.rglob("*")):
            rel = PurePosixPath(p.relative_to(e.path).as_posix())
            if p.is_dir() and not p.is_symlink():
                folders.setdefault(rel, p)
            else:
                files.setdefault(rel, []).append(p)
    for rel, paths in sorted(files.items()):
        if len(paths) > 1:
            return rel, paths
        if rel in folders:  # a file where another entry has a folder
            return rel, [*paths, folders[rel]]
    return None


def _safe_name(name: str) -> str:
    clean = PurePosixPath(name.replace("\\", "/")).name
    return clean if clean not in ("", ".", "..") else "file"


# --------------------------------------------------------------------------- choosing


def pick(folder: Path, names: tuple[str, ...], *, recursive: bool = False) -> Path | Problem:
    """The file to grade in a student's folder, by the rule in this module's docstring."""
    picked, note = choose(folder, names, recursive=recursive)
    if picked is None:
        return Problem(path=folder, reason=note)
    return picked


def choose(folder: Path, names: tuple[str, ...], *,
           recursive: bool = False) -> tuple[Path | None, str]:
    """The file to grade and a note when it was chosen among several (or why none was)."""
    files = _candidates(folder, recursive)
    if not files:
        return None, "no .ipynb or .py file in the folder"
    notebooks = [p for p in files if p.suffix == ".ipynb"]
    # Rivals are files that could be the submission: notebooks, else modules (a module
    # beside a notebook is a helper, and choosing the notebook over it is no news).
    pool = notebooks or files

    def listed(paths: list[Path]) -> str:
        return ", ".join(p.relative_to(folder).as_posix() for p in paths)

    def note(picked: Path, why: str) -> str:
        rivals = [p for p in pool if p != picked]
        return f"several candidate files ({listed(pool)}); graded {listed([picked])} " \
               f"({why})" if rivals else ""

    for name in names:
        matches = [p for p in files if name in (p.name, p.stem, _base(p).name, _base(p).stem)]
        if matches:
            depth = min(len(p.relative_to(folder).parts) for p in matches)
            shallow = [p for p in matches if len(p.relative_to(folder).parts) == depth]
            latest = _latest(shallow)
            if latest is None:
                return None, f"several files match {name!r} ({listed(shallow)}); not graded"
            why = "named in the rubric's submission_names"
            if len(shallow) > 1:
                why += ", the latest resubmission"
            return latest, note(latest, why)
    if len(pool) == 1:
        return pool[0], ""
    latest = _latest(pool)
    if latest is not None:
        return latest, note(latest, "the latest resubmission")
    return None, (f"several candidate files ({listed(pool)}); name one in the rubric's "
                  "submission_names")


def _candidates(folder: Path, recursive: bool) -> list[Path]:
    if not recursive:
        return [p for p in sorted(folder.iterdir())
                if p.is_file() and not p.is_symlink() and p.suffix in SUFFIXES]
    out = []
    for p in sorted(folder.rglob("*")):
        rel = p.relative_to(folder).parts
        if any(part.startswith(".") or part in _SKIP_DIRS for part in rel):
            continue
        if p.is_file() and not p.is_symlink() and p.suffix in SUFFIXES:
            out.append(p)
    return out


def _base(path: Path) -> Path:
    """``hw2-2.ipynb`` -> ``hw2.ipynb``: the name before an LMS's resubmission number."""
    m = _RESUBMISSION.match(path.stem)
    return path.with_name(m.group("base") + path.suffix) if m else path


def _resubmission(path: Path) -> int:
    m = _RESUBMISSION.match(path.stem)
    return int(m.group("n")) if m else 0


def _latest(paths: list[Path]) -> Path | None:
    """The highest-numbered version when ``paths`` are versions of one file, else None."""
    if len(paths) == 1:
        return paths[0]
    bases = {(_base(p).parent, _base(p).name) for p in paths}
    if len(bases) != 1:
        return None
    ranked = sorted(paths, key=_resubmission)
    if _resubmission(ranked[-1]) == _resubmission(ranked[-2]):
        return None
    return ranked[-1]


# --------------------------------------------------------------------------- archives


def safe_extract(archive: Path, dest: Path, *, limits: ZipLimits = ZIP_LIMITS) -> list[Problem]:
    """Unpack a zip archive into ``dest``, refusing what could escape it or flood the disk.

    Members with absolute paths, drive letters or ``..`` parts, symbolic links and
    special files are skipped and reported; the member count, each member's size, the
    total size and the compression ratio are capped (counting the bytes actually
    written, not the sizes the archive claims). A damaged or oversized archive raises
    ``GraderError``.
    """
    problems: list[Problem] = []
    try:
        zf = zipfile.ZipFile(archive)
    except (zipfile.BadZipFile, OSError) as exc:
        raise GraderError(f"not a readable zip archive: {exc}") from None
    with zf:
        members = zf.infolist()
        if len(members) > limits.max_files:
            raise GraderError(f"the archive has {len(members)} members, over the limit of "
                              f"{limits.max_files}")
        dest.mkdir(parents=True, exist_ok=True)
        root = dest.resolve()
        total = 0
        for info in members:
            rel = _member_path(info.filename)
            where = Path(f"{archive}:{info.filename}")
            if rel is None:
                problems.append(Problem(path=where, reason="unsafe path in the archive "
                                                           "(absolute or with ..); skipped"))
                continue
            mode = info.external_attr >> 16
            if stat.S_ISLNK(mode):
                problems.append(Problem(path=where, reason="symbolic link in the archive; "
                                                           "skipped"))
                continue
            # Archives made elsewhere often carry no file type bits at all: a plain file.
            if stat.S_IFMT(mode) and not (stat.S_ISREG(mode) or stat.S_ISDIR(mode)):
                problems.append(Problem(path=where, reason="special file in the archive; "
                                                           "skipped"))
                continue
            fitted = _fit_member(rel)
            if fitted != rel:
                problems.append(Problem(path=where, graded=True, reason=(
                    f"a name over {NAME_MAX} bytes, more than a file name may have; "
                    f"unpacked as {fitted}")))
                rel = fitted
            target = root.joinpath(*rel.parts)
            if not target.resolve().is_relative_to(root):
                problems.append(Problem(path=where, reason="unsafe path in the archive; "
                                                           "skipped"))
                continue
            if info.is_dir():
                target.mkdir(parents=True, exist_ok=True)
                continue
            if info.file_size > limits.max_file_bytes:
                raise GraderError(f"{info.filename}: {info.file_size} bytes, over the "
                                  f"limit of {limits.max_file_bytes} per file")
            if info.file_size > 1_000_000 and \
                    info.file_size > limits.max_ratio * max(1, info.compress_size):
                ratio = info.file_size // max(1, info.compress_size)
                raise GraderError(f"{info.filename}: compressed {ratio}:1, over the limit of "
                                  f"{limits.max_ratio}:1 (a zip bomb?)")
            target.parent.mkdir(parents=True, exist_ok=True)
            total += _copy_member(zf, info, target, limits, total)
            if info.date_time[0] >= 1980:
                stamp = time.mktime((*info.date_time, 0, 0, -1))
                os.utime(target, (stamp, stamp))
    return problems


def _member_path(name: str) -> PurePosixPath | None:
    name = name.replace("\\", "/")
    if name.startswith("/") or re.match(r"^[A-Za-z]:", name):
        return None
    parts = [p for p in PurePosixPath(name).parts if p not in ("", ".")]
    if not parts or any(p == ".." for p in parts) or any("\0" in p for p in parts):
        return None
    return PurePosixPath(*parts)


def _fit_member(rel: PurePosixPath) -> PurePosixPath:
    """``rel`` with each part cut to what a file name may have, keeping a file's suffix."""
    parts = []
    for part in rel.parts:
        suffix = PurePosixPath(part).suffix
        suffix = suffix if len(suffix) <= 8 else ""
        parts.append(fit_name(part.removesuffix(suffix), NAME_MAX - len(suffix.encode()))
                     + suffix)
    return PurePosixPath(*parts)


def _copy_member(zf: zipfile.ZipFile, info: zipfile.ZipInfo, target: Path, limits: ZipLimits,
                 total: int) -> int:
    written = 0
    try:
        with zf.open(info) as src, open(target, "wb") as out:
            while chunk := src.read(1 << 20):
                written += len(chunk)
                # The sizes in the archive's directory can lie: count what comes out.
                if written > limits.max_file_bytes or written > info.file_size:
                    raise GraderError(f"{info.filename}: more data than the archive declares "
                                      "or than the per-file limit allows")
                if total + written > limits.max_total_bytes:
                    raise GraderError(f"the archive unpacks to more than "
                                      f"{limits.max_total_bytes} bytes")
                out.write(chunk)
    except (zipfile.BadZipFile, zipfile.LargeZipFile, OSError, EOFError,
            NotImplementedError, RuntimeError) as exc:
        raise GraderError(f"{info.filename}: cannot be unpacked ({exc})") from None
    return written


def unpack_command(origin: Origin, rubric: Path) -> str:
    """A shell command that unpacks a student's members again and grades them alone.

    The scratch folder an archive was unpacked into is gone after the batch; this
    fetches the same members from the archive into a new temporary folder and grades
    that, into a report folder of its own there (the course's ``--out`` is left alone).
    """
    import shlex

    # unzip reads its member arguments as wildcards: a name's own * ? [ match themselves.
    patterns = [re.sub(r"([*?\[])", r"[\1]", m.removesuffix("/*")) + ("/*" if m.endswith("/*")
                                                                       else "")
                for m in origin.members]
    folder = '"$d"' + ("/" + shlex.quote(origin.folder) if origin.folder else "")
    return (f'd=$(mktemp -d) && unzip -q {shlex.join([origin.archive, *patterns])} -d "$d" '
            f"&& grader grade {folder} --rubric {shlex.quote(str(rubric))} "
            '--out "$d/reports"')
