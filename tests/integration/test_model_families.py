"""Sweeps with pretrained models from local folders: a Llama-architecture decoder end to end, and a model
folder that cannot be loaded, whose trials fail at once instead of being retried."""

from __future__ import annotations

from pathlib import Path

import pyarrow.dataset as ds
import pytest

from tests.integration.conftest import MINI, QUICKSTART, run_sweep
from trainers.tiny import save_tiny_model

pytestmark = pytest.mark.integration


def test_a_sweep_with_a_pretrained_decoder_runs_both_phases(tmp_path: Path) -> None:
    folder = save_tiny_model("llama", tmp_path / "tiny-llama")
    model = [
        "model.init=pretrained",
        f"model.path={folder}",
        "model.tokenizer=null",
        "model.name=tiny-llama",
        "model.architecture=llama",
    ]
    done = run_sweep("launch", str(QUICKSTART), *MINI, *model, "--name", "llama", "--storage", str(tmp_path))
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    rows = ds.dataset(tmp_path / "llama" / "results").to_table().to_pylist()
    assert {r["model"] for r in rows} == {"tiny-llama"}
    assert {r["status"] for r in rows} <= {"completed", "stopped"}
    assert {r["search"] for r in rows} == {"intermediate-toy_nli", "target-none-toy_order", "target-toy_nli-toy_order"}
    assert (tmp_path / "llama" / "encoders" / "toy_nli" / "encoder" / "model.safetensors").is_file()


def test_a_model_that_cannot_be_loaded_fails_each_trial_once_with_its_error(tmp_path: Path) -> None:
    folder = save_tiny_model("llama", tmp_path / "bad-weights")
    # A truncated copy: the files validation looks for are all there, but the weights cannot be read.
    (folder / "model.safetensors").write_bytes(b"\0" * 64)
    model = [
        "model.init=pretrained",
        f"model.path={folder}",
        "model.tokenizer=null",
        "model.name=bad-weights",
        "resources.max_failures=2",
    ]
    failed = run_sweep("launch", str(QUICKSTART), *MINI, *model, "--name", "broken", "--storage", str(tmp_path))
    assert failed.returncode == 2, failed.stdout[-3000:] + failed.stderr[-3000:]
    assert "errored: ModelError: model `bad-weights`: cannot load its weights" in failed.stdout
    assert "retrying" not in failed.stdout  # no retry can repair the weights
    rows = ds.dataset(tmp_path / "broken" / "results").to_table().to_pylist()
    assert rows and {r["status"] for r in rows} == {"errored"} and {r["attempt"] for r in rows} == {0}
    assert all("model.safetensors" in r["error"] for r in rows)
    # The stage-one search failed, so its pair never ran; the baseline's trials failed the same way.
    assert {r["search"] for r in rows} == {"intermediate-toy_nli", "target-none-toy_order"}
