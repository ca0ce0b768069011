"""Every study config under configs/studies runs end to end as a smoke run (`sweep launch --smoke`), on
the shared sample's real data where it has a split (synthetic stand-ins elsewhere, and everywhere when
../shared is absent). Slow: the studies are run as shipped, every language and seed included."""

from __future__ import annotations

import json
from pathlib import Path

import pyarrow.dataset as ds
import pytest

from tests.conftest import XTREME_SAMPLE
from tests.integration.conftest import ROOT, run_sweep

pytestmark = [pytest.mark.integration, pytest.mark.slow]

STUDIES = sorted((ROOT / "configs" / "studies").glob("*.yaml"))


@pytest.mark.parametrize("path", STUDIES, ids=lambda p: p.stem)
def test_study_smoke_runs(path: Path, tmp_path: Path) -> None:
    extra = []
    if XTREME_SAMPLE.is_dir():
        tokenizer = XTREME_SAMPLE.parent / "tokenizers" / "bert-base-multilingual-cased"
        extra = ["--data-dir", str(XTREME_SAMPLE / "hf"), "--tokenizer", str(tokenizer)]
    done = run_sweep("launch", str(path), "--smoke", *extra, "--storage", str(tmp_path), timeout=1800)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    sweep = tmp_path / f"{path.stem}-smoke"
    manifest = json.loads((sweep / "manifest.json").read_text())
    assert {s["state"] for s in manifest["searches"].values()} == {"done"}
    rows = ds.dataset(sweep / "results").to_table().to_pylist()
    assert {r["search"] for r in rows} == set(manifest["searches"])  # every search has its rows
    assert any(r["split"] == "test" for r in rows)
    # Its analysis from the CLI: the statistics and the report, whatever the study's shape.
    stats = run_sweep("query", str(sweep), "--stats", "--replicates", "100", "--format", "json")
    assert stats.returncode == 0, stats.stderr
    pairs = json.loads(stats.stdout)
    assert pairs, "no pair has statistics"
    # Every pair run once gets its bootstrap (its kept predictions reproduce the table's scores), but BUCC,
    # whose F1 over mined pairs has no per-example parts to resample.
    assert not [p["method"] for p in pairs if "no bootstrap" in p["method"] and p["target"] != "bucc2018"]
    report = run_sweep("report", str(sweep), "--out", str(tmp_path / "report"))
    assert report.returncode == 0, report.stderr
    assert (tmp_path / "report" / "heatmap.png").is_file()
