"""Integration fixtures: run the ``sweep`` CLI in subprocesses and stop every process a test started."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import psutil
import pytest

ROOT = Path(__file__).resolve().parents[2]
QUICKSTART = ROOT / "configs" / "quickstart.yaml"

# A small sweep: one intermediate task, one target plus its baseline, short trials.
MINI = [
    "intermediate_tasks=[toy_nli]",
    "target_tasks=[toy_order]",
    "languages=[en,de,sw]",
    "intermediate.epochs=2",
    "intermediate.num_samples=2",
    "target.epochs=3",
    "target.num_samples=3",
    "training.max_train_examples=600",
]


def sweep_cmd(*args: str) -> list[str]:
    """The command line of ``sweep ARGS`` with this interpreter."""
    return [sys.executable, "-m", "sweep.cli", *args]


def run_sweep(*args: str, timeout: float = 600) -> subprocess.CompletedProcess[str]:
    """Run ``sweep ARGS`` to the end and return its completed process."""
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    return subprocess.run(sweep_cmd(*args), cwd=ROOT, capture_output=True, text=True, timeout=timeout, env=env)


def _ray_processes() -> set[int]:
    pids = set()
    for proc in psutil.process_iter(["pid", "name", "cmdline"]):
        try:
            text = " ".join(proc.info["cmdline"] or []) + " " + (proc.info["name"] or "")
        except (psutil.NoSuchProcess, psutil.AccessDenied):
            continue
        if "ray" in text or "sweep.cli" in text:
            pids.add(proc.info["pid"])
    return pids


def leftover_processes(before: set[int], *, grace: float = 20.0) -> dict[int, str]:
    """Ray/sweep processes not in ``before`` that are still alive after ``grace`` seconds.

    Ray's processes take a few seconds to exit after ``ray.shutdown()``; only those that stay count.
    """
    deadline = time.monotonic() + grace
    while True:
        extra = {}
        for pid in _ray_processes() - before:
            try:
                extra[pid] = " ".join(psutil.Process(pid).cmdline())[:200]
            except psutil.Error:
                pass
        if not extra or time.monotonic() > deadline:
            return extra
        time.sleep(0.5)


@pytest.fixture
def reap() -> Iterator[None]:
    """Kill every Ray or sweep process that appeared during the test (orphans of a killed driver included)."""
    before = _ray_processes()
    yield
    for pid in _ray_processes() - before:
        try:
            psutil.Process(pid).kill()
        except psutil.Error:
            pass
