"""The searches a sweep runs: one per intermediate task, and one per (intermediate, target) pair.

Stage one trains each intermediate task once; its best checkpoint is the starting point of every
pair that names it, so it is never retrained per target. Baseline pairs (``none``) start from the
pretrained model. The plan's order is the order in which searches are offered slots; what may run
at once is decided by what each search ``needs`` (``sweep.study``).
"""

from __future__ import annotations

from dataclasses import dataclass

from sweep.config import SweepConfig

NONE = "none"  # the intermediate task of a baseline pair
RETRIEVAL_TRIAL = "retrieval"  # the trial id of a retrieval evaluation in sweeps of manifest version 1


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

    @property
    def needs(self) -> str | None:
        """The search whose end this one waits for: a pair needs its intermediate task's stage-one
        search (for the encoder it exports); stage one and the baselines need nothing."""
        return None if self.target is None or self.intermediate == NONE else stage_one_id(self.intermediate)


def stage_one_id(task: str) -> str:
    """The id of intermediate task ``task``'s stage-one search."""
    return f"intermediate-{task}"


def plan(config: SweepConfig) -> list[Search]:
    """Return every search of ``config`` in the order they run (stage one first)."""
    searches = [
        Search(id=stage_one_id(task), phase="intermediate", intermediate=task, target=None)
        for task in config.intermediate_tasks
    ]
    starts = ([NONE] if config.baseline else []) + list(config.intermediate_tasks)
    for target in config.target_tasks:
        for start in starts:
            searches.append(Search(id=f"target-{start}-{target}", phase="target", intermediate=start, target=target))
    return searches
