"""Low-rank adapters (LoRA, through ``peft``) on a frozen encoder: ``training.adapter``.

``attach`` puts adapters on the encoder's linear layers (``target_modules`` by the last part of their
names; by default every linear layer of the encoder, whatever the family calls them) and freezes
everything else but the task heads, which train in full. The model keeps its own class and forward, so
every kind and every family trains as before. A trial's checkpoints then hold only what trains
(``trainers.checkpoint``); the frozen weights come back from where they came from (the model's files,
the stage-one encoder, the scratch seed).

``merged`` folds each adapter into the weight it adapts (W + B A x alpha / r) and returns the encoder's
tensors under the layer's own names, so a stage one trained with adapters hands its targets an ordinary
encoder (``trainers.encoder_export``).
"""

from __future__ import annotations

from typing import Any

from trainers.errors import ModelError
from trainers.spec import ADAPTER_METHODS, AdapterSpec, HyperParameters

__all__ = ["attach", "is_trained", "merged", "rank_and_alpha", "target_modules"]

#: What peft names an adapter's tensors (``query.lora_A.default.weight``) and its wrapped layer's.
MARK = "lora_"
WRAPPED = ".base_layer."


def rank_and_alpha(adapter: AdapterSpec, hp: HyperParameters) -> tuple[int, float]:
    """The adapters' rank and alpha for a trial: searched values over the adapter's own."""
    return (hp.lora_r or adapter.r, hp.lora_alpha if hp.lora_alpha is not None else adapter.alpha)


def target_modules(base: Any, adapter: AdapterSpec) -> list[str]:
    """The names (last parts) of the encoder's linear layers that get adapters."""
    import torch

    linear = sorted({name.rsplit(".", 1)[-1] for name, m in base.named_modules() if isinstance(m, torch.nn.Linear)})
    if not adapter.target_modules:
        return linear
    unknown = [name for name in adapter.target_modules if name not in linear]
    if unknown:
        raise ModelError(
            f"training.adapter.target_modules names {unknown}, which are not linear layers of this model's "
            f"encoder; its linear layers: {', '.join(linear)}"
        )
    return list(adapter.target_modules)


def is_trained(name: str, *, prefix: str) -> bool:
    """Whether a parameter trains under an adapter: the adapters' own, and the task heads' (outside the
    encoder, whose parameters' names start with ``prefix``)."""
    return MARK in name or not name.startswith(prefix)


def attach(model: Any, adapter: AdapterSpec, hp: HyperParameters) -> tuple[int, int]:
    """Put ``adapter``'s adapters on ``model``'s encoder and freeze all but them and the heads; return
    (parameters that train, all parameters). Under ZeRO-3 a parameter built in parts counts its whole size."""
    from peft import LoraConfig, inject_adapter_in_model

    from trainers.model import base_prefix

    if adapter.method not in ADAPTER_METHODS:
        raise ModelError(f"training.adapter.method {adapter.method!r} is not one of {', '.join(ADAPTER_METHODS)}")
    r, alpha = rank_and_alpha(adapter, hp)
    if r < 1:
        raise ModelError(f"training.adapter: the rank r is {r}; it must be at least 1")
    base = model.base_model
    prefix = base_prefix(model)
    if not prefix:
        raise ModelError(f"{type(model).__name__} has no task head apart from its encoder; adapters need one")
    config = LoraConfig(
        r=r, lora_alpha=alpha, lora_dropout=adapter.dropout, target_modules=target_modules(base, adapter), bias="none"
    )
    inject_adapter_in_model(config, base)
    trained = total = 0
    for name, parameter in model.named_parameters():
        parameter.requires_grad_(is_trained(name, prefix=prefix))
        size = getattr(parameter, "ds_numel", parameter.numel())
        total += size
        trained += size if parameter.requires_grad else 0
    return trained, total


def merged(model: Any) -> dict[str, Any]:
    """The encoder's tensors with each adapter folded into its layer's weight, under the names the model
    has without adapters (what ``trainers.encoder_io`` writes and ``load_encoder`` reads)."""
    import torch
    from peft.tuners.lora import LoraLayer

    with torch.no_grad():
        for module in model.base_model.modules():
            if isinstance(module, LoraLayer):
                module.merge()
    return {
        name.replace(WRAPPED, "."): tensor for name, tensor in model.base_model.state_dict().items() if MARK not in name
    }
