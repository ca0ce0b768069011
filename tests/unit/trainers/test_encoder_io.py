"""Exported encoders: safetensors shards with an index as save_pretrained writes them, written atomically,
read one shard at a time, and consolidated from two workers' ZeRO-3 shards without building the model."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from trainers.encoder_io import (
    INDEX,
    SINGLE,
    encoder_files,
    load_encoder_into,
    plan_shards,
    read_encoder,
    write_encoder,
)
from trainers.errors import CheckpointError


def _encoder(seed: int = 0):
    import torch

    torch.manual_seed(seed)
    return torch.nn.Sequential(torch.nn.Embedding(50, 8), torch.nn.Linear(8, 8), torch.nn.LayerNorm(8))


def _sizes(state):
    return {k: v.numel() * v.element_size() for k, v in state.items()}


def test_a_big_encoder_is_written_as_shards_with_the_index_transformers_reads(tmp_path: Path) -> None:
    import torch
    from transformers.utils import SAFE_WEIGHTS_INDEX_NAME, SAFE_WEIGHTS_NAME

    assert (SINGLE, INDEX) == (SAFE_WEIGHTS_NAME, SAFE_WEIGHTS_INDEX_NAME)
    state = _encoder().state_dict()
    write_encoder(state, tmp_path / "encoder", max_shard_bytes=1024)
    index = json.loads((tmp_path / "encoder" / INDEX).read_text())
    shards = sorted(set(index["weight_map"].values()))
    # 50x8 floats (1,600 bytes) is a shard alone; the rest share the next.
    assert shards == ["model-00001-of-00002.safetensors", "model-00002-of-00002.safetensors"]
    assert index["weight_map"]["0.weight"] == shards[0] and index["metadata"]["total_size"] == sum(
        _sizes(state).values()
    )
    assert sorted(p.name for p in (tmp_path / "encoder").iterdir()) == [*shards, INDEX]
    back = read_encoder(tmp_path / "encoder")
    assert back.keys() == state.keys() and all(torch.equal(back[k], state[k]) for k in state)

    # Loaded shard by shard into another model of the same shape.
    other = _encoder(seed=1)
    assert load_encoder_into(other, tmp_path / "encoder") == set(state)
    assert all(torch.equal(other.state_dict()[k], state[k]) for k in state)
    # A small one is one file, as save_pretrained writes it.
    write_encoder(state, tmp_path / "small")
    assert [p.name for p in (tmp_path / "small").iterdir()] == [SINGLE]


def test_transformers_loads_a_sharded_encoder_folder_as_its_own(tmp_path: Path) -> None:
    """The folder is what save_pretrained writes: with the model's config beside it, from_pretrained reads it."""
    import torch
    import transformers

    config = transformers.BertConfig(
        vocab_size=60, hidden_size=16, num_hidden_layers=1, num_attention_heads=2, intermediate_size=32
    )
    torch.manual_seed(0)
    model = transformers.BertModel(config)
    write_encoder(model.state_dict(), tmp_path / "encoder", max_shard_bytes=4096)
    config.save_pretrained(tmp_path / "encoder")
    assert len(encoder_files(tmp_path / "encoder")) > 3, "several shards and the index"
    back = transformers.AutoModel.from_pretrained(tmp_path / "encoder")
    assert all(torch.equal(back.state_dict()[k], v) for k, v in model.state_dict().items())


def test_shards_are_planned_from_meta_tensors_without_allocating_them() -> None:
    """An export plans from the model's skeleton: a 40 GB encoder's plan costs no memory."""
    import torch

    like = {
        "embeddings.weight": torch.empty(250_000, 40_000, device="meta"),  # 40 GB of fp32: a shard alone
        "layer.0.weight": torch.empty(1024, 1024, device="meta"),
        "layer.0.bias": torch.empty(1024, device="meta"),
    }
    split = plan_shards(like, max_shard_bytes=5 * 1024**3)
    assert list(split.filename_to_tensors.values()) == [["embeddings.weight"], ["layer.0.weight", "layer.0.bias"]]
    assert split.metadata["total_size"] == 4 * (250_000 * 40_000 + 1024 * 1024 + 1024)


def _write_as_the_earlier_planner_did(state, folder: Path, *, max_shard_bytes: int) -> list[list[str]]:
    """An encoder folder as exports before huggingface_hub's planner wrote it: tensors in order, a new
    shard whenever the next would pass the limit (so a big tensor also closes the shard before it)."""
    from safetensors.torch import save_file

    shards: list[list[str]] = []
    size = 0
    for name, tensor in state.items():
        nbytes = tensor.numel() * tensor.element_size()
        if not shards or size + nbytes > max_shard_bytes:
            shards.append([])
            size = 0
        shards[-1].append(name)
        size += nbytes
    folder.mkdir()
    weight_map = {}
    for i, names in enumerate(shards):
        file = f"model-{i + 1:05d}-of-{len(shards):05d}.safetensors"
        save_file({k: state[k].contiguous().clone() for k in names}, str(folder / file), metadata={"format": "pt"})
        weight_map.update(dict.fromkeys(names, file))
    total = sum(t.numel() * t.element_size() for t in state.values())
    index = {"metadata": {"total_size": total}, "weight_map": weight_map}
    (folder / INDEX).write_text(json.dumps(index, indent=2, sort_keys=True))
    return shards


def test_an_encoder_that_earlier_versions_sharded_otherwise_still_loads(tmp_path: Path) -> None:
    """Old sweeps' encoders are read after the planner changed: readers go by the index, whatever the grouping."""
    import torch

    torch.manual_seed(0)
    # A big tensor between small ones: the earlier planner wrote three shards, huggingface_hub's two.
    state = torch.nn.Sequential(torch.nn.Linear(8, 8), torch.nn.Embedding(50, 8), torch.nn.LayerNorm(8)).state_dict()
    old = _write_as_the_earlier_planner_did(state, tmp_path / "old", max_shard_bytes=1024)
    assert old == [["0.weight", "0.bias"], ["1.weight"], ["2.weight", "2.bias"]]
    new = plan_shards(state, max_shard_bytes=1024)
    assert list(new.filename_to_tensors.values()) == [["1.weight"], ["0.weight", "0.bias", "2.weight", "2.bias"]]

    assert encoder_files(tmp_path / "old") == [f"model-0000{i}-of-00003.safetensors" for i in (1, 2, 3)] + [INDEX]
    back = read_encoder(tmp_path / "old")
    assert back.keys() == state.keys() and all(torch.equal(back[k], state[k]) for k in state)
    other = torch.nn.Sequential(torch.nn.Linear(8, 8), torch.nn.Embedding(50, 8), torch.nn.LayerNorm(8))
    assert load_encoder_into(other, tmp_path / "old") == set(state)
    assert all(torch.equal(other.state_dict()[k], state[k]) for k in state)


def test_a_crash_while_writing_leaves_the_previous_encoder_whole(tmp_path: Path) -> None:
    import torch

    old = _encoder(seed=0).state_dict()
    write_encoder(old, tmp_path / "encoder", max_shard_bytes=1024)
    new = _encoder(seed=1).state_dict()

    def crash_on_the_second_shard(tensor):
        crash_on_the_second_shard.calls += 1
        if crash_on_the_second_shard.calls > 1:
            raise KeyboardInterrupt  # as a killed export would stop
        return tensor

    crash_on_the_second_shard.calls = 0
    with pytest.raises(KeyboardInterrupt):
        write_encoder(new, tmp_path / "encoder", materialize=crash_on_the_second_shard, max_shard_bytes=1024)
    assert [p.name for p in tmp_path.iterdir()] == ["encoder"], "no half-written folder is left beside it"
    back = read_encoder(tmp_path / "encoder")
    assert all(torch.equal(back[k], old[k]) for k in old)


def test_an_incomplete_or_foreign_encoder_is_refused(tmp_path: Path) -> None:
    state = _encoder().state_dict()
    write_encoder(state, tmp_path / "encoder", max_shard_bytes=1024)
    (tmp_path / "encoder" / "model-00002-of-00002.safetensors").unlink()
    with pytest.raises(CheckpointError, match="does not exist or is incomplete; rerun the intermediate search"):
        read_encoder(tmp_path / "encoder")
    with pytest.raises(CheckpointError, match="does not exist or is incomplete"):
        read_encoder(tmp_path / "nowhere")
    import torch

    write_encoder(state, tmp_path / "foreign")
    with pytest.raises(CheckpointError, match=r"does not fit the model: unexpected \['0.weight'"):
        load_encoder_into(torch.nn.Sequential(torch.nn.Identity(), torch.nn.Linear(8, 8)), tmp_path / "foreign")


def test_an_encoder_with_a_pooler_starts_a_model_without_one(tmp_path: Path) -> None:
    """XLM-R's multiple-choice head keeps a pooler, its tagging head none: a multiple-choice intermediate
    task's encoder still starts a tagging target."""
    from trainers.model import build_model, encoder_state, load_encoder, save_encoder
    from trainers.spec import ModelSpec

    spec = ModelSpec(hidden_size=32, num_layers=1, num_heads=2, intermediate_size=64)
    choice = build_model(spec, kind="multiple_choice", num_labels=2, vocab_size=50, dropout=0.0)
    tagger = build_model(spec, kind="tagging", num_labels=5, vocab_size=50, dropout=0.0)
    assert any(k.startswith("pooler.") for k in choice.base_model.state_dict())
    assert not any(k.startswith("pooler.") for k in tagger.base_model.state_dict())
    save_encoder(encoder_state(choice), tmp_path / "encoder")
    load_encoder(tagger, tmp_path / "encoder")
    import torch

    weights = "embeddings.word_embeddings.weight"
    assert torch.equal(tagger.base_model.state_dict()[weights], choice.base_model.state_dict()[weights])
