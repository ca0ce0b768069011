"""Scoring functions, registered by the metric names tasks use."""

from __future__ import annotations

from collections.abc import Callable, Sequence


def accuracy(predictions: Sequence[int], labels: Sequence[int]) -> float:
    """Fraction of predictions equal to the gold label, e.g. ``accuracy([1, 0], [1, 1]) == 0.5``."""
    if len(predictions) != len(labels):
        raise ValueError(f"{len(predictions)} predictions for {len(labels)} labels")
    if not labels:
        return float("nan")
    return sum(int(p == g) for p, g in zip(predictions, labels, strict=True)) / len(labels)


METRICS: dict[str, Callable[[Sequence[int], Sequence[int]], float]] = {"accuracy": accuracy}
