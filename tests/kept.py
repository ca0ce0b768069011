"""Checking that a results file written before a crash was not written again: it is untouched, or the rows
it held are in its search's compacted file, which covers it (``sweep.storage.compaction``)."""

from __future__ import annotations

import io
import json
from pathlib import Path

import pyarrow.parquet as pq

from sweep.storage.results import COMPACTED, COVERS_KEY, covered


def kept(name: str, data: bytes, now: bytes | None, folder: dict[str, bytes]) -> bool:
    """Whether attempt file ``name`` (bytes ``data`` before) is kept: ``now`` its bytes (None if gone), and
    ``folder`` every file of its search folder now, by name."""
    if now is not None:
        return now == data
    merged = sorted((int(m.group(1)), n) for n in folder if (m := COMPACTED.match(n)))
    if not merged:
        return False
    compacted = pq.read_table(io.BytesIO(folder[merged[-1][1]]))
    if name not in json.loads(compacted.schema.metadata[COVERS_KEY]):
        return False
    original = pq.read_table(io.BytesIO(data))
    trial_id, attempt = original["trial_id"][0].as_py(), original["attempt"][0].as_py()
    mine = [
        r
        for r in compacted.select(original.column_names).to_pylist()
        if (r["trial_id"], r["attempt"]) == (trial_id, attempt)
    ]
    return sorted(json.dumps(r, default=str, sort_keys=True) for r in mine) == sorted(
        json.dumps(r, default=str, sort_keys=True) for r in original.to_pylist()
    )


def ended(folder: Path, trial_id: str) -> bool:
    """Whether some attempt of ``trial_id`` is stored in search folder ``folder``: in its own file, or in the
    folder's compacted file."""
    if list(folder.glob(f"{trial_id}.a*.parquet")):
        return True
    if not folder.is_dir():
        return False
    _, held = covered(folder)
    return any(name.startswith(f"{trial_id}.a") for name in held)
