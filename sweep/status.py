"""Per-search progress of a sweep, read from its manifest, journal and results (no Ray needed)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pyarrow.compute as pc

from sweep import layout
from sweep.config import load_config
from sweep.journal import TrialJournal
from sweep.results import ResultsStore
from sweep.select import best_trial, test_summary


def sweep_status(sweep_dir: str | Path) -> dict[str, Any]:
    """Return ``{"driver_alive": bool, "searches": [{search, pair, state, finished, running, errored,
    pending, best, test_mean}, ...]}`` for a sweep directory, e.g. ``sweep_status("sweeps/quickstart")``."""
    folder = layout.SweepDir(Path(sweep_dir).resolve())
    manifest = layout.read_manifest(folder)
    config = load_config(folder.config, check_data=False)
    table = ResultsStore.read(folder.results)
    journal = TrialJournal(folder.journal)
    alive = layout.driver_alive(folder)
    out = []
    for search_id, entry in manifest["searches"].items():
        phase = entry["phase"]
        samples = config.stage(phase).num_samples
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
                "state": entry["state"],
                "finished": finished,
                "running": running,
                "errored": errored,
                "pending": max(samples - finished - errored - running, 0),
                "best": None if best is None else round(best["objective"], 4),
                "test_mean": round(summary["mean"], 4) if summary else None,
            }
        )
    return {"sweep": manifest["name"], "driver_alive": alive, "searches": out}
