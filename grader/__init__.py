"""grader: grade notebook and module homework in Jupyter kernels, with HTML feedback.

What users import is here: the facade :func:`grade_submission`, :func:`load_rubric` and
what it returns, the execution settings, the result classes (plain data) and the
exceptions (all under :class:`GraderError`). Everything else is the package's own and
may change between versions. The exceptions and the version are imported with the
package, the rest when first used.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from grader.errors import (
    GraderError,
    ReferenceModuleError,
    ReleaseError,
    RubricError,
    SubmissionError,
)
from grader.version import __version__

if TYPE_CHECKING:
    from grader.grade import grade_submission
    from grader.results import CheckResult, QuestionResult, RunLog, SubmissionResult
    from grader.rubric import Question, Rubric, load_rubric
    from grader.settings import ExecutionSettings

# The other public names, imported on first use: every ``import grader.<module>`` runs
# this file, and importing the grading engine here cost each command, and every pytest
# run where the plugin is installed, a tenth of a second before it could do anything.
_LAZY = {
    "grade_submission": "grader.grade",
    "CheckResult": "grader.results",
    "QuestionResult": "grader.results",
    "RunLog": "grader.results",
    "SubmissionResult": "grader.results",
    "Question": "grader.rubric",
    "Rubric": "grader.rubric",
    "load_rubric": "grader.rubric",
    "ExecutionSettings": "grader.settings",
}


def __getattr__(name: str) -> Any:
    """A public name of :data:`_LAZY`, imported from its module the first time it is used."""
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'grader' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value

__all__ = [
    "CheckResult",
    "ExecutionSettings",
    "GraderError",
    "Question",
    "QuestionResult",
    "ReferenceModuleError",
    "ReleaseError",
    "Rubric",
    "RubricError",
    "RunLog",
    "SubmissionError",
    "SubmissionResult",
    "__version__",
    "grade_submission",
    "load_rubric",
]
