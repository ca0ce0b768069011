"""Retrieval scorers: Tatoeba accuracy, recall@k, and mAP@20 for LAReQA and Mewsli-X (BUCC: ``bucc``).

References (google-research/xtreme): ``third_party/utils_retrieve.py`` (``similarity_search``),
``evaluate.py`` (``accuracy``), ``third_party/utils_lareqa.py`` (``average_precision_at_k``,
``mean_avg_prec_at_k``, called with ``k=20`` by ``third_party/evaluate_retrieval.py``) and
``third_party/utils_mewslix.py`` (``evaluate``, top-20 MRR).

Scores are fractions in [0, 1]; XTREME prints them x100. Embeddings are handled in float32 as faiss
handles them; similarities can differ from faiss's in the last float32 bit (summation order), which
can only matter for candidates tied to within ~1e-7.
"""

from __future__ import annotations

from collections.abc import Collection, Hashable, Sequence

import numpy as np

# Rows per block when a similarity matrix is built, so memory stays ~this many floats per block.
_BLOCK_FLOATS = 1 << 24


def embedding_matrix(values: object, name: str) -> np.ndarray:
    """The values as a non-empty float32 (rows, dim) matrix, or a ValueError naming ``name``."""
    array = np.asarray(values, dtype=np.float32)
    if array.ndim != 2 or array.shape[0] == 0:
        raise ValueError(f"{name}: expected a non-empty 2-D (rows, dim) embedding matrix, got shape {array.shape}")
    return array


def l2_normalize(embeddings: np.ndarray) -> np.ndarray:
    """Rows scaled to unit L2 norm in float32, zero rows left as they are (``faiss.normalize_L2``).

    >>> l2_normalize(np.array([[3.0, 4.0], [0.0, 0.0]])).tolist()
    [[0.6000000238418579, 0.800000011920929], [0.0, 0.0]]
    """
    x = np.array(embeddings, dtype=np.float32)
    norms = np.sqrt((x * x).sum(axis=1, keepdims=True))
    np.divide(x, norms, out=x, where=norms > 0)
    return x


def block_rows(n_cols: int) -> int:
    """How many query rows to score at once against n_cols base rows."""
    return max(1, _BLOCK_FLOATS // n_cols)


def _nearest_l2(queries: np.ndarray, base: np.ndarray, k: int) -> np.ndarray:
    """Indices of the k base rows nearest each query in L2, like faiss ``IndexFlatL2.search``.

    ``||b||^2 - 2 q.b`` orders base rows as the L2 distance does; ties go to the lower index.
    """
    base_sq = (base * base).sum(axis=1)
    out = np.empty((queries.shape[0], k), dtype=np.int64)
    step = block_rows(base.shape[0])
    for start in range(0, queries.shape[0], step):
        dist = base_sq[None, :] - 2 * (queries[start : start + step] @ base.T)
        out[start : start + dist.shape[0]] = np.argsort(dist, axis=1, kind="stable")[:, :k]
    return out


def tatoeba_scores(src_embeddings: np.ndarray, tgt_embeddings: np.ndarray) -> dict[str, float]:
    """Tatoeba accuracy: how often the nearest source sentence of English sentence i is source i.

    Matches XTREME's ``run_retrieval.py`` tatoeba branch, ``similarity_search(x, y, dim,
    normalize=True)`` (rows L2-normalised, source rows indexed in ``IndexFlatL2``, each target row
    queried for its single nearest neighbour, i.e. top-1 cosine), scored by ``evaluate.py``
    ``accuracy`` against gold index i. Row i of both matrices is a translation pair.

    >>> tatoeba_scores(np.eye(3), np.array([[1, 0.1, 0], [0, 0.5, 1], [0, 0.9, 1]]))
    {'accuracy': 0.6666666666666666}
    """
    return _top_k_hits(src_embeddings, tgt_embeddings, k=1, key="accuracy")


def tatoeba_predictions(src_embeddings: np.ndarray, tgt_embeddings: np.ndarray) -> list[int]:
    """For each English sentence i, the index of its nearest source sentence: the retrieval that
    :func:`tatoeba_scores` scores, as the lines of a predictions file (gold: i).

    >>> tatoeba_predictions(np.eye(3), np.array([[1, 0.1, 0], [0, 0.5, 1], [0, 0.9, 1]]))
    [0, 2, 2]
    """
    x, y = embedding_matrix(src_embeddings, "src_embeddings"), embedding_matrix(tgt_embeddings, "tgt_embeddings")
    if x.shape != y.shape:
        raise ValueError(f"expected tgt_embeddings of shape {x.shape} (row i translates source row i), got {y.shape}")
    return [int(i) for i in _nearest_l2(l2_normalize(y), l2_normalize(x), 1)[:, 0]]


def recall_at_k_scores(src_embeddings: np.ndarray, tgt_embeddings: np.ndarray, *, k: int) -> dict[str, float]:
    """Fraction of target rows whose translation (source row i) is among their k nearest sources.

    The same search as :func:`tatoeba_scores` widened to k neighbours (XTREME reports only k=1, where
    this equals Tatoeba accuracy).

    >>> recall_at_k_scores(np.eye(3), np.array([[1, 0.1, 0], [0, 0.5, 1], [0, 0.9, 1]]), k=2)
    {'recall_at_2': 1.0}
    """
    return _top_k_hits(src_embeddings, tgt_embeddings, k=k, key=f"recall_at_{k}")


def _top_k_hits(src_embeddings: np.ndarray, tgt_embeddings: np.ndarray, *, k: int, key: str) -> dict[str, float]:
    x, y = embedding_matrix(src_embeddings, "src_embeddings"), embedding_matrix(tgt_embeddings, "tgt_embeddings")
    if x.shape != y.shape:
        raise ValueError(f"expected tgt_embeddings of shape {x.shape} (row i translates source row i), got {y.shape}")
    if not 1 <= k <= x.shape[0]:
        raise ValueError(f"k: expected 1 <= k <= {x.shape[0]} (the number of sources), got {k}")
    nearest = _nearest_l2(l2_normalize(y), l2_normalize(x), k)
    hits = int((nearest == np.arange(x.shape[0])[:, None]).any(axis=1).sum())
    return {key: float(hits) / x.shape[0]}


#: The cut-offs every ranked retrieval target reports recall at (Tatoeba, LAReQA, Mewsli-X).
RECALL_KS = (1, 5, 10)


def recall_at_ks(
    rankings: Sequence[Sequence[Hashable]], relevant: Sequence[Collection[Hashable]], *, ks: Sequence[int] = RECALL_KS
) -> dict[str, float]:
    """Fraction of queries with at least one relevant item among their first k predictions, for each k.

    >>> recall_at_ks([["x", "a", "y"], ["b"], ["x", "y", "z"]], [{"a"}, {"b"}, {"c"}], ks=(1, 2))
    {'recall_at_1': 0.3333333333333333, 'recall_at_2': 0.6666666666666666}
    """
    if len(rankings) != len(relevant):
        raise ValueError(f"expected {len(relevant)} rankings (one per query), got {len(rankings)}")
    if not rankings:
        raise ValueError("expected at least one query, got none")
    return {
        f"recall_at_{k}": sum(any(p in gold for p in list(r)[:k]) for r, gold in zip(rankings, relevant, strict=True))
        / len(rankings)
        for k in ks
    }


# --------------------------------------------------------------------------------------------- mAP@k


def average_precision_at_k(ranking: Sequence[Hashable], relevant: Collection[Hashable], *, k: int | None) -> float:
    """AP@k as XTREME-R's ``utils_lareqa.average_precision_at_k``: precision at each first hit in the
    top k, summed, over ``min(len(relevant), k)`` (all of the ranking and ``len(relevant)`` if k is None).

    >>> average_precision_at_k(["x", "a", "y", "b"], {"a", "b"}, k=20)
    0.5
    """
    targets = set(relevant)
    if not targets:
        raise ValueError("relevant: expected at least one relevant item, got none")
    ranked = list(ranking)[:k] if k else list(ranking)
    score = hits = 0.0
    for i, item in enumerate(ranked):
        if item in targets and item not in ranked[:i]:
            hits += 1.0
            score += hits / (i + 1.0)
    return score / (min(len(targets), k) if k else len(targets))


def map_at_k_scores(
    rankings: Sequence[Sequence[Hashable]], relevant: Sequence[Collection[Hashable]], *, k: int = 20
) -> dict[str, float]:
    """Mean over queries of :func:`average_precision_at_k` for ranked predictions (mAP@k).

    >>> map_at_k_scores([["a", "x"], ["x", "b"]], [{"a"}, {"b"}], k=20)
    {'map_at_20': 0.75}
    """
    if len(rankings) != len(relevant):
        raise ValueError(f"expected {len(relevant)} rankings (one per query), got {len(rankings)}")
    if not rankings:
        raise ValueError("expected at least one query, got none")
    return {
        f"map_at_{k}": float(
            np.mean([average_precision_at_k(r, g, k=k) for r, g in zip(rankings, relevant, strict=True)])
        )
    }


def lareqa_scores(
    question_embeddings: np.ndarray,
    candidate_embeddings: np.ndarray,
    relevant: Sequence[Collection[int]],
    *,
    k: int = 20,
) -> dict[str, float]:
    """LAReQA mAP@20: each question ranks all candidates by dot product; AP@20 against its answers.

    Matches XTREME-R ``utils_lareqa.mean_avg_prec_at_k(question_set, candidate_set, k=20)``: scores
    ``q . C^T`` (raw dot product, the model's encodings as given), ranking
    ``scores.argsort()[::-1]`` (ties in that order), ``relevant[i]`` = indices of question i's
    correct candidates (every language's copy of its answer sentence), mean of AP@20 over questions.

    >>> lareqa_scores(np.array([[1.0, 0.0]]), np.array([[0.2, 0.0], [0.9, 0.0], [0.5, 0.0]]), [{0, 2}])
    {'map_at_20': 0.5833333333333333}
    """
    q = np.asarray(question_embeddings)
    c = np.asarray(candidate_embeddings)
    if q.ndim != 2 or c.ndim != 2 or q.shape[1] != c.shape[1]:
        raise ValueError(
            f"expected (questions, dim) and (candidates, dim) matrices, got shapes {q.shape} and {c.shape}"
        )
    if len(relevant) != q.shape[0]:
        raise ValueError(f"relevant: expected {q.shape[0]} answer sets (one per question), got {len(relevant)}")
    for answers in relevant:
        if any(not 0 <= int(a) < c.shape[0] for a in answers):
            raise ValueError(f"relevant: expected candidate indices in [0, {c.shape[0]}), got {sorted(answers)}")
    rankings = dot_product_rankings(q, c, k=k)
    ap_scores = [
        average_precision_at_k(ranking, {int(a) for a in answers}, k=k)
        for ranking, answers in zip(rankings, relevant, strict=True)
    ]
    return {f"map_at_{k}": float(np.mean(ap_scores))}


def dot_product_rankings(queries: np.ndarray, candidates: np.ndarray, *, k: int) -> list[list[int]]:
    """The ``k`` best candidate indices of each query by dot product, in ``utils_lareqa``'s order
    (``scores.argsort()[::-1]``: ties go to the higher index).

    >>> dot_product_rankings(np.array([[1.0, 0.0]]), np.array([[0.2, 0.0], [0.9, 0.0], [0.5, 0.0]]), k=2)
    [[1, 2]]
    """
    rankings = []
    for vector in np.asarray(queries):
        # One product per question, as the script does, so float rounding (and so ties) match it.
        scores = np.expand_dims(vector, 0).dot(np.asarray(candidates).T).reshape(-1)
        rankings.append([int(i) for i in scores.argsort()[::-1][:k]])
    return rankings


def mewslix_scores(predictions: Sequence[Sequence[str]], gold: Sequence[str], *, k: int = 20) -> dict[str, float]:
    """Mewsli-X mAP@20, which with one gold entity per mention is MRR over the top 20 predictions.

    Matches XTREME-R ``utils_mewslix.evaluate(gold_data, predictions, k=20)``: gold ids are
    stripped, each prediction list is cut to its first k, reciprocal rank of the first match (0 if
    none), mean over mentions. Pass ``[]`` for a mention without predictions (the script's default).

    >>> mewslix_scores([["Q2", "Q1"], ["Q3"]], ["Q1", "Q9"])
    {'map_at_20': 0.25}
    """
    if isinstance(gold, str) or len(predictions) != len(gold):
        raise ValueError(f"expected {len(gold)} prediction lists (one per gold mention), got {len(predictions)}")
    if not gold:
        raise ValueError("expected at least one mention, got none")
    reciprocal_ranks = []
    for i, (ranked, entity) in enumerate(zip(predictions, gold, strict=True)):
        if isinstance(ranked, str):
            raise ValueError(f"predictions[{i}]: expected a list of entity ids, got the string {ranked!r}")
        target = entity.strip()
        rank = next((r for r, p in enumerate(list(ranked)[:k], start=1) if p == target), None)
        reciprocal_ranks.append(1.0 / rank if rank else 0.0)
    return {f"map_at_{k}": sum(reciprocal_ranks) / len(reciprocal_ranks)}
