"""A sweep that evaluates four times an epoch on capped dev sets: ASHA's milestones count evaluations, every
evaluation is recorded, and selection, the encoder and the exported predictions come from whole ones;
each finished search keeps only its best checkpoint."""

from __future__ import annotations

import json
from pathlib import Path

import pyarrow.dataset as ds
import pytest

from tests.integration.conftest import QUICKSTART, run_sweep

pytestmark = pytest.mark.integration

OFTEN = [
    "intermediate_tasks=[toy_nli]",
    "target_tasks=[toy_order]",
    "languages=[en,de]",
    "intermediate.epochs=1",
    "intermediate.num_samples=3",
    "target.epochs=1",
    "target.num_samples=3",
    "training.max_train_examples=256",
    "training.max_eval_examples=64",
    "training.eval_every=0.25 epochs",
    "training.eval_dev_examples=16",
    "search.grace_period=1",
    "search.reduction_factor=2",
]


@pytest.mark.slow  # 30-40 s: runs with `make test-all`, keeping `make test` within its 15 minutes on a fresh machine
def test_a_sweep_evaluates_every_quarter_epoch_and_selects_whole_evaluations(tmp_path: Path) -> None:
    done = run_sweep("launch", str(QUICKSTART), *OFTEN, "--name", "often", "--storage", str(tmp_path))
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    rows = ds.dataset(tmp_path / "often" / "results").to_table().to_pylist()
    # One epoch, four evaluations: the first three on 16 dev examples, the last on all of dev and test.
    steps = {r["step"] for r in rows}
    assert steps <= {1, 2, 3, 4} and 4 in steps
    objective_split = {(r["trial_id"], r["step"]): r["split"] for r in rows if r["metric"] == "objective"}
    assert {split for (_, step), split in objective_split.items() if step < 4} == {"dev_capped"}
    assert {split for (_, step), split in objective_split.items() if step == 4} == {"dev"}
    statuses = {r["trial_id"]: r["status"] for r in rows if r["search"] == "intermediate-toy_nli"}
    assert "completed" in statuses.values()
    assert "finished 4 evaluations" in done.stdout
    # Selection picks a whole evaluation: the last of a completed trial, whose checkpoint has the encoder
    # and the test predictions.
    manifest = json.loads((tmp_path / "often" / "manifest.json").read_text())
    for search in manifest["searches"].values():
        assert search["state"] == "done" and search["best"]["step"] == 4
    assert (tmp_path / "often" / "encoders" / "toy_nli" / "encoder" / "model.safetensors").is_file()
    # Each finished search kept only its best checkpoint (disk), and that is enough for the export.
    checkpoints = list((tmp_path / "often" / "tune").glob("study/trial_*/checkpoint_*"))
    assert len(checkpoints) == len(manifest["searches"]) == 3
    # A pair's best checkpoint keeps its test predictions, not its weights (nothing reads them again);
    # stage one's keeps both, its encoder having come from them.
    weights = {c: any((c / "checkpoint").rglob("*.pt")) for c in checkpoints}
    assert sorted(weights.values()) == [False, False, True]
    assert all((c / "predictions").is_dir() for c, has in weights.items() if not has)
    out = tmp_path / "predictions"
    assert run_sweep("export-predictions", str(tmp_path / "often"), "--out", str(out)).returncode == 0
    assert any(out.rglob("*de*"))
