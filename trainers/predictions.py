"""Prediction files in the XTREME submission layout, one file per task and language.

Classification: one label name per line (``.tsv``); multiple choice: one choice index per line
(``.tsv``); QA: a JSON object of question id to answer text (``.json``); tagging: one tag per line,
a blank line between sentences (``.tsv``). ``sweep score`` reads the same layout back.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

SUFFIX = {"classification": "tsv", "multiple_choice": "tsv", "qa": "json", "tagging": "tsv"}


def file_name(task: Any, language: str, *, split: str = "test") -> str:
    """``test-de.tsv`` and the like, as XTREME names submission files."""
    return f"{split}-{language}.{SUFFIX[task.kind]}"


def render(task: Any, examples: Sequence[Any], predictions: Any) -> str:
    """The text of one prediction file for ``examples`` in file order."""
    if task.kind == "classification":
        return "".join(f"{task.labels[p]}\n" for p in predictions)
    if task.kind == "multiple_choice":
        return "".join(f"{p}\n" for p in predictions)
    if task.kind == "qa":
        return json.dumps({e.id: predictions.get(e.id, "") for e in examples}, ensure_ascii=False, indent=0) + "\n"
    if task.kind == "tagging":
        return "\n".join("".join(f"{task.labels[t]}\n" for t in sentence) for sentence in predictions)
    raise ValueError(f"kind {task.kind!r} has no prediction file layout")


def write(folder: Path, task: Any, language: str, examples: Sequence[Any], predictions: Any) -> Path:
    """Write one language's prediction file under ``folder`` and return its path."""
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / file_name(task, language)
    path.write_text(render(task, examples, predictions), encoding="utf-8")
    return path
