"""Reading the results of one or more sweeps: filtered rows, a sweep's mixtures, and the intermediate x target
transfer matrix. The analyses (groups, benchmark scores, statistics) are in ``sweep.analysis.analyses``; the SQL views
they read are in ``sweep.analysis.tables``.

Python API: ``rows(sweep_dir, where=["language=de"])`` and ``transfer_matrix(sweep_dir)`` return lists of dicts
(``sweep_dir`` may be a list of several); ``Results(dirs).sql(...)`` returns a ``pyarrow.Table``.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc

from sweep.analysis.sweeps import QueryError
from sweep.analysis.tables import Results
from sweep.storage.results import ResultsStore

__all__ = ["QueryError", "Results", "mixture_rows", "rows", "transfer_matrix"]

DEFAULT_COLUMNS = ("pair", "trial_id", "attempt", "status", "phase", "step", "split", "language", "metric", "value")
Dirs = str | Path | Sequence[str | Path]


def _results(sweep_dirs: Dirs | Results) -> Results:
    if isinstance(sweep_dirs, Results):
        return sweep_dirs
    return Results([sweep_dirs] if isinstance(sweep_dirs, (str, Path)) else list(sweep_dirs))


def rows(
    sweep_dirs: Dirs | Results,
    *,
    where: Sequence[str] = (),
    metric: str | None = None,
    columns: Sequence[str] | None = None,
) -> list[dict[str, Any]]:
    """Filtered result rows, e.g. ``rows(d, where=["split=test"], metric="accuracy")``; with several sweeps the
    default columns start with ``sweep``."""
    from sweep.analysis.analyses import where_sql

    results = _results(sweep_dirs)
    wanted = list(columns or ((["sweep"] if len(results.sweeps) > 1 else []) + list(DEFAULT_COLUMNS)))
    known = results.columns("rows")
    if unknown := [c for c in wanted if c not in known]:
        from sweep.errors import suggest

        raise QueryError(f"unknown column `{unknown[0]}`{suggest(unknown[0], known)}; columns: {', '.join(known)}")
    condition, params = where_sql(results, [*where, *([f"metric={metric}"] if metric else [])], view="rows")
    selected = ", ".join(f'"{c}"' for c in wanted)
    order = "sweep, search, trial_id, attempt, step, split, language, metric"
    found = results.sql(f"SELECT {selected} FROM rows WHERE {condition} ORDER BY {order}", params).to_pylist()
    if not found and metric:  # no rows: say so when it is because no row has that metric at all
        metrics = [r["metric"] for r in results.sql("SELECT DISTINCT metric FROM rows ORDER BY metric").to_pylist()]
        if metrics and (unknown := [m for m in metric.split("|") if m not in metrics]):
            from sweep.errors import suggest

            raise QueryError(
                f"no row has metric `{unknown[0]}`{suggest(unknown[0], metrics)}; the metrics are {', '.join(metrics)}"
            )
    return found


def transfer_matrix(
    sweep_dirs: Dirs | Results,
    *,
    where: Sequence[str] = (),
    metric: str | None = None,
    language: str | None = None,
) -> list[dict[str, Any]]:
    """One row per intermediate task, one column per target: the protocol's test score, and ``<target> vs
    none``, its difference to the target's baseline pair (intermediate ``none``); see ``sweep.analysis.analyses``."""
    from sweep.analysis.analyses import matrix

    return matrix(_results(sweep_dirs), where=where, metric=metric, language=language)


def mixture_rows(sweep_dirs: Dirs) -> list[dict[str, Any]]:
    """``_mixture_rows`` of each sweep, with its name first when there are several."""
    dirs = [sweep_dirs] if isinstance(sweep_dirs, (str, Path)) else list(sweep_dirs)
    if len(dirs) == 1:
        return _mixture_rows(dirs[0])
    from sweep.storage.layout import open_sweep, read_manifest

    return [{"sweep": read_manifest(open_sweep(d))["name"], **row} for d in dirs for row in _mixture_rows(d)]


def _mixture_rows(sweep_dir: str | Path) -> list[dict[str, Any]]:
    """One row per source of each mixture the sweep trains: its composition as the manifest records it,
    with the sampling rate and training size its trials reported (the same for every trial of a search)."""
    from sweep.storage.layout import open_sweep, read_manifest

    sweep = open_sweep(sweep_dir)
    mixtures = read_manifest(sweep).get("mixtures", {})
    table = ResultsStore.read(sweep.results, columns=["intermediate", "phase", "task", "language", "metric", "value"])
    table = table.filter(
        pc.and_(
            pc.equal(table["phase"], "intermediate"),
            pc.is_in(table["metric"], pa.array(["sampling_rate", "train_size"])),
        )
    )
    reported = {(r["intermediate"], r["task"], r["language"], r["metric"]): r["value"] for r in table.to_pylist()}
    out = []
    for name, mixture in mixtures.items():
        for source in mixture["sources"]:
            languages = "+".join(source["languages"])
            out.append(
                {
                    "mixture": name,
                    "task": source["task"],
                    "languages": languages,
                    "trains_on": source["train_task"],
                    "head": source["head"],
                    "weight": source["weight"],
                    "cap": source["cap"],
                    "sampling": mixture["sampling"]
                    + (f" T={mixture['temperature']:g}" if mixture["sampling"] == "temperature" else ""),
                    "select": mixture["select"],
                    "train_size": reported.get((name, source["task"], languages, "train_size")),
                    "sampling_rate": reported.get((name, source["task"], languages, "sampling_rate")),
                }
            )
    return out
