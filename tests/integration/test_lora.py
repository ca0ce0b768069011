"""LoRA through `sweep launch`: training.adapter with its rank and scale searched; each trial records the
values it trained with, the stage one's encoder is written with its adapters folded in, and the pair
starts from it."""

from __future__ import annotations

import json
from pathlib import Path

import duckdb
import pytest

from tests.integration.conftest import QUICKSTART, run_sweep
from trainers.encoder_io import read_encoder

pytestmark = [pytest.mark.integration, pytest.mark.slow]

SPACE = "{extends: tpe_default, params: {lora_r: {type: choice, values: [2, 8]}, lora_alpha: 16.0}}"


def test_a_sweep_searches_the_adapters_rank_and_hands_on_a_merged_encoder(tmp_path: Path) -> None:
    done = run_sweep(
        "launch",
        str(QUICKSTART),
        "intermediate_tasks=[toy_nli]",
        "target_tasks=[toy_order]",
        "training.adapter.r=4",
        "intermediate.num_samples=2",
        "intermediate.epochs=2",
        "target.num_samples=1",
        "target.epochs=1",
        "search.scheduler=fifo",
        f"intermediate.search_space={SPACE}",
        "--name",
        "lora",
        "--storage",
        str(tmp_path),
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    sweep = tmp_path / "lora"
    rows = duckdb.sql(
        f"select search, trial_id, any_value(hp_lora_r) r, any_value(hp_lora_alpha) alpha from "
        f"read_parquet('{sweep}/results/**/*.parquet', union_by_name=true) group by 1, 2"
    ).fetchall()
    stage_one = {(r, alpha) for search, _, r, alpha in rows if search == "intermediate-toy_nli"}
    assert {r for r, _ in stage_one} <= {2, 8} and {alpha for _, alpha in stage_one} == {16.0}
    assert {r for search, _, r, _ in rows if search.startswith("target-")} == {None}  # not searched there
    manifest = json.loads((sweep / "manifest.json").read_text())
    assert {entry["state"] for entry in manifest["searches"].values()} == {"done"}
    encoder = read_encoder(sweep / "encoders" / "toy_nli" / "encoder")
    assert encoder and not any("lora_" in name or "base_layer" in name for name in encoder)
    assert "query.weight" in " ".join(encoder)
