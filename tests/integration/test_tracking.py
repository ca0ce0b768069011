"""A quickstart sweep shown in every tracker: MLflow (a folder store), W&B (offline), TensorBoard, the Optuna
journal, and a webhook told when it ended; each read back with the tool's own reader and checked against the
sweep's results table, the record they all mirror."""

from __future__ import annotations

import http.server
import json
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pyarrow.dataset as ds
import pytest

from tests.integration.conftest import MINI, QUICKSTART, run_sweep
from tests.trackers import wandb_records

pytestmark = [pytest.mark.integration, pytest.mark.slow]
pytest.importorskip("mlflow")
pytest.importorskip("wandb")
pytest.importorskip("tensorboard")


@pytest.fixture
def webhook() -> Iterator[tuple[str, list[dict[str, Any]]]]:
    """A local HTTP endpoint that keeps every JSON body posted to it."""
    received: list[dict[str, Any]] = []

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_POST(self) -> None:  # noqa: N802 (http.server's name)
            received.append(json.loads(self.rfile.read(int(self.headers["Content-Length"]))))
            self.send_response(200)
            self.end_headers()
            self.wfile.write(b"ok")

        def log_message(self, *args: Any) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/hook", received
    server.shutdown()
    server.server_close()


def test_a_quickstart_sweep_shows_in_every_tracker_grouped_by_search(
    tmp_path: Path, webhook: tuple[str, list[dict[str, Any]]], monkeypatch: pytest.MonkeyPatch
) -> None:
    import optuna
    from mlflow.tracking import MlflowClient
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    from sweep.track.optuna_journal import open_storage

    url, received = webhook
    monkeypatch.setenv("MLFLOW_ALLOW_FILE_STORE", "true")  # MLflow 3 reads its folder store only when asked
    done = run_sweep(
        "launch",
        str(QUICKSTART),
        "--storage",
        str(tmp_path),
        *MINI,
        f"tracking.mlflow.tracking_uri=file:{tmp_path}/mlruns",
        "tracking.wandb.mode=offline",
        "tracking.tensorboard=true",
        f"notify.webhook={url}",
        timeout=900,
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    sweep_dir = tmp_path / "quickstart"
    manifest = json.loads((sweep_dir / "manifest.json").read_text())
    rows = ds.dataset(sweep_dir / "results").to_table().to_pylist()
    trials: dict[str, dict[str, dict[str, Any]]] = {}  # search -> trial id -> its rows' facts
    for row in rows:
        trial = trials.setdefault(row["search"], {}).setdefault(row["trial_id"], {"attempts": set(), "steps": {}})
        trial["attempts"].add(row["attempt"])
        trial["status"] = row["status"]
        trial["hp"] = {k[3:]: v for k, v in row.items() if k.startswith("hp_") and v is not None}
        if row["split"] == "dev" and row["metric"] == "objective":
            trial["steps"][row["step"]] = row["value"]
    assert set(trials) == set(manifest["searches"])

    # MLflow: a parent run per search, each trial nested under it, with its values and its objective by step.
    client = MlflowClient(tracking_uri=f"file:{tmp_path}/mlruns")
    experiment = client.get_experiment_by_name("quickstart")
    runs = client.search_runs([experiment.experiment_id], max_results=1000)
    parents = {r.data.tags["search"]: r for r in runs if r.data.tags.get("xstilts.kind") == "search"}
    assert set(parents) == set(trials)
    for search_id, own in trials.items():
        nested = {
            r.info.run_name: r for r in runs if r.data.tags.get("mlflow.parentRunId") == parents[search_id].info.run_id
        }
        assert set(nested) == set(own), search_id
        for trial_id, facts in own.items():
            run = nested[trial_id]
            assert (
                run.data.tags["search"] == search_id
                and run.data.tags["pair"] == manifest["searches"][search_id]["pair"]
            )
            assert run.data.tags["status"] == facts["status"]
            history = {m.step: m.value for m in client.get_metric_history(run.info.run_id, "objective")}
            assert history == pytest.approx(facts["steps"]), (search_id, trial_id)
            for name, value in run.data.params.items():
                assert float(value) == pytest.approx(facts["hp"][name])
        assert parents[search_id].info.status == "FINISHED"

    # The Optuna journal: a study per search with as many trials as the table, objectives by step.
    storage = open_storage(str(sweep_dir / "optuna-journal.log"))
    for search_id, own in trials.items():
        study = optuna.load_study(study_name=search_id, storage=storage)
        assert len(study.trials) == len(own), search_id
        for trial in study.trials:
            facts = own[trial.user_attrs["trial_id"]]
            assert trial.intermediate_values == pytest.approx(facts["steps"])
            expected = {"completed": "COMPLETE", "stopped": "PRUNED", "errored": "FAIL"}[facts["status"]]
            assert trial.state.name == expected
        best = manifest["searches"][search_id]["best"]
        assert study.best_value == pytest.approx(best["objective"]), search_id

    # W&B offline: a run per trial, grouped by the sweep, the search as its job type.
    wandb_runs = list((sweep_dir / "wandb").glob("offline-run-*/run-*.wandb"))
    assert len(wandb_runs) == sum(len(own) for own in trials.values())
    one = wandb_records(wandb_runs[0])
    run = next(r["run"] for r in one if r["type"] == "run")
    assert run["run_group"] == "quickstart" and run["job_type"] in trials

    # TensorBoard: <search>/<trial> folders, the objective by step.
    for search_id, own in trials.items():
        for trial_id, facts in own.items():
            events = EventAccumulator(str(sweep_dir / "tensorboard" / search_id / trial_id))
            events.Reload()
            steps = {e.step: e.value for e in events.Scalars("objective")}
            assert steps == pytest.approx(facts["steps"])

    # The webhook heard the end of the study.
    assert len(received) == 1, received
    assert received[0]["event"] == "study_ended" and "quickstart" in received[0]["text"]
