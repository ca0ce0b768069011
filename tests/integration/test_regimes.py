"""Target regimes through `sweep launch`: one target trained zero-shot, on its translated training set
(one search per target language) and multilingually, each a pair of its own that selects on the dev
sets of the languages it trains in and says its regime in every row."""

from __future__ import annotations

import json
from pathlib import Path

import pyarrow.dataset as ds
import pytest

from tests.integration.conftest import QUICKSTART, run_sweep

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def finished_sweep(tmp_path_factory: pytest.TempPathFactory) -> Path:
    storage = tmp_path_factory.mktemp("sweeps")
    done = run_sweep(
        "launch",
        str(QUICKSTART),
        "intermediate_tasks=[toy_nli]",
        "target_tasks=[toy_paws]",
        "languages=[en,de,sw]",
        "regimes={toy_paws: [zero_shot, translate_train, multilingual]}",
        "intermediate.epochs=1",
        "intermediate.num_samples=1",
        "target.epochs=1",
        "target.num_samples=1",
        "training.max_train_examples=150",
        "--name",
        "regimes",
        "--storage",
        str(storage),
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    return storage / "regimes"


def test_each_regime_is_its_own_pair(finished_sweep: Path) -> None:
    manifest = json.loads((finished_sweep / "manifest.json").read_text())
    assert {s["state"] for s in manifest["searches"].values()} == {"done"}
    pairs = sorted((s["pair"], sid) for sid, s in manifest["searches"].items() if s["phase"] == "target")
    assert [p for p, _ in pairs].count("toy_nli->toy_paws[translate_train]") == 2  # de and sw
    assert ("none->toy_paws[multilingual]", "target-none-toy_paws.multilingual") in pairs
    assert ("toy_nli->toy_paws", "target-toy_nli-toy_paws") in pairs


def test_per_language_searches_train_select_and_test_in_their_language(finished_sweep: Path) -> None:
    rows = ds.dataset(finished_sweep / "results").to_table().to_pylist()
    search = [r for r in rows if r["search"] == "target-toy_nli-toy_paws.translate_train.de"]
    assert {r["regime"] for r in search} == {"translate_train"}
    assert {(r["split"], r["language"]) for r in search if r["metric"] == "accuracy"} == {("dev", "de"), ("test", "de")}
    assert {r["language"] for r in search if r["metric"] == "loss"} == {"de"}
    dev = [r["value"] for r in search if r["split"] == "dev" and r["metric"] == "accuracy"]
    assert [r["value"] for r in search if r["metric"] == "objective"] == dev


def test_multilingual_trains_on_every_language_and_selects_on_their_mean(finished_sweep: Path) -> None:
    rows = ds.dataset(finished_sweep / "results").to_table().to_pylist()
    search = [r for r in rows if r["search"] == "target-none-toy_paws.multilingual"]
    assert {r["regime"] for r in search} == {"multilingual"}
    dev = {r["language"]: r["value"] for r in search if r["split"] == "dev" and r["metric"] == "accuracy"}
    assert set(dev) == {"en", "de", "sw"}
    (objective,) = [r["value"] for r in search if r["metric"] == "objective"]
    assert objective == pytest.approx(sum(dev.values()) / 3)
    zero_shot = [r for r in rows if r["search"] == "target-none-toy_paws"]
    assert {r["regime"] for r in zero_shot} == {"zero_shot"}
    assert {r["language"] for r in zero_shot if r["metric"] == "loss"} == {"en"}


def test_the_transfer_matrix_has_a_column_per_regime(finished_sweep: Path) -> None:
    pivot = run_sweep("query", str(finished_sweep), "--pivot", "--format", "json")
    assert pivot.returncode == 0, pivot.stderr
    rows = json.loads(pivot.stdout)
    assert [r["intermediate"] for r in rows] == ["none", "toy_nli"]
    assert {"toy_paws", "toy_paws[translate_train]", "toy_paws[multilingual]"} <= set(rows[0])
    german = json.loads(
        run_sweep("query", str(finished_sweep), "--pivot", "--language", "de", "--format", "json").stdout
    )
    assert all(row["toy_paws[translate_train]"] is not None for row in german)


def test_each_regime_exports_a_submission_of_its_own(finished_sweep: Path, tmp_path: Path) -> None:
    out = tmp_path / "submission"
    done = run_sweep("export-predictions", str(finished_sweep), "--out", str(out))
    assert done.returncode == 0, done.stderr
    assert sorted(p.name for p in out.iterdir()) == [
        "none",
        "none[multilingual]",
        "none[translate_train]",
        "toy_nli",
        "toy_nli[multilingual]",
        "toy_nli[translate_train]",
    ]
    # A per-language regime's searches each add their language; the others test every language.
    assert sorted(p.name for p in (out / "toy_nli[translate_train]" / "toy_paws").iterdir()) == [
        "test-de.tsv",
        "test-sw.tsv",
    ]
    assert sorted(p.name for p in (out / "toy_nli" / "toy_paws").iterdir()) == [
        "test-de.tsv",
        "test-en.tsv",
        "test-sw.tsv",
    ]
