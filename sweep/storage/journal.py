"""Trial journal: every result a trial reports, appended to ``SWEEP_DIR/journal`` as it arrives.

The results store writes an attempt's rows only when the attempt ends; the journal is what
lets ``sweep resume`` rebuild those rows after the driver crashed mid-attempt.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from sweep.errors import ResultsError
from sweep.storage.results import safe_path_part
from trainers.fileio import fsync_dir


class TrialJournal:
    """Per-trial append-only JSON-lines files under ``root/<search>/<trial_id>.jsonl``.

    Contract:
    * Append-only: a record, once appended, is never rewritten; each line is fsynced before
      ``append`` returns, so a returned append survives a crash.
    * Torn writes: a crash during ``append`` can leave a partial last line. Reading ignores
      it, and the next ``append`` to that file cuts it off before writing.
    * Dedup on read: ``records`` keeps only the first record of each (attempt, step); a
      resumed trial may report steps again, and the first report is the recorded one.
    * One writer per trial file (the driver); readers may run at any time.

    Example::

        journal = TrialJournal(sweep_dir / "journal")
        journal.append(search="xnli", trial_id="a1b2_00000", record={"attempt": 0, "step": 1})
        journal.records(search="xnli", trial_id="a1b2_00000")  # [{"attempt": 0, "step": 1}]
    """

    def __init__(self, root: Path, *, publish: Callable[[Path], None] | None = None) -> None:
        self.root = Path(root)
        self.publish = publish  # copies each appended file to shared storage (``SweepDir.publish``)

    def path(self, *, search: str, trial_id: str) -> Path:
        """Return ``root/<search>/<trial_id>.jsonl``."""
        return self.root / safe_path_part(search, what="search") / f"{safe_path_part(trial_id, what='trial id')}.jsonl"

    def append(self, *, search: str, trial_id: str, record: Mapping[str, Any]) -> None:
        """Append ``record`` (with int ``attempt`` and ``step``) as one fsynced JSON line."""
        path = self.path(search=search, trial_id=trial_id)
        where = f"journal record for search {search!r} trial {trial_id!r}"
        _check_record(record, where=where)
        try:
            line = json.dumps(dict(record), sort_keys=True, separators=(",", ":"), allow_nan=True)
        except (TypeError, ValueError) as exc:
            raise ResultsError(
                f"{where} cannot be stored as JSON ({exc}); pass only str, numbers, bools, None, lists and dicts"
            ) from exc
        new_dir = not path.parent.exists()
        path.parent.mkdir(parents=True, exist_ok=True)
        new_file = not path.exists()
        with open(path, "a+b") as fh:
            _cut_torn_tail(fh)
            fh.write(line.encode() + b"\n")
            fh.flush()
            os.fsync(fh.fileno())
        if new_file:
            fsync_dir(path.parent)
        if new_dir:
            fsync_dir(path.parent.parent)
        if self.publish is not None:
            self.publish(path)  # the whole file: an object store has no append

    def records(self, *, search: str, trial_id: str) -> list[dict]:
        """Return the trial's records in order, first one of each (attempt, step) only."""
        path = self.path(search=search, trial_id=trial_id)
        try:
            lines = path.read_bytes().split(b"\n")
        except FileNotFoundError:
            return []
        numbered = [(n, line) for n, line in enumerate(lines, start=1) if line.strip()]
        seen: set[tuple[int, int]] = set()
        out: list[dict] = []
        for i, (number, line) in enumerate(numbered):
            try:
                record = json.loads(line)
                _check_record(record, where=f"line {number}")
            except (ValueError, ResultsError) as exc:
                if i == len(numbered) - 1:
                    break  # torn by a crash during append: that report was never recorded
                raise ResultsError(
                    f"trial journal {path} is damaged at line {number} ({exc}); move the file "
                    "aside to resume without it: the trial's rows already written under "
                    "results/ are unaffected"
                ) from exc
            key = (record["attempt"], record["step"])
            if key not in seen:
                seen.add(key)
                out.append(record)
        return out

    def trials(self, *, search: str) -> list[str]:
        """Return the ids of the trials of ``search`` that have a journal, sorted."""
        folder = self.root / safe_path_part(search, what="search")
        if not folder.is_dir():
            return []
        return sorted(p.stem for p in folder.glob("*.jsonl") if p.is_file() and not p.name.startswith("."))

    def searches(self) -> list[str]:
        """Return the names of the searches that have a journal folder, sorted."""
        if not self.root.is_dir():
            return []
        return sorted(p.name for p in self.root.iterdir() if p.is_dir() and not p.name.startswith((".", "_")))


def _check_record(record: Any, *, where: str) -> None:
    if not isinstance(record, Mapping):
        raise ResultsError(f"{where} is {type(record).__name__}, not a dict; pass a dict")
    for key in ("attempt", "step"):
        value = record.get(key)
        if not isinstance(value, int) or isinstance(value, bool):
            raise ResultsError(f"{where} has {key} {value!r}; give it an int {key}")


def _cut_torn_tail(fh: Any) -> None:
    # Appending after a torn line would glue the new record onto it and damage both, so the
    # fragment is cut off first. Only the last byte is read on the common path.
    size = fh.seek(0, os.SEEK_END)
    if size == 0:
        return
    fh.seek(size - 1)
    if fh.read(1) == b"\n":
        return
    fh.seek(0)
    data = fh.read()
    start = data.rfind(b"\n") + 1
    try:
        _check_record(json.loads(data[start:]), where="last line")
    except (ValueError, ResultsError):
        fh.truncate(start)
        return
    fh.write(b"\n")  # complete record that lost only its newline: keep it
