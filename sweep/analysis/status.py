"""Per-search progress of a sweep, read from its manifest, journal and results (no Ray needed)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pyarrow as pa

from sweep.plan.searches import is_evaluation, plan
from sweep.preflight.validate import load_config
from sweep.storage import layout
from sweep.storage.journal import TrialJournal
from sweep.storage.results import ResultsStore
from sweep.storage.select import best_trial, test_summary, trial_counts

_COLUMNS = ("search", "trial_id", "attempt", "status", "step", "split", "metric", "value", "layer", "language")


def sweep_status(sweep_dir: str | Path) -> dict[str, Any]:
    """Return ``{"sweep": name, "created_at": seconds, "driver_alive": bool, "driver": {...}, "searches":
    [{search, pair, state, needs, finished, running, errored, pending, best, test_mean}, ...]}`` for a sweep
    directory, e.g. ``sweep_status("sweeps/quickstart")``. ``driver`` is the live driver's note: who runs the
    sweep and the cluster's resources in use, as it last wrote them; ``created_at`` is when it was launched
    (None for a manifest without it).

    A finished search is summarised from the manifest (its best trial, test scores and trial counts, written
    when it finished); only the rows of searches still running, or of sweeps too old to have the summary, are
    read, so status takes about as long for a study of 10,000 trials as for one of ten."""
    folder = layout.open_sweep(sweep_dir)
    try:
        return _status(folder)
    finally:
        if folder.remote:  # a reader's copy of a sweep on shared storage: one per call, gone after it
            import shutil

            shutil.rmtree(folder.root, ignore_errors=True)


def _status(folder: layout.SweepDir) -> dict[str, Any]:
    manifest = layout.read_manifest(folder)
    config = load_config(folder.config, check_data=False)
    journal = TrialJournal(folder.journal)
    alive = layout.driver_alive(folder)
    note = layout.driver_note(folder) if alive else {}
    # The live driver's count of each search's trials in flight, those yet to report included (the journal
    # holds only trials that have reported); as of its last note, so the larger of the two is shown.
    live = note.get("running") or {}
    out = []
    searches = {s.id: s for s in plan(config)}
    states = {search_id: entry["state"] for search_id, entry in manifest["searches"].items()}
    for search_id, entry in manifest["searches"].items():
        phase = entry["phase"]
        search = searches.get(search_id)
        samples = (
            1
            if search is not None and is_evaluation(search)
            else (
                len(config.seeds)
                if search is not None and search.rerun_of
                else config.stage_of(search).num_samples
                if search is not None
                else config.stage(phase).num_samples
            )
        )
        needs = search.needs if search is not None and states.get(search.needs or "") not in (None, "done") else None
        if entry["state"] == "done" and "trials" in entry:
            counts, running = entry["trials"], 0
            best = entry.get("best")
            summary = _summary(entry) if phase == "target" else {}
        else:
            sub = _rows(folder, search_id)
            counts = trial_counts(sub, search_id)
            reported = len([t for t in journal.trials(search=search_id) if t not in _trial_ids(sub)])
            running = max(reported, int(live.get(search_id, 0))) if entry["state"] != "done" else reported
            best = best_trial(sub, search=search_id) if sub.num_rows else None
            summary = test_summary(sub, best=best) if best and phase == "target" else {}
        out.append(
            {
                "search": search_id,
                "pair": entry["pair"],
                # A stage one taken from a checkpoint store: done, and trained by another sweep.
                "state": "reused" if entry.get("origin") == "reused" else entry["state"],
                "needs": needs,
                "finished": counts["finished"],
                "running": running,
                "errored": counts["errored"],
                "pending": max(samples - counts["finished"] - counts["errored"] - running, 0),
                "best": None if best is None else round(best["objective"], 4),
                "test_mean": round(summary["mean"], 4) if summary else None,
            }
        )
    return {
        "sweep": manifest["name"],
        "created_at": manifest.get("created_at"),
        "driver_alive": alive,
        "driver": note,
        "searches": out,
    }


def _rows(folder: layout.SweepDir, search_id: str) -> Any:
    """One search's rows, the columns status needs."""
    path = folder.results / search_id
    if not path.is_dir():
        return _empty()
    return ResultsStore.read(path, columns=list(_COLUMNS))


def _empty() -> pa.Table:
    from sweep.storage.results import results_schema

    schema = results_schema(sweep="-", hp_types={})
    return schema.empty_table().select(list(_COLUMNS))


def _trial_ids(table: pa.Table) -> set[str]:
    return set(table["trial_id"].to_pylist())


def _summary(entry: dict[str, Any]) -> dict[str, Any]:
    """A finished pair's test summary from its manifest entry (a seeds search: its best seed's run)."""
    if entry.get("test"):
        return entry["test"]
    chosen = (entry.get("best") or {}).get("trial_id")
    for run in (entry.get("seeds") or {}).values():
        if run["best"]["trial_id"] == chosen and run.get("test"):
            return run["test"]
    return {}
