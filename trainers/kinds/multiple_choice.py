"""Multiple choice (XCOPA, SIQA, HellaSwag, Cosmos QA, CommonsenseQA): one (context, choice) pair per choice.

As XTREME-R's ``third_party/run_xcopa.py`` does, each choice is encoded as the sentence pair
``(context, choice)`` with the tokenizer's own specials (XLM-R: ``<s> context </s></s> choice </s>``),
the model gives each pair one score, and the highest-scoring choice is the prediction. How a task's
fields become the context (XCOPA's premise + "What was the cause?", SIQA's context + question) is the
reader's business: this module receives ready-made ``ChoiceExample``s.

Truncation: ``run_xcopa.py`` passes ``truncation=True`` (longest first); here the context is cut
("only_first") so the choice stays whole, which is what matters when a long passage (Cosmos QA) meets
short answers. Only when the choice alone leaves no room for a context token do both sides get cut,
longest first. Sequences that fit (all of XCOPA and SIQA at 128) are identical either way.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from trainers.examples import ChoiceExample

IGNORE = -100  # CrossEntropyLoss's ignore_index: an example without a gold label adds no loss


@dataclass(frozen=True)
class ChoiceFeatures:
    """Model inputs of a multiple-choice split, in example order."""

    input_ids: list[list[list[int]]]  # [example][choice][tokens]: each choice as the pair (context, choice)
    labels: list[int]  # gold choice index, -1 where the split has no gold label
    ids: list[str] = field(default_factory=list)  # example ids, to name an example in errors

    def __len__(self) -> int:
        return len(self.labels)

    def name(self, i: int) -> str:
        return repr(self.ids[i]) if i < len(self.ids) else f"#{i}"


def featurize(examples: Sequence[ChoiceExample], *, tokenizer: Any, max_length: int) -> ChoiceFeatures:
    """Encode every (context, choice) pair within ``max_length`` tokens, cutting the context first.

    Example: ``featurize([ChoiceExample("q1", "The man fell.", ("He slipped.", "He sang."), 0)],
    tokenizer=tok, max_length=128).input_ids[0][1]`` is ``<s> The man fell. </s></s> He sang. </s>``.
    """
    specials = tokenizer.num_special_tokens_to_add(pair=True)
    if max_length < specials + 2:
        raise ValueError(f"max_length {max_length} cannot hold a context token, a choice token and {specials} specials")
    for example in examples:
        if not example.choices:
            raise ValueError(f"example {example.id!r} has no choices")
        if not -1 <= example.label < len(example.choices):
            raise ValueError(
                f"example {example.id!r}: label {example.label} is not a choice index "
                f"(0..{len(example.choices) - 1}) or -1 (no gold)"
            )
    contexts = [ex.context for ex in examples for _ in ex.choices]
    choices = [choice for ex in examples for choice in ex.choices]
    flat: list[list[int]] = []
    if contexts:
        # The Rust tokenizer refuses "only_first" when the context cannot shrink enough (it must keep one
        # token), so pairs whose choice alone fills the budget go through "longest_first" instead.
        choice_lengths = [len(ids) for ids in tokenizer(choices, add_special_tokens=False)["input_ids"]]
        cut_both = [n + specials >= max_length for n in choice_lengths]
        flat = [[] for _ in contexts]
        for strategy, wanted in (("only_first", False), ("longest_first", True)):
            index = [i for i, both in enumerate(cut_both) if both == wanted]
            if not index:
                continue
            encoded = tokenizer(
                [contexts[i] for i in index],
                [choices[i] for i in index],
                truncation=strategy,
                max_length=max_length,
            )["input_ids"]
            for i, ids in zip(index, encoded, strict=True):
                flat[i] = list(ids)
    input_ids: list[list[list[int]]] = []
    start = 0
    for example in examples:
        input_ids.append(flat[start : start + len(example.choices)])
        start += len(example.choices)
    return ChoiceFeatures(input_ids=input_ids, labels=[ex.label for ex in examples], ids=[ex.id for ex in examples])


def batches(features: ChoiceFeatures, *, order: list[int], batch_size: int, pad_id: int) -> Iterator[dict[str, Any]]:
    """Yield ``input_ids`` / ``attention_mask`` shaped [batch, choices, tokens] and ``labels`` [batch].

    All examples of a batch must have the same number of choices (true of every task here); a label
    of -1 (no gold) is sent as -100 so the loss ignores it.

    Example: ``next(batches(features, order=[0, 1], batch_size=2, pad_id=1))["input_ids"].shape == (2, 5, width)``.
    """
    import torch

    if batch_size < 1:
        raise ValueError(f"batch_size must be at least 1, got {batch_size}")
    for start in range(0, len(order), batch_size):
        index = order[start : start + batch_size]
        num_choices = len(features.input_ids[index[0]])
        for i in index:
            if len(features.input_ids[i]) != num_choices:
                raise ValueError(
                    f"example {features.name(i)} has {len(features.input_ids[i])} choices but example "
                    f"{features.name(index[0])} in the same batch has {num_choices}; a multiple-choice "
                    "batch needs one choice count (check the reader of this task)"
                )
        width = max(len(seq) for i in index for seq in features.input_ids[i])
        ids = torch.full((len(index), num_choices, width), pad_id, dtype=torch.long)
        mask = torch.zeros((len(index), num_choices, width), dtype=torch.long)
        for row, i in enumerate(index):
            for c, seq in enumerate(features.input_ids[i]):
                ids[row, c, : len(seq)] = torch.tensor(seq, dtype=torch.long)
                mask[row, c, : len(seq)] = 1
        labels = torch.tensor([features.labels[i] if features.labels[i] >= 0 else IGNORE for i in index])
        yield {"input_ids": ids, "attention_mask": mask, "labels": labels}


def decode(logits: np.ndarray) -> list[int]:
    """The chosen answer of each example: the argmax over its choices (first one on a tie, as np.argmax).

    Example: ``decode(np.array([[0.1, 2.0], [3.0, -1.0]])) == [1, 0]``.
    """
    scores = np.asarray(logits)
    if scores.ndim != 2 or scores.shape[1] == 0:
        raise ValueError(f"expected logits shaped [examples, choices], got {scores.shape}")
    return [int(i) for i in scores.argmax(axis=1)]
