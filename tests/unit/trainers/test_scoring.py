"""The scoring layer against hand-checked values and against the benchmarks' own evaluation code.

The official evaluation scripts are not part of this project. The tests that compare against them load
them at run time from ``../shared/oracles/`` beside the project root (see the README there; the
``XSTILTS_ORACLES`` environment variable names another folder) and skip when that folder is absent, as it
is in a fresh clone; the hand-checked tests run either way. From each script only the definitions a test
needs are taken (``tests.oracles.load_official``), each loader below names them, so a script's module-level imports of
packages those definitions never use (transformers, torch, seqeval, ...) are not run. Where the taken code
calls faiss, a small exact numpy stand-in (``_FakeFaiss``) is injected in its place; everything else runs
as written.
"""

from __future__ import annotations

import contextlib
import functools
import gc
import io
import json
import random
import warnings
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import numpy as np
import pytest

from tests.oracles import load_official
from trainers.scoring import SCORERS
from trainers.scoring.bucc import (
    bucc_candidate_scores,
    bucc_extract,
    bucc_mine,
    bucc_optimize_threshold,
    bucc_pair_scores,
    bucc_scores,
)
from trainers.scoring.classification import accuracy_scores, multiple_choice_accuracy_scores
from trainers.scoring.qa import mlqa_normalize, mlqa_scores, squad_normalize, squad_v1_scores, squad_v2_scores
from trainers.scoring.retrieval import (
    average_precision_at_k,
    lareqa_scores,
    map_at_k_scores,
    mewslix_scores,
    recall_at_k_scores,
    tatoeba_scores,
)
from trainers.scoring.tagging import seqeval_entities, seqeval_scores

# --------------------------------------------------------------------------------------- oracles


class _FakeFaiss:
    """Exact numpy stand-in for the faiss calls utils_retrieve.py makes (flat indexes; ties go to the lower index)."""

    @staticmethod
    def normalize_L2(x: np.ndarray) -> None:  # noqa: N802 - faiss's name
        norms = np.sqrt((x * x).sum(axis=1, keepdims=True))
        np.divide(x, norms, out=x, where=norms > 0)

    class _Flat:
        def __init__(self, dim: int) -> None:
            self.base = np.zeros((0, dim), dtype=np.float32)

        def add(self, rows: np.ndarray) -> None:
            self.base = np.vstack([self.base, rows]).astype(np.float32)

    class IndexFlatIP(_Flat):
        def search(self, queries: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
            sims = queries @ self.base.T
            order = np.argsort(-sims, axis=1, kind="stable")[:, :k]
            return np.take_along_axis(sims, order, axis=1), order

    class IndexFlatL2(_Flat):
        def search(self, queries: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
            dist = ((queries[:, None, :] - self.base[None, :, :]) ** 2).sum(axis=2)
            order = np.argsort(dist, axis=1, kind="stable")[:, :k]
            return np.take_along_axis(dist, order, axis=1), order


# Each loader below runs once, on first use, and names what it takes from which script (plus the
# helpers, constants and imports those refer to, which _load_official takes with them).


@functools.cache
def official_squad_v1() -> dict[str, Any]:
    """xtreme/third_party/evaluate_squad.py (SQuAD v1.1's evaluate-v1.1.py): evaluate, normalize_answer.

    With them come f1_score, exact_match_score and metric_max_over_ground_truths.
    """
    return load_official("xtreme/third_party/evaluate_squad.py", "evaluate", "normalize_answer")


@functools.cache
def official_squad_v2() -> dict[str, Any]:
    """squad-v2/evaluate-v2.0.py: the functions its main() calls without an na_prob file.

    make_qid_to_has_ans, get_raw_scores (with normalize_answer, get_tokens, compute_exact, compute_f1),
    apply_no_ans_threshold, make_eval_dict, merge_eval.
    """
    return load_official(
        "squad-v2/evaluate-v2.0.py",
        "make_qid_to_has_ans",
        "get_raw_scores",
        "apply_no_ans_threshold",
        "make_eval_dict",
        "merge_eval",
    )


@functools.cache
def official_mlqa() -> dict[str, Any]:
    """mlqa/mlqa_evaluation_v1.py (xtreme's third_party/evaluate_mlqa.py is the same): evaluate, normalize_answer.

    With them come PUNCT, WHITESPACE_LANGS, MIXED_SEGMENTATION_LANGS, whitespace_tokenize,
    mixed_segmentation, f1_score, exact_match_score and metric_max_over_ground_truths.
    """
    return load_official("mlqa/mlqa_evaluation_v1.py", "evaluate", "normalize_answer")


@functools.cache
def official_seqeval() -> dict[str, Any]:
    """seqeval-0.0.12/seqeval/metrics/sequence_labeling.py: get_entities and the three scores XTREME calls.

    With them come end_of_chunk and start_of_chunk; the seqeval package itself is never imported.
    """
    return load_official(
        "seqeval-0.0.12/seqeval/metrics/sequence_labeling.py",
        "get_entities",
        "precision_score",
        "recall_score",
        "f1_score",
    )


@functools.cache
def official_evaluate_py() -> dict[str, Any]:
    """xtreme/evaluate.py: accuracy, bucc_f1."""
    return load_official("xtreme/evaluate.py", "accuracy", "bucc_f1")


@functools.cache
def official_run_xcopa() -> dict[str, Any]:
    """xtreme/third_party/run_xcopa.py: compute_metrics, defined inside main() (only numpy is imported)."""
    return load_official("xtreme/third_party/run_xcopa.py", "compute_metrics")


@functools.cache
def official_utils_retrieve() -> dict[str, Any]:
    """xtreme/third_party/utils_retrieve.py: mine_bitext, read_candidate2score, bucc_eval, similarity_search.

    With them come the helpers they call (knn, knnCPU, score, score_candidates, text_load_unify,
    unique_embeddings, read_sent2id, bucc_optimize, bucc_extract; knnGPU and shift_embeddings too,
    never called here) and numpy; faiss is _FakeFaiss.
    """
    return load_official(
        "xtreme/third_party/utils_retrieve.py",
        "mine_bitext",
        "read_candidate2score",
        "bucc_eval",
        "similarity_search",
        faiss=_FakeFaiss,
    )


@functools.cache
def official_utils_lareqa() -> dict[str, Any]:
    """xtreme/third_party/utils_lareqa.py: mean_avg_prec_at_k and the average_precision_at_k it calls.

    evaluate_retrieval.py calls it with k=20.
    """
    return load_official("xtreme/third_party/utils_lareqa.py", "mean_avg_prec_at_k")


@functools.cache
def official_utils_mewslix() -> dict[str, Any]:
    """xtreme/third_party/utils_mewslix.py: evaluate (with TOP_K = 20 and mean_reciprocal_rank)."""
    return load_official("xtreme/third_party/utils_mewslix.py", "evaluate")


def _squad_dataset(gold_answers: list[list[str]]) -> list[dict[str, Any]]:
    """SQuAD-format data with question ids q0, q1, ... in one paragraph."""
    qas = [{"id": f"q{i}", "answers": [{"text": t} for t in golds]} for i, golds in enumerate(gold_answers)]
    return [{"paragraphs": [{"qas": qas}]}]


def _quiet(fn: Any, *args: Any, **kwargs: Any) -> Any:
    """Call an official function with its progress prints swallowed.

    Some of them (``text_load_unify``, ``bucc_eval``) open files they never close; those are
    collected here, with their ResourceWarning silenced, rather than at some later test.
    """
    with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ResourceWarning)
            result = fn(*args, **kwargs)
            gc.collect()
    return result


# ------------------------------------------------------------------------------ registry, accuracy


def test_every_task_maps_to_a_registered_scorer() -> None:
    from trainers.tasks import TASKS

    assert {task.scorer for task in TASKS.values()} <= set(SCORERS)
    assert {"xnli", "pawsx", "xcopa", "panx", "udpos", "xquad", "mlqa", "tydiqa", "bucc2018", "tatoeba"} <= set(TASKS)
    assert {"lareqa", "mewslix"} <= set(TASKS)


def test_accuracy_by_hand_and_against_evaluate_py() -> None:
    preds, labels = (
        ["entailment", "neutral", "neutral", "contradiction"],
        ["entailment", "neutral", "entailment", "neutral"],
    )
    assert accuracy_scores(preds, labels) == {"accuracy": 0.5}
    official = official_evaluate_py()["accuracy"](labels, preds)
    assert accuracy_scores(preds, labels)["accuracy"] * 100 == pytest.approx(official["accuracy"], rel=1e-12)


def test_multiple_choice_accuracy_keeps_run_xcopa_float32_mean() -> None:
    labels = np.array([1] * 500)
    logits = np.array([[0.0, 1.0]] * 339 + [[1.0, 0.0]] * 161)
    ours = multiple_choice_accuracy_scores(logits.argmax(axis=1), labels)["accuracy"]
    assert ours == pytest.approx(0.678, abs=1e-7)
    assert ours != 339 / 500  # float32, as the script reports it
    official = official_run_xcopa()["compute_metrics"]((logits, labels))["accuracy"]
    assert ours == official


def test_accuracy_rejects_wrong_length_and_shape() -> None:
    with pytest.raises(ValueError, match="expected 3 predictions .* got 2"):
        accuracy_scores([1, 2], [1, 2, 3])
    with pytest.raises(ValueError, match="1-D"):
        accuracy_scores(np.zeros((2, 3)), [0, 1])
    with pytest.raises(ValueError, match="at least one"):
        accuracy_scores([], [])


# -------------------------------------------------------------------------------------- SQuAD v1.1


def test_squad_normalization_punctuation_and_articles() -> None:
    assert squad_normalize("The Cat, a dog & AN apple!") == "cat dog apple"
    assert squad_normalize("theater") == "theater"  # \b: articles only as whole words
    assert squad_normalize("the-end") == "theend"  # punctuation goes first, so no article is left
    assert squad_normalize("«Paris»") == "«paris»"  # SQuAD strips ASCII punctuation only


def test_squad_v1_match_only_after_normalization() -> None:
    assert squad_v1_scores(["The Eiffel Tower."], [["eiffel tower"]]) == {
        "exact_match": 1.0,
        "f1": 1.0,
        "em_f1_avg": 1.0,
    }


def test_squad_v1_takes_max_over_gold_answers() -> None:
    # vs "Obama": P 1/2, R 1 -> 2/3; vs "President Barack Obama": P 1, R 2/3 -> 0.8
    scores = squad_v1_scores(["Barack Obama"], [["Obama", "President Barack Obama"]])
    assert scores["exact_match"] == 0.0
    assert scores["f1"] == pytest.approx(0.8)
    assert scores["em_f1_avg"] == pytest.approx(0.4)


def test_squad_v1_both_empty_after_normalization_is_em_1_f1_0() -> None:
    assert squad_v1_scores(["the"], [["a"]]) == {"exact_match": 1.0, "f1": 0.0, "em_f1_avg": 0.5}


def test_squad_v1_unanswered_scores_zero_and_averages_over_all() -> None:
    scores = squad_v1_scores(["Paris", None, "Rome"], [["Paris"], ["Berlin"], ["Milan"]])
    assert scores["exact_match"] == pytest.approx(1 / 3)
    assert scores["f1"] == pytest.approx(1 / 3)


def test_squad_v1_against_official_evaluate() -> None:
    golds = [
        ["Denver Broncos", "The Denver Broncos"],
        ["Santa Clara, California"],
        ["1,000"],
        ["the"],
        ["a red car"],
        ["x"],
    ]
    preds = ["denver broncos!", "Santa Clara", "1000", "an", "the car red", None]
    official = _quiet(
        official_squad_v1()["evaluate"],
        _squad_dataset(golds),
        {f"q{i}": p for i, p in enumerate(preds) if p is not None},
    )
    ours = squad_v1_scores(preds, golds)
    assert ours["exact_match"] * 100 == pytest.approx(official["exact_match"], rel=1e-12)
    assert ours["f1"] * 100 == pytest.approx(official["f1"], rel=1e-12)
    for text in ["The  Eiffel-Tower!", "a an the", "¿Qué?", "A. B. C."]:
        assert squad_normalize(text) == official_squad_v1()["normalize_answer"](text)


def test_squad_v1_rejects_bad_input() -> None:
    with pytest.raises(ValueError, match="expected 2 predictions .* got 1"):
        squad_v1_scores(["x"], [["x"], ["y"]])
    with pytest.raises(ValueError, match="at least one gold answer"):
        squad_v1_scores(["x"], [[]])
    with pytest.raises(ValueError, match="list of answer strings"):
        squad_v1_scores(["x"], ["x"])


# -------------------------------------------------------------------------------------- SQuAD v2.0


def test_squad_v2_empty_gold_and_empty_prediction() -> None:
    assert squad_v2_scores([""], [[]])["exact_match"] == 1.0
    assert squad_v2_scores([""], [[]])["f1"] == 1.0
    for pred, golds in [("", ["Paris"]), ("Paris", [])]:
        scores = squad_v2_scores([pred], [golds])
        assert (scores["exact_match"], scores["f1"]) == (0.0, 0.0)


def test_squad_v2_gold_that_normalizes_empty_means_no_answer_but_counts_as_has_ans() -> None:
    scores = squad_v2_scores([""], [["the"]])
    assert (scores["exact_match"], scores["f1"], scores["has_ans_total"]) == (1.0, 1.0, 1.0)
    assert "no_ans_total" not in scores
    # ... but only when no real answer is left: beside "Paris" the "the" gold is dropped.
    scores = squad_v2_scores([""], [["the", "Paris"]])
    assert (scores["exact_match"], scores["f1"]) == (0.0, 0.0)


def test_squad_v2_has_ans_no_ans_breakdown() -> None:
    scores = squad_v2_scores(["Paris", "Milan", "", "x"], [["Paris"], ["Rome"], [], []])
    assert scores == {
        "exact_match": 0.5,
        "f1": 0.5,
        "total": 4.0,
        "em_f1_avg": 0.5,
        "has_ans_exact_match": 0.5,
        "has_ans_f1": 0.5,
        "has_ans_total": 2.0,
        "no_ans_exact_match": 0.5,
        "no_ans_f1": 0.5,
        "no_ans_total": 2.0,
    }


def test_squad_v2_against_official_script() -> None:
    golds = [["Paris"], [], ["the"], ["big red dog", "red dog"], [], ["1,000 men"], ["New York City"], ["an", "Rome"]]
    preds = ["paris.", "", "", "a red dog", "something", "1000 men", "York", ""]
    dataset = _squad_dataset(golds)
    pred_map = {f"q{i}": p for i, p in enumerate(preds)}
    # main() with no na_prob file: na_probs all 0.0, --na-prob-thresh 1.0.
    na_probs = {k: 0.0 for k in pred_map}
    v2 = official_squad_v2()
    has_ans = v2["make_qid_to_has_ans"](dataset)
    exact_raw, f1_raw = v2["get_raw_scores"](dataset, pred_map)
    exact = v2["apply_no_ans_threshold"](exact_raw, na_probs, has_ans, 1.0)
    f1 = v2["apply_no_ans_threshold"](f1_raw, na_probs, has_ans, 1.0)
    official = v2["make_eval_dict"](exact, f1)
    v2["merge_eval"](official, v2["make_eval_dict"](exact, f1, qid_list=[k for k, v in has_ans.items() if v]), "HasAns")
    v2["merge_eval"](
        official, v2["make_eval_dict"](exact, f1, qid_list=[k for k, v in has_ans.items() if not v]), "NoAns"
    )
    ours = squad_v2_scores(preds, golds)
    names = {"exact": "exact_match", "f1": "f1", "total": "total"}
    for prefix, ours_prefix in [("", ""), ("HasAns_", "has_ans_"), ("NoAns_", "no_ans_")]:
        for key, our_key in names.items():
            scale = 1 if key == "total" else 100
            assert ours[ours_prefix + our_key] * scale == pytest.approx(official[prefix + key], rel=1e-12)


# ------------------------------------------------------------------------------------------- MLQA


def test_mlqa_chinese_mixed_segmentation_is_character_level() -> None:
    assert mlqa_normalize("北京大学。", "zh") == "北 京 大 学"
    assert mlqa_normalize("我爱NLP模型", "zh") == "我 爱 nlp 模 型"
    scores = mlqa_scores(["北京大学"], [["北京"]], lang="zh")  # P 2/4, R 2/2
    assert (scores["exact_match"], scores["f1"]) == (0.0, pytest.approx(2 / 3))
    # Latin runs stay whitespace tokens: {nlp, 模, 型} vs {我, 爱, nlp} share one token.
    assert mlqa_scores(["NLP模型"], [["我爱NLP"]], lang="zh")["f1"] == pytest.approx(1 / 3)


def test_mlqa_german_spanish_vietnamese_articles() -> None:
    assert mlqa_normalize("Der Hund", "de") == "hund"
    assert mlqa_normalize("einem Haus", "de") == "haus"
    assert mlqa_normalize("Los perros", "es") == "perros"
    assert mlqa_normalize("El Niño", "es") == "niño"
    assert mlqa_normalize("của tôi", "vi") == "tôi"
    assert mlqa_scores(["die Katze"], [["Katze"]], lang="de")["exact_match"] == 1.0
    assert mlqa_scores(["die Katze"], [["Katze"]], lang="en")["exact_match"] == 0.0  # articles are per language
    assert mlqa_normalize("the book", "hi") == "the book"  # no article list for Hindi


def test_mlqa_arabic_al_is_removed_even_inside_words() -> None:
    assert mlqa_normalize("الكتاب", "ar") == "كتاب"
    assert mlqa_scores(["كتاب"], [["الكتاب"]], lang="ar")["exact_match"] == 1.0
    assert mlqa_normalize("مال", "ar") == "م"  # the script's pattern also cuts a word-final ال


def test_mlqa_strips_unicode_punctuation() -> None:
    assert mlqa_normalize("«Paris»", "en") == "paris"
    assert mlqa_normalize("¿Dónde?", "es") == "dónde"


def test_mlqa_rejects_unknown_language() -> None:
    with pytest.raises(ValueError, match="expected one of en, es, hi, vi, de, ar, zh, got 'fr'"):
        mlqa_scores(["x"], [["x"]], lang="fr")


def test_mlqa_against_official_script_in_every_language() -> None:
    cases = {
        "en": (["The Eiffel Tower", "a cat", "«Paris»", None], [["Eiffel Tower"], ["the dog"], ["Paris"], ["x"]]),
        "es": (["los perros grandes", "El Niño", "¿Qué?"], [["perros grandes"], ["niño", "la niña"], ["qué"]]),
        "de": (["der große Hund", "Eines Tages", "Berlin"], [["großen Hund"], ["tages"], ["in Berlin"]]),
        "vi": (["những con mèo", "của tôi"], [["con mèo"], ["tôi"]]),
        "ar": (["الكتاب الكبير", "مال", "محمد"], [["كتاب كبير"], ["م"], ["أحمد"]]),
        "hi": (["भारत की राजधानी", "दिल्ली।"], [["राजधानी"], ["दिल्ली"]]),
        "zh": (["北京大学", "我爱NLP模型", "“上海”", "2008年北京"], [["北京"], ["我爱NLP"], ["上海"], ["2008年"]]),
    }
    for lang, (preds, golds) in cases.items():
        pred_map = {f"q{i}": p for i, p in enumerate(preds) if p is not None}
        official = _quiet(official_mlqa()["evaluate"], _squad_dataset(golds), pred_map, lang)
        ours = mlqa_scores(preds, golds, lang=lang)
        assert ours["exact_match"] * 100 == pytest.approx(official["exact_match"], rel=1e-12), lang
        assert ours["f1"] * 100 == pytest.approx(official["f1"], rel=1e-12), lang
        for text in [p for p in preds if p] + [g for gs in golds for g in gs]:
            assert mlqa_normalize(text, lang) == official_mlqa()["normalize_answer"](text, lang), (lang, text)


# ---------------------------------------------------------------------------------------- seqeval


def test_seqeval_partial_span_is_a_miss() -> None:
    assert seqeval_scores([["B-PER", "O", "O"]], [["B-PER", "I-PER", "O"]]) == {
        "precision": 0.0,
        "recall": 0.0,
        "f1": 0.0,
    }
    scores = seqeval_scores([["B-PER", "I-PER", "O", "B-LOC"]], [["B-PER", "I-PER", "O", "B-ORG"]])
    assert scores == {"precision": 0.5, "recall": 0.5, "f1": 0.5}


def test_seqeval_i_tag_without_b_starts_a_span() -> None:
    assert seqeval_entities([["O", "I-PER", "I-PER", "I-LOC"]]) == [("PER", 1, 2), ("LOC", 3, 3)]
    assert seqeval_scores([["I-LOC", "I-LOC"]], [["B-LOC", "I-LOC"]])["f1"] == 1.0


def test_seqeval_spans_do_not_cross_sentences() -> None:
    assert seqeval_entities([["I-PER"], ["I-PER"]]) == [("PER", 0, 0), ("PER", 2, 2)]
    assert seqeval_entities([["NOUN"], ["NOUN"]]) == [("NOUN", 0, 0), ("NOUN", 2, 2)]


def test_pos_tags_runs_of_one_tag_are_one_entity() -> None:
    assert seqeval_entities([["NOUN", "NOUN", "VERB", "DET", "NOUN"]]) == [
        ("NOUN", 0, 1),
        ("VERB", 2, 2),
        ("DET", 3, 3),
        ("NOUN", 4, 4),
    ]
    # 2 of 3 tokens right, yet no run matches: POS "F1" is not token accuracy.
    assert seqeval_scores([["NOUN", "VERB", "VERB"]], [["NOUN", "NOUN", "VERB"]])["f1"] == 0.0


def test_pos_tags_starting_with_s_are_single_token_entities() -> None:
    assert seqeval_entities([["SYM", "SYM", "SCONJ"]]) == [("SYM", 0, 0), ("SYM", 1, 1), ("SCONJ", 2, 2)]
    assert seqeval_scores([["SYM", "PUNCT"]], [["SYM", "SYM"]]) == {"precision": 0.5, "recall": 0.5, "f1": 0.5}


def test_pos_cconj_sconj_scored_as_seqeval_0_0_12_not_1_x() -> None:
    # seqeval >= 1.0 reads both as type "CONJ" and would give 0.4 here.
    scores = seqeval_scores([["CCONJ", "ADP", "NOUN"]], [["CCONJ", "SCONJ", "NOUN"]])
    assert scores["f1"] == pytest.approx(2 / 3)


def test_seqeval_against_0_0_12_on_random_ner_and_pos() -> None:
    ud = "ADJ ADP ADV AUX CCONJ DET INTJ NOUN NUM PART PRON PROPN PUNCT SCONJ SYM VERB X".split()
    ner = "O B-PER I-PER B-LOC I-LOC B-ORG I-ORG".split()
    seqeval = official_seqeval()
    rng = random.Random(7)
    for trial in range(400):
        tags = ud if trial % 2 else ner
        gold = [[rng.choice(tags) for _ in range(rng.randint(0, 9))] for _ in range(rng.randint(1, 4))]
        pred = [[rng.choice(tags) if rng.random() < 0.4 else g for g in sentence] for sentence in gold]
        ours = seqeval_scores(pred, gold)
        assert ours["precision"] == seqeval["precision_score"](gold, pred)
        assert ours["recall"] == seqeval["recall_score"](gold, pred)
        assert ours["f1"] == seqeval["f1_score"](gold, pred)
        assert seqeval_entities(gold) == seqeval["get_entities"](gold)


def test_seqeval_rejects_wrong_shapes() -> None:
    with pytest.raises(ValueError, match="expected 2 predicted sentences .* got 1"):
        seqeval_scores([["O"]], [["O"], ["O"]])
    with pytest.raises(ValueError, match=r"predictions\[0\]: expected 3 tags .* got 2"):
        seqeval_scores([["O", "O"]], [["O", "O", "O"]])
    with pytest.raises(ValueError, match="list of tags"):
        seqeval_scores(["B-PER", "O"], [["B-PER", "O"]])


# -------------------------------------------------------------------------------------- Tatoeba


def test_tatoeba_accuracy_on_a_tiny_matrix() -> None:
    src = np.eye(3)
    # tgt 0 -> src 0 (right); tgt 1 -> src 2 (cos .89 over .45; wrong); tgt 2 -> src 2 (right)
    tgt = np.array([[1, 0.1, 0], [0, 0.5, 1], [0, 0.9, 1]])
    assert tatoeba_scores(src, tgt) == {"accuracy": pytest.approx(2 / 3)}
    assert recall_at_k_scores(src, tgt, k=2) == {"recall_at_2": 1.0}
    assert tatoeba_scores(src * 5, tgt * 0.1) == tatoeba_scores(src, tgt)  # cosine: scale-free


def test_tatoeba_against_similarity_search() -> None:
    rng = np.random.default_rng(3)
    src = rng.normal(size=(40, 12)).astype(np.float32)
    tgt = (src + rng.normal(scale=1.2, size=src.shape)).astype(np.float32)
    prediction = official_utils_retrieve()["similarity_search"](src.copy(), tgt.copy(), 12, normalize=True)
    labels = [str(i) for i in range(40)]
    official = official_evaluate_py()["accuracy"](labels, [str(p[0]) for p in prediction])["accuracy"]
    assert 0 < official < 100
    assert tatoeba_scores(src, tgt)["accuracy"] * 100 == pytest.approx(official, rel=1e-12)


def test_tatoeba_rejects_mismatched_shapes() -> None:
    with pytest.raises(ValueError, match=r"expected tgt_embeddings of shape \(3, 3\).* got \(2, 3\)"):
        tatoeba_scores(np.eye(3), np.eye(3)[:2])
    with pytest.raises(ValueError, match="2-D"):
        tatoeba_scores(np.ones(3), np.ones(3))


# ----------------------------------------------------------------------------------------- BUCC


def _hand_bucc() -> tuple[np.ndarray, np.ndarray]:
    src = np.array([[1, 0, 0], [0, 1, 0], [0, 0, 1]], dtype=np.float32)
    trg = np.array([[1, 0, 0], [0, 1, 0], [0.6, 0, 0.8]], dtype=np.float32)
    return src, trg


def test_bucc_margin_mining_by_hand() -> None:
    # cos: x0.y0=1, x0.y2=.6, x1.y1=1, x2.y2=.8, else 0. With k=2 the k-NN means are
    # fwd x0 (1+.6)/2=.8, x1 .5, x2 .4; bwd y0 .5, y1 .5, y2 (.8+.6)/2=.7.
    # ratio margin x.y / ((fwd + bwd) / 2): (x1,y1) 1/.5=2; (x0,y0) 1/.65; (x2,y2) .8/.55;
    # (x0,y2) .6/.75=.8 loses to both (x0,y0) and (x2,y2); zero-cosine neighbours score 0.
    mined = bucc_mine(*_hand_bucc(), neighborhood=2)
    assert [(s, t) for s, t, _ in mined] == [(1, 1), (0, 0), (2, 2)]
    assert [score for _, _, score in mined] == pytest.approx([2.0, 1 / 0.65, 0.8 / 0.55], rel=1e-6)


def test_bucc_threshold_from_dev_applied_to_test_by_hand() -> None:
    src, trg = _hand_bucc()
    cands = bucc_candidate_scores(
        src_ids=["s0", "s1", "s2"],
        src_texts=["a", "b", "c"],
        src_embeddings=src,
        trg_ids=["t0", "t1", "t2"],
        trg_texts=["A", "B", "C"],
        trg_embeddings=trg,
        neighborhood=2,
    )
    assert list(cands) == [("s1", "t1"), ("s0", "t0"), ("s2", "t2")]
    # dev gold {s1-t1, s0-t0}: F1 .667 after the 1st pair, 1.0 after the 2nd, .8 after the 3rd,
    # so the threshold is the midpoint of the 2nd and 3rd scores.
    dev_gold = {("s1", "t1"), ("s0", "t0")}
    threshold = bucc_optimize_threshold(cands, dev_gold)
    assert threshold == pytest.approx((1 / 0.65 + 0.8 / 0.55) / 2, rel=1e-6)
    # test gold {s0-t0, s2-t2}: the 2 pairs above the threshold (s1-t1, s0-t0) hold 1 of them.
    scores = bucc_scores(
        dev_candidates=cands, dev_gold=dev_gold, test_candidates=cands, test_gold={("s0", "t0"), ("s2", "t2")}
    )
    assert scores == {"precision": 0.5, "recall": 0.5, "f1": 0.5, "threshold": threshold}


def test_bucc_threshold_ties_and_last_candidate() -> None:
    # Best F1 at the 2nd candidate, whose score ties the 3rd: the midpoint is that score, so the
    # extraction (score >= threshold) also takes the 3rd, exactly as bucc_optimize + bucc_extract do.
    cands = {("a", "x"): 3.0, ("b", "y"): 2.0, ("c", "z"): 2.0}
    gold = {("a", "x"), ("b", "y")}
    assert bucc_optimize_threshold(cands, gold) == 2.0
    assert bucc_extract(cands, 2.0) == set(cands)
    assert bucc_pair_scores(bucc_extract(cands, 2.0), gold) == {
        "precision": pytest.approx(2 / 3),
        "recall": 1.0,
        "f1": 0.8,
    }
    # Best F1 at the last candidate: the script would raise IndexError; the last score keeps them all.
    assert bucc_optimize_threshold({("a", "x"): 2.0, ("b", "y"): 1.0}, gold) == 1.0
    # No gold candidate at all: threshold stays 0.
    assert bucc_optimize_threshold({("a", "y"): 2.0}, gold) == 0.0


def _write_bucc_split(tmp: Path, name: str, ids: list[str], texts: list[str]) -> tuple[str, str]:
    (tmp / f"{name}.txt").write_text("".join(t + "\n" for t in texts), encoding="utf-8")
    (tmp / f"{name}.id").write_text("".join(i + "\n" for i in ids), encoding="utf-8")
    return str(tmp / f"{name}.txt"), str(tmp / f"{name}.id")


def _random_bucc_split(rng: np.random.Generator, *, n_src: int, n_trg: int, n_pairs: int, tag: str) -> dict[str, Any]:
    src = rng.normal(size=(n_src, 16)).astype(np.float32)
    trg = rng.normal(size=(n_trg, 16)).astype(np.float32)
    trg[:n_pairs] = src[:n_pairs] + rng.normal(scale=0.7, size=(n_pairs, 16))
    src_texts = [f"{tag} source sentence {i}" for i in range(n_src)]
    trg_texts = [f"{tag} target sentence {i}" for i in range(n_trg)]
    src_texts[7], src[7] = src_texts[3], src[3]  # a repeated sentence: unified, then dropped from sent2id
    trg_texts[9] = trg_texts[9] + "  "  # trailing spaces: stripped when read back
    trg_texts[11] = trg_texts[10] + " "  # unique when mined, the same text (so dropped) once stripped
    return {
        "src": src,
        "trg": trg,
        "src_texts": src_texts,
        "trg_texts": trg_texts,
        "src_ids": [f"{tag}-src-{i:03d}" for i in range(n_src)],
        "trg_ids": [f"{tag}-trg-{i:03d}" for i in range(n_trg)],
        "gold": {(f"{tag}-src-{i:03d}", f"{tag}-trg-{i:03d}") for i in range(n_pairs) if i not in (3, 7, 10, 11)},
    }


def _official_candidates(tmp: Path, split: dict[str, Any], tag: str) -> tuple[str, tuple[str, ...]]:
    src_txt, src_id = _write_bucc_split(tmp, f"{tag}.src", split["src_ids"], split["src_texts"])
    trg_txt, trg_id = _write_bucc_split(tmp, f"{tag}.trg", split["trg_ids"], split["trg_texts"])
    cand_file = str(tmp / f"{tag}.candidates.tsv")
    _quiet(
        official_utils_retrieve()["mine_bitext"], split["src"].copy(), split["trg"].copy(), src_txt, trg_txt, cand_file
    )
    return cand_file, (src_txt, trg_txt, src_id, trg_id)


def test_bucc_against_utils_retrieve_and_evaluate_py(tmp_path: Path) -> None:
    rng = np.random.default_rng(11)
    dev = _random_bucc_split(rng, n_src=30, n_trg=34, n_pairs=20, tag="dev")
    test = _random_bucc_split(rng, n_src=28, n_trg=31, n_pairs=18, tag="test")
    ours = {}
    for name, split in [("dev", dev), ("test", test)]:
        ours[name] = bucc_candidate_scores(
            src_ids=split["src_ids"],
            src_texts=split["src_texts"],
            src_embeddings=split["src"],
            trg_ids=split["trg_ids"],
            trg_texts=split["trg_texts"],
            trg_embeddings=split["trg"],
        )
        cand_file, files = _official_candidates(tmp_path, split, name)
        official = _quiet(official_utils_retrieve()["read_candidate2score"], cand_file, *files)
        assert len(official) > 10
        assert list(ours[name]) == list(official)  # same pairs, same (mined) order
        assert list(ours[name].values()) == pytest.approx(list(official.values()), rel=1e-6)

    # dev: bucc_eval optimises the threshold on the gold file and reports P/R/F1 there.
    gold_file = tmp_path / "dev.gold"
    gold_file.write_text("".join(f"{s}\t{t}\n" for s, t in sorted(dev["gold"])))
    dev_cand_file, dev_files = _official_candidates(tmp_path, dev, "dev")
    official_dev = _quiet(official_utils_retrieve()["bucc_eval"], dev_cand_file, str(gold_file), *dev_files, None)
    threshold = bucc_optimize_threshold(ours["dev"], dev["gold"])
    assert threshold == pytest.approx(official_dev["best-threshold"], rel=1e-6)
    dev_scores = bucc_pair_scores(bucc_extract(ours["dev"], threshold), dev["gold"])
    assert 0 < official_dev["F1"] < 100
    assert dev_scores["f1"] * 100 == pytest.approx(official_dev["F1"], rel=1e-9)
    assert dev_scores["precision"] * 100 == pytest.approx(official_dev["precision"], rel=1e-9)

    # test: the dev threshold extracts the prediction file, which evaluate.py's bucc_f1 scores.
    predict_file = tmp_path / "test-de.tsv"
    test_cand_file, test_files = _official_candidates(tmp_path, test, "test")
    _quiet(
        official_utils_retrieve()["bucc_eval"],
        test_cand_file,
        None,
        *test_files,
        str(predict_file),
        official_dev["best-threshold"],
    )
    official_test = official_evaluate_py()["bucc_f1"](
        [f"{s}\t{t}" for s, t in test["gold"]], predict_file.read_text().splitlines()
    )
    ours_test = bucc_scores(
        dev_candidates=ours["dev"], dev_gold=dev["gold"], test_candidates=ours["test"], test_gold=test["gold"]
    )
    assert 0 < official_test["f1"] < 100
    for key in ("precision", "recall", "f1"):
        assert ours_test[key] * 100 == pytest.approx(official_test[key], rel=1e-9)
    assert ours_test["threshold"] == pytest.approx(official_dev["best-threshold"], rel=1e-6)


def test_bucc_rejects_misaligned_inputs() -> None:
    src, trg = _hand_bucc()
    with pytest.raises(ValueError, match="expected 3 ids .* got 2"):
        bucc_candidate_scores(
            src_ids=["s0", "s1"],
            src_texts=["a", "b", "c"],
            src_embeddings=src,
            trg_ids=["t0", "t1", "t2"],
            trg_texts=["A", "B", "C"],
            trg_embeddings=trg,
        )
    with pytest.raises(ValueError, match="expected 2 embedding rows .* got 3"):
        bucc_candidate_scores(
            src_ids=["s0", "s1"],
            src_texts=["a", "b"],
            src_embeddings=src,
            trg_ids=["t0", "t1", "t2"],
            trg_texts=["A", "B", "C"],
            trg_embeddings=trg,
        )
    with pytest.raises(ValueError, match="dimension 3"):
        bucc_mine(src, np.ones((2, 4)))


# -------------------------------------------------------------------------------------- mAP@20


def test_average_precision_by_hand() -> None:
    # hits at ranks 1, 3, 5 of 4 relevant: (1/1 + 2/3 + 3/5) / 4
    assert average_precision_at_k(["a", "x", "b", "y", "c"], {"a", "b", "c", "d"}, k=20) == pytest.approx(
        (1 + 2 / 3 + 3 / 5) / 4
    )
    assert average_precision_at_k(["a", "a", "b"], {"a", "b"}, k=20) == pytest.approx(
        (1 + 2 / 3) / 2
    )  # repeats count once
    assert average_precision_at_k([*range(20), 99], {99}, k=20) == 0.0  # rank 21 is outside the top 20
    assert average_precision_at_k(list(range(30)), set(range(25)), k=20) == 1.0  # divisor min(25, 20)
    assert map_at_k_scores([["a", "x"], ["x", "b"]], [{"a"}, {"b"}]) == {"map_at_20": 0.75}


def test_lareqa_map_on_a_hand_computed_ranking() -> None:
    questions = np.array([[1.0, 0.0], [0.0, 1.0]])
    candidates = np.array([[0.2, 0.1], [0.9, 0.0], [0.5, 0.3], [0.0, 0.8]])
    # q0 ranks 1, 2, 0, 3; answers {0, 2}: hits at ranks 2 and 3 -> (1/2 + 2/3) / 2
    # q1 ranks 3, 2, 0, 1; answers {3}: hit at rank 1 -> 1
    scores = lareqa_scores(questions, candidates, [{0, 2}, {3}])
    assert scores == {"map_at_20": pytest.approx(((1 / 2 + 2 / 3) / 2 + 1) / 2)}


def test_lareqa_against_utils_lareqa() -> None:
    rng = np.random.default_rng(5)
    q = rng.normal(size=(12, 8))
    c = rng.normal(size=(40, 8))
    answers = [set(rng.choice(40, size=int(rng.integers(1, 4)), replace=False).tolist()) for _ in range(12)]
    # mean_avg_prec_at_k only prints; build the question / candidate sets it reads and parse the line.
    cands = [SimpleNamespace(encoding={"sentences_and_contexts": row}) for row in c]
    candidate_set = SimpleNamespace(
        as_list=lambda: cands,
        pos={id(x): i for i, x in enumerate(cands)},
        by_xling_id={f"x{i}": [id(cands[j]) for j in sorted(a)] for i, a in enumerate(answers)},
    )
    questions = [SimpleNamespace(encoding=row, xling_id=f"x{i}") for i, row in enumerate(q)]
    question_set = SimpleNamespace(as_list=lambda: questions)
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        official_utils_lareqa()["mean_avg_prec_at_k"](question_set, candidate_set, k=20)
    official = float(out.getvalue().split(": ")[1])
    assert lareqa_scores(q, c, answers) == {"map_at_20": official}


def test_mewslix_map_is_mrr_at_20_and_matches_utils_mewslix() -> None:
    preds = [["Q2", "Q1"], ["Q3"], [], [f"Q{i}" for i in range(100, 120)] + ["Q7"]]
    gold = ["Q1", " Q3 ", "Q5", "Q7"]  # the last gold is at rank 21: outside the top 20
    assert mewslix_scores(preds, gold) == {"map_at_20": (1 / 2 + 1 + 0 + 0) / 4}
    official = official_utils_mewslix()["evaluate"](
        {f"m{i}": [g] for i, g in enumerate(gold)}, {f"m{i}": p for i, p in enumerate(preds)}
    )
    assert mewslix_scores(preds, gold)["map_at_20"] == official


def test_ranking_scorers_reject_wrong_lengths() -> None:
    with pytest.raises(ValueError, match="expected 2 prediction lists .* got 1"):
        mewslix_scores([["Q1"]], ["Q1", "Q2"])
    with pytest.raises(ValueError, match="expected 2 answer sets .* got 1"):
        lareqa_scores(np.eye(2), np.eye(2), [{0}])
    with pytest.raises(ValueError, match="expected 1 rankings .* got 2"):
        map_at_k_scores([["a"], ["b"]], [{"a"}])
    with pytest.raises(ValueError, match="at least one relevant"):
        map_at_k_scores([["a"]], [set()])


def test_scores_are_plain_floats_in_unit_interval() -> None:
    results = [
        accuracy_scores([1, 0], [1, 1]),
        squad_v1_scores(["a b"], [["a b c"]]),
        mlqa_scores(["北京"], [["北京大学"]], lang="zh"),
        seqeval_scores([["B-PER"]], [["B-PER"]]),
        tatoeba_scores(np.eye(2), np.eye(2)),
        mewslix_scores([["Q1"]], ["Q1"]),
    ]
    for result in results:
        assert all(type(v) is float and 0.0 <= v <= 1.0 for v in result.values()), result
    assert json.loads(json.dumps(results)) == results
