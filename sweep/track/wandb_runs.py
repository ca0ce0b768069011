"""Weights & Biases: a run per trial, ``group`` the sweep and ``job_type`` the search.

A trial's run id is derived from the sweep and the trial, so a resumed driver continues the same run
(``resume="allow"``), and a retried attempt logs on in the run it had. Steps are the trial's evaluations,
logged as the ``evaluation`` metric that every other is plotted against: a retried attempt repeats the
evaluations after its checkpoint, which W&B's own step (it must only grow) would drop. Offline runs are
written under ``SWEEP_DIR/wandb`` for ``wandb sync`` later (published with the sweep on shared storage as
each trial ends). Online, ``wandb.init`` and ``finish`` talk to W&B's servers from the driver's loop: about a
second per trial, which a study of thousands of trials feels; offline mode and a later sync cost nothing.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from sweep.config.records import SweepConfig, WandbConfig
from sweep.plan.searches import Search
from sweep.storage import layout
from sweep.track.naming import TrialInfo, metrics_of

STEP = "evaluation"
_LIMIT = 64  # W&B's longest tag and job type


def run_id(sweep: str, trial_id: str) -> str:
    """The W&B run id of a trial: stable across drivers, only the characters W&B allows."""
    return re.sub(r"[^A-Za-z0-9_-]", "-", f"{sweep}-{trial_id}")[:128]


class WandbTracker:
    """One W&B run per live trial, in one process (``reinit="create_new"``)."""

    name = "wandb"

    def __init__(self, sweep_dir: layout.SweepDir, config: SweepConfig, settings: WandbConfig) -> None:
        import wandb

        self.wandb = wandb
        self.settings = settings
        self.sweep = config.name
        self.sweep_dir = sweep_dir
        self.dir = sweep_dir.root  # W&B writes its files under DIR/wandb
        self.runs: dict[str, Any] = {}  # trial id -> its open run
        if settings.mode == "online" and not wandb.login(prompt=False, verify=False):
            # Checked here, once, rather than met as W&B's login prompt inside Tune's loop at the first trial.
            raise RuntimeError("W&B has no API key here; run `wandb login` or set WANDB_API_KEY, or use mode: offline")

    def _run(self, trial: TrialInfo) -> Any:
        run = self.runs.get(trial.trial_id)
        tags = [f"{k}:{v}"[:_LIMIT] for k, v in trial.tags().items() if k != "sweep"]
        if run is None:
            run = self.wandb.init(
                project=self.settings.project,
                entity=self.settings.entity,
                mode=self.settings.mode,
                dir=str(self.dir),
                id=run_id(self.sweep, trial.trial_id),
                name=trial.trial_id,
                group=self.sweep,
                job_type=trial.search.id[:_LIMIT],
                tags=tags,
                config={**trial.hp, "xstilts": trial.tags()},
                resume="allow",
                reinit="create_new",
                # many runs in one driver: no per-run system monitor, console capture or code copy
                settings=self.wandb.Settings(silent=True, console="off", x_disable_stats=True, save_code=False),
            )
            run.define_metric(STEP)
            run.define_metric("*", step_metric=STEP)
            self.runs[trial.trial_id] = run
        elif run.config.get("xstilts", {}).get("attempt") != str(trial.attempt):
            run.config.update({"xstilts": trial.tags()}, allow_val_change=True)
            run.tags = tuple(tags)
        return run

    def result(self, trial: TrialInfo, *, step: int, result: dict[str, Any]) -> None:
        self._run(trial).log({STEP: step, **metrics_of(result)})

    def retried(self, trial: TrialInfo, *, error: str) -> None:
        self._run(trial)

    def ended(self, trial: TrialInfo, *, status: str, error: str | None) -> None:
        run = self._run(trial)
        run.summary["status"] = status
        if error:
            run.summary["error"] = error[-2000:]
        files = Path(run.settings.sync_dir)
        run.finish(exit_code=1 if status == "errored" else 0)
        del self.runs[trial.trial_id]
        if self.sweep_dir.remote and self.settings.mode == "offline":  # kept with the sweep, for `wandb sync`
            for path in sorted(files.rglob("*")):
                if path.is_file():
                    self.sweep_dir.publish(path)

    def search_ended(self, search: Search, *, state: str, record: dict[str, Any]) -> None:
        pass  # W&B has no run of a group; its runs' summaries and the group's view compare them

    def close(self) -> None:
        for run in self.runs.values():  # trials the driver left running: continued by `sweep resume`
            run.finish(exit_code=1)
        self.runs.clear()
        self.wandb.teardown()  # its service process ends with the driver's work, not at exit
