"""Compacting a finished search's results: its per-attempt files merged into one file, atomically.

A study of 10,000 trials writes 10,000+ small Parquet files; reading them all costs seconds in file opens
alone. Once a search is done its files never change, so they are merged into ``results/<search>/search.c<n>
.parquet``, whose footer lists the attempt files it covers (``xstilts.covers``). The store's guarantees hold
at every instant:

* Readers (``search_files``) take a search folder's newest compacted file and every attempt file it does not
  cover, so a row is read exactly once whether the covered files are still there or not.
* The compacted file is written under a temporary name, fsynced and renamed (complete or absent); only then
  are the covered files deleted. A crash in between leaves files that readers ignore and that the next
  compaction deletes.
* Compacting again is idempotent: with nothing uncovered it only deletes what is covered; a later attempt
  (none is expected once a search is done) is merged into the next generation ``search.c<n+1>``.
* ``has_attempt`` sees covered attempts, so a resumed driver never writes an attempt again.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from functools import lru_cache
from pathlib import Path

import pyarrow.parquet as pq

COMPACTED = re.compile(r"^search\.c(\d+)\.parquet$")
COVERS_KEY = b"xstilts.covers"


def compacted_files(folder: Path) -> list[tuple[int, Path]]:
    """A search folder's compacted files by generation, oldest first."""
    found = []
    for path in Path(folder).glob("search.c*.parquet"):
        if match := COMPACTED.match(path.name):
            found.append((int(match.group(1)), path))
    return sorted(found)


@lru_cache(maxsize=4096)
def _covers(path: Path, mtime_ns: int, size: int) -> frozenset[str]:
    metadata = pq.read_schema(path).metadata or {}
    return frozenset(json.loads(metadata.get(COVERS_KEY, b"[]")))


def covered(folder: Path) -> tuple[Path | None, frozenset[str]]:
    """The newest compacted file of a search folder (or None), and the attempt file names it covers."""
    files = compacted_files(folder)
    if not files:
        return None, frozenset()
    newest = files[-1][1]
    stat = newest.stat()
    return newest, _covers(newest, stat.st_mtime_ns, stat.st_size)


def search_files(folder: Path, names: list[Path]) -> list[Path]:
    """Of ``names`` (the Parquet files in one search folder), those a reader reads: the newest compacted file
    and the attempt files it does not cover."""
    newest, covers = covered(folder)
    if newest is None:
        return names
    return [p for p in names if p == newest or (not COMPACTED.match(p.name) and p.name not in covers)]


def compact_search(
    folder: Path,
    *,
    publish: Callable[[Path], None] | None = None,
    remove: Callable[[Path], None] | None = None,
) -> Path | None:
    """Merge a finished search's files into its next compacted file; return it, or None when there was
    nothing new to merge. Files covered by the newest compacted file are deleted (``remove`` deletes their
    copies on shared storage too)."""
    from sweep.results import ResultsStore
    from trainers.fileio import fsync_dir, write_atomic

    folder = Path(folder)
    newest, covers = covered(folder)
    generations = compacted_files(folder)
    # Every attempt file there, read or not: those already covered are deleted below.
    attempts = sorted(p for p in folder.glob("*.parquet") if p.name[0] not in "._" and not COMPACTED.match(p.name))
    fresh = [p for p in attempts if p.name not in covers]
    written = None
    if fresh:
        table = ResultsStore.read(folder)  # the newest compacted file and the fresh attempts, checked
        table = table.sort_by(
            [(c, "ascending") for c in ("trial_id", "attempt", "step", "split", "language", "metric")]
        )
        names = sorted(covers | {p.name for p in fresh})
        # ResultsStore.read's metadata: the current schema version (older files were read into it) and the sweep.
        table = table.replace_schema_metadata({**(table.schema.metadata or {}), COVERS_KEY: json.dumps(names).encode()})
        generation = generations[-1][0] + 1 if generations else 1
        written = folder / f"search.c{generation}.parquet"
        write_atomic(written, lambda f: pq.write_table(table, f, row_group_size=1 << 17), overwrite=False)
        fsync_dir(folder)
        if publish is not None:
            publish(written)
        covers = frozenset(names)
    # Only now is anything deleted: every row is in the newest compacted file.
    for path in [*attempts, *(p for _, p in generations)]:
        if (path.name in covers or COMPACTED.match(path.name)) and path != (written or newest):
            path.unlink(missing_ok=True)
            if remove is not None:
                remove(path)
    return written


def compact_sweep(sweep_dir: str | Path, *, only_done: bool = True) -> list[Path]:
    """Compact every finished search of a sweep (``sweep compact``); return the compacted files written."""
    from sweep import layout

    folder = layout.open_sweep(sweep_dir, driver=layout.is_uri(str(sweep_dir)))
    manifest = layout.read_manifest(folder)
    written = []
    for search, entry in manifest["searches"].items():
        if only_done and entry["state"] != "done":
            continue
        path = folder.results / search
        if path.is_dir() and (out := compact_search(path, publish=folder.publish, remove=folder.unpublish)):
            written.append(out)
    return written
