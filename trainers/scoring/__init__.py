"""Scorers that reproduce the XTREME / XTREME-R official evaluation, number for number.

Every scorer takes plain Python / numpy predictions and gold, returns a ``dict[str, float]`` of every
metric the benchmark reports for the task, and raises ``ValueError`` (saying what it expected and what
it saw) for predictions of the wrong length or shape; the caller turns that into xstilts' own error.

Convention: every score is a **fraction in [0, 1]**. The official scripts print 100x these numbers
(``evaluate.py`` multiplies by 100), so ``0.7312`` here is XTREME's ``73.12``. Counts (``*_total``)
and BUCC's ``threshold`` (a margin score) are not scaled.

Which benchmark uses which scorer (the family names are the keys of :data:`SCORERS`, and
each task's ``scorer`` field in ``trainers.tasks`` names its family):

==================  ===================  ======================================================
task                family               official reference it reproduces
==================  ===================  ======================================================
XNLI, PAWS-X        ``accuracy``         google-research/xtreme ``evaluate.py`` ``accuracy``
XCOPA, SIQA (MC)    ``mc_accuracy``      XTREME-R ``third_party/run_xcopa.py`` (float32 mean)
PAN-X (NER)         ``seqeval``          seqeval 0.0.12 micro P/R/F1 over IOB2 spans
UD-POS              ``seqeval``          the same call on raw POS tags (see ``tagging``)
CCG (intermediate)  ``tag_accuracy``     jiant's token accuracy over supertags
XQuAD, TyDiQA-GoldP ``squad_v1``         SQuAD ``evaluate-v1.1.py`` (``third_party/evaluate_squad.py``)
MLQA                ``mlqa``             MLQA ``mlqa_evaluation_v1.py`` with the context language
(SQuAD 2.0 tasks)   ``squad_v2``         SQuAD ``evaluate-v2.0.py``, HasAns / NoAns breakdown
BUCC 2018           ``bucc``             ``third_party/utils_retrieve.py`` (LASER margin mining,
                                         dev-tuned threshold) + ``evaluate.py`` ``bucc_f1``
Tatoeba             ``tatoeba``          ``utils_retrieve.similarity_search`` + ``accuracy``
LAReQA              ``lareqa``           ``third_party/utils_lareqa.py`` ``mean_avg_prec_at_k(k=20)``
Mewsli-X            ``mewslix``          ``third_party/utils_mewslix.py`` ``evaluate`` (MRR@20)
==================  ===================  ======================================================

XTREME's per-task headline for QA is ``(EM + F1) / 2`` (``em_f1_avg`` in the QA dicts); for the
others it is ``f1`` or ``accuracy``, and for LAReQA / Mewsli-X ``map_at_20``.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from trainers.scoring.bucc import bucc_pair_scores, bucc_scores
from trainers.scoring.classification import accuracy_scores, multiple_choice_accuracy_scores
from trainers.scoring.qa import mlqa_scores, squad_v1_scores, squad_v2_scores
from trainers.scoring.retrieval import (
    lareqa_scores,
    map_at_k_scores,
    mewslix_scores,
    recall_at_k_scores,
    recall_at_ks,
    tatoeba_scores,
)
from trainers.scoring.tagging import seqeval_scores, tag_accuracy_scores

# Signatures differ by family (QA takes answer lists, BUCC takes candidate dicts), so the common type
# is only "something that returns named metrics".
Scorer = Callable[..., dict[str, float]]

SCORERS: dict[str, Scorer] = {
    "accuracy": accuracy_scores,
    "mc_accuracy": multiple_choice_accuracy_scores,
    "seqeval": seqeval_scores,
    "tag_accuracy": tag_accuracy_scores,
    "squad_v1": squad_v1_scores,
    "squad_v2": squad_v2_scores,
    "mlqa": mlqa_scores,
    "bucc": bucc_scores,
    "tatoeba": tatoeba_scores,
    "recall_at_k": recall_at_k_scores,
    "map_at_k": map_at_k_scores,
    "lareqa": lareqa_scores,
    "mewslix": mewslix_scores,
}

__all__ = ["SCORERS", "Scorer", "score"]


def score(task: Any, gold: Sequence[Any], predictions: Any, *, language: str) -> dict[str, float]:
    """Every metric the benchmark reports for ``predictions`` of ``task`` in ``language`` against the gold
    examples (``trainers.data.load_examples``), whether the predictions come from a model in memory or
    from a submission file (``trainers.predictions.read``).

    Predictions, by kind: classification and multiple choice, one label index per example; QA, a dict
    of example id to answer text; tagging, one list of tag indices (or names) per sentence; Tatoeba, one retrieved
    English sentence index per example; BUCC, a set of mined ``(<lg> id, en id)`` pairs; LAReQA and
    Mewsli-X, a dict of query id to ranked candidate ids (a query left out ranks nothing). Example:
    ``score(get_task("xnli"), gold, [0, 2, 1], language="de")["accuracy"]``.
    """
    scorer = SCORERS[task.scorer]
    if task.kind in ("classification", "multiple_choice"):
        return scorer(predictions, [e.label for e in gold])
    if task.kind == "tagging":  # tag indices from a model, or tag names from a file
        names = task.labels
        predicted = [[t if isinstance(t, str) else names[t] for t in sentence] for sentence in predictions]
        return scorer(predicted, [[names[t] for t in e.tags] for e in gold])
    if task.kind == "qa":
        golds = [[a.text for a in e.answers] for e in gold]
        ordered = [predictions.get(e.id) for e in gold]
        return scorer(ordered, golds, lang=language) if task.scorer == "mlqa" else scorer(ordered, golds)
    if task.scorer == "tatoeba":  # evaluate.py scores the retrieved indices with its `accuracy`
        return accuracy_scores(list(predictions), list(range(len(gold))))
    if task.scorer == "bucc":
        return bucc_pair_scores(set(predictions), {(e.id, e.target_id) for e in gold})
    if task.scorer in ("lareqa", "mewslix"):
        # The benchmark's mAP@20 (Mewsli-X: MRR@20), and recall@1/5/10: a relevant candidate among the first k.
        ranked, relevant = [predictions.get(e.id, []) for e in gold], [set(e.relevant) for e in gold]
        if task.scorer == "lareqa":
            headline = map_at_k_scores(ranked, relevant, k=20)
        else:
            headline = mewslix_scores(ranked, [e.relevant[0] for e in gold])
        return {**headline, **recall_at_ks(ranked, relevant)}
    raise ValueError(f"task {task.name} ({task.kind}, scorer {task.scorer}) has no predictions to score")
