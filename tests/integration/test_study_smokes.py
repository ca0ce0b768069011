"""Every study config under configs/studies runs end to end as a smoke run (`sweep launch --smoke`), on
the shared sample's real data where it has a split (synthetic stand-ins elsewhere, and everywhere when
../shared is absent). Slow: the studies are run as shipped, every language and seed included."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pyarrow.dataset as ds
import pytest

from tests.conftest import XTREME_SAMPLE
from tests.integration.conftest import ROOT, run_sweep

pytestmark = [pytest.mark.integration, pytest.mark.slow]

STUDIES = sorted((ROOT / "configs" / "studies").glob("*.yaml"))


def _query(sweep: Path, *args: str) -> list[dict[str, Any]]:
    done = run_sweep("query", str(sweep), *args, "--format", "json")
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


def _xstilts(sweep: Path) -> None:
    """Nine English intermediate tasks and their mixture against nine targets, retrieval after phase one."""
    matrix = _query(sweep, "--pivot")
    entries = {"anli_plus", "mnli", "qqp", "squad", "squad_v2", "hellaswag", "ccg", "cosmos_qa", "commonsense_qa"}
    assert {r["intermediate"] for r in matrix} == {"none", "xstilts_all", *entries}
    for target in ("xnli", "pawsx", "udpos", "panx", "xquad", "mlqa", "tydiqa", "bucc2018", "tatoeba"):
        assert all(r[target] is not None for r in matrix), target
        assert all(r[f"{target} vs none"] is not None for r in matrix if r["intermediate"] != "none"), target


def _alignment(sweep: Path) -> None:
    """Recall@10 at every layer of every encoder, and per task at the middle layer."""
    where = ["--where", "target=tatoeba", "--where", "metric=recall_at_10", "--where", "language=de"]
    rows = _query(sweep, *where, "--columns", "intermediate,layer")
    layers: dict[str, set[int]] = {}
    for r in rows:
        layers.setdefault(r["intermediate"], set()).add(r["layer"])
    entries = {"none", "mnli", "xnli_translated", "xnli_all_languages"}
    assert set(layers) == entries and all(len(found) >= 3 and 0 in found for found in layers.values()), layers
    matrix = _query(sweep, "--pivot", "--metric", "recall_at_10")
    assert {r["intermediate"] for r in matrix} == entries
    assert all(r[t] is not None for r in matrix for t in ("tatoeba", "lareqa", "mewslix"))


def _reasoning(sweep: Path) -> None:
    """Zero-shot against translate-train, in-language and multilingual regimes, and each pair's seeds."""
    matrix = _query(sweep, "--pivot", "--language", "sw")
    assert {r["intermediate"] for r in matrix} == {"none", "mnli", "siqa", "commonsense_qa"}
    for column in ("xnli", "xnli[translate_train]", "xnli[multilingual]", "xcopa", "xcopa[in_language]"):
        assert all(r[column] is not None for r in matrix), column
    seeds = _query(sweep, "--where", "search=target-mnli-xnli.seeds", "--where", "split=test", "--columns", "seed")
    assert {r["seed"] for r in seeds} == {1, 2, 3}


def _scaling(sweep: Path) -> None:
    """A row per model and intermediate entry."""
    matrix = _query(sweep, "--pivot")
    models = {"xlm-roberta-base", "xlm-roberta-large", "xlm-roberta-xl"}
    assert {(r["model"], r["intermediate"]) for r in matrix} == {
        (m, e) for m in models for e in ("none", "mnli", "xnli_multilingual")
    }


def _scaling_decoders(sweep: Path) -> None:
    """A row per decoder entry (full fine-tuning and LoRA) and intermediate entry; the LoRA entries trained
    adapters (their trials record the rank)."""
    matrix = _query(sweep, "--pivot")
    models = {"llama-7b", "llama-7b-lora", "llama-13b-lora", "llama-30b-lora"}
    assert {(r["model"], r["intermediate"]) for r in matrix} == {
        (m, e) for m in models for e in ("none", "mnli", "xnli_multilingual")
    }
    for target in ("xnli", "xcopa", "udpos", "panx", "xquad", "tatoeba", "lareqa"):
        assert all(r[target] is not None for r in matrix), target


def _mixing(sweep: Path) -> None:
    """Five English shares, each mixture's composition as it trained, and seeds for the spread."""
    matrix = _query(sweep, "--pivot", "--language", "sw")
    shares = {"mnli", "en75_other25", "en50_other50", "en25_other75", "other_only"}
    assert {r["intermediate"] for r in matrix} == {"none", *shares}
    weights: dict[str, float] = {}
    for r in _query(sweep, "--mixtures"):
        weights[r["mixture"]] = weights.get(r["mixture"], 0.0) + r["weight"]
    assert set(weights) == shares - {"mnli"} and all(abs(w - 1) < 1e-9 for w in weights.values()), weights
    english = {r["mixture"]: r["weight"] for r in _query(sweep, "--mixtures") if r["languages"] == "en"}
    assert english == {"en75_other25": 0.75, "en50_other50": 0.5, "en25_other75": 0.25}
    seeds = _query(sweep, "--where", "split=test", "--where", "language=sw", "--columns", "search,seed")
    assert {r["seed"] for r in seeds if r["search"].endswith(".seeds")} == {1, 2, 3}


def _qa_retrieval(sweep: Path) -> None:
    """Recall@10 of each retrieval task after English, translated and multilingual QA."""
    matrix = _query(sweep, "--pivot", "--metric", "recall_at_10")
    assert {r["intermediate"] for r in matrix} == {"none", "squad", "squad_translated", "tydiqa@all"}
    assert all(r[t] is not None for r in matrix for t in ("tatoeba", "lareqa", "mewslix"))


#: The shape of each study's answer, as docs/studies.md queries it.
ANSWERS = {
    "xstilts": _xstilts,
    "alignment": _alignment,
    "reasoning": _reasoning,
    "scaling": _scaling,
    "scaling_decoders": _scaling_decoders,
    "mixing": _mixing,
    "qa_retrieval": _qa_retrieval,
}


def test_every_study_has_its_answer_checked() -> None:
    assert sorted(ANSWERS) == sorted(p.stem for p in STUDIES)


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
    ANSWERS[path.stem](sweep)  # the study's question has the answer's shape
