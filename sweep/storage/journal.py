"""Trial journal: every result a trial reports, appended to ``SWEEP_DIR/journal`` as it arrives.

The results store writes an attempt's rows only when the attempt ends; the journal is what
lets ``sweep resume`` rebuild those rows after the driver crashed mid-attempt.

On shared storage (an object store, which cannot append) each append is published as an object of its own,
``journal/<search>/<trial>.parts/<offset>.jsonl`` holding the bytes the append added at that byte offset of
the trial's file; when an attempt ends, its file is published whole as ``<trial>.jsonl`` (``seal``) and its
parts deleted. Uploads then grow with a trial's reports, not with their square. ``fold_parts`` rebuilds a
downloaded copy's files from the whole file and the parts after it. ``XSTILTS_JOURNAL_WHOLE_UPLOADS=1``
publishes the whole file at each append instead, as before (``bench/journal_uploads.py``).
"""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from sweep.errors import ResultsError
from sweep.storage.results import safe_path_part
from trainers.fileio import fsync_dir, space_checked, write_atomic

#: The environment variable that publishes a trial's whole journal at each append (the way before).
WHOLE_UPLOADS = "XSTILTS_JOURNAL_WHOLE_UPLOADS"
#: The suffix of the folder of a trial's published parts, beside its ``.jsonl``.
PARTS = ".parts"


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

    def __init__(
        self,
        root: Path,
        *,
        publish: Callable[[Path], None] | None = None,
        publish_part: Callable[[Path, bytes], None] | None = None,
        unpublish_parts: Callable[[Path], None] | None = None,
    ) -> None:
        self.root = Path(root)
        self.publish = publish  # copies a file to shared storage (``SweepDir.publish``)
        # Publish one append's bytes as an object of its own (a path under the root, and the bytes), and
        # delete a trial's published parts: without them every append publishes the whole file.
        self.publish_part = None if os.environ.get(WHOLE_UPLOADS) == "1" else publish_part
        self.unpublish_parts = unpublish_parts

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
        data = line.encode() + b"\n"
        # A full disk: an error naming the folder; a line written in part is cut by the next append.
        with space_checked(path.parent):
            path.parent.mkdir(parents=True, exist_ok=True)
            new_file = not path.exists()
            with open(path, "a+b") as fh:
                _cut_torn_tail(fh)
                start = fh.seek(0, os.SEEK_END)
                fh.write(data)
                fh.flush()
                os.fsync(fh.fileno())
            if new_file:
                fsync_dir(path.parent)
            if new_dir:
                fsync_dir(path.parent.parent)
        if self.publish_part is not None:
            self.publish_part(part_path(path, start), data)
        elif self.publish is not None:
            self.publish(path)  # the whole file: an object store has no append

    def seal(self, *, search: str, trial_id: str) -> None:
        """Publish the trial's file whole and delete its published parts (when an attempt ends): shared
        storage then holds one object for it until it appends again."""
        if self.publish_part is None or self.publish is None:
            return
        path = self.path(search=search, trial_id=trial_id)
        if not path.is_file():
            return
        self.publish(path)
        if self.unpublish_parts is not None:
            self.unpublish_parts(parts_folder(path))

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


def parts_folder(path: Path) -> Path:
    """The folder of a trial file's published parts: ``<trial>.parts`` beside ``<trial>.jsonl``."""
    return path.with_suffix(PARTS)


def part_path(path: Path, start: int) -> Path:
    """The name of the part holding what an append wrote at byte ``start`` of ``path``."""
    return parts_folder(path) / f"{start:016d}.jsonl"


def fold_parts(root: Path) -> int:
    """Rebuild the journal files of a downloaded copy under ``root`` from their published parts; return
    how many files changed.

    A trial's file is its whole published file followed by the parts that start where it ends, in order.
    Parts that end before that are left over from a seal whose deletes did not finish (the whole file holds
    them); a part that starts after the end of what came before is never followed (each append is published
    after the one before it, so such a part can only come from a copy that was never whole)."""
    changed = 0
    if not Path(root).is_dir():
        return 0
    for folder in sorted(Path(root).glob(f"*/*{PARTS}")):
        if not folder.is_dir():
            continue
        path = folder.with_suffix(".jsonl")
        data = path.read_bytes() if path.is_file() else b""
        parts = []
        for part in folder.glob("*.jsonl"):
            try:
                parts.append((int(part.stem), part))
            except ValueError:
                continue  # not a part this module wrote
        grown = data
        for start, part in sorted(parts):
            if start < len(grown):
                continue
            if start > len(grown):
                break
            grown += part.read_bytes()
        if grown != data:
            write_atomic(path, grown, durable=False)
            changed += 1
        shutil.rmtree(folder)
    return changed


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
