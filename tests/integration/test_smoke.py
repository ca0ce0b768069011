"""Smoke runs through `sweep launch --smoke`: a study with real task names on a CPU in a few minutes,
on the shared XTREME sample's real data wherever it has a split (skipped without ../shared) and on
synthetic stand-ins elsewhere, with mBERT's real tokenizer; and a smoke run needing no data at all."""

from __future__ import annotations

import json
from pathlib import Path

import pyarrow.dataset as ds
import pytest
import yaml

from tests.integration.conftest import ROOT, run_sweep

pytestmark = pytest.mark.integration

STUDY = {
    "name": "sample",
    "data_dir": "/nowhere/xtreme",  # the real run's mirror; the smoke run is given the sample instead
    "intermediate_tasks": ["mnli", "squad", "hellaswag"],
    "target_tasks": ["xnli", "xcopa", "udpos", "tatoeba"],
    "languages": ["en", "de", "sw", "zh"],
    "model": {
        "name": "xlmr-large",
        "init": "pretrained",
        "path": "FacebookAI/xlm-roberta-large",
        "architecture": "xlm-roberta",
        "max_length": 128,
    },
    "training": {"precision": "bf16", "zero_stage": 2},
    "intermediate": {"epochs": 2, "num_samples": 8},
    "target": {"epochs": 3, "num_samples": 8},
    "resources": {"gpus_per_trial": 1, "cpus_per_trial": 4, "max_concurrent_trials": 4},
}


@pytest.mark.slow  # a minute; the shipped studies' smokes (test_study_smokes) run the sample too
def test_a_study_smoke_runs_on_the_sample(xtreme_sample: Path, tmp_path: Path) -> None:
    tokenizer = xtreme_sample.parent / "tokenizers" / "bert-base-multilingual-cased"
    config = tmp_path / "sample.yaml"
    config.write_text(yaml.safe_dump(STUDY))
    done = run_sweep(
        "launch",
        str(config),
        "--smoke",
        "--data-dir",
        str(xtreme_sample / "hf"),
        "--tokenizer",
        str(tokenizer),
        "--storage",
        str(tmp_path / "sweeps"),
        timeout=900,
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    sweep = tmp_path / "sweeps" / "sample-smoke"
    report = json.loads((sweep / "smoke" / "smoke.json").read_text())
    # Real where the sample has it: MNLI's training set, XNLI's German dev and test, Tatoeba, UD-POS English.
    assert {"mnli/en/train", "xnli/de/dev", "xnli/de/test", "tatoeba/de/test", "udpos/en/train"} <= set(report["real"])
    assert "mnli/en/dev" in report["synthetic"]  # the sample has no MNLI dev set
    manifest = json.loads((sweep / "manifest.json").read_text())
    assert {s["state"] for s in manifest["searches"].values()} == {"done"}
    rows = ds.dataset(sweep / "results").to_table().to_pylist()
    assert {r["model"] for r in rows} == {"xlmr-large"}  # a tiny XLM-R under the study's own model name
    tested = {(r["target"], r["language"]) for r in rows if r["split"] == "test"}
    assert {("xnli", "de"), ("xcopa", "sw"), ("udpos", "zh"), ("tatoeba", "de")} <= tested
    saved = yaml.safe_load((sweep / "config.yaml").read_text())
    assert saved["model"]["architecture"] == "xlm-roberta" and saved["intermediate"]["num_samples"] == 2
    print(done.stdout[-2500:])  # what the smoke run printed (docs/studies.md quotes a run of it)


def test_a_smoke_run_needs_no_data(tmp_path: Path) -> None:
    """Without any data folder every split is synthetic; a scratch model stays its family (XLM-R)."""
    done = run_sweep(
        "launch",
        str(ROOT / "configs" / "quickstart.yaml"),
        "intermediate_tasks=[anli_plus]",
        "target_tasks=[pawsx]",
        "languages=[en,de]",
        "regimes={pawsx: [zero_shot, translate_train]}",
        "data_dir=/nowhere",
        "--smoke",
        "--storage",
        str(tmp_path),
        timeout=600,
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    assert "0 splits of real data" in done.stdout
    rows = ds.dataset(tmp_path / "quickstart-smoke" / "results").to_table().to_pylist()
    assert {r["task"] for r in rows if r["phase"] == "intermediate" and r["split"] == "dev"} >= {"snli", "mnli", "anli"}
    assert {r["regime"] for r in rows if r["phase"] == "target"} == {"zero_shot", "translate_train"}


NINE = ["en", "ar", "de", "es", "fr", "hi", "ru", "sw", "zh"]  # the sample's PAN-X and XNLI languages


@pytest.mark.slow  # a minute
def test_a_smoke_run_without_a_tokenizer_trains_one_for_every_script_of_the_sample(
    xtreme_sample: Path, tmp_path: Path
) -> None:
    """No `--tokenizer` and no model files here: the tiny XLM-R's tokenizer is trained on the run's data, in
    nine languages and five scripts, and its vocabulary grows to hold every character (Unigram refused a
    2,000-piece vocabulary: "not large enough to contain all chars")."""
    from trainers.model import load_tokenizer
    from trainers.spec import ModelSpec

    config = tmp_path / "nine.yaml"
    config.write_text(yaml.safe_dump({**STUDY, "name": "nine", "languages": NINE, "target_tasks": ["xnli", "panx"]}))
    data = ["--data-dir", str(xtreme_sample / "hf")]
    done = run_sweep("launch", str(config), "--smoke", *data, "--storage", str(tmp_path / "sweeps"), timeout=900)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    sweep = tmp_path / "sweeps" / "nine-smoke"
    manifest = json.loads((sweep / "manifest.json").read_text())
    assert {s["state"] for s in manifest["searches"].values()} == {"done"}
    tested = {r["language"] for r in ds.dataset(sweep / "results").to_table().to_pylist() if r["target"] == "xnli"}
    assert set(NINE) <= tested
    (folder,) = {Path(p).parent for p in (sweep / "smoke").rglob("tokenizer.json")}
    tokenizer = load_tokenizer(ModelSpec(name="xlmr-large", init="pretrained", path=str(folder)))
    for language in NINE:
        path = xtreme_sample / "hf" / f"xnli.{language}" / "validation.jsonl"
        premises = [json.loads(line)["premise"] for line in path.read_text(encoding="utf-8").splitlines()[:20]]
        ids = [i for text in premises for i in tokenizer(text)["input_ids"]]
        assert tokenizer.unk_token_id not in ids, language  # every character of the text is a piece
