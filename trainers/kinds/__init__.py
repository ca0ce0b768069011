"""Per-kind feature conversion and prediction decoding, behind one interface the trainer uses.

Each kind (classification, multiple choice, extractive QA, tagging) is a module with the same three
steps: ``featurize`` turns canonical examples into features, ``batches`` pads them as the matching
``AutoModelFor...`` expects (targets included), and ``decode`` turns model outputs back into
predictions, which ``trainers.scoring.score`` scores exactly as the benchmark does.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from types import ModuleType
from typing import Any

import numpy as np

from trainers.kinds import classification, multiple_choice, qa, tagging

#: The module of each trainable kind.
MODULES: dict[str, ModuleType] = {
    "classification": classification,
    "multiple_choice": multiple_choice,
    "qa": qa,
    "tagging": tagging,
}
TRAINABLE_KINDS = tuple(MODULES)
#: The transformers head class of each kind (``Auto`` + this for pretrained, ``XLMRoberta`` + this from scratch).
HEADS = {
    "classification": "ForSequenceClassification",
    "multiple_choice": "ForMultipleChoice",
    "qa": "ForQuestionAnswering",
    "tagging": "ForTokenClassification",
}
_TARGET_KEYS = ("labels", "start_positions", "end_positions")


def num_outputs(task: Any) -> int:
    """The size of ``task``'s head: start/end for QA, one score per choice for multiple choice, else its labels."""
    return 2 if task.kind in ("qa", "multiple_choice") else task.num_labels


def qa_lengths(max_length: int) -> tuple[int, int]:
    """(max_query_length, doc_stride) that fit ``max_length``: 64 and 128 at XTREME's 384."""
    query = min(64, max_length // 4)
    return query, max(1, min(128, (max_length - query - 4) // 3))


def _module(kind: str) -> ModuleType:
    try:
        return MODULES[kind]
    except KeyError:
        raise ValueError(f"kind {kind!r} has no trainable head; trainable kinds: {', '.join(MODULES)}") from None


def featurize(kind: str, examples: Sequence[Any], *, tokenizer: Any, max_length: int, train: bool) -> Any:
    """Model inputs for ``examples`` (training targets included when ``train``)."""
    if kind == "qa":
        query, stride = qa_lengths(max_length)
        return qa.featurize(
            examples, tokenizer=tokenizer, max_length=max_length, doc_stride=stride, max_query_length=query, train=train
        )
    return _module(kind).featurize(examples, tokenizer=tokenizer, max_length=max_length)


def batches(kind: str, features: Any, *, order: list[int], batch_size: int, pad_id: int) -> Iterator[dict[str, Any]]:
    """Padded batches as keyword arguments of the kind's model, targets included."""
    yield from _module(kind).batches(features, order=order, batch_size=batch_size, pad_id=pad_id)


def predict(
    kind: str,
    model: Any,
    examples: Sequence[Any],
    features: Any,
    *,
    batch_size: int,
    pad_id: int,
    device: Any,
    allow_impossible: bool = False,
) -> Any:
    """Run ``model`` (in eval mode, no gradients) over ``features`` and decode per example."""
    import torch

    outputs: list[Any] = []
    with torch.no_grad():
        for batch in batches(kind, features, order=list(range(len(features))), batch_size=batch_size, pad_id=pad_id):
            inputs = {k: v.to(device) for k, v in batch.items() if k not in _TARGET_KEYS}
            out = model(**inputs)
            if kind == "qa":
                outputs.append((out.start_logits.float().cpu().numpy(), out.end_logits.float().cpu().numpy()))
            else:
                outputs.append(out.logits.float().cpu().numpy())
    if kind in ("classification", "multiple_choice"):
        logits = np.concatenate(outputs) if outputs else np.zeros((0, 1))
        return _module(kind).decode(logits)
    if kind == "tagging":
        rows = [row[: len(features.input_ids[i])] for i, row in enumerate(r for batch in outputs for r in batch)]
        return tagging.decode(examples, features, rows)
    width = max((s.shape[1] for s, _ in outputs), default=1)
    # Windows of different batches differ in length; padding is never a valid answer position.
    start = np.concatenate([np.pad(s, ((0, 0), (0, width - s.shape[1])), constant_values=-1e4) for s, _ in outputs])
    end = np.concatenate([np.pad(e, ((0, 0), (0, width - e.shape[1])), constant_values=-1e4) for _, e in outputs])
    return qa.decode(examples, features, start, end, allow_impossible=allow_impossible)
