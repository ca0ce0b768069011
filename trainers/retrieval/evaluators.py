"""How each retrieval target turns sentence embeddings into its official scores.

An evaluator takes the task, an ``embed`` function (texts -> one float row per text: the encoder
layer and pooling that ``trainers.retrieval.embed`` chose), the languages to score and the data folder,
and returns ``{language: Evaluated}``: every metric of the task's scorer (computed by
``trainers.scoring.score`` from the predictions, as a submission file would be scored) and the
predictions themselves:

- ``tatoeba``: each English sentence retrieves its nearest source sentence by cosine (accuracy).

Tatoeba, LAReQA and Mewsli-X also report recall@1/5/10 (a relevant candidate among the first k); BUCC
mines pairs with a threshold and has no ranking to cut, so it reports precision, recall and F1 only.
- ``bucc2018``: both corpora of a split are embedded and mined with LASER's ratio margin; the
  threshold is tuned on the dev gold pairs and applied to test (precision, recall, F1, threshold).
- ``lareqa``: every question retrieves from one pool of the candidate sentences of all 11 languages
  (XTREME-R's ``evaluate_retrieval.py``: candidate text = sentence + its paragraph); relevant are
  the answer sentences in every language; mAP@20 over the questions of each language. Deviations:
  zero-shot sentence embeddings (XTREME-R fine-tunes a dual encoder) and one ``max_length`` for
  questions and candidates (it uses 96 and 256 tokens). Rows are L2-normalised, as that encoder's
  output is, so the script's dot product ranks by cosine.
- ``mewslix``: every WikiNews mention (``utils_mewslix.preprocess_mention``: one sentence, mention
  in braces) retrieves from the ~1M entity descriptions by cosine; MRR of the top 20 (= mAP@20).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from trainers.data import load_examples
from trainers.errors import DataError
from trainers.release import bucc_split, lareqa_pool, mewslix_entities, mewslix_mentions
from trainers.scoring import score
from trainers.scoring.bucc import bucc_candidate_scores, bucc_mine_test, bucc_pair_scores, knn_inner_product
from trainers.scoring.retrieval import (
    RECALL_KS,
    dot_product_rankings,
    l2_normalize,
    recall_at_k_scores,
    tatoeba_predictions,
)
from trainers.tasks import Task

Embed = Callable[[Sequence[str]], np.ndarray]


@dataclass(frozen=True)
class Evaluated:
    """One language's evaluation: every metric of the task's scorer, and the predictions it scored, in
    the form ``trainers.predictions`` writes as the benchmark's submission file."""

    scores: dict[str, float]
    predictions: Any


Results = dict[str, Evaluated]


def _tatoeba(task: Task, *, embed: Embed, languages: Sequence[str], data_dir: Path | None) -> Results:
    out = {}
    for language in languages:
        pairs = load_examples(task, language=language, role="test", data_dir=data_dir)
        sources, targets = embed([p.source for p in pairs]), embed([p.target for p in pairs])
        nearest = tatoeba_predictions(sources, targets)
        recall = {}
        for k in (k for k in RECALL_KS if k <= len(pairs)):  # the translation among the k nearest sources
            recall.update(recall_at_k_scores(sources, targets, k=k))
        out[language] = Evaluated({**score(task, pairs, nearest, language=language), **recall}, nearest)
    return out


def _bucc(task: Task, *, embed: Embed, languages: Sequence[str], data_dir: Path | None) -> Results:
    out = {}
    for language in languages:
        candidates, gold = {}, {}
        for role in ("dev", "test"):
            split = bucc_split(task, language=language, role=role, data_dir=data_dir)
            candidates[role] = bucc_candidate_scores(
                src_ids=split.src_ids,
                src_texts=split.src_texts,
                src_embeddings=embed_unique(embed, split.src_texts),
                trg_ids=split.trg_ids,
                trg_texts=split.trg_texts,
                trg_embeddings=embed_unique(embed, split.trg_texts),
            )
            gold[role] = split.gold
        if not gold["dev"] or not gold["test"]:
            raise DataError(f"BUCC {language}: the dev and test gold pairs must not be empty")
        mined, threshold = bucc_mine_test(
            dev_candidates=candidates["dev"], dev_gold=gold["dev"], test_candidates=candidates["test"]
        )
        out[language] = Evaluated({**bucc_pair_scores(mined, gold["test"]), "threshold": threshold}, mined)
    return out


def _lareqa(task: Task, *, embed: Embed, languages: Sequence[str], data_dir: Path | None) -> Results:
    pool = lareqa_pool(task, data_dir=data_dir)
    candidates = l2_normalize(embed(pool.candidate_texts))
    out = {}
    for language in languages:
        questions = pool.questions[language]
        rankings = dot_product_rankings(l2_normalize(embed([q.query for q in questions])), candidates, k=20)
        ranked = {q.id: [pool.candidate_ids[i] for i in row] for q, row in zip(questions, rankings, strict=True)}
        out[language] = Evaluated(score(task, questions, ranked, language=language), ranked)
    return out


def _mewslix(task: Task, *, embed: Embed, languages: Sequence[str], data_dir: Path | None) -> Results:
    entity_ids, descriptions = mewslix_entities(task, data_dir=data_dir)
    entities = l2_normalize(embed(descriptions))
    out = {}
    for language in languages:
        mentions = mewslix_mentions(task, language=language, role="test", data_dir=data_dir)
        rows = top_k(l2_normalize(embed([m.query for m in mentions])), entities, k=20)
        ranked = {m.id: [entity_ids[i] for i in row] for m, row in zip(mentions, rows, strict=True)}
        out[language] = Evaluated(score(task, mentions, ranked, language=language), ranked)
    return out


def embed_unique(embed: Embed, texts: Sequence[str]) -> np.ndarray:
    """Embed each distinct text once (BUCC corpora repeat sentences) and return one row per text."""
    unique = list(dict.fromkeys(texts))
    row = {text: i for i, text in enumerate(unique)}
    return embed(unique)[[row[text] for text in texts]]


def top_k(queries: np.ndarray, base: np.ndarray, *, k: int) -> np.ndarray:
    """Indices of the ``k`` base rows with the highest inner product per query, best first; ties among
    them go to the lower index (the candidate file's order).

    >>> top_k(np.array([[1.0, 0.0]]), np.array([[0.5, 0.0], [1.0, 0.0], [0.5, 0.0]]), k=2).tolist()
    [[1, 0]]
    """
    return knn_inner_product(queries, base, min(k, base.shape[0]))[1]


@dataclass(frozen=True, kw_only=True)
class Evaluator:
    """How one retrieval task is evaluated, and which of its splits that reads."""

    run: Callable[..., Results]
    roles: tuple[str, ...]  # the splits read in every evaluated language
    pooled: bool = False  # the candidate pool spans every language of the task, whichever are scored


EVALUATORS: dict[str, Evaluator] = {
    "tatoeba": Evaluator(run=_tatoeba, roles=("test",)),
    "bucc2018": Evaluator(run=_bucc, roles=("dev", "test")),
    "lareqa": Evaluator(run=_lareqa, roles=("test",), pooled=True),
    "mewslix": Evaluator(run=_mewslix, roles=("test",)),
}


def required_splits(task: Task, languages: Sequence[str]) -> list[tuple[str, str]]:
    """The (language, role) splits that evaluating ``task`` in ``languages`` reads, for checking a config;
    one language stands for all where every language shares the same files (Mewsli-X)."""
    evaluator = EVALUATORS[task.name]
    languages = list(task.languages if evaluator.pooled else languages)
    if task.source.files and not any("{lang}" in t or "{code}" in t for t in task.source.files):
        languages = languages[:1]
    return [(language, role) for language in languages for role in evaluator.roles]
