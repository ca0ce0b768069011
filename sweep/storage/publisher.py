"""Publishing a sweep's files to shared storage: retried with backoff, and off the driver's loop.

Object stores throttle, reset connections and time out; a 64-GPU study publishes tens of thousands of
objects. Every request xstilts makes to shared storage goes through ``with_retries``: a transient error (a
reset, a timeout, a 5xx the storage client gave up on) is retried with exponential backoff and jitter; a
permanent one (no such bucket, access denied, a local file gone) is not.

While the driver runs, results files, merged files, the manifest and their deletes are handed to a
``Publisher``: one thread that uploads them in the order given, so a Tune callback never waits for storage
(but for a full queue: ``BOUND`` operations, which bounds the driver's memory). The order is what the
store's guarantees need (a merged file is on storage before what it covers is deleted there), so after an
operation fails for good the publisher runs none after it: storage then holds a prefix of what the driver
did, the state a killed driver leaves, which ``sweep resume`` completes (it rebuilds results files from the
journals and finishes pending merges). The error is raised at the next hand-off and when the driver ends,
which waits for every queued operation first (``flush``).

Journals are not handed over: their appends are the record results are rebuilt from, so each is on storage
before the driver goes on (``SweepDir.publish_now``).

Ray Tune and Train upload checkpoints and their experiment state with ``pyarrow.fs.copy_files``, which drops a
file whose upload fails and returns as if all went well (pyarrow 26 closes each object in a destructor that
ignores the error: a checkpoint on S3 then lacks, say, its optimizer states, and exporting it fails much
later). ``install_checked_copies`` makes copies to shared storage go file by file, each closed explicitly
(raising on failure), retried and checked by size; every xstilts process that runs Tune or a trial installs
it.
"""

from __future__ import annotations

import os
import queue
import random
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, TypeVar

from trainers.errors import StorageError

T = TypeVar("T")

BOUND = 256  # operations queued at most; the driver waits beyond it
TRIES = int(os.environ.get("XSTILTS_STORAGE_TRIES", "6"))  # each request, at most; backoff 0.2 s doubling to 8 s
INLINE = "XSTILTS_PUBLISH_INLINE"  # "1": publish on the driver's loop, as before (bench/publishing.py)
# Errors no retry mends, as the storage clients word them (pyarrow's S3 and GCS file systems).
PERMANENT = (
    "ACCESS_DENIED",
    "AccessDenied",
    "InvalidAccessKeyId",
    "SignatureDoesNotMatch",
    "NoSuchBucket",
    "NO_SUCH_BUCKET",
    "Forbidden",
)


@dataclass
class Tally:
    """What shared storage cost this process: requests retried, and requests that failed for good."""

    retried: int = 0
    failed: int = 0
    errors: list[str] = field(default_factory=list)


TALLY = Tally()
_LOCK = threading.Lock()


def transient(exc: BaseException) -> bool:
    """Whether retrying may mend ``exc``: an OSError but for a missing or forbidden path or credentials."""
    if isinstance(exc, (FileNotFoundError, PermissionError, IsADirectoryError, NotADirectoryError)):
        return False
    return isinstance(exc, OSError) and not any(word in str(exc) for word in PERMANENT)


def with_retries(
    action: Callable[[], T], *, what: str, tries: int | None = None, sleep: Callable[[float], None] = time.sleep
) -> T:
    """Run ``action`` (one idempotent request to shared storage), retrying transient errors up to ``tries``
    times in all with backoff (0.2 s, doubling, at most 8 s, each times a random 0.5-1). A permanent error,
    or the last try's, is raised as a StorageError naming ``what``."""
    tries = TRIES if tries is None else tries
    for attempt in range(1, tries + 1):
        try:
            return action()
        except OSError as exc:
            if attempt < tries and transient(exc):
                with _LOCK:
                    TALLY.retried += 1
                sleep(min(8.0, 0.2 * 2 ** (attempt - 1)) * random.uniform(0.5, 1.0))
                continue
            with _LOCK:
                TALLY.failed += 1
                TALLY.errors.append(f"{what}: {exc}")
            again = f" after {attempt} tries" if attempt > 1 else ""
            raise StorageError(
                f"{what} failed{again} ({exc}); check that the storage is reachable and the credentials may "
                "write there, then run `sweep resume` on the sweep: it rebuilds what was not published from "
                "the trial journals"
            ) from exc
    raise AssertionError("unreachable")  # pragma: no cover - the loop returns or raises


class Publisher:
    """One thread running the operations handed to it in order, each ``with_retries``."""

    def __init__(self, *, bound: int = BOUND) -> None:
        self._queue: queue.Queue[tuple[str, Callable[[], object]] | None] = queue.Queue(maxsize=bound)
        self._error: StorageError | None = None
        self.done = 0
        self._thread = threading.Thread(target=self._work, name="xstilts-publisher", daemon=True)
        self._thread.start()

    def submit(self, what: str, action: Callable[[], object]) -> None:
        """Queue ``action`` (waits while ``BOUND`` are queued); raises the error that stopped publishing."""
        if self._error is not None:
            raise self._error
        self._queue.put((what, action))

    def flush(self) -> None:
        """Wait until every queued operation ran; raise the error that stopped publishing, if one did."""
        self._queue.join()
        if self._error is not None:
            raise self._error

    def close(self) -> None:
        """``flush``, then stop the thread."""
        try:
            self.flush()
        finally:
            self._queue.put(None)
            self._thread.join()

    def _work(self) -> None:
        while (item := self._queue.get()) is not None:
            what, action = item
            try:
                if self._error is None:  # after a failure none runs: storage keeps a prefix of the operations
                    with_retries(action, what=what)
                    self.done += 1
            except StorageError as exc:
                self._error = exc
            except Exception as exc:  # noqa: BLE001 - any other failure stops publishing the same way
                self._error = StorageError(f"{what} failed ({type(exc).__name__}: {exc})")
            finally:
                self._queue.task_done()
        self._queue.task_done()


_ORIGINAL_COPY: list[Callable[..., Any]] = []


def install_checked_copies() -> None:
    """Route ``pyarrow.fs.copy_files`` to shared storage through ``checked_copy_files`` (idempotent)."""
    import pyarrow.fs

    if not _ORIGINAL_COPY:
        _ORIGINAL_COPY.append(pyarrow.fs.copy_files)
        pyarrow.fs.copy_files = checked_copy_files


def checked_copy_files(
    source: str,
    destination: str,
    source_filesystem: Any = None,
    destination_filesystem: Any = None,
    *,
    chunk_size: int = 1024 * 1024,
    use_threads: bool = True,
) -> None:
    """``pyarrow.fs.copy_files``, but a copy to a file system that is not local goes file by file: each
    object closed explicitly, so a failed upload raises, ``with_retries``, and its size checked after."""
    import pyarrow.fs as pafs

    original = _ORIGINAL_COPY[0] if _ORIGINAL_COPY else pafs.copy_files
    if destination_filesystem is None and "://" in str(destination):
        destination_filesystem, destination = pafs.FileSystem.from_uri(destination)
    if destination_filesystem is None or destination_filesystem.type_name == "local":
        return original(
            source,
            destination,
            source_filesystem=source_filesystem,
            destination_filesystem=destination_filesystem,
            chunk_size=chunk_size,
            use_threads=use_threads,
        )
    if source_filesystem is None:
        if "://" in str(source):
            source_filesystem, source = pafs.FileSystem.from_uri(source)
        else:
            source_filesystem, source = pafs.LocalFileSystem(), os.path.abspath(source)
    info = source_filesystem.get_file_info(source)
    if info.type == pafs.FileType.NotFound:
        raise FileNotFoundError(f"{source} does not exist: nothing to copy")
    if info.type == pafs.FileType.File:
        pairs = [(source, destination)]
    else:
        base = source.rstrip("/")
        pairs = [
            (i.path, destination.rstrip("/") + "/" + i.path[len(base) :].lstrip("/"))
            for i in source_filesystem.get_file_info(pafs.FileSelector(source, recursive=True))
            if i.type == pafs.FileType.File
        ]
    for src, dst in pairs:

        def copy(src: str = src, dst: str = dst) -> None:
            sent = 0  # what was read (a file still being written, such as Tune's event logs, may have grown)
            with source_filesystem.open_input_stream(src) as inp, destination_filesystem.open_output_stream(dst) as out:
                while chunk := inp.read(chunk_size):
                    out.write(chunk)
                    sent += len(chunk)
            stored = destination_filesystem.get_file_info(dst).size
            if stored != sent:
                raise OSError(f"{dst} holds {stored} bytes after its upload, not the {sent} sent")

        with_retries(copy, what=f"uploading {dst}")
