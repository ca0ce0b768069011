"""A process that holds a checkpoint-store lease as another sweep's training driver would."""

from __future__ import annotations

import contextlib
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path


@contextlib.contextmanager
def lease_held(store: Path, key: str, *, sweep: str) -> Iterator[subprocess.Popen[str]]:
    """Hold ``key``'s lease in a process of its own while the block runs (the note names ``sweep``); the
    process is killed with SIGKILL when the block ends, so it never releases the lease itself."""
    code = (
        "import time\nfrom sweep.storage.store import CheckpointStore\n"
        f"lease = CheckpointStore({str(store)!r}).lease({key!r}, holder={{'sweep': {sweep!r}}})\n"
        "assert lease.acquire()\nprint('held', flush=True)\ntime.sleep(600)\n"
    )
    holder = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "held"
        yield holder
    finally:
        holder.kill()
        holder.wait()
