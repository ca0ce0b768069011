"""Kill the driver with SIGKILL mid-sweep, resume it, and check every trial is recorded exactly once."""

from __future__ import annotations

import os
import signal
import subprocess
import time
from pathlib import Path

import psutil
import pyarrow.dataset as ds
import pytest

from tests.integration.conftest import MINI, QUICKSTART, ROOT, run_sweep, sweep_cmd

pytestmark = pytest.mark.integration


def _running_trial_with_reports(sweep_dir: Path) -> bool:
    """A stage-two trial has reported at least once and is not finished yet."""
    for journal in (sweep_dir / "journal").glob("target-*/*.jsonl"):
        results = sweep_dir / "results" / journal.parent.name
        if journal.stat().st_size and not list(results.glob(f"{journal.stem}.a*.parquet")):
            return True
    return False


def _kill_tree(pid: int) -> None:
    parent = psutil.Process(pid)
    procs = [parent, *parent.children(recursive=True)]
    for proc in procs:
        try:
            proc.send_signal(signal.SIGKILL)
        except psutil.NoSuchProcess:
            pass
    psutil.wait_procs(procs, timeout=30)


def test_sigkill_then_resume_records_each_trial_once(tmp_path: Path) -> None:
    sweep_dir = tmp_path / "killed"
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    log = (tmp_path / "first.log").open("w")
    driver = subprocess.Popen(
        sweep_cmd("launch", str(QUICKSTART), *MINI, "--name", "killed", "--storage", str(tmp_path)),
        cwd=ROOT,
        stdout=log,
        stderr=subprocess.STDOUT,
        env=env,
    )
    deadline = time.monotonic() + 300
    while not _running_trial_with_reports(sweep_dir):
        assert driver.poll() is None, (tmp_path / "first.log").read_text()[-3000:]
        assert time.monotonic() < deadline, "no stage-two trial reported in time"
        time.sleep(0.2)
    before = {p: p.read_bytes() for p in (sweep_dir / "results").rglob("*.parquet")}
    _kill_tree(driver.pid)
    assert before, "the kill should come after some trials finished"

    status = run_sweep("status", str(sweep_dir))
    assert status.returncode == 0, status.stderr
    assert "interrupted" in status.stdout and "driver: not running" in status.stdout

    resumed = run_sweep("resume", str(sweep_dir))
    assert resumed.returncode == 0, resumed.stdout[-3000:] + resumed.stderr[-3000:]
    assert "already finished, kept" in resumed.stdout

    # Trials that finished before the kill were not rerun: their files are untouched.
    for path, data in before.items():
        assert path.read_bytes() == data, f"{path} was rewritten"
    rows = ds.dataset(sweep_dir / "results").to_table().to_pylist()
    keys = [(r["trial_id"], r["attempt"], r["step"], r["split"], r["language"], r["metric"]) for r in rows]
    assert len(keys) == len(set(keys)), "a step was recorded twice"
    finished: dict[str, dict[str, int]] = {}
    for r in rows:
        if r["status"] in ("completed", "stopped") and r["metric"] == "objective":
            finished.setdefault(r["search"], {}).setdefault(r["trial_id"], r["attempt"])
    assert {s: len(t) for s, t in finished.items()} == {
        "intermediate-toy_nli": 2,
        "target-none-toy_order": 3,
        "target-toy_nli-toy_order": 3,
    }
    for r in rows:  # each trial is complete in exactly one attempt, and every step is there once
        if r["metric"] == "objective":
            assert finished[r["search"]][r["trial_id"]] == r["attempt"]
    steps: dict[str, list[int]] = {}
    for r in rows:
        if r["metric"] == "objective":
            steps.setdefault(r["trial_id"], []).append(r["step"])
    assert all(sorted(s) == list(range(1, len(s) + 1)) for s in steps.values()), steps
