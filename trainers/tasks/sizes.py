"""How many examples each benchmark task's splits hold, for cost estimates before any data is on the
machine (``sweep estimate``). Where the data is present, its files are counted instead.

Sizes are the datasets' own published ones (their papers and dataset cards), rounded: ``train`` for the
(English, or default) training set, ``dev`` and ``test`` for one language's set, a typical language's
where they differ (UD-POS, PAN-X, MLQA, TyDiQA). Retrieval tasks count the sentences embedded per
language (both sides of a pair, or a candidate pool once). ``choices`` is the sequences one example is
(multiple choice encodes each choice with its context).
"""

from __future__ import annotations

from typing import Any

#: task -> role -> examples (per language for dev and test); "choices": sequences per example.
SIZES: dict[str, dict[str, Any]] = {
    # English intermediate tasks
    "mnli": {"train": 392_702, "dev": 9_815},
    "anli_plus": {"train": 1_105_719, "dev": 3_200},  # ANLI rounds 1-3 with MNLI and SNLI (jiant's anli_plus)
    "qqp": {"train": 363_846, "dev": 40_430},
    "squad": {"train": 87_599, "dev": 10_570},
    "squad_v2": {"train": 130_319, "dev": 11_873},
    "hellaswag": {"train": 39_905, "dev": 10_042, "choices": 4},
    "commonsense_qa": {"train": 9_741, "dev": 1_221, "choices": 5},
    "cosmos_qa": {"train": 25_262, "dev": 2_985, "choices": 4},
    "siqa": {"train": 33_410, "dev": 1_954, "choices": 3},
    "copa": {"train": 400, "dev": 100, "choices": 2},
    "ccg": {"train": 38_015, "dev": 1_913},
    "snli": {"train": 550_152, "dev": 9_842},
    "anli": {"train": 162_865, "dev": 3_200},  # rounds 1-3
    # XTREME / XTREME-R targets (translated training sets have the English set's size)
    "xnli": {"train": 392_702, "dev": 2_490, "test": 5_010},
    "pawsx": {"train": 49_401, "dev": 2_000, "test": 2_000},
    "xcopa": {"train": 400, "dev": 100, "test": 500, "choices": 2},
    "udpos": {"train": 21_253, "dev": 1_500, "test": 2_000},
    "panx": {"train": 20_000, "dev": 5_000, "test": 5_000},
    "xquad": {"train": 87_599, "test": 1_190},
    "mlqa": {"train": 87_599, "dev": 500, "test": 5_000},
    "mlqa_translate_train": {"train": 80_000, "dev": 500},  # SQuAD machine-translated, per language
    "xcopa_fewshot": {"train": 100, "dev": 100, "choices": 2},  # XCOPA's validation set, trained on
    "tydiqa": {"train": 3_696, "dev": 440, "test": 700},
    "tatoeba": {"test": 2_000},  # 1,000 pairs: both sides embedded
    "bucc2018": {"dev": 40_000, "test": 400_000},  # the sentences of both corpora (test: ~200,000 a side)
    "lareqa": {"test": 2_400},  # XQuAD-R: 1,190 questions and ~1,200 answer sentences
    "mewslix": {"dev": 2_500, "test": 1_000_000},  # the 1M-entity candidate pool dominates
}


def size_of(task: str, role: str) -> int | None:
    """The registry's size of ``task``'s ``role`` split (per language for dev and test), or None."""
    entry = SIZES.get(task, {})
    return entry.get(role)


def choices_of(task: str) -> int:
    """Sequences per example (multiple choice: one per choice)."""
    return int(SIZES.get(task, {}).get("choices", 1))
