"""`sweep validate` estimates a worker's memory for the model's states before launch, with DeepSpeed's
estimators, and names the ZeRO stages, offloads or worker counts that would fit."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from sweep.errors import ConfigError
from sweep.preflight.memory import Plan, bytes_per_worker, host_bytes_per_node, model_sizes
from sweep.preflight.validate import load_config
from trainers.spec import ModelSpec
from trainers.tiny import train_tokenizer

QUICKSTART = Path(__file__).resolve().parents[3] / "configs" / "quickstart.yaml"
#: Llama-2-7B's shape (32 layers of 4096, a 32,000-token vocabulary).
LLAMA_7B = {
    "model_type": "llama",
    "hidden_size": 4096,
    "intermediate_size": 11008,
    "num_hidden_layers": 32,
    "num_attention_heads": 32,
    "num_key_value_heads": 32,
    "vocab_size": 32000,
    "max_position_embeddings": 4096,
}


@pytest.fixture
def llama_7b(tmp_path: Path) -> Path:
    folder = tmp_path / "llama-7b"
    folder.mkdir()
    (folder / "config.json").write_text(json.dumps(LLAMA_7B))
    (folder / "model.safetensors.index.json").write_text("{}")  # validation reads no weights
    train_tokenizer("llama").save_pretrained(folder)  # a real one: validation loads it
    return folder


def test_a_7b_decoder_is_counted_from_its_config_alone(llama_7b: Path) -> None:
    total, largest = model_sizes(ModelSpec(name="llama-7b", init="pretrained", path=str(llama_7b)))
    assert total == 6_607_343_616  # Llama-2-7B without its LM head
    assert largest == 32000 * 4096  # the embedding matrix
    # DeepSpeed's estimators: 20 bytes a parameter unsharded; ZeRO-3 over 8 workers leaves 18/8 of them
    # plus the largest layer in fp32.
    assert bytes_per_worker(total, largest, Plan(0, 1), gpu=True) == 20 * total
    assert bytes_per_worker(total, largest, Plan(3, 8), gpu=True) == 4 * largest + int(18 * total / 8)
    assert bytes_per_worker(total, largest, Plan(3, 1, True, True), gpu=True) == 4 * largest


def _problems(overrides: list[str]) -> list[str]:
    with pytest.raises(ConfigError) as info:
        load_config(QUICKSTART, overrides)
    return info.value.problems


def test_a_model_that_cannot_fit_a_worker_is_refused_with_what_would_fit(llama_7b: Path) -> None:
    model = ["model.init=pretrained", f"model.path={llama_7b}", "model.tokenizer=null", "model.name=llama-7b"]
    (problem,) = _problems([*model, "resources.memory_per_worker_gb=40"])  # the quickstart trains with ZeRO-1
    assert problem.startswith(
        "model `llama-7b` (6.61B parameters) needs about 123.1 GiB per worker for its weights, gradients and "
        "optimizer state under ZeRO stage 1 with 1 worker(s) (DeepSpeed's estimate; activations come on top), "
        "but a worker has 40.0 GiB (resources.memory_per_worker_gb); what would fit: "
        "training.zero_stage=3 resources.workers_per_trial=4 ("
    ), problem
    # The first plan it names fits.
    fits = [*model, "resources.memory_per_worker_gb=40", "training.zero_stage=3", "resources.workers_per_trial=4"]
    assert load_config(QUICKSTART, fits).resources.workers_per_trial == 4
    # Offloading needs the stages that do it.
    assert "training.offload_parameters needs training.zero_stage=3 (only stage 3 partitions parameters)" in (
        _problems([*fits, "training.zero_stage=2", "training.offload_parameters=true"])
    )
    assert "training.offload_optimizer needs ZeRO: set training.zero_stage to 1, 2 or 3" in _problems(
        [*fits, "training.zero_stage=0", "training.offload_optimizer=true"]
    )


def test_gpu_workers_that_cannot_fit_their_node_s_host_memory_are_refused_with_what_would(llama_7b: Path) -> None:
    """Below ZeRO-3 each of a node's eight workers loads a whole fp32 copy of a 7B model (DeepSpeed's host
    estimate: 4 bytes x 8 workers x 1.5 a parameter, 317 GB); built in parts under ZeRO-3 a worker holds
    its partition and the largest layer."""
    model = ["model.init=pretrained", f"model.path={llama_7b}", "model.tokenizer=null", "model.name=llama-7b"]
    node = ["resources.gpus_per_trial=1", "resources.memory_per_worker_gb=80", "resources.workers_per_trial=8"]
    node += ["resources.gpus_per_node=8", "resources.host_memory_per_node_gb=256"]
    (problem,) = _problems([*model, *node, "training.zero_stage=2"])
    assert problem.startswith(
        "model `llama-7b` (6.61B parameters) needs about 295 GiB of host memory on a node for 8 of its 8 "
        "worker(s) under ZeRO stage 2"
    ), problem
    assert "but a node has 256 GiB (resources.host_memory_per_node_gb); what would fit: training.zero_stage=3 " in (
        problem
    )
    total, largest = model_sizes(ModelSpec(name="llama-7b", init="pretrained", path=str(llama_7b)))
    assert host_bytes_per_node(total, largest, Plan(2, 8), workers_per_node=8) == int(total * 4 * 8 * 1.5)
    assert host_bytes_per_node(total, largest, Plan(3, 8), workers_per_node=8) == int(largest * 4 * 8 * 1.5)
    # The plan it names fits; with a node big enough, ZeRO-2 does too.
    assert load_config(QUICKSTART, [*model, *node, "training.zero_stage=3"]).training.zero_stage == 3
    roomy = [*model, *node, "training.zero_stage=2", "resources.host_memory_per_node_gb=1100"]
    assert load_config(QUICKSTART, roomy).training.zero_stage == 2


def test_lora_on_a_frozen_base_needs_its_weights_and_the_adapters_states_only(llama_7b: Path) -> None:
    """training.adapter: a 7B base frozen in bf16 (2 bytes a parameter, no gradients or optimizer state)
    with rank-16 adapters on every linear layer (40M parameters, 16 bytes each and DeepSpeed's margin)
    fits one 40 GiB worker, where full fine-tuning needs ZeRO-3 over four."""
    from sweep.preflight.memory import adapter_size
    from trainers.spec import AdapterSpec

    spec = ModelSpec(name="llama-7b", init="pretrained", path=str(llama_7b))
    # 32 layers x (q, k, v, o: 16 x 8192 each; gate, up: 16 x 15104; down: 16 x 15104)
    assert adapter_size(spec, AdapterSpec(r=16)) == 32 * 16 * (4 * 8192 + 3 * 15104)
    model = ["model.init=pretrained", f"model.path={llama_7b}", "model.tokenizer=null", "model.name=llama-7b"]
    lora = ["training.adapter.r=16", "training.precision=bf16", "resources.memory_per_worker_gb=40"]
    config = load_config(QUICKSTART, [*model, *lora])
    assert config.training.adapter == AdapterSpec(r=16) and config.resources.workers_per_trial == 1
    # Too small a worker: refused, naming the frozen weights and the adapters.
    (problem,) = _problems([*model, *lora[:2], "resources.memory_per_worker_gb=12"])
    assert "needs about 13.1 GiB per worker for its frozen weights and its adapters' (40.0M parameters)" in problem
    assert "training.adapter.target_modules names ['c_attn']" in " ".join(
        _problems([*model, *lora, "training.adapter.target_modules=[c_attn]"])
    )
