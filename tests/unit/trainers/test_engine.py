"""The trainer on a tiny model: pinned losses for a fixed seed, exact resume, encoder hand-over."""

from __future__ import annotations

import dataclasses
import shutil
from pathlib import Path
from typing import Any

import pytest

from trainers.encoder_export import export_encoder
from trainers.encoder_io import INDEX, encoder_files, read_encoder
from trainers.engine import run_trial, warmup_then_linear_decay
from trainers.errors import CheckpointError, DataError, TaskError
from trainers.spec import HyperParameters, ModelSpec, TrainingSpec, TrialSpec

ROOT = Path(__file__).resolve().parents[3]
TOY = ROOT / "data" / "toy"
HP = HyperParameters(learning_rate=3e-3, warmup_ratio=0.1, dropout=0.1)


class Keep:
    """A reporter that keeps every report and a copy of every checkpoint."""

    def __init__(self, tmp: Path) -> None:
        self.tmp, self.metrics, self.checkpoints = tmp, [], []

    def report(self, metrics: dict[str, Any], *, checkpoint_dir: Path) -> None:
        self.metrics.append(metrics)
        copy = self.tmp / f"ckpt{len(self.checkpoints)}"
        shutil.copytree(checkpoint_dir, copy)
        self.checkpoints.append(copy)


def spec(**changes: Any) -> TrialSpec:
    base = TrialSpec(
        sweep="t",
        search="s",
        phase="intermediate",
        task="toy_nli",
        train_languages=("en",),
        eval_languages=("en",),
        eval_splits=("dev",),
        select_on="english_dev",
        data_dir=str(TOY),
        epochs=2,
        seed=0,
        model=ModelSpec(tokenizer=str(TOY / "tokenizer.json")),
        training=TrainingSpec(zero_stage=0, max_train_examples=256, max_eval_examples=64),
        hparams=HP,
    )
    return dataclasses.replace(base, **changes)


@pytest.fixture(scope="module")
def two_epochs(tmp_path_factory: pytest.TempPathFactory) -> Keep:
    keep = Keep(tmp_path_factory.mktemp("run"))
    run_trial(spec(), reporter=keep)
    return keep


def test_losses_are_pinned_for_a_fixed_seed(two_epochs: Keep) -> None:
    losses = [m["train/en/loss"] for m in two_epochs.metrics]
    assert losses == pytest.approx(PINNED_LOSSES, abs=1e-5)
    assert [m["dev/en/accuracy"] for m in two_epochs.metrics] == PINNED_DEV_ACCURACY
    assert [m["epoch"] for m in two_epochs.metrics] == [1, 2]
    assert two_epochs.metrics[-1]["objective"] == two_epochs.metrics[-1]["dev/en/accuracy"]


def test_the_learning_rate_is_given_once_and_scheduled(two_epochs: Keep) -> None:
    # 256 examples in micro-batches of 16: 16 steps an epoch, 32 in all, round(0.1 * 32) = 3 of warmup.
    assert [m["lr"] for m in two_epochs.metrics] == pytest.approx([HP.learning_rate * (32 - 16) / (32 - 3), 0.0])
    ramp = warmup_then_linear_decay(warmup_steps=3, total_steps=32)
    assert [ramp(step) for step in (0, 1, 3, 32)] == pytest.approx([0.0, 1 / 3, 1.0, 0.0])
    flat = warmup_then_linear_decay(warmup_steps=0, total_steps=32)  # warmup_ratio 0: the full rate at once
    assert [flat(step) for step in (0, 16)] == pytest.approx([1.0, 0.5])


def test_resume_from_a_checkpoint_repeats_the_same_epoch(two_epochs: Keep, tmp_path: Path) -> None:
    again = Keep(tmp_path)
    run_trial(spec(), reporter=again, resume_dir=two_epochs.checkpoints[0])
    assert [m["epoch"] for m in again.metrics] == [2]
    assert again.metrics[0]["train/en/loss"] == pytest.approx(two_epochs.metrics[1]["train/en/loss"], abs=1e-7)
    assert again.metrics[0]["dev/en/accuracy"] == two_epochs.metrics[1]["dev/en/accuracy"]


def test_a_zero_2_trial_resumes_exactly(tmp_path: Path) -> None:
    """ZeRO-2 keeps the optimizer state and fp32 weights in partitions, and the schedule's step in the
    checkpoint: a resumed epoch repeats the uninterrupted one, rate included."""
    run = spec(training=TrainingSpec(zero_stage=2, max_train_examples=128, max_eval_examples=32))
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    whole, resumed = Keep(tmp_path / "a"), Keep(tmp_path / "b")
    run_trial(run, reporter=whole)
    run_trial(run, reporter=resumed, resume_dir=whole.checkpoints[0])
    assert [m["epoch"] for m in resumed.metrics] == [2]
    assert resumed.metrics[0]["train/en/loss"] == pytest.approx(whole.metrics[1]["train/en/loss"], abs=1e-7)
    assert resumed.metrics[0]["lr"] == whole.metrics[1]["lr"]
    assert resumed.metrics[0]["dev/en/accuracy"] == whole.metrics[1]["dev/en/accuracy"]


@pytest.fixture(scope="module")
def by_zero_stage(tmp_path_factory: pytest.TempPathFactory) -> dict[int, tuple[TrialSpec, Keep, Path]]:
    """One epoch of the same trial under ZeRO stages 0, 1 and 2, and each one's exported encoder."""
    runs = {}
    for stage in (0, 1, 2):
        folder = tmp_path_factory.mktemp(f"zero{stage}")
        keep = Keep(folder)
        run = spec(epochs=1, training=TrainingSpec(zero_stage=stage, max_train_examples=128, max_eval_examples=32))
        run_trial(run, reporter=keep)
        export_encoder(keep.checkpoints[0], folder / "encoder", spec=run)
        runs[stage] = (run, keep, folder / "encoder")
    return runs


def test_zero_stages_train_alike(by_zero_stage: dict[int, tuple[TrialSpec, Keep, Path]]) -> None:
    """ZeRO only changes where optimizer state lives: in fp32 on one rank the same steps give the same
    loss and weights up to float summation order (the clipped gradient norm is summed over flat
    partitions). Stages 1 and 2 keep the fp32 weights in optimizer partitions; the export consolidates them."""
    import torch

    loss = {stage: keep.metrics[0]["train/en/loss"] for stage, (_, keep, _) in by_zero_stage.items()}
    dev = {stage: keep.metrics[0]["dev/en/accuracy"] for stage, (_, keep, _) in by_zero_stage.items()}
    encoders = {stage: read_encoder(path) for stage, (_, _, path) in by_zero_stage.items()}
    assert not any(k.startswith("classifier") for k in encoders[0])
    for stage in (1, 2):
        assert loss[stage] == pytest.approx(loss[0], abs=ZERO_TOLERANCE), stage
        assert dev[stage] == dev[0], stage
        assert encoders[stage].keys() == encoders[0].keys()
        assert all(torch.allclose(encoders[stage][k], encoders[0][k], atol=ZERO_TOLERANCE) for k in encoders[0])


def test_exported_encoder_starts_the_target_phase(
    by_zero_stage: dict[int, tuple[TrialSpec, Keep, Path]], tmp_path: Path
) -> None:

    first, _, encoder = by_zero_stage[2]
    target = spec(
        phase="target",
        task="toy_order",
        eval_languages=("en", "de"),
        eval_splits=("dev", "test"),
        epochs=1,
        init_encoder=str(encoder),
        training=first.training,
    )
    out = Keep(tmp_path)
    run_trial(target, reporter=out)
    assert set(out.metrics[0]) >= {"dev/en/accuracy", "dev/de/accuracy", "test/en/accuracy", "test/de/accuracy"}
    # A German word never occurs in English training: its embedding row is the encoder's, unchanged
    # (HP has no weight decay), while the English rows trained.
    rows = _word_embeddings(out.checkpoints[0])
    start = read_encoder(encoder)["embeddings.word_embeddings.weight"]
    changed = (rows != start).any(dim=1)
    assert changed.any() and not changed.all()


def test_a_sharded_export_holds_what_the_one_file_export_holds(
    by_zero_stage: dict[int, tuple[TrialSpec, Keep, Path]], tmp_path: Path
) -> None:
    """The shards are planned from the model's skeleton, before any weight is gathered from the ZeRO
    partitions: small ones here, so the word embeddings (198 x 64 floats, 50 KB) are a shard of their own."""
    import json

    import torch

    run, keep, whole = by_zero_stage[2]
    export_encoder(keep.checkpoints[0], tmp_path / "sharded", spec=run, max_shard_bytes=40_000)
    files = encoder_files(tmp_path / "sharded")
    assert len(files) >= 3 and files[-1] == INDEX
    weight_map = json.loads((tmp_path / "sharded" / INDEX).read_text())["weight_map"]
    assert [k for k, f in weight_map.items() if f == weight_map["embeddings.word_embeddings.weight"]] == [
        "embeddings.word_embeddings.weight"
    ]
    a, b = read_encoder(whole), read_encoder(tmp_path / "sharded")
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


def _word_embeddings(checkpoint: Path) -> Any:
    """The word embeddings of a ZeRO-2 fp32 checkpoint, consolidated by DeepSpeed's own tool."""
    import contextlib
    import io

    from deepspeed.utils.zero_to_fp32 import get_fp32_state_dict_from_zero_checkpoint

    with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
        state = get_fp32_state_dict_from_zero_checkpoint(str(checkpoint), tag="checkpoint")
    return state["roberta.embeddings.word_embeddings.weight"]


def test_unknown_hyperparameter_is_named() -> None:
    with pytest.raises(TaskError, match="unknown hyperparameter `lerning_rate`; did you mean `learning_rate`"):
        HyperParameters.from_search({"lerning_rate": 1e-3})


def test_missing_data_and_encoder_errors(tmp_path: Path) -> None:
    with pytest.raises(DataError, match="no data for task `toy_nli` in `en`: expected a folder"):
        run_trial(spec(data_dir=str(tmp_path)), reporter=Keep(tmp_path))
    with pytest.raises(CheckpointError, match="does not exist"):
        run_trial(
            spec(phase="target", task="toy_order", init_encoder=str(tmp_path / "none.pt")), reporter=Keep(tmp_path)
        )


# Mean training loss per epoch and dev accuracy of spec() with HP, seed 0, fp32 on CPU (torch 2.13, DeepSpeed
# 0.19.8), under warmup_then_linear_decay.
PINNED_LOSSES = [1.113296, 1.111598]
PINNED_DEV_ACCURACY = [0.3125, 0.328125]
ZERO_TOLERANCE = 1e-6  # loss and weights across ZeRO stages: fp32 summation order only


def test_second_trial_reuses_the_tokenized_splits(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from trainers import kinds

    calls = []
    real = kinds.featurize
    monkeypatch.setattr(kinds, "featurize", lambda *a, **k: calls.append(1) or real(*a, **k))
    cached = spec(
        epochs=1,
        training=TrainingSpec(max_train_examples=64, max_eval_examples=32, feature_cache=str(tmp_path / "cache")),
    )
    first, second = Keep(tmp_path / "a"), Keep(tmp_path / "b")
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    run_trial(cached, reporter=first)
    assert len(calls) == 2  # train and dev
    run_trial(cached, reporter=second)
    assert len(calls) == 2  # both from the cache
    assert second.metrics[0]["train/en/loss"] == first.metrics[0]["train/en/loss"]


@pytest.mark.parametrize(
    "memory_savers",
    [
        {"activation_checkpointing": True},
        {"offload_optimizer": True},
        {"zero_stage": 3, "offload_optimizer": True, "offload_parameters": True},
    ],
    ids=["activation-checkpointing", "zero-2-offload-optimizer", "zero-3-offload-both"],
)
def test_memory_savers_train_to_the_same_losses(memory_savers: dict[str, Any], tmp_path: Path) -> None:
    """Recomputing activations and moving optimizer state or parameters to host memory change where the
    numbers live, not what they are (dropout off, so recomputation draws nothing)."""
    hp = dataclasses.replace(HP, dropout=0.0)
    base = TrainingSpec(zero_stage=2, max_train_examples=128, max_eval_examples=32)
    plain, saved = Keep(tmp_path / "plain"), Keep(tmp_path / "saved")
    (tmp_path / "plain").mkdir(), (tmp_path / "saved").mkdir()
    run_trial(spec(training=base, hparams=hp), reporter=plain)
    run_trial(spec(training=dataclasses.replace(base, **memory_savers), hparams=hp), reporter=saved)
    losses = [[m["train/en/loss"] for m in keep.metrics] for keep in (plain, saved)]
    assert losses[1] == pytest.approx(losses[0], abs=1e-6)


def test_zero_3_buffers_are_sized_by_the_model_width(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """At ZeRO-3 DeepSpeed's buffers follow the model's width h (gradient buckets of h^2, optimizer
    sub-groups of 10 h^2, tensors under 10 h kept whole, at most 10 h^2 gathered elements held or kept for
    reuse), a scratch model's from its spec and a pretrained
    one's from its config; below ZeRO-3, and with the whole-model build of before, DeepSpeed's own stand."""
    import transformers

    from trainers.engine import deepspeed_config

    def zero(stage: int, model: ModelSpec) -> dict[str, Any]:
        run = spec(model=model, training=TrainingSpec(zero_stage=stage))
        return deepspeed_config(run)["zero_optimization"]

    scratch = ModelSpec(tokenizer=str(TOY / "tokenizer.json"), hidden_size=96)
    assert zero(3, scratch) == {
        "stage": 3,
        "reduce_bucket_size": 96 * 96,
        "stage3_prefetch_bucket_size": int(0.9 * 96 * 96),
        "stage3_param_persistence_threshold": 960,
        "sub_group_size": 10 * 96 * 96,
        "stage3_max_live_parameters": 10 * 96 * 96,
        "stage3_max_reuse_distance": 10 * 96 * 96,
    }
    assert zero(2, scratch) == {"stage": 2}
    config = transformers.LlamaConfig(
        hidden_size=160, intermediate_size=320, num_hidden_layers=1, num_attention_heads=4
    )
    config.save_pretrained(tmp_path)
    pretrained = ModelSpec(init="pretrained", architecture="llama", path=str(tmp_path))
    assert zero(3, pretrained)["sub_group_size"] == 10 * 160 * 160
    monkeypatch.setenv("XSTILTS_WHOLE_MODEL_BUILD", "1")
    assert zero(3, scratch) == {"stage": 3}


def test_a_model_its_config_cannot_build_is_a_model_error_at_once(tmp_path: Path) -> None:
    """A config transformers cannot build a model from (an activation it has no function for) fails the same
    way on every attempt: the trial raises a ModelError naming the model, the folder and the cause, which
    a sweep reports without retrying (sweep.run.trial_run.run_or_fatal)."""
    import json

    from trainers.errors import ModelError
    from trainers.tiny import save_tiny_model

    folder = save_tiny_model("llama", tmp_path / "llama", seed=0)
    config = json.loads((folder / "config.json").read_text())
    (folder / "config.json").write_text(json.dumps({**config, "hidden_act": "no_such_act"}))
    model = ModelSpec(name="broken", init="pretrained", architecture="llama", path=str(folder), max_length=32)
    run = spec(model=model, training=TrainingSpec(zero_stage=0, max_train_examples=8, max_eval_examples=8))
    with pytest.raises(ModelError, match=rf"model `broken` cannot be built from {folder}: KeyError: .*no_such_act"):
        run_trial(run, reporter=Keep(tmp_path))
