"""MLflow: an experiment per sweep, a parent run per search, each trial a run nested under it.

Built on ``MlflowClient`` rather than Ray's ``MLflowLoggerCallback``, which makes one flat run per trial:
xstilts runs a study's searches in one Tune run, and a search is what its users compare by. Runs are
found again by their tags, so a resumed driver continues each trial's run, and its search's, instead of
starting new ones; a retried attempt is the same run with its ``attempt`` tag raised.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from typing import Any

from sweep.config.records import MlflowConfig, SweepConfig
from sweep.plan.searches import Search
from sweep.track.naming import TrialInfo, metrics_of, search_tags

KIND = "xstilts.kind"  # `search` or `trial`: which of the two a run is
PARENT = "mlflow.parentRunId"  # MLflow's own tag for nesting


class MlflowTracker:
    """A run per trial under a run per search, in ``config.experiment`` (default: the sweep's name)."""

    name = "mlflow"

    def __init__(self, config: SweepConfig, settings: MlflowConfig, *, note: Callable[[str], None] = print) -> None:
        uri = settings.tracking_uri
        if uri is not None and uri.startswith("file:"):
            # MLflow 3 refuses its folder store unless asked; a config that names one asks for it.
            os.environ.setdefault("MLFLOW_ALLOW_FILE_STORE", "true")
        # MLflow's defaults (7 retries, 120 s each) would hold the driver's loop for many minutes per call to a
        # server that is down before the tracker is dropped; a user's own settings still win.
        os.environ.setdefault("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "2")
        os.environ.setdefault("MLFLOW_HTTP_REQUEST_TIMEOUT", "20")
        from mlflow.tracking import MlflowClient

        self.client = MlflowClient(tracking_uri=uri)
        self.sweep, self.model = config.name, config.model.name
        name = settings.experiment or config.name
        experiment = self.client.get_experiment_by_name(name)
        if experiment is not None and experiment.lifecycle_stage == "deleted":
            self.client.restore_experiment(experiment.experiment_id)
        self.experiment = experiment.experiment_id if experiment is not None else self.client.create_experiment(name)
        self.runs: dict[str, str] = {}  # trial id -> its open run's id
        self.parents: dict[str, str] = {}  # search id -> its run id
        self.attempts: dict[str, int] = {}  # trial id -> the attempt its run's tag says
        # The runs an earlier driver of this sweep made, read once: a new trial has none, so a study of
        # thousands of trials makes no query per trial (the experiment may hold other sweeps' runs).
        self.earlier: dict[str, str] = {}  # trial id -> its run id
        for run in self._runs_of_this_sweep():
            tags = run.data.tags
            if tags.get(KIND) == "search":
                self.parents[tags["search"]] = run.info.run_id
            elif tags.get(KIND) == "trial" and "trial_id" in tags:
                self.earlier[tags["trial_id"]] = run.info.run_id
        note(f"mlflow: tracking to experiment `{name}` at {self.client.tracking_uri}")

    def _runs_of_this_sweep(self) -> list[Any]:
        """Every run tagged with this sweep's name (a sweep's name is letters, digits, ``._-``: no quoting)."""
        runs, token = [], None
        while True:
            page = self.client.search_runs(
                [self.experiment], filter_string=f"tags.`sweep` = '{self.sweep}'", max_results=1000, page_token=token
            )
            runs.extend(page)
            token = page.token
            if not token:
                return runs

    def _parent(self, search: Search, model: str) -> str:
        if search.id not in self.parents:
            tags = {**search_tags(search, sweep=self.sweep, model=model), KIND: "search"}
            self.parents[search.id] = self.client.create_run(
                self.experiment, run_name=search.pair, tags=tags
            ).info.run_id
        return self.parents[search.id]

    def _run(self, trial: TrialInfo) -> str:
        run_id = self.runs.get(trial.trial_id)
        if run_id is None:
            run_id = self.earlier.pop(trial.trial_id, None)
            if run_id is None:
                from mlflow.entities import Param

                tags = {**trial.tags(), KIND: "trial", PARENT: self._parent(trial.search, trial.model)}
                run_id = self.client.create_run(self.experiment, run_name=trial.trial_id, tags=tags).info.run_id
                params = [Param(k, str(v)) for k, v in sorted(trial.hp.items())]
                if params:
                    self.client.log_batch(run_id, params=params)
                self.attempts[trial.trial_id] = trial.attempt
            elif self.client.get_run(run_id).info.status != "RUNNING":  # a resumed trial's run continues
                self.client.update_run(run_id, status="RUNNING")
            self.runs[trial.trial_id] = run_id
        if self.attempts.get(trial.trial_id) != trial.attempt:
            self.client.set_tag(run_id, "attempt", str(trial.attempt))
            self.attempts[trial.trial_id] = trial.attempt
        return run_id

    def result(self, trial: TrialInfo, *, step: int, result: dict[str, Any]) -> None:
        from mlflow.entities import Metric

        now = int(time.time() * 1000)
        metrics = [Metric(k, v, now, step) for k, v in sorted(metrics_of(result).items())]
        self.client.log_batch(self._run(trial), metrics=metrics)

    def retried(self, trial: TrialInfo, *, error: str) -> None:
        self._run(trial)  # its attempt tag, raised

    def ended(self, trial: TrialInfo, *, status: str, error: str | None) -> None:
        run_id = self._run(trial)
        self.client.set_tag(run_id, "status", status)
        if error:
            self.client.set_tag(run_id, "error", error[-4000:])
        self.client.set_terminated(run_id, "FAILED" if status == "errored" else "FINISHED")
        self.runs.pop(trial.trial_id, None)

    def search_ended(self, search: Search, *, state: str, record: dict[str, Any]) -> None:
        run_id = self._parent(search, search.model or self.model)
        best = record.get("best") or {}
        if "objective" in best:
            self.client.log_metric(run_id, "best_objective", float(best["objective"]))
            self.client.set_tag(run_id, "best_trial", str(best.get("trial_id")))
        if (test := record.get("test")) and test.get("mean") is not None:
            self.client.log_metric(run_id, "test_mean", float(test["mean"]))
        if record.get("error"):
            self.client.set_tag(run_id, "error", str(record["error"])[-4000:])
        self.client.set_terminated(run_id, "FINISHED" if state == "done" else "FAILED")

    def close(self) -> None:
        self.runs.clear()
