"""Retrieval targets evaluated straight after phase one, embeddings from the intermediate encoder,
through `sweep launch`: Tatoeba on the shared sample (skipped without ../shared/data/xtreme-sample);
BUCC 2018, LAReQA and Mewsli-X on the project's own release-format fixtures."""

from __future__ import annotations

import json
from pathlib import Path

import pyarrow.dataset as ds
import pytest

from tests.integration.conftest import QUICKSTART, ROOT, run_sweep
from tests.unit.trainers.retrieval import fixtures as fx
from tests.unit.trainers.tokenizer_helpers import XLMR_SPECIALS, xlmr_fast
from trainers.retrieval.embed import evaluate_retrieval
from trainers.spec import ModelSpec
from trainers.tasks import get_task

pytestmark = pytest.mark.integration
LANGS = ("de", "fr")


@pytest.fixture(scope="module")
def mirror(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Toy data plus the sample's Tatoeba sets, and a tokenizer trained on all of their text."""
    from tests.conftest import XTREME_SAMPLE

    if not XTREME_SAMPLE.is_dir():
        pytest.skip(f"{XTREME_SAMPLE} is absent (a fresh clone has no ../shared)")
    root = tmp_path_factory.mktemp("mirror")
    for folder in (ROOT / "data" / "toy").iterdir():
        if folder.is_dir():
            (root / folder.name).symlink_to(folder)
    for code in ("deu", "fra"):
        (root / f"tatoeba.{code}").symlink_to(XTREME_SAMPLE / "hf" / f"tatoeba.{code}")
    from tokenizers import Tokenizer, models, normalizers, pre_tokenizers, trainers

    tok = Tokenizer(models.BPE(unk_token="<unk>"))
    tok.normalizer = normalizers.Lowercase()
    tok.pre_tokenizer = pre_tokenizers.Metaspace()
    # The folders are symlinks, which rglob does not enter.
    texts = [
        line
        for folder in root.iterdir()
        for path in folder.glob("*.jsonl")
        for line in path.read_text(encoding="utf-8").splitlines()
    ]
    tok.train_from_iterator(
        texts, trainers.BpeTrainer(vocab_size=2000, special_tokens=[*XLMR_SPECIALS, "<mask>"], show_progress=False)
    )
    xlmr_fast(tok)
    tok.save(str(root / "tokenizer.json"))
    return root


def test_embeddings_retrieve_translations_above_chance(mirror: Path) -> None:
    spec = ModelSpec(tokenizer=str(mirror / "tokenizer.json"), max_length=64)
    # A random encoder's embedding layer still carries shared names and numbers across languages.
    metrics, predicted = evaluate_retrieval(
        "tatoeba",
        model_spec=spec,
        init_encoder=None,
        languages=LANGS,
        data_dir=str(mirror),
        layer=0,
        pooling="mean",
        batch_size=128,
    )
    assert metrics["layer"] == 0
    for lang in LANGS:  # the predictions are what was scored: one retrieved index per English sentence
        hits = [i == j for i, j in enumerate(predicted[lang])]
        assert metrics[f"test/{lang}/accuracy"] == sum(hits) / len(hits)
    assert all(metrics[f"test/{lang}/accuracy"] > 20 / 1000 for lang in LANGS), metrics  # chance: 1 / 1000
    assert metrics["objective"] == pytest.approx(sum(metrics[f"test/{lang}/accuracy"] for lang in LANGS) / 2)


def test_sweep_evaluates_tatoeba_after_phase_one(mirror: Path, tmp_path: Path) -> None:
    done = run_sweep(
        "launch",
        str(QUICKSTART),
        f"data_dir={mirror}",
        f"model.tokenizer={mirror / 'tokenizer.json'}",
        "intermediate_tasks=[toy_nli]",
        "target_tasks=[tatoeba]",
        "languages=[de,fr]",
        "intermediate.epochs=1",
        "intermediate.num_samples=1",
        "training.max_train_examples=200",
        "retrieval.layers=all",
        "--name",
        "retrieval",
        "--storage",
        str(tmp_path),
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    assert "finished target toy_nli->tatoeba" in done.stdout
    rows = ds.dataset(tmp_path / "retrieval" / "results").to_table().to_pylist()
    tatoeba = [r for r in rows if r["target"] == "tatoeba"]
    # Every layer of the 2-layer encoder (0 = embeddings), a row each; the middle one (1) is the result.
    assert {(r["intermediate"], r["language"], r["layer"]) for r in tatoeba if r["metric"] == "accuracy"} == {
        (start, lang, layer) for start in ("none", "toy_nli") for lang in LANGS for layer in (0, 1, 2)
    }
    assert {r["metric"] for r in tatoeba if r["split"] == "test"} == {
        "accuracy",
        "recall_at_1",
        "recall_at_5",
        "recall_at_10",
    }
    for r in tatoeba:
        if r["metric"] == "recall_at_1":  # the nearest source, as accuracy counts it
            (accuracy,) = [
                a["value"]
                for a in tatoeba
                if a["metric"] == "accuracy"
                and (a["trial_id"], a["language"], a["layer"]) == (r["trial_id"], r["language"], r["layer"])
            ]
            assert r["value"] == accuracy
        if r["metric"] == "recall_at_10":
            assert r["value"] >= next(
                a["value"]
                for a in tatoeba
                if a["metric"] == "recall_at_5"
                and (a["trial_id"], a["language"], a["layer"]) == (r["trial_id"], r["language"], r["layer"])
            )
    assert {r["status"] for r in tatoeba} == {"completed"}
    assert len({(r["intermediate"], r["trial_id"]) for r in tatoeba}) == 2, "one evaluation per encoder"
    assert all(r["hp_learning_rate"] is None for r in tatoeba)

    pivot = run_sweep("query", str(tmp_path / "retrieval"), "--pivot", "--format", "json")
    assert pivot.returncode == 0 and "tatoeba vs none" in pivot.stdout
    middle = {
        (r["intermediate"], r["language"]): r["value"] for r in tatoeba if r["metric"] == "accuracy" and r["layer"] == 1
    }
    cells = {row["intermediate"]: row["tatoeba"] for row in json.loads(pivot.stdout)}
    assert cells == pytest.approx({s: sum(middle[(s, lang)] for lang in LANGS) / 2 for s in ("none", "toy_nli")})

    out = tmp_path / "submission"
    assert run_sweep("export-predictions", str(tmp_path / "retrieval"), "--out", str(out)).returncode == 0
    for start in ("none", "toy_nli"):
        for lang in LANGS:
            path = out / start / "tatoeba" / f"test-{lang}.tsv"
            scored = run_sweep(
                "score",
                "tatoeba",
                "--language",
                lang,
                "--predictions",
                str(path),
                "--data-dir",
                str(mirror),
                "--format",
                "json",
            )
            assert scored.returncode == 0, scored.stderr
            expected = [
                r["value"]
                for r in tatoeba
                if (r["intermediate"], r["language"], r["metric"], r["layer"]) == (start, lang, "accuracy", 1)
            ]
            assert [json.loads(scored.stdout)["accuracy"]] == expected


@pytest.mark.slow  # 30-40 s: runs with `make test-all`, keeping `make test` within its 15 minutes on a fresh machine
def test_sweep_evaluates_release_file_tasks_after_phase_one(tmp_path: Path) -> None:
    data = tmp_path / "data"
    data.mkdir()
    for folder in (ROOT / "data" / "toy").glob("toy_nli.*"):
        (data / folder.name).symlink_to(folder)
    fx.write_bucc(data)
    fx.write_lareqa(data, get_task("lareqa").languages)
    fx.write_mewslix(data)
    done = run_sweep(
        "launch",
        str(QUICKSTART),
        f"data_dir={data}",
        "intermediate_tasks=[toy_nli]",
        "target_tasks=[bucc2018,lareqa,mewslix]",
        "languages=[de,en]",
        "intermediate.epochs=1",
        "intermediate.num_samples=1",
        "training.max_train_examples=200",
        "--name",
        "release",
        "--storage",
        str(tmp_path),
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    rows = ds.dataset(tmp_path / "release" / "results").to_table().to_pylist()
    scored = {(r["target"], r["intermediate"], r["language"], r["metric"]) for r in rows if r["split"] == "test"}
    expected = {
        ("bucc2018", s, "de", m) for s in ("none", "toy_nli") for m in ("precision", "recall", "f1", "threshold")
    }
    expected |= {
        (t, s, lang, m)
        for t in ("lareqa", "mewslix")
        for s in ("none", "toy_nli")
        for lang in ("de", "en")
        for m in ("map_at_20", "recall_at_1", "recall_at_5", "recall_at_10")
    }
    assert scored == expected
    retrieval = [r for r in rows if r["target"] in ("bucc2018", "lareqa", "mewslix")]
    assert {r["status"] for r in retrieval} == {"completed"}
    assert len({(r["search"], r["trial_id"]) for r in retrieval}) == 6, "one evaluation per encoder and task"
    assert all(0.0 <= r["value"] <= 1.0 for r in retrieval if r["split"] == "test" and r["metric"] != "threshold")

    pivot = run_sweep("query", str(tmp_path / "release"), "--pivot", "--format", "csv")
    assert pivot.returncode == 0
    assert all(f"{t} vs none" in pivot.stdout for t in ("bucc2018", "lareqa", "mewslix"))

    # Each evaluation keeps its predictions; exported, they score exactly as in the table.
    out = tmp_path / "submission"
    assert run_sweep("export-predictions", str(tmp_path / "release"), "--out", str(out)).returncode == 0
    files = {
        "bucc2018": ["test-de.tsv"],
        "lareqa": ["test-de.json", "test-en.json"],
        "mewslix": ["test-de.json", "test-en.json"],
    }
    for start in ("none", "toy_nli"):
        for target, names in files.items():
            assert sorted(p.name for p in (out / start / target).iterdir()) == names
            for name in names:
                lang = name[5:7]
                scored = run_sweep(
                    "score",
                    target,
                    "--language",
                    lang,
                    "--predictions",
                    str(out / start / target / name),
                    "--data-dir",
                    str(data),
                    "--format",
                    "json",
                )
                assert scored.returncode == 0, scored.stderr
                table = {
                    r["metric"]: r["value"]
                    for r in rows
                    if (r["target"], r["intermediate"], r["language"], r["split"]) == (target, start, lang, "test")
                }
                table.pop("threshold", None)  # the threshold is tuned on dev; the file holds what it mined
                assert json.loads(scored.stdout) == pytest.approx(table), (start, target, lang)
