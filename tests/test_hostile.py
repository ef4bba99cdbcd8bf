"""The hostile-submission corpus: each file in tests/hostile/ attacks the grader one way.

Every case is graded against ``tests/hostile/rubric.toml`` (the mini assignment with short
limits) under bubblewrap and, unless it needs the sandbox's filesystem, network or PID
wall, also without a sandbox. For each case the test asserts what issue 4 asks: the report
names the cause in plain words, the answers the attack touches score nothing, the others
are still graded, nothing the submission started outlives its grading, and the report
renders. A batch of them then runs through the CLI next to a correct submission, whose
result must not change.

Submissions are templates: ``@MARKER@`` (a string unique to the run, which every process
the submission starts carries on its command line), ``@PORT@`` (a port the test listens on
at 127.0.0.1: loopback only, never anything else), ``@REFERENCE@``, ``@RUBRIC@``, ``@OUT@``
(an output folder holding another student's report) and ``@PWNED@`` (a file that must
never be created) are filled in before grading.

The cases are graded up front by a small pool of spawned worker processes (each grades
one case at a time, so what it finds running afterwards is that case's) and the tests
read the results; ``GRADER_HOSTILE_WORKERS=1`` grades them in this process instead.
"""

from __future__ import annotations

import ast
import concurrent.futures as cf
import csv
import json
import multiprocessing
import os
import re
import shutil
import socket
import time
import tracemalloc
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import pytest

from grader import load_rubric
from grader.cli import main as cli_main
from grader.discover import discover, student_id
from grader.grade import failed_result, grade
from grader.kernel import sandbox
from grader.kernel.execute import KernelSession
from grader.kernel.forkserver import ForkServer
from grader.report import render_html, to_json, write_student
from grader.results import SubmissionResult
from grader.rubric import Rubric
from grader.submission import Submission

HOSTILE = Path(__file__).parent / "hostile"
RUBRIC = HOSTILE / "rubric.toml"
GOOD = Path(__file__).parent / "data" / "mini" / "submissions" / "good_module.py"
# Each isolation, with the kernel a new process ("bwrap", "none") and forked from the fork
# server batch workers use ("-fork").
MODES = ("bwrap", "none", "bwrap-fork", "none-fork")
BWRAP = ("bwrap", "bwrap-fork")  # cases that need the sandbox's filesystem, network or PID wall
SECRET_VAR = "GRADER_TEST_SECRET"
SECRET = "s3cr3t-" + uuid.uuid4().hex  # the parent's; workers inherit its environment
ALL = ("k", "v", "flag", "expr", "grad", "double", "stats", "curve", "why")
WORKERS = int(os.environ.get("GRADER_HOSTILE_WORKERS", "3"))


@dataclass(frozen=True)
class Case:
    """A hostile submission and what grading it must give.

    ``cause`` is a regex the report's own words must match: the run's message, its cell
    errors (``ename: evalue``) and the messages of the checks in ``zero``. ``zero`` are the
    answers the attack touches (they must score nothing); ``graded`` must still pass.
    ``errors`` lists (cell, regex for ``ename: evalue``) the run must report, in order.
    """

    file: str
    cause: str | None
    zero: tuple[str, ...] = ()
    graded: tuple[str, ...] = ("k",)
    outcome: str = "ok"
    errors: tuple[tuple[int, str], ...] | None = None
    modes: tuple[str, ...] = MODES
    settings: dict[str, Any] = field(default_factory=dict)  # rubric [execution] overrides
    relaxed: bool = True  # timeouts are not under test: cell_timeout 10 s, timeout 30 s
    xfail: dict[str, str] = field(default_factory=dict)  # mode ("*": every mode) -> reason
    encoding: str = "utf-8"  # how the test saves the submission
    build: str = "file"  # file | folder (tests/hostile/<name>/, graded hw.py) | symlinks
    check: Callable[[Run], None] | None = None  # further assertions
    trace_memory: bool = False  # trace the grader's allocations while grading (slower)
    # A submission graded right after this one by the same worker (in the same fork
    # server's sandbox in the -fork modes): the victim of what this one leaves behind.
    after: str | None = None

    @property
    def name(self) -> str:
        return self.file.removesuffix(".py").removesuffix(".ipynb")


@dataclass
class Run:
    """One graded case, with what the test saw around it."""

    case: Case
    mode: str
    result: SubmissionResult
    seconds: float
    tmp: Path
    survivors: list[str]  # processes carrying the marker still alive after grading
    leftovers: list[str]  # child processes of the grading process left after grading
    peak_traced: int | None  # the grader's peak of traced allocations while grading
    accepted: list[bytes] = field(default_factory=list)  # all that reached the listener
    after: SubmissionResult | None = None  # the result of ``case.after``, graded next

    @property
    def out(self) -> Path:
        return self.tmp / "out"

    def check(self, answer: str) -> Any:
        return next(c for q in self.result.questions for c in q.checks if c.answer == answer)


# --------------------------------------------------------------------------- extra checks


def _no_marker_file(run: Run) -> None:
    assert not (run.tmp / "pwned").exists(), "a command hidden in an answer was run"


def _secret_stays_out(run: Run) -> None:
    assert SECRET not in to_json(run.result) + render_html(run.result, _rubric())
    assert run.check("why").received == "found: {}"


def _nothing_reached_the_listener(run: Run) -> None:
    assert run.accepted == [], f"the kernel reached 127.0.0.1: {run.accepted!r}"


def _output_folder_untouched(run: Run) -> None:
    assert (run.out / "victim.json").read_text() == '{"student": "victim", "score": 5}'
    assert sorted(p.name for p in run.out.iterdir()) == ["victim.json"]


def _report_escapes_html(run: Run) -> None:
    page = render_html(run.result, _rubric())
    assert '<meta http-equiv="Content-Security-Policy"' in page
    assert "default-src 'none'" in page
    lowered = page.lower()
    for raw in ("<script", "<img src=x", "<iframe", "</table><script", "<b>bold"):
        assert raw not in lowered, f"unescaped {raw!r} in the report"
    assert "&lt;script&gt;" in page
    assert "javascript:" not in lowered
    assert "<svg" not in lowered  # the SVG figure is shown as a data: image, never inlined


def _report_stays_small(run: Run) -> None:
    page = render_html(run.result, _rubric())
    assert len(page) < 1_000_000
    assert len(to_json(run.result)) < 1_000_000
    assert all(len(f.data) <= 2_000_000 for f in run.result.run.figures)


def _no_lone_surrogate(run: Run) -> None:
    # Each string the kernel sent is one every UTF-8 writer accepts (the gradebook, a
    # Dask reply, the page): its lone surrogates arrive as U+FFFD.
    text = to_json(run.result)
    json.dumps(json.loads(text), ensure_ascii=False).encode("utf-8")
    render_html(run.result, _rubric()).encode("utf-8")
    assert run.check("v").received == "'half a pair: \ufffd'"
    assert run.check("flag").received == "{'\ufffd': 1}"
    assert run.check("why").received == "because \ufffd"  # from the notebook's own JSON


def _surrogates_sent_as_replacement(run: Run) -> None:
    # The kernel's own packer refuses a lone surrogate: the agent sends U+FFFD instead, so
    # the harvest arrives and the right answer next to them is graded.
    assert run.check("v").received == "'half a pair: \ufffd'"
    assert run.check("flag").received == "{'\ufffd': 1}"


def _kernel_died_of_segfault(run: Run) -> None:
    assert run.result.run.skipped_cells == (2,)
    assert re.search(r"segmentation fault|SIGSEGV", run.result.run.errors[0].evalue)


def _ends_near_the_deadline(run: Run) -> None:
    # Killed at 6 s in a function call; nbclient alone would wait out the call's cell
    # timeout again after interrupting the dead kernel (12.7 s measured before).
    assert run.seconds < 6 * 1.25 + 3, f"graded in {run.seconds:.1f} s"


def _left_out_of_a_fresh_run(run: Run) -> None:
    assert run.result.run.skipped_cells == (2,)
    assert "left out of a fresh run" in run.result.run.message


def _left_out_as_mute(run: Run) -> None:
    _left_out_of_a_fresh_run(run)
    died = run.result.run.errors[0]
    assert (died.index, died.ename) == (2, "KernelDied")
    assert "messages could no longer be read" in died.evalue


# --------------------------------------------------------------------------- the corpus

_TIMEOUT = r"ran longer than 3 s|time limit"
_SKIPPED = r"left out of a fresh run"

CASES = [
    # Time.
    Case("infinite_loop.py", _TIMEOUT, zero=("v",), graded=("k", "flag"),
         errors=((2, "Timeout"),), relaxed=False),
    Case("sleep_forever.py", _TIMEOUT, zero=("v",), graded=("k", "flag"),
         errors=((2, "Timeout"),), relaxed=False),
    Case("ignore_sigint.py", _SKIPPED, zero=("v",), graded=("k", "flag"),
         errors=((2, "Timeout"),), settings={"timeout": 6}, relaxed=False,
         check=_left_out_of_a_fresh_run),
    Case("recursion_slow_traceback.py", r"ran longer than 3 s|RecursionError", zero=("v",),
         graded=("k", "flag"), errors=((2, "Timeout|RecursionError"),), relaxed=False),
    Case("hidden_hang.py", r"did not finish in time", zero=("double",),
         graded=("k", "stats"), errors=()),
    Case("hidden_hang_swallow.py", r"time limit", zero=("double",), outcome="timeout",
         settings={"timeout": 6}, relaxed=False, check=_ends_near_the_deadline),
    # Resources.
    Case("memory_bomb.py", r"MemoryError", zero=("v",), graded=("k", "flag"),
         errors=((2, "MemoryError"),)),
    # At the address-space limit C code may crash instead of raising (seen once, under
    # load: SIGSEGV in a forked kernel); then the cell is left out of a fresh run. Either
    # way v scores nothing and k and flag are graded.
    Case("memory_hog.py", r"MemoryError|segmentation fault", zero=("v",),
         graded=("k", "flag"), errors=((2, "MemoryError|KernelDied"),)),
    Case("fork_bomb.py", r"Resource temporarily unavailable", zero=("v",),
         graded=("k", "flag"), errors=((2, "BlockingIOError"),)),
    Case("disk_fill.py", r"File too large", zero=("v",), graded=("k", "flag"),
         errors=((2, "OSError"),)),
    Case("tmp_fill.py", r"No space left", zero=("v",), graded=("k", "flag"),
         errors=((2, "OSError"),), modes=BWRAP),
    Case("shm_fill.py", r"No space left", zero=("v",), graded=("k", "flag"),
         errors=((2, "OSError"),), modes=BWRAP),
    Case("work_fill.py", r"more than 100 MB to disk", zero=("v",), graded=("k", "flag"),
         errors=((2, "KernelDied"),), check=_left_out_of_a_fresh_run),
    Case("many_files.py", r"more than 2000 files", zero=("v",), graded=("k", "flag"),
         errors=((2, "KernelDied"),), check=_left_out_of_a_fresh_run),
    Case("output_flood.py", r"output beyond 200000 bytes was dropped",
         graded=("k", "v", "flag"), errors=(), trace_memory=True),
    Case("huge_image.py", r"output beyond 200000 bytes was dropped",
         graded=("k", "v", "flag"), errors=(), check=_report_stays_small),
    Case("large_legal_answer.py", r"shape", zero=("v",), graded=("k", "flag"), errors=()),
    Case("huge_answer.py", r"too large to grade", zero=("v", "curve"), errors=()),
    # The kernel dies or is told to stop.
    Case("os_exit.py", _SKIPPED, zero=("v",), graded=("k", "flag"),
         errors=((2, "KernelDied"),), check=_left_out_of_a_fresh_run),
    Case("segfault.py", r"segmentation fault|SIGSEGV", zero=("v",), graded=("k", "flag"),
         errors=((2, "KernelDied"),), check=_kernel_died_of_segfault),
    Case("recursion_segfault.py", r"segmentation fault|SIGSEGV", zero=("v",),
         graded=("k", "flag"), errors=((2, "KernelDied"),), check=_kernel_died_of_segfault),
    Case("sys_exit.py", r"SystemExit: goodbye", zero=("v",), graded=("k", "flag"),
         errors=((2, "SystemExit"),)),
    Case("raise_systemexit.py", r"SystemExit", zero=("v",), graded=("k", "flag"),
         errors=((2, "SystemExit"),)),
    Case("raise_keyboardinterrupt.py", r"KeyboardInterrupt: not a timeout", zero=("v",),
         graded=("k", "flag"), errors=((2, "KeyboardInterrupt"),)),
    Case("recursion.py", r"RecursionError", zero=("v",), graded=("k", "flag"),
         errors=((2, "RecursionError"),)),
    Case("kill_everything.py", None, graded=("k", "v", "flag"), errors=(), modes=BWRAP),
    # Without the sandbox only a cgroup finds a process that left the kernel's session, and
    # an ordinary user's grader may make none (docs/security.md, Known limits).
    Case("subprocess_escape.py", None, graded=("k", "flag"), errors=(),
         modes=MODES if os.geteuid() == 0 else BWRAP),
    # Reading what is not theirs. Only under the sandbox: without it the kernel can read,
    # connect and write whatever the grader's user can (docs/security.md, Known limits).
    Case("read_reference.py", r"No such file", zero=("v", "expr", "why"),
         graded=("k", "flag"), errors=((2, "FileNotFoundError"), (3, "FileNotFoundError")),
         modes=BWRAP),
    Case("symlink_reference.py", r"No such file", zero=("v", "why"), graded=("k", "flag"),
         errors=((2, "FileNotFoundError"), (3, "FileNotFoundError")), modes=BWRAP,
         build="symlinks"),
    Case("env_secret.py", None, errors=(), check=_secret_stays_out),
    Case("env_secret_proc.py", None, errors=(), check=_secret_stays_out, modes=BWRAP),
    Case("network.py", r"Connection refused|unreachable", zero=("v",), graded=("k", "flag"),
         errors=((2, "ConnectionRefusedError|OSError"),), modes=BWRAP,
         check=_nothing_reached_the_listener),
    Case("write_output_folder.py", r"No such file", zero=("v",),
         errors=((2, "FileNotFoundError"),), modes=BWRAP, check=_output_folder_untouched),
    # Fooling the comparison.
    Case("monkeypatch_numpy.py", r"differ", zero=("v", "flag", "expr", "grad", "double"),
         errors=()),
    Case("monkeypatch_builtins.py", r"shape", zero=("v", "flag", "double"), errors=()),
    Case("monkeypatch_issubclass.py", r"bool|number", zero=("flag",), errors=()),
    Case("issubclass_and_reload.py", r"bool|number", zero=("flag",), errors=()),
    Case("monkeypatch_json.py", _SKIPPED, zero=("v", "flag"), settings={"timeout": 6},
         relaxed=False, check=_left_out_as_mute),
    Case("lying_scalars.py", r"cannot be graded", zero=("flag", "v", "double", "stats"),
         errors=()),
    Case("lying_array_sympy.py", r"refused", zero=("v", "expr", "grad"), errors=()),
    Case("nan_inf.py", r"NaN", zero=("v", "flag", "double", "stats"), errors=()),
    Case("wrong_types.py", r"not a number", zero=("k", "v", "expr", "grad", "double",
                                                  "curve", "why"),
         graded=("flag", "stats"), errors=(), check=_no_marker_file),
    Case("fake_results.py", r"Expected exactly 661, got 1", zero=("k", "v", "flag"),
         graded=("curve",), errors=()),
    Case("pickle_payload.py", r"bytes cannot be graded", zero=("v", "flag", "double", "stats"),
         errors=(), check=_no_marker_file),
    Case("nested_unsupported.py", r"could not be read.*(bytes|Payload)", zero=("curve",),
         errors=(), check=_no_marker_file),
    Case("shadow", None, graded=("k", "flag", "double"), errors=(), build="folder"),
    Case("reset_namespace.ipynb", None, graded=("k", "flag"), errors=()),
    Case("delete_agent.py", None, graded=("k", "flag"), errors=()),
    Case("lone_surrogate.ipynb", r"ValueError: bad \ufffd value", zero=("v", "flag", "double"),
         graded=("k", "curve"), errors=((5, "ValueError: bad \ufffd value"),),
         check=_no_lone_surrogate),
    Case("lone_surrogate_plain.py", None, zero=("v", "flag"), graded=("k",), errors=(),
         check=_surrogates_sent_as_replacement),
    Case("html_injection.ipynb", r"ValueError: <script>", zero=("v", "flag"),
         errors=((4, "ValueError"),), check=_report_escapes_html),
    # Unreadable or odd files.
    Case("malformed_json.ipynb", r"unreadable notebook: not JSON", zero=ALL, graded=(),
         outcome="unreadable", errors=()),
    Case("no_cells.ipynb", r"not defined", zero=ALL, graded=(), errors=()),
    Case("nbformat_v3.ipynb", None, graded=("k", "v", "flag"), errors=()),
    Case("nbformat_v2.ipynb", r"unreadable notebook.*found 2", zero=ALL, graded=(),
         outcome="unreadable", errors=()),
    Case("nbformat_missing.ipynb", r"unreadable notebook.*found None", zero=ALL, graded=(),
         outcome="unreadable", errors=()),
    Case("non_utf8.py", r"not UTF-8", zero=ALL, graded=(), outcome="unreadable", errors=(),
         encoding="latin-1"),
    Case("latin1_with_coding.py", None, graded=("k",), errors=(), encoding="latin-1"),
]

def _why(result: SubmissionResult) -> str:
    return next(c.received for q in result.questions for c in q.checks if c.answer == "why")


def _victim_untouched(run: Run) -> None:
    """The student graded next keeps full marks and finds nothing of this one."""
    victim = run.after
    assert victim is not None
    assert _why(victim) == "found: []", _why(victim)
    auto = [c for q in victim.questions for c in q.checks if c.kind != "manual"]
    assert all(c.status == "passed" for c in auto), [c for c in auto if c.status != "passed"]
    assert victim.score == sum(c.max_score for c in auto)


def _unprivileged(run: Run) -> None:
    found = ast.literal_eval(_why(run.result).removeprefix("found: "))
    assert found["CapEff"] == found["CapPrm"] == "0000000000000000", found
    if run.mode in BWRAP or os.getuid() == 0:  # an ordinary user may not empty its bounds
        assert found["CapBnd"] == "0000000000000000", found
    assert found["NoNewPrivs"] == "1" and found["Seccomp"] == "2", found
    if run.mode in BWRAP:
        assert found["Uid"] == str(sandbox.KERNEL_UID), found
    assert not [key for key in found if key.startswith(("remounted", "wrote", "allowed"))], \
        found
    if run.mode in BWRAP:
        _victim_untouched(run)


def _found_nothing(run: Run) -> None:
    assert _why(run.result) == "found: {}", _why(run.result)


def _memory_bound_applied(run: Run) -> None:
    cgroup = any(b.startswith("memory: 300 MB") for b in run.result.run.bounds)
    died = run.result.run.errors[0]
    if cgroup:
        assert died.ename == "KernelDied" and "more than 300 MB of memory" in died.evalue
        _left_out_of_a_fresh_run(run)
    else:
        assert "memfd_create refused" in " ".join(run.result.run.bounds)
        assert died.ename == "PermissionError", died


def _kernel_goes_first(run: Run) -> None:
    assert _why(run.result) == "found: 1000"


# Issue 11, the sandbox's rows: privilege, state left between students, the server's
# memory, memory outside the address-space limit, the OOM killer, CPU between students.
SANDBOX_CASES: list[Case] = [
    Case("privilege.py", None, errors=(), after="victim.py", check=_unprivileged),
    Case("poison_state.py", None, errors=(), modes=BWRAP, after="victim.py",
         check=_victim_untouched),
    # In a sandbox of its own a kernel's pid 1 is bubblewrap's init (the kernel's uid,
    # holding only the kernel's environment); the fork server is what must stay unseen.
    Case("read_server.py", None, errors=(), modes=("bwrap-fork",), check=_found_nothing),
    Case("root_fill.py", r"Read-only file system", zero=("v",), graded=("k", "flag"),
         errors=((2, "OSError"),), modes=BWRAP, after="victim.py", check=_victim_untouched),
    # Where a memory cgroup exists it stops the kernel at max_memory_mb; where none does
    # (an unprivileged grader) memfd_create is refused. Either way v scores nothing.
    Case("memfd_hog.py", r"more than 300 MB of memory|Operation not permitted", zero=("v",),
         graded=("k", "flag"), errors=((2, "KernelDied|PermissionError"),),
         settings={"max_memory_mb": 300}, check=_memory_bound_applied),
    Case("unlinked_fill.py", r"more than 100 MB to disk", zero=("v",), graded=("k", "flag"),
         errors=((2, "KernelDied"),), check=_left_out_of_a_fresh_run),
    Case("oom_score.py", None, errors=(), check=_kernel_goes_first),
]

def _peak_under(run: Run, mb: int) -> None:
    assert run.peak_traced is not None
    assert run.peak_traced < mb * 1_000_000, \
        f"the grader allocated {run.peak_traced / 1e6:.0f} MB at its peak"


def _refused_unparsed(run: Run) -> None:
    # 30 MB of [] sent; parsed, it took the grader 937 MB.
    _left_out_of_a_fresh_run(run)
    assert "JSON values" in run.result.run.errors[0].evalue
    _peak_under(run, 100)


def _cut_unread(run: Run) -> None:
    # 20 MB sent in one frame, over the 9.0 MB a message may take: never received.
    _left_out_of_a_fresh_run(run)
    assert "larger than the limit of 9.0 MB" in run.result.run.errors[0].evalue
    assert "libzmq cut" in run.result.run.errors[0].evalue
    _peak_under(run, 16)


def _decoding_stopped(run: Run) -> None:
    # Decoded in full, 900,000 sympy texts took the grader about 97 s of CPU; the budget
    # for one submission is the cell timeout (10 s here).
    assert "of the grader's CPU time" in run.check("expr").message
    assert all("too large to grade" in run.check(a).message
               for a in ("grad", "double", "stats", "curve"))
    assert run.seconds < 45, f"graded in {run.seconds:.1f} s"


def _answers_share_their_budget(run: Run) -> None:
    # Seven answers of 60 MB; 128 MB fit in all. All seven, the grader took 1.4 GB.
    assert "together are too large" in run.check("expr").message
    assert run.check("v").received is not None  # the first two were read and graded
    _peak_under(run, 480)


def _errors_summarised(run: Run) -> None:
    from grader.gradebook import Gradebook

    errors = run.result.run.errors
    assert len(errors) == 21 and all(e.ename == "NameError" for e in errors[:20])
    assert errors[-1].ename == "MoreErrors"
    assert "3,980 more cells raised: NameError x2,980, ZeroDivisionError x1,000" \
        in errors[-1].evalue
    page, data = render_html(run.result, _rubric()), to_json(run.result)
    assert len(page) < 1_000_000 and len(data) < 1_000_000, (len(page), len(data))
    assert "3,980 more cells raised" in page
    with Gradebook(run.tmp / "gradebook.sqlite") as book:
        book.record(run.result)
        (row,) = book.db.execute(
            "SELECT length(errors) + length(result_json) FROM results").fetchone()
    assert row < 1_000_000, row


# Issue 11, the grader's own rows: its memory whatever the kernel sends, the cost of
# decoding a harvest, the size of one submission's outputs and answers.
GRADER_BOUND_CASES: list[Case] = [
    Case("big_json_message.py", r"larger than the limit", zero=("v",), graded=("k", "flag"),
         errors=((2, "KernelDied"),), trace_memory=True, check=_refused_unparsed),
    Case("oversize_message.py", r"larger than the limit", zero=("v",), graded=("k", "flag"),
         errors=((2, "KernelDied"),), settings={"max_answers_mb": 8}, trace_memory=True,
         check=_cut_unread),
    # Decoding a forged flood takes the grader ~15 s of CPU on an idle machine: a loaded one
    # (CI beside other jobs) must not turn that into a timeout this case is not about.
    Case("forged_harvest.py", r"too large to grade", zero=("expr", "grad", "curve"),
         graded=("k",), errors=(), modes=("none", "bwrap-fork"), check=_decoding_stopped,
         settings={"timeout": 120}),
    Case("many_answers.py", r"too large to grade",
         zero=("v", "flag", "expr", "grad", "double", "stats", "curve"), errors=(),
         trace_memory=True, check=_answers_share_their_budget),
    Case("many_errors.py", r"3,980 more cells raised", errors=None,
         settings={"timeout": 240, "max_output_bytes": 2_000_000},
         modes=("none",), check=_errors_summarised),
]

CASES += SANDBOX_CASES + GRADER_BOUND_CASES


CASE_BY_NAME = {c.name: c for c in CASES}


def _rubric() -> Rubric:
    return load_rubric(RUBRIC)


def _xfail(case: Case, mode: str) -> list[Any]:
    reason = case.xfail.get(mode) or case.xfail.get("*")
    # A known gap fails every time (strict); a "flaky:" one fails only under load.
    strict = not (reason or "").startswith("flaky: ")
    return [pytest.mark.xfail(strict=strict, reason=reason)] if reason else []


def _params(*, xfail: bool) -> list[Any]:
    return [pytest.param(case, mode, id=f"{case.name}-{mode}",
                         marks=_xfail(case, mode) if xfail else [])
            for case in CASES for mode in case.modes]


def _bwrap_problem() -> str | None:
    return sandbox.probe_bwrap()


def _skip_without(mode: str) -> None:
    if mode.startswith("bwrap") and (problem := _bwrap_problem()) is not None:
        pytest.skip(f"bubblewrap cannot sandbox here ({problem}); CI installs it")


# --------------------------------------------------------------------------- processes


def _processes() -> Iterator[tuple[int, int, str, str]]:
    """(pid, ppid, state, command line) of every process we can see."""
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        try:
            stat = Path(entry.path, "stat").read_text()
            cmdline = Path(entry.path, "cmdline").read_bytes()
        except OSError:
            continue
        fields = stat.rsplit(")", 1)[1].split()
        yield (int(entry.name), int(fields[1]), fields[0],
               cmdline.replace(b"\0", b" ").decode("utf-8", "replace"))


def _survivors(marker: str, wait: float = 5.0) -> list[str]:
    """Live processes whose command line carries ``marker``, once the kill had time."""
    deadline = time.monotonic() + wait
    while True:
        alive = [f"{pid} {cmd}" for pid, _, state, cmd in _processes()
                 if marker in cmd and state != "Z"]
        if not alive or time.monotonic() > deadline:
            return alive
        time.sleep(0.05)


def _leftovers(before: set[int], wait: float = 5.0) -> list[str]:
    """This process's children that were not there before grading (zombies included)."""
    me, deadline = os.getpid(), time.monotonic() + wait
    while True:
        left = [f"{pid} [{state}] {cmd[:200]}" for pid, ppid, state, cmd in _processes()
                if ppid == me and pid not in before]
        if not left or time.monotonic() > deadline:
            return left
        time.sleep(0.05)


# --------------------------------------------------------------------------- grading


def _fill(text: str, values: dict[str, str]) -> str:
    for key, value in values.items():
        text = text.replace(key, value)
    return text


def _build(case: Case, tmp: Path, values: dict[str, str]) -> Submission:
    source = HOSTILE / case.file
    if case.build == "folder":
        folder = tmp / case.name
        shutil.copytree(source, folder)
        return Submission(student=case.name, path=folder / "hw.py", folder=folder)
    text = _fill(source.read_text("utf-8"), values)
    if case.build == "symlinks":
        folder = tmp / case.name
        folder.mkdir()
        (folder / "hw.py").write_text(text, "utf-8")
        reference = _rubric().reference_path
        (folder / "ref.py").symlink_to(reference)
        (folder / "data").symlink_to(reference.parent, target_is_directory=True)
        return Submission(student=case.name, path=folder / "hw.py", folder=folder)
    path = tmp / case.file
    path.write_bytes(text.encode(case.encoding))
    return Submission(student=case.name, path=path)


def grade_case(name: str, mode: str, tmp: str, port: int) -> dict[str, Any]:
    """Grade one case (in a worker process, or here); plain data back."""
    case = CASE_BY_NAME[name]
    rubric = _rubric()
    folder = Path(tmp)
    (folder / "out").mkdir(parents=True)
    (folder / "out" / "victim.json").write_text('{"student": "victim", "score": 5}')
    marker = f"hostile-{case.name}-{mode}-{uuid.uuid4().hex[:12]}"
    values = {"@MARKER@": marker, "@PORT@": str(port),
              "@REFERENCE@": str(rubric.reference_path), "@RUBRIC@": str(RUBRIC.resolve()),
              "@OUT@": str(folder / "out"), "@PWNED@": str(folder / "pwned")}
    sub = _build(case, folder, values)
    relaxed = {"cell_timeout": 10.0, "timeout": 30.0} if case.relaxed else {}
    settings = replace(rubric.execution, **{**relaxed, **case.settings})
    before = {pid for pid, ppid, _, _ in _processes() if ppid == os.getpid()}
    started = time.monotonic()
    if case.trace_memory:
        # What the grader imports once (nbclient, zmq, sympy, the reference) is not what
        # the flood costs: import it before tracing, whichever case this worker ran first.
        import nbclient  # noqa: F401
        import sympy  # noqa: F401

        from grader.checks import function, numeric, symbolic  # noqa: F401
        from grader.kernel.harvest import Harvester  # noqa: F401

        rubric.load_reference()
        tracemalloc.start()
    isolation = sandbox.resolve(mode.removesuffix("-fork"))
    server = ForkServer(settings, isolation).start() if mode.endswith("-fork") else None
    after = None
    try:
        session = None if server is None else \
            KernelSession(settings, isolation=isolation, forkserver=server).start()
        result = grade(sub, rubric, settings=settings, isolation=isolation, session=session)
        if case.after is not None:
            victim = folder / "victim"
            victim.mkdir()
            (victim / case.after).write_text(
                _fill((HOSTILE / case.after).read_text("utf-8"), values), "utf-8")
            session = None if server is None else \
                KernelSession(settings, isolation=isolation, forkserver=server).start()
            after = grade(Submission(student="victim", path=victim / case.after), rubric,
                          settings=settings, isolation=isolation, session=session)
    finally:
        peak = tracemalloc.get_traced_memory()[1] if case.trace_memory else None
        tracemalloc.stop()
        if server is not None:
            server.close()
    return {"result": result.to_dict(), "seconds": time.monotonic() - started,
            "after": after.to_dict() if after is not None else None,
            "survivors": _survivors(marker), "leftovers": _leftovers(before),
            "peak_traced": peak}


def _drain(listener: socket.socket) -> list[bytes]:
    got = []
    while True:
        try:
            conn, _ = listener.accept()
        except BlockingIOError:
            return got
        with conn:
            conn.settimeout(1)
            try:
                got.append(conn.recv(1000) or b"<connected>")
            except OSError:
                got.append(b"<connected>")


@pytest.fixture(scope="module")
def listener() -> Iterator[socket.socket]:
    """A TCP port on the loopback address only; a sandboxed kernel must not reach it."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    sock.listen(16)
    sock.setblocking(False)
    with sock:
        yield sock


class _Inline:
    """Runs the work in this process, when asked; a stand-in for the pool."""

    def submit(self, fn: Callable[..., Any], *args: Any) -> cf.Future[Any]:
        future: cf.Future[Any] = cf.Future()
        future.set_running_or_notify_cancel()
        try:
            future.set_result(fn(*args))
        except BaseException as exc:
            future.set_exception(exc)
        return future

    def shutdown(self, **kwargs: Any) -> None:
        pass


class Corpus:
    """Every (case, mode) the session selected, submitted to the workers up front."""

    def __init__(self, root: Path, listener: socket.socket, wanted: list[tuple[str, str]]
                 ) -> None:
        self.root = root
        self.listener = listener
        self._futures: dict[tuple[str, str], cf.Future[Any]] = {}
        self._runs: dict[tuple[str, str], Run] = {}
        self.accepted: list[bytes] = []  # every connection the listener took, ever
        self.pool: Any = _Inline()
        if WORKERS > 1 and len(wanted) > 1:
            self.pool = cf.ProcessPoolExecutor(
                WORKERS, mp_context=multiprocessing.get_context("spawn"))
            # The slowest first: timeouts and re-runs, then the rest in table order.
            order = sorted(wanted, key=lambda w: -_expected_seconds(CASE_BY_NAME[w[0]]))
            for name, mode in order:
                self._submit(name, mode)

    def _submit(self, name: str, mode: str) -> cf.Future[Any]:
        key = (name, mode)
        if key not in self._futures:
            port = self.listener.getsockname()[1]
            self._futures[key] = self.pool.submit(grade_case, name, mode,
                                                  str(self.root / f"{name}-{mode}"), port)
        return self._futures[key]

    def __call__(self, case: Case, mode: str) -> Run:
        _skip_without(mode)
        key = (case.name, mode)
        if key not in self._runs:
            data = self._submit(*key).result()
            self.accepted += _drain(self.listener)
            self._runs[key] = Run(
                case=case, mode=mode, result=SubmissionResult.from_dict(data["result"]),
                seconds=data["seconds"], tmp=self.root / f"{case.name}-{mode}",
                survivors=data["survivors"], leftovers=data["leftovers"],
                peak_traced=data["peak_traced"], accepted=list(self.accepted),
                after=SubmissionResult.from_dict(data["after"]) if data["after"] else None)
        return self._runs[key]


def _expected_seconds(case: Case) -> float:
    """A rough guess, to hand the slowest cases out first."""
    dies = any("KernelDied" in e for _, e in case.errors or ())
    return (0.0 if case.relaxed else 8.0) + (4.0 if dies else 0.0) + len(case.modes)


def _wanted(session: pytest.Session) -> list[tuple[str, str]]:
    wanted = []
    for item in session.items:
        params = getattr(getattr(item, "callspec", None), "params", {})
        case, mode = params.get("case"), params.get("mode")
        if isinstance(case, Case) and (case.name, mode) not in wanted and \
                (not mode.startswith("bwrap") or _bwrap_problem() is None):
            wanted.append((case.name, mode))
    return wanted


@pytest.fixture(scope="module")
def corpus(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory,
           listener: socket.socket) -> Iterator[Corpus]:
    """The graded corpus, with secrets in the grader's environment while it grades."""
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv(SECRET_VAR, SECRET)
        mp.setenv("GITHUB_TOKEN", SECRET)
        corpus = Corpus(tmp_path_factory.mktemp("hostile"), listener,
                        _wanted(request.session))
        try:
            yield corpus
        finally:
            corpus.pool.shutdown(cancel_futures=True)


# --------------------------------------------------------------------------- the tests


def _cause_text(run: Run) -> str:
    r = run.result
    parts = [r.run.message]
    parts += [f"{e.ename}: {e.evalue}" for e in r.run.errors]
    parts += [run.check(a).message for a in run.case.zero]
    return "\n".join(parts)


@pytest.mark.kernel
@pytest.mark.parametrize(("case", "mode"), _params(xfail=True))
def test_hostile_submission(corpus: Corpus, case: Case, mode: str) -> None:
    run = corpus(case, mode)
    result = run.result
    assert run.survivors == [], f"processes outlived grading: {run.survivors}"
    assert run.leftovers == [], f"grading left processes behind: {run.leftovers}"
    assert result.isolation == mode.removesuffix("-fork")
    assert result.run.outcome == case.outcome, result.run.message
    if case.errors is not None:
        got = [(e.index, f"{e.ename}: {e.evalue}") for e in result.run.errors]
        assert len(got) == len(case.errors), got
        for (index, text), (want_index, want) in zip(got, case.errors, strict=True):
            assert index == want_index and re.match(want, text), got
    if case.cause is not None:
        text = _cause_text(run)
        assert re.search(case.cause, text, re.IGNORECASE | re.DOTALL), text
    for answer in case.zero:
        check = run.check(answer)
        assert check.score == 0 and check.status not in ("passed", "partial"), check
        assert check.message, check
    for answer in case.graded:
        check = run.check(answer)
        assert check.status == "passed", check
    for q in result.questions:
        assert 0 <= q.score <= q.max_score
    if case.check is not None:
        case.check(run)


@pytest.mark.kernel
@pytest.mark.parametrize(("case", "mode"), _params(xfail=False))
def test_hostile_report_renders(corpus: Corpus, case: Case, mode: str) -> None:
    """Whatever the submission did, its report is strict JSON and a page with the CSP."""
    run = corpus(case, mode)
    data = json.loads(to_json(run.result))  # to_json refuses NaN: none may reach it
    assert data["student"] == case.name
    assert SubmissionResult.from_dict(data) == run.result
    page = render_html(run.result, _rubric())
    assert "Content-Security-Policy" in page
    assert "<script" not in page.lower()
    assert len(page) < 2_000_000


@pytest.mark.kernel
def test_output_flood_keeps_the_graders_memory_bounded(corpus: Corpus) -> None:
    run = corpus(CASE_BY_NAME["output_flood"], "none")
    assert run.peak_traced is not None
    assert run.peak_traced < 32 * 1024 * 1024, \
        f"the grader allocated {run.peak_traced >> 20} MB at its peak"


# --------------------------------------------------------------------------- the batch

# Students of the batch next to alice (correct): file in tests/hostile/ -> student id.
BATCH = {"os_exit.py": "os_exit", "fork_bomb.py": "fork_bomb",
         "output_flood.py": "output_flood", "malformed_json.ipynb": "malformed_json",
         "infinite_loop.py": "infinite_loop", "lone_surrogate.ipynb": "lone_surrogate"}
STRANGE_NAME = "evil ..%2F..%2Fescape <b>\u2215etc.py"  # a hostile file name, a correct answer


@pytest.mark.kernel
def test_batch_goes_on_and_other_students_are_untouched(tmp_path: Path) -> None:
    """``grader grade`` over a correct student and hostile ones, sandboxed where possible."""
    mode = "bwrap" if _bwrap_problem() is None else "none"
    folder = tmp_path / "subs"
    folder.mkdir()
    shutil.copy(GOOD, folder / "alice.py")
    marker = f"hostile-batch-{uuid.uuid4().hex}"
    for name in BATCH:
        text = (HOSTILE / name).read_text("utf-8").replace("@MARKER@", marker)
        (folder / name).write_text(text, "utf-8")
    (folder / STRANGE_NAME).write_text("k = 661\n", "utf-8")
    strange = student_id(Path(STRANGE_NAME).stem)
    out = tmp_path / "reports"
    before = set(os.listdir(tmp_path))
    status = cli_main(["grade", str(folder), "--rubric", str(RUBRIC), "--out", str(out),
                       "--sandbox", mode, "-j", "1"])
    assert status == 0
    assert _survivors(marker) == [], "processes outlived the batch"
    assert set(os.listdir(tmp_path)) == before | {"reports"}, "a report landed outside --out"
    students = ["alice", *BATCH.values(), strange]
    for sid in students:
        assert (out / "students" / f"{sid}.json").is_file(), f"no report for {sid}"
        assert (out / "students" / f"{sid}.html").is_file(), f"no page for {sid}"
    rows = {r["student"]: r for r in csv.DictReader((out / "grades.csv").open())}
    assert set(rows) == set(students)
    got = {sid: json.loads((out / "students" / f"{sid}.json").read_text()) for sid in students}
    assert got["os_exit"]["run"]["skipped_cells"] == [2]
    assert got["malformed_json"]["run"]["outcome"] == "unreadable"
    assert got["infinite_loop"]["run"]["errors"][0]["ename"] == "Timeout"
    assert got["lone_surrogate"]["run"]["errors"][0]["evalue"] == "bad \ufffd value"
    assert got[strange]["questions"][0]["score"] == 2
    # The correct student's result is what grading it alone gives.
    mine = got["alice"]
    alone = json.loads(to_json(grade(Submission(student="alice", path=folder / "alice.py"),
                                     _rubric(), isolation=sandbox.resolve(mode))))
    for key in ("score", "max_score", "questions", "isolation"):
        assert mine[key] == alone[key], key
    for key in ("outcome", "message", "errors", "cells_run", "skipped_cells"):
        assert mine["run"][key] == alone["run"][key], key
    assert mine["score"] == sum(c["max_score"] for q in mine["questions"]
                                for c in q["checks"] if c["kind"] != "manual")


@pytest.mark.kernel
def test_a_cpu_hog_neither_slows_nor_changes_the_others(tmp_path: Path) -> None:
    """Forty busy processes of one student beside correct students, two workers at once.

    The hog's kernel has one cpu share (its cgroup, where the grader may make one) and
    function calls are limited in CPU time, not wall time: the others keep full marks.
    """
    mode = "bwrap" if _bwrap_problem() is None else "none"
    folder = tmp_path / "subs"
    folder.mkdir()
    marker = f"hostile-cpu-{uuid.uuid4().hex}"
    (folder / "hog.py").write_text(
        (HOSTILE / "cpu_hog.py").read_text("utf-8").replace("@MARKER@", marker), "utf-8")
    students = [f"student{i}" for i in range(4)]
    for sid in students:
        shutil.copy(GOOD, folder / f"{sid}.py")
    out = tmp_path / "reports"
    status = cli_main(["grade", str(folder), "--rubric", str(RUBRIC), "--out", str(out),
                       "--sandbox", mode, "-j", "2"])
    assert status == 0
    assert _survivors(marker) == [], "the hog's processes outlived its grading"
    results = {p.stem: SubmissionResult.from_dict(json.loads(p.read_text()))
               for p in (out / "students").glob("*.json")}
    auto = sum(c.max_score for q in results["student0"].questions for c in q.checks
               if c.kind != "manual")
    for sid in students:
        assert results[sid].score == auto, results[sid]
    bounds = " ".join(results["hog"].run.bounds)
    if os.getuid() == 0:  # where the grader may make cgroups, the hog had one share
        assert "cpu: one equal share per kernel" in bounds, bounds


# --------------------------------------------------------------------------- names


HOSTILE_NAMES = ["..%2F..%2Fetc", "a\\..\\..\\b", "-rf --no-preserve-root",
                 "=cmd|' -C calc'!A0", "<script>alert(1)<", "x\ny\rz", "\u2215etc\u2215passwd",
                 "..\u2024..", "a b", "CON", "...", "~root", "$(touch pwned)", "`id`",
                 "\u202egnp.exe"]


def test_hostile_names_give_safe_ids_and_reports_stay_in_the_output_folder(
        tmp_path: Path) -> None:
    subs = tmp_path / "subs"
    subs.mkdir()
    for name in HOSTILE_NAMES:
        (subs / f"{name}.py").write_text("k = 661\n")
        (subs / f"dir {name}").mkdir()
        (subs / f"dir {name}" / "hw.py").write_text("k = 661\n")
    (subs / "linked.py").symlink_to(GOOD)
    found, problems = discover([subs])
    ids = [s.student for s in found]
    assert len(ids) == len(set(ids)) >= len(HOSTILE_NAMES)
    for sid in ids:
        assert re.fullmatch(r"[\w.@-]+", sid) and not sid.startswith("."), sid
    assert any(p.path.name == "linked.py" and "symbolic link" in p.reason for p in problems)
    out = tmp_path / "reports"
    rubric = _rubric()
    for sub in found:
        write_student(failed_result(sub, rubric, "not run"), rubric, out)
    written = {p.relative_to(tmp_path) for p in tmp_path.rglob("*") if p.is_file()}
    assert {p for p in written if p.parts[0] not in ("subs", "reports")} == set()
    assert {p.name for p in (out / "students").iterdir()} == \
        {f"{sid}{ext}" for sid in ids for ext in (".json", ".html")}


def test_path_traversal_in_an_archive_stays_in_the_scratch_folder(tmp_path: Path) -> None:
    import zipfile

    archive = tmp_path / "export.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        for member in ("../../escaped.py", "/absolute.py", "bob/../../../up.py",
                       "..\\..\\windows.py", "carol/hw.py"):
            zf.writestr(member, "k = 661\n")
    scratch = tmp_path / "scratch"
    scratch.mkdir()
    found, problems = discover([archive], scratch=scratch)
    inside = {p.relative_to(tmp_path).parts[0] for p in tmp_path.rglob("*")}
    assert inside <= {"export.zip", "scratch"}, inside
    for name in ("escaped.py", "absolute.py", "up.py", "windows.py"):
        assert not (tmp_path.parent / name).exists() and not Path("/", name).exists()
    for sub in found:
        assert sub.path.resolve().is_relative_to(scratch.resolve()), sub.path
        assert re.fullmatch(r"[\w.@-]+", sub.student), sub.student
    assert "carol" in {s.student for s in found}, (found, problems)


@pytest.mark.kernel
def test_nothing_of_one_student_reaches_the_next_in_a_fork_servers_sandbox(tmp_path: Path
                                                                          ) -> None:
    """A student who leaves processes, files and shared memory behind, then the next one."""
    if (problem := _bwrap_problem()) is not None:
        pytest.skip(f"bubblewrap cannot sandbox here ({problem}); CI installs it")
    rubric = _rubric()
    marker = f"hostile-leave-{uuid.uuid4().hex[:12]}"
    subs = []
    for name in ("leave_behind.py", "after_leave_behind.py"):
        (tmp_path / name).write_text(
            (HOSTILE / name).read_text("utf-8").replace("@MARKER@", marker), "utf-8")
        subs.append(Submission(student=name[:-3], path=tmp_path / name))
    isolation = sandbox.resolve("bwrap")
    settings = replace(rubric.execution, cell_timeout=10.0, timeout=30.0)
    server = ForkServer(settings, isolation).start()
    try:
        results = []
        for sub in subs:
            session = KernelSession(settings, isolation=isolation, forkserver=server).start()
            results.append(grade(sub, rubric, settings=settings, isolation=isolation,
                                 session=session))
        first, second = results
        assert server.alive  # the same sandbox served both
    finally:
        server.close()
    assert first.run.errors == (), first.run.errors
    after = {c.answer: c for q in second.questions for c in q.checks}
    assert after["why"].received == "found: []"
    assert after["k"].status == "passed"
    assert _survivors(marker) == []
