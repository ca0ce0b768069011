"""The disk under a running sweep fills up: the driver stops with an error naming the folder and the fix, and
once space is freed `sweep resume` finishes the study with every trial recorded exactly once."""

from __future__ import annotations

import os
import subprocess
import time
from collections.abc import Callable
from pathlib import Path

import pyarrow.dataset as ds
import pytest

from tests.disks import fill
from tests.integration.conftest import QUICKSTART, ROOT, run_sweep, sweep_cmd
from tests.integration.test_resume_after_kill import SLOWER, _running_trial_with_reports

pytestmark = [pytest.mark.integration, pytest.mark.slow]


def test_a_full_disk_stops_the_driver_and_resume_loses_nothing(
    mount_disk: Callable[[str], Path], tmp_path: Path
) -> None:
    """The study of test_resume_after_kill on a disk of its own, filled while a pair's trial trains."""
    disk = mount_disk("256m")
    sweep_dir = disk / "full"
    log_path = tmp_path / "first.log"
    with log_path.open("w") as log:
        driver = subprocess.Popen(
            sweep_cmd("launch", str(QUICKSTART), *SLOWER, "--name", "full", "--storage", str(disk)),
            cwd=ROOT,
            stdout=log,
            stderr=subprocess.STDOUT,
            env={**os.environ, "PYTHONUNBUFFERED": "1"},
        )
        deadline = time.monotonic() + 300
        while not _running_trial_with_reports(sweep_dir, "target-toy_nli-*"):
            assert driver.poll() is None, log_path.read_text()[-3000:]
            assert time.monotonic() < deadline, "no pair trial reported in time"
            time.sleep(0.2)
        ballast = fill(disk)  # the disk is full while trials train and the driver journals their reports
        try:
            rc = driver.wait(timeout=300)
        finally:
            if driver.poll() is None:
                driver.kill()
    out = log_path.read_text()
    assert rc == 2, out[-3000:]
    message = out.strip().splitlines()[-1]
    assert message.startswith("sweep launch: error: no space left on the disk holding"), out[-3000:]
    assert str(disk) in message and "`df -h" in message and "run `sweep resume` on the sweep" in message

    ballast.unlink()
    resumed = run_sweep("resume", str(sweep_dir))
    assert resumed.returncode == 0, resumed.stdout[-3000:] + resumed.stderr[-3000:]
    rows = ds.dataset(sweep_dir / "results").to_table().to_pylist()
    keys = [(r["trial_id"], r["attempt"], r["step"], r["split"], r["language"], r["metric"]) for r in rows]
    assert len(keys) == len(set(keys)), "a step was recorded twice"
    finished: dict[str, set[str]] = {}
    for r in rows:
        if r["status"] in ("completed", "stopped") and r["metric"] == "objective":
            finished.setdefault(r["search"], set()).add(r["trial_id"])
    expected = {"intermediate-toy_nli": 2, "target-none-toy_order": 3, "target-toy_nli-toy_order": 3}
    assert {s: len(t) for s, t in finished.items()} == expected, out[-2000:]
