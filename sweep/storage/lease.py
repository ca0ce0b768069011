"""Leases: who holds something on storage that has no locks, and until when.

Two things are held by one process at a time: a sweep, by its driver (``sweep.storage.layout``), and a
checkpoint-store entry, by the driver that trains it (``sweep.storage.store``). On a file system both are an
flock, which the operating system drops when its process dies however it dies. Object storage (``s3://``,
``gs://``) has no locks, so there the holder keeps a note (JSON) that it rewrites every ``LEASE_RENEW_S``: a
note not rewritten for ``LEASE_S`` is a dead holder's, and so is a note whose holder ran on this machine and
is gone (no need to wait for it to lapse). A driver's lock on shared storage is an flock on its local copy
plus such a note, so a second driver on another machine sees it too.

This module is that one mechanism: reading and writing notes, telling a live note from a dead one, and
the thread that renews a held note.
"""

from __future__ import annotations

import contextlib
import json
import os
import socket
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from trainers.errors import XStiltsError
from trainers.fileio import filesystem

LEASE_S = 90.0  # a note not renewed for this long is a dead holder's
LEASE_RENEW_S = 20.0  # how often a holder renews its note: several renewals fit in LEASE_S


def read_note(location: str) -> dict[str, Any] | None:
    """The note at ``location`` (a path or a URI), or None where there is none or it cannot be read."""
    try:
        fs, path = filesystem(location)
        with fs.open_input_stream(path) as f:
            note = json.loads(f.read())
    except (OSError, ValueError):
        return None
    return note if isinstance(note, dict) else None


def write_note(location: str, note: dict[str, Any]) -> None:
    """Write ``note`` at ``location``, stamped ``noted_at`` now (one object: object storage writes it whole)."""
    fs, path = filesystem(location)
    with fs.open_output_stream(path) as out:
        out.write(json.dumps({**note, "noted_at": time.time()}).encode())


def holder_note(**fields: Any) -> dict[str, Any]:
    """A new note naming this process (pid, host) and ``fields`` (what it holds it for, a token)."""
    return {**fields, "pid": os.getpid(), "host": socket.gethostname()}


def alive(note: dict[str, Any] | None) -> bool:
    """Whether ``note`` is a live holder's: renewed within ``LEASE_S``, not marked stopped, and, where its
    holder ran on this machine, its process still there."""
    if not note or note.get("stopped_at"):
        return False
    if note.get("host") == socket.gethostname() and not pid_alive(int(note.get("pid", 0))):
        return False
    return time.time() - float(note.get("noted_at", note.get("since", 0))) < LEASE_S


def pid_alive(pid: int) -> bool:
    """Whether a process ``pid`` runs on this machine (one of another user's counts; a zombie, dead but not
    yet reaped by its parent, does not)."""
    if pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except (PermissionError, OverflowError):
        return True
    try:  # Linux: the state follows the parenthesised command name
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except (OSError, IndexError):
        return True


class Renewal:
    """A daemon thread that calls ``renew`` every ``LEASE_RENEW_S`` until stopped, or until ``renew`` returns
    False (the lease lapsed and was taken over: never write over the new holder's note). A storage error
    skips one renewal; enough of them in a row let the lease lapse, as a dead holder's would."""

    def __init__(self, renew: Callable[[], bool], *, name: str) -> None:
        self._renew, self._stop = renew, threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True, name=name)

    def start(self) -> Renewal:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()

    def _run(self) -> None:
        while not self._stop.wait(LEASE_RENEW_S):
            # An unreachable store (OSError, or the StorageError its retries end in) skips one renewal.
            with contextlib.suppress(OSError, XStiltsError):
                if not self._renew():
                    return
