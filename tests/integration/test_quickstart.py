"""The shipped quickstart, unmodified: it runs, ASHA stops some trials, and some pair transfers positively."""

from __future__ import annotations

import json
from pathlib import Path

import pyarrow.dataset as ds
import pytest

from tests.integration.conftest import QUICKSTART, run_sweep

pytestmark = [pytest.mark.integration, pytest.mark.slow]


def test_quickstart_shows_positive_transfer(tmp_path: Path) -> None:
    done = run_sweep("launch", str(QUICKSTART), "--storage", str(tmp_path), timeout=900)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    sweep_dir = tmp_path / "quickstart"
    table = ds.dataset(sweep_dir / "results").to_table().to_pylist()
    statuses = {(r["search"], r["trial_id"]): r["status"] for r in table}
    assert "stopped" in statuses.values(), "ASHA should stop some trials"
    assert sum(1 for s, _ in statuses if s.startswith("target-")) == 6 * 4

    pivot = run_sweep("query", str(sweep_dir), "--pivot", "--format", "json")
    rows = json.loads(pivot.stdout)
    gains = [row[key] for row in rows for key in row if key.endswith(" vs none") and row[key] is not None]
    # ASHA's decisions depend on the order results arrive, so the exact gain varies from run to run.
    assert max(gains) > 0.02, rows
