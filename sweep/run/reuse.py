"""The driver's side of a checkpoint store (``sweep.storage.store``): which stage-one searches a study reuses,
trains, or waits for.

* A stage-one search that has not started and whose entry the store holds is reused: its rows are copied
  into the study's results (``origin`` = ``reused``), its manifest row names the entry and its encoder,
  and its pairs start from that encoder where the store keeps it.
* One whose entry is missing is trained here once this driver holds the entry's lease (asked when the
  study would start it, so a search held back by the study's caps takes no lease); it is published when
  its search ends (rows ``origin`` = ``trained``), and the lease is released.
* One whose lease another sweep holds waits, looking again every ``LOOK_EVERY_S``; when the holder
  publishes, it is reused; when the holder dies without publishing, this sweep takes the lease and trains.
* A search already running when its sweep resumes finishes here (its restored trials run regardless);
  if another sweep published the entry meanwhile, the store keeps that one and this sweep its own.
"""

from __future__ import annotations

import time
from typing import Any, Protocol

import pyarrow.compute as pc

from sweep.config.records import SweepConfig
from sweep.errors import SweepStateError
from sweep.plan import stage_one
from sweep.plan.searches import Search
from sweep.plan.study import Study
from sweep.run.progress import Progress
from sweep.run.recorder import Recorder
from sweep.storage import layout
from sweep.storage.results import ResultsStore
from sweep.storage.store import CheckpointStore, Lease
from trainers.fileio import download


class RunningStudy(Protocol):
    """What the checkpoint store's side needs of the running study (``sweep.run.runner.StudyRun`` is one):
    the study's own state and the few things it does when a stage one is reused or cannot be."""

    config: SweepConfig
    sweep_dir: layout.SweepDir
    study: Study
    progress: Progress
    recorders: dict[str, Recorder]

    def failed(self, search: Search, reason: str) -> str:
        """Mark ``search`` failed with ``reason``; return the state it is in now."""

    def compact(self, search: Search) -> None:
        """Merge ``search``'s results files into one."""


LOOK_EVERY_S = 5.0  # how often a waiting search looks at the store again
TRAIN, WAIT, REUSED = "train", "wait", "reused"  # what a stage one does (``claim``)
WRITTEN, EXISTS, HELD = "written", "exists", "held"  # what publishing it did (``publish_entry``)


class StageOneReuse:
    """The checkpoint store as one study's driver (``run``) uses it."""

    def __init__(self, run: RunningStudy) -> None:
        self.run = run
        self.config = run.config
        self.store = CheckpointStore(run.config.checkpoint_store)
        self.sweep = str(run.sweep_dir.remote or run.sweep_dir.root)  # what the store's notes and records name
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

    # ------------------------------------------------------------------------------- the study's side

    def at_start(self) -> None:
        """Reuse every stage one the store holds that has not started here; hold the lease of those that
        run on after a resume; publish those a driver finished without publishing (it died in between, or
        another sweep held the lease and never published)."""
        self.store.check()
        searches = layout.read_manifest(self.run.sweep_dir)["searches"]
        for state in self.run.study.states.values():
            search, record = state.search, searches[state.search.id]
            if search.phase != "intermediate":
                continue
            if record["state"] == "pending" and (entry := self.entry(search)) is not None:
                self.adopt(search, entry)
            elif record["state"] == "running":
                self.hold(search)
            elif record["state"] == "done" and record.get("origin") == "trained" and not record.get("store"):
                self.publish(search, record["best"])

    def may_start(self, search: Search) -> bool:
        """Whether stage one ``search`` may start now: it trains here (this driver holds its lease); or not,
        because another sweep trains it (it waits), the store holds it (it is reused, and done), its entry
        is damaged (it fails, saying what to delete) or the store cannot be read for now (it waits)."""
        try:
            outcome, entry = self.claim(search)
            if outcome == REUSED:
                self.adopt(search, entry)
        except OSError as exc:
            self.run.progress.note(f"{search.pair}: cannot read the checkpoint store ({exc}); looking again shortly")
            return False
        except SweepStateError as exc:
            self.run.study.states[search.id].state = self.run.failed(search, str(exc))
            return False
        return outcome == TRAIN

    def adopt(self, search: Search, entry: dict[str, Any] | None) -> None:
        """Make the store's entry ``search``'s result: its rows in this study's results, marked reused."""
        assert entry is not None
        model = search.model or self.config.model.name
        results = self.run.recorders[search.id].store
        for trial_id, attempt, rows in self.reused_rows(entry, search=search, sweep_name=self.config.name, model=model):
            results.write_attempt(rows, search=search.id, trial_id=trial_id, attempt=attempt)
        layout.set_state(
            self.run.sweep_dir,
            search,
            state="done",
            best=entry["best"],
            encoder=self.store.encoder_location(entry),
            origin="reused",
            store={"key": entry["key"], "location": self.store.location, "trained_by": entry.get("trained_by")},
        )
        self.run.study.states[search.id].state = "done"
        self.run.compact(search)
        by = entry.get("trained_by", {}).get("sweep", "?")
        detail = f"; reused from the checkpoint store ({entry['key']}, trained by {by})"
        self.run.progress.search_finished(search, best=entry["best"]["objective"], detail=detail)

    def publish(self, search: Search, best: dict[str, Any]) -> None:
        """Add a stage one trained here to the store; a failure is noted and the study goes on (`sweep
        resume` tries again)."""
        sweep_dir, note = self.run.sweep_dir, self.run.progress.note
        encoder = sweep_dir.encoder(search.encoder_key)
        try:
            if not encoder.is_dir():  # a resumed sweep on shared storage: its local copy lacks encoders
                download(sweep_dir.encoder_location(search.encoder_key), encoder)
            table = ResultsStore.read(sweep_dir.results / search.id)
            outcome = self.publish_entry(search, best=best, encoder=encoder, table=table)
        except Exception as exc:  # the store is a convenience: this sweep's own result stands
            self.release(search)
            note(
                f"{search.pair}: adding it to the checkpoint store {self.store.location} failed "
                f"({type(exc).__name__}: {exc}); this sweep goes on, and `sweep resume` tries again"
            )
            return
        key = self.key(search)
        if outcome == HELD:
            note(f"{search.pair}: another sweep holds the lease of {key}; `sweep resume` tries again")
            return
        record = {"key": key, "location": self.store.location, "published": outcome == WRITTEN}
        layout.set_state(sweep_dir, search, store=record)
        if outcome == WRITTEN:
            note(f"{search.pair}: added to the checkpoint store as {key}")

    # ------------------------------------------------------------------------------- the store's side

    def claim(self, search: Search) -> tuple[str, dict[str, Any] | None]:
        """Whether ``search`` trains here (TRAIN: this driver holds its lease), waits for another sweep
        that trains it (WAIT), or may be reused now (REUSED, with the entry's record)."""
        if search.id in self.leases:
            return TRAIN, None
        now = time.monotonic()
        if now - self._looked.get(search.id, -LOOK_EVERY_S) < LOOK_EVERY_S:
            return WAIT, None
        self._looked[search.id] = now
        key = self.key(search)
        if (entry := self.store.entry(key)) is not None:
            return REUSED, entry
        lease = self.store.lease(key, holder={"sweep": self.sweep, "search": search.id})
        if lease.acquire():
            if (entry := self.store.entry(key)) is not None:  # published between the look and the lease
                lease.release()
                return REUSED, entry
            self.leases[search.id] = lease
            return TRAIN, None
        if search.id not in self._told:
            self._told.add(search.id)
            self.run.progress.note(
                f"{search.pair}: {self.store.holder(key)} is training the same stage one (store entry {key}); "
                "waiting to reuse it"
            )
        return WAIT, None

    def hold(self, search: Search) -> None:
        """Take ``search``'s lease if no one holds it (a resumed search that trains on regardless)."""
        if search.id not in self.leases:
            lease = self.store.lease(self.key(search), holder={"sweep": self.sweep, "search": search.id})
            if lease.acquire():
                self.leases[search.id] = lease

    def reused_rows(
        self, entry: dict[str, Any], *, search: Search, sweep_name: str, model: str
    ) -> list[tuple[str, int, list[dict]]]:
        """The entry's rows as this study's: ``(trial id, attempt, rows)`` for each attempt, each row with
        this study's sweep, search id and model name, and ``origin`` reused."""
        table = self.store.rows(entry)
        hp_names = [n for n in table.column_names if n.startswith("hp_")]
        attempts: dict[tuple[str, int], list[dict]] = {}
        for row in table.to_pylist():
            hp = {name[3:]: row.pop(name) for name in hp_names}
            row.update(sweep=sweep_name, search=search.id, model=model, origin="reused")
            row["hp"] = {k: v for k, v in hp.items() if v is not None}
            attempts.setdefault((row["trial_id"], row["attempt"]), []).append(row)
        return [(trial, attempt, rows) for (trial, attempt), rows in sorted(attempts.items())]

    def publish_entry(self, search: Search, *, best: dict[str, Any], encoder: Any, table: Any) -> str:
        """Add ``search``'s result to the store, holding its lease: WRITTEN; EXISTS when the entry was
        complete already; HELD when another sweep holds the lease (it trains the entry and publishes its
        own; `sweep resume` tries again if it never does)."""
        rows = table.filter(pc.equal(table["search"], search.id))
        record = {
            "identity": self.identities.get(search.id) or stage_one.identity(self.config, search),
            "intermediate": search.intermediate,
            "model": search.model or self.config.model.name,
            "best": best,
            "trained_by": {"sweep": self.sweep, "search": search.id},
        }
        key = self.key(search)
        self.hold(search)
        if search.id not in self.leases:
            return EXISTS if self.store.entry(key) is not None else HELD
        try:
            wrote = self.store.publish(key, encoder=encoder, rows=rows, record=record, lease=self.leases[search.id])
            return WRITTEN if wrote else EXISTS
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
