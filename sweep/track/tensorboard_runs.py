"""TensorBoard: event files under ``SWEEP_DIR/tensorboard/<search>/<trial>``, so ``tensorboard --logdir
SWEEP_DIR/tensorboard`` lists every trial by search. Each run also carries its hyperparameters and tags for
TensorBoard's HParams view; on shared storage its files are published as each trial ends."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from sweep.plan.searches import Search
from sweep.storage import layout
from sweep.track.naming import TrialInfo, metrics_of

FOLDER = "tensorboard"


class TensorboardTracker:
    """A ``tensorboardX.SummaryWriter`` per live trial."""

    name = "tensorboard"

    def __init__(self, sweep_dir: layout.SweepDir) -> None:
        self.sweep_dir = sweep_dir
        self.writers: dict[str, Any] = {}  # trial id -> its open writer
        self.best: dict[str, float] = {}  # trial id -> its best objective so far, for the HParams view

    def folder(self, trial: TrialInfo) -> Path:
        return self.sweep_dir.root / FOLDER / trial.search.id / trial.trial_id

    def _writer(self, trial: TrialInfo) -> Any:
        if trial.trial_id not in self.writers:
            from tensorboardX import SummaryWriter

            writer = SummaryWriter(logdir=str(self.folder(trial)), flush_secs=30)
            tags = "\n".join(f"| {k} | {v} |" for k, v in trial.tags().items())
            writer.add_text("tags", f"| tag | value |\n|---|---|\n{tags}")
            self.writers[trial.trial_id] = writer
        return self.writers[trial.trial_id]

    def result(self, trial: TrialInfo, *, step: int, result: dict[str, Any]) -> None:
        writer = self._writer(trial)
        for name, value in metrics_of(result).items():
            writer.add_scalar(name, value, global_step=step)
            if name == "objective":
                self.best[trial.trial_id] = max(value, self.best.get(trial.trial_id, value))

    def retried(self, trial: TrialInfo, *, error: str) -> None:
        self._writer(trial).add_text("retried", f"attempt {trial.attempt}: {error[-1000:]}")

    def ended(self, trial: TrialInfo, *, status: str, error: str | None) -> None:
        writer = self._writer(trial)
        hparams = {k: v for k, v in trial.hp.items() if isinstance(v, (int, float, str, bool))}
        hparams.update({k: trial.tags()[k] for k in ("search", "pair", "model", "seed")})
        best = self.best.pop(trial.trial_id, None)
        # The HParams view's row of this trial, in its own folder (name="."): status and best objective.
        writer.add_hparams(hparams, {"hparam/best_objective": best if best is not None else float("nan")}, name=".")
        writer.add_text("status", status + (f": {error[-1000:]}" if error else ""))
        writer.close()
        del self.writers[trial.trial_id]
        for path in sorted(self.folder(trial).rglob("*")):
            if path.is_file():
                self.sweep_dir.publish(path)

    def search_ended(self, search: Search, *, state: str, record: dict[str, Any]) -> None:
        pass

    def close(self) -> None:
        for writer in self.writers.values():
            writer.close()
        self.writers.clear()
