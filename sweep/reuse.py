"""The driver's side of a checkpoint store (``sweep.store``): which stage-one searches a study reuses,
trains, or waits for.

* A stage-one search that has not started and whose entry the store holds is reused: its rows are copied
  into the study's results (``origin`` = ``reused``), its manifest row names the entry and its encoder,
  and its pairs start from that encoder where the store keeps it.
* One whose entry is missing is trained here once this driver holds the entry's lease; it is published
  when its search ends (rows ``origin`` = ``trained``), and the lease is released.
* One whose lease another sweep holds waits, looking again every ``LOOK_EVERY_S``; when the holder
  publishes, it is reused; when the holder dies without publishing, this sweep takes the lease and trains.
* A search already running when its sweep resumes finishes here (its restored trials run regardless);
  if another sweep published the entry meanwhile, the store keeps that one and this sweep its own.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc

from sweep import stage_one
from sweep.plan import Search
from sweep.store import CheckpointStore, Lease

LOOK_EVERY_S = 5.0  # how often a waiting search looks at the store again
TRAIN, WAIT, REUSED = "train", "wait", "reused"


class StageOneReuse:
    """The checkpoint store as one study's driver uses it."""

    def __init__(self, *, location: str, config: Any, sweep: str, note: Any) -> None:
        self.store = CheckpointStore(location)
        self.config = config
        self.sweep = sweep  # where this sweep lives: what the store's notes and records name
        self.note = note  # prints a line about the study (``Progress.note``)
        self.keys: dict[str, str] = {}
        self.identities: dict[str, dict[str, Any]] = {}
        self.leases: dict[str, Lease] = {}
        self._looked: dict[str, float] = {}
        self._told: set[str] = set()

    def key(self, search: Search) -> str:
        """The store key of ``search``'s stage-one result (computed once: it hashes the data)."""
        if search.id not in self.keys:
            self.identities[search.id] = stage_one.identity(self.config, search)
            self.keys[search.id] = stage_one.key(self.identities[search.id])
        return self.keys[search.id]

    def entry(self, search: Search) -> dict[str, Any] | None:
        """The complete store entry of ``search``, if some sweep published it."""
        return self.store.entry(self.key(search))

    def claim(self, search: Search) -> str:
        """Whether ``search`` trains here (TRAIN: this driver holds its lease), waits for another sweep
        that trains it (WAIT), or may be reused now (REUSED: its entry is complete)."""
        if search.id in self.leases:
            return TRAIN
        now = time.monotonic()
        if now - self._looked.get(search.id, -LOOK_EVERY_S) < LOOK_EVERY_S:
            return WAIT
        self._looked[search.id] = now
        key = self.key(search)
        if self.store.entry(key) is not None:
            return REUSED
        lease = self.store.lease(key, holder={"sweep": self.sweep, "search": search.id})
        if lease.acquire():
            if self.store.entry(key) is not None:  # published between the look and the lease
                lease.release()
                return REUSED
            self.leases[search.id] = lease
            return TRAIN
        if search.id not in self._told:
            self._told.add(search.id)
            self.note(
                f"{search.pair}: {self.store.holder(key)} is training the same stage one (store entry {key}); "
                "waiting to reuse it"
            )
        return WAIT

    def hold(self, search: Search) -> None:
        """Take ``search``'s lease if no one holds it (a resumed search that trains on regardless)."""
        if search.id not in self.leases:
            lease = self.store.lease(self.key(search), holder={"sweep": self.sweep, "search": search.id})
            if lease.acquire():
                self.leases[search.id] = lease

    def reused_rows(self, search: Search, *, sweep_name: str, model: str) -> list[tuple[str, int, list[dict]]]:
        """The entry's rows as this study's: ``(trial id, attempt, rows)`` for each attempt, each row with
        this study's sweep, search id and model name, and ``origin`` reused."""
        table = self.store.rows(self.key(search))
        hp_names = [n for n in table.column_names if n.startswith("hp_")]
        attempts: dict[tuple[str, int], list[dict]] = {}
        for row in table.to_pylist():
            hp = {name[3:]: row.pop(name) for name in hp_names}
            row.update(sweep=sweep_name, search=search.id, model=model, origin="reused")
            row["hp"] = {k: v for k, v in hp.items() if v is not None}
            attempts.setdefault((row["trial_id"], row["attempt"]), []).append(row)
        return [(trial, attempt, rows) for (trial, attempt), rows in sorted(attempts.items())]

    def publish(self, search: Search, *, best: dict[str, Any], encoder: Path, table: pa.Table, model: str) -> bool:
        """Add ``search``'s result to the store (this driver holds its lease, or no one does); return whether
        this call wrote the entry (False: it was complete already)."""
        rows = table.filter(pc.equal(table["search"], search.id))
        record = {
            "identity": self.identities.get(search.id) or stage_one.identity(self.config, search),
            "intermediate": search.intermediate,
            "model": model,
            "best": best,
            "trained_by": {"sweep": self.sweep, "search": search.id},
        }
        key = self.key(search)
        self.hold(search)
        if search.id not in self.leases:  # another sweep trains this entry now, and publishes its own
            return False
        try:
            return self.store.publish(key, encoder=encoder, rows=rows, record=record)
        finally:
            self.release(search)

    def release(self, search: Search) -> None:
        """Let others train ``search``'s entry (it was published, or its search failed here)."""
        lease = self.leases.pop(search.id, None)
        if lease is not None:
            lease.release()

    def release_all(self) -> None:
        for search_id in list(self.leases):
            self.leases.pop(search_id).release()
