"""Integration fixtures: run the ``sweep`` CLI in subprocesses, and end exactly the processes each
test started (``tests.processes``), while a bystander process that merely looks like Ray survives."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.processes import Owned, owned_processes, start_bystander

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
    # No weight decay in phase two: a word no target trains on then keeps its starting embedding exactly,
    # which tells which encoder a trial started from (tests/integration/encoders.py).
    "target.search_space={extends: quickstart_target, params: {weight_decay: 0.0}}",
]


def proposals(config: object, search: object) -> set[tuple]:
    """The configurations the search's seeded searcher proposes first, in the sweep's own setup."""
    from sweep.run import tuning

    stage = config.stage(search.phase)
    searcher = tuning.make_searcher(config, search)
    chosen = [searcher.suggest(f"t{i}")["hp"] for i in range(stage.num_samples)]
    return {tuple(sorted(hp.items())) for hp in chosen}


def sweep_cmd(*args: str) -> list[str]:
    """The command line of ``sweep ARGS`` with this interpreter."""
    return [sys.executable, "-m", "sweep.cli", *args]


def run_sweep(*args: str, timeout: float = 600, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    """Run ``sweep ARGS`` to the end and return its completed process (it inherits the test's mark);
    ``env`` adds variables to this process's environment."""
    env = {**os.environ, "PYTHONUNBUFFERED": "1", **(env or {})}
    return subprocess.run(sweep_cmd(*args), cwd=ROOT, capture_output=True, text=True, timeout=timeout, env=env)


@pytest.fixture(autouse=True)
def owned() -> Iterator[Owned]:
    """Every process a test starts (orphans of a killed driver included) is ended by pid afterwards."""
    with owned_processes() as started:
        yield started


@pytest.fixture(scope="session", autouse=True)
def bystander() -> Iterator[None]:
    """A process the tests did not start, whose command line says `ray`, `sweep.cli` and `array`, as
    another user's Ray job on a shared machine would: it must outlive every integration test."""
    decoy = start_bystander("ray::IDLE", "sweep.cli", "array")
    yield
    survived = decoy.is_running()
    decoy.kill()
    assert survived, "an integration test ended a process it did not start (a bystander whose command line has `ray`)"
