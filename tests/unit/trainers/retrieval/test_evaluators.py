"""The retrieval evaluators on release-format fixtures, with embeddings chosen so every score can be
checked by hand (a lookup table stands in for the encoder)."""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pytest

from tests.unit.trainers.retrieval import fixtures as fx
from trainers.release import bucc_split, lareqa_pool
from trainers.retrieval.evaluators import EVALUATORS, embed_unique, required_splits, top_k
from trainers.tasks import get_task


def lookup(table: dict[str, np.ndarray]):
    """An ``embed`` that knows exactly the texts the evaluator should build (KeyError otherwise)."""

    def embed(texts: Sequence[str]) -> np.ndarray:
        return np.stack([table[t] for t in texts]).astype(np.float32)

    return embed


def test_bucc_mines_dev_and_test_and_tunes_the_threshold_on_dev(tmp_path: Path) -> None:
    fx.write_bucc(tmp_path)
    # Each sentence is 0.8 * its own direction + 0.6 * a shared one, so two sentences have cosine 1
    # (same direction) or s = 0.36. Translations share a direction; in test the third gold pair does not.
    table = {}
    for split, base in (("dev", 0), ("test", 4)):
        for i, (de, en) in enumerate(zip(fx.BUCC_DE[split], fx.BUCC_EN[split], strict=True)):
            table[de], table[en] = (np.eye(9)[base + i], np.eye(9)[base + (i if i < 2 else 3)])
    table = {text: 0.8 * v + 0.6 * np.eye(9)[8] for text, v in table.items()}
    results = EVALUATORS["bucc2018"].run(get_task("bucc2018"), embed=lookup(table), languages=["de"], data_dir=tmp_path)
    scores = {lang: r.scores for lang, r in results.items()}
    # k = 3 neighbours: a translated sentence's mean similarity is m = (1 + 2s) / 3, so a true pair
    # scores 1 / m = 1.7442; the two untranslated sentences of a split pair up at s / s = 1.0.
    # Dev F1 is best keeping both true pairs: threshold (1.7442 + 1.0) / 2. In test it keeps
    # two of the three gold pairs: precision 1, recall 2/3, F1 0.8.
    assert scores["de"]["threshold"] == pytest.approx((3 / 1.72 + 1.0) / 2, rel=1e-6)
    assert {k: v for k, v in scores["de"].items() if k != "threshold"} == {
        "precision": 1.0,
        "recall": pytest.approx(2 / 3),
        "f1": pytest.approx(0.8),
    }
    # The mined test pairs are the predictions: the two true pairs found (the file a submission holds).
    mined = results["de"].predictions
    assert len(mined) == 2 and mined <= fx_gold(tmp_path, "test")


def test_lareqa_ranks_the_whole_pool_and_scores_map_at_20(tmp_path: Path) -> None:
    task = dataclasses.replace(get_task("lareqa"), languages=("de", "en"))
    fx.write_lareqa(tmp_path, task.languages)
    pool = lareqa_pool(task, data_dir=tmp_path)
    ids = list(pool.candidate_ids)
    table = {text: np.eye(8)[i] for i, text in enumerate(pool.candidate_texts)}
    rankings = {  # each question's ranking of the 8 candidates, best first (the rest in pool order)
        "de which alpha is one?": ["de_1_0", "en_1_0"],  # hits at 1, 2: AP 1
        "de which alpha is two?": ["en_1_1", "de_1_0", "de_1_1"],  # 1, 3: (1 + 2/3) / 2 = 5/6
        "de which beta is two?": ["de_2_0", "de_2_1", "en_2_0", "en_1_0", "en_2_1"],  # 2, 5: (1/2 + 2/5) / 2
        "en which alpha is one?": ["de_2_1", "de_1_0", "en_1_0"],  # 2, 3: (1/2 + 2/3) / 2 = 7/12
        "en which alpha is two?": ["de_1_1", "en_1_1"],  # 1
        "en which beta is two?": ["en_2_1", "de_1_0", "de_1_1", "de_2_0", "en_1_0", "en_1_1", "en_2_0"],  # 1, 8: 5/8
    }
    for question, best in rankings.items():
        order = best + [c for c in ids if c not in best]
        vector = np.zeros(8)
        for rank, uid in enumerate(order):
            vector[ids.index(uid)] = 8 - rank
        table[question] = vector * 3.0  # scale: rows are L2-normalised, so the raw norm must not matter
    results = EVALUATORS["lareqa"].run(task, embed=lookup(table), languages=["de", "en"], data_dir=tmp_path)
    scores = {lang: r.scores for lang, r in results.items()}
    ranked = results["de"].predictions  # question id -> its 8 candidates, best first
    assert [ranked[q.id][: len(rankings[q.query])] for q in pool.questions["de"]] == [
        rankings[q.query] for q in pool.questions["de"]
    ]
    assert scores["de"]["map_at_20"] == pytest.approx((1 + 5 / 6 + 0.45) / 3)  # 137/180
    assert scores["en"]["map_at_20"] == pytest.approx((7 / 12 + 1 + 5 / 8) / 3)  # 53/72
    # Recall@k: an answer among the first k. de's first hits are at 1, 1, 2; en's at 2, 1, 1.
    for lang in ("de", "en"):
        assert [scores[lang][f"recall_at_{k}"] for k in (1, 5, 10)] == pytest.approx([2 / 3, 1.0, 1.0])


def test_mewslix_ranks_entities_by_cosine_and_scores_mrr(tmp_path: Path) -> None:
    fx.write_mewslix(tmp_path)
    entities = ["Berlin ist die Hauptstadt. Sie ist groß.", "The Spree is a river."]
    entities += ["Paris est la capitale de la France.", "Germany is a country. It is in Europe."]
    table = {text: np.eye(4)[i] for i, text in enumerate(entities)}  # Q64, Q1684, Q90, Q183
    table["Berlin: { Berlin } ist groß."] = np.array([4, 3, 2, 1])  # gold Q64 first: 1
    table["Spree: Die Stadt (alt) liegt an der { Spree } ."] = np.array([1, 3, 2, 4])  # Q1684 second: 1/2
    table["Spree: Die { Spree } fließt."] = np.array([2, 1, 4, 3])  # Q1684 fourth: 1/4
    table["Paris: { Paris } is in France."] = np.array([0, 0, 5, 0.1])  # gold Q90 first: 1
    results = EVALUATORS["mewslix"].run(
        get_task("mewslix"), embed=lookup(table), languages=["de", "en"], data_dir=tmp_path
    )
    scores = {lang: r.scores for lang, r in results.items()}
    assert scores == {  # de's gold entities rank 1, 2 and 4; en's 1
        "de": {
            "map_at_20": pytest.approx(7 / 12),
            "recall_at_1": pytest.approx(1 / 3),
            "recall_at_5": 1.0,
            "recall_at_10": 1.0,
        },
        "en": {"map_at_20": 1.0, "recall_at_1": 1.0, "recall_at_5": 1.0, "recall_at_10": 1.0},
    }
    assert [ranked[:2] for ranked in results["de"].predictions.values()] == [
        ["Q64", "Q1684"],
        ["Q183", "Q1684"],
        ["Q90", "Q183"],
    ]


def fx_gold(folder: Path, role: str) -> set[tuple[str, str]]:
    return set(bucc_split(get_task("bucc2018"), language="de", role=role, data_dir=folder).gold)


def test_top_k_best_first_ties_to_the_lower_index() -> None:
    base = np.array([[0.5, 0.0], [1.0, 0.0], [0.5, 0.0], [0.0, 1.0]])
    assert top_k(np.array([[1.0, 0.0], [0.0, 1.0]]), base, k=3).tolist() == [[1, 0, 2], [3, 0, 1]]
    assert top_k(np.array([[1.0, 0.0]]), base, k=20).tolist() == [[1, 0, 2, 3]]


def test_embed_unique_embeds_each_text_once() -> None:
    seen: list[str] = []

    def embed(texts: Sequence[str]) -> np.ndarray:
        seen.extend(texts)
        return np.array([[len(t)] for t in texts], dtype=np.float32)

    assert embed_unique(embed, ["ab", "c", "ab"]).tolist() == [[2.0], [1.0], [2.0]] and seen == ["ab", "c"]


def test_required_splits_cover_the_pool_and_shared_files() -> None:
    assert required_splits(get_task("bucc2018"), ["de"]) == [("de", "dev"), ("de", "test")]
    assert required_splits(get_task("lareqa"), ["de"]) == [(lang, "test") for lang in get_task("lareqa").languages]
    assert required_splits(get_task("mewslix"), ["de", "en"]) == [("de", "test")]  # one file set for all
    assert set(EVALUATORS) == {"tatoeba", "bucc2018", "lareqa", "mewslix"}


@pytest.mark.gpu
def test_sentence_embeddings_on_gpu_match_cpu() -> None:
    from trainers.model import build_model, load_tokenizer
    from trainers.retrieval.embed import sentence_embeddings
    from trainers.spec import ModelSpec

    spec = ModelSpec(tokenizer=str(Path(__file__).resolve().parents[4] / "data" / "toy" / "tokenizer.json"))
    tokenizer = load_tokenizer(spec)
    encoder = build_model(spec, num_labels=2, vocab_size=len(tokenizer), dropout=0.0).base_model
    texts = ["the 3 apples", "7", "the 12 houses are here"]
    args = {"layer": 1, "pooling": "mean", "batch_size": 2, "max_length": 16}
    cpu = sentence_embeddings(encoder, tokenizer, texts, **args)
    gpu = sentence_embeddings(encoder.to("cuda"), tokenizer, texts, **args)
    np.testing.assert_allclose(gpu, cpu, rtol=1e-3, atol=1e-4)
