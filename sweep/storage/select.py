"""Choosing the best trial of a search from the results table, and summarising its test scores.

The best trial is the (trial, attempt, step) with the highest dev objective over all reported
steps, i.e. the checkpoint a user would keep (and Tune's score-ordered retention keeps); its
test scores are the ones from that same step.
"""

from __future__ import annotations

import math
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc

from trainers.spec import OBJECTIVE


def best_trial(table: pa.Table, *, search: str) -> dict[str, Any] | None:
    """Return ``{trial_id, attempt, step, objective}`` of the best step in ``search``, or None."""
    # Dev objectives only: an evaluation on capped dev sets (split dev_capped) is never selected.
    mask = pc.and_(pc.equal(table["search"], search), pc.equal(table["metric"], OBJECTIVE))
    mask = pc.and_(mask, pc.equal(table["split"], "dev"))
    columns = ["trial_id", "attempt", "step", "value", *(["layer"] if "layer" in table.column_names else [])]
    rows = table.filter(mask).select(columns).to_pylist()
    rows = [r for r in rows if r["value"] is not None and not math.isnan(r["value"])]
    if not rows:
        return None
    # Highest objective; ties go to the latest step (the one Tune keeps a checkpoint of when scores
    # are equal), then the smallest trial id, so the choice is stable.
    top = min(rows, key=lambda r: (-r["value"], -r["step"], r["trial_id"], -r["attempt"]))
    best = {"trial_id": top["trial_id"], "attempt": top["attempt"], "step": top["step"], "objective": top["value"]}
    if top.get("layer") is not None:  # a retrieval evaluation: its scores at the chosen layer are the result
        best["layer"] = top["layer"]
    return best


def test_summary(
    table: pa.Table, *, best: dict[str, Any], split: str = "test", metric: str | None = None
) -> dict[str, Any]:
    """Scores of ``best``'s step on ``split`` in ``metric`` (default: the first by name), per language,
    plus their mean; ``{}`` if there are none."""
    mask = pc.and_(
        pc.and_(pc.equal(table["trial_id"], best["trial_id"]), pc.equal(table["attempt"], best["attempt"])),
        pc.and_(pc.equal(table["step"], best["step"]), pc.equal(table["split"], split)),
    )
    if best.get("layer") is not None:  # other layers' rows (retrieval.layers) are alignment, not the result
        mask = pc.and_(mask, pc.equal(table["layer"], best["layer"]))
    rows = table.filter(mask).select(["language", "metric", "value"]).to_pylist()
    if metric is None and rows:
        metric = min(r["metric"] for r in rows)
    rows = [r for r in rows if r["metric"] == metric]
    if not rows:
        return {}
    per_language = {r["language"]: r["value"] for r in rows}
    return {"metric": metric, "languages": per_language, "mean": sum(per_language.values()) / len(per_language)}


def trial_counts(table: Any, search_id: str) -> dict[str, int]:
    """How many trials of a search finished (completed or stopped) and how many errored, from its rows: a
    trial counts by its best outcome over its attempts."""
    sub = table.filter(pc.equal(table["search"], search_id)).select(["trial_id", "status"])
    final: dict[str, str] = {}
    for trial_id, status in zip(sub["trial_id"].to_pylist(), sub["status"].to_pylist(), strict=True):
        if final.get(trial_id) not in ("completed", "stopped"):
            final[trial_id] = status
    return {
        "finished": sum(s in ("completed", "stopped") for s in final.values()),
        "errored": sum(s == "errored" for s in final.values()),
    }
