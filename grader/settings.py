"""How a submission runs: the one source of execution defaults for CLI, plugin and rubric."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

SANDBOX_MODES = ("auto", "bwrap", "none", "required")


@dataclass(frozen=True, kw_only=True)
class ExecutionSettings:
    """How a submission runs; the single source of defaults for CLI, plugin and rubric."""

    cell_timeout: float = 60.0
    timeout: float = 600.0
    call_timeout: float = 10.0
    startup_timeout: float = 60.0
    max_output_bytes: int = 2_000_000
    memory_mb: int = 4096  # address space (RLIMIT_AS) of each kernel process
    max_memory_mb: int = 2048  # memory the kernel's processes hold in all, where a cgroup can say
    cpu_seconds: int = 900
    max_processes: int = 128
    max_file_mb: int = 256
    max_disk_mb: int = 512  # the workspace's total, and the size of the sandbox's /tmp
    max_files: int = 10_000  # files and folders a run may create in its workspace
    max_answers_mb: int = 128  # a submission's answers in all, as JSON from the kernel
    sandbox: str = "auto"  # auto | bwrap | none | required
    preload: tuple[str, ...] = ()  # modules a pooled kernel imports ahead of need


DEFAULTS = ExecutionSettings()

# The cyclic collector's thresholds in the grader's own processes (the command, its
# workers): sympy and the checks make objects by the hundred thousand, few of them in
# cycles, and the default young generation (700) was collected every few hundred, a
# tenth of a re-check's time. Kernels keep Python's defaults.
COLLECTOR_THRESHOLDS = (50_000, 10, 10)


def cache_folder() -> Path:
    """Where the grader keeps what it builds for later runs: ``$XDG_CACHE_HOME/grader``.

    ``~/.cache/grader`` when the variable is unset; RuntimeError when there is no home
    folder to be found. Nothing is made here: each user of it makes its own subfolder.
    """
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "grader"
