"""The task registry: every task xstilts can train or evaluate, listed in literal tables.

A task is a small frozen record (``trainers.tasks.records``): what kind it is, its labels and scorer,
its languages, and where each language's data lives (``Source``); readers and the trainer take
everything from it. The tables are data: ``benchmarks`` (XTREME / XTREME-R targets and the X-STILTs
intermediate tasks) and ``toy`` (the tasks that ship under data/toy).
"""

from __future__ import annotations

from trainers.errors import TaskError, suggest
from trainers.tasks.benchmarks import BENCHMARK_TASKS
from trainers.tasks.mixtures import MIXTURES, Mixture
from trainers.tasks.records import KINDS, PER_LANGUAGE_REGIMES, REGIMES, RegimeData, Source, Task
from trainers.tasks.toy import TOY_TASKS

__all__ = [
    "KINDS",
    "PER_LANGUAGE_REGIMES",
    "REGIMES",
    "RegimeData",
    "LANGUAGE_MARK",
    "REGISTERED_MIXTURES",
    "Mixture",
    "TASKS",
    "Source",
    "Task",
    "eval_split",
    "get_task",
    "selection_languages",
    "split_ref",
    "training_data",
]


def eval_split(task: Task, *, role: str, language: str) -> tuple[Task, str] | None:
    """Which task's ``role`` split evaluates ``task`` in ``language``, or None where there is none.

    A target without its own English dev set (XQuAD) is selected on its training task's dev set
    (SQuAD's); languages without a dev split are evaluated on test only.
    """
    if language in task.languages and role in task.source.splits:
        return task, role
    if role == "dev" and language == task.train_language and task.train_task:
        train_task = TASKS[task.train_task]
        if "dev" in train_task.source.splits:
            return train_task, "dev"
    return None


LANGUAGE_MARK = "@"  # ``xnli@de+fr``: train on the task's own training data in these languages


def split_ref(ref: str) -> tuple[str, tuple[str, ...] | None]:
    """Split a task reference into its task name and training languages (None: the task's default).

    ``mnli`` trains on English; ``xnli@de`` on XNLI's (machine-translated) German training set;
    ``xnli@en+de+fr`` on the three concatenated; ``tydiqa@all`` on every language the task has.
    Raises TaskError for an unknown task or language, or a language the task does not cover.

    >>> split_ref("xnli@de+fr")
    ('xnli', ('de', 'fr'))
    """
    name, mark, spec = ref.partition(LANGUAGE_MARK)
    task = get_task(name)
    if not mark:
        return name, None
    if spec == "all":
        return name, task.languages
    languages = tuple(spec.split("+"))
    if not spec or "" in languages:
        raise TaskError(
            f"task reference `{ref}` names no language after `{LANGUAGE_MARK}`; write e.g. "
            f"`{name}{LANGUAGE_MARK}{task.languages[0]}`, `{name}{LANGUAGE_MARK}de+fr` or `{name}{LANGUAGE_MARK}all`"
        )
    if len(set(languages)) != len(languages):
        raise TaskError(f"task reference `{ref}` names a language twice")
    for language in languages:
        task.check_language(language)
    return name, languages


def training_data(ref: str) -> tuple[Task, tuple[str, ...]]:
    """Whose training split a search on ``ref`` trains on, and in which languages.

    Without languages a task trains on its default English training set (XNLI on MNLI, XQuAD
    on SQuAD); with them, on its own training split in each language (XNLI's translated train).
    """
    name, languages = split_ref(ref)
    task = get_task(name)
    if languages is None:
        return (get_task(task.train_task) if task.train_task else task), (task.train_language,)
    return task, languages


def selection_languages(ref: str) -> tuple[str, ...]:
    """The languages whose dev sets select the trials of a search on ``ref``: those it trains in."""
    name, languages = split_ref(ref)
    return languages if languages is not None else (get_task(name).train_language,)


def _registry() -> dict[str, Task]:
    tasks = {}
    for task in (*TOY_TASKS, *BENCHMARK_TASKS):
        if task.name in tasks:
            raise RuntimeError(f"task `{task.name}` is registered twice")
        if task.kind not in KINDS:
            raise RuntimeError(f"task `{task.name}` has unknown kind {task.kind!r}; kinds: {', '.join(KINDS)}")
        tasks[task.name] = task
    for task in tasks.values():
        for data in task.regimes:
            for other in (data.train_task, data.dev_task):
                missing = set(data.languages) - set(tasks[other].languages) if other in tasks else {"(task)"}
                if missing or data.regime not in PER_LANGUAGE_REGIMES:
                    raise RuntimeError(f"task `{task.name}`'s {data.regime} data in `{other}` lacks {sorted(missing)}")
    return tasks


TASKS: dict[str, Task] = _registry()


def get_task(name: str) -> Task:
    """Return the registered task called ``name``, e.g. ``get_task("xnli").num_labels == 3``."""
    try:
        return TASKS[name]
    except KeyError:
        raise TaskError(
            f"unknown task `{name}`{suggest(name, TASKS)}; `sweep tasks` lists the known tasks "
            f"({', '.join(sorted(TASKS))})"
        ) from None


def _mixtures() -> dict[str, Mixture]:
    table = {}
    for mixture in MIXTURES:
        if mixture.name in table or mixture.name in TASKS:
            raise RuntimeError(f"mixture `{mixture.name}` is registered twice, or as a task too")
        table[mixture.name] = mixture
    return table


REGISTERED_MIXTURES: dict[str, Mixture] = _mixtures()
