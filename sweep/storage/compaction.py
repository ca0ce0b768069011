"""Compacting a finished search's results: its per-attempt files merged into one file, atomically.

A study of 10,000 trials writes 10,000+ small Parquet files; reading them all costs seconds in file opens
alone. Once a search is done its files never change, so they are merged into ``results/<search>/search.c<n>
.parquet``, whose footer lists the attempt files it covers (``xstilts.covers``). The store's guarantees hold
at every instant:

* xstilts' readers (``search_files``) take a search folder's newest merged file and every attempt file it
  does not cover, so a row is read exactly once whether the covered files are still there or not.
* Any other reader (``pyarrow.dataset`` over ``results/``, DuckDB's or Polars' ``results/**/*.parquet``)
  never reads a row twice either. The merged file is written whole under a hidden name,
  ``.search.c<n>.pending`` (pyarrow skips names starting with "."; the globs want ".parquet"), fsynced, and
  published; only then are the files it covers deleted, and only after them does it take its name
  ``search.c<n>.parquet``. In between, such a reader misses some of the search's rows, never counts one
  twice; xstilts' readers read the pending file.
* A crash at any step leaves a state the next compaction finishes: ``sweep resume`` (before it runs
  anything) and ``sweep compact`` finish every pending merge (``pending_merges``).
* Compacting again is idempotent: with nothing uncovered it only deletes what is covered; a later attempt
  (none is expected once a search is done) is merged into the next generation ``search.c<n+1>``.
* ``has_attempt`` sees covered attempts, so a resumed driver never writes an attempt again.

``sweep compact`` (``compact_sweep``) also writes into the manifest each finished search's trial counts, as
the driver does when a search ends (``sweep status`` reads them there instead of the search's rows): for a
sweep written before the driver recorded them, or a search whose compaction merged attempts written since.
The manifest is the driver's to rewrite, so counts are written only while no driver holds the sweep, under
the driver's own lock (and, on shared storage, its lease) for the instant of the write.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import pyarrow as pa
import pyarrow.parquet as pq

from sweep.errors import SweepStateError
from sweep.storage.results import (
    COMPACTED,
    COVERS_KEY,
    PENDING,
    ResultsStore,
    compacted_files,
    covers,
    is_merged,
    search_listing,
)
from sweep.storage.select import trial_counts

if TYPE_CHECKING:
    from sweep.storage.layout import SweepDir

__all__ = ["COMPACTED", "COVERS_KEY", "Compaction", "compact_search", "compact_sweep", "pending_merges"]

# Set to "1", a merged file takes its name before the files it covers are deleted: the order before, when a
# plain reader could count rows twice (bench/compaction_readers.py measures both).
NAME_FIRST = "XSTILTS_COMPACTION_NAME_FIRST"


@dataclass(frozen=True)
class Compaction:
    """What ``compact_sweep`` did: the compacted files it wrote, the finished searches whose trial counts it
    wrote into the manifest, and why it wrote none where it could not (a driver holds the sweep)."""

    written: list[Path] = field(default_factory=list)
    counted: list[str] = field(default_factory=list)
    not_counted: str | None = None


def compact_search(
    folder: Path,
    *,
    publish: Callable[[Path], None] | None = None,
    remove: Callable[[Path], None] | None = None,
) -> Path | None:
    """Merge a search's files into its next compacted file, or finish the merge a crash left pending; return
    the compacted file, or None when there was nothing new to merge (or another process merged them first).
    Files the newest compacted file covers are deleted (``remove`` deletes their copies on shared storage
    too, after ``publish`` has put the merged file there)."""
    import json

    from trainers.fileio import fsync_dir, write_atomic

    folder = Path(folder)
    listing = search_listing(folder)
    generations = compacted_files(listing)
    newest = generations[-1][1] if generations else None
    held = covers(newest) if newest is not None else frozenset()
    attempts = [p for p in listing if not is_merged(p.name)]
    fresh = [p for p in attempts if p.name not in held]
    # An older merged file holding attempts the newest lacks (two compactions raced: ``_name``): its rows of
    # those attempts are merged again, not deleted with it.
    orphans = {p: covers(p) - held for _, p in generations if p != newest and not covers(p) <= held}
    if fresh or orphans:
        # Exactly the newest merged file and the fresh attempts listed: an attempt written since is neither
        # merged nor covered, and is read from its own file.
        table = ResultsStore.read_files([*([newest] if newest else []), *fresh], where=folder)
        for orphan, extra in orphans.items():
            rows = ResultsStore.read_files([orphan], where=folder).cast(table.schema)
            keep = [f"{t}.a{a}.parquet" in extra for t, a in zip(rows["trial_id"], rows["attempt"], strict=True)]
            table = pa.concat_tables([table, rows.filter(pa.array(keep, pa.bool_()))])
        order = ("trial_id", "attempt", "step", "split", "language", "metric")
        table = table.sort_by([(c, "ascending") for c in order])
        names = sorted(held | {p.name for p in fresh} | {n for extra in orphans.values() for n in extra})
        # ResultsStore.read's metadata: the current schema version (older files were read into it), the sweep.
        table = table.replace_schema_metadata({**(table.schema.metadata or {}), COVERS_KEY: json.dumps(names).encode()})
        staged = folder / f".search.c{(generations[-1][0] if generations else 0) + 1}.pending"
        if not write_atomic(staged, lambda f: pq.write_table(table, f, row_group_size=1 << 17), overwrite=False):
            return None  # another compaction got there first: its file, not this one's names, says what is covered
        fsync_dir(folder)
        newest, held = staged, frozenset(names)
    if newest is None:
        return None
    stale = [p for p in attempts if p.name in held] + [p for _, p in generations if p != newest]
    pending = PENDING.match(newest.name)
    if (stale or pending) and publish is not None:
        publish(newest)  # on shared storage before anything it covers is deleted there (idempotent)
    final = None
    if pending and os.environ.get(NAME_FIRST) == "1":
        final = _name(newest, pending.group(1), publish=publish, remove=remove)
    # Only now is anything deleted: every row is in the newest merged file.
    for path in stale:
        path.unlink(missing_ok=True)
        if remove is not None:
            remove(path)
    if pending and final is None:
        # Named last: a reader that skips the pending file (any reader but xstilts') never sees a row twice.
        final = _name(newest, pending.group(1), publish=publish, remove=remove)
    if pending and newest.exists():  # it lost the race for its name: merge what only it holds
        return compact_search(folder, publish=publish, remove=remove) or final
    return final


def _name(
    pending: Path,
    generation: str,
    *,
    publish: Callable[[Path], None] | None,
    remove: Callable[[Path], None] | None,
) -> Path:
    """Give a pending merged file its name ``search.c<generation>.parquet`` (here and on shared storage)."""
    from trainers.fileio import fsync_dir

    final = pending.with_name(f"search.c{generation}.parquet")
    try:
        _claim(pending, final)  # never written over: two compactions may race to this name
    except FileNotFoundError:
        if not final.exists():
            raise
        return final  # another process finished this merge
    except FileExistsError:
        # Another compaction named its merge of this generation first. This one stays pending, an older
        # generation now: the next compaction (run at once by compact_search) merges what only it holds.
        return final
    except OSError:  # a file system without hard links: check, then rename (a narrow race)
        if not final.exists():
            pending.rename(final)
    pending.unlink(missing_ok=True)
    fsync_dir(final.parent)
    if publish is not None:
        publish(final)
    if remove is not None:
        remove(pending)
    return final


def _claim(pending: Path, final: Path) -> None:
    """Give ``pending`` the name ``final`` too, unless that name exists (FileExistsError)."""
    os.link(pending, final)


def pending_merges(results: Path) -> list[Path]:
    """The search folders under ``results`` where a compaction was cut short (``compact_search`` finishes it)."""
    return sorted({p.parent for p in Path(results).glob("*/.search.c*.pending") if PENDING.match(p.name)})


def compact_sweep(sweep_dir: str | Path, *, only_done: bool = True) -> Compaction:
    """Compact every finished search of a sweep and write the trial counts its manifest lacks (``sweep
    compact``). A sweep on shared storage is refused while its driver's lease is current; a local one is
    compacted beside a live driver (readers never see a row twice or miss one), but its counts are then left
    to the driver, which writes them as each search ends.

    Example: ``compact_sweep("sweeps/quickstart").counted`` lists the searches whose counts were written.
    """
    from sweep.storage import layout

    folder = layout.open_sweep(sweep_dir, driver=layout.is_uri(str(sweep_dir)))
    manifest = layout.read_manifest(folder)
    written, counts = [], {}
    unfinished = set(pending_merges(folder.results))
    from sweep.console import progress

    for search, entry in progress(list(manifest["searches"].items()), description="compacting searches"):
        done = entry["state"] == "done"
        path = folder.results / search
        if only_done and not done and path not in unfinished:
            continue
        if not path.is_dir():
            continue
        out = compact_search(path, publish=folder.publish, remove=folder.unpublish)
        if out is not None:
            written.append(out)
        if done and (out is not None or "trials" not in entry):
            # As the driver counts when the search ends (``sweep.run.runner``): every row of the search.
            found = trial_counts(ResultsStore.read(path, columns=["search", "trial_id", "status"]), search)
            if found != entry.get("trials"):
                counts[search] = found
    if not counts:
        return Compaction(written=written)
    try:
        return Compaction(written=written, counted=_record_counts(folder, counts))
    except SweepStateError as exc:
        return Compaction(written=written, not_counted=str(exc))


def _record_counts(folder: SweepDir, counts: dict[str, dict[str, int]]) -> list[str]:
    """Write ``counts`` into the manifest entries of the searches still done, as ``layout.set_state`` writes a
    search's row (and publish it to shared storage); return those searches. Raises SweepStateError where a
    driver holds the sweep: a manifest written beside it could undo one of the driver's own updates."""
    from sweep.storage import layout
    from trainers.fileio import download, join, write_json

    if layout.driver_alive(folder):  # before waiting on the lock: a driver holds it for hours
        note = layout.driver_note(folder)
        raise SweepStateError(
            f"sweep {folder.remote or folder.root} is being run by process {note.get('pid', '?')} on "
            f"{note.get('host', '?')}; its driver writes each search's counts as the search ends, and `sweep "
            "compact` writes the rest once it has stopped"
        )
    with layout.driver_lock(folder):
        if folder.remote:  # the manifest as it is now, not as it was when this compaction began
            download(join(folder.remote, "manifest.json"), folder.manifest)
        manifest = layout.read_manifest(folder)
        counted = [s for s in counts if manifest["searches"].get(s, {}).get("state") == "done"]
        for search in counted:
            manifest["searches"][search]["trials"] = counts[search]
        if counted:
            write_json(folder.manifest, manifest)
            folder.publish(folder.manifest)
    return counted
