"""Reading task data from a local mirror in the Hugging Face layout, and turning it into tensors.

A mirror is a folder of ``<config>/<split>.jsonl`` (or ``.parquet``) files whose records have the
hub dataset's own field names; ``Task.config_for`` names the config folder for a language.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from trainers.errors import DataError
from trainers.tasks import Task


@dataclass(frozen=True)
class Encoded:
    """A tokenized split: token ids (unpadded lists) and label indices, in file order."""

    input_ids: list[list[int]]
    labels: list[int]

    def __len__(self) -> int:
        return len(self.labels)


def split_path(task: Task, *, language: str, role: str, data_dir: Path) -> Path:
    """Return the file holding ``task``'s ``role`` split in ``language`` (``.jsonl`` preferred)."""
    folder = Path(data_dir) / task.config_for(language)
    split = task.split_for(role)
    for suffix in (".jsonl", ".parquet"):
        candidate = folder / f"{split}{suffix}"
        if candidate.exists():
            return candidate
    raise DataError(
        f"no {role} data for task `{task.name}` in `{language}`: expected {folder / split}.jsonl "
        f"(or .parquet) under data_dir {data_dir}; point data_dir at a local mirror that has it"
    )


def load_records(task: Task, *, language: str, role: str, data_dir: Path) -> list[dict[str, Any]]:
    """Read the records of one split and check that each has the fields the task reads."""
    path = split_path(task, language=language, role=role, data_dir=data_dir)
    if path.suffix == ".parquet":
        import pyarrow.parquet as pq

        try:
            records = pq.read_table(path).to_pylist()
        except Exception as exc:  # pyarrow raises several types for damaged files
            raise DataError(f"cannot read {path}: {exc}; replace it with a valid Parquet file") from exc
    else:
        records = []
        with path.open(encoding="utf-8") as f:
            for number, line in enumerate(f, start=1):
                if not line.strip():
                    continue
                try:
                    records.append(json.loads(line))
                except json.JSONDecodeError as exc:
                    raise DataError(
                        f"{path} line {number} is not valid JSON ({exc.msg}); each line must be "
                        "one record in the hub's schema"
                    ) from exc
    if not records:
        raise DataError(f"{path} holds no records; task `{task.name}` needs at least one {role} example")
    needed = (*task.text_fields, "label")
    for number, record in enumerate(records, start=1):
        missing = [name for name in needed if name not in record]
        if missing:
            raise DataError(
                f"{path} record {number} lacks field(s) {', '.join(missing)} that task "
                f"`{task.name}` reads (it has: {', '.join(sorted(record))})"
            )
    return records


def label_index(task: Task, value: Any, *, where: str) -> int:
    """Map a label written as its class name (or as a class index) to the class index."""
    if isinstance(value, bool) or not isinstance(value, (int, str)):
        raise DataError(f"{where}: label {value!r} is neither a class name nor an index of {task.labels}")
    if isinstance(value, int):
        if 0 <= value < task.num_labels:
            return value
    elif value in task.labels:
        return task.labels.index(value)
    raise DataError(f"{where}: label {value!r} is not one of task `{task.name}`'s labels {task.labels}")


def encode(task: Task, records: list[dict[str, Any]], *, tokenizer: Any, max_length: int, where: str) -> Encoded:
    """Tokenize records (single sentences or pairs, truncated to ``max_length``) and index labels."""
    columns = [[str(r[name]) for r in records] for name in task.text_fields]
    batch = tokenizer(*columns, truncation=True, max_length=max_length)
    labels = [label_index(task, r["label"], where=f"{where} record {i + 1}") for i, r in enumerate(records)]
    return Encoded(input_ids=[list(ids) for ids in batch["input_ids"]], labels=labels)


def batches(data: Encoded, *, order: list[int], batch_size: int, pad_id: int) -> Any:
    """Yield padded ``(input_ids, attention_mask, labels)`` tensors over ``order`` in batch-size steps."""
    import torch

    for start in range(0, len(order), batch_size):
        index = order[start : start + batch_size]
        width = max(len(data.input_ids[i]) for i in index)
        ids = torch.full((len(index), width), pad_id, dtype=torch.long)
        mask = torch.zeros((len(index), width), dtype=torch.long)
        for row, i in enumerate(index):
            seq = data.input_ids[i]
            ids[row, : len(seq)] = torch.tensor(seq, dtype=torch.long)
            mask[row, : len(seq)] = 1
        yield ids, mask, torch.tensor([data.labels[i] for i in index], dtype=torch.long)
