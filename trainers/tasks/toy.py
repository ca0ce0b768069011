"""The toy tasks that ship with the project under ``data/toy``, for the quickstart and the tests.

They are written by the generator in ``trainers.toy`` (``python -m trainers.toy data/toy``); this table
is what the registry knows of them, as data. A test checks that the two agree (labels, schemas,
languages, splits).
"""

from __future__ import annotations

from trainers.tasks.records import RegimeData, Source, Task

#: The languages every toy target has evaluation data in; intermediate tasks are English only.
TOY_LANGUAGES: tuple[str, ...] = ("en", "de", "fr", "es", "sw")
TOY_INTERMEDIATE: tuple[str, ...] = ("toy_nli", "toy_topic")


def _toy_task(
    name: str,
    description: str,
    *,
    labels: tuple[str, ...],
    reader: str,
    kind: str = "classification",
    scorer: str = "accuracy",
    metric: str = "accuracy",
    regime: str | None = None,
) -> Task:
    intermediate = name in TOY_INTERMEDIATE
    splits = {"train": "train", "dev": "validation"}
    return Task(
        name=name,
        kind=kind,
        labels=labels,
        metric=metric,
        scorer=scorer,
        languages=("en",) if intermediate else TOY_LANGUAGES,
        benchmark="toy",
        sources=(
            Source(
                hub=None,
                config=None,
                mirror=f"{name}.{{lang}}",
                reader=reader,
                splits=splits if intermediate else {**splits, "test": "test"},
            ),
        ),
        description=description,
        # toy_order and toy_paws have training sets in every language (trainers.toy.data.TRANSLATED_TRAIN).
        regimes=()
        if regime is None
        else (RegimeData(regime=regime, train_task=name, dev_task=name, languages=TOY_LANGUAGES[1:]),),
    )


# Quantities are digits shared by every language, wrapped in language-specific words, so a tiny model
# with no multilingual pretraining can still transfer across languages (see trainers.toy.data).
TOY_TASKS: tuple[Task, ...] = (
    _toy_task(
        "toy_nli",
        "Toy NLI about quantities (intermediate task; English only).",
        labels=("entailment", "neutral", "contradiction"),  # XNLI / MNLI label order
        reader="toy_pair",
    ),
    _toy_task(
        "toy_topic",
        "Toy topic classification (intermediate task; English only).",
        labels=("food", "sport", "music", "travel"),
        reader="toy_single",
    ),
    _toy_task(
        "toy_paws",
        "Toy paraphrase: do both sentences state the same quantity? (target)",
        labels=("not_paraphrase", "paraphrase"),
        reader="toy_pair",
        regime="translate_train",
    ),
    _toy_task(
        "toy_order",
        "Toy comparison: is the first quantity larger than the second? (target)",
        labels=("not_larger", "larger"),
        reader="toy_pair",
        regime="in_language",
    ),
    _toy_task(
        "toy_qa",
        "Toy extractive QA: the quantity (number and thing) a context gives for a name (target, or intermediate).",
        labels=(),
        reader="squad",
        kind="qa",
        scorer="squad_v1",
        metric="em_f1_avg",
    ),
    _toy_task(
        "toy_ner",
        "Toy NER: names (PER) and quantities (QTY, number and thing) in IOB2 (target).",
        labels=("O", "B-PER", "B-QTY", "I-QTY"),
        reader="panx",
        kind="tagging",
        scorer="seqeval",
        metric="f1",
    ),
    _toy_task(
        "toy_choice",
        "Toy multiple choice: which of four rewordings keeps the quantity? (target)",
        labels=("0", "1", "2", "3"),
        reader="hellaswag",
        kind="multiple_choice",
        scorer="mc_accuracy",
        metric="accuracy",
    ),
)
