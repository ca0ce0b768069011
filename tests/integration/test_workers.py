"""A sweep whose trials each run on two workers (Ray Train inside the Tune trial, gloo on this machine's two
CPUs), with ZeRO-2 sharding the optimizer across them: both phases run, every epoch is recorded, and the
intermediate encoder is consolidated from both workers' shards."""

from __future__ import annotations

from pathlib import Path

import pyarrow.dataset as ds
import pytest

from tests.integration.conftest import QUICKSTART, run_sweep

pytestmark = [pytest.mark.integration, pytest.mark.slow]  # minutes of Ray Train runs: make test-all

TWO_WORKERS = [
    "intermediate_tasks=[toy_nli]",
    "target_tasks=[toy_order]",
    "languages=[en,de]",
    "intermediate.epochs=2",
    "intermediate.num_samples=1",
    "target.epochs=2",
    "target.num_samples=1",
    "training.max_train_examples=256",
    "training.max_eval_examples=64",
    "training.zero_stage=2",
    "resources.workers_per_trial=2",
    "resources.cpus_per_trial=1",
]


def test_a_sweep_runs_its_trials_on_two_workers_each(tmp_path: Path) -> None:
    done = run_sweep("launch", str(QUICKSTART), *TWO_WORKERS, "--name", "two", "--storage", str(tmp_path))
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    rows = ds.dataset(tmp_path / "two" / "results").to_table().to_pylist()
    assert {r["search"] for r in rows} == {"intermediate-toy_nli", "target-none-toy_order", "target-toy_nli-toy_order"}
    assert {r["status"] for r in rows} == {"completed"}
    # Every epoch of each trial is recorded, as for one-worker trials.
    searches = ("intermediate-toy_nli", "target-none-toy_order", "target-toy_nli-toy_order")
    assert {(r["search"], r["step"]) for r in rows} == {(s, e) for s in searches for e in (1, 2)}
    assert len({r["trial_id"] for r in rows}) == 3
    assert (tmp_path / "two" / "encoders" / "toy_nli" / "encoder" / "model.safetensors").is_file()
    shards = list(
        (tmp_path / "two" / "tune").glob("study/trial_*/checkpoint_*/checkpoint/zero_pp_rank_1_*optim_states.pt")
    )
    assert shards, "the second worker's ZeRO shard should be in the trial's checkpoint"
    # The Train runs' own folders are cleared once their trials end: Tune holds the checkpoints.
    train_runs = tmp_path / "two" / "tune" / "train"
    assert not train_runs.exists() or not any(train_runs.iterdir())
