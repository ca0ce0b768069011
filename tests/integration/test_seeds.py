"""Seeds through `sweep launch`: each pair's best configuration (baselines too) is re-run once per seed
after its search, every run selected on its own dev objective and its rows marked with its seed."""

from __future__ import annotations

import json
from pathlib import Path

import pyarrow.dataset as ds
import pytest

from tests.integration.conftest import QUICKSTART, run_sweep

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def finished_sweep(tmp_path_factory: pytest.TempPathFactory) -> Path:
    storage = tmp_path_factory.mktemp("sweeps")
    done = run_sweep(
        "launch",
        str(QUICKSTART),
        "intermediate_tasks=[toy_nli]",
        "target_tasks=[toy_paws]",
        "languages=[en,de]",
        "seeds=[11,12]",
        "intermediate.epochs=1",
        "intermediate.num_samples=1",
        "target.epochs=2",
        "target.num_samples=2",
        "search.scheduler=fifo",
        "training.max_train_examples=150",
        "--name",
        "seeds",
        "--storage",
        str(storage),
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    assert "finished target toy_nli->toy_paws" in done.stdout and "2 seeds, test mean" in done.stdout
    return storage / "seeds"


def test_each_pair_is_re_run_with_its_best_configuration_per_seed(finished_sweep: Path) -> None:
    rows = ds.dataset(finished_sweep / "results").to_table().to_pylist()
    manifest = json.loads((finished_sweep / "manifest.json").read_text())
    for pair in ("target-none-toy_paws", "target-toy_nli-toy_paws"):
        best = manifest["searches"][pair]["best"]
        best_lr = next(r["hp_learning_rate"] for r in rows if r["search"] == pair and r["trial_id"] == best["trial_id"])
        reruns = [r for r in rows if r["search"] == f"{pair}.seeds"]
        assert {r["seed"] for r in reruns} == {11, 12}
        assert len({r["trial_id"] for r in reruns}) == 2
        assert {r["hp_learning_rate"] for r in reruns} == {best_lr}
        assert {r["pair"] for r in reruns} == {manifest["searches"][pair]["pair"]}
        assert {r["seed"] for r in rows if r["search"] == pair} == {0}  # the search itself: the sweep's seed
        # The two seeds train differently (head init and data order).
        losses = {r["seed"]: r["value"] for r in reruns if r["metric"] == "loss" and r["step"] == 1}
        assert losses[11] != losses[12]
        seeds = manifest["searches"][f"{pair}.seeds"]["seeds"]
        assert set(seeds) == {"11", "12"}
        for seed, entry in seeds.items():
            own = [r for r in reruns if r["seed"] == int(seed)]
            dev = {r["step"]: r["value"] for r in own if r["metric"] == "objective"}
            assert entry["best"]["step"] == max(dev, key=lambda step: (dev[step], step))
            tests = [r["value"] for r in own if r["split"] == "test" and r["step"] == entry["best"]["step"]]
            assert entry["test"]["mean"] == pytest.approx(sum(tests) / len(tests))
