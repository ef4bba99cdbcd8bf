"""A long-lived grading process on a cluster's worker, fed submissions as plain data.

The coordinator packs the rubric, its reference (:func:`bundle`) and each submission's
files (:func:`payload`) as text. On a worker machine ``python -m grader.executors.remote``
(:func:`serve`) reads one JSON line that sets it up (the bundle and the execution
settings), then one line per submission, and answers each with one line: the result's
JSON, as :meth:`grader.executors.worker.Worker.grade` writes it for the local executor.
It grades with the same :class:`~grader.executors.worker.Worker` as a local worker
process: in its main thread, each student's kernel forked fresh from a fork server that
stays warm across submissions, in a sandbox, under the same limits. Each submission's
files are unpacked into a folder of their own and removed after it is graded. The
process leaves, removing what it made, when its input closes, after ``IDLE_EXIT``
seconds without a request, or on SIGTERM, which its parent's death sends.
"""

from __future__ import annotations

import base64
import contextlib
import gc
import json
import os
import select
import shutil
import signal
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any

from grader.errors import GraderError
from grader.executors.protocol import Task
from grader.executors.worker import Worker, die_with_parent, settings_from, warm_checks
from grader.kernel.oom import protect_from_oom
from grader.settings import COLLECTOR_THRESHOLDS

if TYPE_CHECKING:
    from grader.rubric import Rubric

COMMAND = ("-m", "grader.executors.remote")  # after the Python that runs it
# Seconds a grading process waits for its next submission before it leaves: a worker
# whose batch is over gives back the fork server's memory on its own.
IDLE_EXIT = 600.0


def bundle(rubric: Rubric) -> dict[str, Any]:
    """The rubric and its reference as text, for a worker that has neither file."""
    reference = rubric.reference_path
    return {
        "rubric_path": str(rubric.path),
        "rubric": Path(rubric.path).read_bytes().decode("utf-8"),
        "digest": rubric.digest,
        "reference_name": None if reference is None else Path(reference).name,
        "reference": None if reference is None else Path(reference).read_text("utf-8"),
    }


def payload(task: Task) -> dict[str, Any]:
    """A submission's files as plain data (base64), relative to its folder."""
    files: dict[str, str] = {}
    if task.folder is None:
        path = Path(task.path)
        files[path.name] = base64.b64encode(path.read_bytes()).decode("ascii")
        main = path.name
    else:
        folder = Path(task.folder)
        for p in sorted(folder.rglob("*")):
            # A link would point at nothing on another machine; the local copy keeps it
            # as a link to what the sandbox hides, so leaving it out changes nothing.
            if p.is_file() and not p.is_symlink():
                files[p.relative_to(folder).as_posix()] = \
                    base64.b64encode(p.read_bytes()).decode("ascii")
        main = Path(task.path).relative_to(folder).as_posix()
    return {"student": task.student, "main": main, "folder": task.folder is not None,
            "questions": list(task.questions), "files": files}


def unpack_rubric(packed: dict[str, Any], root: Path) -> Rubric:
    """The TA's rubric back from :func:`bundle`, its files written under ``root``."""
    from grader.rubric import load_rubric

    (root / "rubric").mkdir()
    rubric_file = root / "rubric" / Path(packed["rubric_path"]).name
    rubric_file.write_text(packed["rubric"], "utf-8")
    rubric = load_rubric(rubric_file, check_reference=False)
    reference = None
    if packed["reference"] is not None:
        reference = root / "rubric" / "reference" / packed["reference_name"]
        reference.parent.mkdir()
        reference.write_text(packed["reference"], "utf-8")
    # The same rubric as the TA's: its digest, and its path as results name it.
    rubric = replace(rubric, path=Path(packed["rubric_path"]), reference_path=reference)
    if rubric.digest != packed["digest"]:
        raise GraderError("the rubric arrived changed")
    return rubric


def unpack_submission(files: dict[str, Any], folder: Path) -> Task:
    """The task of grading :func:`payload`'s files, written into the empty ``folder``."""
    for rel, data in files["files"].items():
        target = (folder / rel).resolve()
        if not target.is_relative_to(folder.resolve()):
            raise GraderError(f"unsafe file name in the task: {rel!r}")
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(base64.b64decode(data))
    return Task(student=files["student"], path=str(folder / files["main"]),
                folder=str(folder) if files["folder"] else None,
                questions=tuple(str(q) for q in files.get("questions", ())))


class Lines:
    """Lines read from a pipe's file descriptor, each waited for at most a given time.

    Unbuffered by Python: a buffered stream may hold the next line already read from the
    pipe, where ``select`` cannot see it.
    """

    def __init__(self, fd: int) -> None:
        self.fd = fd
        self._pending = b""

    def next(self, limit: float) -> bytes | None:
        """The next line: b"" when the pipe closed, None when none came in ``limit`` s."""
        deadline = time.monotonic() + limit
        while b"\n" not in self._pending:
            left = deadline - time.monotonic()
            if left <= 0 or not select.select([self.fd], [], [], left)[0]:
                return None
            chunk = os.read(self.fd, 1 << 20)
            if not chunk:
                return b""
            self._pending += chunk
        line, _, self._pending = self._pending.partition(b"\n")
        return line + b"\n"


def _request(lines: Lines, idle: float) -> dict[str, Any] | None:
    """The next request, or None when the input closed or none came for ``idle`` s."""
    line = lines.next(idle)
    if not line or not line.strip():
        return None
    request: dict[str, Any] = json.loads(line.decode("utf-8"))
    return request


def serve(requests: IO[bytes], replies: IO[bytes], *, idle: float = IDLE_EXIT) -> None:
    """Grade each submission read from ``requests``; write each result as a line to ``replies``.

    The first line is the setup (``bundle`` and ``settings``); every later line a
    :func:`payload`. A submission the worker cannot unpack is answered with ``error``.
    """
    from grader.kernel import sandbox

    lines = Lines(requests.fileno())
    setup = _request(lines, idle)
    if setup is None:
        return
    settings = settings_from(setup["settings"])
    with tempfile.TemporaryDirectory(prefix="grader-remote-") as tmp:
        root = Path(tmp)
        rubric = unpack_rubric(setup["bundle"], root)
        # The fork server starts now, in the background, while the first submission is
        # on its way; it then serves every student this process grades.
        worker = Worker(rubric, settings, sandbox.resolve(settings.sandbox), warm=1)
        try:
            # Meanwhile the reference and the check kinds' modules are imported here, off
            # the first submission's time. One that fails to import fails each grading
            # with its own message, as it would locally.
            with contextlib.suppress(Exception):
                rubric.load_reference()
                warm_checks()
            count = 0
            while (files := _request(lines, idle)) is not None:
                count += 1
                folder = root / f"submission-{count}"
                folder.mkdir()
                try:
                    line = worker.grade(unpack_submission(files, folder)).encode("utf-8")
                except GraderError as exc:
                    line = json.dumps({"error": str(exc)}).encode("ascii")
                except Exception as exc:
                    # One submission that trips the grader fails alone: this process
                    # grades the others of the batch, on the same warm fork server.
                    line = json.dumps({"error": f"the grader failed on this submission "
                                                f"({type(exc).__name__}: {exc})"}).encode("ascii")
                finally:
                    shutil.rmtree(folder, ignore_errors=True)
                replies.write(line + b"\n")
                replies.flush()
        finally:
            worker.close()


def _exit_on_sigterm(signum: int, frame: Any) -> None:
    # SystemExit unwinds serve(): the kernel in use, the fork server and the unpacked
    # files are closed and removed on the way out.
    raise SystemExit(128 + signum)


def main() -> int:
    """``python -m grader.executors.remote``: serve the requests on stdin until it closes."""
    # The worker that started this process, dying, sends SIGTERM: it leaves as cleanly as
    # when its input closes. A task past its deadline also sends SIGKILL a little later.
    signal.signal(signal.SIGTERM, _exit_on_sigterm)
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    die_with_parent(signal.SIGTERM)
    protect_from_oom()
    gc.set_threshold(*COLLECTOR_THRESHOLDS)
    # Replies go to a private copy of stdout; whatever else writes to fd 1 (a library's
    # print) goes to stderr and cannot break a reply line.
    replies = os.fdopen(os.dup(sys.stdout.fileno()), "wb")
    os.dup2(sys.stderr.fileno(), sys.stdout.fileno())
    try:
        serve(sys.stdin.buffer, replies)
    except BrokenPipeError:
        pass
    except SystemExit as exc:
        return int(exc.code or 0)
    return 0


if __name__ == "__main__":
    # Kernels are closed; leave without waiting for anything else.
    os._exit(main())
