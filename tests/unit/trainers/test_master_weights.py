"""ZeRO-3 keeps one fp32 copy of an fp32 model (trainers.partition.one_fp32_copy), on two gloo workers of this
machine: the optimizer's master weights are the parameters' own partitions, and training takes the same steps
as with DeepSpeed's second copy (``XSTILTS_FP32_MASTER_COPY=1``)."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest

from tests.s3 import free_port

pytestmark = pytest.mark.slow  # two-process gloo runs: make test-all


def _worker(rank: int, world: int, port: int, folder: str, copy: bool, out: str) -> None:
    import torch
    import torch.distributed as dist

    os.environ.update(LOCAL_RANK=str(rank), RANK=str(rank), WORLD_SIZE=str(world), DS_ACCELERATOR="cpu")
    os.environ["XSTILTS_FP32_MASTER_COPY"] = "1" if copy else "0"
    dist.init_process_group("gloo", init_method=f"tcp://127.0.0.1:{port}", rank=rank, world_size=world)
    from trainers import ops

    ops.ready()  # DeepSpeed's compiled ops, built once per environment
    import deepspeed

    from trainers.model import build_model
    from trainers.partition import gathered, one_fp32_copy, partitioned
    from trainers.spec import ModelSpec

    ds_config = {
        "train_micro_batch_size_per_gpu": 1,
        "train_batch_size": world,
        "zero_optimization": {"stage": 3, "sub_group_size": 2_000},  # several sub-groups
        "zero_force_ds_cpu_optimizer": False,
    }
    torch.manual_seed(0)
    with partitioned(ds_config):
        spec = ModelSpec(name="tiny", init="pretrained", architecture="", path=folder)
        model = build_model(spec, kind="classification", num_labels=3, vocab_size=400, dropout=0.0)
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-2)
    with one_fp32_copy():
        engine, *_ = deepspeed.initialize(model=model, optimizer=optimizer, config=ds_config)
    zero = engine.optimizer
    shared = [
        master.data_ptr() == own.data_ptr()
        for master, own in zip(zero.fp32_partitioned_groups_flat, zero.fp16_partitioned_groups_flat, strict=True)
    ]
    generator = torch.Generator().manual_seed(rank)
    losses = []
    for _ in range(4):
        ids = torch.randint(5, 400, (1, 12), generator=generator)
        labels = torch.randint(0, 3, (1,), generator=generator)
        loss = engine(input_ids=ids, labels=labels).loss
        engine.backward(loss)
        engine.step()
        losses.append(float(loss))
    weight = next(p for n, p in model.named_parameters() if n.endswith("embed_tokens.weight"))
    with gathered([weight], write=False):
        checksum = float(weight.detach().double().sum())
    found = {"groups": len(shared), "shared": sum(shared), "losses": losses, "checksum": checksum}
    Path(out).with_suffix(f".{rank}").write_text(json.dumps(found))
    dist.barrier()  # no rank tears gloo down while another still talks to it
    dist.destroy_process_group()


def _train(folder: Path, tmp_path: Path, *, copy: bool) -> list[dict[str, Any]]:
    import torch.multiprocessing as mp

    out = tmp_path / ("copy" if copy else "one")
    mp.start_processes(_worker, args=(2, free_port(), str(folder), copy, str(out)), nprocs=2, start_method="spawn")
    return [json.loads(out.with_suffix(f".{rank}").read_text()) for rank in range(2)]


def test_fp32_weights_are_their_own_master_copy_and_train_the_same(tmp_path: Path) -> None:
    from trainers.tiny import save_tiny_model

    folder = save_tiny_model("llama", tmp_path / "llama", seed=0)
    one = _train(folder, tmp_path, copy=False)
    two = _train(folder, tmp_path, copy=True)
    for rank in range(2):
        assert one[rank]["groups"] > 1, one[rank]
        assert one[rank]["shared"] == one[rank]["groups"], one[rank]  # no second copy of any sub-group
        assert two[rank]["shared"] == 0, two[rank]  # DeepSpeed's own way: every sub-group copied
        # The same steps: the losses and the trained weights agree (the same arithmetic on the same values).
        assert one[rank]["losses"] == pytest.approx(two[rank]["losses"], rel=1e-6, abs=1e-7)
        assert one[rank]["checksum"] == pytest.approx(two[rank]["checksum"], rel=1e-6)
    # Training moved: the losses are not all one value.
    assert len({round(x, 6) for x in one[0]["losses"]}) > 1
