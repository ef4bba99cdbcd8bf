"""Where a grading's time goes: its phases, timed on request and printed as a breakdown.

``grader grade --timings`` and the pytest plugin's ``--grader-timings`` switch the clock
on (:func:`start`); the code that grades marks its phases (:func:`phase`, :func:`add`)
whether or not it is on, at the cost of one global lookup when it is off. What is timed
stays in this process, beside the results and never in them: a result's JSON is the
same with the clock on or off. Phases timed in other processes (the workers of a batch
with ``-j`` above 1) are not collected; one submission, or ``-j 1``, is graded here.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

# The phases of one grading, in the order they happen, and what each one covers.
PHASES: dict[str, str] = {
    "start-up": "from the process's start to the kernel asked for",
    "kernel ready": "starting the kernel (preload included), in the background",
    "kernel wait": "how long the grading waited for that kernel",
    "cells": "the submission's code cells, in the kernel",
    "harvest": "the answers and the function checks' calls, in one request to the kernel",
    "checks": "comparing the answers with the rubric's",
    "reports": "the gradebook row, the student's page, grades.csv and the summary",
    "total": "from the process's start to the end of the command",
}


@dataclass(kw_only=True)
class Clock:
    """Seconds per phase, summed over the submissions graded in this process."""

    origin: float  # time.monotonic() at the process's start
    seconds: dict[str, float] = field(default_factory=dict)
    counts: dict[str, int] = field(default_factory=dict)
    ends: dict[str, float] = field(default_factory=dict)  # the latest end, since origin
    # The thread that starts a warm kernel adds its phase while the grading adds others.
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False, compare=False)

    def add(self, name: str, seconds: float, *, end: float | None = None) -> None:
        """Count ``seconds`` of phase ``name``, which ended at ``end`` (default: now)."""
        ended = (time.monotonic() if end is None else end) - self.origin
        with self._lock:
            self.seconds[name] = self.seconds.get(name, 0.0) + seconds
            self.counts[name] = self.counts.get(name, 0) + 1
            self.ends[name] = ended

    def lines(self) -> list[str]:
        """The breakdown: each phase timed, its seconds and when it last ended."""
        with self._lock:
            seconds, counts, ends = dict(self.seconds), dict(self.counts), dict(self.ends)
        out = ["timings (seconds; 'at' is since the process started):"]
        for name in [*PHASES, *sorted(set(seconds) - set(PHASES))]:
            if name not in seconds:
                continue
            times = f" x{counts[name]}" if counts[name] > 1 else ""
            out.append(f"  {name:<13}{seconds[name]:7.3f}  at {ends[name]:6.3f}"
                       f"{times}  {PHASES.get(name, '')}".rstrip())
        return out


_CLOCK: Clock | None = None


def process_start() -> float:
    """When this process started, on the ``time.monotonic()`` clock (Linux; else now)."""
    try:
        with open("/proc/self/stat", encoding="ascii") as fh:
            ticks = int(fh.read().rsplit(")", 1)[1].split()[19])
        with open("/proc/uptime", encoding="ascii") as fh:
            uptime = float(fh.read().split()[0])
    except (OSError, ValueError, IndexError):
        return time.monotonic()
    # Both clocks count from boot (CLOCK_BOOTTIME and CLOCK_MONOTONIC differ only by
    # time suspended): the offset since this process started is what is wanted.
    return time.monotonic() - (uptime - ticks / os.sysconf("SC_CLK_TCK"))


def start() -> Clock:
    """Switch the clock on for the rest of this process; phases before now are not timed."""
    global _CLOCK
    if _CLOCK is None:
        _CLOCK = Clock(origin=process_start())
    return _CLOCK


def stop() -> Clock | None:
    """Switch the clock off; the clock that ran, if any."""
    global _CLOCK
    clock, _CLOCK = _CLOCK, None
    return clock


def running() -> Clock | None:
    """The clock when it is on."""
    return _CLOCK


def add(name: str, since: float) -> None:
    """Count a phase ``name`` that began at ``since`` (``time.monotonic()``) and ends now."""
    clock = _CLOCK
    if clock is not None:
        clock.add(name, time.monotonic() - since)


def since_start(name: str) -> None:
    """Count a phase ``name`` from the process's start to now (start-up, total)."""
    clock = _CLOCK
    if clock is not None:
        clock.add(name, time.monotonic() - clock.origin)


@contextmanager
def phase(name: str) -> Iterator[None]:
    """Time the block as phase ``name`` (a no-op while the clock is off)."""
    began = time.monotonic()
    try:
        yield
    finally:
        add(name, began)


def lines() -> list[str]:
    """The breakdown of the running clock (nothing when it is off)."""
    clock = _CLOCK
    return clock.lines() if clock is not None else []
