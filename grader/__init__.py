"""grader: grade notebook and module homework in Jupyter kernels, with HTML feedback.

What users import is here: the facade :func:`grade_submission`, :func:`load_rubric` and
what it returns, the execution settings, the result classes (plain data) and the
exceptions (all under :class:`GraderError`). Everything else is the package's own and
may change between versions.
"""

from __future__ import annotations

from grader.errors import (
    GraderError,
    ReferenceModuleError,
    ReleaseError,
    RubricError,
    SubmissionError,
)
from grader.grade import grade_submission
from grader.results import CheckResult, QuestionResult, RunLog, SubmissionResult
from grader.rubric import Question, Rubric, load_rubric
from grader.settings import ExecutionSettings
from grader.version import __version__

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
