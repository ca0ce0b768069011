"""What `sweep tasks`, `sweep data inspect` and `sweep score` show: tasks, converted examples, scores.

``sweep score`` reads one language's predictions file in the layout the benchmark's own ``evaluate.py``
reads (``trainers.predictions`` describes each task's) and scores it with the scorer the sweeps use
(``trainers.scoring.score``), so an exported file scores exactly as in the results table.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

from sweep.errors import PredictionsError
from trainers.data import load_examples, resolve_labels, resolve_role
from trainers.languages import get_language
from trainers.predictions import read as read_predictions
from trainers.release import bucc_split
from trainers.scoring import score
from trainers.tasks import REGISTERED_MIXTURES, TASKS, get_task


def task_rows() -> list[dict[str, Any]]:
    """One row per registered task."""
    return [
        {
            "task": t.name,
            "kind": t.kind,
            "benchmark": t.benchmark,
            "metric": t.metric,
            "languages": len(t.languages),
            "trains_on": _trains_on(t) or "itself",
            "description": t.description,
        }
        for t in TASKS.values()
    ] + [
        {
            "task": m.name,
            "kind": "mixture",
            "benchmark": "intermediate",
            "metric": f"select: {m.select}",
            "languages": 1,
            "trains_on": "+".join(m.sources),
            "description": m.description,
        }
        for m in REGISTERED_MIXTURES.values()
    ]


def task_detail(name: str) -> dict[str, Any]:
    """Everything the registry knows of one task, with its languages' metadata; a registered mixture's
    sources as it trains them (``sources`` then lists each source's task, languages and head)."""
    if name in REGISTERED_MIXTURES:
        return _mixture_detail(name)
    task = get_task(name)
    return {
        "task": task.name,
        "kind": task.kind,
        "benchmark": task.benchmark,
        "metric": task.metric,
        "scorer": task.scorer,
        "labels": list(task.labels),
        "trains_on": _trains_on(task) or task.name,
        "test_is_validation": task.test_is_validation,
        "description": task.description,
        "languages": [dataclasses.asdict(get_language(code)) for code in task.languages],
        "sources": [_source(s) for s in task.sources],
    }


def _mixture_detail(name: str) -> dict[str, Any]:
    from types import SimpleNamespace

    from sweep.config.mixtures import describe, mixture_spec

    mixture = REGISTERED_MIXTURES[name]
    spec = mixture_spec(SimpleNamespace(mixtures={}), name)  # type: ignore[arg-type]
    return {
        "task": name,
        "kind": "mixture",
        "trains": describe(spec),
        "sampling": spec.sampling,
        "select": spec.select,
        "description": mixture.description,
        "languages": [],
        "sources": [
            {"task": s.task, "languages": "+".join(s.languages), "trains_on": s.train_task, "head": s.head}
            for s in spec.sources
        ],
    }


def _trains_on(task: Any) -> str | None:
    return "- (evaluated after phase one)" if task.kind == "retrieval" else task.train_task


def _source(source: Any) -> dict[str, Any]:
    if source.files:  # release files under data_dir, no hub copy
        return {"files": list(source.files), "splits": source.splits, "obtain": source.obtain}
    return {"hub": source.hub, "config": source.config, "mirror": source.mirror, "splits": source.splits}


def inspect_rows(name: str, *, language: str, role: str, data_dir: Path | None, limit: int) -> tuple[int, list[dict]]:
    """The number of examples in a split and the first ``limit`` of them, as converted."""
    task = get_task(name)
    examples = load_examples(task, language=language, role=resolve_role(task, role), data_dir=data_dir)
    return len(examples), [_show(e) for e in examples[:limit]]


def score_file(name: str, *, language: str, predictions: Path, role: str, data_dir: Path | None) -> dict[str, float]:
    """Score one language's predictions file (the layout ``evaluate.py`` reads) against the task's gold labels."""
    task = resolve_labels(get_task(name), data_dir=data_dir)
    role = resolve_role(task, role)
    if not predictions.is_file():
        raise PredictionsError(
            f"predictions file {predictions} does not exist; write one with `sweep export-predictions SWEEP_DIR "
            "--out DIR`, or give the path of a file in the layout evaluate.py reads"
        )
    gold = load_examples(task, language=language, role=role, data_dir=data_dir)
    corpora = None
    if task.scorer == "bucc":
        split = bucc_split(task, language=language, role=role, data_dir=data_dir)
        corpora = (split.src_ids, split.trg_ids)
    predicted = read_predictions(task, predictions, gold, language=language, corpora=corpora)
    try:
        return score(task, gold, predicted, language=language)
    except ValueError as exc:  # the scorers say what shape they expected
        raise PredictionsError(f"{predictions}: {exc}") from exc


def _show(example: Any) -> dict[str, Any]:
    row = dataclasses.asdict(example)
    return {k: (v if not isinstance(v, str) or len(v) < 120 else v[:117] + "...") for k, v in row.items()}
