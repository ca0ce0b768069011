"""A checkpoint store: stage-one results shared by studies, so that a later study needing one reuses it.

``checkpoint_store:`` in a config names a folder (a shared file system such as NFS or Lustre, or a local
disk) or a URI on shared object storage (``s3://bucket/prefix``, ``gs://...``). Its entries are keyed by
the identity of what produced them (``sweep.stage_one``)::

    STORE/entries/<key>/entry.json        the entry's record; written last, so it exists only when complete
    STORE/entries/<key>/encoder/          the best encoder (safetensors shards, their index last)
    STORE/entries/<key>/results.parquet   the stage-one search's rows, as the sweep that trained it recorded them
    STORE/locks/<key>.lock                (a file system) the lock a sweep holds while it trains the entry
    STORE/locks/<key>.json                who holds it; on object storage, the lease itself

Contract:

* Complete or absent: an entry is complete exactly when its ``entry.json`` exists, and that file is
  written after everything else (renamed into place on a file system; one object, written whole, on
  object storage). A folder without it is what a crash left: it is never read, and the next sweep that
  trains the entry clears it first.
* Immutable: a complete entry never changes; publishing it again writes nothing (the first wins).
* One trainer: a sweep trains an entry only while it holds the entry's lease, and a sweep that finds the
  lease held waits, then reuses what the holder publishes. On a file system the lease is an flock, which
  the operating system drops when its process dies however it dies (kill -9 included), so a crashed
  sweep never blocks another. Object storage has no locks: there the lease is a note renewed every
  ``LEASE_RENEW_S`` and taken as dead after ``LEASE_S``; two drivers that write it within the same
  instant both read back the last writer's note, and only that one trains (a driver stalled for more
  than ``LEASE_SETTLE_S`` between its read and its write can still slip through: a file-system store is
  the strict one).

Example::

    store = CheckpointStore("/shared/xstilts-store")
    entry = store.entry("mnli-3f2a...")   # None until some sweep published it
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import socket
import threading
import time
import uuid
from pathlib import Path
from typing import Any

from filelock import Timeout, UnixFileLock

from sweep.errors import SweepStateError
from trainers.encoder_io import encoder_files
from trainers.fileio import filesystem, is_uri, join, remove_tree, upload, write_atomic, write_json

STORE_VERSION = 1
ENTRY = "entry.json"
ROWS = "results.parquet"
ENCODER = "encoder"
LEASE_S = 90.0  # an object-storage lease not renewed for this long is a dead driver's
LEASE_RENEW_S = 20.0
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

    def encoder_location(self, key: str) -> str:
        """Where trials read an entry's encoder (any node that reaches the store)."""
        return join(self.entry_location(key), ENCODER)

    def check(self) -> None:
        """Create the store's folder if it is missing; raise a SweepStateError naming the store when it
        cannot be reached or written (before any compute is spent on a study that would publish there)."""
        try:
            fs, path = filesystem(join(self.location, "entries"))
            fs.create_dir(path, recursive=True)
            fs.get_file_info(path)
        except OSError as exc:
            raise SweepStateError(
                f"cannot reach the checkpoint store {self.location}: {exc}; fix its path or credentials, or "
                "remove `checkpoint_store` to train every stage one in this sweep"
            ) from exc

    def entry(self, key: str) -> dict[str, Any] | None:
        """The record of complete entry ``key``, or None (absent, half-written by a crash, or unreadable)."""
        fs, path = filesystem(join(self.entry_location(key), ENTRY))
        try:
            with fs.open_input_stream(path) as f:
                record = json.loads(f.read())
        except (OSError, ValueError):
            return None
        return record if isinstance(record, dict) and record.get("key") == key else None

    def entries(self) -> list[dict[str, Any]]:
        """Every complete entry's record, oldest first."""
        import pyarrow.fs as pafs

        fs, base = filesystem(join(self.location, "entries"))
        found = []
        for info in fs.get_file_info(pafs.FileSelector(base, allow_not_found=True)):
            if info.type == pafs.FileType.Directory and (record := self.entry(info.path.rsplit("/", 1)[-1])):
                found.append(record)
        return sorted(found, key=lambda r: r.get("created_at", 0))

    def rows(self, key: str) -> Any:
        """The stage-one rows of complete entry ``key`` (an Arrow table)."""
        import pyarrow.parquet as pq

        fs, path = filesystem(join(self.entry_location(key), ROWS))
        try:
            with fs.open_input_file(path) as f:
                return pq.read_table(f)
        except (OSError, ValueError) as exc:
            raise SweepStateError(
                f"the checkpoint store's entry {key} has no readable {ROWS} ({exc}); delete the folder "
                f"{self.entry_location(key)} and the next sweep that needs it trains it again"
            ) from exc

    def publish(self, key: str, *, encoder: Path, rows: Any, record: dict[str, Any]) -> bool:
        """Add entry ``key``: the encoder folder, the rows (an Arrow table), then its record; return False
        (writing nothing) when the entry is complete already. Call it holding the entry's lease."""
        import pyarrow.parquet as pq

        if self.entry(key) is not None:
            return False
        folder = self.entry_location(key)
        remove_tree(folder)  # what a crashed publisher left
        for name in encoder_files(Path(encoder)):  # the index last: readers go by it
            self._put_file(Path(encoder) / name, join(folder, ENCODER, name))
        staging = Path(encoder).parent / f".{ROWS}.{uuid.uuid4().hex}"
        try:
            pq.write_table(rows, staging)
            self._put_file(staging, join(folder, ROWS))
        finally:
            staging.unlink(missing_ok=True)
        record = {**record, "key": key, "version": STORE_VERSION, "created_at": time.time()}
        if self.remote:
            staging.write_text(json.dumps(record, indent=2, sort_keys=True))
            try:
                upload(staging, join(folder, ENTRY))
            finally:
                staging.unlink(missing_ok=True)
        else:
            write_json(Path(folder) / ENTRY, record)  # renamed into place, fsynced
        return True

    def _put_file(self, local: Path, location: str) -> None:
        if self.remote:
            upload(local, location)
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

    def lease(self, key: str, *, holder: dict[str, Any]) -> Lease:
        """The lease a sweep holds while it trains entry ``key`` (``holder`` says who, for the others)."""
        return (ObjectLease if self.remote else FileLease)(self, key, holder=holder)

    def holder(self, key: str) -> str:
        """Who holds ``key``'s lease, as its note says."""
        note = _read_note(join(self.location, "locks", f"{key}.json")) or {}
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
        self.note = {**holder, "pid": os.getpid(), "host": socket.gethostname(), "token": uuid.uuid4().hex}
        self.held = False

    def acquire(self) -> bool:
        raise NotImplementedError

    def release(self) -> None:
        raise NotImplementedError


class FileLease(Lease):
    """An flock on ``locks/<key>.lock``: the operating system drops it when its process dies."""

    def __init__(self, store: CheckpointStore, key: str, *, holder: dict[str, Any]) -> None:
        super().__init__(store, key, holder=holder)
        folder = Path(store.location) / "locks"
        folder.mkdir(parents=True, exist_ok=True)
        self.lock = UnixFileLock(folder / f"{key}.lock")

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
    """A note on object storage, renewed by a thread while held; a note older than ``LEASE_S`` is dead."""

    _stop: threading.Event | None = None

    def acquire(self) -> bool:
        if self.held:
            return True
        current = _read_note(self.note_location)
        if current and current.get("token") != self.note["token"] and _fresh(current):
            return False
        self._write()
        time.sleep(LEASE_SETTLE_S)  # a racing driver's note lands within this; the last writer wins
        if (_read_note(self.note_location) or {}).get("token") != self.note["token"]:
            return False
        self.held = True
        self._stop = threading.Event()
        threading.Thread(target=self._renew, args=(self._stop,), daemon=True, name="xstilts-store-lease").start()
        return True

    def release(self) -> None:
        if not self.held:
            return
        assert self._stop is not None  # set by acquire
        self._stop.set()
        self.held = False
        if (_read_note(self.note_location) or {}).get("token") == self.note["token"]:
            with contextlib.suppress(OSError):
                fs, path = filesystem(self.note_location)
                fs.delete_file(path)

    def _write(self) -> None:
        fs, path = filesystem(self.note_location)
        with fs.open_output_stream(path) as out:
            out.write(json.dumps({**self.note, "noted_at": time.time()}).encode())

    def _renew(self, stop: threading.Event) -> None:
        while not stop.wait(LEASE_RENEW_S):
            with contextlib.suppress(OSError):
                self._write()


def _read_note(location: str) -> dict[str, Any] | None:
    try:
        fs, path = filesystem(location)
        with fs.open_input_stream(path) as f:
            note = json.loads(f.read())
    except (OSError, ValueError):
        return None
    return note if isinstance(note, dict) else None


def _fresh(note: dict[str, Any]) -> bool:
    return time.time() - float(note.get("noted_at", 0)) < LEASE_S
