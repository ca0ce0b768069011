"""Exported encoders: safetensors shards with an index as save_pretrained writes them, written atomically,
read one shard at a time, and consolidated from two workers' ZeRO-3 shards without building the model."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from trainers.encoder_io import INDEX, SINGLE, load_encoder_into, read_encoder, write_encoder
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
    write_encoder(state, tmp_path / "encoder", sizes=_sizes(state), max_shard_bytes=1024)
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
    write_encoder(state, tmp_path / "small", sizes=_sizes(state))
    assert [p.name for p in (tmp_path / "small").iterdir()] == [SINGLE]


def test_a_crash_while_writing_leaves_the_previous_encoder_whole(tmp_path: Path) -> None:
    import torch

    old = _encoder(seed=0).state_dict()
    write_encoder(old, tmp_path / "encoder", sizes=_sizes(old), max_shard_bytes=1024)
    new = _encoder(seed=1).state_dict()

    def crash_on_the_second_shard(tensor):
        crash_on_the_second_shard.calls += 1
        if crash_on_the_second_shard.calls > 1:
            raise KeyboardInterrupt  # as a killed export would stop
        return tensor

    crash_on_the_second_shard.calls = 0
    with pytest.raises(KeyboardInterrupt):
        write_encoder(
            new, tmp_path / "encoder", sizes=_sizes(new), materialize=crash_on_the_second_shard, max_shard_bytes=1024
        )
    assert [p.name for p in tmp_path.iterdir()] == ["encoder"], "no half-written folder is left beside it"
    back = read_encoder(tmp_path / "encoder")
    assert all(torch.equal(back[k], old[k]) for k in old)


def test_an_incomplete_or_foreign_encoder_is_refused(tmp_path: Path) -> None:
    state = _encoder().state_dict()
    write_encoder(state, tmp_path / "encoder", sizes=_sizes(state), max_shard_bytes=1024)
    (tmp_path / "encoder" / "model-00002-of-00002.safetensors").unlink()
    with pytest.raises(CheckpointError, match="does not exist or is incomplete; rerun the intermediate search"):
        read_encoder(tmp_path / "encoder")
    with pytest.raises(CheckpointError, match="does not exist or is incomplete"):
        read_encoder(tmp_path / "nowhere")
    import torch

    write_encoder(state, tmp_path / "foreign", sizes=_sizes(state))
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
