"""Accuracy for the sentence-classification (XNLI, PAWS-X) and multiple-choice (XCOPA, SIQA) tasks.

Scores are fractions in [0, 1]; XTREME's ``evaluate.py`` prints them x100.
"""

from __future__ import annotations

from collections.abc import Hashable, Sequence

import numpy as np


def _one_label_per_example(values: Sequence[Hashable] | np.ndarray, name: str) -> list[Hashable]:
    """The values as a flat list, refusing e.g. a logits matrix passed where labels belong."""
    if isinstance(values, (str, bytes)):
        raise ValueError(f"{name}: expected a sequence of labels, got a single {type(values).__name__}")
    array = np.asarray(values, dtype=object) if len(values) else np.empty(0, dtype=object)
    nested = next((v for v in array if isinstance(v, (list, np.ndarray))), None) if array.ndim == 1 else None
    if array.ndim != 1 or nested is not None:
        shape = array.shape if nested is None else f"({len(array)}, ...) with rows like {nested!r}"
        raise ValueError(f"{name}: expected one label per example (a 1-D sequence), got shape {shape}")
    return list(values)


def _check_pair(predictions: list[Hashable], labels: list[Hashable]) -> None:
    if len(predictions) != len(labels):
        raise ValueError(f"expected {len(labels)} predictions (one per gold label), got {len(predictions)}")
    if not labels:
        # The official scripts divide by the count and crash on zero; no number exists to match.
        raise ValueError("expected at least one example, got none")


def accuracy_scores(
    predictions: Sequence[Hashable] | np.ndarray, labels: Sequence[Hashable] | np.ndarray
) -> dict[str, float]:
    """Fraction of predictions equal to the gold label, as XTREME's ``evaluate.py`` ``accuracy`` does.

    Matches google-research/xtreme ``evaluate.py``::

        correct = sum([int(p == l) for p, l in zip(predictions, labels)])
        accuracy = float(correct) / len(predictions)

    (it compares the label strings of the prediction and gold files; compare like with like).
    Used for XNLI, PAWS-X and Tatoeba's index predictions.

    >>> accuracy_scores(["entailment", "neutral"], ["entailment", "contradiction"])
    {'accuracy': 0.5}
    """
    preds = _one_label_per_example(predictions, "predictions")
    gold = _one_label_per_example(labels, "labels")
    _check_pair(preds, gold)
    correct = sum(int(p == g) for p, g in zip(preds, gold, strict=True))
    return {"accuracy": float(correct) / len(preds)}


def multiple_choice_accuracy_scores(
    predictions: Sequence[int] | np.ndarray, labels: Sequence[int] | np.ndarray
) -> dict[str, float]:
    """Accuracy of chosen-answer indices, as XTREME-R's ``third_party/run_xcopa.py`` computes it.

    ``run_xcopa.py``'s ``compute_metrics`` does
    ``(preds == label_ids).astype(np.float32).mean().item()``: the mean is taken in float32, so the
    reported value can differ from the exact fraction in the 8th digit (e.g. 339/500 is reported as
    0.6779999732971191). This reproduces that rounding. Used for XCOPA and SIQA.

    >>> multiple_choice_accuracy_scores([0, 1, 1, 0], [0, 1, 0, 0])
    {'accuracy': 0.75}
    """
    preds = _one_label_per_example(predictions, "predictions")
    gold = _one_label_per_example(labels, "labels")
    _check_pair(preds, gold)
    hits = np.asarray(preds) == np.asarray(gold)
    return {"accuracy": float(hits.astype(np.float32).mean().item())}
