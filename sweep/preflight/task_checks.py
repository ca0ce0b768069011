"""The checks of a config against the task registry and the data folder: tasks, languages, mixtures,
regimes, and (with ``check_data``) every file the sweep will read. None starts Ray or loads a model.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from sweep.config.mixtures import check_mixture, is_mixture
from sweep.config.records import SweepConfig
from sweep.errors import suggest
from sweep.plan.searches import eval_languages, plan, regime_languages, regime_sources
from trainers.errors import DataError, TaskError
from trainers.languages import get_language
from trainers.tasks import (
    LANGUAGE_MARK,
    PER_LANGUAGE_REGIMES,
    REGIMES,
    eval_split,
    get_task,
    split_ref,
    training_data,
)


def check_tasks(config: SweepConfig, problems: list[str], *, check_data: bool) -> None:
    """Tasks, languages and, with ``check_data``, every file the sweep will read."""
    if not config.target_tasks:
        problems.append("target_tasks is empty; name at least one target task (`sweep tasks` lists them)")
    languages_ok = True
    for lang in config.languages:
        try:
            get_language(lang)
        except TaskError as exc:
            problems.append(f"languages: {exc}")
            languages_ok = False
    tasks = {}
    mixtures: dict[str, Any] = {}
    _check_mixture_names(config, problems)
    _check_regimes(config, problems)
    for key in ("intermediate_tasks", "target_tasks"):
        names = getattr(config, key)
        for name in sorted({n for n in names if names.count(n) > 1}):
            problems.append(f"{key}: `{name}` is listed twice; each task runs once")
        for name in names:
            try:
                # Intermediate tasks may name their training languages (xnli@de+fr); targets train in English.
                if key == "target_tasks" and LANGUAGE_MARK in name:
                    raise TaskError(
                        f"`{name}`: targets train on their English training set (zero-shot transfer); "
                        f"name training languages on intermediate tasks instead (intermediate_tasks: [{name}])"
                    )
                if key == "intermediate_tasks" and is_mixture(config, name):
                    if (mixture := check_mixture(config, name, problems)) is not None:
                        mixtures[name] = mixture
                    continue
                task_name = split_ref(name)[0] if key == "intermediate_tasks" else name
                tasks[(key, name)] = get_task(task_name)
            except TaskError as exc:
                problems.append(f"{key}: {exc}")
    if not config.languages:
        problems.append("languages is empty; name the evaluation languages (or `all`)")
    elif languages_ok:
        targets = [t for (key, _), t in tasks.items() if key == "target_tasks"]
        for lang in config.languages:
            if targets and not any(lang in t.languages for t in targets):
                problems.append(
                    f"language `{lang}` is in none of the target tasks "
                    f"({', '.join(t.name for t in targets)}); drop it from languages"
                )
        if config.search.select_on == "mean_dev":
            _validate_mean_dev(config, [t for t in targets if t.kind != "retrieval"], problems)
    for name, mixture in mixtures.items():  # the registry's part: a dev split to select each source on
        for source in mixture.sources:
            for lang in source.languages:
                if source.dev_task is None and eval_split(get_task(source.task), role="dev", language=lang) is None:
                    problems.append(f"mixture `{name}`: task `{source.task}` has no `{lang}` dev split to select on")
    data_dir = Path(config.data_dir)
    if not check_data:
        return
    if not data_dir.is_dir():
        problems.append(
            f"data_dir {data_dir} is not a folder; point it at a local mirror "
            "(<config>/<split>.jsonl files in the hub's layout)"
        )
        return
    from trainers.kinds import TRAINABLE_KINDS

    for (key, name), task in tasks.items():
        if task.kind == "retrieval" and key == "target_tasks":
            _validate_retrieval(config, name, data_dir=data_dir, problems=problems)
            continue
        if task.kind not in TRAINABLE_KINDS:
            problems.append(
                f"{key}: task `{name}` is a {task.kind} task, which is evaluated rather than trained; "
                f"sweeps train {', '.join(TRAINABLE_KINDS)} tasks"
            )
            continue
        train_task, train_languages = training_data(name)
        needs = [(train_task, lang, "train") for lang in train_languages]
        for lang in train_languages:
            if (dev := eval_split(task, role="dev", language=lang)) is None:
                problems.append(f"{key}: task `{name}` has no `{lang}` dev split to select trials on")
            else:
                needs.append((dev[0], lang, dev[1]))
        if key == "target_tasks":
            for lang in eval_languages(config, name):
                for role in ("dev", "test"):
                    if (where := eval_split(task, role=role, language=lang)) is not None:
                        needs.append((where[0], lang, where[1]))
        _check_files(needs, [task], data_dir=data_dir, problems=problems)
    _check_regime_files(config, data_dir=data_dir, problems=problems)
    for mixture in mixtures.values():
        needs = []
        for source in mixture.sources:
            task = get_task(source.task)
            needs.extend((get_task(source.train_task), lang, "train") for lang in source.languages)
            for lang in source.languages:
                if (dev := eval_split(task, role="dev", language=lang)) is not None:  # else reported above
                    needs.append((dev[0], lang, dev[1]))
        _check_files(needs, [get_task(s.task) for s in mixture.sources], data_dir=data_dir, problems=problems)


def _check_files(needs: list[Any], tasks: list[Any], *, data_dir: Path, problems: list[str]) -> None:
    """Every (task, language, role) split in ``needs`` exists under ``data_dir``; labels files too."""
    from trainers.data import resolve_labels, split_paths

    unique = {(t.name, lang, role): (t, lang, role) for t, lang, role in needs}
    for needed, lang, role in unique.values():
        try:
            split_paths(needed, language=lang, role=role, data_dir=data_dir)
        except (DataError, TaskError) as exc:
            if str(exc) not in problems:  # a missing folder fails its train and dev splits alike
                problems.append(str(exc))
    for task in {t.name: t for t in tasks}.values():
        if task.labels_file:
            try:
                resolve_labels(task, data_dir=data_dir)
            except DataError as exc:
                if str(exc) not in problems:
                    problems.append(str(exc))


def _check_regimes(config: SweepConfig, problems: list[str]) -> None:
    """``regimes`` names targets of the sweep and regimes each has data for."""

    for target, value in config.regimes.items():
        where = f"regimes.{target}"
        if target not in config.target_tasks:
            if not registered(target):  # a registered task the targets leave out: unused (``unused_notes``)
                problems.append(
                    f"{where}: `{target}` is neither one of target_tasks ({', '.join(config.target_tasks)}) nor a "
                    f"registered task, and regimes are set per target{suggest(target, config.target_tasks)}"
                )
            continue
        regimes = [value] if isinstance(value, str) else value
        if not isinstance(regimes, list) or not regimes or not all(isinstance(r, str) for r in regimes):
            problems.append(f"{where} must be a list of regimes ({', '.join(REGIMES)}), got {value!r}")
            continue
        if len(set(regimes)) != len(regimes):
            problems.append(f"{where} names a regime twice: {regimes}")
        try:
            task = get_task(target)
        except TaskError:
            continue  # reported with target_tasks
        for regime in regimes:
            if regime not in REGIMES:
                problems.append(
                    f"{where}: unknown regime `{regime}`{suggest(regime, REGIMES)}; regimes: {', '.join(REGIMES)}"
                )
                continue
            if regime == "zero_shot":
                continue
            has = [r.regime for r in task.regimes]
            if task.kind == "retrieval" or not has:
                problems.append(
                    f"{where}: `{target}` has no training data for {regime} (only zero_shot"
                    f"{'; retrieval targets are evaluated, never trained' if task.kind == 'retrieval' else ''}); "
                    "drop the regime"
                )
                continue
            if regime in PER_LANGUAGE_REGIMES and regime not in has:
                problems.append(
                    f"{where}: `{target}` has no {regime} data; it has {', '.join(has)}; use that or multilingual"
                )
                continue
            data = task.regime_data(regime if regime in has else has[0])
            if not regime_languages(config, target, data.regime):  # type: ignore[union-attr]
                lacking = [lang for lang in eval_languages(config, target) if lang != task.train_language]
                which = f"{', '.join(lacking)} lack it" if lacking else f"only {task.train_language} is evaluated"
                problems.append(
                    f"{where}: none of `{target}`'s evaluation languages has {data.regime} data ({which}); "  # type: ignore[union-attr]
                    f"it exists in {', '.join(data.languages)}: add some of them to languages"  # type: ignore[union-attr]
                )


def registered(name: str) -> bool:
    """Whether ``name`` is a registered task (or a language-narrowed one, ``xnli@de``)."""
    try:
        get_task(name)
    except (TaskError, TypeError, ValueError):
        return False
    return True


def unused_notes(config: SweepConfig) -> list[str]:
    """Per-target settings of registered tasks that ``target_tasks`` leaves out, as when a study is narrowed
    on the command line (``'target_tasks=[xnli]'``): unused, said so, never an error."""
    notes = []
    for section, targets in (("per_target", config.per_target), ("regimes", config.regimes)):
        unused = [t for t in targets if t not in config.target_tasks]
        if unused:
            notes.append(
                f"{section} sets {', '.join(unused)}, which target_tasks ({', '.join(config.target_tasks)}) "
                "leaves out: unused"
            )
    return notes


def regime_notes(config: SweepConfig) -> list[str]:
    """What `sweep validate` says of the config's targets: per-target settings left unused (``unused_notes``),
    and per-language regimes' evaluation languages without their data, which get no search of that regime
    (their rows come from the other regimes only)."""

    notes = unused_notes(config)
    for target in config.target_tasks:
        task = get_task(target)
        for regime in config.regimes_of(target):
            if regime in ("zero_shot",) or not task.regimes:
                continue
            data = task.regime_data(regime) or task.regimes[0]
            have = regime_languages(config, target, data.regime)
            lacking = [
                lang for lang in eval_languages(config, target) if lang not in have and lang != task.train_language
            ]
            if lacking:
                notes.append(
                    f"{target}[{regime}]: no {data.regime} data in {', '.join(lacking)}; "
                    + (
                        "those languages get no search of it"
                        if regime in PER_LANGUAGE_REGIMES
                        else "trained without them"
                    )
                )
    return notes


def _check_regime_files(config: SweepConfig, *, data_dir: Path, problems: list[str]) -> None:
    """The training and selection files of every regime search the plan makes."""

    if problems:  # the plan needs valid tasks and regimes
        return
    needs = []
    for search in plan(config):
        if search.phase != "target" or search.regime == "zero_shot":
            continue
        for source in regime_sources(config, search):
            for lang in source.languages:
                needs.append((get_task(source.train_task), lang, "train"))
                if source.dev_task:
                    needs.append((get_task(source.dev_task), lang, "dev"))
    _check_files(needs, [], data_dir=data_dir, problems=problems)


def _check_mixture_names(config: SweepConfig, problems: list[str]) -> None:
    """Every mixture defined is used, by an intermediate entry or inside another mixture."""
    used = set(config.intermediate_tasks)
    for definition in config.mixtures.values():
        if isinstance(definition, dict):
            for item in definition.get("sources") or ():
                used.add(item if isinstance(item, str) else item.get("task") if isinstance(item, dict) else None)
    for name in config.mixtures:
        if name not in used:
            problems.append(
                f"mixtures.{name} is defined but no intermediate entry uses it; add it to intermediate_tasks "
                "or remove it"
            )


def _validate_mean_dev(config: SweepConfig, targets: list[Any], problems: list[str]) -> None:
    """``mean_dev`` selects a target's trials on the mean of its dev scores in the evaluation languages,
    so each target needs a dev split in at least one of them."""
    for task in targets:
        languages = eval_languages(config, task.name)
        if languages and not any(eval_split(task, role="dev", language=lang) for lang in languages):
            with_dev = [lang for lang in task.languages if eval_split(task, role="dev", language=lang)]
            problems.append(
                f"search.select_on is mean_dev, but target `{task.name}` has no dev split in its evaluation "
                f"languages ({', '.join(languages)}); it has dev data in {', '.join(with_dev) or 'no language'}: "
                f"add one of those to languages, or select on english_dev"
            )


def _validate_retrieval(config: SweepConfig, name: str, *, data_dir: Path, problems: list[str]) -> None:
    """A retrieval target is evaluated after phase one, not trained: it needs an evaluator and every
    file that evaluator reads (BUCC's dev and test corpora; LAReQA's pool of all 11 languages)."""
    from trainers.data import split_paths
    from trainers.retrieval.evaluators import EVALUATORS, required_splits

    task = get_task(name)
    if name not in EVALUATORS:
        problems.append(f"target_tasks: retrieval task `{name}` has no evaluator; these do: {', '.join(EVALUATORS)}")
        return
    for lang, role in required_splits(task, eval_languages(config, name)):
        try:
            split_paths(task, language=lang, role=role, data_dir=data_dir)
        except (DataError, TaskError) as exc:
            problems.append(str(exc))
