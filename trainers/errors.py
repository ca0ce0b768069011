"""The root of xstilts' exception family, the errors the trainer layer raises, and the "did you mean"
hint every error message about a misspelt name uses.

The root lives here, in the lowest layer, so that ``trainers`` never imports ``sweep``;
``sweep.errors`` re-exports it and adds the orchestration errors.
"""

from __future__ import annotations

import difflib


class XStiltsError(Exception):
    """Base class of every error xstilts raises on purpose."""


class TaskError(XStiltsError):
    """An unknown task or language, or a task asked for something it does not have."""


class DataError(XStiltsError):
    """A data file is missing, unreadable, or lacks the fields a task reads."""


class CheckpointError(XStiltsError):
    """A checkpoint cannot be found or read."""


class ModelError(XStiltsError):
    """A model cannot be built or loaded: no config, a tokenizer it cannot pad with, a head its family lacks."""


class StorageError(XStiltsError):
    """Shared storage cannot be used: a location no file system opens (an unknown URI scheme, a URI without its
    bucket), or a request to it that failed for good."""


class PredictionsError(XStiltsError):
    """A predictions file does not fit the task's gold data or the layout the benchmark reads."""


def suggest(word: str, choices: object) -> str:
    """Return "; did you mean `x`?" for the closest of ``choices``, or "" when nothing is close."""
    close = difflib.get_close_matches(str(word), [str(c) for c in choices], n=1, cutoff=0.6)  # type: ignore[union-attr]
    return f"; did you mean `{close[0]}`?" if close else ""
