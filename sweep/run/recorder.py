"""Turning what trials report into immutable result rows, exactly once per trial attempt.

Each report is appended to the trial's journal as it arrives. When an attempt ends (completed,
stopped by the scheduler, or errored) an end marker (step 0, which no report uses) is journalled
and the attempt's records become one Parquet file of rows; the marker lets ``rebuild_missing``
write that file again, identically, if it is lost.
A resumed driver may see the same trial end again: the store's first-write-wins rule and the
``finished`` check below keep every attempt recorded once.
"""

from __future__ import annotations

import math
import time
from pathlib import Path
from typing import Any

from sweep.plan.searches import Search
from sweep.storage.journal import TrialJournal
from sweep.storage.results import ResultsStore
from trainers.spec import CAPPED_SPLIT, HYPERPARAMETERS, LAYER_MARK, OBJECTIVE, TASK_MARK, HyperParameters
from trainers.tasks import LANGUAGE_MARK

END_STEP = 0  # reports are numbered from 1, so step 0 of an attempt is its end marker
#: The results table's ``hp_*`` column types: every hyperparameter a search may set.
HP_COLUMN_TYPES: dict[str, str] = {name: ("int" if kind is int else "float") for name, kind in HYPERPARAMETERS.items()}

# Keys of a Tune result that are not ``split/language/metric`` scores but still become rows.
_EXTRA_ROWS = {OBJECTIVE: ("dev", "*", OBJECTIVE), "lr": ("train", "*", "lr")}


class Recorder:
    """Journals one search's reports and writes each finished attempt's rows."""

    def __init__(
        self,
        *,
        store: ResultsStore,
        journal: TrialJournal,
        search: Search,
        sweep: str,
        model: str,
        epochs: int,
        seed: int,
        trained: bool = True,
        regime: str = "zero_shot",
    ) -> None:
        self.store, self.journal, self.search = store, journal, search
        self.sweep, self.model, self.epochs, self.seed = sweep, model, epochs, seed
        self.trained = trained  # an evaluation-only search (retrieval) has no hyperparameters to record
        # What rows score unless a key names its task: the target, the intermediate task trained (``xnli``
        # for ``xnli@de``), or for a mixture's own rows (objective, lr) the mixture.
        self.task = search.target or search.intermediate.split(LANGUAGE_MARK)[0]
        self.regime = regime
        self.last_status: dict[str, str] = {}  # trial id -> how its last recorded attempt ended

    def attempt(self, trial_id: str) -> int:
        """The attempt a trial is on: the first one without a results file."""
        k = 0
        while self.store.has_attempt(search=self.search.id, trial_id=trial_id, attempt=k):
            k += 1
        return k

    def finished(self, trial_id: str) -> bool:
        """Whether some attempt of the trial already ended in ``completed`` or ``stopped``."""
        for k in range(self.attempt(trial_id)):
            table = self.store.attempt_table(search=self.search.id, trial_id=trial_id, attempt=k, columns=["status"])
            statuses = set(table.column("status").to_pylist())
            if statuses & {"completed", "stopped"}:
                return True
        return False

    def on_result(self, trial_id: str, result: dict[str, Any], hp: dict[str, Any]) -> None:
        """Journal one reported result (ignored for a trial that already finished)."""
        if self.finished(trial_id):
            return
        hp = HyperParameters.from_search(hp).to_dict() if self.trained else {}
        now = time.time()
        kept = ("epoch", "optimizer_step", "node", "layer", "seed")
        metrics = {k: v for k, v in result.items() if (k.count("/") == 2 or k in _EXTRA_ROWS or k in kept)}
        self.journal.append(
            search=self.search.id,
            trial_id=trial_id,
            record={
                "attempt": self.attempt(trial_id),
                "step": int(result["training_iteration"]),
                "reported_at": now,
                "started_at": now - float(result.get("time_total_s", 0.0)),
                "wall_s": float(result.get("time_total_s", 0.0)),
                "metrics": metrics,
                "hp": hp,
                # How many reports the trial makes in all (its evaluations; its epochs by default).
                "planned": int(result.get("evaluations", self.epochs)),
            },
        )

    def on_end(self, trial_id: str, *, error: str | None, hp: dict[str, Any]) -> Path | None:
        """Record the end of the trial's current attempt; return the results file written, if any."""
        if self.finished(trial_id):
            return None
        attempt = self.attempt(trial_id)
        records = self.journal.records(search=self.search.id, trial_id=trial_id)
        reports = [r for r in records if r["attempt"] == attempt and r["step"] != END_STEP]
        if error is not None:
            status = "errored"
        elif reports and max(r["step"] for r in reports) >= max(r.get("planned", self.epochs) for r in reports):
            status = "completed"
        else:
            status = "stopped"
        self.journal.append(
            search=self.search.id,
            trial_id=trial_id,
            record={
                "attempt": attempt,
                "step": END_STEP,
                "status": status,
                "error": error,
                "hp": HyperParameters.from_search(hp).to_dict() if self.trained else {},
                "ended_at": time.time(),
            },
        )
        self.last_status[trial_id] = status
        written = self._write(trial_id, attempt)
        self.journal.seal(search=self.search.id, trial_id=trial_id)  # one object on shared storage again
        return written

    def rebuild_missing(self) -> list[Path]:
        """Write the results file of every ended attempt that has none (e.g. moved aside as damaged)."""
        written = []
        for trial_id in self.journal.trials(search=self.search.id):
            for record in self.journal.records(search=self.search.id, trial_id=trial_id):
                if record["step"] == END_STEP and not self.store.has_attempt(
                    search=self.search.id, trial_id=trial_id, attempt=record["attempt"]
                ):
                    path = self._write(trial_id, record["attempt"])
                    if path is not None:
                        written.append(path)
        return written

    def _write(self, trial_id: str, attempt: int) -> Path | None:
        records = [r for r in self.journal.records(search=self.search.id, trial_id=trial_id) if r["attempt"] == attempt]
        end = next(r for r in records if r["step"] == END_STEP)  # the first end marker is the recorded one
        reports = [r for r in records if r["step"] != END_STEP]
        rows = self._rows(
            trial_id, attempt, reports, status=end["status"], error=end["error"], hp=end["hp"], ended_at=end["ended_at"]
        )
        return self.store.write_attempt(rows, search=self.search.id, trial_id=trial_id, attempt=attempt)

    def _rows(
        self,
        trial_id: str,
        attempt: int,
        records: list[dict[str, Any]],
        *,
        status: str,
        error: str | None,
        hp: dict[str, Any],
        ended_at: float,
    ) -> list[dict[str, Any]]:
        base = {
            "sweep": self.sweep,
            "search": self.search.id,
            "pair": self.search.pair,
            "model": self.model,
            "intermediate": self.search.intermediate,
            "target": self.search.target,
            "trial_id": trial_id,
            "attempt": attempt,
            "status": status,
            "phase": self.search.phase,
            "seed": self.seed,
            "error": error,
            "hp": hp,
            "task": self.task,
            "regime": self.regime if self.search.phase == "target" else None,
            "origin": "trained",
        }
        rows = []
        for record in records:
            common = {
                **base,
                "step": record["step"],
                "wall_s": record["wall_s"],
                "node": str(record["metrics"].get("node", "")),
                # A trial reports its training seed (a seeds search's trials differ in it).
                "seed": int(record["metrics"].get("seed", self.seed)),
                "started_at": record["started_at"],
                "reported_at": record["reported_at"],
                "hp": record.get("hp", hp),
            }
            # An evaluation on capped dev sets (training.eval_dev_examples) files its objective under
            # their split, so that selection, which reads dev objectives, never picks it.
            capped = any(key.split("/")[0].rpartition(TASK_MARK)[2] == CAPPED_SPLIT for key in record["metrics"])
            for key, value in record["metrics"].items():
                if key in _EXTRA_ROWS:
                    split, language, metric = _EXTRA_ROWS[key]
                    if key == OBJECTIVE and capped:
                        split = CAPPED_SPLIT
                elif key.count("/") == 2:
                    split, language, metric = key.split("/")
                else:
                    continue
                task, mark, rest = split.rpartition(TASK_MARK)  # a mixture's ``mnli:dev/en/accuracy``
                layer, at, rest = rest.rpartition(LAYER_MARK)  # a retrieval score at another layer
                row = {**common, "split": rest, "language": language, "metric": metric, "value": float(value)}
                if mark:
                    row["task"] = task
                if at:
                    row["layer"] = int(layer)
                elif "layer" in record["metrics"]:  # the evaluation's chosen layer
                    row["layer"] = int(record["metrics"]["layer"])
                rows.append(row)
        if error is not None or not rows:
            last = records[-1] if records else None
            rows.append(
                {
                    **base,
                    "step": last["step"] if last else 0,
                    "split": "-",
                    "language": "-",
                    "metric": "error",
                    "value": math.nan,
                    "wall_s": last["wall_s"] if last else 0.0,
                    "node": str(last["metrics"].get("node", "")) if last else "",
                    "seed": int(last["metrics"].get("seed", self.seed)) if last else self.seed,
                    "started_at": last["started_at"] if last else ended_at,
                    "reported_at": ended_at,
                }
            )
        return rows
