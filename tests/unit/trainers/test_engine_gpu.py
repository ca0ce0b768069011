"""The trainer on a GPU: bf16 with ZeRO-2, as sweeps run on real clusters (skipped without CUDA)."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from trainers.engine import run_trial
from trainers.spec import TrainingSpec

from .test_engine import Keep, spec

pytestmark = pytest.mark.gpu


@pytest.mark.parametrize("zero_stage", [2, 3])
def test_bf16_zero_trains_on_gpu(zero_stage: int, tmp_path: Path) -> None:
    keep = Keep(tmp_path)
    run = dataclasses.replace(
        spec(), epochs=2, training=TrainingSpec(precision="bf16", zero_stage=zero_stage, max_train_examples=512)
    )
    run_trial(run, reporter=keep)
    losses = [m["train/en/loss"] for m in keep.metrics]
    assert len(losses) == 2 and losses[1] < losses[0]
