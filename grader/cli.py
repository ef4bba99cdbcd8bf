"""The ``grader`` command: ``grade`` a folder of submissions, ``validate`` a rubric.

Exit status: 0 when grading ran (whatever the scores), 1 when ``validate`` finds the
reference short of full marks, 2 with a one-line reason when the command could not run.
"""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import replace
from pathlib import Path

from grader import sandbox
from grader.errors import GraderError
from grader.results import SubmissionResult
from grader.rubric import DEFAULTS, SANDBOX_MODES, ExecutionSettings, Rubric, load_rubric
from grader.sandbox import Isolation


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="grader", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    g = sub.add_parser("grade", help="grade submissions and write reports")
    g.add_argument("paths", nargs="+", type=Path, metavar="PATH",
                   help="submission files (.ipynb, .py) or folders of them")
    g.add_argument("--rubric", required=True, type=Path, help="the assignment's TOML rubric")
    g.add_argument("--out", type=Path, default=Path("reports"),
                   help="folder for the reports (default: reports/)")
    g.add_argument("--resume", action="store_true",
                   help="keep results already in --out for unchanged submissions")
    g.add_argument("--cell-timeout", type=float, metavar="S",
                   help=f"seconds per cell (rubric, else {DEFAULTS.cell_timeout:g})")
    g.add_argument("--timeout", type=float, metavar="S",
                   help=f"seconds per submission (rubric, else {DEFAULTS.timeout:g})")
    g.add_argument("--sandbox", choices=SANDBOX_MODES, default=None,
                   help="kernel isolation: auto (bwrap when it works, else limits only; the "
                        "default), bwrap or required (refuse without it), none")
    g.set_defaults(handler=_grade)

    v = sub.add_parser("validate", help="check that the reference earns full marks")
    v.add_argument("rubric", type=Path, help="the assignment's TOML rubric")
    v.set_defaults(handler=lambda args: _validate(args.rubric))
    # Each further command adds its parser here, with set_defaults(handler=...).
    return parser


def main(argv: list[str] | None = None) -> int:
    """Run the command line; return the exit status."""
    args = _parser().parse_args(argv)
    try:
        status: int = args.handler(args)
        return status
    except GraderError as exc:
        print(f"grader: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("grader: interrupted; finished results are kept (re-run with --resume)",
              file=sys.stderr)
        return 130


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
    from grader.discover import discover
    from grader.grade import failed_result, grade, submission_digest
    from grader.report import atomic_write, grades_csv, write_student

    rubric = load_rubric(args.rubric)
    settings = _settings(rubric, args)
    isolation = _isolation(settings)
    subs, problems = discover(list(args.paths), names=rubric.submission_names)
    for p in problems:
        print(f"skipped {p.path}: {p.reason}", file=sys.stderr)
    if not subs:
        print("grader: no submissions found in " + ", ".join(map(str, args.paths)),
              file=sys.stderr)
        return 2
    out: Path = args.out
    out.mkdir(parents=True, exist_ok=True)
    results = []
    for n, sub in enumerate(subs, 1):
        prefix = f"[{n}/{len(subs)}] {sub.student}"
        if args.resume:
            kept = _previous(out / f"{sub.student}.json", submission_digest(sub), rubric.digest)
            if kept is not None:
                results.append(kept)
                print(f"{prefix}: kept {kept.score:g}/{kept.max_score:g} (unchanged)")
                continue
        try:
            result = grade(sub, rubric, settings=settings, isolation=isolation)
        except Exception as exc:  # one broken submission never stops the batch
            result = failed_result(sub, rubric, f"grader error: {type(exc).__name__}: {exc}")
        write_student(result, rubric, out)
        results.append(result)
        note = "" if result.run.outcome == "ok" else f" [{result.run.outcome}]"
        errors = f", {len(result.run.errors)} cell error(s)" if result.run.errors else ""
        print(f"{prefix}: {result.score:g}/{result.max_score:g}{note}{errors}"
              f" -> {out / (sub.student + '.html')}")
        # The gradebook is rewritten as each student finishes: an interrupted batch keeps it.
        atomic_write(out / "grades.csv", grades_csv(results, rubric))
    print(f"Reports for {len(results)} submission(s) in {out}/ "
          f"(one .html and .json per student, grades.csv)")
    return 0


def _previous(path: Path, digest: str, rubric_digest: str) -> SubmissionResult | None:
    try:
        data = json.loads(path.read_text("utf-8"))
        if data.get("submission_sha256") == digest and data.get("rubric_digest") == rubric_digest:
            return SubmissionResult.from_dict(data)
    except (OSError, ValueError, KeyError, TypeError):
        pass
    return None


def _validate(path: Path) -> int:
    from grader.execute import Submission
    from grader.grade import grade

    rubric = load_rubric(path)
    reference = Submission(student="reference", path=rubric.reference_path)
    result = grade(reference, rubric)
    short = [(q.id, c) for q in result.questions for c in q.checks
             if (c.kind != "manual" and c.status != "passed")
             or (c.kind == "manual" and c.status != "manual")]
    auto = sum(c.max_score for q in result.questions for c in q.checks if c.kind != "manual")
    if result.run.errors:
        for err in result.run.errors:
            print(f"reference cell {err.index} raised {err.ename}: {err.evalue}")
    if short:
        for qid, c in short:
            print(f"FAIL {qid} {c.answer} [{c.status}]: {c.message}")
        print(f"grader: the reference {rubric.reference_path.name} does not earn full marks "
              f"on {path} ({len(short)} check(s) short)", file=sys.stderr)
        return 1
    print(f"ok: {path} is consistent; the reference earns {result.score:g}/{auto:g} "
          f"auto-graded points and answers all {sum(len(q.checks) for q in rubric.questions)} "
          f"checks")
    return 0
