"""The records a task is made of: what it is (``Task``) and where each language's data lives (``Source``).

Plain frozen data with no behaviour beyond reading its own fields; the tables under
``trainers.tasks`` list them and ``trainers.tasks`` registers them by name.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from trainers.errors import TaskError
from trainers.languages import get_language

KINDS = ("classification", "multiple_choice", "qa", "tagging", "retrieval")
#: How a target is trained: ``zero_shot`` on English data (the default); ``translate_train`` on the
#: machine-translated training set of each target language, ``in_language`` on each target language's own
#: training data (one model per language for both); ``multilingual`` on English and every target language's
#: data at once (one model).
REGIMES = ("zero_shot", "translate_train", "in_language", "multilingual")
PER_LANGUAGE_REGIMES = ("translate_train", "in_language")


@dataclass(frozen=True, kw_only=True)
class RegimeData:
    """Where a target's training and selection data for a regime other than zero-shot live."""

    regime: str  # translate_train or in_language
    train_task: str  # whose training split, in each language
    dev_task: str  # whose dev split selects, in each language (never one the training set overlaps)
    languages: tuple[str, ...]  # the target languages that have it


@dataclass(frozen=True, kw_only=True)
class Source:
    """Where a task's data lives: a hub dataset, and the same data in a local mirror.

    ``config`` and ``mirror`` are templates: ``{lang}`` is the XTREME language code and ``{code}``
    the dataset's own code for it (``codes``, e.g. ``deu`` for Tatoeba, ``German`` for UD).
    A mirror stores ``<data_dir>/<mirror>/<split>.jsonl`` (or ``.parquet``) in the hub's schema.
    A source with ``files`` is instead the benchmark's own release files (BUCC's corpora, XQuAD-R
    with sentence breaks, Mewsli-X), read by ``trainers.release``; such a task has no other source.
    """

    hub: str | None  # None: local files only (no public hub copy)
    config: str | None
    mirror: str
    reader: str  # a name in trainers.readers.READERS (trainers.release.OFFICIAL_READERS for files)
    splits: dict[str, str | tuple[str, ...]]  # role -> split name(s); several are concatenated
    codes: dict[str, str] = field(default_factory=dict)
    language_field: str | None = None  # all languages in one config: keep rows whose field equals the code
    files: tuple[str, ...] = ()  # official-format files under data_dir; templates with {lang}, {code}, {split}
    obtain: str = ""  # where such files come from, shown when they are missing

    def code(self, language: str) -> str:
        """The dataset's own code for ``language``."""
        return self.codes.get(language, language)

    def config_for(self, language: str) -> str | None:
        """The hub config holding ``language``."""
        return None if self.config is None else self.config.format(lang=language, code=self.code(language))

    def mirror_for(self, language: str) -> str:
        """The local-mirror folder holding ``language``."""
        return self.mirror.format(lang=language, code=self.code(language))


@dataclass(frozen=True, kw_only=True)
class Task:
    """One task: what it reads and predicts, how it is scored, and where its data lives."""

    name: str
    kind: str
    labels: tuple[str, ...]
    metric: str  # the headline metric, a key of what the scorer returns
    scorer: str  # a family in trainers.scoring.SCORERS
    languages: tuple[str, ...]
    sources: tuple[Source, ...]  # the first is the default; others are the same data in another schema
    train_language: str = "en"
    train_task: str | None = None  # a target trained on another task's English data (XNLI on MNLI)
    benchmark: str = ""  # xtreme, xtreme-r, intermediate, toy
    test_is_validation: bool = False  # the benchmark's test set is the hub's validation split
    description: str = ""
    labels_file: str | None = None  # labels come with the data: {label: index} JSON in the mirror folder (CCG)
    regimes: tuple[RegimeData, ...] = ()  # training data for regimes other than zero-shot

    def regime_data(self, regime: str) -> RegimeData | None:
        """The data of ``regime`` (translate_train or in_language), or None where the task has none."""
        return next((r for r in self.regimes if r.regime == regime), None)

    @property
    def source(self) -> Source:
        """The default source."""
        return self.sources[0]

    @property
    def num_labels(self) -> int:
        """Number of classes the task's head predicts (choices for multiple choice)."""
        return len(self.labels)

    def check_language(self, language: str) -> None:
        """Raise a TaskError unless ``language`` is a known code that this task covers."""
        get_language(language)
        if language not in self.languages:
            raise TaskError(
                f"task `{self.name}` has no data in `{language}`; its languages are {', '.join(self.languages)}"
            )
