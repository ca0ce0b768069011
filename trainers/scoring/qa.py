"""Extractive-QA scorers: SQuAD v1.1, SQuAD v2.0 and MLQA, as their official evaluation scripts.

XTREME scores XQuAD and TyDiQA-GoldP with SQuAD's ``evaluate-v1.1.py`` (its
``third_party/evaluate_squad.py``) and MLQA with ``mlqa_evaluation_v1.py`` given the context language
(``third_party/evaluate_mlqa.py``); its headline QA number is ``(EM + F1) / 2``.

Scores are fractions in [0, 1]; the scripts print them x100. Per-question scores are added up the way
each script does (``+=`` in question order for v1.1 / MLQA, ``sum()`` for v2.0), so sums round alike.
"""

from __future__ import annotations

import functools
import re
import string
import sys
import unicodedata
from collections import Counter
from collections.abc import Callable, Sequence

_ASCII_PUNCT = frozenset(string.punctuation)
_EN_ARTICLES = re.compile(r"\b(a|an|the)\b")

# mlqa_evaluation_v1.py's per-language article patterns, verbatim. The Arabic one reads
# '\sال^|ال': its first branch can never match, so every "ال" (even inside a word) becomes a space.
_MLQA_ARTICLES: dict[str, re.Pattern[str] | None] = {
    "en": _EN_ARTICLES,
    "es": re.compile(r"\b(un|una|unos|unas|el|la|los|las)\b"),
    "hi": None,
    "vi": re.compile(r"\b(của|là|cái|chiếc|những)\b"),
    "de": re.compile(r"\b(ein|eine|einen|einem|eines|einer|der|die|das|den|dem|des)\b"),
    "ar": re.compile(r"\sال^|ال"),
    "zh": None,
}
MLQA_LANGUAGES: tuple[str, ...] = tuple(_MLQA_ARTICLES)
_MIXED_SEGMENTATION_LANGS = frozenset({"zh"})


@functools.cache
def _unicode_punctuation() -> frozenset[str]:
    """MLQA's PUNCT: every Unicode category-P character plus ``string.punctuation``.

    Built on first use (it scans all code points, ~0.5 s) rather than at import.
    ``range(sys.maxunicode)`` stops before U+10FFFF exactly as the script's does.
    """
    found = {chr(i) for i in range(sys.maxunicode) if unicodedata.category(chr(i)).startswith("P")}
    return frozenset(found | _ASCII_PUNCT)


def squad_normalize(text: str) -> str:
    """SQuAD's ``normalize_answer``: lower, drop ASCII punctuation, drop a/an/the, squeeze spaces.

    Same steps and order as ``evaluate-v1.1.py`` and ``evaluate-v2.0.py``.

    >>> squad_normalize("The  Eiffel-Tower!")
    'eiffeltower'
    """
    text = "".join(ch for ch in text.lower() if ch not in _ASCII_PUNCT)
    return " ".join(_EN_ARTICLES.sub(" ", text).split())


def _mixed_segmentation(text: str, punct: frozenset[str]) -> list[str]:
    """MLQA's ``mixed_segmentation``: each CJK character (U+4E00-U+9FA5) or punctuation mark is a
    token of its own; runs of anything else are split on whitespace."""
    segments: list[str] = []
    pending = ""
    for ch in text:
        if "\u4e00" <= ch <= "\u9fa5" or ch in punct:
            if pending:
                segments.extend(pending.split())
                pending = ""
            segments.append(ch)
        else:
            pending += ch
    if pending:
        segments.extend(pending.split())
    return segments


def mlqa_normalize(text: str, lang: str) -> str:
    """MLQA's language-aware ``normalize_answer(s, lang)``.

    Lower-cases, removes every Unicode punctuation character, removes the language's articles
    (en a/an/the; es un/una/unos/unas/el/la/los/las; de ein/eine/.../des; vi của/là/cái/chiếc/những;
    ar every "ال"; none for hi and zh), then re-joins tokens: whitespace tokens, or for zh the mixed
    segmentation, so Chinese is compared character by character. Matches
    facebookresearch/MLQA ``mlqa_evaluation_v1.py``.

    >>> mlqa_normalize("Die Katze.", "de")
    'katze'
    >>> mlqa_normalize("北京大学 Peking", "zh")
    '北 京 大 学 peking'
    """
    if lang not in _MLQA_ARTICLES:
        raise ValueError(f"MLQA language: expected one of {', '.join(MLQA_LANGUAGES)}, got {lang!r}")
    punct = _unicode_punctuation()
    text = "".join(ch for ch in text.lower() if ch not in punct)
    articles = _MLQA_ARTICLES[lang]
    if articles is not None:
        text = articles.sub(" ", text)
    tokens = _mixed_segmentation(text, punct) if lang in _MIXED_SEGMENTATION_LANGS else text.split()
    return " ".join(t for t in tokens if t.strip() != "")


def _token_f1(prediction_tokens: list[str], gold_tokens: list[str]) -> float:
    """Bag-of-tokens F1 exactly as the v1.1 / MLQA ``f1_score`` (0 when nothing overlaps)."""
    num_same = sum((Counter(prediction_tokens) & Counter(gold_tokens)).values())
    if num_same == 0:
        return 0.0
    precision = 1.0 * num_same / len(prediction_tokens)
    recall = 1.0 * num_same / len(gold_tokens)
    return (2 * precision * recall) / (precision + recall)


def _check_questions(predictions: Sequence[object], gold_answers: Sequence[Sequence[str]]) -> None:
    if isinstance(predictions, str) or isinstance(gold_answers, str):
        raise ValueError("expected sequences (one entry per question), got a single string")
    if len(predictions) != len(gold_answers):
        raise ValueError(f"expected {len(gold_answers)} predictions (one per question), got {len(predictions)}")
    if not gold_answers:
        raise ValueError("expected at least one question, got none")
    for i, golds in enumerate(gold_answers):
        if isinstance(golds, str):
            raise ValueError(f"gold_answers[{i}]: expected a list of answer strings, got the string {golds!r}")


def _em_f1(
    predictions: Sequence[str | None],
    gold_answers: Sequence[Sequence[str]],
    normalize: Callable[[str], str],
) -> dict[str, float]:
    """Shared v1.1 / MLQA loop: max over gold answers, unanswered (None) scores 0, mean over all."""
    _check_questions(predictions, gold_answers)
    exact = f1 = 0.0
    for i, (prediction, golds) in enumerate(zip(predictions, gold_answers, strict=True)):
        if not golds:
            # The scripts take max() over the gold answers and crash on an empty list.
            raise ValueError(f"gold_answers[{i}]: expected at least one gold answer, got none")
        if prediction is None:
            continue  # "Unanswered question ... will receive score 0."
        if not isinstance(prediction, str):
            raise ValueError(f"predictions[{i}]: expected a string or None, got {type(prediction).__name__}")
        pred_norm = normalize(prediction)
        gold_norms = [normalize(g) for g in golds]
        exact += max(float(pred_norm == g) for g in gold_norms)
        f1 += max(_token_f1(pred_norm.split(), g.split()) for g in gold_norms)
    exact, f1 = exact / len(gold_answers), f1 / len(gold_answers)
    return {"exact_match": exact, "f1": f1, "em_f1_avg": (exact + f1) / 2}


def squad_v1_scores(predictions: Sequence[str | None], gold_answers: Sequence[Sequence[str]]) -> dict[str, float]:
    """SQuAD v1.1 exact match and F1, plus XTREME's ``(EM + F1) / 2``; for XQuAD and TyDiQA-GoldP.

    Matches ``evaluate-v1.1.py`` (allenai/bi-att-flow ``squad/evaluate-v1.1.py``, copied by XTREME as
    ``third_party/evaluate_squad.py``): per question, the max over its gold answers of EM and token F1
    on normalised text; a ``None`` prediction is an unanswered question and scores 0. Note the script's
    quirk, kept here: a prediction and gold that both normalise to "" get EM 1 but F1 0.

    >>> squad_v1_scores(["the Eiffel Tower", None], [["Eiffel Tower"], ["Paris"]])
    {'exact_match': 0.5, 'f1': 0.5, 'em_f1_avg': 0.5}
    """
    return _em_f1(predictions, gold_answers, squad_normalize)


def mlqa_scores(
    predictions: Sequence[str | None], gold_answers: Sequence[Sequence[str]], *, lang: str
) -> dict[str, float]:
    """MLQA exact match and F1 with language-aware normalisation, plus ``(EM + F1) / 2``.

    Matches facebookresearch/MLQA ``mlqa_evaluation_v1.py`` ``evaluate(dataset, predictions, lang)``
    (XTREME's ``third_party/evaluate_mlqa.py``), where ``lang`` is the context (answer) language, as
    XTREME passes it; see :func:`mlqa_normalize`. ``None`` is an unanswered question (score 0).

    >>> mlqa_scores(["北京大学"], [["北京"]], lang="zh")["f1"]
    0.6666666666666666
    """
    if lang not in _MLQA_ARTICLES:
        raise ValueError(f"MLQA language: expected one of {', '.join(MLQA_LANGUAGES)}, got {lang!r}")
    return _em_f1(predictions, gold_answers, lambda text: mlqa_normalize(text, lang))


def _v2_tokens(text: str) -> list[str]:
    return squad_normalize(text).split() if text else []


def _v2_f1(gold: str, prediction: str) -> float:
    """``evaluate-v2.0.py`` ``compute_f1``: if either side has no tokens, 1 when both have none."""
    gold_tokens, pred_tokens = _v2_tokens(gold), _v2_tokens(prediction)
    if not gold_tokens or not pred_tokens:
        return float(gold_tokens == pred_tokens)
    return _token_f1(pred_tokens, gold_tokens)


def squad_v2_scores(predictions: Sequence[str], gold_answers: Sequence[Sequence[str]]) -> dict[str, float]:
    """SQuAD v2.0 exact match and F1 with the HasAns / NoAns breakdown, as ``evaluate-v2.0.py``.

    "No answer" is the empty string. Gold answers that normalise to "" are dropped and a question left
    with none is scored against ``[""]``; a question counts as HasAns when its raw gold list is
    non-empty (the script's ``make_qid_to_has_ans``). Keys map to the script's as
    ``exact``→``exact_match``, ``HasAns_exact``→``has_ans_exact_match``, ``NoAns_f1``→``no_ans_f1``
    etc.; the has_ans / no_ans keys appear only when such questions exist, as in the script. Scored
    with the default ``--na-prob-thresh 1.0`` and no ``na_prob`` file (the thresholds do nothing).

    >>> squad_v2_scores(["", "Paris"], [[], ["Paris", "in Paris"]])["exact_match"]
    1.0
    """
    _check_questions(predictions, gold_answers)
    exact_scores: list[float] = []
    f1_scores: list[float] = []
    for i, (prediction, golds) in enumerate(zip(predictions, gold_answers, strict=True)):
        if not isinstance(prediction, str):
            # The script skips unpredicted ids and then crashes building the HasAns/NoAns totals.
            raise ValueError(f"predictions[{i}]: expected a string ('' for no answer), got {prediction!r}")
        answers = [a for a in golds if squad_normalize(a)] or [""]
        exact_scores.append(max(float(squad_normalize(a) == squad_normalize(prediction)) for a in answers))
        f1_scores.append(max(_v2_f1(a, prediction) for a in answers))

    def block(indices: list[int], prefix: str) -> dict[str, float]:
        # make_eval_dict adds with the builtin sum(), not +=; use the same (it rounds differently
        # from a += loop on Python >= 3.12).
        exact = sum(exact_scores[i] for i in indices)
        f1 = sum(f1_scores[i] for i in indices)
        total = len(indices)
        return {f"{prefix}exact_match": exact / total, f"{prefix}f1": f1 / total, f"{prefix}total": float(total)}

    every = list(range(len(predictions)))
    result = block(every, "")
    result["em_f1_avg"] = (result["exact_match"] + result["f1"]) / 2
    has_ans = [i for i in every if gold_answers[i]]
    no_ans = [i for i in every if not gold_answers[i]]
    if has_ans:
        result.update(block(has_ans, "has_ans_"))
    if no_ans:
        result.update(block(no_ans, "no_ans_"))
    return result
