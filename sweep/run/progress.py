"""Progress lines while a study runs: one whole line per event, each naming its search, so the display
stays readable when many searches report at once.

    [ 2/8 done |  4 in flight |   31s] intermediate toy_nli: trial 1a2b finished 3 epochs (2/3 done, best 0.61)
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from typing import Any, TextIO

from sweep.plan.searches import Search
from trainers.spec import OBJECTIVE


class Progress:
    """Prints searches starting and ending, and trials ending, with the study's counts."""

    def __init__(
        self,
        *,
        total_searches: int,
        in_flight: Callable[[], int],
        done: Callable[[], int],
        stream: TextIO | None = None,
    ) -> None:
        self.total_searches = total_searches
        self.in_flight, self.done = in_flight, done
        self.stream = stream  # resolved when printing: sys.stdout cannot be pickled
        self.best: dict[str, float] = {}
        self.steps: dict[str, int] = {}
        self.planned: dict[str, int] = {}  # a trial's evaluations in all, as it reports them
        self.ended: dict[str, set[str]] = {}
        self.started = time.monotonic()

    def note(self, text: str) -> None:
        """Print a line about the study as a whole."""
        self._print(text)

    def search_started(self, search: Search, *, samples: int, evaluation: bool, resumed: bool) -> None:
        """Announce a search that proposes its first trial (or continues after a resume)."""
        what = "one evaluation" if evaluation else f"{samples} trials"
        self._print(f"{'resuming' if resumed else 'starting'} {label(search)}: {what}")

    def trial_result(self, search: Search, trial_id: str, result: dict[str, Any]) -> None:
        """Track a trial's latest step and its search's best objective."""
        self.steps[trial_id] = int(result.get("training_iteration", 0))
        if "evaluations" in result:
            self.planned[trial_id] = int(result["evaluations"])
        value = result.get(OBJECTIVE)
        if isinstance(value, (int, float)) and value > self.best.get(search.id, float("-inf")):
            self.best[search.id] = float(value)

    def trial_retried(self, search: Search, trial_id: str) -> None:
        """Say that a crashed trial will be retried from its last checkpoint."""
        self._print(f"{label(search)}: trial {trial_id} failed; retrying from its last checkpoint")

    def checkpoint_lost(self, search: Search, trial_id: str, *, lost: int, kept: int | None) -> None:
        """Say that a resumed trial continues from an earlier checkpoint than Tune's saved state named."""
        start = f"its checkpoint of epoch {kept}" if kept is not None else "its beginning"
        self._print(f"{label(search)}: trial {trial_id}'s checkpoint of epoch {lost} is gone; continuing from {start}")

    def trial_ended(
        self, search: Search, trial_id: str, *, error: str | None, epochs: int, samples: int, unit: str = "epochs"
    ) -> None:
        """Print a line for a trial that ended: finished, stopped early, or errored. ``unit`` names what a
        trial's steps are (epochs, or evaluations with ``training.eval_every``)."""
        ended = self.ended.setdefault(search.id, set())
        ended.add(trial_id)
        if error is not None:
            what = f"errored: {error.strip().splitlines()[-1][:120] if error.strip() else 'unknown error'}"
        else:
            step = self.steps.get(trial_id, 0)
            planned = self.planned.get(trial_id, epochs)
            what = f"finished {step} {unit}" if step >= planned else f"stopped early after {unit[:-1]} {step}"
        best = self.best.get(search.id)
        shown = "-" if best is None else f"{best:.4f}"
        self._print(f"{label(search)}: trial {trial_id} {what} ({len(ended)}/{samples} done, best {shown})")

    def search_finished(self, search: Search, *, best: float | None, detail: str) -> None:
        """Print a search's outcome."""
        shown = "-" if best is None else f"{best:.4f}"
        self._print(f"finished {label(search)}: best objective {shown}{detail}")

    def search_failed(self, search: Search, reason: str) -> None:
        """Print why a search ended without a result."""
        self._print(f"FAILED {label(search)}: {reason}")

    def _print(self, text: str) -> None:
        elapsed = time.monotonic() - self.started
        head = f"[{self.done():2d}/{self.total_searches} done | {self.in_flight():2d} in flight | {elapsed:5.0f}s]"
        print(f"{head} {text}", file=self.stream or sys.stdout, flush=True)


def label(search: Search) -> str:
    """``intermediate toy_nli``, ``target toy_nli->toy_order``."""
    return f"{search.phase} {search.pair}"
