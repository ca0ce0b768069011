"""Losing a node mid-trial, and a trial that keeps failing: the study goes on, every row once.

A two-node Ray cluster on this machine (``ray.cluster_utils.Cluster``, 127.0.0.1 only); the sweep joins
it with ``--address``. Killing the worker node's raylet and its children (by pid: this test started
them) kills the trial running there; Tune retries it on the surviving node from its last checkpoint.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import time
from pathlib import Path

import psutil
import pyarrow.dataset as ds
import pytest

from tests.integration.conftest import QUICKSTART, ROOT, run_sweep, sweep_cmd
from tests.kept import ended

pytestmark = pytest.mark.integration

SLOW_STAGE_ONE = [
    "intermediate_tasks=[toy_nli]",
    "target_tasks=[toy_order]",
    "languages=[en,de]",
    "baseline=false",
    "search.scheduler=fifo",  # ASHA must not stop the trial before its node is lost
    "intermediate.epochs=4",
    "intermediate.num_samples=2",
    "target.epochs=1",
    "target.num_samples=1",
    "training.max_train_examples=2000",
    "training.max_eval_examples=100",
    "resources.max_failures=2",
]


def _running_with_reports(sweep_dir: Path) -> int:
    """Trials that reported at least once and have not ended."""
    count = 0
    for journal in (sweep_dir / "journal").glob("*/*.jsonl"):
        done = ended(sweep_dir / "results" / journal.parent.name, journal.stem)
        count += bool(journal.stat().st_size) and not done
    return count


def _trial_processes(parent: int) -> list[psutil.Process]:
    """The trials (Tune's function trainable actors) running under process ``parent`` (a raylet, a driver)."""
    found = []
    for child in psutil.Process(parent).children(recursive=True):
        try:
            if "ImplicitFunc" in " ".join(child.cmdline()):
                found.append(child)
        except psutil.Error:
            continue
    return found


def _trial_process_under(raylet_pid: int) -> bool:
    """Whether a trial runs under this raylet."""
    return bool(_trial_processes(raylet_pid))


def test_a_trial_on_a_lost_node_is_retried_on_a_surviving_one(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from ray.cluster_utils import Cluster

    from cluster.ray_compat import keep_nodes_on_loopback

    keep_nodes_on_loopback()
    monkeypatch.setenv("RAY_AUTH_MODE", "disabled")  # this test is about nodes, not tokens
    cluster = Cluster(initialize_head=True, head_node_args={"num_cpus": 1, "include_dashboard": False})
    try:
        worker = cluster.add_node(num_cpus=1)
        cluster.wait_for_nodes()
        raylet = worker.all_processes["raylet"][0].process.pid
        log = (tmp_path / "launch.log").open("w")
        driver = subprocess.Popen(
            sweep_cmd("launch", str(QUICKSTART), *SLOW_STAGE_ONE, "--name", "lost", "--storage", str(tmp_path))
            + ["--address", cluster.address],
            cwd=ROOT,
            stdout=log,
            stderr=subprocess.STDOUT,
            env={**os.environ, "PYTHONUNBUFFERED": "1"},
        )
        sweep_dir = tmp_path / "lost"
        deadline = time.monotonic() + 300
        # Both stage-one trials run, one on each node, and each has reported (so each has a checkpoint).
        while not (_running_with_reports(sweep_dir) == 2 and _trial_process_under(raylet)):
            assert driver.poll() is None, (tmp_path / "launch.log").read_text()[-3000:]
            assert time.monotonic() < deadline, "the two trials did not both report in time"
            time.sleep(0.2)
        lost = [psutil.Process(raylet), *psutil.Process(raylet).children(recursive=True)]
        for proc in lost:
            proc.kill()
        psutil.wait_procs(lost, timeout=30)
        assert driver.wait(timeout=600) == 0, (tmp_path / "launch.log").read_text()[-3000:]
    finally:
        cluster.shutdown()

    rows = ds.dataset(sweep_dir / "results").to_table().to_pylist()
    keys = [(r["trial_id"], r["attempt"], r["step"], r["split"], r["language"], r["metric"]) for r in rows]
    assert len(keys) == len(set(keys)), "a row was recorded twice"
    stage_one = [r for r in rows if r["search"] == "intermediate-toy_nli"]
    attempts = {(r["trial_id"], r["attempt"]): r["status"] for r in stage_one}
    retried = [t for (t, a), status in attempts.items() if a == 1]
    assert len(retried) == 1, attempts  # the trial of the lost node, and only it
    (trial,) = retried
    assert attempts[(trial, 0)] == "errored" and attempts[(trial, 1)] == "completed"
    # The retry continued from the last checkpoint of the lost attempt, not from scratch.
    lost_steps = sorted(
        {r["step"] for r in stage_one if (r["trial_id"], r["attempt"]) == (trial, 0) and r["metric"] == "objective"}
    )
    retry_steps = sorted(
        {r["step"] for r in stage_one if (r["trial_id"], r["attempt"]) == (trial, 1) and r["metric"] == "objective"}
    )
    assert lost_steps and retry_steps[0] > 1 and retry_steps[-1] == 4, (lost_steps, retry_steps)
    manifest = json.loads((sweep_dir / "manifest.json").read_text())
    assert {s["state"] for s in manifest["searches"].values()} == {"done"}


@pytest.mark.slow  # keeps `make test` within 15 minutes; a lost node's retry runs in `make test`
def test_a_trial_that_keeps_failing_is_recorded_and_the_study_goes_on(tmp_path: Path) -> None:
    data = tmp_path / "data"
    shutil.copytree(ROOT / "data" / "toy", data)
    # toy_paws's German test file is damaged: its trials fail when they load it, and no retry would help.
    (data / "toy_paws.de" / "test.jsonl").write_text('{"sentence1": "cut off\n')
    done = run_sweep(
        "launch",
        str(QUICKSTART),
        f"data_dir={data}",
        "intermediate_tasks=[toy_nli]",
        "target_tasks=[toy_paws,toy_order]",
        "languages=[en,de]",
        "intermediate.epochs=1",
        "intermediate.num_samples=1",
        "target.epochs=1",
        "target.num_samples=1",
        "training.max_train_examples=200",
        "--name",
        "failing",
        "--storage",
        str(tmp_path),
    )
    assert done.returncode == 2, done.stdout[-2000:] + done.stderr[-2000:]
    assert "2 search(es) of" in done.stderr and "none->toy_paws: every trial failed" in done.stderr
    assert "toy_nli->toy_paws: every trial failed" in done.stderr
    manifest = json.loads((tmp_path / "failing" / "manifest.json").read_text())
    states = {s["pair"]: s["state"] for s in manifest["searches"].values()}
    assert states == {
        "toy_nli": "done",
        "none->toy_paws": "failed",
        "toy_nli->toy_paws": "failed",
        "none->toy_order": "done",
        "toy_nli->toy_order": "done",
    }
    rows = ds.dataset(tmp_path / "failing" / "results").to_table().to_pylist()
    errors = [r for r in rows if r["metric"] == "error" and r["target"] == "toy_paws"]
    # Each failing trial once, with the error text: a data error is not retried (resources.max_failures is 1).
    assert len(errors) == 2 and all(
        "DataError: " in r["error"] and "line 1 is not valid JSON" in r["error"] for r in errors
    ), [(r["search"], r["trial_id"], r["attempt"], r["status"], r["error"][-200:]) for r in errors]
    assert {r["attempt"] for r in errors} == {0} and {r["status"] for r in errors} == {"errored"}
    assert "retrying" not in done.stdout
    assert run_sweep("query", str(tmp_path / "failing"), "--pivot").returncode == 0


def _journal(path: Path) -> list[dict]:
    from sweep.storage.journal import TrialJournal

    return TrialJournal(path.parent.parent).records(search=path.parent.name, trial_id=path.stem)


@pytest.mark.slow  # a minute
def test_a_trial_that_keeps_crashing_uses_up_its_retries_and_the_study_goes_on(tmp_path: Path) -> None:
    """One trial's process is killed at the second report of each of its attempts (a trial that crashes by
    itself: a segfault, an out-of-memory kill): Tune retries it `resources.max_failures` (2) times from its
    last checkpoint, then ends it errored; its search goes on with its other trial, and the pair after it.
    The second report, not the first: the driver journals a report before Tune has registered its
    checkpoint, so a kill at the first could leave the retry nothing to continue from (seen under load)."""
    overrides = [
        "intermediate_tasks=[toy_nli]",
        "target_tasks=[toy_order]",
        "languages=[en]",
        "baseline=false",
        "search.scheduler=fifo",
        "intermediate.epochs=8",  # three attempts of two reports each, whatever checkpoint each resumes from
        "intermediate.num_samples=2",
        "target.epochs=1",
        "target.num_samples=1",
        "training.max_train_examples=600",
        "training.max_eval_examples=50",
        "resources.max_failures=2",
        "resources.max_concurrent_trials=1",  # one trial at a time: the one running is the one reporting
    ]
    log = (tmp_path / "launch.log").open("w")
    driver = subprocess.Popen(
        sweep_cmd("launch", str(QUICKSTART), *overrides, "--name", "crashing", "--storage", str(tmp_path)),
        cwd=ROOT,
        stdout=log,
        stderr=subprocess.STDOUT,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    journals = tmp_path / "crashing" / "journal" / "intermediate-toy_nli"
    victim: Path | None = None
    kills: list[tuple[int, int]] = []  # (attempt, step) at each kill
    deadline = time.monotonic() + 600
    while driver.poll() is None:
        assert time.monotonic() < deadline, (tmp_path / "launch.log").read_text()[-3000:]
        if victim is None:
            found = sorted(journals.glob("*.jsonl"), key=lambda p: p.stat().st_mtime) if journals.is_dir() else []
            victim = found[0] if found else None
        if victim is not None and len(kills) < 3:
            records = _journal(victim)
            attempt = max((r["attempt"] for r in records), default=-1)
            reported = [r for r in records if r["attempt"] == attempt and r["step"] > 0]
            ended_now = any(r["attempt"] == attempt and r["step"] == 0 for r in records)
            if len(reported) >= 2 and not ended_now and attempt == len(kills):
                for proc in _trial_processes(driver.pid):
                    proc.kill()
                kills.append((attempt, max(r["step"] for r in reported)))
        time.sleep(0.1)
    output = (tmp_path / "launch.log").read_text()
    assert driver.returncode == 0, output[-3000:]
    assert victim is not None and [a for a, _ in kills] == [0, 1, 2], kills

    rows = ds.dataset(tmp_path / "crashing" / "results").to_table().to_pylist()
    keys = [(r["trial_id"], r["attempt"], r["step"], r["split"], r["language"], r["metric"]) for r in rows]
    assert len(keys) == len(set(keys)), "a row was recorded twice"
    stage_one = [r for r in rows if r["search"] == "intermediate-toy_nli"]
    statuses = {(r["trial_id"], r["attempt"]): r["status"] for r in stage_one}
    crashed = victim.stem
    # Three attempts, each ended errored: the first and its two retries.
    assert {a: s for (t, a), s in statuses.items() if t == crashed} == {0: "errored", 1: "errored", 2: "errored"}
    # Each retry went on from the last checkpoint of the attempt before, not from the start.
    first_steps = {
        a: min(r["step"] for r in stage_one if (r["trial_id"], r["attempt"]) == (crashed, a) and r["step"] > 0)
        for a in (1, 2)
    }
    assert first_steps[1] > 1 and first_steps[2] > first_steps[1], first_steps
    others = {t for (t, _), s in statuses.items() if t != crashed and s == "completed"}
    assert len(others) == 1, statuses  # the search's other trial ran to its end
    manifest = json.loads((tmp_path / "crashing" / "manifest.json").read_text())
    assert {s["state"] for s in manifest["searches"].values()} == {"done"}
    assert any(r["phase"] == "target" and r["status"] == "completed" for r in rows)  # the pair after it ran
