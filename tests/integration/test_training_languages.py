"""Intermediate training in other languages through Ray Tune: ``xnli@de+fr`` trains on German and
French together, is selected on their dev sets, and its encoder starts the target."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pyarrow.dataset as ds
import pytest

from tests.integration.conftest import QUICKSTART, ROOT, run_sweep
from tests.processes import owned_processes

pytestmark = pytest.mark.integration

REF = "xnli@de+fr"


@pytest.fixture(scope="module")
def finished_sweep(tmp_path_factory: pytest.TempPathFactory) -> Path:
    data = tmp_path_factory.mktemp("data") / "mirror"
    shutil.copytree(ROOT / "data" / "toy", data)
    # XNLI in the facebook/xnli schema, made of toy NLI pairs (different ones per language).
    rows = [json.loads(line) for line in (data / "toy_nli.en" / "train.jsonl").read_text().splitlines()]
    for offset, language in enumerate(("de", "fr")):
        folder = data / f"xnli.{language}"
        folder.mkdir()
        for split, part in (
            ("train", rows[offset * 300 : offset * 300 + 300]),
            ("validation", rows[1000 + 50 * offset :][:50]),
        ):
            records = [{"premise": r["sentence1"], "hypothesis": r["sentence2"], "label": r["label"]} for r in part]
            (folder / f"{split}.jsonl").write_text("".join(json.dumps(r) + "\n" for r in records))
    storage = tmp_path_factory.mktemp("sweeps")
    with owned_processes() as owned:
        done = run_sweep(
            "launch",
            str(QUICKSTART),
            f"data_dir={data}",
            f"intermediate_tasks=[{REF}]",
            "target_tasks=[toy_order]",
            "languages=[en,de]",
            "baseline=false",
            "intermediate.epochs=1",
            "intermediate.num_samples=2",
            "target.epochs=1",
            "target.num_samples=1",
            "training.max_train_examples=200",
            "--name",
            "languages",
            "--storage",
            str(storage),
        )
        leftover = owned.wait_gone()
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    assert not leftover, f"the driver left processes behind: {leftover}"
    return storage / "languages"


def test_stage_one_trains_and_selects_on_both_languages(finished_sweep: Path) -> None:
    rows = ds.dataset(finished_sweep / "results").to_table().to_pylist()
    stage_one = [r for r in rows if r["search"] == f"intermediate-{REF}"]
    assert {r["intermediate"] for r in stage_one} == {REF}
    assert {(r["split"], r["language"]) for r in stage_one if r["metric"] == "accuracy"} == {
        ("dev", "de"),
        ("dev", "fr"),
    }
    for trial in {r["trial_id"] for r in stage_one}:
        scores = {r["language"]: r["value"] for r in stage_one if r["trial_id"] == trial and r["metric"] == "accuracy"}
        objective = [r["value"] for r in stage_one if r["trial_id"] == trial and r["metric"] == "objective"]
        assert objective == [pytest.approx((scores["de"] + scores["fr"]) / 2)]


def test_its_encoder_starts_the_target(finished_sweep: Path) -> None:
    manifest = json.loads((finished_sweep / "manifest.json").read_text())
    assert {s["state"] for s in manifest["searches"].values()} == {"done"}
    assert Path(manifest["searches"][f"intermediate-{REF}"]["encoder"]) == finished_sweep / "encoders" / REF / "encoder"
    pivot = run_sweep("query", str(finished_sweep), "--pivot", "--format", "json")
    assert pivot.returncode == 0, pivot.stderr
    assert [row["intermediate"] for row in json.loads(pivot.stdout)] == [REF]
