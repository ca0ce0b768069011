"""configs/studies/scaling_decoders.yaml at full size: with folders holding the real LLaMA-7B, 13B and 30B
configs where the study expects the weights, `sweep validate`'s model and memory checks pass for every
entry on the cluster the study names, and refuse a plan that would not fit."""

from __future__ import annotations

import dataclasses
import json
import shutil
from pathlib import Path

import pytest

from sweep.preflight.memory import check_memory
from sweep.preflight.model_checks import check_model
from sweep.preflight.validate import load_config
from trainers.tiny import train_tokenizer

ROOT = Path(__file__).resolve().parents[3]
STUDY = ROOT / "configs" / "studies" / "scaling_decoders.yaml"


def _llama(hidden: int, intermediate: int, layers: int, heads: int) -> dict:
    return {
        "model_type": "llama",
        "architectures": ["LlamaForCausalLM"],
        "hidden_size": hidden,
        "intermediate_size": intermediate,
        "num_hidden_layers": layers,
        "num_attention_heads": heads,
        "num_key_value_heads": heads,
        "vocab_size": 32000,
        "max_position_embeddings": 2048,
        "rms_norm_eps": 1e-6,
    }


#: The released LLaMA configs (Touvron et al. 2023, Table 2).
LLAMA = {
    "llama-7b": _llama(4096, 11008, 32, 32),
    "llama-13b": _llama(5120, 13824, 40, 40),
    "llama-30b": _llama(6656, 17920, 60, 52),
}


@pytest.fixture
def study(tmp_path: Path) -> Path:
    """The shipped study, copied unchanged to where its relative model paths find these folders."""
    copy = tmp_path / "configs" / "studies" / STUDY.name
    copy.parent.mkdir(parents=True)
    shutil.copy(STUDY, copy)
    for name, config in LLAMA.items():
        folder = tmp_path / "models" / name
        folder.mkdir(parents=True)
        (folder / "config.json").write_text(json.dumps(config))
        (folder / "model.safetensors.index.json").write_text("{}")  # validation reads no weights
        train_tokenizer("llama").save_pretrained(folder)  # a real one: validation loads it
    return copy


def _problems(config, name: str) -> list[str]:
    entry = config.for_model(name)
    problems: list[str] = []
    check_model(entry.model, entry.training, problems)
    check_memory(entry.model, entry.training, entry.resources, problems)
    return problems


def test_every_entry_fits_the_cluster_the_study_names(study: Path) -> None:
    config = load_config(study, check_data=False)
    assert config.model_names() == ("llama-7b", "llama-7b-lora", "llama-13b-lora", "llama-30b-lora")
    for name in config.model_names():
        assert _problems(config, name) == [], name
    lora = {name: config.for_model(name).training.adapter for name in config.model_names()}
    assert lora["llama-7b"] is None and all(lora[n] is not None for n in lora if n.endswith("-lora"))


def test_a_plan_that_does_not_fit_is_refused(study: Path) -> None:
    """30B in full on the 7B entry's plan (eight workers, ZeRO-3): 33B x 16 bytes / 8 is far over 40 GB."""
    config = load_config(study, check_data=False)
    big = config.for_model("llama-30b-lora")
    config = dataclasses.replace(big, training=dataclasses.replace(big.training, adapter=None))
    config = dataclasses.replace(config, resources=dataclasses.replace(config.resources, workers_per_trial=8))
    problems: list[str] = []
    check_memory(config.model, config.training, config.resources, problems)
    (problem,) = problems
    assert "needs about" in problem and "but a worker has 40.0 GiB" in problem and "what would fit" in problem
