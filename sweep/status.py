"""Per-search progress of a sweep, read from its manifest, journal and results (no Ray needed)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pyarrow.compute as pc

from sweep import layout
from sweep.config import load_config
from sweep.journal import TrialJournal
from sweep.plan import plan
from sweep.results import ResultsStore
from sweep.runner import is_evaluation
from sweep.select import best_trial, test_summary


def sweep_status(sweep_dir: str | Path) -> dict[str, Any]:
    """Return ``{"driver_alive": bool, "driver": {...}, "searches": [{search, pair, state, needs, finished,
    running, errored, pending, best, test_mean}, ...]}`` for a sweep directory, e.g.
    ``sweep_status("sweeps/quickstart")``. ``driver`` is the live driver's note: who runs the sweep and
    the cluster's resources in use, as it last wrote them."""
    folder = layout.open_sweep(sweep_dir)
    manifest = layout.read_manifest(folder)
    config = load_config(folder.config, check_data=False)
    table = ResultsStore.read(folder.results)
    journal = TrialJournal(folder.journal)
    alive = layout.driver_alive(folder)
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
        sub = table.filter(pc.equal(table["search"], search_id))
        final: dict[str, str] = {}
        for trial_id, status in zip(sub["trial_id"].to_pylist(), sub["status"].to_pylist(), strict=True):
            if final.get(trial_id) not in ("completed", "stopped"):
                final[trial_id] = status
        finished = sum(s in ("completed", "stopped") for s in final.values())
        errored = sum(s == "errored" for s in final.values())
        running = len([t for t in journal.trials(search=search_id) if t not in final])
        best = best_trial(sub, search=search_id) if sub.num_rows else None
        summary = test_summary(sub, best=best) if best and phase == "target" else {}
        out.append(
            {
                "search": search_id,
                "pair": entry["pair"],
                # A stage one taken from a checkpoint store: done, and trained by another sweep.
                "state": "reused" if entry.get("origin") == "reused" else entry["state"],
                "needs": needs,
                "finished": finished,
                "running": running,
                "errored": errored,
                "pending": max(samples - finished - errored - running, 0),
                "best": None if best is None else round(best["objective"], 4),
                "test_mean": round(summary["mean"], 4) if summary else None,
            }
        )
    return {
        "sweep": manifest["name"],
        "driver_alive": alive,
        "driver": layout.driver_note(folder) if alive else {},
        "searches": out,
    }
