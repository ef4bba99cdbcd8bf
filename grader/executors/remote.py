"""One submission graded in a process of its own, from plain data: a cluster's task.

The coordinator packs the rubric, its reference (:func:`bundle`) and a submission's files
(:func:`payload`) as text; on the worker machine ``python -m grader.executors.remote``
reads them from stdin, grades in its main thread with a hard deadline and nothing left
behind, and writes the result's JSON to stdout (:func:`serve_one`).
"""

from __future__ import annotations

import base64
import json
import os
import signal
import sys
import tempfile
from dataclasses import replace
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any

from grader.errors import GraderError
from grader.executors.protocol import Task
from grader.executors.worker import Worker, die_with_parent, settings_from
from grader.kernel.oom import protect_from_oom

if TYPE_CHECKING:
    from grader.rubric import Rubric

COMMAND = ("-m", "grader.executors.remote")  # after the Python that runs it


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
            "files": files}


def serve_one(stream: IO[bytes]) -> str:
    """Grade the request read from ``stream``: what ``python -m grader.executors.remote`` does."""
    die_with_parent(signal.SIGKILL)
    protect_from_oom()
    request = json.loads(stream.read().decode("utf-8"))
    packed, files = request["bundle"], request["payload"]
    settings = settings_from(request["settings"])
    from grader.kernel import sandbox
    from grader.rubric import load_rubric
    from grader.submission import Submission

    with tempfile.TemporaryDirectory(prefix="grader-task-") as tmp:
        root = Path(tmp)
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
        student = root / "submission"
        student.mkdir()
        for rel, data in files["files"].items():
            target = (student / rel).resolve()
            if not target.is_relative_to(student.resolve()):
                raise GraderError(f"unsafe file name in the task: {rel!r}")
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(base64.b64decode(data))
        sub = Submission(student=files["student"], path=student / files["main"],
                         folder=student if files["folder"] else None)
        isolation = sandbox.resolve(settings.sandbox)
        worker = Worker(rubric, settings, isolation, warm=0)
        try:
            return worker.grade(Task.of(sub, prefetch=False))
        finally:
            worker.close()


if __name__ == "__main__":
    # ``python -m grader.executors.remote``: grade the one request on stdin.
    sys.stdout.write(serve_one(sys.stdin.buffer))
    sys.stdout.flush()
    # Kernels are closed; leave without waiting for anything else.
    os._exit(0)
