"""Several models in one study through `sweep launch`: each model trains its own stage one and pairs, with
its own training and resources overrides, and every row and the transfer matrix say which model."""

from __future__ import annotations

import json
from pathlib import Path

import pyarrow.dataset as ds
import pytest
import yaml

from tests.integration.conftest import QUICKSTART, ROOT, run_sweep

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def finished_sweep(tmp_path_factory: pytest.TempPathFactory) -> Path:
    config = yaml.safe_load(QUICKSTART.read_text())
    tokenizer = str(ROOT / "data" / "toy" / "tokenizer.json")
    small = {**config["model"], "name": "tiny-small", "tokenizer": tokenizer, "hidden_size": 32, "num_layers": 1}
    small["attn_implementation"] = "eager"  # the family's own attention, where the other runs sdpa
    big = {**config["model"], "name": "tiny-big", "tokenizer": tokenizer, "training": {"zero_stage": 0}}
    config.update(
        name="models",
        data_dir=str(ROOT / "data" / "toy"),
        model=[small, big],
        intermediate_tasks=["toy_nli"],
        target_tasks=["toy_paws"],
        languages=["en", "de"],
    )
    config["intermediate"].update(epochs=1, num_samples=1)
    config["target"].update(epochs=1, num_samples=1)
    config["training"]["max_train_examples"] = 150
    path = tmp_path_factory.mktemp("config") / "models.yaml"
    path.write_text(yaml.safe_dump(config))
    storage = tmp_path_factory.mktemp("sweeps")
    done = run_sweep("launch", str(path), "--storage", str(storage))
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    return storage / "models"


def test_each_model_has_its_own_searches_and_encoder(finished_sweep: Path) -> None:
    manifest = json.loads((finished_sweep / "manifest.json").read_text())
    assert {s["state"] for s in manifest["searches"].values()} == {"done"}
    assert sorted(manifest["searches"]) == sorted(
        f"{model}.{search}"
        for model in ("tiny-small", "tiny-big")
        for search in ("intermediate-toy_nli", "target-none-toy_paws", "target-toy_nli-toy_paws")
    )
    assert manifest["attention"] == {"tiny-small": "eager", "tiny-big": "sdpa"}  # `auto` resolved on CPUs
    for model in ("tiny-small", "tiny-big"):
        encoder = Path(manifest["searches"][f"{model}.intermediate-toy_nli"]["encoder"])
        assert encoder == finished_sweep / "encoders" / f"{model}.toy_nli" / "encoder"
    sizes = {
        p.parent.parent.name: p.stat().st_size for p in (finished_sweep / "encoders").glob("*/encoder/*.safetensors")
    }
    assert sizes["tiny-small.toy_nli"] < sizes["tiny-big.toy_nli"]  # hidden 32 x 1 layer against 64 x 2


def test_rows_and_matrix_name_the_model(finished_sweep: Path) -> None:
    rows = ds.dataset(finished_sweep / "results").to_table().to_pylist()
    assert {(r["search"].split(".")[0], r["model"]) for r in rows} == {
        ("tiny-small", "tiny-small"),
        ("tiny-big", "tiny-big"),
    }
    pivot = run_sweep("query", str(finished_sweep), "--pivot", "--format", "json")
    assert pivot.returncode == 0, pivot.stderr
    cells = [(r["model"], r["intermediate"]) for r in json.loads(pivot.stdout)]
    assert cells == [("tiny-big", "none"), ("tiny-big", "toy_nli"), ("tiny-small", "none"), ("tiny-small", "toy_nli")]
    saved = yaml.safe_load((finished_sweep / "config.yaml").read_text())
    assert [m["name"] for m in saved["model"]] == ["tiny-small", "tiny-big"]
    assert saved["model"][1]["training"] == {"zero_stage": 0}
