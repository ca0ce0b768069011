"""BUCC 2018 bitext mining: LASER margin mining, dev-tuned threshold, precision / recall / F1.

References (google-research/xtreme): ``third_party/utils_retrieve.py`` (``mine_bitext`` with its
defaults ``mode='mine', retrieval='max', margin='ratio', neighborhood=4, threshold=0``, adapted from
facebookresearch/LASER ``source/mine_bitexts.py``; ``read_sent2id``, ``read_candidate2score``,
``bucc_optimize``, ``bucc_extract``, ``bucc_eval``) and ``evaluate.py`` (``bucc_f1``).

XTREME's released driver (``third_party/run_retrieval.py``) never scores the test split itself (it
calls ``bucc_eval`` only where a gold file exists and passes an undefined ``threshold``); the protocol
it implements, and that XTREME's paper reports, is the one here: tune the threshold on the dev gold
pairs with ``bucc_optimize``, extract the test pairs at that threshold, score them with ``bucc_f1``.

Precision / recall / F1 are fractions in [0, 1] (XTREME prints x100); the threshold is a margin
score. Similarities are computed in float32 as faiss does; they can differ from faiss's in the last
bit (summation order), which only matters for candidates tied to within ~1e-7.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence

import numpy as np

from trainers.scoring.retrieval import block_rows, embedding_matrix, l2_normalize

Pair = tuple[str, str]


def knn_inner_product(queries: np.ndarray, base: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """Top-k inner products per query, best first (``faiss.IndexFlatIP.search``): (sims, indices)."""
    sims_out = np.empty((queries.shape[0], k), dtype=np.float32)
    inds_out = np.empty((queries.shape[0], k), dtype=np.int64)
    step = block_rows(base.shape[0])
    for start in range(0, queries.shape[0], step):
        sims = queries[start : start + step] @ base.T
        top = (
            np.argpartition(-sims, k - 1, axis=1)[:, :k]
            if k < sims.shape[1]
            else np.tile(np.arange(sims.shape[1]), (sims.shape[0], 1))
        )
        top_sims = np.take_along_axis(sims, top, axis=1)
        order = np.lexsort((top, -top_sims), axis=1)  # by similarity descending, then lower index
        sims_out[start : start + top.shape[0]] = np.take_along_axis(top_sims, order, axis=1)
        inds_out[start : start + top.shape[0]] = np.take_along_axis(top, order, axis=1)
    return sims_out, inds_out


def _ratio_margin(x: np.ndarray, y: np.ndarray, cand: np.ndarray, fwd: np.ndarray, bwd: np.ndarray) -> np.ndarray:
    """``score_candidates`` with the ratio margin: ``x_i.y_k / ((fwd_i + bwd_k) / 2)`` in float32."""
    dots = np.einsum("id,ikd->ik", x, y[cand])
    with np.errstate(divide="ignore", invalid="ignore"):
        return (dots / ((fwd[:, None] + bwd[cand]) / np.float32(2))).astype(np.float64)


def bucc_mine(
    src_embeddings: np.ndarray, trg_embeddings: np.ndarray, *, neighborhood: int = 4
) -> list[tuple[int, int, float]]:
    """Candidate pairs (src row, trg row, margin score) as ``mine_bitext(mode='mine', retrieval='max',
    margin='ratio', threshold=0, neighborhood=4, dist='cosine')`` writes them, in the same order.

    Rows are L2-normalised; each side's k-NN mean similarity (k = min(neighborhood, other side)) is the
    margin denominator; every row keeps its best-margin neighbour in each direction; pairs are taken in
    descending score with each src and trg row used at most once; only scores > 0 are kept.
    Rows should be unique sentences (see :func:`bucc_candidate_scores`).

    >>> bucc_mine(np.eye(2), np.eye(2), neighborhood=2)
    [(0, 0, 2.0), (1, 1, 2.0)]
    """
    x = l2_normalize(embedding_matrix(src_embeddings, "src_embeddings"))
    y = l2_normalize(embedding_matrix(trg_embeddings, "trg_embeddings"))
    if x.shape[1] != y.shape[1]:
        raise ValueError(f"trg_embeddings: expected dimension {x.shape[1]} (as the source side), got {y.shape[1]}")
    if neighborhood < 1:
        raise ValueError(f"neighborhood: expected a positive k, got {neighborhood}")
    x2y_sim, x2y_ind = knn_inner_product(x, y, min(y.shape[0], neighborhood))
    y2x_sim, y2x_ind = knn_inner_product(y, x, min(x.shape[0], neighborhood))
    x2y_mean, y2x_mean = x2y_sim.mean(axis=1), y2x_sim.mean(axis=1)
    fwd_scores = _ratio_margin(x, y, x2y_ind, x2y_mean, y2x_mean)
    bwd_scores = _ratio_margin(y, x, y2x_ind, y2x_mean, x2y_mean)
    fwd_best = x2y_ind[np.arange(x.shape[0]), fwd_scores.argmax(axis=1)]
    bwd_best = y2x_ind[np.arange(y.shape[0]), bwd_scores.argmax(axis=1)]
    indices = np.stack(
        (np.concatenate((np.arange(x.shape[0]), bwd_best)), np.concatenate((fwd_best, np.arange(y.shape[0])))), axis=1
    )
    scores = np.concatenate((fwd_scores.max(axis=1), bwd_scores.max(axis=1)))
    seen_src: set[int] = set()
    seen_trg: set[int] = set()
    mined: list[tuple[int, int, float]] = []
    for i in np.argsort(-scores):  # the script's (unstable) sort, so equal scores come out alike
        src, trg = int(indices[i, 0]), int(indices[i, 1])
        if src not in seen_src and trg not in seen_trg:
            seen_src.add(src)
            seen_trg.add(trg)
            if scores[i] > 0:
                mined.append((src, trg, float(scores[i])))
    return mined


def _unify(texts: Sequence[str], embeddings: np.ndarray, name: str) -> tuple[list[str], np.ndarray]:
    """``text_load_unify`` + ``unique_embeddings``: unique texts in first-seen order, each with the
    embedding of its last occurrence."""
    if len(texts) != embeddings.shape[0]:
        raise ValueError(f"{name}: expected {len(texts)} embedding rows (one per text), got {embeddings.shape[0]}")
    first: dict[str, int] = {}
    last: dict[str, int] = {}
    for i, text in enumerate(texts):
        first.setdefault(text, len(first))
        last[text] = i
    unique = list(first)
    return unique, embeddings[[last[t] for t in unique]]


def _sent2id(ids: Sequence[str], texts: Sequence[str], name: str) -> dict[str, str]:
    """``read_sent2id``: stripped text -> id, dropping every text that occurs more than once."""
    if len(ids) != len(texts):
        raise ValueError(f"{name}: expected {len(texts)} ids (one per text), got {len(ids)}")
    mapping: dict[str, str] = {}
    repeated: set[str] = set()
    for sid, text in zip(ids, texts, strict=True):
        key = text.strip()
        if key in mapping:
            repeated.add(key)
        else:
            mapping[key] = sid
    for key in repeated:
        del mapping[key]
    return mapping


def bucc_candidate_scores(
    *,
    src_ids: Sequence[str],
    src_texts: Sequence[str],
    src_embeddings: np.ndarray,
    trg_ids: Sequence[str],
    trg_texts: Sequence[str],
    trg_embeddings: np.ndarray,
    neighborhood: int = 4,
) -> dict[Pair, float]:
    """Mined candidates keyed by (src id, trg id), as ``mine_bitext`` + ``read_candidate2score`` give.

    Texts are unified before mining; a candidate is kept only when both (stripped) texts are unique
    in their file, and the dict keeps the mined order (which ``bucc_optimize`` relies on for ties).

    >>> bucc_candidate_scores(src_ids=["de-1", "de-2"], src_texts=["a", "b"], src_embeddings=np.eye(2),
    ...     trg_ids=["en-1", "en-2"], trg_texts=["A", "B"], trg_embeddings=np.eye(2), neighborhood=2)
    {('de-1', 'en-1'): 2.0, ('de-2', 'en-2'): 2.0}
    """
    src_unique, x = _unify(src_texts, embedding_matrix(src_embeddings, "src_embeddings"), "src_embeddings")
    trg_unique, y = _unify(trg_texts, embedding_matrix(trg_embeddings, "trg_embeddings"), "trg_embeddings")
    src_map, trg_map = _sent2id(src_ids, src_texts, "src_ids"), _sent2id(trg_ids, trg_texts, "trg_ids")
    candidates: dict[Pair, float] = {}
    for s, t, score in bucc_mine(x, y, neighborhood=neighborhood):
        src_text, trg_text = src_unique[s].strip(), trg_unique[t].strip()
        if src_text in src_map and trg_text in trg_map:
            key = (src_map[src_text], trg_map[trg_text])
            candidates[key] = max(score, candidates.get(key, score))
    return candidates


def bucc_optimize_threshold(candidates: Mapping[Pair, float], gold_pairs: Collection[Pair]) -> float:
    """The margin threshold that maximises F1 of the extracted pairs on gold, as ``bucc_optimize``.

    Candidates are walked best-first (stable, so ties keep dict order); each time F1 strictly improves
    the threshold becomes the midpoint between that candidate's score and the next one's; it stays 0
    if no candidate is gold. Where the best F1 is reached at the very last candidate the script raises
    IndexError (it reads the next candidate); here the threshold is then that last score, which keeps
    every candidate.

    >>> bucc_optimize_threshold({("a", "x"): 3.0, ("b", "y"): 2.0, ("c", "z"): 1.0}, {("a", "x")})
    2.5
    """
    items = sorted(candidates.items(), key=lambda item: -item[1])
    gold = set(gold_pairs)
    nextract = ncorrect = 0
    threshold, best_f1 = 0.0, 0.0
    for i, (pair, score) in enumerate(items):
        nextract += 1
        if pair in gold:
            ncorrect += 1
        if ncorrect > 0:
            precision, recall = ncorrect / nextract, ncorrect / len(gold)
            f1 = 2 * precision * recall / (precision + recall)
            if f1 > best_f1:
                best_f1 = f1
                threshold = (score + items[i + 1][1]) / 2 if i + 1 < len(items) else score
    return threshold


def bucc_extract(candidates: Mapping[Pair, float], threshold: float) -> set[Pair]:
    """The candidate pairs whose score is at least the threshold (``bucc_extract``).

    >>> sorted(bucc_extract({("a", "x"): 3.0, ("b", "y"): 2.0}, 2.5))
    [('a', 'x')]
    """
    return {pair for pair, score in candidates.items() if score >= threshold}


def bucc_pair_scores(predicted_pairs: Collection[Pair], gold_pairs: Collection[Pair]) -> dict[str, float]:
    """Precision, recall and F1 of predicted against gold (src id, trg id) pairs (``evaluate.py`` ``bucc_f1``).

    >>> bucc_pair_scores({("a", "x"), ("b", "z")}, {("a", "x"), ("b", "y")})
    {'precision': 0.5, 'recall': 0.5, 'f1': 0.5}
    """
    predicted, gold = set(predicted_pairs), set(gold_pairs)
    ncorrect = len(gold & predicted)
    if ncorrect == 0:
        return {"precision": 0.0, "recall": 0.0, "f1": 0.0}
    precision, recall = ncorrect / len(predicted), ncorrect / len(gold)
    return {"precision": precision, "recall": recall, "f1": 2 * precision * recall / (precision + recall)}


def bucc_scores(
    *,
    dev_candidates: Mapping[Pair, float],
    dev_gold: Collection[Pair],
    test_candidates: Mapping[Pair, float],
    test_gold: Collection[Pair],
) -> dict[str, float]:
    """BUCC 2018 test precision / recall / F1 with the threshold tuned on dev, plus that threshold.

    The threshold is :func:`bucc_optimize_threshold` on the dev candidates and gold (``bucc_eval`` on
    the dev split); the test pairs are :func:`bucc_extract` of the test candidates at that threshold
    (the predictions file), scored by :func:`bucc_pair_scores` (``evaluate.py`` ``bucc_f1``).
    Candidates come from :func:`bucc_candidate_scores`.

    >>> bucc_scores(dev_candidates={("a", "x"): 3.0, ("b", "y"): 1.0}, dev_gold={("a", "x")},
    ...     test_candidates={("c", "z"): 2.5, ("d", "w"): 1.5}, test_gold={("c", "z"), ("d", "v")})
    {'precision': 1.0, 'recall': 0.5, 'f1': 0.6666666666666666, 'threshold': 2.0}
    """
    if not dev_gold or not test_gold:
        raise ValueError(f"expected non-empty gold pairs, got {len(dev_gold)} dev and {len(test_gold)} test pairs")
    mined, threshold = bucc_mine_test(dev_candidates=dev_candidates, dev_gold=dev_gold, test_candidates=test_candidates)
    return {**bucc_pair_scores(mined, test_gold), "threshold": threshold}


def bucc_mine_test(
    *, dev_candidates: Mapping[Pair, float], dev_gold: Collection[Pair], test_candidates: Mapping[Pair, float]
) -> tuple[set[Pair], float]:
    """The test pairs mined at the threshold tuned on dev (what a BUCC predictions file holds), and that
    threshold."""
    threshold = float(bucc_optimize_threshold(dev_candidates, dev_gold))
    return bucc_extract(test_candidates, threshold), threshold
