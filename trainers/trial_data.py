"""The data of one trial: each source's training features and every (task, split, language) it scores,
from the feature cache where an earlier trial made them."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from trainers import cache as feature_cache
from trainers import data as data_lib
from trainers import kinds
from trainers.spec import SourceSpec, TrialSpec
from trainers.tasks import Task, eval_split, get_task

#: (task, role, language) -> (examples, features)
Evals = dict[tuple[str, str, str], tuple[list, Any]]


def prepare(
    data_task: Task,
    *,
    spec: TrialSpec,
    kind: str,
    tokenizer: Any,
    data_dir: Path,
    languages: tuple[str, ...],
    role: str,
    train: bool,
    limit: int | None,
) -> tuple[list, Any]:
    """Examples and features of one split in one or more languages (concatenated, in that order),
    from the feature cache when an earlier trial made them.

    Training drops examples without a gold label (SNLI's -1) before keeping the first ``limit`` of
    each language, so a capped smoke run still sees every language.
    """

    def compute() -> tuple[list, Any]:
        examples = []
        for language in languages:
            part = data_lib.load_examples(data_task, language=language, role=role, data_dir=data_dir)
            if train:
                part = [e for e in part if getattr(e, "label", 0) >= 0]
            examples.extend(part[:limit])
        return examples, kinds.featurize(
            kind, examples, tokenizer=tokenizer, max_length=spec.model.max_length, train=train
        )

    source = spec.model.tokenizer or spec.model.path or ""
    key = {
        "tokenizer": feature_cache.tokenizer_fingerprint(source),
        "task": data_task.name,
        "kind": kind,
        "language": "+".join(languages),
        "role": role,
        "train": train,
        "limit": limit,
        "max_length": spec.model.max_length,
        "data": feature_cache.files_fingerprint(
            [
                path
                for language in languages
                for path in data_lib.split_paths(data_task, language=language, role=role, data_dir=data_dir)
            ]
        ),
    }
    return feature_cache.cached(key, compute, cache_dir=spec.training.feature_cache)


def training_features(
    sources: Sequence[SourceSpec], tasks: dict[str, Task], *, spec: TrialSpec, tokenizer: Any, data_dir: Path
) -> list[Any]:
    """Each source's training features, in source order."""
    return [
        prepare(
            get_task(source.train_task),
            spec=spec,
            kind=tasks[source.task].kind,
            tokenizer=tokenizer,
            data_dir=data_dir,
            languages=source.languages,
            role="train",
            train=True,
            limit=spec.training.max_train_examples,
        )[1]
        for source in sources
    ]


def evaluation_sets(
    sources: Sequence[SourceSpec],
    tasks: dict[str, Task],
    *,
    spec: TrialSpec,
    tokenizer: Any,
    data_dir: Path,
    limit: int | None,
    roles: Sequence[str],
) -> Evals:
    """What each evaluation scores, keyed (task, role, language).

    A target scores its task in the evaluation languages, and on dev also in its training languages where
    the task has no data in them (XCOPA selects on COPA's English dev); an intermediate mixture scores each
    source's task on the dev sets of the languages that source trains in. A source's ``dev_task`` replaces
    the task's own dev set in its languages.
    """
    wanted: list[tuple[Task, str, str]] = []
    if not spec.scores_by_task:
        task = tasks[spec.task]
        training = tuple(dict.fromkeys(lang for source in sources for lang in source.languages))
        for role in roles:
            extra = tuple(lang for lang in training if role == "dev" and lang not in spec.eval_languages)
            wanted.extend((task, role, language) for language in (*spec.eval_languages, *extra))
    else:
        for source in sources:
            wanted.extend((tasks[source.task], role, language) for role in roles for language in source.languages)
    # A regime's data may select on another task's dev sets (XCOPA in-language: 20% of its validation set).
    dev_tasks = {(s.task, lang): get_task(s.dev_task) for s in sources if s.dev_task for lang in s.languages}
    evals: Evals = {}
    for task, role, language in wanted:
        dev_task = dev_tasks.get((task.name, language)) if role == "dev" else None
        where = (dev_task, "dev") if dev_task is not None else eval_split(task, role=role, language=language)
        if where is None or (task.name, role, language) in evals:
            continue
        evals[(task.name, role, language)] = prepare(
            where[0],
            spec=spec,
            kind=task.kind,
            tokenizer=tokenizer,
            data_dir=data_dir,
            languages=(language,),
            role=where[1],
            train=False,
            limit=limit,
        )
    return evals
