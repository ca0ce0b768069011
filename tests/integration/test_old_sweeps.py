"""A sweep written by an earlier xstilts resumes, completes and queries after the code changed under it."""

from __future__ import annotations

import json
import shutil
import tarfile
from collections.abc import Iterator
from pathlib import Path

import pyarrow.dataset as ds
import pytest
from filelock import FileLock

from tests.integration.conftest import ROOT, run_sweep
from tests.kept import kept

pytestmark = pytest.mark.integration

FIXTURE = ROOT / "tests" / "data" / "sweep-0.1-killed.tar.gz"
HOME = Path("/tmp/xstilts-v0.1-sweep")  # where it was written: Tune's state holds absolute paths (README)


@pytest.fixture
def old_sweep() -> Iterator[Path]:
    with FileLock(f"{HOME}.lock"):  # one test run at a time on this machine uses the fixed folder
        shutil.rmtree(HOME, ignore_errors=True)
        (HOME / "store").mkdir(parents=True)
        with tarfile.open(FIXTURE) as archive:
            archive.extractall(HOME / "store", filter="data")
        shutil.copytree(ROOT / "data" / "toy", HOME / "data")
        try:
            yield HOME / "store" / "old"
        finally:
            shutil.rmtree(HOME, ignore_errors=True)


def test_a_sweep_killed_under_xstilts_0_1_resumes_and_queries(old_sweep: Path) -> None:
    tuner = (old_sweep / "tune" / "study" / "tuner.pkl").read_bytes()
    assert b"sweep.tuning" in tuner, "the fixture pickles the searcher by its 0.1 class path"
    manifest = json.loads((old_sweep / "manifest.json").read_text())
    assert manifest["code"]["git_commit"].startswith("f7b499c")
    assert {k: v["state"] for k, v in manifest["searches"].items()} == {
        "intermediate-toy_nli": "done",
        "target-none-toy_order": "running",
        "target-toy_nli-toy_order": "running",
    }
    before = {p: p.read_bytes() for p in (old_sweep / "results").rglob("*.parquet")}

    status = run_sweep("status", str(old_sweep))
    assert status.returncode == 0 and "interrupted" in status.stdout, status.stdout + status.stderr

    resumed = run_sweep("resume", str(old_sweep))
    assert resumed.returncode == 0, resumed.stdout[-3000:] + resumed.stderr[-3000:]
    assert "already finished, kept: toy_nli" in resumed.stdout
    manifest = json.loads((old_sweep / "manifest.json").read_text())
    assert {v["state"] for v in manifest["searches"].values()} == {"done"}

    rows = ds.dataset(old_sweep / "results").to_table().to_pylist()
    keys = [(r["trial_id"], r["attempt"], r["step"], r["split"], r["language"], r["metric"]) for r in rows]
    assert len(keys) == len(set(keys)), "a step was recorded twice"
    finished = {(r["search"], r["trial_id"]) for r in rows if r["metric"] == "objective"}
    assert {s for s, _ in finished} == set(manifest["searches"])
    assert sum(s == "intermediate-toy_nli" for s, _ in finished) == 2
    assert sum(s.startswith("target-") for s, _ in finished) == 6
    for path, data in before.items():  # what the 0.1 driver wrote stays as it was, or merged whole
        folder = {p.name: p.read_bytes() for p in path.parent.glob("*.parquet")}
        assert kept(path.name, data, folder.get(path.name), folder), f"{path} was rewritten"

    pivot = run_sweep("query", str(old_sweep), "--pivot", "--format", "json")
    assert pivot.returncode == 0, pivot.stderr
    assert {row["intermediate"] for row in json.loads(pivot.stdout)} == {"none", "toy_nli"}
