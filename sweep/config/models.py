"""Several models in one study: ``model:`` as a list, e.g. one family at several sizes.

Each entry is a ``model:`` section of its own, plus optional ``training:`` and ``resources:`` keys that
override the top-level sections for that model only (a 7B decoder wants ZeRO-3 and more GPUs per trial
than a base encoder)::

    model:
      - {name: xlmr-base, init: pretrained, path: /models/xlm-roberta-base}
      - name: xlmr-large
        init: pretrained
        path: /models/xlm-roberta-large
        training: {zero_stage: 2}
        resources: {gpus_per_trial: 2}

Every model gets its own stage one and its own pairs (search ids start with the model's name), and the
model is a column of every row. ``SweepConfig.for_model(name)`` is the study as that model sees it.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from sweep.config.parse import parse_dataclass
from trainers.spec import ModelSpec

OVERRIDES = ("training", "resources")  # the sections an entry may override
#: What a model may set of `resources`: what one of its trials gets. The study's caps and retention
#: (concurrency, failures, checkpoints) are the study's, one for all its models.
PER_MODEL_RESOURCES = ("cpus_per_trial", "gpus_per_trial", "workers_per_trial", "memory_per_worker_gb")


@dataclass(frozen=True, kw_only=True)
class ModelEntry:
    """One model of a list: its spec, and its overrides of the top-level training and resources."""

    spec: ModelSpec
    training: dict[str, Any] = field(default_factory=dict)
    resources: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def from_config(cls, raw: Any, *, where: str, problems: list[str]) -> ModelEntry | None:
        """Parse one list entry: model keys, with ``training`` and ``resources`` mappings beside them."""
        if not isinstance(raw, Mapping):
            problems.append(f"{where} must be a mapping of model keys (name, init, path, ...), got {raw!r}")
            return None
        overrides = {}
        for key in OVERRIDES:
            value = raw.get(key) or {}
            if not isinstance(value, Mapping):
                problems.append(f"{where}.{key} must be a mapping of {key} keys, got {value!r}")
                value = {}
            overrides[key] = dict(value)
        for key in sorted(set(overrides["resources"]) - set(PER_MODEL_RESOURCES)):
            problems.append(
                f"{where}.resources.{key} is the study's, not a model's; set it in the top-level resources "
                f"(a model may set {', '.join(PER_MODEL_RESOURCES)})"
            )
            overrides["resources"].pop(key)
        spec = parse_dataclass(
            ModelSpec, {k: v for k, v in raw.items() if k not in OVERRIDES}, where=where, problems=problems
        )
        return None if spec is None else cls(spec=spec, **overrides)

    def to_dict(self) -> dict[str, Any]:
        """The entry as a config writes it (model keys, then its overrides where it has any)."""
        out = dataclasses.asdict(self.spec)
        out.update({key: getattr(self, key) for key in OVERRIDES if getattr(self, key)})
        return out


def merged(section: Any, overrides: Mapping[str, Any], *, where: str, problems: list[str]) -> Any:
    """``section`` (a training or resources dataclass) with ``overrides`` applied, checked as the section is."""
    if not overrides:
        return section
    data = {**dataclasses.asdict(section), **overrides}
    value = parse_dataclass(type(section), data, where=where, problems=problems)
    return section if value is None else value
