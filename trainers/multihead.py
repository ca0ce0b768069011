"""One encoder, several task heads: the model of an intermediate mixture.

Each head is the model ``build_model`` makes for its task's kind (``XLMRobertaForQuestionAnswering``,
``DecoderForMultipleChoice``...), and all of them hold the same encoder module, so a step on any head
trains the one encoder. Only the first head's model is built with weights; the others are built on
the meta device and given the shared encoder, so a big pretrained model is read once, whatever the
number of heads. ``base_model`` is the shared encoder, as for a single-head model, so encoders are
exported and loaded the same way (its keys start ``heads.<first head>.<base prefix>``).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import torch

from trainers.spec import ModelSpec


class MultiHeadModel(torch.nn.Module):
    """Task heads sharing one encoder; ``forward(head=name, **inputs)`` runs one of them.

    In training, every parameter gets a gradient at every step: the layers whose parameters the step's
    loss does not reach (the other heads, and encoder layers only they read, such as XLM-R's pooler) are
    run on zeros and their outputs added to the loss times zero, so their gradients are zeros. At every
    ZeRO stage and with ZeRO-Offload, DeepSpeed then treats them as any parameter of any step; left without
    a gradient, ZeRO-3 would step them on the last gradient they had (its partitions keep it), and
    ZeRO-Offload with gradient accumulation would drop the gradients of a window's earlier micro-steps.
    """

    def __init__(self, heads: Mapping[str, torch.nn.Module]) -> None:
        super().__init__()
        self.heads = torch.nn.ModuleDict(dict(heads))
        self.config = next(iter(heads.values())).config
        self._idle: dict[str, list[torch.nn.Module]] = {}  # each head's unreached layers, found at its first step

    @property
    def base_model(self) -> torch.nn.Module:
        """The shared encoder."""
        return next(iter(self.heads.values())).base_model

    def forward(self, head: str, **inputs: Any) -> Any:
        out = self.heads[head](**inputs)
        if not (self.training and torch.is_grad_enabled()) or out.loss is None:
            return out
        if head not in self._idle:
            reached = _parameters_reached(out.loss)
            self._idle[head] = [
                layer
                for layer in self.modules()
                if any(p.requires_grad and id(p) not in reached for p in layer.parameters(recurse=False))
            ]
        if self._idle[head]:
            out.loss = out.loss + sum(_zero_output(layer) for layer in self._idle[head])
        return out


def _parameters_reached(loss: torch.Tensor) -> set[int]:
    """The ids of the parameters ``loss``'s autograd graph leads to (nothing is computed)."""
    reached: set[int] = set()
    seen: set[Any] = set()
    stack = [loss.grad_fn]
    while stack:
        node = stack.pop()
        if node is None or node in seen:
            continue
        seen.add(node)
        variable = getattr(node, "variable", None)  # an AccumulateGrad node: a leaf tensor
        if variable is not None:
            reached.add(id(variable))
        stack.extend(next_node for next_node, _ in node.next_functions)
    return reached


def _zero_output(layer: torch.nn.Module) -> torch.Tensor:
    """``layer`` run on one row of zeros, summed, times zero: a term of the loss whose gradient with respect
    to every parameter of ``layer`` is zero. Called as a module (not by reading its weights), so ZeRO-3
    gathers the parameters for it as for any layer."""
    weight = next(layer.parameters(recurse=False))
    options = {"dtype": weight.dtype, "device": weight.device}
    if isinstance(layer, torch.nn.Linear):
        zeros = torch.zeros(1, layer.in_features, **options)
    elif isinstance(layer, torch.nn.LayerNorm):
        zeros = torch.zeros(1, *layer.normalized_shape, **options)
    elif isinstance(layer, torch.nn.Embedding):
        zeros = torch.zeros(1, dtype=torch.long, device=weight.device)
    else:
        raise TypeError(
            f"a mixture's head left a {type(layer).__name__} layer unused, which cannot be given a zero gradient"
        )
    return layer(zeros).float().sum() * 0.0


def _attach_encoder(model: torch.nn.Module, encoder: torch.nn.Module) -> None:
    prefix = getattr(model, "base_model_prefix", "")
    if prefix and hasattr(model, prefix):
        setattr(model, prefix, encoder)
    else:  # the project's own heads keep the encoder as ``base_model``
        model.base_model = encoder


def _materialize(model: torch.nn.Module, *, std: float) -> None:
    """Give the head's parameters (still on the meta device) fresh values, as its family initializes them."""
    for module in model.modules():
        if not any(p.is_meta for p in module.parameters(recurse=False)):
            continue
        module.to_empty(device="cpu", recurse=False)
        if isinstance(module, torch.nn.Linear):
            torch.nn.init.normal_(module.weight, std=std)
            if module.bias is not None:
                torch.nn.init.zeros_(module.bias)
        elif isinstance(module, torch.nn.LayerNorm):
            torch.nn.init.ones_(module.weight)
            torch.nn.init.zeros_(module.bias)
        else:
            raise RuntimeError(f"cannot initialize a head module of type {type(module).__name__}")


def _owner_first(
    spec: ModelSpec, heads: Mapping[str, tuple[str, int]], *, vocab_size: int, pad_token_id: int | None
) -> dict[str, tuple[str, int]]:
    """``heads`` with the one whose encoder has the most parameters first: its encoder is the shared one.
    Encoders differ by head in a few layers (XLM-R's multiple-choice head reads the pooler, which the
    other heads' encoders leave out); the others' heads ignore what they do not read."""
    from trainers.model import model_skeleton

    sizes = {
        name: len(
            list(
                model_skeleton(
                    spec, kind=kind, num_labels=outputs, vocab_size=vocab_size, pad_token_id=pad_token_id
                ).base_model.named_parameters()
            )
        )
        for name, (kind, outputs) in heads.items()
    }
    owner = max(heads, key=lambda name: sizes[name])  # the first of the largest: a stable choice
    return {owner: heads[owner], **{name: value for name, value in heads.items() if name != owner}}


def build_multihead(
    spec: ModelSpec, *, heads: Mapping[str, tuple[str, int]], vocab_size: int, dropout: float, pad_token_id: int | None
) -> MultiHeadModel:
    """A model with one head per entry of ``heads`` (name -> (kind, outputs)), all on one encoder."""
    from trainers.model import build_model, model_skeleton

    built: dict[str, torch.nn.Module] = {}
    encoder = None
    for name, (kind, outputs) in _owner_first(spec, heads, vocab_size=vocab_size, pad_token_id=pad_token_id).items():
        if encoder is None:
            model = build_model(
                spec, kind=kind, num_labels=outputs, vocab_size=vocab_size, dropout=dropout, pad_token_id=pad_token_id
            )
            encoder = model.base_model
        else:
            model = model_skeleton(
                spec, kind=kind, num_labels=outputs, vocab_size=vocab_size, pad_token_id=pad_token_id
            )
            _attach_encoder(model, encoder)
            _materialize(model, std=getattr(model.config, "initializer_range", 0.02))
            _set_dropout_like(model, dropout)
        built[name] = model
    return MultiHeadModel(built)


def multihead_skeleton(
    spec: ModelSpec, *, heads: Mapping[str, tuple[str, int]], vocab_size: int, pad_token_id: int | None
) -> MultiHeadModel:
    """``build_multihead``'s model on the meta device: names and shapes only."""
    from trainers.model import model_skeleton

    built: dict[str, torch.nn.Module] = {}
    encoder = None
    for name, (kind, outputs) in _owner_first(spec, heads, vocab_size=vocab_size, pad_token_id=pad_token_id).items():
        model = model_skeleton(spec, kind=kind, num_labels=outputs, vocab_size=vocab_size, pad_token_id=pad_token_id)
        if encoder is None:
            encoder = model.base_model
        else:
            _attach_encoder(model, encoder)
        built[name] = model
    return MultiHeadModel(built)


def _set_dropout_like(model: torch.nn.Module, dropout: float) -> None:
    """Heads built from a config skeleton get the trial's dropout on their own dropout layers."""
    encoder = model.base_model
    inside = {id(m) for m in encoder.modules()}
    for module in model.modules():
        if isinstance(module, torch.nn.Dropout) and id(module) not in inside:
            module.p = dropout
