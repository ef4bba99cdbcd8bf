"""grader: grade notebook and module homework in Jupyter kernels, with HTML feedback."""

from __future__ import annotations

from grader.errors import GraderError
from grader.grade import grade_submission
from grader.results import CheckResult, QuestionResult, SubmissionResult
from grader.rubric import Rubric, load_rubric
from grader.version import __version__

__all__ = [
    "CheckResult",
    "GraderError",
    "QuestionResult",
    "Rubric",
    "SubmissionResult",
    "__version__",
    "grade_submission",
    "load_rubric",
]
