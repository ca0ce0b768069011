"""Intermediate mixtures in the trainer: sampling rates, epoch plans, and a tiny model trained on three
kinds of task at once with one encoder, resumed exactly, and its encoder handed to a target."""

from __future__ import annotations

import dataclasses
from collections import Counter
from pathlib import Path

import pytest

from tests.unit.trainers.test_engine import HP, Keep, spec
from trainers.encoder_export import export_encoder
from trainers.engine import run_trial
from trainers.mixing import plan_epoch, sampling_rates
from trainers.spec import MixtureSpec, SourceSpec, TrainingSpec

ROOT = Path(__file__).resolve().parents[3]
TOY = ROOT / "data" / "toy"


def source(task: str, **over: object) -> SourceSpec:
    return SourceSpec(**{"task": task, "languages": ("en",), "train_task": task, "head": task, **over})


def test_sampling_rates_follow_the_rule() -> None:
    a, b = source("mnli"), source("qqp")
    assert sampling_rates([300, 100], MixtureSpec(sources=(a, b))) == [0.75, 0.25]
    # T = 2 takes square roots: 300 ** .5 : 100 ** .5
    rates = sampling_rates([300, 100], MixtureSpec(sources=(a, b), sampling="temperature", temperature=2.0))
    assert rates == pytest.approx([3**0.5 / (3**0.5 + 1), 1 / (3**0.5 + 1)])
    weighted = (source("mnli", weight=3.0), source("qqp", weight=1.0))
    assert sampling_rates([10, 1000], MixtureSpec(sources=weighted, sampling="weights")) == [0.75, 0.25]
    capped = (source("mnli", cap=100), source("qqp"))
    assert sampling_rates([300, 100], MixtureSpec(sources=capped)) == [0.5, 0.5]


def test_a_source_without_examples_is_named() -> None:
    from trainers.errors import DataError

    weighted = MixtureSpec(sources=(source("mnli", weight=1.0), source("qqp", weight=1.0)), sampling="weights")
    with pytest.raises(DataError, match="qqp have no training examples"):
        plan_epoch([10, 0], seed=0, epoch=1, global_micro=4, world=1, mixture=weighted)


def test_a_mixture_epoch_is_full_batches_drawn_at_the_rates() -> None:
    mixture = MixtureSpec(sources=(source("mnli"), source("qqp")))
    sizes = [900, 100]
    batches = plan_epoch(sizes, seed=0, epoch=1, global_micro=8, world=1, mixture=mixture)
    assert len(batches) == 125  # one pass over 1000 examples in expectation
    assert all(len(b.indices) == 8 and all(0 <= i < sizes[b.source] for i in b.indices) for b in batches)
    counts = Counter(b.source for b in batches)
    assert 95 <= counts[0] <= 125 and counts[0] + counts[1] == 125
    # Each source reads a reshuffled pass before repeating an example.
    small = [i for b in batches if b.source == 1 for i in b.indices]
    assert len(small) >= 64 and len(set(small[:100])) == len(small[:100])
    again = plan_epoch(sizes, seed=0, epoch=1, global_micro=8, world=1, mixture=mixture)
    assert [(b.source, b.indices) for b in again] == [(b.source, b.indices) for b in batches]
    other = plan_epoch(sizes, seed=0, epoch=2, global_micro=8, world=1, mixture=mixture)
    assert [b.source for b in other] != [b.source for b in batches]


MIXTURE = MixtureSpec(
    sources=(source("toy_nli"), source("toy_qa"), source("toy_choice")),
    sampling="temperature",
    temperature=2.0,
)


def mixture_spec(**changes: object) -> object:
    base = spec(
        task="toy_mix",
        mixture=MIXTURE,
        training=TrainingSpec(zero_stage=0, max_train_examples=96, max_eval_examples=32),
    )
    return dataclasses.replace(base, **changes)


@pytest.fixture(scope="module")
def mixed(tmp_path_factory: pytest.TempPathFactory) -> Keep:
    keep = Keep(tmp_path_factory.mktemp("mix"))
    run_trial(mixture_spec(), reporter=keep)
    return keep


def test_a_mixture_trains_every_source_on_one_encoder(mixed: Keep) -> None:
    last = mixed.metrics[-1]
    for task, metric in (("toy_nli", "accuracy"), ("toy_qa", "em_f1_avg"), ("toy_choice", "accuracy")):
        assert f"{task}:dev/en/{metric}" in last
        assert f"{task}:train/en/sampling_rate" in last
    rates = [last[f"{t}:train/en/sampling_rate"] for t in ("toy_nli", "toy_qa", "toy_choice")]
    assert sum(rates) == pytest.approx(1.0)
    # The objective is the mean of the three sources' dev scores.
    mean = (last["toy_nli:dev/en/accuracy"] + last["toy_qa:dev/en/em_f1_avg"] + last["toy_choice:dev/en/accuracy"]) / 3
    assert last["objective"] == pytest.approx(mean)
    # Every source was drawn and trained in each epoch.
    assert all(m[f"{t}:train/en/loss"] > 0 for m in mixed.metrics for t in ("toy_nli", "toy_qa", "toy_choice"))


def test_a_mixture_selected_on_one_task(tmp_path: Path) -> None:
    keep = Keep(tmp_path)
    run_trial(mixture_spec(epochs=1, mixture=dataclasses.replace(MIXTURE, select="toy_qa")), reporter=keep)
    assert keep.metrics[-1]["objective"] == keep.metrics[-1]["toy_qa:dev/en/em_f1_avg"]


def test_a_mixture_resumes_exactly(mixed: Keep, tmp_path: Path) -> None:
    again = Keep(tmp_path)
    run_trial(mixture_spec(), reporter=again, resume_dir=mixed.checkpoints[0])
    assert len(again.metrics) == 1
    for key, value in mixed.metrics[-1].items():
        if key.endswith(("/loss", "/accuracy", "/em_f1_avg", "objective")):
            assert again.metrics[0][key] == pytest.approx(value, abs=1e-6), key


def test_zero_2_trains_a_mixture_like_zero_0(mixed: Keep, tmp_path: Path) -> None:
    """Under ZeRO-2 the heads a step does not use get zero gradients from the flat partitions; stage 0 gives
    them zeros too, so training matches."""
    keep = Keep(tmp_path)
    run_trial(
        mixture_spec(training=TrainingSpec(zero_stage=2, max_train_examples=96, max_eval_examples=32)),
        reporter=keep,
    )
    for key in ("toy_nli:train/en/loss", "toy_qa:train/en/loss", "toy_choice:dev/en/accuracy"):
        assert [m[key] for m in keep.metrics] == pytest.approx([m[key] for m in mixed.metrics], abs=1e-4), key


def test_a_mixtures_encoder_starts_a_target(mixed: Keep, tmp_path: Path) -> None:
    out = tmp_path / "encoder"
    export_encoder(mixed.checkpoints[-1], out, spec=mixture_spec())
    target = spec(
        phase="target",
        task="toy_paws",
        eval_splits=("dev", "test"),
        epochs=1,
        init_encoder=str(out),
        hparams=HP,
    )
    keep = Keep(tmp_path / "target")
    (tmp_path / "target").mkdir()
    run_trial(target, reporter=keep)
    assert "test/en/accuracy" in keep.metrics[-1]


def test_zero_3_trains_a_mixture_like_zero_0(mixed: Keep, tmp_path: Path) -> None:
    """Under ZeRO-3 a mixture's heads are built in parts like its encoder, and a head a step leaves unused
    gets a zero gradient as at stage 0, not the one it had when last used (which DeepSpeed's stage-3
    partitions would keep: it trained to other losses, by 0.013 after two epochs)."""
    keep = Keep(tmp_path)
    run_trial(
        mixture_spec(training=TrainingSpec(zero_stage=3, max_train_examples=96, max_eval_examples=32)),
        reporter=keep,
    )
    for key in (
        "toy_nli:train/en/loss",
        "toy_qa:train/en/loss",
        "toy_choice:train/en/loss",
        "toy_choice:dev/en/accuracy",
    ):
        assert [m[key] for m in keep.metrics] == pytest.approx([m[key] for m in mixed.metrics], abs=1e-4), key


@pytest.mark.slow  # four more trials of the mixture: make test-all
@pytest.mark.parametrize("offload", [False, True], ids=["zero3", "zero3-offload"])
def test_zero_3_accumulates_a_mixture_like_zero_0(offload: bool, tmp_path: Path) -> None:
    """Two micro-batches an optimizer step, each from its own source, and with ZeRO-Offload (whose CPU
    optimizer keeps its own copy of the gradients) as well: the losses of stage 0."""

    def trial(**training: object) -> object:
        base = mixture_spec(training=TrainingSpec(max_train_examples=96, max_eval_examples=32, **training))
        return dataclasses.replace(base, hparams=dataclasses.replace(base.hparams, gradient_accumulation_steps=2))

    plain, three = Keep(tmp_path / "plain"), Keep(tmp_path / "three")
    run_trial(trial(zero_stage=0), reporter=plain)
    run_trial(trial(zero_stage=3, offload_optimizer=offload), reporter=three)
    for key in ("toy_nli:train/en/loss", "toy_qa:train/en/loss", "toy_choice:train/en/loss"):
        assert [m[key] for m in three.metrics] == pytest.approx([m[key] for m in plain.metrics], abs=1e-4), key
