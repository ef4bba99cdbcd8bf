"""Write a file atomically: a reader sees the old file or the new one, never half of it.

Every file the grader writes for people (pages, JSON results, CSV tables, exports, the
release bundle) goes through :func:`atomic_write`, so a crash or an interrupted batch
never leaves a half-written file behind.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path


def atomic_write(path: Path, text: str) -> None:
    """Write ``text`` to ``path`` (UTF-8, newlines as given) through a temporary file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    # Not named after the file: a name already near the file system's limit has no room.
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".grader-", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="") as fh:
            fh.write(text)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
