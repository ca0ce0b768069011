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


@pytest.mark.slow
@pytest.mark.parametrize("family", ["qwen2", "mistral"])
def test_a_decoder_family_no_code_names_runs_a_sweep_with_lora(tmp_path: Path, family: str) -> None:
    """Qwen2 and Mistral appear nowhere in trainers/: a tiny one, built from transformers' own config class
    and saved the way released weights are, runs both phases with LoRA on its attention and feed-forward."""
    import transformers

    from trainers.tiny import tiny_config, train_tokenizer

    tokenizer = train_tokenizer("llama")
    tokenizer.pad_token = tokenizer.eos_token  # in the vocabulary, as released decoders' folders have it
    llama = tiny_config("llama", tokenizer).to_dict()
    config_class = transformers.AutoConfig.for_model(family).__class__
    keys = ("vocab_size", "hidden_size", "intermediate_size", "num_hidden_layers", "num_attention_heads")
    config = config_class(**{k: llama[k] for k in keys}, num_key_value_heads=1, max_position_embeddings=128)
    config.bos_token_id, config.eos_token_id = tokenizer.bos_token_id, tokenizer.eos_token_id
    folder = tmp_path / f"tiny-{family}"
    transformers.AutoModel.from_config(config).save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    model = [
        "model.init=pretrained",
        f"model.path={folder}",
        "model.tokenizer=null",
        f"model.name=tiny-{family}",
        f"model.architecture={family}",
        "training.adapter.r=4",
        "training.adapter.target_modules=[q_proj,v_proj,up_proj,down_proj]",
    ]
    done = run_sweep("launch", str(QUICKSTART), *MINI, *model, "--name", family, "--storage", str(tmp_path))
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    rows = ds.dataset(tmp_path / family / "results").to_table().to_pylist()
    assert {r["status"] for r in rows} <= {"completed", "stopped"}
    assert {r["search"] for r in rows} == {"intermediate-toy_nli", "target-none-toy_order", "target-toy_nli-toy_order"}
    encoder = tmp_path / family / "encoders" / "toy_nli" / "encoder" / "model.safetensors"
    from safetensors import safe_open

    with safe_open(str(encoder), "pt") as f:
        names = list(f.keys())
    assert any(n.endswith("q_proj.weight") for n in names) and not any("lora_" in n for n in names)
