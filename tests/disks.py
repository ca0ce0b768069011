"""Full disks for tests: ``fill`` a small file system (the ``small_disk`` fixture of tests/conftest.py)."""

from __future__ import annotations

import os
from pathlib import Path


def fill(folder: Path, *, leave: int = 0) -> Path:
    """Fill the file system of ``folder`` until ``leave`` bytes are free (about: blocks round it); return the
    ballast file, whose deletion frees the space again."""
    ballast = folder / "ballast"
    with open(ballast, "wb") as f:
        while os.statvfs(folder).f_bavail * os.statvfs(folder).f_frsize > leave:
            try:
                f.write(b"\0" * 4096)
                f.flush()
            except OSError:
                break
    return ballast
