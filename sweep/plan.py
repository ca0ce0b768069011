"""The searches a sweep runs, in order: one per intermediate task, then one per (intermediate, target) pair.

Stage one trains each intermediate task once; its best checkpoint is the starting point of every
pair that names it, so it is never retrained per target. Baseline pairs (``none``) start from the
pretrained model.
"""

from __future__ import annotations

from dataclasses import dataclass

from sweep.config import SweepConfig

NONE = "none"  # the intermediate task of a baseline pair
RETRIEVAL_TRIAL = "retrieval"  # a retrieval target's only "trial": one evaluation per encoder


@dataclass(frozen=True, kw_only=True)
class Search:
    """One Ray Tune search of the sweep."""

    id: str  # stable name: the Tune experiment folder and the results/journal subfolder
    phase: str  # intermediate | target
    intermediate: str  # task name, or "none" for a baseline pair
    target: str | None  # None in the intermediate phase

    @property
    def pair(self) -> str:
        """Human-readable pair label: ``mnli`` for stage one, ``mnli->xnli`` / ``none->xnli`` for stage two."""
        return self.intermediate if self.target is None else f"{self.intermediate}->{self.target}"

    @property
    def task(self) -> str:
        """The task this search trains."""
        return self.intermediate if self.target is None else self.target


def plan(config: SweepConfig) -> list[Search]:
    """Return every search of ``config`` in the order they run (stage one first)."""
    searches = [
        Search(id=f"intermediate-{task}", phase="intermediate", intermediate=task, target=None)
        for task in config.intermediate_tasks
    ]
    starts = ([NONE] if config.baseline else []) + list(config.intermediate_tasks)
    for target in config.target_tasks:
        for start in starts:
            searches.append(Search(id=f"target-{start}-{target}", phase="target", intermediate=start, target=target))
    return searches
