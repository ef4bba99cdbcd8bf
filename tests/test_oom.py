"""The grader's processes take the lowest OOM score they may, and never fail when they may not."""

from __future__ import annotations

import errno
import os
import subprocess
import sys
from pathlib import Path

import pytest

from grader.kernel import oom

ROOT = Path(__file__).resolve().parents[1]
# In a fresh process: raise the score, protect, and try one lower than what it got.
PROBE = """
from pathlib import Path
from grader.kernel.oom import protect_from_oom
path = Path("/proc/self/oom_score_adj")
start = int(path.read_text())
path.write_text(str(min(start + 500, 1000)))
got = protect_from_oom()
now = int(path.read_text())
try:
    path.write_text(str(got - 1))  # closed at once: a refusal comes with the write
    lower = True
except OSError:
    lower = False
print(start, got, now, lower)
"""
needs_proc = pytest.mark.skipif(not Path("/proc/self/oom_score_adj").exists(),
                                reason="no /proc/self/oom_score_adj (not Linux)")


def _may_lower_scores() -> bool:
    """Whether this process has CAP_SYS_RESOURCE, which -1000 needs (root may not)."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("CapEff:"):
            return bool(int(line.split()[1], 16) >> 24 & 1)
    return False


class _Adj:
    """A stand-in for ``/proc/self/oom_score_adj``: no value below ``floor``, as Linux rules."""

    def __init__(self, value: int, floor: int, error: OSError | None = None) -> None:
        self.value = value
        self.floor = floor
        self.error = error
        self.writes: list[int] = []

    def read_text(self) -> str:
        return f"{self.value}\n"

    def write_text(self, text: str) -> int:
        if self.error is not None:
            raise self.error
        value = int(text)
        self.writes.append(value)
        if value < self.floor:
            raise PermissionError(errno.EACCES, "Permission denied")
        self.value = value
        return len(text)


@pytest.mark.parametrize(("value", "floor", "expected"), [
    (0, -1000, -1000),  # privileged
    (0, 0, 0),  # an ordinary process: keeps its score
    (700, 300, 300),  # raised itself once: may go back down to what it was given
    (500, -17, -17),
    (1000, 1000, 1000),
    (-1000, -1000, -1000),
])
def test_the_lowest_score_allowed_is_taken(monkeypatch: pytest.MonkeyPatch, value: int,
                                           floor: int, expected: int) -> None:
    adj = _Adj(value, floor)
    monkeypatch.setattr(oom, "_ADJ", adj)
    assert oom.protect_from_oom() == expected == adj.value
    assert len(adj.writes) <= 12  # -1000 first, then bisection


def test_a_score_that_cannot_be_written_or_read_is_no_error(monkeypatch: pytest.MonkeyPatch,
                                                           tmp_path: Path) -> None:
    adj = _Adj(0, -1000, error=OSError(errno.EROFS, "Read-only file system"))
    monkeypatch.setattr(oom, "_ADJ", adj)
    assert oom.protect_from_oom() == 0 and adj.value == 0
    monkeypatch.setattr(oom, "_ADJ", tmp_path / "missing")
    assert oom.protect_from_oom() is None


def _as_nobody() -> None:
    os.setgroups([])
    os.setgid(65534)
    os.setuid(65534)


@needs_proc
@pytest.mark.parametrize("user", ["this one", "nobody"])
def test_a_process_takes_the_lowest_score_it_may(user: str) -> None:
    if user == "nobody" and os.geteuid() != 0:
        pytest.skip("only root may become nobody")
    try:
        done = subprocess.run([sys.executable, "-c", PROBE], capture_output=True, text=True,
                              cwd=ROOT, check=False,
                              preexec_fn=_as_nobody if user == "nobody" else None)
    except PermissionError:  # CI's .ci/run opens the clone's folders to other users first
        pytest.skip(f"nobody may not run {sys.executable} (it is in a private folder)")
    assert done.returncode == 0, done.stderr
    before, got, now, lower = done.stdout.split()
    assert int(got) == int(now) <= int(before)
    assert got == "-1000" or lower == "False"  # nothing lower was allowed
    if user == "this one" and _may_lower_scores():
        assert got == "-1000"
