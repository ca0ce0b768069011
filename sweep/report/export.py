"""Exporting every pair's test predictions (its best trial's, or its retrieval evaluation's) in the layout
XTREME's ``evaluate.py`` reads.

``OUT/<intermediate>/<task>/test-<lang>.<tsv|jsonl|json>`` (``trainers.predictions`` says which, per
task): each intermediate folder (``none`` for the baseline; ``mnli[translate_train]`` for a regime other
than zero-shot; under ``<model>/`` in a study of several models) is a complete submission for the
benchmark's own evaluation script, and ``sweep score`` reads the same files back.
"""

from __future__ import annotations

import shutil
from pathlib import Path

from sweep.errors import SweepStateError
from sweep.plan.searches import RETRIEVAL_TRIAL, ZERO_SHOT, plan
from sweep.preflight.validate import load_config
from sweep.storage import layout
from trainers.checkpoint import PREDICTIONS_DIR
from trainers.predictions import render
from trainers.tasks import get_task


def export_predictions(sweep_dir: str | Path, out: str | Path) -> list[Path]:
    """Copy the test predictions of every finished target search (its best trial and step, or a retrieval
    target's evaluation); return the files written.

    Example: ``export_predictions("sweeps/quickstart", "submission")``.
    """
    folder = layout.open_sweep(sweep_dir)
    manifest = layout.read_manifest(folder)
    searches = {s.id: s for s in plan(load_config(folder.config, check_data=False))}
    written = []
    for search_id, entry in manifest["searches"].items():
        if entry["phase"] != "target" or entry["state"] != "done" or not entry.get("best"):
            continue
        search = searches.get(search_id)
        if search is None or search.rerun_of is not None:  # a seeds search re-runs a pair: not a submission
            continue
        best = entry["best"]
        # One submission per system: an intermediate entry and regime (and model, in a study of several);
        # a per-language regime's searches each add their language's file to it.
        system = search.intermediate if search.regime == ZERO_SHOT else f"{search.intermediate}[{search.regime}]"
        intermediate = system if search.model is None else f"{search.model}/{system}"
        target = search.target
        if best["trial_id"] == RETRIEVAL_TRIAL:  # a sweep of manifest version 1 kept no retrieval predictions
            continue
        source = folder.checkpoint(search=search_id, trial_id=best["trial_id"], step=best["step"]) / PREDICTIONS_DIR
        if not source.is_dir():
            raise SweepStateError(
                f"the best checkpoint of {search_id} has no predictions folder ({source}); it was "
                "written by an xstilts version that did not keep predictions"
            )
        destination = Path(out) / intermediate / target
        destination.mkdir(parents=True, exist_ok=True)
        task = get_task(target)
        for path in sorted(source.iterdir()):
            if task.kind == "multiple_choice" and path.suffix == ".tsv":
                # Kept by a sweep that predates the .jsonl layout XTREME-R's evaluate.py reads: rewrite it.
                choices = [int(line) for line in path.read_text(encoding="utf-8").split()]
                copy = destination / f"{path.stem}.jsonl"
                copy.write_text(render(task, [], choices), encoding="utf-8")
            else:
                copy = destination / path.name
                shutil.copyfile(path, copy)
            written.append(copy)
    if not written:
        raise SweepStateError(f"{folder.root} has no finished target search with predictions to export")
    return written
