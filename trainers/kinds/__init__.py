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


def _forward(kind: str, model: Any, batch: dict[str, Any], device: Any) -> Any:
    out = model(**{k: v.to(device) for k, v in batch.items() if k not in _TARGET_KEYS})
    if kind == "qa":
        return out.start_logits.float().cpu().numpy(), out.end_logits.float().cpu().numpy()
    return out.logits.float().cpu().numpy()


def _gathered(mine: dict[int, Any], count: int) -> list[Any]:
    """Every worker's batch outputs, in batch order, on every worker."""
    import torch.distributed as dist

    parts: list[Any] = [None] * dist.get_world_size()
    dist.all_gather_object(parts, mine)
    merged = {index: out for part in parts for index, out in part.items()}
    return [merged[i] for i in range(count)]


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
    workers: tuple[int, int] = (0, 1),
    lockstep: bool = False,
) -> Any:
    """Run ``model`` (in eval mode, no gradients) over ``features`` and decode per example.

    With ``workers=(rank, world)`` each of a trial's workers runs 1/world of the batches (the batches one
    worker would make, dealt round-robin) and the outputs are gathered to every worker before decoding:
    the predictions are exactly one worker's, QA's windows and tagging's sentences included, for 1/world
    of the compute. ``lockstep`` (ZeRO-3, whose forward gathers parameters with every worker) makes
    every worker run the same number of forward passes, repeating a batch it then drops.
    """
    import torch

    rank, world = workers
    made = batches(kind, features, order=list(range(len(features))), batch_size=batch_size, pad_id=pad_id)
    mine: dict[int, Any] = {}
    spare, count = None, 0
    with torch.no_grad():
        for index, batch in enumerate(made):
            count += 1
            if spare is None:
                spare = batch
            if index % world != rank:
                continue
            mine[index] = _forward(kind, model, batch, device)
        if lockstep:
            for _ in range(-(-count // world) - len(mine)):
                if spare is not None:
                    _forward(kind, model, spare, device)
    outputs = [mine[i] for i in sorted(mine)] if world == 1 else _gathered(mine, count)
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
