"""The trackers, driven by the events a running study sends them, read back with each tool's own reader:
MLflow's client, W&B's `wandb leet inspect`, TensorBoard's event reader, Optuna's storage and
optuna-dashboard's web API. No Ray: the driver's side of these events is tested end to end in
tests/integration/test_tracking.py."""

from __future__ import annotations

import io
import json
import wsgiref.util
from pathlib import Path
from typing import Any

import pytest

from sweep.config.load import read_config
from sweep.plan.searches import plan
from sweep.storage.layout import SweepDir
from tests.trackers import wandb_records

pytest.importorskip("mlflow")
pytest.importorskip("wandb")
pytest.importorskip("tensorboard")

ROOT = Path(__file__).resolve().parents[3]


def _config(tmp_path: Path, *extra: str) -> Any:
    config, problems = read_config(
        ROOT / "configs" / "quickstart.yaml",
        [
            f"tracking.mlflow.tracking_uri=sqlite:///{tmp_path}/mlflow.db",
            "tracking.wandb.mode=offline",
            "tracking.tensorboard=true",
            *extra,
        ],
    )
    assert not problems, problems
    return config


def _events(trackers: Any, config: Any, *, resumed: bool = False) -> dict[str, Any]:
    """A stage one search's two trials, as the driver reports them: t1 completes its three evaluations after
    one crash (retried at evaluation 2), t2 is stopped by ASHA after one; then the search ends."""
    from sweep.track import TrialInfo

    search = next(s for s in plan(config) if s.phase == "intermediate")
    trials = {
        tid: TrialInfo(sweep=config.name, search=search, trial_id=tid, model="tiny-xlmr", seed=0, hp=hp)
        for tid, hp in (("t1", {"learning_rate": 1e-3}), ("t2", {"learning_rate": 1.5e-3}))
    }

    def report(tid: str, step: int, objective: float, attempt: int = 0) -> None:
        trial = TrialInfo(**{**trials[tid].__dict__, "attempt": attempt})
        result = {"objective": objective, "dev/en/accuracy": objective, "dev/de/accuracy": objective / 2, "lr": 1e-4}
        result.update({"toy_nli:dev/en/accuracy": objective, "3#test/de/accuracy": 0.25, "node": "n1"})
        trackers.result(trial, step=step, result=result)

    report("t1", 1, 0.4)
    report("t2", 1, 0.3)
    report("t1", 2, 0.5)
    trackers.retried(TrialInfo(**{**trials["t1"].__dict__, "attempt": 1}), error="RuntimeError: node lost")
    trackers.ended(trials["t2"], status="stopped", error=None)
    report("t1", 2, 0.55, attempt=1)  # the retry goes on from its checkpoint at evaluation 1
    report("t1", 3, 0.6, attempt=1)
    trackers.ended(TrialInfo(**{**trials["t1"].__dict__, "attempt": 1}), status="completed", error=None)
    record = {"best": {"trial_id": "t1", "objective": 0.6, "step": 3}, "test": {"mean": 0.42}}
    trackers.search_ended(search, state="done", record=record)
    trackers.close()
    return {"search": search}


def test_mlflow_nests_each_trial_under_its_search_with_params_histories_and_tags(tmp_path: Path) -> None:
    from mlflow.tracking import MlflowClient

    from sweep.track import open_trackers

    config = _config(tmp_path)
    notes: list[str] = []
    search = _events(open_trackers(SweepDir(tmp_path / "sweep"), config, note=notes.append), config)["search"]
    assert not [n for n in notes if "error" in n], notes

    client = MlflowClient(tracking_uri=f"sqlite:///{tmp_path}/mlflow.db")
    experiment = client.get_experiment_by_name("quickstart")
    runs = client.search_runs([experiment.experiment_id])
    parents = [r for r in runs if r.data.tags.get("xstilts.kind") == "search"]
    assert [p.info.run_name for p in parents] == [search.pair]
    parent = parents[0]
    assert parent.info.status == "FINISHED"
    assert parent.data.metrics == {"best_objective": 0.6, "test_mean": 0.42}
    trials = {r.info.run_name: r for r in runs if r.data.tags.get("xstilts.kind") == "trial"}
    assert set(trials) == {"t1", "t2"}
    for run in trials.values():
        assert run.data.tags["mlflow.parentRunId"] == parent.info.run_id
        tags = run.data.tags
        assert (tags["search"], tags["pair"], tags["intermediate"], tags["target"]) == (
            search.id,
            search.pair,
            "toy_nli",
            "-",
        )
        assert (tags["model"], tags["seed"], tags["regime"]) == ("tiny-xlmr", "0", "-")
    t1, t2 = trials["t1"], trials["t2"]
    assert t1.data.params == {"learning_rate": "0.001"}
    assert (t1.data.tags["attempt"], t1.data.tags["status"], t1.info.status) == ("1", "completed", "FINISHED")
    assert (t2.data.tags["attempt"], t2.data.tags["status"]) == ("0", "stopped")
    history = [(m.step, m.value) for m in client.get_metric_history(t1.info.run_id, "objective")]
    assert history == [(1, 0.4), (2, 0.5), (2, 0.55), (3, 0.6)]  # the retried attempt's evaluations too
    assert set(t1.data.metrics) == {
        "objective",
        "train/lr",
        "dev/en/accuracy",
        "dev/de/accuracy",
        "toy_nli/dev/en/accuracy",
        "test/de/accuracy_layer3",
    }


def test_a_resumed_driver_continues_each_trials_run(tmp_path: Path) -> None:
    """A second driver (a resume) finds the trial's MLflow run by its tags and its Optuna trial by its id."""
    from mlflow.tracking import MlflowClient

    from sweep.track import TrialInfo, open_trackers

    config = _config(tmp_path)
    search = next(s for s in plan(config) if s.phase == "intermediate")
    trial = TrialInfo(sweep=config.name, search=search, trial_id="t9", model="tiny-xlmr", seed=0)
    result = {"objective": 0.5}
    first = open_trackers(SweepDir(tmp_path / "sweep"), config)
    first.result(trial, step=1, result=result)
    first.close()  # the driver was stopped mid-trial
    second = open_trackers(SweepDir(tmp_path / "sweep"), config)
    second.result(trial, step=2, result={"objective": 0.7})
    second.ended(trial, status="completed", error=None)
    second.close()

    client = MlflowClient(tracking_uri=f"sqlite:///{tmp_path}/mlflow.db")
    runs = [r for r in client.search_runs([client.get_experiment_by_name("quickstart").experiment_id])]
    trial_runs = [r for r in runs if r.data.tags.get("xstilts.kind") == "trial"]
    assert len(trial_runs) == 1 and trial_runs[0].info.status == "FINISHED"
    assert [m.value for m in client.get_metric_history(trial_runs[0].info.run_id, "objective")] == [0.5, 0.7]
    import optuna

    from sweep.track.optuna_journal import open_storage

    study = optuna.load_study(
        study_name=search.id, storage=open_storage(str(tmp_path / "sweep" / "optuna-journal.log"))
    )
    assert len(study.trials) == 1
    assert study.trials[0].intermediate_values == {1: 0.5, 2: 0.7} and study.trials[0].value == 0.7


def test_optuna_journal_holds_each_search_as_a_study_that_optuna_dashboard_serves(tmp_path: Path) -> None:
    import optuna
    from optuna.trial import TrialState

    from sweep.track import open_trackers
    from sweep.track.optuna_journal import open_storage

    config = _config(tmp_path)
    sweep_dir = SweepDir(tmp_path / "sweep")
    search = _events(open_trackers(sweep_dir, config), config)["search"]
    path = sweep_dir.root / "optuna-journal.log"
    study = optuna.load_study(study_name=search.id, storage=open_storage(str(path)))
    t1, t2 = sorted(study.trials, key=lambda t: t.user_attrs["trial_id"])
    assert (t1.state, t1.value, t1.params) == (TrialState.COMPLETE, 0.6, {"learning_rate": 1e-3})
    assert t1.intermediate_values == {1: 0.4, 2: 0.55, 3: 0.6}
    assert t1.distributions["learning_rate"] == optuna.distributions.FloatDistribution(5e-4, 2e-3, log=True)
    assert (t2.state, t2.value, t2.user_attrs["status"]) == (TrialState.PRUNED, None, "stopped")
    assert study.best_trial.user_attrs["trial_id"] == "t1"
    assert study.user_attrs["pair"] == search.pair and study.user_attrs["test_mean"] == 0.42

    optuna_dashboard = pytest.importorskip("optuna_dashboard")
    app = optuna_dashboard.wsgi(str(path))
    listing = _get(app, "/api/studies")
    assert [s["study_name"] for s in listing["study_summaries"]] == [search.id]
    detail = _get(app, f"/api/studies/{listing['study_summaries'][0]['study_id']}?after=0")
    assert len(detail["trials"]) == 2


def _get(app: Any, path: str) -> dict[str, Any]:
    """GET ``path`` from a WSGI app and return its JSON body."""
    environ: dict[str, Any] = {"PATH_INFO": path.split("?")[0], "QUERY_STRING": path.partition("?")[2]}
    wsgiref.util.setup_testing_defaults(environ)
    environ["wsgi.input"] = io.BytesIO()
    status: list[str] = []
    body = b"".join(app(environ, lambda s, headers, exc_info=None: status.append(s)))
    assert status[0].startswith("200"), (status, body[:500])
    return json.loads(body)


def test_wandb_offline_runs_are_grouped_by_sweep_and_search(tmp_path: Path) -> None:
    from sweep.track import open_trackers

    config = _config(tmp_path)
    sweep_dir = SweepDir(tmp_path / "sweep")
    search = _events(open_trackers(sweep_dir, config), config)["search"]
    runs = sorted((sweep_dir.root / "wandb").glob("offline-run-*/run-*.wandb"))
    assert {p.name for p in runs} == {"run-quickstart-t1.wandb", "run-quickstart-t2.wandb"}
    records = wandb_records(next(p for p in runs if p.name.endswith("t1.wandb")))
    run = next(r["run"] for r in records if r["type"] == "run")
    assert (run["run_group"], run["job_type"], run["display_name"]) == ("quickstart", search.id, "t1")
    assert f"pair:{search.pair}" in run["tags"]
    assert run["config"]["update"]["learning_rate"] == 1e-3
    history = [r["history"]["item"] for r in records if r["type"] == "history"]
    assert [(h["evaluation"], h["objective"]) for h in history] == [(1, 0.4), (2, 0.5), (2, 0.55), (3, 0.6)]
    assert history[0]["toy_nli/dev/en/accuracy"] == 0.4


def test_tensorboard_event_files_lie_by_search_and_trial(tmp_path: Path) -> None:
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    from sweep.track import open_trackers

    config = _config(tmp_path)
    sweep_dir = SweepDir(tmp_path / "sweep")
    search = _events(open_trackers(sweep_dir, config), config)["search"]
    folder = sweep_dir.root / "tensorboard" / search.id / "t1"
    events = EventAccumulator(str(folder))
    events.Reload()
    assert [(e.step, round(e.value, 6)) for e in events.Scalars("objective")] == [
        (1, 0.4),
        (2, 0.5),
        (2, 0.55),
        (3, 0.6),
    ]
    assert "dev/de/accuracy" in events.Tags()["scalars"]
    assert (sweep_dir.root / "tensorboard" / search.id / "t2").is_dir()


def test_a_failing_tracker_is_dropped_with_one_note_and_the_rest_go_on(tmp_path: Path) -> None:
    from sweep.track import Trackers

    class Broken:
        name = "broken"

        def result(self, *args: Any, **kwargs: Any) -> None:
            raise ConnectionError("tracking server down")

        def close(self) -> None:
            pass

    class Counting:
        name = "counting"
        seen = 0

        def result(self, *args: Any, **kwargs: Any) -> None:
            self.seen += 1

    notes: list[str] = []
    counting = Counting()
    trackers = Trackers([Broken(), counting], note=notes.append)
    trackers.result(None, step=1, result={})
    trackers.result(None, step=2, result={})
    assert counting.seen == 2
    assert notes == [
        "broken: tracking stopped after an error (ConnectionError: tracking server down); the study goes on "
        "and its results tables are complete"
    ]


def test_tracking_settings_are_checked_before_any_compute(tmp_path: Path) -> None:
    from sweep.errors import ConfigError
    from sweep.preflight.validate import load_config

    with pytest.raises(ConfigError) as caught:
        load_config(
            ROOT / "configs" / "quickstart.yaml",
            ["tracking.wandb.mode=onlin", "tracking.mlflow.tracking_uri=mlruns", "tracking.mlflw={}"],
            check_data=False,
        )
    text = str(caught.value)
    assert "unknown key `mlflw` in tracking; did you mean `mlflow`?" in text
    assert "tracking.wandb.mode is `onlin`; use one of online, offline, disabled" in text
    assert "tracking.mlflow.tracking_uri `mlruns` is no MLflow store" in text


def test_two_sweeps_in_one_mlflow_experiment_keep_their_own_search_runs(tmp_path: Path) -> None:
    """Search ids repeat between sweeps; a shared experiment (`tracking.mlflow.experiment`) keeps each
    sweep's trials under its own search's run."""
    from mlflow.tracking import MlflowClient

    from sweep.track import TrialInfo, open_trackers

    for name in ("first", "second"):
        config = _config(tmp_path, f"name={name}", "tracking.mlflow.experiment=shared", "tracking.wandb=null")
        search = next(s for s in plan(config) if s.phase == "intermediate")
        trackers = open_trackers(SweepDir(tmp_path / name), config)
        trial = TrialInfo(sweep=name, search=search, trial_id=f"{name}-t", model="tiny-xlmr", seed=0)
        trackers.result(trial, step=1, result={"objective": 0.5})
        trackers.ended(trial, status="completed", error=None)
        trackers.search_ended(search, state="done", record={"best": {"trial_id": trial.trial_id, "objective": 0.5}})
        trackers.close()
    client = MlflowClient(tracking_uri=f"sqlite:///{tmp_path}/mlflow.db")
    runs = client.search_runs([client.get_experiment_by_name("shared").experiment_id])
    parents = {r.data.tags["sweep"]: r.info.run_id for r in runs if r.data.tags["xstilts.kind"] == "search"}
    trials = {
        r.data.tags["sweep"]: r.data.tags["mlflow.parentRunId"] for r in runs if r.data.tags["xstilts.kind"] == "trial"
    }
    assert set(parents) == {"first", "second"} and trials == parents


def test_a_smoke_run_keeps_its_trackers_local_and_notifies_no_one(tmp_path: Path) -> None:
    from sweep.run.smoke import smoke_config

    config = _config(tmp_path, "tracking.wandb.mode=online", "notify.webhook=https://hooks.example.org/x")
    smoke, _ = smoke_config(config, work=tmp_path / "smoke")
    assert smoke.tracking.mlflow.tracking_uri == f"sqlite:///{tmp_path / 'smoke' / 'mlflow.db'}"
    assert smoke.tracking.wandb.mode == "offline" and smoke.tracking.tensorboard
    assert smoke.notify.webhook is None
