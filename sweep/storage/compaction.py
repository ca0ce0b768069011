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

from collections.abc import Callable
from pathlib import Path

import pyarrow.parquet as pq

from sweep.storage.results import COMPACTED, COVERS_KEY, ResultsStore, compacted_files, covers

__all__ = ["COMPACTED", "COVERS_KEY", "compact_search", "compact_sweep"]


def compact_search(
    folder: Path,
    *,
    publish: Callable[[Path], None] | None = None,
    remove: Callable[[Path], None] | None = None,
) -> Path | None:
    """Merge a search's files into its next compacted file; return it, or None when there was nothing new to
    merge (or another process merged them first). Files the newest compacted file covers are deleted
    (``remove`` deletes their copies on shared storage too, after ``publish`` has put the compacted file
    there)."""
    import json

    from trainers.fileio import fsync_dir, write_atomic

    folder = Path(folder)
    listing = sorted(p for p in folder.glob("*.parquet") if p.name[0] not in "._")
    generations = compacted_files(listing)
    newest = generations[-1][1] if generations else None
    held = covers(newest) if newest is not None else frozenset()
    attempts = [p for p in listing if not COMPACTED.match(p.name)]
    fresh = [p for p in attempts if p.name not in held]
    if fresh:
        # Exactly the newest compacted file and the fresh attempts listed: an attempt written since is neither
        # merged nor covered, and is read from its own file.
        table = ResultsStore.read_files([*([newest] if newest else []), *fresh], where=folder)
        order = ("trial_id", "attempt", "step", "split", "language", "metric")
        table = table.sort_by([(c, "ascending") for c in order])
        names = sorted(held | {p.name for p in fresh})
        # ResultsStore.read's metadata: the current schema version (older files were read into it), the sweep.
        table = table.replace_schema_metadata({**(table.schema.metadata or {}), COVERS_KEY: json.dumps(names).encode()})
        written = folder / f"search.c{(generations[-1][0] if generations else 0) + 1}.parquet"
        if not write_atomic(written, lambda f: pq.write_table(table, f, row_group_size=1 << 17), overwrite=False):
            return None  # another compaction got there first: its file, not this one's names, says what is covered
        fsync_dir(folder)
        newest, held = written, frozenset(names)
    else:
        written = None
    if newest is None:
        return None
    stale = [p for p in attempts if p.name in held] + [p for _, p in generations if p != newest]
    if stale and publish is not None:
        publish(newest)  # on shared storage before anything it covers is deleted there (idempotent)
    # Only now is anything deleted: every row is in the newest compacted file.
    for path in stale:
        path.unlink(missing_ok=True)
        if remove is not None:
            remove(path)
    return written


def compact_sweep(sweep_dir: str | Path, *, only_done: bool = True) -> list[Path]:
    """Compact every finished search of a sweep (``sweep compact``); return the compacted files written."""
    from sweep.storage import layout

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
