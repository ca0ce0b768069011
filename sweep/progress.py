"""Progress lines while a sweep runs: searches and trials done, and the best score so far."""

from __future__ import annotations

import sys
import time
from typing import Any, TextIO

from trainers.spec import OBJECTIVE


class Progress:
    """Prints one line when a trial ends and a summary line per search."""

    def __init__(self, *, total_searches: int, stream: TextIO | None = None) -> None:
        self.total_searches = total_searches
        self.stream = stream  # resolved when printing: sys.stdout cannot be pickled with Tune's state
        self.index = 0
        self.search_label = ""
        self.num_samples = 0
        self.epochs = 0
        self.ended: set[str] = set()
        self.best: float | None = None
        self.steps: dict[str, int] = {}
        self.started = time.monotonic()

    def start_search(self, *, index: int, label: str, num_samples: int, epochs: int, resumed: bool) -> None:
        """Announce a search."""
        self.index, self.search_label, self.num_samples, self.epochs = index, label, num_samples, epochs
        self.ended, self.best, self.steps = set(), None, {}
        verb = "resuming" if resumed else "starting"
        self._print(f"{verb} {label}: {num_samples} trials")

    def skip_search(self, *, index: int, label: str) -> None:
        """Say that a finished search is kept as it is."""
        self.index = index
        self._print(f"{label}: already finished, kept")

    def on_result(self, trial_id: str, result: dict[str, Any]) -> None:
        """Track a trial's latest step and the best objective seen."""
        self.steps[trial_id] = int(result.get("training_iteration", 0))
        value = result.get(OBJECTIVE)
        if isinstance(value, (int, float)) and (self.best is None or value > self.best):
            self.best = float(value)

    def on_retry(self, trial_id: str) -> None:
        """Say that a crashed trial will be retried from its last checkpoint."""
        self._print(f"  trial {trial_id} failed; retrying from its last checkpoint")

    def on_end(self, trial_id: str, trials: list[Any], *, error: str | None) -> None:
        """Print a line for a trial that ended."""
        self.ended.add(trial_id)
        if error is not None:
            what = f"errored: {error.strip().splitlines()[-1][:120] if error.strip() else 'unknown error'}"
        else:
            step = self.steps.get(trial_id, 0)
            what = f"finished {step} epochs" if step >= self.epochs else f"stopped early after epoch {step}"
        best = "-" if self.best is None else f"{self.best:.4f}"
        self._print(f"  trial {trial_id} {what} ({len(self.ended)}/{self.num_samples} done, best {best})")

    def end_search(self, *, best: float | None, detail: str) -> None:
        """Print the search's outcome."""
        shown = "-" if best is None else f"{best:.4f}"
        self._print(f"finished {self.search_label}: best objective {shown}{detail}")

    def _print(self, text: str) -> None:
        elapsed = time.monotonic() - self.started
        line = f"[{self.index}/{self.total_searches} searches | {elapsed:5.0f}s] {text}"
        print(line, file=self.stream or sys.stdout, flush=True)
