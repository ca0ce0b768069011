"""What a trial trains on, and in which order: its sources, and each epoch's global micro-batches.

A trial trains one source (a task's training data in one or more languages) or, for an intermediate
mixture, several at once on one encoder with a head per task. Each global micro-batch comes from one
source: every worker steps on the same source at the same micro-step, and a micro-batch never mixes
kinds of input. The order of an epoch depends on (seed, epoch) only, so a resumed trial sees the same
batches, and a trial on W workers the same ones as on one.
"""

from __future__ import annotations

import math
import random
from collections.abc import Sequence
from dataclasses import dataclass

from trainers.errors import DataError
from trainers.spec import MixtureSpec, SourceSpec, TrialSpec
from trainers.tasks import get_task


def sources_of(spec: TrialSpec) -> tuple[SourceSpec, ...]:
    """The sources ``spec`` trains: its mixture's, or the one of a single-task trial."""
    if spec.mixture is not None:
        return spec.mixture.sources
    task = get_task(spec.task)
    train_task = spec.train_task or task.train_task or task.name
    return (SourceSpec(task=task.name, languages=spec.train_languages, train_task=train_task, head=task.name),)


def heads_of(sources: Sequence[SourceSpec]) -> dict[str, str]:
    """Each head's task (the first source naming it), in the order the sources name them."""
    heads: dict[str, str] = {}
    for source in sources:
        heads.setdefault(source.head, source.task)
    return heads


def sampling_rates(sizes: Sequence[int], mixture: MixtureSpec) -> list[float]:
    """The probability that a global micro-batch comes from each source.

    A source's size counts up to its cap (T5's examples-proportional mixing with a limit, jiant's
    ``examples_cap``); ``temperature`` takes sizes to the power 1/T before normalising.

    >>> from trainers.spec import MixtureSpec, SourceSpec
    >>> a, b = (SourceSpec(task=t, languages=("en",), train_task=t, head=t, cap=100) for t in ("mnli", "qqp"))
    >>> sampling_rates([300, 50], MixtureSpec(sources=(a, b)))  # mnli counts as 100
    [0.6666666666666666, 0.3333333333333333]
    >>> a, b = (SourceSpec(task=t, languages=("en",), train_task=t, head=t) for t in ("mnli", "qqp"))
    >>> sampling_rates([400, 100], MixtureSpec(sources=(a, b), sampling="temperature", temperature=2.0))
    [0.6666666666666666, 0.3333333333333333]
    """
    capped = [
        min(size, source.cap) if source.cap else size for size, source in zip(sizes, mixture.sources, strict=True)
    ]
    if mixture.sampling == "weights":
        raw = [float(source.weight or 0.0) for source in mixture.sources]
    elif mixture.sampling == "temperature":
        raw = [size ** (1.0 / mixture.temperature) for size in capped]
    else:
        raw = [float(size) for size in capped]
    empty = [s.label for size, s, r in zip(sizes, mixture.sources, raw, strict=True) if size == 0 and r > 0]
    if empty:
        raise DataError(f"mixture source(s) {', '.join(empty)} have no training examples; give them data or drop them")
    total = sum(raw)
    if total <= 0:
        raise ValueError(f"no source of the mixture can be sampled (sizes {list(sizes)}, weights {raw})")
    return [value / total for value in raw]


@dataclass(frozen=True)
class Batch:
    """One global micro-batch: the source it comes from and its examples' indices in that source."""

    source: int
    indices: list[int]


def epoch_batches(sizes: Sequence[int], *, global_micro: int, world: int, mixture: MixtureSpec | None) -> int:
    """How many global micro-batches an epoch has: one pass over the data (for a mixture, over its capped
    sizes, which is one pass in expectation with proportional sampling)."""
    if mixture is None:
        (size,) = sizes
        return len([first for first in range(0, size, global_micro) if min(global_micro, size - first) >= world])
    capped = [min(s, src.cap) if src.cap else s for s, src in zip(sizes, mixture.sources, strict=True)]
    return max(1, math.ceil(sum(capped) / global_micro))


def plan_epoch(
    sizes: Sequence[int], *, seed: int, epoch: int, global_micro: int, world: int, mixture: MixtureSpec | None
) -> list[Batch]:
    """The global micro-batches of ``epoch``, in order.

    One source: a shuffled pass, a last batch smaller than the workers left out (every worker must step
    on each). A mixture: each batch's source drawn at its sampling rate; each source reads its own
    reshuffled passes in turn, wrapping around where it is drawn more often than its size allows, so every
    batch is full.
    """
    if mixture is None:
        (size,) = sizes
        order = list(range(size))
        random.Random(seed * 1_000_003 + epoch).shuffle(order)
        return [
            Batch(0, order[first : first + global_micro])
            for first in range(0, size, global_micro)
            if min(global_micro, size - first) >= world
        ]
    rates = sampling_rates(sizes, mixture)
    count = epoch_batches(sizes, global_micro=global_micro, world=world, mixture=mixture)
    drawn = random.Random(f"mixture:{seed}:{epoch}").choices(range(len(sizes)), weights=rates, k=count)
    streams = [_Stream(size, seed=seed, epoch=epoch, source=i) for i, size in enumerate(sizes)]
    return [Batch(source, streams[source].take(global_micro)) for source in drawn]


class _Stream:
    """A source's examples in reshuffled passes, read in consecutive slices."""

    def __init__(self, size: int, *, seed: int, epoch: int, source: int) -> None:
        self.size, self.seed, self.epoch, self.source = size, seed, epoch, source
        self.buffer: list[int] = []
        self.passes = 0

    def take(self, n: int) -> list[int]:
        while len(self.buffer) < n:
            order = list(range(self.size))
            random.Random(f"source:{self.seed}:{self.epoch}:{self.source}:{self.passes}").shuffle(order)
            self.buffer.extend(order)
            self.passes += 1
        out, self.buffer = self.buffer[:n], self.buffer[n:]
        return out
