"""A trial's run as the trackers show it: its tags, and its metrics under names a person can read."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

from sweep.plan.searches import Search
from trainers.spec import LAYER_MARK, OBJECTIVE, TASK_MARK

#: Result keys that are scores but not ``split/language/metric``: what each is shown as.
_NAMED = {OBJECTIVE: "objective", "lr": "train/lr"}


@dataclass(frozen=True, kw_only=True)
class TrialInfo:
    """One trial as the trackers know it: whose search it is, its values, its seed and its attempt."""

    sweep: str
    search: Search
    trial_id: str
    model: str
    seed: int
    attempt: int = 0
    hp: dict[str, Any] = field(default_factory=dict)

    def tags(self) -> dict[str, str]:
        """The run's tags: the search and pair, the tasks, regime, model, seed and attempt."""
        return {
            **search_tags(self.search, sweep=self.sweep, model=self.model),
            "trial_id": self.trial_id,
            "seed": str(self.seed),
            "attempt": str(self.attempt),
        }


def search_tags(search: Search, *, sweep: str, model: str) -> dict[str, str]:
    """The tags of ``search`` (a trial's run carries them too)."""
    return {
        "sweep": sweep,
        "search": search.id,
        "pair": search.pair,
        "phase": search.phase,
        "intermediate": search.intermediate,
        "target": search.target or "-",
        "regime": search.regime if search.target else "-",
        "model": model,
    }


def metric_name(key: str) -> str | None:
    """The readable name of a reported key, or None for what is no score.

    ``dev/de/accuracy`` stays; a mixture's ``mnli:dev/en/accuracy`` becomes ``mnli/dev/en/accuracy``; a
    retrieval score at another layer, ``7#test/de/accuracy``, becomes ``test/de/accuracy_layer7``;
    ``objective`` stays and ``lr`` is ``train/lr``. The names use only letters, digits, ``_ - . /``, which
    every tracker accepts.
    """
    if key in _NAMED:
        return _NAMED[key]
    if key.count("/") != 2:
        return None
    split, language, metric = key.split("/")
    task, _, split = split.rpartition(TASK_MARK)
    layer, _, split = split.rpartition(LAYER_MARK)
    name = f"{split}/{language}/{metric}" + (f"_layer{layer}" if layer else "")
    return f"{task}/{name}" if task else name


def metrics_of(result: dict[str, Any]) -> dict[str, float]:
    """The scores of one reported result, by readable name (NaN and non-numbers left out)."""
    out = {}
    for key, value in result.items():
        name = metric_name(key)
        if name is None or isinstance(value, bool) or not isinstance(value, (int, float)):
            continue
        if math.isfinite(value):
            out[name] = float(value)
    return out
