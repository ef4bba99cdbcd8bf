"""The public API is what ``grader.__all__`` says, no more, no less."""

from __future__ import annotations

import dataclasses
import inspect

import grader

PUBLIC = {
    "grade_submission", "load_rubric", "__version__",
    "ExecutionSettings", "Rubric", "Question",
    "CheckResult", "QuestionResult", "SubmissionResult", "RunLog",
    "GraderError", "RubricError", "ReferenceModuleError", "SubmissionError", "ReleaseError",
}


def test_all_lists_exactly_the_public_names() -> None:
    assert set(grader.__all__) == PUBLIC
    assert len(grader.__all__) == len(set(grader.__all__))
    assert grader.__all__ == sorted(grader.__all__, key=lambda n: (n.islower(), n))


def test_every_exported_name_exists_and_nothing_private_is_exported() -> None:
    for name in grader.__all__:
        assert hasattr(grader, name), name
        assert name == "__version__" or not name.startswith("_"), name
        member = getattr(grader, name)
        if inspect.isclass(member) or inspect.isfunction(member):
            assert member.__module__.startswith("grader."), name
            assert inspect.getdoc(member), f"{name} has no docstring"


def test_the_exceptions_share_one_root() -> None:
    for name in grader.__all__:
        member = getattr(grader, name)
        if inspect.isclass(member) and issubclass(member, Exception):
            assert issubclass(member, grader.GraderError), name


def test_results_and_settings_are_frozen_plain_data() -> None:
    for cls in (grader.CheckResult, grader.QuestionResult, grader.SubmissionResult,
                grader.RunLog, grader.ExecutionSettings):
        assert dataclasses.is_dataclass(cls)
        assert cls.__dataclass_params__.frozen, cls.__name__  # type: ignore[attr-defined]


def test_the_version_is_the_installed_distributions() -> None:
    from importlib.metadata import version

    assert grader.__version__ == version("grader")
