"""The task registry: every task xstilts can train or evaluate, listed in one literal table.

A task is a small frozen record; the trainer reads what it needs (fields, labels, metric,
where each language's data lives) from it and nothing else.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from trainers.errors import TaskError
from trainers.languages import get_language, suggest

#: Split roles a task can have, mapped to the split names on the hub / in a local mirror.
SPLIT_ROLES = ("train", "dev", "test")


@dataclass(frozen=True, kw_only=True)
class Task:
    """One task: what it reads, what it predicts, how it is scored, and where its data lives.

    ``config`` is the per-language dataset config name, with ``{lang}`` replaced by the language
    code; files are read from ``<data_dir>/<config>/<split>.jsonl`` (the local-mirror layout).
    """

    name: str
    kind: str  # "classification": one text field = single sentence, two = sentence pair
    text_fields: tuple[str, ...]
    labels: tuple[str, ...]
    metric: str
    languages: tuple[str, ...]
    train_language: str = "en"
    config: str = "{name}.{lang}"
    splits: dict[str, str] = field(default_factory=lambda: {"train": "train", "dev": "validation", "test": "test"})
    description: str = ""

    def config_for(self, language: str) -> str:
        """Return the dataset config name holding ``language``'s data, e.g. ``toy_paws.de``."""
        self.check_language(language)
        return self.config.format(name=self.name, lang=language)

    def split_for(self, role: str) -> str:
        """Return the split name for ``role`` (train, dev or test), or raise if the task has none."""
        if role not in self.splits:
            raise TaskError(f"task `{self.name}` has no {role} split (it has: {', '.join(self.splits)})")
        return self.splits[role]

    def check_language(self, language: str) -> None:
        """Raise a TaskError unless ``language`` is a known code that this task covers."""
        get_language(language)
        if language not in self.languages:
            raise TaskError(
                f"task `{self.name}` has no data in `{language}`; its languages are {', '.join(self.languages)}"
            )

    @property
    def num_labels(self) -> int:
        """Number of classes the task's head predicts."""
        return len(self.labels)


def _toy_task(name: str, description: str) -> Task:
    from trainers import toydata

    intermediate = name in toydata.INTERMEDIATE_TASKS
    return Task(
        name=name,
        kind="classification",
        text_fields=toydata.TASK_FIELDS[name],
        labels=toydata.TASK_LABELS[name],
        metric="accuracy",
        languages=("en",) if intermediate else toydata.LANGUAGES,
        splits={"train": "train", "dev": "validation"}
        if intermediate
        else {"train": "train", "dev": "validation", "test": "test"},
        description=description,
    )


# Toy tasks ship with the project under data/toy (written by trainers/toydata.py): quantities are
# digits shared by every language, wrapped in language-specific words, so a tiny model with no
# multilingual pretraining can still transfer across languages.
TASKS: dict[str, Task] = {
    t.name: t
    for t in (
        _toy_task("toy_nli", "Toy NLI about quantities (intermediate task; English only)."),
        _toy_task("toy_topic", "Toy topic classification (intermediate task; English only)."),
        _toy_task("toy_paws", "Toy paraphrase: do both sentences state the same quantity? (target)"),
        _toy_task("toy_order", "Toy comparison: is the first quantity larger than the second? (target)"),
    )
}


def get_task(name: str) -> Task:
    """Return the registered task called ``name``, e.g. ``get_task("toy_paws").num_labels == 2``."""
    try:
        return TASKS[name]
    except KeyError:
        raise TaskError(
            f"unknown task `{name}`{suggest(name, TASKS)}; `sweep tasks` lists the known tasks "
            f"({', '.join(sorted(TASKS))})"
        ) from None
