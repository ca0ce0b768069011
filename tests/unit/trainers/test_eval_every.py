"""Evaluations every N optimizer steps or every fraction of an epoch, a trial resumed between two of them,
and evaluations on capped dev sets that selection never picks."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from trainers.engine import run_trial
from trainers.reporting import evaluation_interval
from trainers.spec import CAPPED_SCORE, SELECTION, TrainingSpec

from .test_engine import Keep, spec


class StopAfter(Keep):
    """Keeps reports like ``Keep`` and ends the trial after the ``n``-th, as a killed trial ends."""

    def __init__(self, tmp: Path, n: int) -> None:
        super().__init__(tmp)
        self.n = n

    def report(self, metrics, *, checkpoint_dir):
        super().report(metrics, checkpoint_dir=checkpoint_dir)
        if len(self.metrics) == self.n:
            raise KeyboardInterrupt


def _trial(**training):
    # 256 examples in micro-batches of 16: 16 optimizer steps an epoch, 32 in two epochs.
    return spec(training=TrainingSpec(zero_stage=0, max_train_examples=256, max_eval_examples=64, **training))


def test_a_quarter_epoch_apart_gives_four_evaluations_an_epoch_and_resumes_between_them(tmp_path: Path) -> None:
    whole = Keep(tmp_path / "whole")
    (tmp_path / "whole").mkdir()
    run_trial(_trial(eval_every="0.25 epochs"), reporter=whole)
    assert [m["epoch"] for m in whole.metrics] == [0.25, 0.5, 0.75, 1, 1.25, 1.5, 1.75, 2]
    assert [m["optimizer_step"] for m in whole.metrics] == [4, 8, 12, 16, 20, 24, 28, 32]
    assert {m["evaluations"] for m in whole.metrics} == {8}
    assert all("dev/en/accuracy" in m for m in whole.metrics)

    # Killed after the third evaluation (mid-epoch), resumed from its checkpoint: the same batches follow.
    (tmp_path / "stopped").mkdir()
    stopped = StopAfter(tmp_path / "stopped", 3)
    with pytest.raises(KeyboardInterrupt):
        run_trial(_trial(eval_every="0.25 epochs"), reporter=stopped)
    (tmp_path / "resumed").mkdir()
    resumed = Keep(tmp_path / "resumed")
    run_trial(_trial(eval_every="0.25 epochs"), reporter=resumed, resume_dir=stopped.checkpoints[-1])
    assert [m["epoch"] for m in resumed.metrics] == [1, 1.25, 1.5, 1.75, 2]
    for a, b in zip(whole.metrics[3:], resumed.metrics, strict=True):
        assert a["train/en/loss"] == b["train/en/loss"] and a["dev/en/accuracy"] == b["dev/en/accuracy"]


def test_every_n_steps_ends_with_an_evaluation_at_the_last_step(tmp_path: Path) -> None:
    keep = Keep(tmp_path)
    run_trial(_trial(eval_every="5 steps"), reporter=keep)
    assert [m["optimizer_step"] for m in keep.metrics] == [5, 10, 15, 20, 25, 30, 32]
    assert {m["evaluations"] for m in keep.metrics} == {7}
    assert evaluation_interval("0.3 epochs", steps_per_epoch=16) == 5  # round(4.8)
    assert evaluation_interval(None, steps_per_epoch=16) is None


def test_capped_dev_evaluations_are_scored_apart_and_the_last_scores_everything(tmp_path: Path) -> None:
    keep = Keep(tmp_path)
    trial = dataclasses.replace(
        _trial(eval_every="0.5 epochs", eval_dev_examples=16),
        phase="target",
        task="toy_order",
        eval_splits=("dev", "test"),
    )
    run_trial(trial, reporter=keep)
    *early, last = keep.metrics
    assert len(early) == 3
    for metrics in early:
        assert "dev_capped/en/accuracy" in metrics and "dev/en/accuracy" not in metrics
        assert not any(key.startswith("test/") for key in metrics)
        assert metrics["objective"] == metrics["dev_capped/en/accuracy"] and metrics[SELECTION] == CAPPED_SCORE
    assert "dev/en/accuracy" in last and "test/en/accuracy" in last
    assert last[SELECTION] == last["objective"] == last["dev/en/accuracy"]
    # 16 examples score in steps of 1/16; the whole 64 in steps of 1/64.
    assert all((m["dev_capped/en/accuracy"] * 16).is_integer() for m in early)
    # Test predictions are kept only with the checkpoint of the last, whole evaluation.
    assert not (keep.checkpoints[0] / "predictions").exists()
    assert any((keep.checkpoints[-1] / "predictions").iterdir())


def test_with_accumulation_the_last_optimizer_step_is_the_final_evaluation(tmp_path: Path) -> None:
    """32 micro-batches in 2 epochs, 3 a step: 10 steps, the last 2 micro-batches never applied. Every 5
    steps gives 2 evaluations, the second the final one, not a third at the same weights."""
    hp = dataclasses.replace(spec().hparams, gradient_accumulation_steps=3)
    keep = Keep(tmp_path)
    run_trial(dataclasses.replace(_trial(eval_every="5 steps"), hparams=hp), reporter=keep)
    assert [m["optimizer_step"] for m in keep.metrics] == [5, 10]
    assert {m["evaluations"] for m in keep.metrics} == {2}
