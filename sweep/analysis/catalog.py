"""Small tables about the sweeps a query reads, from their manifests and configs: the sweeps, their searches,
the resources a trial of each model held, and what each intermediate entry trained on (its mixture, its
share of English). ``sweep.analysis.tables`` joins them to the rows."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import pyarrow as pa

from sweep.analysis.sweeps import SweepInfo

BASELINE = "none"  # the intermediate entry of a pair trained on the target alone

_S, _F, _I = pa.string(), pa.float64(), pa.int64()
SCHEMAS = {  # fixed, so that a query over no sweeps of some kind still finds every column
    "sweeps": pa.schema(
        [
            ("sweep", _S),
            ("location", _S),
            ("manifest_version", _I),
            ("created_at", _F),
            ("xstilts", _S),
            ("git_commit", _S),
            ("searches", _I),
        ]
    ),
    "searches": pa.schema(
        [
            ("sweep", _S),
            ("search", _S),
            ("pair", _S),
            ("phase", _S),
            ("state", _S),
            ("origin", _S),
            ("best_objective", _F),
        ]
    ),
    "resources": pa.schema(
        [("sweep", _S), ("model", _S), ("cpus_per_worker", _F), ("gpus_per_worker", _F), ("workers_per_trial", _I)]
    ),
    "entries": pa.schema([("sweep", _S), ("intermediate", _S), ("mixture", _S), ("english_share", _F)]),
}


def table(kind: str, sweeps: Sequence[SweepInfo]) -> pa.Table:
    """One of the small tables (``SCHEMAS``) for ``sweeps``."""
    rows = {"sweeps": sweep_rows, "searches": search_rows, "resources": resource_rows, "entries": entry_rows}[kind]
    return pa.Table.from_pylist(rows(sweeps), schema=SCHEMAS[kind])


def sweep_rows(sweeps: Sequence[SweepInfo]) -> list[dict[str, Any]]:
    """One row per sweep: name, location, manifest version, creation time and code version."""
    return [
        {
            "sweep": s.name,
            "location": s.location,
            "manifest_version": s.manifest.get("version"),
            "created_at": s.manifest.get("created_at"),
            "xstilts": (s.manifest.get("code") or {}).get("xstilts"),
            "git_commit": (s.manifest.get("code") or {}).get("git_commit"),
            "searches": len(s.manifest.get("searches", {})),
        }
        for s in sweeps
    ]


def search_rows(sweeps: Sequence[SweepInfo]) -> list[dict[str, Any]]:
    """One row per search as its manifest records it (``origin`` is ``reused`` for a stage one taken from a
    checkpoint store)."""
    out = []
    for s in sweeps:
        for search, entry in s.manifest.get("searches", {}).items():
            best = entry.get("best") or {}
            out.append(
                {
                    "sweep": s.name,
                    "search": search,
                    "pair": entry.get("pair"),
                    "phase": entry.get("phase"),
                    "state": entry.get("state"),
                    "origin": entry.get("origin", "trained"),
                    "best_objective": best.get("objective"),
                }
            )
    return out


def resource_rows(sweeps: Sequence[SweepInfo]) -> list[dict[str, Any]]:
    """One row per (sweep, model): the CPUs and GPUs each worker of a trial held, and the workers per trial."""
    out = []
    for s in sweeps:
        top = s.config.get("resources") or {}
        models = s.config.get("model")
        entries = models if isinstance(models, list) else [models or {}]
        for entry in entries:
            own = {**top, **((entry or {}).get("resources") or {})}
            out.append(
                {
                    "sweep": s.name,
                    "model": (entry or {}).get("name"),
                    "cpus_per_worker": float(own.get("cpus_per_trial", 1.0)),
                    "gpus_per_worker": float(own.get("gpus_per_trial", 0.0)),
                    "workers_per_trial": int(own.get("workers_per_trial", 1)),
                }
            )
    return out


def entry_rows(sweeps: Sequence[SweepInfo]) -> list[dict[str, Any]]:
    """One row per (sweep, intermediate entry): the mixture it is (its sources, or null), and the share of
    English in what it trained on (null for the baseline, or where the shares are not known in advance)."""
    out = []
    for s in sweeps:
        mixtures = s.manifest.get("mixtures") or {}
        names = dict.fromkeys([*(s.config.get("intermediate_tasks") or []), BASELINE, *mixtures])
        for name in names:
            mixture = mixtures.get(name)
            out.append(
                {
                    "sweep": s.name,
                    "intermediate": name,
                    "mixture": _describe(mixture) if mixture else None,
                    "english_share": _english_share(name, mixture),
                }
            )
    return out


def _describe(mixture: Mapping[str, Any]) -> str:
    parts = []
    for source in mixture.get("sources", []):
        label = f"{source['task']}@{'+'.join(source['languages'])}"
        parts.append(label + (f" {source['weight']:g}" if source.get("weight") is not None else ""))
    return " + ".join(parts)


def _english_share(name: str, mixture: Mapping[str, Any] | None) -> float | None:
    """The share of English in stage one's batches, where the entry fixes it."""
    if name == BASELINE:
        return None
    if mixture is None:
        return _entry_share(name)
    sources = mixture.get("sources", [])
    shares = [_languages_share(source.get("languages") or []) for source in sources]
    if all(share == 1.0 for share in shares):
        return 1.0
    if all(share == 0.0 for share in shares):
        return 0.0
    weights = [source.get("weight") for source in sources]
    if any(w is None for w in weights) or any(share is None for share in shares) or not sum(weights):
        return None  # sampled in proportion to sizes: the share follows from the data, not the config
    return round(sum(w * share for w, share in zip(weights, shares, strict=True)) / sum(weights), 6)


def _entry_share(name: str) -> float | None:
    from trainers.errors import TaskError
    from trainers.tasks import get_task

    task, _, languages = name.partition("@")
    if languages and languages != "all":
        return _languages_share(languages.split("+"))
    try:
        spoken = get_task(task).languages
    except TaskError:
        return None
    if languages == "all":
        return _languages_share(list(spoken))
    return 1.0 if tuple(spoken) == ("en",) else None  # a multilingual task's default training data varies


def _languages_share(languages: Sequence[str]) -> float | None:
    if not languages:
        return None
    return sum(lang == "en" for lang in languages) / len(languages)
