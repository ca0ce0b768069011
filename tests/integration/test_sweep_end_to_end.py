"""A small sweep end to end on a local Ray instance (127.0.0.1), then status and query on its table."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pyarrow.dataset as ds
import pytest

from tests.integration.conftest import MINI, QUICKSTART, ROOT, run_sweep
from tests.integration.encoders import checkpoint_rows, encoder_rows, scratch_rows, unseen_rows
from tests.processes import owned_processes

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def finished_sweep(tmp_path_factory: pytest.TempPathFactory) -> Path:
    storage = tmp_path_factory.mktemp("sweeps")
    with owned_processes() as owned:
        # Every trial's checkpoints are kept, so that all of them can be checked below.
        keep = "resources.keep_finished_checkpoints=true"
        done = run_sweep("launch", str(QUICKSTART), *MINI, keep, "--name", "mini", "--storage", str(storage))
        leftover = owned.wait_gone()
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    assert not leftover, f"the driver left processes behind: {leftover}"
    assert "finished target toy_nli->toy_order" in done.stdout
    return storage / "mini"


def test_every_trial_is_in_the_table_once(finished_sweep: Path) -> None:
    table = ds.dataset(finished_sweep / "results").to_table()
    assert table.schema.metadata[b"xstilts.schema_version"] == b"2"
    rows = table.to_pylist()
    trials: dict[str, set] = {}
    for r in rows:
        trials.setdefault(r["search"], set()).add(r["trial_id"])
    assert {k: len(v) for k, v in trials.items()} == {
        "intermediate-toy_nli": 2,
        "target-none-toy_order": 3,
        "target-toy_nli-toy_order": 3,
    }
    keys = [(r["trial_id"], r["attempt"], r["step"], r["split"], r["language"], r["metric"]) for r in rows]
    assert len(keys) == len(set(keys)), "duplicated rows"
    assert {r["status"] for r in rows} <= {"completed", "stopped"}
    stage_one = [r for r in rows if r["phase"] == "intermediate"]
    assert {(r["split"], r["language"]) for r in stage_one if r["metric"] == "accuracy"} == {("dev", "en")}
    assert all(r["target"] is None for r in stage_one)
    target = [r for r in rows if r["phase"] == "target" and r["metric"] == "accuracy"]
    assert {(r["split"], r["language"]) for r in target} == {
        (s, lang) for s in ("dev", "test") for lang in ("en", "de", "sw")
    }
    assert all(r["hp_learning_rate"] > 0 and r["node"] for r in target)


def test_stage_one_encoder_feeds_stage_two(finished_sweep: Path) -> None:
    """Every kept checkpoint of the pair's trials starts from the exported stage-one encoder: the rows of
    words toy_order never trains on are the encoder's, bit for bit; the baseline's are the scratch model's."""
    import torch

    from sweep.preflight.validate import load_config

    manifest = json.loads((finished_sweep / "manifest.json").read_text())
    assert {s["state"] for s in manifest["searches"].values()} == {"done"}
    encoder = Path(manifest["searches"]["intermediate-toy_nli"]["encoder"])
    assert encoder == finished_sweep / "encoders" / "toy_nli" / "encoder"
    config = load_config(finished_sweep / "config.yaml")
    unseen = unseen_rows(config, "toy_order", limit=config.training.max_train_examples)
    assert unseen.sum() > 100, "the words of de and sw never occur in English training"
    starts = {"toy_nli": encoder_rows(encoder), "none": scratch_rows(config, "toy_order")}
    assert not torch.equal(starts["toy_nli"][unseen], starts["none"][unseen])
    table = ds.dataset(finished_sweep / "results").to_table().to_pylist()
    for start, expected in starts.items():
        trials = {r["trial_id"] for r in table if r["search"] == f"target-{start}-toy_order"}
        checkpoints = sorted(c for t in trials for c in (finished_sweep / "tune").glob(f"*/trial_{t}/checkpoint_*"))
        assert len(trials) == 3 and checkpoints
        for checkpoint in checkpoints:
            rows = checkpoint_rows(checkpoint)
            assert torch.equal(rows[unseen], expected[unseen]), f"{checkpoint} did not start from {start}"
            assert not torch.equal(rows, expected), f"{checkpoint}: the English rows did not train"


def test_the_baseline_runs_while_stage_one_exports_and_the_pair_waits_for_it(finished_sweep: Path) -> None:
    """The driver does not wait for stage one's encoder export: a baseline trial starts while it runs (the
    export's window begins at stage one's last report, before the export does), and the pair's first trial
    only after it ended (``export_s`` in the manifest: what its pairs waited)."""
    import duckdb

    manifest = json.loads((finished_sweep / "manifest.json").read_text())
    export = manifest["searches"]["intermediate-toy_nli"]["export_s"]
    assert export > 0
    trials = duckdb.sql(
        "select search, epoch(min(started_at)), epoch(max(reported_at)) from "
        f"read_parquet('{finished_sweep}/results/**/*.parquet', union_by_name=true) group by search, trial_id"
    ).fetchall()
    last = max(end for search, _, end in trials if search == "intermediate-toy_nli")
    baseline = sorted(start for search, start, _ in trials if search == "target-none-toy_order")
    pair = min(start for search, start, _ in trials if search == "target-toy_nli-toy_order")
    assert pair >= last + export
    assert any(last <= start <= last + export for start in baseline), (last, export, baseline)


def test_manifest_names_the_code_that_ran(finished_sweep: Path) -> None:
    from importlib.metadata import version

    code = json.loads((finished_sweep / "manifest.json").read_text())["code"]
    assert code["xstilts"] == version("xstilts")
    if not (ROOT / ".git").exists():
        pytest.skip("not a git checkout: no commit to record")
    head = subprocess.run(["git", "-C", str(ROOT), "rev-parse", "HEAD"], capture_output=True, text=True, check=True)
    assert code["git_commit"] == head.stdout.strip()
    assert code["git_dirty"] in ("true", "false")


def test_status_and_query_cli(finished_sweep: Path) -> None:
    status = run_sweep("status", str(finished_sweep), "--format", "json")
    assert status.returncode == 0, status.stderr
    searches = {s["search"]: s for s in json.loads(status.stdout)}
    assert searches["target-none-toy_order"]["finished"] == 3
    assert searches["target-none-toy_order"]["pending"] == 0

    pivot = run_sweep("query", str(finished_sweep), "--pivot", "--format", "json")
    assert pivot.returncode == 0, pivot.stderr
    matrix = {row["intermediate"]: row for row in json.loads(pivot.stdout)}
    assert set(matrix) == {"none", "toy_nli"}
    assert matrix["toy_nli"]["toy_order vs none"] == pytest.approx(
        matrix["toy_nli"]["toy_order"] - matrix["none"]["toy_order"]
    )

    rows = run_sweep(
        "query",
        str(finished_sweep),
        "--where",
        "language=de",
        "--where",
        "split=test",
        "--metric",
        "accuracy",
        "--format",
        "csv",
    )
    assert rows.returncode == 0, rows.stderr
    lines = rows.stdout.strip().splitlines()
    assert lines[0].startswith("pair,trial_id,attempt,status")
    assert len(lines) > 1 and all(",de,accuracy," in line for line in lines[1:])

    bad = run_sweep("query", str(finished_sweep), "--where", "langauge=de")
    assert bad.returncode == 2 and "did you mean `language`" in bad.stderr


def test_launch_refuses_an_existing_sweep(finished_sweep: Path) -> None:
    again = run_sweep("launch", str(QUICKSTART), *MINI, "--name", "mini", "--storage", str(finished_sweep.parent))
    assert again.returncode == 2
    assert "already holds a sweep" in again.stderr and "sweep resume" in again.stderr
    # A job its scheduler retries resumes the sweep instead (here: nothing left to run).
    retried = run_sweep(
        "launch", str(QUICKSTART), *MINI, "--name", "mini", "--storage", str(finished_sweep.parent), "--resume-existing"
    )
    assert retried.returncode == 0, retried.stderr[-2000:]
    assert "holds this sweep already: resuming it" in retried.stdout and "sweep finished" in retried.stdout


def test_damaged_results_file_is_named_and_rebuilt_by_resume(finished_sweep: Path, tmp_path: Path) -> None:
    folder = finished_sweep / "results" / "target-none-toy_order"
    victim = folder / "search.c1.parquet"  # the driver compacted the finished search's files into one
    assert sorted(p.name for p in folder.iterdir()) == [victim.name]
    original = sorted(ds.dataset(victim).to_table().to_pylist(), key=str)
    victim.write_bytes(b"not parquet at all")

    broken = run_sweep("query", str(finished_sweep))
    assert broken.returncode == 2
    assert victim.name in broken.stderr and "sweep resume" in broken.stderr and "--skip-bad" in broken.stderr

    victim.rename(tmp_path / victim.name)  # what the message says to do
    resumed = run_sweep("resume", str(finished_sweep))
    assert resumed.returncode == 0, resumed.stderr[-2000:]
    assert resumed.stdout.count(f"rebuilt {folder}/") == 3  # each trial's attempt, from the journal
    assert sorted(p.name for p in folder.iterdir()) == [victim.name]  # and compacted again
    assert sorted(ds.dataset(victim).to_table().to_pylist(), key=str) == original


def test_analysis_of_the_finished_sweep(finished_sweep: Path, tmp_path: Path) -> None:
    manifest = json.loads((finished_sweep / "manifest.json").read_text())
    assert manifest["searches"]["target-none-toy_order"]["trials"] == {"finished": 3, "errored": 0}
    stats = run_sweep("query", str(finished_sweep), "--stats", "--format", "json")
    assert stats.returncode == 0, stats.stderr
    pair = {r["intermediate"]: r for r in json.loads(stats.stdout)}["toy_nli"]
    assert "paired bootstrap over 600 test examples" in pair["method"]  # 200 examples x en, de, sw
    assert pair["gain_low"] <= pair["gain"] <= pair["gain_high"]
    sql = "SELECT family, count(DISTINCT language) AS languages FROM best GROUP BY family ORDER BY family"
    families = run_sweep("query", str(finished_sweep), "--sql", sql, "--format", "csv")
    assert families.stdout.splitlines() == ["family,languages", "Atlantic-Congo,1", "Indo-European,2"]
    report = run_sweep("report", str(finished_sweep), "--out", str(tmp_path / "report"))
    assert report.returncode == 0, report.stderr
    assert (tmp_path / "report" / "heatmap.png").is_file() and (tmp_path / "report" / "index.html").is_file()


def test_exported_predictions_score_as_in_the_table(finished_sweep: Path, tmp_path: Path) -> None:
    out = tmp_path / "submission"
    done = run_sweep("export-predictions", str(finished_sweep), "--out", str(out))
    assert done.returncode == 0, done.stderr
    files = sorted(p.relative_to(out).as_posix() for p in out.rglob("*.tsv"))
    assert files == [
        f"{start}/toy_order/test-{lang}.tsv" for start in ("none", "toy_nli") for lang in ("de", "en", "sw")
    ]

    manifest = json.loads((finished_sweep / "manifest.json").read_text())
    toy = Path(__file__).resolve().parents[2] / "data" / "toy"
    for start in ("none", "toy_nli"):
        expected = manifest["searches"][f"target-{start}-toy_order"]["test"]["languages"]
        for lang in ("de", "en", "sw"):
            scored = run_sweep(
                "score",
                "toy_order",
                "--language",
                lang,
                "--predictions",
                str(out / start / "toy_order" / f"test-{lang}.tsv"),
                "--data-dir",
                str(toy),
                "--format",
                "json",
            )
            assert scored.returncode == 0, scored.stderr
            assert json.loads(scored.stdout)["accuracy"] == pytest.approx(expected[lang], abs=1e-12)
