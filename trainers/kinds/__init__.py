"""Per-kind feature conversion and prediction decoding, behind one interface the trainer uses.

Each kind (classification, multiple choice, extractive QA, tagging) turns canonical examples into
features, batches them as the matching ``AutoModelFor...`` expects, and turns model outputs back
into predictions that ``trainers.scoring`` scores exactly as the benchmark does.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any

import numpy as np

from trainers import data as classification
from trainers.kinds import multiple_choice, qa, tagging
from trainers.scoring import SCORERS

TRAINABLE_KINDS = ("classification", "multiple_choice", "qa", "tagging")
#: The transformers head class of each kind (``Auto`` + this for pretrained, ``XLMRoberta`` + this from scratch).
HEADS = {
    "classification": "ForSequenceClassification",
    "multiple_choice": "ForMultipleChoice",
    "qa": "ForQuestionAnswering",
    "tagging": "ForTokenClassification",
}
_TARGET_KEYS = ("labels", "start_positions", "end_positions")


def qa_lengths(max_length: int) -> tuple[int, int]:
    """(max_query_length, doc_stride) that fit ``max_length``: 64 and 128 at XTREME's 384."""
    query = min(64, max_length // 4)
    return query, max(1, min(128, (max_length - query - 4) // 3))


def featurize(kind: str, examples: Sequence[Any], *, tokenizer: Any, max_length: int, train: bool) -> Any:
    """Model inputs for ``examples`` (training targets included when ``train``)."""
    if kind == "classification":
        return classification.encode(examples, tokenizer=tokenizer, max_length=max_length)
    if kind == "multiple_choice":
        return multiple_choice.featurize(examples, tokenizer=tokenizer, max_length=max_length)
    if kind == "qa":
        query, stride = qa_lengths(max_length)
        return qa.featurize(
            examples, tokenizer=tokenizer, max_length=max_length, doc_stride=stride, max_query_length=query, train=train
        )
    if kind == "tagging":
        return tagging.featurize(examples, tokenizer=tokenizer, max_length=max_length)
    raise ValueError(f"kind {kind!r} has no trainable head")


def batches(kind: str, features: Any, *, order: list[int], batch_size: int, pad_id: int) -> Iterator[dict[str, Any]]:
    """Padded batches as keyword arguments of the kind's model, targets included."""
    if kind == "classification":
        for ids, mask, labels in classification.batches(features, order=order, batch_size=batch_size, pad_id=pad_id):
            yield {"input_ids": ids, "attention_mask": mask, "labels": labels}
        return
    module = {"multiple_choice": multiple_choice, "qa": qa, "tagging": tagging}[kind]
    yield from module.batches(features, order=order, batch_size=batch_size, pad_id=pad_id)


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
        return [int(i) for i in logits.argmax(axis=-1)]
    if kind == "tagging":
        rows = [row[: len(features.input_ids[i])] for i, row in enumerate(r for batch in outputs for r in batch)]
        return tagging.decode(examples, features, rows)
    width = max((s.shape[1] for s, _ in outputs), default=1)
    # Windows of different batches differ in length; padding is never a valid answer position.
    start = np.concatenate([np.pad(s, ((0, 0), (0, width - s.shape[1])), constant_values=-1e4) for s, _ in outputs])
    end = np.concatenate([np.pad(e, ((0, 0), (0, width - e.shape[1])), constant_values=-1e4) for _, e in outputs])
    return qa.decode(examples, features, start, end, allow_impossible=allow_impossible)


def score(task: Any, examples: Sequence[Any], predictions: Any, *, language: str) -> dict[str, float]:
    """Every metric the benchmark reports for ``predictions`` against the examples' gold labels."""
    scorer = SCORERS[task.scorer]
    if task.kind in ("classification", "multiple_choice"):
        return scorer(predictions, [e.label for e in examples])
    if task.kind == "tagging":
        names = task.labels
        return scorer([[names[t] for t in p] for p in predictions], [[names[t] for t in e.tags] for e in examples])
    golds = [[a.text for a in e.answers] for e in examples]
    ordered = [predictions.get(e.id, "") for e in examples]
    return scorer(ordered, golds, lang=language) if task.scorer == "mlqa" else scorer(ordered, golds)
