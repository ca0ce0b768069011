"""`sweep estimate` against a real run: the quickstart as shipped, then its schedule simulated on this
machine's CPUs with the trial lengths and the driver's pauses between trials that the run measured;
predicted and measured wall-clock (first trial start to last report) agree within 25%."""

from __future__ import annotations

import re
from pathlib import Path

import duckdb
import pytest

from tests.integration.conftest import QUICKSTART, run_sweep

pytestmark = [pytest.mark.integration, pytest.mark.slow]


def _seconds(span: str) -> float:
    units = {"d": 86400, "h": 3600, "m": 60, "s": 1}
    return sum(int(n) * units[u] for n, u in re.findall(r"(\d+)([dhms])", span))


def test_the_simulated_quickstart_takes_as_long_as_the_real_one(tmp_path: Path) -> None:
    done = run_sweep("launch", str(QUICKSTART), "--name", "qs", "--storage", str(tmp_path))
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    sweep = tmp_path / "qs"
    ((first, last),) = duckdb.sql(
        f"select min(started_at), max(reported_at) from read_parquet('{sweep}/results/**/*.parquet', "
        "union_by_name=true)"
    ).fetchall()
    measured = (last - first).total_seconds() if hasattr(last - first, "total_seconds") else last - first
    import os

    cpus = os.cpu_count()
    estimated = run_sweep("estimate", str(QUICKSTART), "--gpus", str(cpus), "--durations", str(sweep))
    assert estimated.returncode == 0, estimated.stderr
    (span,) = re.findall(r"wall-clock (\S+)", estimated.stdout)
    predicted = _seconds(span)
    print(f"quickstart on {cpus} CPUs: measured {measured:.0f}s, predicted {predicted:.0f}s")
    assert "measured between trials:" in estimated.stdout, estimated.stdout
    assert abs(predicted - measured) <= 0.25 * measured, estimated.stdout
