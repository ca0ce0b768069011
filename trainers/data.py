"""Loading task data, from a local mirror in the Hugging Face layout or from the hub, as examples.

A mirror is a folder of ``<mirror>/<split>.jsonl`` (or ``.parquet``) files whose records have the
hub dataset's own field names; ``Source.mirror_for`` names the folder for a language. The readers
in ``trainers.readers`` turn records into canonical examples.
"""

from __future__ import annotations

import dataclasses
import json
import re
from collections.abc import Sequence
from pathlib import Path

from trainers.errors import DataError
from trainers.fileio import read_records, write_atomic
from trainers.readers import READERS
from trainers.release import official_paths, read_official
from trainers.tasks import Source, Task


def mirror_source(task: Task, *, language: str, data_dir: Path) -> Source:
    """The first source of ``task`` whose mirror folder for ``language`` exists under ``data_dir``."""
    task.check_language(language)
    for source in task.sources:
        if (Path(data_dir) / source.mirror_for(language)).is_dir():
            return source
    expected = " or ".join(str(Path(data_dir) / s.mirror_for(language)) for s in task.sources)
    raise DataError(
        f"no data for task `{task.name}` in `{language}`: expected a folder {expected}; point data_dir "
        f"at a local mirror that has it (`sweep data mirror {task.name}` writes one)"
    )


_SLICE = re.compile(r"(?P<name>[^\[\]]+)(?:\[(?:(?P<start>\d{1,3})%)?:(?:(?P<end>\d{1,3})%)?\])?")


def parse_split(split: str) -> tuple[str, int, int]:
    """A split name and the percent range of it a role uses, as in the hub's slicing syntax.

    Where a dataset publishes no dev set (TyDiQA-GoldP), a task holds one out of its training split:
    ``train[:90%]`` trains and ``train[90%:]`` selects, per language, in file order.

    >>> parse_split("train[90%:]"), parse_split("validation")
    (('train', 90, 100), ('validation', 0, 100))
    """
    match = _SLICE.fullmatch(split)
    if match is None:
        raise ValueError(f"split {split!r} is not a name or a name[a%:b%] slice")
    start, end = int(match["start"] or 0), int(match["end"] or 100)
    if not 0 <= start < end <= 100:
        raise ValueError(f"split {split!r}: the slice must satisfy 0 <= start < end <= 100")
    return match["name"], start, end


ROLES = ("train", "dev", "test")


def resolve_role(task: Task, split: str) -> str:
    """The role (train, dev or test) that ``split`` names for ``task``: a role itself, or the hub's name of
    the split that role reads (``validation`` is XNLI's dev, but XQuAD's and Tatoeba's test).

    >>> from trainers.tasks import get_task
    >>> resolve_role(get_task("xquad"), "validation"), resolve_role(get_task("xnli"), "validation")
    ('test', 'dev')
    """
    if split in ROLES:
        return split
    source = task.source
    roles = [role for role in source.splits if split in _split_names(source, role)]
    roles = roles or [
        role for role in source.splits if split in {parse_split(n)[0] for n in _split_names(source, role)}
    ]
    if len(roles) == 1:
        return roles[0]
    reads = ", ".join(f"{role} reads {' + '.join(_split_names(source, role))}" for role in source.splits)
    if roles:
        raise DataError(
            f"split `{split}` of task `{task.name}` is cut into several roles ({reads}); name the role instead"
        )
    raise DataError(f"task `{task.name}` has no split `{split}`; name a role or the hub's split: {reads}")


def _split_names(source: Source, role: str) -> tuple[str, ...]:
    names = source.splits[role]
    return (names,) if isinstance(names, str) else tuple(names)


def _cut(records: list[dict], start: int, end: int) -> list[dict]:
    return records[len(records) * start // 100 : len(records) * end // 100]


def split_paths(task: Task, *, language: str, role: str, data_dir: Path) -> list[Path]:
    """The file(s) holding ``task``'s ``role`` split in ``language`` in a local mirror."""
    if task.source.files:  # the benchmark's own release files (BUCC, LAReQA, Mewsli-X)
        return official_paths(task, language=language, role=role, data_dir=data_dir)
    source = mirror_source(task, language=language, data_dir=data_dir)
    if role not in source.splits:
        raise DataError(
            f"task `{task.name}` has no {role} split in source {source.hub or source.mirror} "
            f"(it has: {', '.join(source.splits)})"
        )
    folder = Path(data_dir) / source.mirror_for(language)
    paths = []
    for split in (parse_split(name)[0] for name in _split_names(source, role)):
        found = [
            folder / f"{split}{suffix}" for suffix in (".jsonl", ".parquet") if (folder / f"{split}{suffix}").exists()
        ]
        if not found:
            raise DataError(
                f"no {role} data for task `{task.name}` in `{language}`: expected {folder / split}.jsonl "
                f"(or .parquet) under data_dir {data_dir}; point data_dir at a local mirror that has it"
            )
        paths.append(found[0])
    return paths


def load_records(task: Task, *, language: str, role: str, data_dir: Path | None) -> tuple[Source, list[dict]]:
    """The raw records of one split in the source's schema, with the source they came from.

    With ``data_dir`` the local mirror is read; without it the hub dataset is loaded (the
    ``datasets`` cache is used; nothing is downloaded when ``HF_DATASETS_OFFLINE=1``).
    """
    if data_dir is None:
        return task.source, _from_hub(task, language=language, role=role)
    source = mirror_source(task, language=language, data_dir=Path(data_dir))
    paths = split_paths(task, language=language, role=role, data_dir=Path(data_dir))
    records = []
    for name, path in zip(_split_names(source, role), paths, strict=True):
        _, start, end = parse_split(name)
        records.extend(_cut(_keep_language(source, read_records(path), language), start, end))
    if not records:
        files = ", ".join(map(str, paths))
        raise DataError(
            f"task `{task.name}` has no {role} records in `{language}` under {data_dir} ({files} holds none); mirror "
            f"the split again (`sweep data mirror {task.name}`) or point data_dir at a mirror that has it"
        )
    return source, records


def resolve_labels(task: Task, *, data_dir: Path | None) -> Task:
    """``task`` with its label set, which for a few tasks comes with the data rather than the
    registry: CCG's supertags are jiant's ``tags_to_id.json`` ({tag: index}) beside its splits."""
    if task.labels_file is None or task.labels:
        return task
    folder = task.source.mirror_for(task.train_language)
    if data_dir is None:
        raise DataError(f"task `{task.name}` has no hub copy; set data_dir to a mirror with {folder}/")
    path = Path(data_dir) / folder / task.labels_file
    if not path.is_file():
        raise DataError(
            f"task `{task.name}` needs its label set {path}: a JSON object mapping each label to its index "
            f"(jiant's tags_to_id.json for CCG); put it beside the task's split files"
        )
    try:
        mapping = json.loads(path.read_text(encoding="utf-8"))
        ordered = sorted(mapping.items(), key=lambda item: int(item[1]))
    except (ValueError, AttributeError, TypeError) as exc:
        raise DataError(f"{path} is not a JSON object mapping labels to integer indices ({exc})") from exc
    if [int(index) for _, index in ordered] != list(range(len(ordered))):
        raise DataError(f"{path}: the indices must be 0..{len(ordered) - 1}, each used once")
    return dataclasses.replace(task, labels=tuple(str(label) for label, _ in ordered))


def load_examples(task: Task, *, language: str, role: str, data_dir: Path | None, limit: int | None = None) -> list:
    """Canonical examples of one split, e.g. ``load_examples(get_task("xnli"), language="de", role="test",
    data_dir=Path("mirror"))``; ``limit`` keeps the first ones."""
    if task.source.files:
        return read_official(task, language=language, role=role, data_dir=data_dir)[:limit]
    source, records = load_records(task, language=language, role=role, data_dir=data_dir)
    task = resolve_labels(task, data_dir=data_dir)
    where = f"{task.name}/{language}/{role} ({source.mirror_for(language)})"
    return READERS[source.reader](task, records[:limit], where)


def write_mirror(task: Task, *, out: Path, languages: Sequence[str] | None = None) -> list[Path]:
    """Write ``task``'s hub data as a local mirror under ``out`` (needs internet or a warm hub cache).

    Every split of the default source is written for every language (or ``languages``), in the
    hub's own schema with class labels as their names, as ``<mirror>/<split>.jsonl``; files are
    written to a temporary name first, so an interrupted run leaves no half file behind.
    """
    source = task.source
    if source.files:
        raise DataError(f"task `{task.name}` has no hub copy to mirror; it reads its release files: {source.obtain}")
    written = []
    for language in languages or task.languages:
        task.check_language(language)
        folder = Path(out) / source.mirror_for(language)
        splits = {parse_split(name)[0]: None for role in source.splits for name in _split_names(source, role)}
        for split in splits:
            path = folder / f"{split}.jsonl"
            if path.exists():  # an all-language config (XNLI, TyDiQA) is written once
                continue
            rows = _hub_split(source, language=language, split=split)
            write_atomic(path, "".join(json.dumps(row, ensure_ascii=False) + "\n" for row in rows), durable=False)
            written.append(path)
    return written


def _keep_language(source: Source, records: list[dict], language: str) -> list[dict]:
    if source.language_field is None:
        return records
    code = source.code(language)
    field = source.language_field
    if field == "id":  # TyDiQA-GoldP: one config, the language is the id's prefix ("arabic-...")
        return [r for r in records if str(r.get("id", "")).startswith(f"{code}-")]
    return [r for r in records if r.get(field) == code]


def _from_hub(task: Task, *, language: str, role: str) -> list[dict]:
    source = task.source
    if role not in source.splits:
        raise DataError(f"task `{task.name}` has no {role} split (it has: {', '.join(source.splits)})")
    records = []
    for name in _split_names(source, role):
        split, start, end = parse_split(name)
        records.extend(
            _cut(_keep_language(source, _hub_split(source, language=language, split=split), language), start, end)
        )
    return records


def _hub_split(source: Source, *, language: str, split: str) -> list[dict]:
    """One hub split's rows, class labels written as their names (as a mirror stores them)."""
    if source.hub is None:
        raise DataError(
            f"{source.mirror_for(language)} has no public hub copy; set data_dir to a local mirror that has it"
        )
    try:
        import datasets
    except ImportError as exc:
        raise DataError("loading from the hub needs the `datasets` package: pip install datasets") from exc
    config = source.config_for(language)
    try:
        data = datasets.load_dataset(source.hub, config, split=split)
    except Exception as exc:  # network, missing config, offline cache miss: all surface here
        raise DataError(
            f"could not load {source.hub} config {config!r} split {split!r}: {exc}; without internet, "
            "use data_dir with a local mirror"
        ) from exc
    names_of = {k: f.names for k, f in data.features.items() if hasattr(f, "names")}
    return [
        {k: names_of[k][v] if k in names_of and isinstance(v, int) and v >= 0 else v for k, v in row.items()}
        for row in data
    ]
