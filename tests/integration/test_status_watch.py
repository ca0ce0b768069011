"""``sweep status DIR --watch`` on a study as it runs: it shows searches running, then the sweep done, and
ends by itself when the launch ends."""

from __future__ import annotations

import os
import re
import subprocess
import time
from pathlib import Path

import pytest

from tests.integration.conftest import QUICKSTART, ROOT, sweep_cmd

pytestmark = [pytest.mark.integration, pytest.mark.slow]  # about 40 s; `make test` stays under 15 minutes

# The quickstart at its smallest: one stage one and one target with its baseline, a trial each, short.
TINY = [
    "intermediate_tasks=[toy_nli]",
    "target_tasks=[toy_order]",
    "languages=[en,de]",
    "intermediate.epochs=1",
    "intermediate.num_samples=1",
    "target.epochs=1",
    "target.num_samples=2",
    "training.max_train_examples=200",
    "training.max_eval_examples=100",
]


def test_watch_follows_a_running_launch_and_ends_with_it(tmp_path: Path) -> None:
    sweep_dir = tmp_path / "watched"
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    log = (tmp_path / "launch.log").open("w")
    launch = subprocess.Popen(
        sweep_cmd("launch", str(QUICKSTART), *TINY, "--name", "watched", "--storage", str(tmp_path)),
        cwd=ROOT,
        stdout=log,
        stderr=subprocess.STDOUT,
        env=env,
    )
    # The driver's note is written once it holds the sweep, an instant after the manifest.
    deadline = time.monotonic() + 300
    while not (sweep_dir / "driver.json").exists():
        assert launch.poll() is None, (tmp_path / "launch.log").read_text()[-3000:]
        assert time.monotonic() < deadline, "the launch did not start its driver in time"
        time.sleep(0.1)
    watch = subprocess.Popen(
        sweep_cmd("status", str(sweep_dir), "--watch", "1"),
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )
    assert launch.wait(timeout=600) == 0, (tmp_path / "launch.log").read_text()[-3000:]
    out, err = watch.communicate(timeout=60)  # it ends by itself once the driver has gone
    assert watch.returncode == 0, err[-3000:]

    blocks = out.strip().split("\n\n")
    assert len(blocks) >= 2 and "\x1b[" not in out  # plain blocks: stdout is a pipe
    assert any(re.search(r"^searches: \d+ running", b, re.M) for b in blocks), out[-3000:]
    assert any("driver: running, process " in b for b in blocks)
    *_, final, ending = blocks
    assert re.search(r"^searches: 3 done$", final, re.M), final  # the stage one, the target and its baseline
    assert "driver: not running (the sweep has ended)" in final and "ETA: ~0s (no trial left to run)" in final
    assert ending == "sweep ended: every search is done or failed"
