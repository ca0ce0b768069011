"""Intermediate entries that are mixtures: several tasks, or one task in several languages, trained
together on one encoder (``trainers.mixing``).

An entry of ``intermediate_tasks`` is a task reference (``mnli``, ``xnli@de``), a registered mixture
(``anli_plus``, ``xstilts_all``: ``sweep tasks`` lists them) or a name defined under ``mixtures:``::

    mixtures:
      qa_mix:                       # several tasks, one head each
        sources: [squad, {task: mlqa_translate_train@de, cap: 20000}]
        sampling: temperature
        temperature: 2
      xnli_en75_de25:               # one task, English and German at fixed shares
        task: xnli
        languages: {en: 0.75, de: 0.25}

The entry's name is what the results call it (``intermediate``, ``pair``); its composition is recorded in
the manifest and, with the sampling rate each source got, in the results (``sweep query --mixtures``).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from sweep.config.parse import parse_dataclass
from sweep.config.records import SweepConfig
from sweep.errors import suggest
from trainers.errors import TaskError
from trainers.spec import SAMPLINGS, MixtureSpec, SourceSpec
from trainers.tasks import REGISTERED_MIXTURES, TASKS, get_task, split_ref


@dataclass(frozen=True, kw_only=True)
class SourceConfig:
    """One source given as a mapping: a task reference with its weight, cap or head."""

    task: str
    weight: float | None = None  # sampling: weights
    cap: int | None = None  # sampled as if it had at most this many examples
    head: str | None = None  # sources naming one head share it; default: the task's own


@dataclass(frozen=True, kw_only=True)
class MixtureConfig:
    """A mixture defined in a config: ``sources`` (task references, mixtures or SourceConfig mappings),
    or ``task`` with ``languages`` shares."""

    sources: tuple[Any, ...] = ()
    task: str | None = None
    languages: dict[str, float] | None = None  # language -> share of the batches (sampling: weights)
    sampling: str | None = None  # proportional (default), temperature or weights (default with `languages`)
    temperature: float = 1.0
    cap: int | None = None  # every source's cap, unless it sets its own
    select: str = "mean"  # mean of the sources' dev scores, or one source task's


def is_mixture(config: SweepConfig, name: str) -> bool:
    """Whether intermediate entry ``name`` is a mixture (defined in the config, or registered)."""
    return name in config.mixtures or name in REGISTERED_MIXTURES


def mixture_spec(config: SweepConfig, name: str) -> MixtureSpec:
    """The mixture intermediate entry ``name`` trains; raises TaskError where it is not valid."""
    problems: list[str] = []
    spec = _resolve(config, name, problems)
    if problems or spec is None:
        raise TaskError("; ".join(problems) or f"`{name}` is not a mixture")
    return spec


def check_mixture(config: SweepConfig, name: str, problems: list[str]) -> MixtureSpec | None:
    """Append every problem of mixture ``name``; return it when it has none."""
    before = len(problems)
    spec = _resolve(config, name, problems)
    return spec if len(problems) == before else None


def composition(spec: MixtureSpec) -> dict[str, Any]:
    """The manifest's record of a mixture: its sources, sampling and selection."""
    return dataclasses.asdict(spec)


def _resolve(
    config: SweepConfig, name: str, problems: list[str], *, seen: tuple[str, ...] | None = None
) -> MixtureSpec | None:
    where = f"mixtures.{name}"
    seen = seen or (name,)
    if name in config.mixtures:
        if name in TASKS:
            problems.append(f"{where}: `{name}` is a task's name; give the mixture another")
            return None
        definition = parse_dataclass(MixtureConfig, config.mixtures[name], where=where, problems=problems)
        if definition is None:
            return None
        sources = _config_sources(config, definition, where=where, problems=problems, seen=seen)
        sampling = definition.sampling or ("weights" if definition.languages else "proportional")
        spec = MixtureSpec(
            sources=tuple(sources),
            sampling=sampling,
            temperature=definition.temperature,
            select=definition.select,
        )
    elif name in REGISTERED_MIXTURES:
        registered = REGISTERED_MIXTURES[name]
        where = f"registered mixture {name}"
        sources = []
        for ref in registered.sources:
            sources.extend(_expand(config, ref, where=where, problems=problems, seen=seen, head=registered.head))
        spec = MixtureSpec(
            sources=tuple(sources),
            sampling=registered.sampling,
            temperature=registered.temperature,
            select=registered.select,
        )
    else:
        return None
    _check(spec, where=where, problems=problems)
    return spec


def _config_sources(
    config: SweepConfig, definition: MixtureConfig, *, where: str, problems: list[str], seen: tuple[str, ...]
) -> list[SourceSpec]:
    if definition.task is not None or definition.languages is not None:
        if definition.sources:
            problems.append(f"{where}: give either `sources` or `task` with `languages`, not both")
            return []
        if definition.task is None or not definition.languages:
            problems.append(f"{where}: `task` and `languages` go together (e.g. task: xnli, languages: {{en: 0.75}})")
            return []
        try:
            task = get_task(definition.task)
        except TaskError as exc:
            problems.append(f"{where}.task: {exc}")
            return []
        sources = []
        for language, share in definition.languages.items():
            # The task's default language trains on its default data (XNLI's English: MNLI).
            ref = task.name if language == task.train_language else f"{task.name}@{language}"
            if not isinstance(share, (int, float)) or isinstance(share, bool):
                problems.append(f"{where}.languages.{language} must be a number (a share), got {share!r}")
                continue
            sources.extend(
                _expand(config, ref, where=where, problems=problems, seen=seen, weight=float(share), cap=definition.cap)
            )
        return sources
    if not definition.sources:
        problems.append(f"{where}: name its `sources` (task references or mixtures), or a `task` with `languages`")
        return []
    sources = []
    for i, item in enumerate(definition.sources):
        if isinstance(item, str):
            sources.extend(_expand(config, item, where=where, problems=problems, seen=seen, cap=definition.cap))
            continue
        source = parse_dataclass(SourceConfig, item, where=f"{where}.sources[{i}]", problems=problems)
        if source is None:
            continue
        sources.extend(
            _expand(
                config,
                source.task,
                where=where,
                problems=problems,
                seen=seen,
                head=source.head,
                weight=source.weight,
                cap=source.cap if source.cap is not None else definition.cap,
            )
        )
    return sources


def _expand(
    config: SweepConfig,
    ref: str,
    *,
    where: str,
    problems: list[str],
    seen: tuple[str, ...],
    head: str | None = None,
    weight: float | None = None,
    cap: int | None = None,
) -> list[SourceSpec]:
    """The sources of one reference: a task reference, or a mixture's sources (their heads kept)."""
    if ref in config.mixtures or ref in REGISTERED_MIXTURES:
        if ref in seen:
            problems.append(f"{where}: mixture `{ref}` contains itself ({' -> '.join((*seen, ref))})")
            return []
        if weight is not None:
            problems.append(f"{where}: `{ref}` is a mixture; give its sources weights, not the mixture")
            return []
        inner = _resolve(config, ref, problems, seen=(*seen, ref))
        if inner is None:
            return []
        # A source's own cap stands; the outer one applies to those that have none.
        return [
            dataclasses.replace(s, head=head or s.head, cap=s.cap if s.cap is not None else cap) for s in inner.sources
        ]
    try:
        name, languages = split_ref(ref)
    except TaskError as exc:
        known = sorted({*config.mixtures, *REGISTERED_MIXTURES})
        problems.append(f"{where}: {exc}{suggest(ref, known) if known else ''}")
        return []
    task = get_task(name)
    if languages is None:
        train_task, languages = task.train_task or task.name, (task.train_language,)
    else:
        train_task = task.name
    return [
        SourceSpec(
            task=task.name, languages=languages, train_task=train_task, head=head or task.name, weight=weight, cap=cap
        )
    ]


def _check(spec: MixtureSpec, *, where: str, problems: list[str]) -> None:
    from trainers.kinds import TRAINABLE_KINDS, num_outputs

    seen: dict[tuple[str, str], str] = {}
    for source in spec.sources:
        for language in source.languages:
            if (source.task, language) in seen:
                problems.append(
                    f"{where}: `{source.task}` in `{language}` is in the mixture twice; list each task and "
                    "language once"
                )
            seen[(source.task, language)] = source.head
        if source.cap is not None and source.cap < 1:
            problems.append(f"{where}: source `{source.label}` has cap {source.cap}; a cap is >= 1 examples")
    heads: dict[str, Any] = {}
    for source in spec.sources:
        task = get_task(source.task)
        if task.kind not in TRAINABLE_KINDS:
            problems.append(f"{where}: `{task.name}` is a {task.kind} task, which is evaluated, not trained")
            continue
        shape = (task.kind, num_outputs(task), task.labels)
        other = heads.setdefault(source.head, (task.name, shape))
        if other[1] != shape:
            problems.append(
                f"{where}: `{task.name}` ({task.kind}, {len(task.labels)} labels) and `{other[0]}` share head "
                f"`{source.head}` but differ in kind or labels; give them their own heads"
            )
    if spec.sampling not in SAMPLINGS:
        problems.append(
            f"{where}: sampling is `{spec.sampling}`{suggest(spec.sampling, SAMPLINGS)}; one of {SAMPLINGS}"
        )
    weighted = [s.label for s in spec.sources if s.weight is not None]
    if spec.sampling == "weights":
        bad = [s.label for s in spec.sources if s.weight is None or s.weight <= 0]
        if bad:
            problems.append(f"{where}: sampling is weights, but {', '.join(bad)} have no positive weight")
    elif weighted:
        problems.append(
            f"{where}: {', '.join(weighted)} have weights, which only `sampling: weights` uses (it is "
            f"{spec.sampling}); set sampling: weights or drop the weights"
        )
    if spec.sampling == "temperature" and not spec.temperature > 0:
        problems.append(f"{where}: temperature must be > 0, got {spec.temperature}")
    tasks = list(dict.fromkeys(s.task for s in spec.sources))
    if spec.select != "mean" and spec.select not in tasks:
        problems.append(
            f"{where}: select is `{spec.select}`{suggest(spec.select, tasks)}; select `mean` (of the sources' dev "
            f"scores) or one of its tasks: {', '.join(tasks)}"
        )


def describe(spec: MixtureSpec) -> str:
    """One line: ``snli+mnli+anli (proportional; select anli)``."""
    parts = []
    for source in spec.sources:
        extra = [f"w={source.weight:g}"] if source.weight is not None else []
        extra += [f"cap={source.cap}"] if source.cap is not None else []
        parts.append(source.label + (f"[{', '.join(extra)}]" if extra else ""))
    sampling = spec.sampling + (f" T={spec.temperature:g}" if spec.sampling == "temperature" else "")
    return f"{' + '.join(parts)} ({sampling}; select {spec.select})"


def mixtures_of(config: SweepConfig) -> Mapping[str, MixtureSpec]:
    """Every mixture among the config's intermediate entries, by name."""
    return {name: mixture_spec(config, name) for name in config.intermediate_tasks if is_mixture(config, name)}
