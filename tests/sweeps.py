"""Sweep folders written by hand for the analysis tests: a manifest, a config and results files in the layout
a real sweep has, with scores chosen so that every expected number can be checked by hand.

``SweepWriter(tmp_path / "s1", name="s1").trial(...)`` writes one attempt's rows; ``.finish()`` writes the
manifest and config. Defaults: model ``m``, regime ``zero_shot``, seed 0.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import yaml

from sweep.plan.searches import SEEDS_SUFFIX
from sweep.storage.results import ResultsStore

T0 = 1_800_000_000.0  # a fixed time, so files are byte-for-byte reproducible


class SweepWriter:
    """Writes one synthetic sweep folder."""

    def __init__(
        self,
        root: Path,
        *,
        name: str,
        hp_types: Mapping[str, str] | None = None,
        intermediate_tasks: Sequence[str] = ("mnli",),
        mixtures: Mapping[str, Any] | None = None,
        gpus_per_trial: float = 0.0,
    ) -> None:
        self.root, self.name = Path(root), name
        self.hp_types = dict(hp_types or {"lr": "float"})
        self.store = ResultsStore(self.root / "results", sweep=name, hp_types=self.hp_types)
        self.searches: dict[str, dict[str, Any]] = {}
        self.intermediate_tasks = list(intermediate_tasks)
        self.mixtures = dict(mixtures or {})
        self.gpus = gpus_per_trial

    def trial(
        self,
        *,
        intermediate: str,
        target: str,
        trial_id: str,
        dev: Sequence[float],
        test: Mapping[str, Sequence[float]],
        metric: str = "accuracy",
        seed: int = 0,
        seeds: bool = False,
        hp: Mapping[str, Any] | None = None,
        regime: str = "zero_shot",
        model: str = "m",
        wall_per_step: float = 10.0,
        started: float = 0.0,
    ) -> None:
        """One attempt of a target trial: ``dev[i]`` is the objective at step i+1, ``test[lang][i]`` its test
        score there."""
        search = f"target-{intermediate}-{target}" + (SEEDS_SUFFIX if seeds else "")
        pair = f"{intermediate}->{target}"
        self.searches.setdefault(search, {"phase": "target", "pair": pair, "state": "done"})
        rows = []
        common = {
            "sweep": self.name,
            "search": search,
            "pair": pair,
            "model": model,
            "intermediate": intermediate,
            "target": target,
            "trial_id": trial_id,
            "attempt": 0,
            "status": "completed",
            "phase": "target",
            "seed": seed,
            "node": "n1",
            "task": target,
            "regime": regime,
            "origin": "trained",
            "hp": dict(hp or {"lr": 1e-5}),
        }
        for i, objective in enumerate(dev):
            step = i + 1
            when = {
                "wall_s": wall_per_step * step,
                "started_at": T0 + started,
                "reported_at": T0 + started + wall_per_step * step,
                "step": step,
            }
            rows.append({**common, **when, "split": "dev", "language": "en", "metric": "objective", "value": objective})
            for language, values in test.items():
                rows.append(
                    {**common, **when, "split": "test", "language": language, "metric": metric, "value": values[i]}
                )
        self.store.write_attempt(rows, search=search, trial_id=trial_id, attempt=0)

    def finish(self) -> Path:
        """Write the manifest and the config; return the sweep folder."""
        self.root.mkdir(parents=True, exist_ok=True)
        manifest = {
            "version": 2,
            "name": self.name,
            "created_at": T0,
            "code": {"xstilts": "test"},
            "mixtures": self.mixtures,
            "searches": self.searches,
        }
        (self.root / "manifest.json").write_text(json.dumps(manifest))
        config = {
            "name": self.name,
            "intermediate_tasks": self.intermediate_tasks,
            "model": {"name": "m"},
            "resources": {"cpus_per_trial": 1.0, "gpus_per_trial": self.gpus, "workers_per_trial": 1},
        }
        (self.root / "config.yaml").write_text(yaml.safe_dump(config))
        return self.root
