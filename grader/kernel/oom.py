"""Keep the grader's own processes out of the OOM killer's way: a student's kernel goes first.

Under memory pressure Linux kills the process with the highest ``oom_score``, which
counts memory and then adds ``/proc/<pid>/oom_score_adj`` (-1000 to 1000). A grader
worker holds more memory than a small kernel, so without a hint it is the one chosen,
and the batch loses a worker for a student's memory hog. The grader's processes take
the lowest score they may (:func:`protect_from_oom`); the kernels take 1000
(``grader.kernel.sandbox``).
"""

from __future__ import annotations

from pathlib import Path

LOWEST = -1000  # the OOM killer never chooses a process at this score
_ADJ = Path("/proc/self/oom_score_adj")


def protect_from_oom() -> int | None:
    """Lower this process's ``oom_score_adj`` as far as it may; return the value it now has.

    Root (``CAP_SYS_RESOURCE``) reaches -1000. Any other process may only go down to the
    lowest value a privileged process set for it (where a service manager started it, or
    0), and may raise its score freely: then it keeps the lowest it may have, found by
    bisection, since Linux takes a value exactly when it is not below that floor. Children
    inherit the value across fork and exec. None where the file is missing (not Linux);
    never raises: a grader that may not lower its score grades all the same.
    """
    try:
        current = int(_ADJ.read_text())
    except (OSError, ValueError):
        return None
    if current <= LOWEST or _write(LOWEST):
        return LOWEST
    refused, allowed = LOWEST, current  # keeping the current value is always allowed
    while allowed - refused > 1:
        middle = (refused + allowed) // 2
        if _write(middle):
            allowed = middle
        else:
            refused = middle
    return allowed


def _write(value: int) -> bool:
    try:
        _ADJ.write_text(str(value))
    except OSError:  # EACCES below the floor; EROFS or EPERM in some containers
        return False
    return True
