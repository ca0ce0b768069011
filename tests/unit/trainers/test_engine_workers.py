"""The trainer on two workers (gloo, two processes on this machine): the same losses as one worker with the
same global batch, and a ZeRO-3 trial stopped after its first evaluation resumes to the same weights.

Each worker is a process of its own, started here with ``torch.multiprocessing`` (Ray Train starts them
in a sweep; ``tests/integration/test_workers.py`` covers that). The reporter gathers the workers'
checkpoint folders into one, as Ray Train does with what each worker reports.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
from pathlib import Path
from typing import Any

import pytest

from trainers.spec import HyperParameters, TrainingSpec, TrialSpec

from .test_engine import spec

#: Two workers average the gradients of their halves of a batch; one worker takes the mean over the
#: whole batch. The same up to float32 summation order, step after step.
LOSS_TOLERANCE = 1e-5


class _Stop(Exception):
    """Raised by the reporter to end a trial after a chosen epoch, as a killed trial ends."""


class Gather:
    """Keeps rank 0's metrics, and merges every worker's checkpoint folder into ``root/epoch_N``."""

    def __init__(self, root: Path, rank: int, *, stop_after: int | None = None) -> None:
        self.root, self.rank, self.stop_after = root, rank, stop_after

    def report(self, metrics: dict[str, Any], *, checkpoint_dir: Path) -> None:
        import torch.distributed as dist

        folder = self.root / f"epoch_{metrics['epoch']}"
        shutil.copytree(checkpoint_dir, folder, dirs_exist_ok=True)
        if self.rank == 0:
            with (self.root / "metrics.jsonl").open("a") as f:
                f.write(json.dumps(metrics) + "\n")
        dist.barrier()  # every worker's files are in place before any worker goes on
        if self.stop_after == metrics["epoch"]:
            raise _Stop


def _worker(rank: int, world: int, port: int, spec_data: dict, root: str, stop_after: int | None, resume: str | None):
    import torch
    import torch.distributed as dist

    from trainers.engine import run_trial

    os.environ.update(LOCAL_RANK=str(rank), RANK=str(rank), WORLD_SIZE=str(world))
    backend = "gloo"
    if torch.cuda.is_available() and torch.cuda.device_count() >= world:
        torch.cuda.set_device(rank)
        backend = "nccl"
    dist.init_process_group(backend, init_method=f"tcp://127.0.0.1:{port}", rank=rank, world_size=world)
    from trainers import ops

    ops.ready()  # DeepSpeed's compiled ops, built once per environment
    try:
        try:
            run_trial(
                TrialSpec.from_dict(spec_data),
                reporter=Gather(Path(root), rank, stop_after=stop_after),
                resume_dir=Path(resume) if resume else None,
            )
        except _Stop:
            pass
        dist.barrier()  # no rank tears gloo down while another still talks to it
    finally:
        dist.destroy_process_group()


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def run_workers(trial: TrialSpec, root: Path, *, world: int, stop_after: int | None = None, resume: Path | None = None):
    """Run ``trial`` on ``world`` worker processes; return rank 0's reported metrics."""
    import torch.multiprocessing as mp

    root.mkdir(parents=True, exist_ok=True)
    args = (world, _free_port(), trial.to_dict(), str(root), stop_after, str(resume) if resume else None)
    mp.start_processes(_worker, args=args, nprocs=world, join=True, start_method="spawn")
    return [json.loads(line) for line in (root / "metrics.jsonl").read_text().splitlines()]


def _trial(*, micro: int, zero: int, dropout: float = 0.0, **training: Any) -> TrialSpec:
    hp = HyperParameters(learning_rate=3e-3, warmup_ratio=0.1, dropout=dropout, micro_batch_size=micro)
    return spec(
        hparams=hp,
        training=TrainingSpec(zero_stage=zero, max_train_examples=128, max_eval_examples=32, **training),
    )


@pytest.mark.slow  # two-process gloo runs: make test-all
def test_two_workers_give_the_losses_of_one_worker_with_the_same_global_batch(tmp_path: Path) -> None:
    one = run_workers(_trial(micro=16, zero=0), tmp_path / "one", world=1)
    two = run_workers(_trial(micro=8, zero=2), tmp_path / "two", world=2)
    for a, b in zip(one, two, strict=True):
        assert b["train/en/loss"] == pytest.approx(a["train/en/loss"], abs=LOSS_TOLERANCE)
        assert b["dev/en/accuracy"] == a["dev/en/accuracy"]
        assert b["lr"] == pytest.approx(a["lr"])
    assert one[0]["train/en/loss"] != one[1]["train/en/loss"]  # it trained
    # ZeRO-2 sharded the optimizer state across the two workers: one shard each in the checkpoint.
    shards = sorted(p.name for p in (tmp_path / "two" / "epoch_2" / "checkpoint").glob("*optim_states.pt"))
    assert shards == ["zero_pp_rank_0_mp_rank_00_optim_states.pt", "zero_pp_rank_1_mp_rank_00_optim_states.pt"]


@pytest.mark.slow  # two-process gloo runs: make test-all
def test_a_two_worker_zero_3_trial_stopped_after_its_first_evaluation_resumes_to_the_same_weights(
    tmp_path: Path,
) -> None:
    import torch

    from trainers.encoder_export import export_encoder
    from trainers.encoder_io import read_encoder

    trial = _trial(micro=8, zero=3, dropout=0.1)  # dropout: each worker's RNG state must come back too
    whole = run_workers(trial, tmp_path / "whole", world=2)
    stopped = run_workers(trial, tmp_path / "stopped", world=2, stop_after=1)
    assert [m["epoch"] for m in stopped] == [1]
    resumed = run_workers(trial, tmp_path / "resumed", world=2, resume=tmp_path / "stopped" / "epoch_1")
    assert [m["epoch"] for m in resumed] == [2]
    assert resumed[0]["train/en/loss"] == whole[1]["train/en/loss"]

    # The weights, consolidated from both workers' ZeRO-3 shards, are the same to the bit.
    export_encoder(tmp_path / "whole" / "epoch_2", tmp_path / "whole-encoder", spec=trial)
    export_encoder(tmp_path / "resumed" / "epoch_2", tmp_path / "resumed-encoder", spec=trial)
    a, b = read_encoder(tmp_path / "whole-encoder"), read_encoder(tmp_path / "resumed-encoder")
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)
    assert stopped[0]["train/en/loss"] == whole[0]["train/en/loss"]


@pytest.mark.slow  # two-process gloo runs: make test-all
def test_a_mixture_trains_on_two_zero_3_workers_as_at_stage_0_and_its_encoder_starts_a_target(tmp_path: Path) -> None:
    """Three heads on one encoder, each worker holding a part of every head: the losses and scores of the
    same two workers at stage 0, and an encoder consolidated from the shards that starts a target."""
    import dataclasses

    from trainers.encoder_export import export_encoder

    from .test_mixtures import mixture_spec

    def trial(zero: int) -> TrialSpec:
        base = mixture_spec(training=TrainingSpec(zero_stage=zero, max_train_examples=96, max_eval_examples=32))
        return dataclasses.replace(base, hparams=dataclasses.replace(base.hparams, micro_batch_size=4, dropout=0.0))

    plain = run_workers(trial(0), tmp_path / "plain", world=2)
    parts = run_workers(trial(3), tmp_path / "parts", world=2)
    for a, b in zip(plain, parts, strict=True):
        for task in ("toy_nli", "toy_qa", "toy_choice"):
            assert b[f"{task}:train/en/loss"] == pytest.approx(a[f"{task}:train/en/loss"], abs=LOSS_TOLERANCE), task
        assert b["objective"] == pytest.approx(a["objective"], abs=1e-6)
    export_encoder(tmp_path / "parts" / "epoch_2", tmp_path / "encoder", spec=trial(3))
    target = dataclasses.replace(_trial(micro=8, zero=3), phase="target", init_encoder=str(tmp_path / "encoder"))
    metrics = run_workers(target, tmp_path / "target", world=2)
    assert metrics[-1]["train/en/loss"] < metrics[0]["train/en/loss"]


@pytest.mark.gpu
def test_two_gpus_train_bf16_with_zero_3_and_resume_to_the_same_losses(tmp_path: Path) -> None:
    """On a machine with two GPUs (NCCL): bf16 with ZeRO-3 across them trains, and a trial stopped after its
    first evaluation resumes to the losses of an uninterrupted one."""
    import torch

    if torch.cuda.device_count() < 2:
        pytest.skip("needs two CUDA GPUs")
    trial = _trial(micro=8, zero=3, precision="bf16")
    whole = run_workers(trial, tmp_path / "whole", world=2)
    assert whole[1]["train/en/loss"] < whole[0]["train/en/loss"]
    run_workers(trial, tmp_path / "stopped", world=2, stop_after=1)
    resumed = run_workers(trial, tmp_path / "resumed", world=2, resume=tmp_path / "stopped" / "epoch_1")
    assert resumed[0]["train/en/loss"] == pytest.approx(whole[1]["train/en/loss"], rel=1e-3)
