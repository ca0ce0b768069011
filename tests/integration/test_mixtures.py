"""Intermediate mixtures through `sweep launch`: two tasks of different kinds on one encoder, and one task
in two languages at fixed shares; each is one stage-one search whose encoder starts its pairs, with its
composition in the manifest and each source's scores and sampling rate in the results."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pyarrow.dataset as ds
import pytest
import yaml

from tests.integration.conftest import QUICKSTART, ROOT, run_sweep

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def finished_sweep(tmp_path_factory: pytest.TempPathFactory) -> Path:
    data = tmp_path_factory.mktemp("data") / "mirror"
    shutil.copytree(ROOT / "data" / "toy", data)
    # XNLI in the facebook/xnli schema, made of toy NLI pairs (different ones per language).
    rows = [json.loads(line) for line in (data / "toy_nli.en" / "train.jsonl").read_text().splitlines()]
    for offset, language in enumerate(("de", "fr")):
        folder = data / f"xnli.{language}"
        folder.mkdir()
        for split, part in (("train", rows[offset * 300 : offset * 300 + 300]), ("validation", rows[1000:][:50])):
            records = [{"premise": r["sentence1"], "hypothesis": r["sentence2"], "label": r["label"]} for r in part]
            (folder / f"{split}.jsonl").write_text("".join(json.dumps(r) + "\n" for r in records))
    config = yaml.safe_load(QUICKSTART.read_text())
    config.update(
        name="mix",
        data_dir=str(data),
        intermediate_tasks=["toy_mix", "xnli_de75_fr25"],
        target_tasks=["toy_order"],
        languages=["en", "de"],
        baseline=False,
        mixtures={
            "toy_mix": {
                "sources": ["toy_nli", {"task": "toy_qa", "cap": 100}],
                "sampling": "temperature",
                "temperature": 2,
            },
            "xnli_de75_fr25": {"task": "xnli", "languages": {"de": 0.75, "fr": 0.25}},
        },
    )
    config["model"]["tokenizer"] = str(ROOT / "data" / "toy" / "tokenizer.json")
    config["intermediate"].update(epochs=1, num_samples=1)
    config["target"].update(epochs=1, num_samples=1)
    config["training"]["max_train_examples"] = 200
    path = tmp_path_factory.mktemp("config") / "mix.yaml"
    path.write_text(yaml.safe_dump(config))
    storage = tmp_path_factory.mktemp("sweeps")
    done = run_sweep("launch", str(path), "--storage", str(storage))
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    return storage / "mix"


def test_a_mixture_is_one_search_scoring_each_source(finished_sweep: Path) -> None:
    rows = ds.dataset(finished_sweep / "results").to_table().to_pylist()
    stage_one = [r for r in rows if r["search"] == "intermediate-toy_mix"]
    assert {r["intermediate"] for r in stage_one} == {"toy_mix"}
    scores = {(r["task"], r["split"], r["metric"]): r["value"] for r in stage_one if r["split"] == "dev"}
    assert set(scores) >= {("toy_nli", "dev", "accuracy"), ("toy_qa", "dev", "em_f1_avg")}
    objective = scores[("toy_mix", "dev", "objective")]
    assert objective == pytest.approx(
        (scores[("toy_nli", "dev", "accuracy")] + scores[("toy_qa", "dev", "em_f1_avg")]) / 2
    )
    rates = {r["task"]: r["value"] for r in stage_one if r["metric"] == "sampling_rate"}
    sizes = {r["task"]: r["value"] for r in stage_one if r["metric"] == "train_size"}
    # Temperature 2 over sizes capped at 100 for toy_qa: rates follow sqrt(size).
    capped = {"toy_nli": sizes["toy_nli"], "toy_qa": min(sizes["toy_qa"], 100)}
    total = sum(v**0.5 for v in capped.values())
    assert rates == pytest.approx({t: v**0.5 / total for t, v in capped.items()})


def test_a_language_mixture_selects_on_its_languages(finished_sweep: Path) -> None:
    rows = ds.dataset(finished_sweep / "results").to_table().to_pylist()
    stage_one = [r for r in rows if r["search"] == "intermediate-xnli_de75_fr25"]
    dev = {r["language"]: r["value"] for r in stage_one if r["split"] == "dev" and r["metric"] == "accuracy"}
    assert set(dev) == {"de", "fr"}
    (objective,) = [r["value"] for r in stage_one if r["metric"] == "objective"]
    assert objective == pytest.approx((dev["de"] + dev["fr"]) / 2)
    rates = {r["language"]: r["value"] for r in stage_one if r["metric"] == "sampling_rate"}
    assert rates == pytest.approx({"de": 0.75, "fr": 0.25})


def test_manifest_records_each_composition_and_pairs_start_from_it(finished_sweep: Path) -> None:
    manifest = json.loads((finished_sweep / "manifest.json").read_text())
    assert {s["state"] for s in manifest["searches"].values()} == {"done"}
    toy_mix = manifest["mixtures"]["toy_mix"]
    assert [(s["task"], s["cap"]) for s in toy_mix["sources"]] == [("toy_nli", None), ("toy_qa", 100)]
    assert (toy_mix["sampling"], toy_mix["temperature"]) == ("temperature", 2.0)
    xnli = manifest["mixtures"]["xnli_de75_fr25"]
    assert [(s["languages"], s["weight"], s["head"]) for s in xnli["sources"]] == [
        (["de"], 0.75, "xnli"),
        (["fr"], 0.25, "xnli"),
    ]
    pivot = run_sweep("query", str(finished_sweep), "--pivot", "--format", "json")
    assert pivot.returncode == 0, pivot.stderr
    assert sorted(row["intermediate"] for row in json.loads(pivot.stdout)) == ["toy_mix", "xnli_de75_fr25"]
    shown = run_sweep("query", str(finished_sweep), "--mixtures", "--format", "json")
    assert shown.returncode == 0, shown.stderr
    listed = json.loads(shown.stdout)
    assert {(r["mixture"], r["task"], r["languages"]) for r in listed} == {
        ("toy_mix", "toy_nli", "en"),
        ("toy_mix", "toy_qa", "en"),
        ("xnli_de75_fr25", "xnli", "de"),
        ("xnli_de75_fr25", "xnli", "fr"),
    }
    assert {r["languages"]: r["sampling_rate"] for r in listed if r["mixture"] == "xnli_de75_fr25"} == pytest.approx(
        {"de": 0.75, "fr": 0.25}
    )
