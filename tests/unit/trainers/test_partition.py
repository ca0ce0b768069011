"""Models built in parts under ZeRO-3 (trainers.partition), on two gloo workers of this machine: each worker
holds only its partition, and the gathered weights are exactly the checkpoint's (a pretrained model of each
tiny family and every kind's head), the project's own decoder multiple-choice head's, and an exported
encoder's loaded into the parts."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest

from tests.s3 import free_port

pytestmark = pytest.mark.slow  # two-process gloo runs: make test-all

KINDS = ("classification", "multiple_choice", "qa", "tagging")


def _worker(rank: int, world: int, port: int, folder: str, encoder: str, out: str) -> None:
    import torch
    import torch.distributed as dist

    os.environ.update(LOCAL_RANK=str(rank), RANK=str(rank), WORLD_SIZE=str(world), DS_ACCELERATOR="cpu")
    dist.init_process_group("gloo", init_method=f"tcp://127.0.0.1:{port}", rank=rank, world_size=world)
    from trainers import ops

    ops.ready()  # DeepSpeed's compiled ops, built once per environment
    from safetensors.torch import load_file

    from trainers.encoder_io import read_encoder
    from trainers.model import build_model, load_encoder, load_tokenizer
    from trainers.partition import gathered, partitioned
    from trainers.spec import ModelSpec

    ds_config = {"train_micro_batch_size_per_gpu": 1, "zero_optimization": {"stage": 3}}
    checkpoint = load_file(str(Path(folder) / "model.safetensors"))
    encoder_weights = read_encoder(encoder) if encoder else {}
    spec = ModelSpec(name="tiny", init="pretrained", architecture="", path=folder)
    tokenizer = load_tokenizer(spec)
    found: dict[str, Any] = {}
    for kind in KINDS:
        with partitioned(ds_config):
            model = build_model(spec, kind=kind, num_labels=3, vocab_size=len(tokenizer), dropout=0.0)
            if encoder:
                load_encoder(model, encoder)
        parameters = dict(model.named_parameters())
        held = sum(p.numel() for p in parameters.values())
        whole = sum(p.ds_numel for p in parameters.values())
        prefix = next(f"{n}." for n, m in model.named_modules() if m is model.base_model)
        differ, head_std = [], None
        for name, parameter in parameters.items():
            with gathered([parameter], write=False):
                value = parameter.detach().clone()
            key = name[len(prefix) :] if name.startswith(prefix) else None
            expected = encoder_weights.get(key) if encoder else None
            if expected is None and key is not None:
                expected = checkpoint.get(key)
            if expected is not None and not torch.equal(value, expected):
                differ.append(name)
            if name in ("score.weight", "classifier.weight", "qa_outputs.weight", "classifier.out_proj.weight"):
                head_std = float(value.std())
        found[kind] = {"held": held, "whole": whole, "differ": differ, "head_std": head_std}
    if rank == 0:
        Path(out).write_text(json.dumps(found))
    dist.barrier()  # no rank tears gloo down while another still talks to it
    dist.destroy_process_group()


def _run(folder: Path, tmp_path: Path, *, encoder: Path | None = None) -> dict[str, Any]:
    import torch.multiprocessing as mp

    out = tmp_path / "found.json"
    args = (2, free_port(), str(folder), str(encoder or ""), str(out))
    mp.start_processes(_worker, args=args, nprocs=2, join=True, start_method="spawn")
    return json.loads(out.read_text())


@pytest.mark.parametrize("family", ["xlm-roberta", "llama"])
def test_a_pretrained_model_is_built_in_parts_with_the_checkpoint_s_weights(family: str, tmp_path: Path) -> None:
    from trainers.tiny import save_tiny_model

    folder = save_tiny_model(family, tmp_path / family, seed=0)
    found = _run(folder, tmp_path)
    assert set(found) == set(KINDS)
    for kind, seen in found.items():
        # Each of two workers holds about half of every parameter (ZeRO pads partitions to equal sizes).
        assert seen["held"] <= seen["whole"] / 2 + 2 * 1024, (kind, seen)
        assert seen["differ"] == [], (kind, seen["differ"][:5])
        # The fresh head was drawn, not left at zeros by a write into an empty partition.
        assert seen["head_std"] and seen["head_std"] > 0, (kind, seen)


def test_an_exported_encoder_loads_into_the_parts(tmp_path: Path) -> None:
    """A pair's target trial starts from stage one's encoder: written into the partitions, it is exactly
    the exported tensors."""
    import torch
    from safetensors.torch import load_file

    from trainers.model import save_encoder
    from trainers.tiny import save_tiny_model

    folder = save_tiny_model("xlm-roberta", tmp_path / "model", seed=0)
    torch.manual_seed(1)
    state = {k: torch.randn_like(v) for k, v in load_file(str(folder / "model.safetensors")).items()}
    encoder = tmp_path / "encoder"
    save_encoder(state, encoder, max_shard_bytes=64 * 1024)  # several shards, loaded one at a time
    found = _run(folder, tmp_path, encoder=encoder)
    assert all(seen["differ"] == [] for seen in found.values()), found
