"""configs/kinds.yaml through the Python API: Ray Tune trains a QA intermediate task and tagging,
multiple-choice and QA targets; every pair's rows, exported predictions and start encoder are checked."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pyarrow.dataset as ds
import pytest

from sweep import cli
from sweep.analysis.query import transfer_matrix
from sweep.run.driver import launch
from sweep.storage.layout import SweepDir
from tests.integration.conftest import ROOT
from tests.integration.encoders import checkpoint_rows, encoder_rows, scratch_rows, unseen_rows
from tests.processes import owned_processes

pytestmark = pytest.mark.integration

KINDS = ROOT / "configs" / "kinds.yaml"
TOY = ROOT / "data" / "toy"
LANGUAGES = ("en", "de", "fr", "es", "sw")
TARGETS = ("toy_ner", "toy_choice", "toy_qa")
STARTS = ("none", "toy_qa")
# Every metric the benchmark's scorer reports, and the headline the pivot shows.
METRICS = {
    "toy_ner": ({"precision", "recall", "f1"}, "f1"),
    "toy_choice": ({"accuracy"}, "accuracy"),
    "toy_qa": ({"exact_match", "f1", "em_f1_avg"}, "em_f1_avg"),
}


@pytest.fixture(scope="module")
def sweep_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The launched sweep, through the Python API in this process; the Ray processes it started
    (and only those) must be gone afterwards."""
    with owned_processes() as owned:
        # The pairs' best checkpoints keep their weights here: the test reads which encoder each started from.
        root = launch(KINDS, ["resources.keep_finished_checkpoints=true"], storage=tmp_path_factory.mktemp("sweeps"))
        leftover = owned.wait_gone()
    assert not leftover, f"the driver left processes behind: {leftover}"
    return root


@pytest.fixture(scope="module")
def manifest(sweep_dir: Path) -> dict[str, Any]:
    return json.loads((sweep_dir / "manifest.json").read_text())


def _best_rows(rows: list[dict[str, Any]], best: dict[str, Any], split: str) -> dict[tuple[str, str], float]:
    """(language, metric) -> value of the best trial's chosen step on ``split``."""
    key = (best["trial_id"], best["attempt"], best["step"], split)
    return {
        (r["language"], r["metric"]): r["value"]
        for r in rows
        if (r["trial_id"], r["attempt"], r["step"], r["split"]) == key and r["metric"] != "objective"
    }


def test_every_search_is_done_and_every_pair_has_test_scores(sweep_dir: Path, manifest: dict[str, Any]) -> None:
    searches = manifest["searches"]
    assert set(searches) == {"intermediate-toy_qa"} | {f"target-{s}-{t}" for s in STARTS for t in TARGETS}
    assert {s["state"] for s in searches.values()} == {"done"}
    assert (Path(searches["intermediate-toy_qa"]["encoder"]) / "model.safetensors").is_file()
    rows = ds.dataset(sweep_dir / "results").to_table().to_pylist()
    assert {r["status"] for r in rows} <= {"completed", "stopped", "errored"}
    scores = [r["value"] for r in rows if r["split"] in ("dev", "test")]
    assert scores and all(0.0 <= v <= 1.0 for v in scores)  # every trial, step and metric; objective included
    stage_one = _best_rows(rows, searches["intermediate-toy_qa"]["best"], "dev")
    assert set(stage_one) == {("en", m) for m in METRICS["toy_qa"][0]}
    for target in TARGETS:
        metrics, headline = METRICS[target]
        for start in STARTS:
            entry = searches[f"target-{start}-{target}"]
            test = _best_rows(rows, entry["best"], "test")
            assert set(test) == {(lang, m) for lang in LANGUAGES for m in metrics}, (start, target)
            assert entry["test"]["metric"] == headline
            assert entry["test"]["languages"] == {lang: test[(lang, headline)] for lang in LANGUAGES}
            dev = _best_rows(rows, entry["best"], "dev")
            assert entry["best"]["objective"] == dev[("en", headline)]  # selected on English dev


def test_pivot_shows_each_kinds_headline_metric(sweep_dir: Path, manifest: dict[str, Any]) -> None:
    matrix = {row["intermediate"]: row for row in transfer_matrix(sweep_dir)}
    assert set(matrix) == set(STARTS)
    for target in TARGETS:
        for start in STARTS:
            assert matrix[start][target] == manifest["searches"][f"target-{start}-{target}"]["test"]["mean"]
        gain = matrix["toy_qa"][f"{target} vs none"]
        assert gain == matrix["toy_qa"][target] - matrix["none"][target]


def test_exported_predictions_score_as_in_the_table(
    sweep_dir: Path, manifest: dict[str, Any], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "submission"
    assert cli.main(["export-predictions", str(sweep_dir), "--out", str(out)]) == 0
    suffix = {"toy_ner": "tsv", "toy_choice": "jsonl", "toy_qa": "json"}
    files = sorted(p.relative_to(out).as_posix() for p in out.rglob("*.*"))
    assert files == sorted(
        f"{start}/{target}/test-{lang}.{suffix[target]}" for start in STARTS for target in TARGETS for lang in LANGUAGES
    )
    rows = ds.dataset(sweep_dir / "results").to_table().to_pylist()
    capsys.readouterr()
    for target in TARGETS:
        for start in STARTS:
            table = _best_rows(rows, manifest["searches"][f"target-{start}-{target}"]["best"], "test")
            for lang in LANGUAGES:
                predictions = out / start / target / f"test-{lang}.{suffix[target]}"
                argv = ["score", target, "--language", lang, "--predictions", str(predictions)]
                assert cli.main([*argv, "--data-dir", str(TOY), "--format", "json"]) == 0
                scored = json.loads(capsys.readouterr().out)
                # Exactly: the same scorer on the same predictions, through a file instead of memory.
                assert scored == {m: table[(lang, m)] for m in METRICS[target][0]}, (start, target, lang)


def test_every_target_kind_starts_from_the_qa_encoder(sweep_dir: Path, manifest: dict[str, Any]) -> None:
    """A word no target trains on keeps, bit for bit, the embedding its trial started with: the QA
    encoder's in the toy_qa pairs and the scratch model's in the baselines (kinds_target.yaml has no
    weight decay; phase one's 0.01 moved every row of the encoder, so the two starts differ)."""
    import torch

    from sweep.preflight.validate import load_config

    config = load_config(sweep_dir / "config.yaml")
    qa_rows = encoder_rows(Path(manifest["searches"]["intermediate-toy_qa"]["encoder"]))
    folder = SweepDir(sweep_dir)
    for target in TARGETS:
        unseen = unseen_rows(config, target)
        assert unseen.sum() > 100, "the words of de, fr, es and sw never occur in English training"
        scratch = scratch_rows(config, target)
        assert not torch.equal(qa_rows[unseen], scratch[unseen])
        for start, expected in (("none", scratch), ("toy_qa", qa_rows)):
            best = manifest["searches"][f"target-{start}-{target}"]["best"]
            checkpoint = folder.checkpoint(
                search=f"target-{start}-{target}", trial_id=best["trial_id"], step=best["step"]
            )
            rows = checkpoint_rows(checkpoint)
            assert torch.equal(rows[unseen], expected[unseen]), f"{start}->{target} did not start from {start}"
            assert not torch.equal(rows, expected), f"{start}->{target}: the English rows did not train"
