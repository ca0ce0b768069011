"""``model.attn_implementation``: ``auto`` picks FlashAttention-2 on GPU workers where it is installed and the
family has it, else PyTorch's sdpa where the family has it, else the family's own; a kernel named outright
is checked against the family and the workers before launch, and the built model runs with it."""

from __future__ import annotations

from pathlib import Path

import pytest

from sweep.errors import ConfigError
from sweep.preflight.validate import load_config
from trainers import families
from trainers.families import attention
from trainers.model import build_model
from trainers.spec import ModelSpec
from trainers.tiny import save_tiny_model

QUICKSTART = Path(__file__).resolve().parents[3] / "configs" / "quickstart.yaml"


@pytest.fixture(scope="module")
def folders(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("models")
    return {family: save_tiny_model(family, root / family) for family in ("llama", "deberta-v2")}


def test_auto_resolves_by_family_and_device(folders: dict[str, Path], monkeypatch: pytest.MonkeyPatch) -> None:
    llama = ModelSpec(name="llama", init="pretrained", path=str(folders["llama"]))
    deberta = ModelSpec(name="deberta", init="pretrained", path=str(folders["deberta-v2"]))
    configs = {spec.name: families.pretrained_config(spec) for spec in (llama, deberta)}
    assert attention(llama, configs["llama"], gpu=False) == "sdpa"
    assert attention(deberta, configs["deberta"], gpu=False) == "eager"  # DeBERTa-v2 has no sdpa in transformers
    monkeypatch.setattr(families, "flash_attention_installed", lambda: True)
    assert attention(llama, configs["llama"], gpu=True) == "flash_attention_2"
    assert attention(llama, configs["llama"], gpu=False) == "sdpa"  # FlashAttention-2 is a GPU kernel
    assert attention(deberta, configs["deberta"], gpu=True) == "eager"


def test_the_built_model_runs_with_the_resolved_kernel(folders: dict[str, Path]) -> None:
    for spec, expected in [
        (ModelSpec(name="llama", init="pretrained", path=str(folders["llama"])), "sdpa"),
        (ModelSpec(name="llama", init="pretrained", path=str(folders["llama"]), attn_implementation="eager"), "eager"),
        (ModelSpec(name="deberta", init="pretrained", path=str(folders["deberta-v2"])), "eager"),
        (ModelSpec(tokenizer="unused", attn_implementation="eager"), "eager"),
        (ModelSpec(tokenizer="unused"), "sdpa"),
    ]:
        model = build_model(spec, kind="classification", num_labels=3, vocab_size=400, dropout=0.0)
        assert model.config._attn_implementation == expected, spec


def test_a_kernel_the_family_or_the_workers_lack_is_refused_before_launch(folders: dict[str, Path]) -> None:
    def problems(*overrides: str) -> list[str]:
        with pytest.raises(ConfigError) as info:
            load_config(QUICKSTART, list(overrides))
        return info.value.problems

    assert problems("model.attn_implementation=flash") == [
        "model.attn_implementation 'flash' is not one of auto, eager, sdpa, flash_attention_2"
    ]
    (gpu_only,) = problems("model.attn_implementation=flash_attention_2")
    assert "FlashAttention-2 runs on GPUs only" in gpu_only
    deberta = [f"model.path={folders['deberta-v2']}", "model.init=pretrained", "model.tokenizer=null"]
    (no_sdpa,) = problems(*deberta, "model.name=deberta", "model.attn_implementation=sdpa")
    assert no_sdpa == (
        "model `deberta` (deberta-v2) has no sdpa attention in transformers; set model.attn_implementation to "
        "eager or auto"
    )
    assert load_config(QUICKSTART, ["model.attn_implementation=eager"]).model.attn_implementation == "eager"
