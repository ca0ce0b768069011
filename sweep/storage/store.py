"""A checkpoint store: stage-one results shared by studies, so that a later study needing one reuses it.

``checkpoint_store:`` in a config names a folder (a shared file system such as NFS or Lustre mounted with
flock, or a local disk) or a URI on shared object storage (``s3://bucket/prefix``, ``gs://...``). Its
entries are keyed by the identity of what produced them (``sweep.plan.stage_one``)::

    STORE/entries/<key>/entry.json                 the record, naming its data folder; written last
    STORE/entries/<key>/<data>/encoder/            the best encoder (safetensors shards, their index last)
    STORE/entries/<key>/<data>/results.parquet     the stage-one search's rows, as its sweep recorded them
    STORE/locks/<key>.lock                         (a file system) the flock of the sweep training the entry
    STORE/locks/<key>.json                         who holds it; on object storage, the lease itself

Contract:

* Complete or absent: an entry exists exactly when its record does, and the record is written after its
  data folder is whole (renamed into place and fsynced on a file system; one object, written whole, on
  object storage). Each publisher writes a data folder of its own, so two publishers never mix files,
  and a folder that a crash left without a record is never read (`sweep store` lists such folders).
* Immutable: on a file system the first record wins (it is linked into place, which fails if one
  exists) and a later publisher's data is deleted. Object storage has no create-if-absent: there a
  publisher that finds a record writes nothing, and two that pass that check at the same instant each
  write a whole record naming a whole folder of their own (the last one stays; a reader of either reads
  a complete entry).
* One trainer: a sweep trains an entry only while it holds the entry's lease, and a sweep that finds the
  lease held waits, then reuses what the holder publishes. On a file system the lease is an flock, which
  the operating system drops when its process dies however it dies (kill -9 included), so a crashed
  sweep never blocks another. Object storage has no locks: there the lease is a note renewed every
  ``LEASE_RENEW_S`` and taken as dead after ``LEASE_S`` (``sweep.storage.lease``); two drivers that write it
  within the same instant both read back the last writer's note, and only that one trains. A driver stalled
  for more than ``LEASE_SETTLE_S`` between its read and its write can still slip through and train the entry
  again (a file-system store is the strict one); it never damages an entry, by the two points above.

Example::

    store = CheckpointStore("/shared/xstilts-store")
    entry = store.entry("mnli-3f2a...")   # None until some sweep published it
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import time
import uuid
from pathlib import Path
from typing import Any

from filelock import Timeout, UnixFileLock

from sweep.errors import SweepStateError
from sweep.storage.lease import Renewal, alive, holder_note, read_note, write_note
from sweep.storage.publisher import with_retries
from trainers.encoder_io import encoder_files
from trainers.fileio import filesystem, fsync_dir, is_uri, join, remove_tree, upload, write_atomic, write_json

STORE_VERSION = 1
ENTRY = "entry.json"
ROWS = "results.parquet"
ENCODER = "encoder"
LEASE_SETTLE_S = 2.0  # between writing an object-storage lease and reading it back
SCHEMES = ("s3", "gs", "gcs", "hdfs", "abfs", "abfss")  # the object stores pyarrow (and Ray Tune) reach


class CheckpointStore:
    """Entries of stage-one results at ``location`` (a folder or a URI); see the module's contract."""

    def __init__(self, location: str | Path) -> None:
        text = str(location)
        self.location = text.rstrip("/") if is_uri(text) else str(Path(text).expanduser().resolve())

    @property
    def remote(self) -> bool:
        return is_uri(self.location)

    def entry_location(self, key: str) -> str:
        return join(self.location, "entries", key)

    def encoder_location(self, record: dict[str, Any]) -> str:
        """Where trials read an entry's encoder (any node that reaches the store), from its record."""
        return join(self.entry_location(record["key"]), record["data"], ENCODER)

    def check(self) -> None:
        """Create the store's folder if it is missing; raise a SweepStateError naming the store when it
        cannot be reached or written, or (a file system) cannot lock (before a study spends compute)."""
        try:
            fs, path = filesystem(join(self.location, "entries"))
            fs.create_dir(path, recursive=True)
            fs.get_file_info(path)
        except OSError as exc:
            raise self.unreachable(exc) from exc
        if not self.remote:
            probe = FileLease(self, f".probe-{uuid.uuid4().hex}", holder={})
            try:
                probe.acquire()
                probe.release()
            except (OSError, NotImplementedError) as exc:
                raise SweepStateError(
                    f"the checkpoint store {self.location} is on a file system without flock ({exc}); mount it "
                    "with flock (Lustre: -o flock; NFS: without local_lock/nolock) or use an s3:// store"
                ) from exc
            finally:
                Path(probe.lock.lock_file).unlink(missing_ok=True)

    def entry(self, key: str) -> dict[str, Any] | None:
        """The record of entry ``key``, or None when it has none (absent, or what a crash left). An error
        reaching the store raises OSError; a damaged record, a SweepStateError saying what to delete."""
        import pyarrow.fs as pafs

        location = join(self.entry_location(key), ENTRY)
        fs, path = filesystem(location)
        if fs.get_file_info(path).type == pafs.FileType.NotFound:
            return None
        with fs.open_input_stream(path) as f:
            raw = f.read()
        try:
            record = json.loads(raw)
            if not (isinstance(record, dict) and record.get("key") == key and record.get("data")):
                raise ValueError("not a record of this entry")
            if record.get("version") != STORE_VERSION:
                raise ValueError(f"store version {record.get('version')!r}; this xstilts reads {STORE_VERSION}")
        except ValueError as exc:
            raise SweepStateError(
                f"the checkpoint store's record {location} is damaged ({exc}); delete the folder "
                f"{self.entry_location(key)}, and the next sweep that needs it trains it again"
            ) from exc
        return record

    def unreachable(self, exc: OSError) -> SweepStateError:
        """The error for a store that could not be reached (``exc``), naming it and the fixes."""
        return SweepStateError(
            f"cannot reach the checkpoint store {self.location}: {exc}; fix its path or credentials, or "
            "remove `checkpoint_store` to train every stage one in this sweep"
        )

    def entries(self) -> list[dict[str, Any]]:
        """Every complete entry's record, oldest first (a store that cannot be reached: SweepStateError)."""
        try:
            return sorted(
                (record for key in self._keys() if (record := self.entry(key)) is not None),
                key=lambda r: r.get("created_at", 0),
            )
        except OSError as exc:
            raise self.unreachable(exc) from exc

    def unreferenced(self) -> list[str]:
        """Data folders no record names: what interrupted publishes left (never read; safe to delete
        while no sweep publishes that entry)."""
        import pyarrow.fs as pafs

        found = []
        for key in self._keys():
            record = self.entry(key)
            fs, base = filesystem(self.entry_location(key))
            for info in fs.get_file_info(pafs.FileSelector(base)):
                name = info.path.rsplit("/", 1)[-1]
                if info.type == pafs.FileType.Directory and (record is None or name != record["data"]):
                    found.append(join(self.entry_location(key), name))
        return found

    def _keys(self) -> list[str]:
        import pyarrow.fs as pafs

        fs, base = filesystem(join(self.location, "entries"))
        infos = fs.get_file_info(pafs.FileSelector(base, allow_not_found=True))
        return sorted(i.path.rsplit("/", 1)[-1] for i in infos if i.type == pafs.FileType.Directory)

    def rows(self, record: dict[str, Any]) -> Any:
        """The stage-one rows of a complete entry, from its record (an Arrow table)."""
        import pyarrow.parquet as pq

        location = join(self.entry_location(record["key"]), record["data"], ROWS)
        fs, path = filesystem(location)
        try:
            with fs.open_input_file(path) as f:
                return pq.read_table(f)
        except (OSError, ValueError) as exc:
            raise SweepStateError(
                f"the checkpoint store's entry {record['key']} has no readable {location} ({exc}); delete "
                f"the folder {self.entry_location(record['key'])}, and the next sweep that needs it trains it again"
            ) from exc

    def publish(
        self, key: str, *, encoder: Path, rows: Any, record: dict[str, Any], lease: Lease | None = None
    ) -> bool:
        """Add entry ``key``: a data folder of this publisher's with the encoder folder and the rows (an
        Arrow table), then the record naming it; return False when the entry had a record already (this
        call's data is then deleted). Call it holding the entry's ``lease``; one lost meanwhile (an
        object-storage note another driver took over) raises a SweepStateError before the record."""
        import pyarrow.parquet as pq

        if self.entry(key) is not None:
            return False
        data = uuid.uuid4().hex[:16]
        folder = join(self.entry_location(key), data)
        for name in encoder_files(Path(encoder)):  # the index last: readers go by it
            self._put_file(Path(encoder) / name, join(folder, ENCODER, name))
        staging = Path(encoder).parent / f".{ROWS}.{data}"
        try:
            pq.write_table(rows, staging)
            self._put_file(staging, join(folder, ROWS))
        finally:
            staging.unlink(missing_ok=True)
        if not self.remote:
            fsync_dir(Path(folder) / ENCODER)
            fsync_dir(Path(folder))
        if lease is not None and not lease.valid():
            remove_tree(folder)
            raise SweepStateError(f"the lease of checkpoint-store entry {key} was taken over while publishing")
        record = {**record, "key": key, "data": data, "version": STORE_VERSION, "created_at": time.time()}
        text = json.dumps(record, indent=2, sort_keys=True)
        if self.remote:
            if self.entry(key) is not None:
                remove_tree(folder)
                return False
            staging.write_text(text)
            try:
                to = join(self.entry_location(key), ENTRY)
                with_retries(lambda: upload(staging, to), what=f"uploading {to}")
            finally:
                staging.unlink(missing_ok=True)
            return True
        if not write_atomic(Path(self.entry_location(key)) / ENTRY, text, overwrite=False):
            remove_tree(folder)  # another publisher's record came first
            return False
        return True

    def _put_file(self, local: Path, location: str) -> None:
        if self.remote:
            with_retries(lambda: upload(local, location), what=f"uploading {location}")
            return
        target = Path(location)
        target.parent.mkdir(parents=True, exist_ok=True)
        try:
            os.link(local, target)  # the same file system: no second copy of the weights
        except OSError:  # another file system (or one without hard links): copy

            def copy(out: Any) -> None:
                with open(local, "rb") as source:
                    shutil.copyfileobj(source, out, 1 << 24)

            write_atomic(target, copy)
        else:
            _fsync(target)  # written without fsync (the rows) or by another process: durable before the record

    def lease(self, key: str, *, holder: dict[str, Any]) -> Lease:
        """The lease a sweep holds while it trains entry ``key`` (``holder`` says who, for the others)."""
        return (ObjectLease if self.remote else FileLease)(self, key, holder=holder)

    def holder(self, key: str) -> str:
        """Who holds ``key``'s lease, as its note says."""
        note = read_note(join(self.location, "locks", f"{key}.json")) or {}
        if not note:
            return "another sweep"
        return f"sweep {note.get('sweep', '?')} (process {note.get('pid', '?')} on {note.get('host', '?')})"


def location_problems(location: str, *, check_files: bool = True) -> list[str]:
    """What is wrong with ``checkpoint_store: location`` (without ``check_files``, of the setting alone)."""
    text = str(location)
    if is_uri(text):
        scheme = text.split("://", 1)[0]
        if scheme not in SCHEMES:
            return [f"checkpoint_store {text}: scheme `{scheme}` is not one of {', '.join(SCHEMES)}"]
        return []
    path = Path(text).expanduser()
    if not check_files:
        return []
    if path.exists() and not path.is_dir():
        return [f"checkpoint_store {path} is a file; name a folder (it is created if missing)"]
    existing = next(p for p in (path, *path.parents) if p.exists())
    if not os.access(existing, os.W_OK):
        return [f"checkpoint_store {path}: {existing} is not writable by this user; name a folder you can write"]
    return []


class Lease:
    """Held by the one driver that trains an entry; ``acquire`` never blocks."""

    def __init__(self, store: CheckpointStore, key: str, *, holder: dict[str, Any]) -> None:
        self.store, self.key = store, key
        self.note_location = join(store.location, "locks", f"{key}.json")
        self.note = holder_note(**holder, token=uuid.uuid4().hex)
        self.held = False

    def acquire(self) -> bool:
        """Take the lease if no one holds it; return whether this lease holds it now."""
        raise NotImplementedError

    def valid(self) -> bool:
        """Whether this lease still holds (an object-storage note can lapse and be taken over)."""
        return self.held

    def release(self) -> None:
        raise NotImplementedError


class FileLease(Lease):
    """An flock on ``locks/<key>.lock``: the operating system drops it when its process dies."""

    def __init__(self, store: CheckpointStore, key: str, *, holder: dict[str, Any]) -> None:
        super().__init__(store, key, holder=holder)
        folder = Path(store.location) / "locks"
        folder.mkdir(parents=True, exist_ok=True)
        # No silent fallback to a marker file where the file system lacks flock: a killed holder's marker
        # would block every other sweep for good (``CheckpointStore.check`` refuses such a store).
        self.lock = UnixFileLock(folder / f"{key}.lock", fallback_to_soft=False)

    def acquire(self) -> bool:
        if self.held:
            return True
        try:
            self.lock.acquire(timeout=0)
        except Timeout:
            return False
        write_json(Path(self.note_location), {**self.note, "noted_at": time.time()})
        self.held = True
        return True

    def release(self) -> None:
        if self.held:
            Path(self.note_location).unlink(missing_ok=True)
            self.lock.release()
            self.held = False


class ObjectLease(Lease):
    """A note on object storage, renewed by a thread while held; a note older than ``LEASE_S`` is dead, and
    so is one of an earlier driver of the same sweep and search (the sweep's driver lock says it ended)."""

    _renewal: Renewal | None = None

    def acquire(self) -> bool:
        if self.held:
            return True
        current = read_note(self.note_location)
        if current and current.get("token") != self.note["token"] and alive(current) and not self._mine(current):
            return False
        write_note(self.note_location, self.note)
        time.sleep(LEASE_SETTLE_S)  # a racing driver's note lands within this; the last writer wins
        if not self.valid_note():
            return False
        self.held = True
        self._renewal = Renewal(self._renew, name="xstilts-store-lease").start()
        return True

    def _mine(self, note: dict[str, Any]) -> bool:
        return all(note.get(k) == self.note.get(k) for k in ("sweep", "search")) and "sweep" in self.note

    def valid_note(self) -> bool:
        return (read_note(self.note_location) or {}).get("token") == self.note["token"]

    def valid(self) -> bool:
        return self.held and self.valid_note()

    def release(self) -> None:
        if not self.held:
            return
        assert self._renewal is not None  # set by acquire
        self._renewal.stop()
        self.held = False
        if self.valid_note():
            with contextlib.suppress(OSError):
                fs, path = filesystem(self.note_location)
                fs.delete_file(path)

    def _renew(self) -> bool:
        if not self.valid_note():  # lapsed (a stalled driver) and taken over: never write over it
            self.held = False
            return False
        write_note(self.note_location, self.note)
        return True


def _fsync(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
