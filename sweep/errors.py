"""One exception family for xstilts: every error a user can cause derives from XStiltsError.

The root class lives in ``trainers.errors`` (the lowest layer); it is re-exported here.
"""

from __future__ import annotations

from trainers.errors import (
    CheckpointError,
    DataError,
    PredictionsError,
    StorageError,
    TaskError,
    XStiltsError,
    suggest,
)

__all__ = [
    "CheckpointError",
    "ConfigError",
    "DataError",
    "PredictionsError",
    "ResultsError",
    "StorageError",
    "SweepStateError",
    "TaskError",
    "XStiltsError",
    "suggest",
]


class ConfigError(XStiltsError):
    """A sweep config has one or more problems; ``problems`` lists them all."""

    def __init__(self, problems: list[str], *, source: str | None = None) -> None:
        self.problems = list(problems)
        self.source = source
        where = f" in {source}" if source else ""
        lines = "\n".join(f"  - {p}" for p in self.problems)
        super().__init__(f"{len(self.problems)} problem(s){where}:\n{lines}")


class ResultsError(XStiltsError):
    """A results table or trial journal is missing, damaged, or of an unknown schema version."""


class SweepStateError(XStiltsError):
    """A sweep directory is missing, incomplete, or in use by another driver."""


def check_choice(problems: list[str], key: str, value: str, allowed: tuple[str, ...]) -> None:
    """Append a problem unless ``value`` is one of ``allowed``, with a "did you mean" where one is close."""
    if value not in allowed:
        problems.append(f"{key} is `{value}`{suggest(value, allowed)}; choose one of {', '.join(allowed)}")
