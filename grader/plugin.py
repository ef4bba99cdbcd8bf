"""pytest plugin: grade one submission with one test item per question of the rubric.

Registered through the ``pytest11`` entry point and inert (it only adds its options)
until it is given both a rubric and a submission, on the command line or in the ini file::

    pytest --grader-rubric rubric.toml --grader-submission hw2.ipynb

    [tool.pytest.ini_options]          # pyproject.toml; [pytest] in pytest.ini
    grader_rubric = "rubric.toml"      # paths relative to the ini file
    grader_submission = "hw2.ipynb"

The submission is collected as one file whose items are the questions
(``hw2.ipynb::q3_1``); only this plugin collects it, so neither the python nor the
doctest plugin ever imports it. The first item that runs grades the whole submission
through :func:`grader.grade.grade_submission` (a fresh kernel, the student's code never in
pytest's process) and every other item reuses that result. Only visible checks count: a
question fails when one of its visible auto-graded checks does not pass, with the checks'
feedback as the failure text; a question of text answers only, or of checks hidden from
students, is skipped with the reason. Under GitHub Actions (``GITHUB_STEP_SUMMARY`` set)
a Markdown table of the results is appended to the job summary.

The same rows make the table of ``grader check`` (:func:`check_report`).
"""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

import grader.timings as timings
from grader.points import format_points
from grader.results import automatic, question_status, totals

if TYPE_CHECKING:
    from grader.executors.worker import WarmPool
    from grader.results import CheckResult, QuestionResult, SubmissionResult
    from grader.rubric import Question, Rubric

_FEEDBACK_CHARS = 300  # of one message in a table cell


# --------------------------------------------------------------------------- options


def pytest_addoption(parser: pytest.Parser) -> None:
    """Add the two settings; nothing else happens until both are given."""
    group = parser.getgroup("grader", "grade a homework submission (grader)")
    group.addoption("--grader-rubric", dest="grader_rubric", metavar="TOML", default=None,
                    help="the assignment's rubric; with --grader-submission, one test per "
                         "question")
    group.addoption("--grader-submission", dest="grader_submission", metavar="FILE",
                    default=None, help="the notebook (.ipynb) or module (.py) to grade")
    group.addoption("--grader-timings", dest="grader_timings", action="store_true",
                    default=False, help="print where the grading's time went (as grader "
                    "grade --timings does) in the grader section of the summary")
    parser.addini("grader_rubric", "the assignment's rubric, relative to the ini file",
                  default="")
    parser.addini("grader_submission", "the notebook or module to grade, relative to the "
                  "ini file", default="")


def pytest_configure(config: pytest.Config) -> None:
    """Load the rubric and start the session's grading run when both settings are given."""
    paths = _settings(config)
    if paths is None:
        return
    rubric_path, submission = paths
    from grader.errors import GraderError
    from grader.executors.worker import rubric_and_kernel

    if config.getoption("grader_timings"):
        timings.start()
    # The kernel starts now, from the rubric's tables, and pytest collects meanwhile.
    start = submission.is_file() and not (config.getoption("help") or
                                          config.getoption("collectonly"))
    try:
        rubric, kernels = rubric_and_kernel(rubric_path, start=start, submission=submission)
    except GraderError as exc:
        raise pytest.UsageError(f"grader: {exc}") from None
    if not submission.is_file():
        raise pytest.UsageError(f"grader: the submission {submission} does not exist (set by "
                                "--grader-submission or grader_submission)")
    run = GradingRun(rubric, submission, kernels=kernels, command=_is_the_command(config))
    config.stash[_RUN] = run
    config.pluginmanager.register(run, "grader-run")
    # `pytest` without paths collects testpaths or the current folder; the submission must
    # be among what it collects. Explicit paths are the user's choice and stay as they are.
    source = getattr(config, "args_source", None)
    if source is not pytest.Config.ArgsSource.ARGS and not _covered(config, submission):
        config.args.append(str(submission))


def _is_the_command(config: pytest.Config) -> bool:
    """Whether this session is the process's command (``pytest``, ``python -m pytest``).

    Such a process ends with the session; ``pytest.main(args)`` (pytester's in-process
    runs) goes on after it with what it had before.
    """
    return config.invocation_params.args == tuple(sys.argv[1:])


def _settings(config: pytest.Config) -> tuple[Path, Path] | None:
    here = config.invocation_params.dir
    ini_dir = config.inipath.parent if config.inipath else config.rootpath
    found: dict[str, Path] = {}
    for name in ("grader_rubric", "grader_submission"):
        option = config.getoption(name)
        ini = str(config.getini(name) or "").strip()
        if option:
            found[name] = (here / option).resolve()
        elif ini:
            found[name] = (ini_dir / ini).resolve()
    if not found:
        return None
    if len(found) == 1:
        (given,) = found
        missing = "grader_submission" if given == "grader_rubric" else "grader_rubric"
        raise pytest.UsageError(
            f"grader: {given} is set but {missing} is not; give both (--grader-rubric and "
            "--grader-submission, or grader_rubric and grader_submission in the ini file)")
    return found["grader_rubric"], found["grader_submission"]


def _covered(config: pytest.Config, path: Path) -> bool:
    for arg in config.args:
        target = (config.invocation_params.dir / arg.split("::")[0]).resolve()
        if target == path or target in path.parents:
            return True
    return False


# --------------------------------------------------------------------------- grading


class GradingFailed(Exception):
    """The submission could not be graded at all (not: it has wrong answers)."""


class QuestionFailed(Exception):
    """A visible check of the question did not pass; the text is the feedback."""


class GradingRun:
    """The session's one grading of the submission, shared by all question items."""

    def __init__(self, rubric: Rubric, submission: Path, *,
                 kernels: WarmPool | None = None, command: bool = False) -> None:
        self.rubric = rubric
        self.submission = submission
        self.result: SubmissionResult | None = None
        self.error = ""
        self._started = False
        self.kernels = kernels  # the grading's kernel, starting since pytest_configure
        self.command = command  # pytest is the process's command: it ends with the session

    def graded(self) -> SubmissionResult:
        """Grade the submission on first use; every later call returns the same result."""
        if not self._started:
            self._started = True
            from grader.executors.worker import grade_alone

            kernels, self.kernels = self.kernels, None
            try:
                if kernels is not None and self.command:
                    _freeze_imports()
                self.result = grade_alone(self.submission, self.rubric, kernels)
            except Exception as exc:  # every question reports it, not only the first
                self.error = str(exc) or type(exc).__name__
        if self.result is None:
            raise GradingFailed(f"{self.submission.name} could not be graded: {self.error}")
        return self.result

    @pytest.hookimpl(hookwrapper=True)
    def pytest_collect_file(self, file_path: Path, parent: pytest.Collector) -> Iterator[None]:
        """Collect the submission with our collector only (others would import a .py)."""
        outcome: Any = yield
        if file_path.name == self.submission.name and file_path.resolve() == self.submission:
            outcome.force_result([SubmissionFile.from_parent(parent, path=file_path)])

    @pytest.hookimpl(hookwrapper=True)
    def pytest_runtest_makereport(self, item: pytest.Item, call: Any) -> Iterator[None]:
        """Report a skipped question at the submission, not at the plugin's skip call."""
        outcome: Any = yield
        report = outcome.get_result()
        if isinstance(item, QuestionItem) and report.skipped and isinstance(
                report.longrepr, tuple):
            report.longrepr = (item.location[0], None, report.longrepr[2])

    def close(self) -> None:
        """Stop the kernel started for the grading, if it was never used."""
        if self.kernels is not None:
            self.kernels.close()
            self.kernels = None

    def pytest_unconfigure(self, config: pytest.Config) -> None:
        """Stop the kernel if no question ran (all deselected, interrupted), and the clock."""
        self.close()
        if config.getoption("grader_timings"):
            timings.stop()

    def pytest_terminal_summary(self, terminalreporter: Any) -> None:
        """One line with the points of the visible checks, and the cells that raised."""
        if self.result is None:
            return
        terminalreporter.section("grader")
        for line in summary_lines(self.result):
            terminalreporter.write_line(line)
        if timings.running() is not None:
            timings.since_start("total")
            for line in timings.lines():
                terminalreporter.write_line(line)

    def pytest_sessionfinish(self, session: pytest.Session) -> None:
        """Append the result table to the GitHub Actions job summary, when there is one."""
        target = os.environ.get("GITHUB_STEP_SUMMARY")
        if not target or self.result is None:
            return
        try:
            with open(target, "a", encoding="utf-8") as fh:
                fh.write(markdown_report(self.result, self.submission.name))
        except OSError as exc:  # a summary we cannot write must not fail the run
            print(f"grader: could not write the job summary {target}: {exc}", file=sys.stderr)


_RUN = pytest.StashKey[GradingRun]()


def _freeze_imports() -> None:
    """Import what the grading needs and keep it out of the collector's walks from now on.

    Done while the kernel starts, so it costs the student nothing. What the imports made
    (sympy's and numpy's modules, the rubric) lives as long as the process; pytest's
    collection at the session's end (its unraisable-exception check) and the
    interpreter's at exit walked all of it, half a second on a busy machine. Whatever
    the session makes after this is still collected, and its finalizers still reported.
    """
    import gc

    from grader.executors.worker import warm_checks

    warm_checks()
    gc.freeze()


class SubmissionFile(pytest.File):
    """The submission as a pytest file: one item per question of the rubric."""

    def collect(self) -> Iterator[QuestionItem]:
        """Yield the questions in rubric order."""
        for q in self.config.stash[_RUN].rubric.questions:
            yield QuestionItem.from_parent(self, name=q.id, question=q)


class QuestionItem(pytest.Item):
    """One question: passes when every visible auto-graded check of it passes."""

    def __init__(self, *, question: Question, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.question = question

    def runtest(self) -> None:
        """Look the question up in the session's result and judge it."""
        result = self.config.stash[_RUN].graded()
        q = next(q for q in result.questions if q.id == self.name)
        outcome, reason = verdict(q)
        if outcome == "failed":
            raise QuestionFailed(failure_text(q, result))
        if outcome != "passed":
            pytest.skip(f"{self.name}: {reason}")

    def repr_failure(self, excinfo: pytest.ExceptionInfo[BaseException],
                     style: Any = None) -> str | Any:
        """The feedback of the failing checks, not a traceback of the plugin."""
        if isinstance(excinfo.value, QuestionFailed | GradingFailed):
            return str(excinfo.value)
        return super().repr_failure(excinfo, style=style)

    def reportinfo(self) -> tuple[Path, int | None, str]:
        """Where the item comes from, as pytest prints it in headers."""
        return self.path, None, f"{self.name}: {self.question.title}"


# --------------------------------------------------------------------------- reporting


@dataclass(frozen=True, kw_only=True)
class Row:
    """One question as the result tables show it (visible checks only)."""

    id: str
    title: str
    outcome: str  # passed | failed | manual | hidden
    score: float
    max_score: float
    feedback: str


def visible(q: QuestionResult) -> list[CheckResult]:
    """The checks of a question that a student may see now."""
    return [c for c in q.checks if c.visible]


def verdict(q: QuestionResult) -> tuple[str, str]:
    """``passed``, ``failed``, ``manual`` or ``hidden``, with a one-line reason.

    The question's status over its visible checks (:func:`~grader.results.question_status`)
    as a test outcome: a question of text answers only is the TA's, never failed here.
    """
    checks = visible(q)
    if not checks:
        return "hidden", "checked only in the final grading"
    if question_status(checks) == "passed":
        return "passed", ""
    auto = automatic(checks)
    if not auto:
        names = ", ".join(c.answer for c in checks)
        if all(c.awaits_staff for c in checks):
            return "manual", f"text answer ({names}) collected; a TA grades it"
        return "manual", f"text answer ({names}) graded by a TA; not found in the submission"
    return "failed", next(c.message for c in auto if c.status != "passed")


def rows(result: SubmissionResult) -> list[Row]:
    """A row per question, with the points of its visible auto-graded checks."""
    out = []
    for q in result.questions:
        outcome, reason = verdict(q)
        score, max_score = totals(automatic(visible(q)))
        out.append(Row(id=q.id, title=q.title, outcome=outcome, score=score,
                       max_score=max_score, feedback=reason))
    return out


def failure_text(q: QuestionResult, result: SubmissionResult) -> str:
    """The failure message of a question: each visible check that did not pass, in full."""
    auto = automatic(visible(q))
    score, max_score = totals(auto)
    lines = [f"{q.id} ({q.title}): {format_points(score)} of {format_points(max_score)} points"]
    for c in auto:
        if c.status == "passed":
            continue
        lines.append(f"- {c.answer} [{c.kind}] {c.status}: {c.message}")
        if c.expected is not None:
            lines.append(f"    expected: {c.expected}")
        if c.received is not None:
            lines.append(f"    received: {c.received}")
    if any(c.status in ("missing", "error") for c in auto):
        lines += [f"  note: {line}" for line in run_problems(result)]
    return "\n".join(lines)


def run_problems(result: SubmissionResult, limit: int = 3) -> list[str]:
    """How the submission's run went wrong, if it did: the outcome and the cells that raised."""
    run = result.run
    lines = []
    if run.outcome != "ok":
        lines.append(f"the submission did not run to the end ({run.outcome}): {run.message}")
    for err in run.errors[:limit]:
        lines.append(f"cell {err.index} raised {err.ename}: {err.evalue}"[:300])
    if len(run.errors) > limit:
        lines.append(f"... and {len(run.errors) - limit} more cell(s) raised")
    return lines


def summary_lines(result: SubmissionResult) -> list[str]:
    """The total of the visible checks, what is left to a TA, and the run's problems."""
    table = rows(result)
    score = sum(r.score for r in table)
    max_score = sum(r.max_score for r in table)
    failed = [r.id for r in table if r.outcome == "failed"]
    lines = [f"{Path(result.submission).name}: {format_points(score)} of "
             f"{format_points(max_score)} points on the "
             "visible auto-graded checks"
             + (f"; failed: {', '.join(failed)}" if failed else "; all passed")]
    manual = [r.id for r in table if r.outcome == "manual"]
    if manual:
        lines.append(f"text answers for a TA: {', '.join(manual)}")
    hidden = [r.id for r in table if r.outcome == "hidden"]
    if hidden:
        lines.append(f"checked only in the final grading: {', '.join(hidden)}")
    return lines + run_problems(result)


_MARKS = {"passed": "✅ passed", "failed": "❌ failed", "manual": "📝 TA", "hidden": "🔒 later"}


def markdown_report(result: SubmissionResult, name: str) -> str:
    """The result as a Markdown table, for the GitHub Actions job summary."""
    lines = [f"### grader: {_cell(name)}", "",
             "| Question | Result | Points | Feedback |", "|---|---|---|---|"]
    for r in rows(result):
        points = f"{format_points(r.score)} / {format_points(r.max_score)}" if r.max_score \
            else "-"
        lines.append(f"| {_cell(r.id)}: {_cell(r.title)} | {_MARKS[r.outcome]} | {points} | "
                     f"{_cell(r.feedback)} |")
    lines.append("")
    lines += [_cell(line) + "  " for line in summary_lines(result)]
    return "\n".join(lines) + "\n\n"


def _cell(text: str) -> str:
    """Text safe in a Markdown table cell: one line, no pipes, no HTML."""
    text = " ".join(str(text).split())
    if len(text) > _FEEDBACK_CHARS:
        text = text[: _FEEDBACK_CHARS - 1] + "…"
    return (text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
            .replace("|", "\\|"))


def check_report(result: SubmissionResult, *, width: int = 100) -> tuple[str, bool]:
    """The plain-text table of ``grader check``, and whether a visible check failed."""
    table = rows(result)
    id_w = max([len("question"), *(len(r.id) for r in table)])
    points = [f"{format_points(r.score)}/{format_points(r.max_score)}" if r.max_score else "-"
              for r in table]
    pts_w = max([len("points"), *(len(p) for p in points)])
    res_w = len("result")
    room = max(20, width - id_w - res_w - pts_w - 6)
    lines = [f"{'question':<{id_w}}  {'result':<{res_w}}  {'points':>{pts_w}}  feedback"]
    for r, p in zip(table, points, strict=True):
        feedback = " ".join(r.feedback.split())
        if len(feedback) > room:
            feedback = feedback[: room - 3] + "..."
        lines.append(f"{r.id:<{id_w}}  {r.outcome:<{res_w}}  {p:>{pts_w}}  {feedback}".rstrip())
    lines.append("")
    lines += summary_lines(result)
    failed = [q for q in result.questions if verdict(q)[0] == "failed"]
    if failed:
        lines += ["", "Feedback:"]
        for q in failed:
            lines += ["", failure_text(q, result)]
    return "\n".join(lines), bool(failed)
