"""Task heads of the project's own, for model families transformers gives none of a kind."""

from __future__ import annotations

import torch
from transformers.modeling_outputs import MultipleChoiceModelOutput

from trainers.partition import gathered


class DecoderForMultipleChoice(torch.nn.Module):
    """A multiple-choice head for a decoder-only model, which transformers does not provide: each
    (context, choice) sequence is scored from the hidden state of its last real token (the only one that
    has read the whole sequence), by one linear layer, and the choices' scores are the logits.

    It takes and returns what ``AutoModelForMultipleChoice`` does (``input_ids`` and ``attention_mask``
    [batch, choices, tokens], ``labels`` [batch]; ``.loss`` and ``.logits`` [batch, choices]), and keeps
    the decoder as ``base_model``, so encoders are exported and loaded as for any other head. Sequences
    are padded on the right, as ``trainers.kinds.multiple_choice.batches`` does.
    """

    def __init__(self, decoder: torch.nn.Module) -> None:
        super().__init__()
        self.base_model = decoder
        self.config = decoder.config
        self.score = torch.nn.Linear(self.config.hidden_size, 1)
        std = getattr(self.config, "initializer_range", 0.02)
        # Built in parts (ZeRO-3, trainers.partition), the layer's weights are partitioned once it is made.
        with torch.no_grad(), gathered([self.score.weight, self.score.bias], write=True):
            torch.nn.init.normal_(self.score.weight, std=std)
            torch.nn.init.zeros_(self.score.bias)

    def forward(
        self, input_ids: torch.Tensor, attention_mask: torch.Tensor, labels: torch.Tensor | None = None, **_: object
    ) -> MultipleChoiceModelOutput:
        batch, choices, width = input_ids.shape
        ids = input_ids.reshape(batch * choices, width)
        mask = attention_mask.reshape(batch * choices, width)
        hidden = self.base_model(input_ids=ids, attention_mask=mask).last_hidden_state
        last = mask.sum(dim=1).clamp(min=1) - 1  # right padding: the last real token's position
        pooled = hidden[torch.arange(hidden.shape[0], device=hidden.device), last]
        logits = self.score(pooled).reshape(batch, choices)
        loss = None
        if labels is not None:
            loss = torch.nn.functional.cross_entropy(logits.float(), labels, ignore_index=-100)
        return MultipleChoiceModelOutput(loss=loss, logits=logits)
