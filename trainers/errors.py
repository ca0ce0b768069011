"""The root of xstilts' exception family, and the errors the trainer layer raises.

The root lives here, in the lowest layer, so that ``trainers`` never imports ``sweep``;
``sweep.errors`` re-exports it and adds the orchestration errors.
"""

from __future__ import annotations


class XStiltsError(Exception):
    """Base class of every error xstilts raises on purpose."""


class TaskError(XStiltsError):
    """An unknown task or language, or a task asked for something it does not have."""


class DataError(XStiltsError):
    """A data file is missing, unreadable, or lacks the fields a task reads."""


class CheckpointError(XStiltsError):
    """A checkpoint cannot be found or read."""
