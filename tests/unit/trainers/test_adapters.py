"""LoRA (training.adapter) on the tiny model: adapters and heads train and the rest stays as it was,
checkpoints hold only what trains, a resumed trial goes on exactly, and the stage-one encoder is
exported with the adapters folded in and starts a target trial like any encoder."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from tests.unit.trainers.test_engine import Keep, spec
from trainers.encoder_export import export_encoder
from trainers.encoder_io import read_encoder
from trainers.engine import run_trial
from trainers.errors import ModelError
from trainers.spec import AdapterSpec, HyperParameters, TrainingSpec

LORA = AdapterSpec(r=4, alpha=8.0, dropout=0.0)
HP = HyperParameters(learning_rate=1e-3, warmup_ratio=0.1, dropout=0.0)


def lora_spec(stage: int = 0, **changes):
    training = TrainingSpec(zero_stage=stage, max_train_examples=128, max_eval_examples=32, adapter=LORA)
    return spec(epochs=3, training=training, hparams=HP, **changes)


@pytest.fixture(scope="module")
def lora_runs(tmp_path_factory: pytest.TempPathFactory) -> dict[int, Keep]:
    runs = {}
    for stage in (0, 2, 3):
        keep = Keep(tmp_path_factory.mktemp(f"lora{stage}"))
        run_trial(lora_spec(stage), reporter=keep)
        runs[stage] = keep
    return runs


def _module_states(checkpoint: Path) -> dict:
    import torch

    return torch.load(checkpoint / "checkpoint" / "mp_rank_00_model_states.pt", weights_only=False)["module"]


def test_adapters_and_heads_train_and_checkpoints_hold_only_them(lora_runs: dict[int, Keep]) -> None:
    keep = lora_runs[0]
    losses = [m["train/en/loss"] for m in keep.metrics]
    assert losses == sorted(losses, reverse=True) and losses[-1] < losses[0]
    saved = _module_states(keep.checkpoints[-1])
    assert all(saved[name].abs().sum() > 0 for name in saved if ".lora_B." in name)  # they start at zero
    assert saved and all("lora_" in name or name.startswith("classifier") for name in saved)
    assert any(name.startswith("classifier") for name in saved)
    assert any(".lora_A." in name for name in saved) and any(".lora_B." in name for name in saved)


def test_zero_2_and_3_train_the_adapters_as_zero_0_does(lora_runs: dict[int, Keep]) -> None:
    for stage in (2, 3):  # ZeRO-3: adapters put on a model built in parts
        for a, b in zip(lora_runs[0].metrics, lora_runs[stage].metrics, strict=True):
            assert a["train/en/loss"] == pytest.approx(b["train/en/loss"], abs=1e-5), stage


def test_a_resumed_lora_trial_goes_on_exactly(lora_runs: dict[int, Keep], tmp_path: Path) -> None:
    resumed = Keep(tmp_path)
    run_trial(lora_spec(0), reporter=resumed, resume_dir=lora_runs[0].checkpoints[0])
    assert resumed.metrics[0]["train/en/loss"] == lora_runs[0].metrics[1]["train/en/loss"]
    assert resumed.metrics[0]["dev/en/accuracy"] == lora_runs[0].metrics[1]["dev/en/accuracy"]


def test_the_merged_encoder_folds_the_adapters_in_and_starts_a_target(
    lora_runs: dict[int, Keep], tmp_path: Path
) -> None:
    import torch

    from trainers.model import build_model, load_tokenizer

    run = lora_spec(3)
    export_encoder(lora_runs[3].checkpoints[-1], tmp_path / "encoder", spec=run)
    encoder = read_encoder(tmp_path / "encoder")
    assert not any("lora_" in name or "base_layer" in name for name in encoder)
    # The scratch model the trial started from (its seed's weights), whole: what the adapters changed.
    tokenizer = load_tokenizer(run.model)
    start = build_model(
        run.model, num_labels=3, vocab_size=len(tokenizer), dropout=0.0, pad_token_id=tokenizer.pad_token_id
    ).base_model.state_dict()
    assert encoder.keys() == start.keys()
    adapted = {name for name in encoder if not torch.equal(encoder[name], start[name])}
    assert adapted and all(name.endswith(".weight") for name in adapted)
    assert "embeddings.word_embeddings.weight" not in adapted  # frozen, no adapter: as it was
    # W' - W = B A alpha / r, of rank at most r.
    name = next(n for n in adapted if "query" in n)
    assert torch.linalg.matrix_rank(encoder[name] - start[name]).item() <= LORA.r
    target = spec(
        phase="target",
        task="toy_order",
        eval_languages=("en", "de"),
        eval_splits=("dev", "test"),
        epochs=1,
        init_encoder=str(tmp_path / "encoder"),
        training=run.training,
        hparams=HP,
    )
    out = Keep(tmp_path / "target")
    run_trial(target, reporter=out)
    assert {"dev/de/accuracy", "test/de/accuracy"} <= set(out.metrics[0])


def test_searched_rank_and_alpha_override_the_adapter_and_bad_targets_are_named(tmp_path: Path) -> None:
    from trainers.adapters import attach, rank_and_alpha
    from trainers.model import build_model, load_tokenizer

    assert rank_and_alpha(LORA, HyperParameters(lora_r=8)) == (8, 8.0)
    assert rank_and_alpha(LORA, HyperParameters(lora_alpha=2.0)) == (4, 2.0)
    run = lora_spec(0)
    tokenizer = load_tokenizer(run.model)
    model = build_model(run.model, num_labels=3, vocab_size=len(tokenizer), dropout=0.0, pad_token_id=1)
    with pytest.raises(ModelError, match="q_proj.*its linear layers: dense, key, query, value"):
        attach(model, dataclasses.replace(LORA, target_modules=("q_proj",)), HyperParameters())
    trained, total = attach(model, LORA, HyperParameters(lora_r=2))
    assert 0 < trained < total / 4
