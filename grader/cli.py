"""The ``grader`` command: ``grade`` a folder of submissions, ``validate`` a rubric.

Also ``check`` (one submission, as a table), ``release`` (the student bundle),
``gradescope`` (grade inside Gradescope's autograder), ``manual`` (merge a TA's grades of
text answers), ``export`` (the gradebook as csv, json or Gradescope results) and
``compare`` (equivalence of answer pairs, for rubric authors) and ``audit`` (mutation
testing of a rubric against its reference).

Exit status: 0 when grading ran (whatever the scores), 1 when ``validate`` finds the
reference short of full marks or a known mistake it could never tell or name, or
``check`` a visible check failing, or ``audit`` a question's mutation score below
``--min-score``, 2 with a one-line reason when the command could not
run.
"""

from __future__ import annotations

import argparse
import gc
import sys
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

import grader.timings as timings
from grader.errors import GraderError
from grader.kernel import sandbox
from grader.kernel.sandbox import Isolation
from grader.points import format_points
from grader.report import languages
from grader.results import automatic, totals
from grader.rubric import Rubric, check_reference_names, load_rubric
from grader.settings import COLLECTOR_THRESHOLDS, DEFAULTS, SANDBOX_MODES, ExecutionSettings

if TYPE_CHECKING:
    from grader.executors.worker import WarmPool


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="grader", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    g = sub.add_parser("grade", help="grade submissions and write reports")
    g.add_argument("paths", nargs="+", type=Path, metavar="PATH",
                   help="submission files (.ipynb, .py), folders of them, or .zip archives "
                        "as an LMS exports them")
    g.add_argument("--rubric", required=True, type=Path, help="the assignment's TOML rubric")
    g.add_argument("--out", type=Path, default=Path("reports"),
                   help="folder for the reports (default: reports/)")
    g.add_argument("--resume", action="store_true",
                   help="keep results already in the gradebook of --out for submissions "
                        "whose files and rubric are unchanged")
    g.add_argument("--cell-timeout", type=float, metavar="S",
                   help=f"seconds per cell (rubric, else {DEFAULTS.cell_timeout:g})")
    g.add_argument("--timeout", type=float, metavar="S",
                   help=f"seconds per submission (rubric, else {DEFAULTS.timeout:g})")
    g.add_argument("--lang", choices=languages(), default="en",
                   help="language of the feedback pages (default: en; fa is right-to-left)")
    g.add_argument("--templates", type=Path, metavar="DIR",
                   help="folder of templates that replace the feedback page's of the same name")
    g.add_argument("--sandbox", choices=SANDBOX_MODES, default=None,
                   help="kernel isolation: auto (bwrap when it works, else limits only; the "
                        "default), bwrap or required (refuse without it), none")
    g.add_argument("--timings", action="store_true",
                   help="print where the time went (start-up, kernel, cells, harvest and "
                        "calls, checks, reports) on stderr when done")
    _batch_arguments(g)
    g.set_defaults(handler=_grade)

    v = sub.add_parser("validate", help="check that the reference earns full marks and that every "
                                           "known mistake can be told from it and named")
    v.add_argument("rubric", type=Path, help="the assignment's TOML rubric")
    v.set_defaults(handler=lambda args: _validate(args.rubric))

    cmp = sub.add_parser("compare", help="say whether answers are equivalent, case by case "
                                         "(for rubric authors)")
    cmp.add_argument("cases", type=Path, metavar="CASES.json",
                     help='a JSON list of {"kind", "expected", "answer", "options"}; prints '
                          'one JSON line {"equivalent", "message"} per case')
    cmp.set_defaults(handler=_compare)

    c = sub.add_parser("check", help="grade one submission on the visible checks, as a table")
    c.add_argument("submission", type=Path, help="the notebook (.ipynb) or module (.py)")
    c.add_argument("--rubric", required=True, type=Path,
                   help="the rubric, e.g. the public rubric of a release")
    c.set_defaults(handler=_check)

    r = sub.add_parser("release", help="write the student bundle: public rubric, handout "
                                       "notebook, pytest settings and CI workflow")
    r.add_argument("rubric", type=Path, help="the assignment's full rubric (with its reference)")
    r.add_argument("--out", required=True, type=Path, help="folder for the bundle")
    r.add_argument("--install", metavar="REQUIREMENT",
                   help="what the students' CI pip-installs (default: a git URL placeholder "
                        "to edit in .github/workflows/grade.yml)")
    r.add_argument("--force", action="store_true", help="write into a folder that is not empty")
    r.set_defaults(handler=_release)

    gs = sub.add_parser("gradescope", help="grade inside Gradescope's autograder and write "
                                           "results.json")
    gs.add_argument("--rubric", required=True, type=Path, help="the assignment's TOML rubric")
    gs.add_argument("--submission-dir", type=Path, default=Path("/autograder/submission"),
                    help="the student's files (default: /autograder/submission)")
    gs.add_argument("--results", type=Path, default=Path("/autograder/results/results.json"),
                    help="where to write (default: /autograder/results/results.json)")
    gs.set_defaults(handler=_gradescope)
    _batch_commands(sub)
    _audit_command(sub)
    # Each further command adds its parser here, with set_defaults(handler=...).
    return parser


def main(argv: list[str] | None = None) -> int:
    """Run the command line; return the exit status."""
    args = _parser().parse_args(argv)
    if argv is None:  # the command's own process, not a caller's
        gc.set_threshold(*COLLECTOR_THRESHOLDS)
    try:
        status: int = args.handler(args)
        if argv is None:
            # Called as the command, whose process ends on return: the collector need not
            # walk every object sympy and numpy made on the way out (a tenth of a second).
            gc.freeze()
        return status
    except GraderError as exc:
        from grader.batch import printable

        # Messages name files, and a file's name may hold escape sequences.
        print(printable(f"grader: {exc}", lines=True), file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("grader: interrupted; finished results are kept (re-run with --resume)",
              file=sys.stderr)
        return 130


def _compare(args: argparse.Namespace) -> int:
    from grader.compare import run

    return run(args.cases)


def _settings(rubric: Rubric, args: argparse.Namespace) -> ExecutionSettings:
    settings = rubric.execution
    if args.cell_timeout:
        settings = replace(settings, cell_timeout=args.cell_timeout)
    if args.timeout:
        settings = replace(settings, timeout=args.timeout)
    if getattr(args, "sandbox", None):
        settings = replace(settings, sandbox=args.sandbox)
    return settings


def _isolation(settings: ExecutionSettings) -> Isolation:
    """Resolve the sandbox once per run, and say so when kernels will not be sandboxed."""
    isolation = sandbox.resolve(settings.sandbox)
    if not isolation.sandboxed:
        print(f"grader: NOT SANDBOXED ({isolation.reason}); kernels run with resource "
              "limits only and every report says so", file=sys.stderr)
    return isolation


def _grade(args: argparse.Namespace) -> int:
    if args.timings:
        timings.start()
    kernels = ahead = None
    try:
        # The execution settings need the rubric's tables only; its reference (sympy,
        # numpy: a quarter of a second) loads while a lone submission's kernel starts,
        # or a batch's worker processes.
        rubric = load_rubric(args.rubric, check_reference=False)
        settings = _settings(rubric, args)
        isolation = _isolation(settings)
        kernels = _head_start(args, settings, isolation)
        if kernels is None:
            args.jobs = _batch_jobs(args)  # what the workers ahead and the batch both use
        ahead = _workers_ahead(args, rubric, settings, isolation) if kernels is None else None
        check_reference_names(rubric)
        status = _grade_with(args, rubric, settings, isolation, kernels, ahead)
        if args.timings:
            timings.since_start("total")
            print("\n".join(timings.lines()), file=sys.stderr)
        return status
    finally:
        if kernels is not None:
            kernels.close()  # taken over and closed by the batch, unless it stopped early
        if ahead is not None:
            ahead.close()  # likewise
        if args.timings:
            timings.stop()


def _head_start(args: argparse.Namespace, settings: ExecutionSettings,
                isolation: Isolation) -> WarmPool | None:
    """A kernel already starting for a lone submission file, or None for anything else.

    Grading one notebook waits on its kernel (ipykernel and the preload imported, about
    a second): started first, that overlaps the rubric's reference, the discovery and
    the templates (:meth:`WarmPool.ahead`). Not for ``--resume``, ``--only`` or
    ``--questions``, which may need no kernel at all.
    """
    from grader.executors.worker import WarmPool
    from grader.kernel.notebook import SUFFIXES

    paths: list[Path] = args.paths
    if not _kernels_for_all(args) or \
            len(paths) != 1 or paths[0].suffix not in SUFFIXES or not paths[0].is_file():
        return None
    timings.since_start("start-up")
    return WarmPool.ahead(settings, isolation, paths[0])


def _kernels_for_all(args: argparse.Namespace) -> bool:
    """Whether every submission found will run in a kernel on this machine: not with
    ``--resume``, ``--only`` or ``--questions`` (some may need none), nor on a cluster."""
    return args.executor == "local" and not (args.resume or args.only or args.questions)


def _workers_ahead(args: argparse.Namespace, rubric: Any, settings: ExecutionSettings,
                   isolation: Isolation) -> Any:
    """A batch's worker processes, starting now, or None (see ``WorkersAhead``).

    Only where a batch of several workers will surely run kernels: not for ``--resume``,
    ``--only`` or ``--questions``, nor on one core, nor for what cannot hold two
    submissions (one notebook or module, a folder of one entry).
    """
    from grader.executors import BatchOptions
    from grader.executors.local import WorkersAhead

    jobs = BatchOptions(jobs=args.jobs).workers
    if not _kernels_for_all(args) or jobs < 2:
        return None
    if _entries(args.paths, 2) < 2:
        return None
    return WorkersAhead(rubric, settings, isolation, jobs, fork=not args.fresh_kernels)


# A batch of at least this many submissions a core gets a worker more than the cores: a
# worker waits on each kernel's start (its fork, the sandbox), and the spare one fills
# those waits (N = 40 on 2 cores: 12.7 s against 14.9 s), while for a few submissions
# its own start costs more than it gains (5 examples: 4.25 s against 3.6 s).
SPARE_WORKER_FROM = 6


def _batch_jobs(args: argparse.Namespace) -> int:
    """The batch's ``-j``: as given; else 0 (the cores), or the cores and one for a big
    local batch (``SPARE_WORKER_FROM`` entries a core or more in its folders)."""
    from grader.executors.protocol import default_jobs

    if args.jobs or not _kernels_for_all(args):
        return int(args.jobs)  # re-checks and a few students are no big batch of kernels
    cores = default_jobs()
    if cores < 2:
        return 0
    big = SPARE_WORKER_FROM * cores
    return cores + 1 if _entries(args.paths, big) >= big else 0


def _entries(paths: list[Path], enough: int) -> int:
    """How many submissions ``paths`` may hold, counted up to ``enough``: the entries of
    a folder, two for an LMS's archive (several, at least; not opened here), one for a
    file."""
    import itertools
    import os

    from grader.discover import is_archive

    found = 0
    for path in paths:
        try:
            found += len(list(itertools.islice(os.scandir(path), enough))) if path.is_dir() \
                else 2 if is_archive(path) else 1
        except OSError:
            found += 1
        if found >= enough:
            break
    return found


def _prepare_grading(templates: Path | None = None) -> None:
    """Do now what grading one submission does on first use, while its kernel starts.

    The page templates are compiled and the check kinds' comparison modules imported;
    after the cells ran, the student would wait on them.
    """
    from grader import report, summary
    from grader.executors.worker import warm_checks

    report.prepare(templates)
    summary.prepare()
    warm_checks()


def _grade_with(args: argparse.Namespace, rubric: Rubric, settings: ExecutionSettings,
                isolation: Isolation, kernels: WarmPool | None, ahead: Any = None) -> int:
    """``grader grade`` of ``rubric`` once the settings are known (and ``kernels`` perhaps
    starting)."""
    import functools
    import tempfile

    from grader.batch import check_questions, chosen, grade_batch, merge_manual, printable
    from grader.course import Intake
    from grader.discover import discover
    from grader.executors import BatchOptions
    from grader.report import STUDENTS, check_templates, write_student

    check_templates(args.templates)  # a TA's template with a typo fails before any grading
    out: Path = args.out
    write = functools.partial(write_student, rubric=rubric, out=out, lang=args.lang,
                              templates=args.templates)
    # Archives are unpacked, and an LMS's multi-file students gathered, in here.
    with tempfile.TemporaryDirectory(prefix="grader-inputs-") as scratch:
        subs, problems = discover(list(args.paths), names=rubric.submission_names,
                                  id_pattern=args.id_pattern, layout=args.layout,
                                  scratch=Path(scratch), assignment=rubric.id)
        for p in problems:
            print(printable(f"{'note' if p.graded else 'skipped'} {p.where}: {p.reason}"),
                  file=sys.stderr)
        intake = Intake.given(problems, roster=args.roster, times=args.submitted_at,
                              deadline=args.deadline)
        if not subs:
            print(printable("grader: no submissions found in " + ", ".join(map(str, args.paths))),
                  file=sys.stderr)
            return 2
        if kernels is not None:
            _prepare_grading(args.templates)
        options = BatchOptions(jobs=args.jobs, executor=args.executor,
                               scheduler=args.scheduler, retries=args.retries,
                               resume=args.resume, fork=not args.fresh_kernels,
                               only=chosen(subs, args.only.split(",")) if args.only else (),
                               questions=check_questions(rubric, args.questions.split(","))
                               if args.questions else (), kernels=kernels, ahead=ahead)
        report = grade_batch(subs, rubric, out=out, settings=settings, isolation=isolation,
                             options=options, write_page=write, intake=intake)
    if args.manual is not None:
        merged = merge_manual(out, args.manual, rubric, write_page=write, by=args.by)
        print(printable(f"Merged {_merged_words(merged)} from {args.manual}"))
    print(printable(f"Reports for {len(report.outcomes)} submission(s) in {out}/ "
                    f"({len(report.graded)} graded now in a kernel, {len(report.rechecked)} "
                    f"re-checked from stored answers, {len(report.kept)} kept; index.html, "
                    f"{STUDENTS}/ with a .html and .json per student, grades.csv, "
                    f"{GRADEBOOK})"))
    for line in intake.lines(report.outcomes):
        print(printable(line))
    return 0


GRADEBOOK = "gradebook.sqlite"


def _batch_arguments(g: argparse.ArgumentParser) -> None:
    """The ``grade`` options of batch grading: workers, cluster, LMS layouts, TA grades."""
    from grader.executors import EXECUTORS
    from grader.layouts import LAYOUTS

    g.add_argument("-j", "--jobs", type=int, default=0, metavar="N",
                   help="submissions graded at once, each in its own kernel (default: the "
                        "number of cores, and one more for a folder of 6 or more "
                        "submissions a core)")
    g.add_argument("--fresh-kernels", action="store_true",
                   help="start each kernel as a new process instead of forking it from a "
                        "server that has the rubric's preload modules imported (slower; "
                        "for a kernel that behaves differently when forked)")
    g.add_argument("--executor", choices=EXECUTORS, default="local",
                   help="local worker processes (default) or a Dask cluster")
    g.add_argument("--scheduler", metavar="ADDRESS",
                   help="the Dask scheduler, e.g. tcp://HOST:8786 (default with --executor "
                        "dask: a cluster of -j workers on this machine)")
    g.add_argument("--retries", type=int, default=2, metavar="N",
                   help="Dask: times a failed task is tried again elsewhere (default: 2)")
    g.add_argument("--id-pattern", metavar="REGEX",
                   help="a regular expression with a group (?P<id>...) naming the student "
                        "in each file or folder name")
    g.add_argument("--layout", choices=list(LAYOUTS), default="auto",
                   help="how student ids are read from names (default: auto): "
                        + "; ".join(f"{name}: {layout.description}"
                                    for name, layout in LAYOUTS.items()))
    g.add_argument("--roster", type=Path, metavar="CSV",
                   help="the course roster: student[,name,email,section,lms_id]; students "
                        "on it without a submission get a row (run = missing, score 0)")
    g.add_argument("--deadline", metavar="ISO",
                   help="the deadline submissions are late after, e.g. "
                        "2026-03-01T23:59:00+01:00 (replaces the rubric's [late] deadline)")
    g.add_argument("--submitted-at", type=Path, metavar="CSV",
                   help="student,submitted_at rows (ISO 8601 times): when each submission "
                        "came in, for sources the grader cannot read itself")
    g.add_argument("--only", metavar="STUDENTS",
                   help="re-grade only these students (comma-separated ids); the others' "
                        "stored results are kept as they are")
    g.add_argument("--questions", metavar="IDS",
                   help="re-check only these questions (comma-separated ids): only their "
                        "checks run, from the stored answers of the same files when there "
                        "are (else the notebook runs again); the other questions keep their "
                        "stored results")
    g.add_argument("--manual", type=Path, metavar="CSV",
                   help="merge a TA's grades and overrides after grading (see grader manual)")
    _by_argument(g)


def _by_argument(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--by", metavar="NAME", default="",
                        help="who the regrade log names for these grades (default: your login)")


def _batch_commands(sub: Any) -> None:
    """The ``manual`` and ``export`` commands, which work on a graded --out folder."""
    from grader.export import FORMATS

    m = sub.add_parser("manual", help="merge a TA's grades of text answers, and overrides of "
                                      "any check or question, into the gradebook")
    m.add_argument("out", type=Path, metavar="REPORTS", help="the folder graded into (--out)")
    m.add_argument("csv", type=Path, metavar="CSV",
                   help="student,question,points,comment[,answer][,group] rows (points auto: "
                        "take an override back)")
    _by_argument(m)
    m.add_argument("--rubric", type=Path, help="the rubric (default: the one graded with)")
    m.add_argument("--lang", choices=languages(), default="en",
                   help="language of the feedback pages (default: en)")
    m.add_argument("--templates", type=Path, metavar="DIR",
                   help="folder of templates that replace the feedback page's")
    m.set_defaults(handler=_manual)

    e = sub.add_parser("export", help=f"export the gradebook as {', '.join(FORMATS)}")
    e.add_argument("--out", type=Path, default=Path("reports"),
                   help="the folder graded into (default: reports/)")
    e.add_argument("--format", choices=list(FORMATS), required=True,
                   help="what to write: " + "; ".join(f"{name}: {fmt.description}"
                                                      for name, fmt in FORMATS.items()))
    e.add_argument("--to", type=Path, metavar="PATH",
                   help="where to write (default: OUT/export/)")
    e.add_argument("--template", type=Path, metavar="CSV",
                   help="canvas: the gradebook Canvas exports (Grades, Export), filled in")
    e.add_argument("--column", metavar="NAME", default="",
                   help="canvas: the assignment column to fill, by header, name or id "
                        "(default: the one named after the rubric)")
    e.add_argument("--scale", action="store_true",
                   help="canvas: write points out of the column's Points Possible")
    e.set_defaults(handler=_export)


def _graded_rubric(out: Path, given: Path | None) -> Rubric:
    """The rubric named on the command line, else the one the gradebook was graded with."""
    if given is not None:
        return load_rubric(given)
    from grader.gradebook import Gradebook

    with Gradebook.existing(out) as book:
        recorded = book.meta("rubric")
    if recorded is None:
        raise GraderError(f"{out}: the gradebook does not name its rubric; give --rubric")
    return load_rubric(recorded)


def _manual(args: argparse.Namespace) -> int:
    import functools

    from grader.batch import merge_manual, printable
    from grader.report import check_templates, write_student

    rubric = _graded_rubric(args.out, args.rubric)
    check_templates(args.templates)
    write = functools.partial(write_student, rubric=rubric, out=args.out, lang=args.lang,
                              templates=args.templates)
    merged = merge_manual(args.out, args.csv, rubric, write_page=write, by=args.by)
    print(printable(f"Merged {_merged_words(merged)} from {args.csv} into {args.out}/ "
                    "(pages, grades.csv and index.html updated)"))
    return 0


def _merged_words(merged: Any) -> str:
    words = f"{merged.grades} manual grade(s)"
    if merged.overrides:
        words += f", {merged.overrides} override(s)"
    if merged.withdrawn:
        words += f", {merged.withdrawn} override(s) taken back"
    return words + f" ({merged.changes} change(s) logged)"


def _export(args: argparse.Namespace) -> int:
    from grader.batch import printable
    from grader.export import export
    from grader.export_format import ExportOptions

    # What the TA should know of the file (students matched on one side only) is printed
    # as it is found, before the file is named.
    options = ExportOptions(template=args.template, column=args.column, scale=args.scale,
                            notify=lambda note: print(printable(note)))
    written = export(args.out, args.format, args.to, options)
    print(printable(f"Exported {written.count} submission(s) as {args.format} to "
                    f"{written.path}"))
    return 0


def _validate(path: Path) -> int:
    from grader.grade import grade
    from grader.submission import Submission
    from grader.validate import check_mistakes

    rubric = load_rubric(path)
    if rubric.reference_path is None:
        raise GraderError(f"{path}: the rubric has no reference to validate (a released public "
                          "rubric was checked against it by `grader release`)")
    reference = Submission(student="reference", path=rubric.reference_path)
    result = grade(reference, rubric)
    checks = [(q.id, c) for q in result.questions for c in q.checks]
    short = [(qid, c) for qid, c in checks if not c.complete]
    auto = totals(automatic(c for _, c in checks))[1]
    if result.run.errors:
        for err in result.run.errors:
            print(f"reference cell {err.index} raised {err.ename}: {err.evalue}")
    for qid, c in short:
        print(f"FAIL {qid} {c.answer} [{c.status}]: {c.message}")
    # Each known mistake must be one a student can make and be told of (grader.validate).
    problems = check_mistakes(rubric)
    for problem in problems:
        print(problem.line())
    if short:
        print(f"grader: the reference {rubric.reference_path.name} does not earn full marks "
              f"on {path} ({len(short)} check(s) short)", file=sys.stderr)
    if problems:
        print(f"grader: {len(problems)} problem(s) with the known mistakes of {path}: the "
              "feedback of each FAIL mistake would not reach a student who makes it",
              file=sys.stderr)
    if short or problems:
        return 1
    print(f"ok: {path} is consistent; the reference earns {format_points(result.score)}/"
          f"{format_points(auto)} "
          f"auto-graded points and answers all {sum(len(q.checks) for q in rubric.questions)} "
          f"checks")
    return 0


def _audit_command(sub: Any) -> None:
    """``audit``: mutation testing of the rubric against its reference."""
    a = sub.add_parser("audit", help="mutate the reference's code and report the mutants "
                                     "each check cannot tell from the right answer")
    a.add_argument("rubric", type=Path, help="the assignment's full rubric (with its reference)")
    a.add_argument("--out", type=Path, default=Path("reports"),
                   help="folder for audit.html (default: reports/)")
    a.add_argument("--min-score", type=float, default=0.0, metavar="S",
                   help="exit with status 1 when a question's mutation score is below S "
                        "(a fraction, 0 to 1; default 0)")
    a.add_argument("--max-mutants", type=int, default=0, metavar="N",
                   help="at most N mutants per answer, spread over its code (default: all)")
    a.add_argument("--budget", type=float, default=10.0, metavar="S",
                   help="seconds per mutant; one that runs longer is a timeout, counted as "
                        "killed (default: 10)")
    a.add_argument("--total-budget", type=float, default=900.0, metavar="S",
                   help="seconds for all mutants; those not run by then are left out of the "
                        "scores (default: 900)")
    a.add_argument("-j", "--jobs", type=int, default=0, metavar="N",
                   help="mutants run at once (default: the number of cores)")
    a.add_argument("--questions", default="", metavar="Q1,Q2",
                   help="audit only these questions (default: all)")
    a.set_defaults(handler=_audit)


def _audit(args: argparse.Namespace) -> int:
    from grader.audit.report import progress_for, terminal, write_page
    from grader.audit.run import Settings, audit
    from grader.batch import printable

    if not 0.0 <= args.min_score <= 1.0:
        raise GraderError(f"--min-score {args.min_score:g}: a fraction from 0 to 1 (0.9 for "
                          "90%)")
    rubric = load_rubric(args.rubric)
    settings = Settings(budget=args.budget, total_budget=args.total_budget,
                        max_mutants=args.max_mutants, jobs=args.jobs,
                        questions=tuple(q for q in args.questions.split(",") if q))
    with progress_for(sys.stdout) as progress:
        result = audit(rubric, settings, progress=progress)
    print(printable(terminal(result), lines=True))
    page = write_page(result, args.out)
    print(printable(f"Page: {page}"))
    low = [(qid, score) for qid, score, _ in result.questions()
           if score is not None and score < args.min_score]
    if low:
        print(printable(f"grader: mutation score below {args.min_score:g} in "
                        + ", ".join(f"{qid} ({score:.2f})" for qid, score in low)),
              file=sys.stderr)
        return 1
    return 0


def _check(args: argparse.Namespace) -> int:
    from grader.batch import printable
    from grader.executors.worker import grade_alone, rubric_and_kernel
    from grader.plugin import check_report

    # As the pytest plugin does: the kernel first, with what the submission names of the
    # final grading's preload.
    rubric, kernels = rubric_and_kernel(args.rubric, start=args.submission.exists(),
                                        submission=args.submission)
    result = grade_alone(args.submission, rubric, kernels)
    text, failed = check_report(result)
    print(printable(text, lines=True))  # a TA may check a student's notebook: its answers
    return 1 if failed else 0


def _release(args: argparse.Namespace) -> int:
    from grader.batch import printable
    from grader.release import DEFAULT_INSTALL, release

    bundle = release(args.rubric, args.out, install=args.install, force=args.force)
    print(f"Released {len(bundle.public_questions)} question(s) to {bundle.out}/:")
    for path in bundle.files:
        print(f"  {path.relative_to(bundle.out)}")
    rows = [("question", "answer", "kind", "public", "the bundle checks"), *bundle.checks]
    widths = [max(len(printable(r[i])) for r in rows) for i in range(len(rows[0]))]
    print()
    for row in rows:
        print("  " + "  ".join(printable(v).ljust(w) for v, w in zip(row, widths, strict=True))
              .rstrip())
    if bundle.withheld:
        print(f"{len(bundle.withheld)} check(s) are graded at the final grading only "
              "(public = none).")
    if bundle.install == DEFAULT_INSTALL:
        print("Set where the students' CI installs the grader from: edit the pip line of "
              ".github/workflows/grade.yml and README.md, or release again with --install.")
    return 0


def _gradescope(args: argparse.Namespace) -> int:
    from grader.gradescope import run

    run(args.rubric, submission_dir=args.submission_dir, results_path=args.results)
    return 0
