"""The searches a sweep runs: one per intermediate task, and one per (intermediate, target, regime) pair.

A target trains zero-shot (English data) unless the config's ``regimes`` name others for it; each regime
is a pair of its own, and a per-language regime (translate_train, in_language) is one search per target
language, each training and selecting in that language.

Stage one trains each intermediate task once; its best checkpoint is the starting point of every
pair that names it, so it is never retrained per target. Baseline pairs (``none``) start from the
pretrained model. The plan's order is the order in which searches are offered slots; what may run
at once is decided by what each search ``needs`` (``sweep.plan.study``).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import TYPE_CHECKING

from trainers.errors import TaskError
from trainers.spec import SourceSpec
from trainers.tasks import PER_LANGUAGE_REGIMES, get_task

if TYPE_CHECKING:  # annotations only: reading a sweep's results needs no config records
    from sweep.config.records import SweepConfig

NONE = "none"  # the intermediate task of a baseline pair
ZERO_SHOT = "zero_shot"  # the default regime: targets train on English data
SEEDS_SUFFIX = ".seeds"  # a pair's seeds search: ``target-mnli-xnli.seeds``
RETRIEVAL_TRIAL = "retrieval"  # the trial id of a retrieval evaluation in sweeps of manifest version 1


@dataclass(frozen=True, kw_only=True)
class Search:
    """One Ray Tune search of the sweep."""

    id: str  # stable name: the Tune experiment folder and the results/journal subfolder
    phase: str  # intermediate | target
    intermediate: str  # task name, or "none" for a baseline pair
    target: str | None  # None in the intermediate phase
    regime: str = ZERO_SHOT  # how the target trains (trainers.tasks.REGIMES)
    language: str | None = None  # the one target language of a per-language regime's search
    rerun_of: str | None = None  # a seeds search: re-runs this search's best configuration, once per seed
    model: str | None = None  # the model, in a study of several (``sweep.config.models``); None: the only one

    @property
    def encoder_key(self) -> str:
        """Whose stage-one encoder a pair starts from (the name of its folder under ``encoders/``)."""
        return self.intermediate if self.model is None else f"{self.model}.{self.intermediate}"

    @property
    def pair(self) -> str:
        """Human-readable pair label: ``mnli`` for stage one, ``mnli->xnli`` / ``none->xnli`` for stage two,
        ``mnli->xnli[translate_train]`` for a regime other than zero-shot (all its languages' searches)."""
        if self.target is None:
            return self.intermediate
        regime = "" if self.regime == ZERO_SHOT else f"[{self.regime}]"
        return f"{self.intermediate}->{self.target}{regime}"

    @property
    def task(self) -> str:
        """The task this search trains."""
        return self.intermediate if self.target is None else self.target

    @property
    def needs(self) -> str | None:
        """The search whose end this one waits for: a pair needs its intermediate task's stage-one
        search (for the encoder it exports); stage one and the baselines need nothing."""
        if self.rerun_of is not None:
            return self.rerun_of
        if self.target is None or self.intermediate == NONE:
            return None
        return stage_one_id(self.intermediate, model=self.model)


def is_evaluation(search: Search) -> bool:
    """Whether ``search`` evaluates a retrieval target (one evaluation, no training)."""
    return search.target is not None and get_task(search.target).kind == "retrieval"


def eval_languages(config: SweepConfig, task: str) -> tuple[str, ...]:
    """The configured languages that target ``task`` has data in, in config order."""
    return tuple(lang for lang in config.languages if lang in get_task(task).languages)


def stage_one_id(task: str, *, model: str | None = None) -> str:
    """The id of intermediate task ``task``'s stage-one search (of ``model``, in a study of several)."""
    return f"intermediate-{task}" if model is None else f"{model}.intermediate-{task}"


def plan(config: SweepConfig) -> list[Search]:
    """Return every search of ``config`` in the order they run (stage one first); with several models,
    each model's searches, their ids prefixed with its name, model after model."""
    if not config.models:
        return _plan_one(config)
    searches = []
    for name in config.model_names():
        for search in _plan_one(config.for_model(name)):
            rerun = None if search.rerun_of is None else f"{name}.{search.rerun_of}"
            searches.append(dataclasses.replace(search, id=f"{name}.{search.id}", model=name, rerun_of=rerun))
    return searches


def _plan_one(config: SweepConfig) -> list[Search]:
    searches = [
        Search(id=stage_one_id(task), phase="intermediate", intermediate=task, target=None)
        for task in config.intermediate_tasks
    ]
    starts = ([NONE] if config.baseline else []) + list(config.intermediate_tasks)
    for target in config.target_tasks:
        for regime in config.regimes_of(target):
            for start in starts:
                searches.extend(_pair_searches(config, start=start, target=target, regime=regime))
    if config.seeds:
        # Each trained pair's best configuration again with every training seed (head init and data order):
        # what tells a difference between two pairs from noise. Retrieval evaluations train nothing.
        searches.extend(
            dataclasses.replace(search, id=f"{search.id}{SEEDS_SUFFIX}", rerun_of=search.id)
            for search in list(searches)
            if search.phase == "target" and get_task(search.target).kind != "retrieval"  # type: ignore[arg-type]
        )
    return searches


def _pair_searches(config: SweepConfig, *, start: str, target: str, regime: str) -> list[Search]:
    """A pair's search; or, for a per-language regime, one per evaluation language that has its data."""
    base = f"target-{start}-{target}"
    if regime == ZERO_SHOT:
        return [Search(id=base, phase="target", intermediate=start, target=target)]
    if regime not in PER_LANGUAGE_REGIMES:
        return [Search(id=f"{base}.{regime}", phase="target", intermediate=start, target=target, regime=regime)]
    return [
        Search(
            id=f"{base}.{regime}.{language}",
            phase="target",
            intermediate=start,
            target=target,
            regime=regime,
            language=language,
        )
        for language in regime_languages(config, target, regime)
    ]


def regime_languages(config: SweepConfig, target: str, regime: str) -> tuple[str, ...]:
    """The evaluation languages of ``target`` that have ``regime``'s training data, in config order."""
    data = get_task(target).regime_data(regime)
    return () if data is None else tuple(lang for lang in eval_languages(config, target) if lang in data.languages)


def regime_sources(config: SweepConfig, search: Search) -> tuple[SourceSpec, ...]:
    """What a pair of a regime other than zero-shot trains on: its target language's data, or (multilingual)
    the English training set and every evaluation language's data, concatenated."""
    task = get_task(search.target)
    data = task.regime_data(search.regime) or next(
        (d for regime in PER_LANGUAGE_REGIMES if (d := task.regime_data(regime)) is not None), None
    )
    if data is None:
        raise TaskError(f"target `{task.name}` has no {search.regime} data")  # validation refuses it first
    languages = (search.language,) if search.language else regime_languages(config, task.name, data.regime)

    def source(language: str) -> SourceSpec:
        return SourceSpec(
            task=task.name, languages=(language,), train_task=data.train_task, head=task.name, dev_task=data.dev_task
        )

    out = tuple(source(language) for language in languages)
    if search.language is None:  # multilingual: English too, as zero-shot trains on it
        english = SourceSpec(
            task=task.name,
            languages=(task.train_language,),
            train_task=task.train_task or task.name,
            head=task.name,
        )
        out = (english, *out)
    return out
