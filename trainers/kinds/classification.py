"""Sequence classification (XNLI, PAWS-X, MNLI, QQP, SST-2): one sentence or a pair in, one label out.

Sentence pairs are encoded as the tokenizer pairs them (``<s> a </s></s> b </s>`` for XLM-R), truncated
to ``max_length`` as the tokenizer's default ``longest_first`` strategy does; the head scores the first
token's state.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from trainers.examples import TextExample


@dataclass(frozen=True)
class Encoded:
    """A tokenized classification split: token ids (unpadded lists) and label indices, in file order."""

    input_ids: list[list[int]]
    labels: list[int]

    def __len__(self) -> int:
        return len(self.labels)


def featurize(examples: Sequence[TextExample], *, tokenizer: Any, max_length: int) -> Encoded:
    """Tokenize text examples (single sentences or pairs, truncated to ``max_length``)."""
    if not examples:
        return Encoded(input_ids=[], labels=[])
    columns = [list(texts) for texts in zip(*(e.texts for e in examples), strict=True)]
    batch = tokenizer(*columns, truncation=True, max_length=max_length)
    return Encoded(input_ids=[list(ids) for ids in batch["input_ids"]], labels=[e.label for e in examples])


def batches(features: Encoded, *, order: list[int], batch_size: int, pad_id: int) -> Iterator[dict[str, Any]]:
    """Yield padded ``input_ids`` / ``attention_mask`` [batch, tokens] and ``labels`` [batch] over ``order``."""
    import torch

    for start in range(0, len(order), batch_size):
        index = order[start : start + batch_size]
        width = max(len(features.input_ids[i]) for i in index)
        ids = torch.full((len(index), width), pad_id, dtype=torch.long)
        mask = torch.zeros((len(index), width), dtype=torch.long)
        for row, i in enumerate(index):
            seq = features.input_ids[i]
            ids[row, : len(seq)] = torch.tensor(seq, dtype=torch.long)
            mask[row, : len(seq)] = 1
        labels = torch.tensor([features.labels[i] for i in index], dtype=torch.long)
        yield {"input_ids": ids, "attention_mask": mask, "labels": labels}


def decode(logits: np.ndarray) -> list[int]:
    """The predicted label of each example: the argmax over the classes (the first one on a tie).

    Example: ``decode(np.array([[0.1, 2.0], [3.0, -1.0]])) == [1, 0]``.
    """
    scores = np.asarray(logits)
    if scores.ndim != 2 or scores.shape[1] == 0:
        raise ValueError(f"expected logits shaped [examples, classes], got {scores.shape}")
    return [int(i) for i in scores.argmax(axis=1)]
