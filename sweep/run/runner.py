"""The driver's side of a running study: the study built from the plan and the sweep directory, each
trial's config, what happens to every result and trial end, and each search's end (its best trial,
its encoder or test scores, its row in the manifest)."""

from __future__ import annotations

import dataclasses
import re
import time
from pathlib import Path
from typing import Any

import pyarrow.compute as pc

from sweep.config.mixtures import is_mixture, mixture_spec
from sweep.config.records import SweepConfig
from sweep.errors import CheckpointError, SweepStateError, XStiltsError
from sweep.plan.searches import (
    NONE,
    ZERO_SHOT,
    Search,
    eval_languages,
    is_evaluation,
    plan,
    regime_sources,
    stage_one_id,
)
from sweep.plan.study import FINISHING, SearchState, Study
from sweep.run.progress import Progress
from sweep.run.recorder import HP_COLUMN_TYPES, Recorder
from sweep.storage import layout
from sweep.storage.journal import TrialJournal
from sweep.storage.results import ResultsStore
from sweep.storage.select import best_trial, test_summary, trial_counts
from trainers.fileio import exists, join, remove_tree
from trainers.spec import HyperParameters, MixtureSpec, TrialSpec
from trainers.tasks import get_task, selection_languages, split_ref, training_data

TRAIN_RUNS = "train"  # under the sweep's tune/ folder: the transient Ray Train runs of multi-worker trials

_RESOURCES_EVERY_S = 5.0  # how often the driver notes the cluster's resources in use for `sweep status`
COMPACT_EVERY = 256  # attempts a running search writes before they are merged into its compacted file


def recorder(sweep_dir: layout.SweepDir, config: SweepConfig, search: Search) -> Recorder:
    """The recorder of ``search``'s results (an evaluation is one step with no hyperparameters)."""
    evaluation = is_evaluation(search)
    return Recorder(
        store=ResultsStore(sweep_dir.results, sweep=config.name, hp_types=HP_COLUMN_TYPES, publish=sweep_dir.publish),
        journal=TrialJournal(
            sweep_dir.journal,
            publish=sweep_dir.publish_now,  # what results are rebuilt from: on storage before the driver goes on
            publish_part=sweep_dir.publish_bytes,
            unpublish_parts=sweep_dir.unpublish_tree,
        ),
        search=search,
        sweep=config.name,
        model=search.model or config.model.name,
        epochs=1 if evaluation else config.stage_of(search).epochs,
        seed=config.seed,
        trained=not evaluation,
        regime=search.regime,
    )


class StudyRun:
    """One driver's run of a sweep's study: builds the ``Study`` and serves it as its driver."""

    def __init__(self, sweep_dir: layout.SweepDir, config: SweepConfig) -> None:
        from sweep.run import tuning

        self.sweep_dir, self.config = sweep_dir, config
        self.searches = plan(config)
        self.recorders = {s.id: recorder(sweep_dir, config, s) for s in self.searches}
        self._uncompacted: dict[str, int] = {}  # attempts ended per search since its files were last merged
        self.specs: dict[str, TrialSpec] = {}
        manifest = layout.read_manifest(sweep_dir)
        table = ResultsStore.read(sweep_dir.results)
        finished = _finished_trials(table)
        states = []
        for search in self.searches:
            evaluation = is_evaluation(search)
            fixed = evaluation or search.rerun_of is not None  # no hyperparameters to search, no early stops
            stage = config.stage_of(search)
            states.append(
                SearchState(
                    search=search,
                    samples=1 if evaluation else len(config.seeds) if search.rerun_of else stage.num_samples,
                    needs=search.needs,
                    searcher=None if fixed else tuning.make_searcher(config, search),
                    scheduler=None if fixed else tuning.make_scheduler(config, search, epochs=stage.epochs),
                    finished=finished.get(search.id, set()),
                    state="done" if manifest["searches"][search.id]["state"] == "done" else "waiting",
                )
            )
        self.study = Study(
            states,
            trial_config=self.trial_config,
            finalize=self.finalize,
            finish=self.finish,
            skip=self.skip,
            claim=self.claim,
            max_concurrent_trials=config.resources.max_concurrent_trials,
            max_trials_in_flight=config.resources.max_trials_in_flight,
            max_searches_in_flight=config.resources.max_searches_in_flight,
        )
        self.study.events = self
        self.progress = Progress(
            total_searches=len(self.searches), in_flight=lambda: self.study.in_flight, done=lambda: self.study.done
        )
        from sweep.track import open_trackers

        self.trackers = open_trackers(sweep_dir, config, note=self.progress.note)  # MLflow, W&B, ... as set
        self._announced: set[str] = set()
        self._ended: set[str] = set()  # trials whose end this driver recorded
        self._resources_noted = 0.0
        self._finishing: dict[str, tuple[Any, dict[str, Any], Any, str, float]] = {}  # stage ones exporting
        self.reuse = None  # stage one shared with other studies (``sweep.run.reuse``)
        if config.checkpoint_store:
            from sweep.run.reuse import StageOneReuse

            self.reuse = StageOneReuse(self)

    # ------------------------------------------------------------------------------------ running

    def run(self, *, trainable: Any) -> list[Search]:
        """Run every search that is not done; return those that failed."""
        kept = [s.search for s in self.study.states.values() if s.state == "done"]
        if kept:
            self.progress.note(f"{len(kept)} searches already finished, kept: {', '.join(s.pair for s in kept)}")
        try:
            if self.reuse is not None:
                self.reuse.at_start()
            self.study.finalize_finished()
            self._run_study(trainable)
        finally:
            self.trackers.close()
            if self.reuse is not None:
                self.reuse.release_all()
        return [s.search for s in self.study.states.values() if s.state == "failed"]

    def _run_study(self, trainable: Any) -> None:
        from sweep.run import tuning

        if self.study.done < len(self.searches):
            resources = {"cpu": self.config.resources.cpus_per_trial, "gpu": self.config.resources.gpus_per_trial}
            grid = tuning.run_study(
                self.config, self.study, storage=self.sweep_dir.tune, trainable=trainable, resources=resources
            )
            # Multi-worker trials' Train runs are transient (Tune holds the checkpoints); a trial that Tune
            # stopped as the study ended may not have cleared its own.
            remove_tree(join(str(self.sweep_dir.tune), TRAIN_RUNS))
            self._reconcile(grid)
            self.study.finalize_finished()
            for search in self.study.finishing:  # exports that outlasted the Tune run
                self.study.states[search.id].state = self.finish(search, wait=True)
            self.study.settle()  # the searches that needed an export that failed: they fail saying so
            for state in self.study.states.values():
                if state.state not in ("done", "failed"):  # never a silent success: say so, and resume it
                    ended = len((state.finished | state.failed) & set(state.suggested))
                    self.failed(
                        state.search,
                        f"the study's Tune run ended with {ended} of its {state.samples} trials ended; "
                        f"`sweep resume {self.sweep_dir.remote or self.sweep_dir.root}` runs the rest",
                        notify=False,
                    )
                    state.state = "failed"

    def trial_config(self, search: Search, sampled: dict[str, Any]) -> dict[str, Any]:
        """The Tune config of a new trial of ``search`` (called when its search proposes it)."""
        if search.id not in self._announced:
            self._announced.add(search.id)
            state = self.study.states[search.id]
            resumed = layout.read_manifest(self.sweep_dir)["searches"][search.id]["state"] != "pending"
            layout.set_state(self.sweep_dir, search, state="running")
            self.progress.search_started(
                search, samples=state.samples, evaluation=is_evaluation(search), resumed=resumed
            )
        if is_evaluation(search):
            res = self.config.for_model(search.model).resources
            resources = {"cpu": res.cpus_per_trial, "gpu": res.gpus_per_trial}
            return {"search": search.id, "evaluate": self._evaluation(search), "resources": resources}
        if search.id not in self.specs:
            self.specs[search.id] = trial_spec(self.config, search, self.sweep_dir)
        spec = {k: v for k, v in self.specs[search.id].to_dict().items() if k != "hparams"}
        fixed = self.config.stage_of(search).search_space.params
        constants = {name: p.values[0] for name, p in fixed.items() if p.type == "constant"}
        hp = {**constants, **sampled}
        if search.rerun_of is not None:
            # A seeds search's next trial: the best configuration of the search it re-runs, with the first
            # seed none of its trials has (proposed, restored by Tune on resume, or in the results).
            spec["seed"] = self._next_seed(search)
            hp = self._best_hp(search.rerun_of)
        trial = {"search": search.id, "spec": spec, "hp": hp}
        res = self.config.for_model(search.model).resources
        trial["resources"] = {"cpu": res.cpus_per_trial, "gpu": res.gpus_per_trial}  # per model (sweep.config.models)
        if res.workers_per_trial > 1:
            # The Train run of each trial keeps its transient files on the sweep's (shared) storage.
            trial["workers"] = {
                "count": res.workers_per_trial,
                "cpus": res.cpus_per_trial,
                "gpus": res.gpus_per_trial,
                "storage": join(str(self.sweep_dir.tune), TRAIN_RUNS),
            }
        return trial

    def _next_seed(self, search: Search) -> int:
        state = self.study.states[search.id]
        used = {
            config["spec"]["seed"]
            for trial_id in state.suggested
            if "spec" in (config := self.study.trial_configs.get(trial_id, {}))
        }
        folder = self.sweep_dir.results / search.id
        if folder.is_dir():
            used |= set(ResultsStore.read(folder, columns=["seed"]).column("seed").to_pylist())
        free = [seed for seed in self.config.seeds if seed not in used]
        return free[0] if free else self.config.seeds[(len(state.suggested) - 1) % len(self.config.seeds)]

    def _best_hp(self, search_id: str) -> dict[str, Any]:
        """The hyperparameters of ``search_id``'s best trial, as its results record them."""
        best = layout.read_manifest(self.sweep_dir)["searches"][search_id]["best"]
        return self._hp_of(search_id, best["trial_id"])

    def _hp_of(self, search_id: str, trial_id: str) -> dict[str, Any]:
        """The hyperparameters of a trial, as its results record them."""
        table = ResultsStore.read(self.sweep_dir.results / search_id)
        mask = pc.and_(pc.equal(table["search"], search_id), pc.equal(table["trial_id"], trial_id))
        row = table.filter(mask).slice(0, 1).to_pylist()[0]
        return {name: row[f"hp_{name}"] for name in HP_COLUMN_TYPES if row.get(f"hp_{name}") is not None}

    def _evaluation(self, search: Search) -> dict[str, Any]:
        config = self.config.for_model(search.model)

        encoder = None if search.intermediate == NONE else encoder_location(self.sweep_dir, search)
        return {
            "task": search.target,
            "model_spec": dataclasses.asdict(target_model(config, search.target)),
            "init_encoder": encoder,
            "languages": list(eval_languages(config, search.target)),
            "data_dir": config.data_dir,
            "layer": config.retrieval.layer,
            "layers": config.retrieval.layers,
            "pooling": config.retrieval.pooling,
            "batch_size": config.retrieval.batch_size,
            "torch_threads": config.training.torch_threads,
        }

    # ------------------------------------------------------------------------ results and trial ends

    def result(self, trial_id: str, config: dict[str, Any], result: dict[str, Any]) -> None:
        """A trial reported: journal it, and keep the display and the resources note current."""
        state = self.study.state_of(trial_id, config)
        recorder = self.recorders[state.search.id]
        if self.trackers and not recorder.finished(trial_id):
            step = int(result["training_iteration"])
            self.trackers.result(self._trial(state.search, trial_id, config), step=step, result=result)
        recorder.on_result(trial_id, result, config.get("hp", {}))
        self.progress.trial_result(state.search, trial_id, result)
        self._note_resources()

    def ended(self, trial_id: str, config: dict[str, Any], *, error: str | None) -> None:
        """A trial completed, was stopped, or errored for good: record its attempt; end its search if last."""
        state = self.study.state_of(trial_id, config)
        search = state.search
        self._ended.add(trial_id)
        recorder = self.recorders[search.id]
        tracked = self._trial(search, trial_id, config) if self.trackers else None
        recorder.last_status.pop(trial_id, None)
        recorder.on_end(trial_id, error=error, hp=config.get("hp", {}))
        if tracked is not None and trial_id in recorder.last_status:  # this end was recorded now, not before
            self.trackers.ended(tracked, status=recorder.last_status[trial_id], error=error)
        self._uncompacted[search.id] = self._uncompacted.get(search.id, 0) + 1
        if self._uncompacted[search.id] >= COMPACT_EVERY:  # a long search: its finished attempts, merged
            self._uncompacted[search.id] = 0
            self.compact(search)
        epochs = self.recorders[search.id].epochs
        eval_every = self.config.for_model(search.model).training.eval_every
        unit = "evaluations" if eval_every and not is_evaluation(search) else "epochs"
        self.progress.trial_ended(search, trial_id, error=error, epochs=epochs, samples=state.samples, unit=unit)
        if error is None:
            self.study.trial_finished(trial_id, config)
        else:
            self.study.trial_failed(trial_id, config)

    def retried(self, trial_id: str, config: dict[str, Any], *, error: str) -> None:
        """A trial crashed and will be retried from its last checkpoint: its attempt ends as errored."""
        state = self.study.state_of(trial_id, config)
        self.recorders[state.search.id].on_end(trial_id, error=error, hp=config.get("hp", {}))
        if self.trackers:  # the same run goes on, in its next attempt
            self.trackers.retried(self._trial(state.search, trial_id, config), error=error)
        self.progress.trial_retried(state.search, trial_id)

    def _trial(self, search: Search, trial_id: str, config: dict[str, Any]) -> Any:
        """The trial as the trackers know it, on the attempt it is on now."""
        from sweep.track import TrialInfo

        return TrialInfo(
            sweep=self.config.name,
            search=search,
            trial_id=trial_id,
            model=search.model or self.config.model.name,
            seed=int(config.get("spec", {}).get("seed", self.config.seed)),
            attempt=self.recorders[search.id].attempt(trial_id),
            hp=dict(config.get("hp", {})),
        )

    def checkpoint_lost(self, trial_id: str, config: dict[str, Any], *, lost: int, kept: int | None) -> None:
        """A resumed trial's last checkpoint was deleted after Tune's saved state named it; it continues
        from an earlier one (its journal keeps the first report of each epoch)."""
        state = self.study.state_of(trial_id, config)
        self.progress.checkpoint_lost(state.search, trial_id, lost=lost, kept=kept)

    def _note_resources(self) -> None:
        now = time.monotonic()
        if now - self._resources_noted < _RESOURCES_EVERY_S:
            return
        self._resources_noted = now
        import ray

        total, free = ray.cluster_resources(), ray.available_resources()
        in_use = {k: [round(total[k] - free.get(k, 0.0), 2), total[k]] for k in ("CPU", "GPU") if total.get(k)}
        running = {s.search.id: s.live for s in self.study.states.values() if s.live}
        layout.note_driver(self.sweep_dir, resources=in_use, running=running, noted_at=time.time())

    def _reconcile(self, grid: Any) -> None:
        """Record any trial that ended while no callback could see it (e.g. just before a crash)."""
        for result in grid:
            trial_id = result.metrics.get("trial_id") if result.metrics else None
            if trial_id is None and result.path:
                # A trial that never reported: its folder name carries the id (see tuning.trial_dirname).
                match = re.fullmatch(r"trial_(\w+)", Path(result.path).name)
                trial_id = match.group(1) if match else None
            config = result.config or {}
            if trial_id is None or "search" not in config or trial_id in self._ended:
                continue
            error = str(result.error)[-4000:] if result.error is not None else None
            state = self.study.state_of(trial_id, config)
            recorder = self.recorders[state.search.id]
            tracked = self._trial(state.search, trial_id, config)
            recorder.last_status.pop(trial_id, None)
            recorder.on_end(trial_id, error=error, hp=config.get("hp", {}))
            if trial_id in recorder.last_status:
                self.trackers.ended(tracked, status=recorder.last_status[trial_id], error=error)
            if self.recorders[state.search.id].finished(trial_id):
                self.study.trial_finished(trial_id, config)
            elif error is not None:
                self.study.trial_failed(trial_id, config)

    # --------------------------------------------------------------------------------- search ends

    def finalize(self, search: Search) -> str:
        """``search``'s last trial ended: choose its best trial, export its encoder (stage one) or read its
        test scores (pairs), and mark it done; or failed, saying why."""
        folder = self.sweep_dir.results / search.id  # this search's files only: a study has thousands
        table = ResultsStore.read(folder) if folder.is_dir() else ResultsStore.read(self.sweep_dir.results)
        best = best_trial(table, search=search.id)
        if best is None:
            reason = (
                f"every trial failed; see the errors with "
                f"`sweep query {self.sweep_dir.root} --where search={search.id} --where metric=error`"
            )
            return self.failed(search, reason)
        record: dict[str, Any] = {"best": best}
        where = f" (trial {best['trial_id']}, epoch {best['step']})"
        if search.rerun_of is not None:
            return self._finalize_seeds(search, table, best=best)
        if search.phase == "intermediate":
            started = time.monotonic()
            try:
                export = self._export(search, best)
            except Exception as exc:  # the pairs that need this encoder fail; the rest of the study goes on
                return self.failed(search, f"exporting the best encoder failed: {type(exc).__name__}: {exc}")
            self._finishing[search.id] = (export, record, table, where, started)
            return self.finish(search) or FINISHING  # the study goes on while the export runs
        metric = get_task(search.target).metric if is_evaluation(search) else None
        summary = test_summary(table, best=best, metric=metric)
        record["test"] = summary
        detail = (f"{where if not is_evaluation(search) else ''}; test mean {summary['mean']:.4f}") if summary else ""
        return self._conclude(search, record, table, best=best, detail=detail)

    def finish(self, search: Search, *, wait: bool = False) -> str | None:
        """The state of stage one ``search`` once its encoder's export (started by ``finalize``) has ended:
        ``done`` with the encoder recorded, or ``failed``; None while it runs (``wait``: wait for it)."""
        export, record, table, where, started = self._finishing[search.id]
        if not wait and not export.ready():
            return None
        try:
            location = str(export.location())
        except Exception as exc:  # the pairs that need this encoder fail; the rest of the study goes on
            del self._finishing[search.id]
            return self.failed(search, f"exporting the best encoder failed: {type(exc).__name__}: {exc}")
        # How long its pairs waited for the encoder (what `sweep estimate --durations` simulates).
        done = {"encoder": location, "export_s": round(time.monotonic() - started, 3), "origin": "trained"}
        state = self._conclude(
            search,
            {**record, **done},
            table,
            best=record["best"],
            detail=f"{where}; encoder saved",
        )
        del self._finishing[search.id]  # only now: an error above leaves it to be finished again
        return state

    def _conclude(
        self, search: Search, record: dict[str, Any], table: Any, *, best: dict[str, Any], detail: str
    ) -> str:
        """Record ``search`` done: its row in the manifest, its trackers, its compacted results, its entry
        in the checkpoint store (a stage one), and its checkpoints pruned to the best."""
        record["trials"] = trial_counts(table, search.id)
        layout.set_state(self.sweep_dir, search, state="done", **record)
        self.trackers.search_ended(search, state="done", record=record)
        self.compact(search)
        if search.phase == "intermediate" and self.reuse is not None:
            self.reuse.publish(search, best)
        if not self.config.for_model(search.model).resources.keep_finished_checkpoints:
            # Disk: only the best checkpoint is ever read again (its encoder was exported above, its test
            # predictions are what `export-predictions` writes).
            trials = set(table.filter(pc.equal(table["search"], search.id)).column("trial_id").to_pylist())
            # A pair's best checkpoint is read for its predictions only; stage one's for its encoder too.
            try:
                self.sweep_dir.prune_checkpoints(
                    trials, keep=(best["trial_id"], best["step"]), keep_weights=search.phase == "intermediate"
                )
            except OSError as exc:  # disk space only: the search's result is recorded above
                self.progress.note(f"{search.pair}: checkpoints not pruned ({exc}); they only take disk space")
        self.progress.search_finished(search, best=best["objective"], detail=detail)
        return "done"

    def _finalize_seeds(self, search: Search, table: Any, *, best: dict[str, Any]) -> str:
        """A seeds search ended: each seed's run is selected on its own dev objective (the protocol's rule,
        seed by seed) and its test scores at that step recorded."""
        import statistics

        seeds: dict[str, Any] = {}
        ran = table.filter(pc.equal(table["search"], search.id))
        for trial_id in sorted(set(ran.column("trial_id").to_pylist())):
            own = ran.filter(pc.equal(ran["trial_id"], trial_id))
            chosen = best_trial(own, search=search.id)
            if chosen is None:
                continue
            seed = own.column("seed")[0].as_py()
            seeds[str(seed)] = {"best": chosen, "test": test_summary(own, best=chosen)}
        if not seeds:
            return self.failed(search, "every seed's run failed")
        means = [entry["test"]["mean"] for entry in seeds.values() if entry["test"]]
        layout.set_state(
            self.sweep_dir, search, state="done", best=best, seeds=seeds, trials=trial_counts(table, search.id)
        )
        self.trackers.search_ended(search, state="done", record={"best": best, "seeds": seeds})
        self.compact(search)
        if not self.config.for_model(search.model).resources.keep_finished_checkpoints:
            for entry in seeds.values():  # each seed's best checkpoint (its test predictions) and no other
                chosen = entry["best"]
                self.sweep_dir.prune_checkpoints(
                    {chosen["trial_id"]}, keep=(chosen["trial_id"], chosen["step"]), keep_weights=False
                )
        spread = f" ± {statistics.stdev(means):.4f}" if len(means) > 1 else ""
        detail = f"; {len(seeds)} seeds, test mean {statistics.fmean(means):.4f}{spread}" if means else ""
        self.progress.search_finished(search, best=best["objective"], detail=detail)
        return "done"

    # ------------------------------------------------------------------------- checkpoint store

    def claim(self, search: Search) -> bool:
        """Whether ``search`` may start now (``Study``'s hook; ``sweep.run.reuse`` for stage ones with a store)."""
        return self.reuse is None or search.phase != "intermediate" or self.reuse.may_start(search)

    def skip(self, search: Search, needed: str) -> None:
        """``search`` can never run: the search it needs failed."""
        self.failed(search, f"it needs {needed}, which failed", notify=False)  # the study's end lists it

    def compact(self, search: Search) -> None:
        """Merge a search's results files into one (``sweep.storage.compaction``): as it finishes, and every
        ``COMPACT_EVERY`` attempts of a long one, so queries open a few files per search instead of one per
        attempt. Attempts written meanwhile stay in their own files, read as before; compaction that fails
        leaves the files as they were, all still read."""
        from sweep.storage.compaction import compact_search

        folder = self.sweep_dir.results / search.id
        try:
            if folder.is_dir():
                compact_search(folder, publish=self.sweep_dir.publish, remove=self.sweep_dir.unpublish)
        except (OSError, XStiltsError) as exc:
            self.progress.note(f"{search.pair}: results not compacted ({exc}); its files are read as they are")

    def failed(self, search: Search, reason: str, *, notify: bool = True) -> str:
        """Mark ``search`` failed, saying why; ``notify.webhook`` hears of it (``notify``) unless it failed only
        because another did, or because the study's Tune run ended first (the study's end message lists both)."""
        if self.reuse is not None and search.phase == "intermediate":
            self.reuse.release(search)  # another sweep may train it
        layout.set_state(self.sweep_dir, search, state="failed", error=reason)
        self.trackers.search_ended(search, state="failed", record={"error": reason})
        if notify and self.config.notify.webhook:
            from sweep.track import notify as webhook

            message = webhook.search_failed(sweep=self.config.name, search=search.pair, reason=reason)
            if (trouble := webhook.post(self.config.notify.webhook, message)) is not None:
                self.progress.note(f"notify: {trouble}")
        self.progress.search_failed(search, reason)
        return "failed"

    def _export(self, search: Search, best: dict[str, Any]) -> Any:
        """Start exporting ``search``'s best encoder on the cluster (``sweep.run.exports``)."""
        from sweep.run.exports import start_export

        spec = self.specs.get(search.id) or trial_spec(self.config, search, self.sweep_dir)
        # The trial's own values: an adapter's rank and scale decide the tensors its checkpoint holds.
        hp = HyperParameters.from_search(self._hp_of(search.id, best["trial_id"]))
        spec = dataclasses.replace(spec, hparams=hp)
        table = ResultsStore.read(self.sweep_dir.results / search.id)
        mask = pc.and_(pc.equal(table["search"], search.id), pc.equal(table["trial_id"], best["trial_id"]))
        nodes = [n for n in table.filter(mask).column("node").to_pylist() if n]
        return start_export(
            self.sweep_dir,
            search=search.id,
            trial_id=best["trial_id"],
            step=best["step"],
            key=search.encoder_key,
            spec=spec,
            node=nodes[-1] if nodes else "",
        )


def _finished_trials(table: Any) -> dict[str, set[str]]:
    """Trials with a completed or stopped attempt, per search, in the results table."""
    finished: dict[str, set[str]] = {}
    for row in table.select(["search", "trial_id", "status"]).to_pylist():
        if row["status"] in ("completed", "stopped"):
            finished.setdefault(row["search"], set()).add(row["trial_id"])
    return finished


def trial_spec(config: SweepConfig, search: Search, sweep_dir: layout.SweepDir) -> TrialSpec:
    """The spec every trial of ``search`` shares; each trial sets the hyperparameters its search chose."""
    config = config.for_model(search.model)
    if search.target is not None and config.max_length_of(search.target) != config.model.max_length:
        config = dataclasses.replace(config, model=target_model(config, search.target))
    stage = config.stage_of(search)
    init_encoder = None
    if search.phase == "target" and search.intermediate != NONE:
        location = encoder_location(sweep_dir, search)
        if not exists(location):
            raise CheckpointError(
                f"{search.id} needs the encoder of intermediate task {search.intermediate} at "
                f"{location}, which is missing; `sweep resume {sweep_dir.remote or sweep_dir.root}` re-runs stage one"
                " (a checkpoint store's entry that was deleted: launch the study again, and it trains stage one anew)"
            )
        init_encoder = location
    # What every trial spec of the search shares, whatever it trains on.
    common = {
        "sweep": config.name,
        "search": search.id,
        "phase": search.phase,
        "select_on": config.search.select_on,
        "data_dir": config.data_dir,
        "epochs": stage.epochs,
        "seed": config.seed,
        "model": config.model,
        "training": config.training,
        "init_encoder": init_encoder,
    }
    if search.phase == "intermediate" and is_mixture(config, search.intermediate):
        # A mixture trains its sources together and is selected on their dev sets (``sweep.config.mixtures``).
        mixture = mixture_spec(config, search.intermediate)
        languages = tuple(dict.fromkeys(lang for source in mixture.sources for lang in source.languages))
        return TrialSpec(
            **common,
            task=search.intermediate,
            train_languages=languages,
            eval_languages=languages,
            eval_splits=("dev",),
            mixture=mixture,
        )
    if search.phase == "target" and search.regime != ZERO_SHOT:
        # The regime's data: one target language's (translate_train, in_language), or English and every
        # target language's together (multilingual); selected on the dev sets of the languages it trains in.
        sources = regime_sources(config, search)
        return TrialSpec(
            **common,
            task=search.target,
            train_languages=tuple(lang for source in sources for lang in source.languages),
            eval_languages=(search.language,) if search.language else eval_languages(config, search.target),
            eval_splits=("dev", "test"),
            mixture=MixtureSpec(sources=sources),
        )
    # An intermediate task may train in other languages (``xnli@de+fr``); its trials are selected on
    # the dev sets of those languages. Targets train on their English training set.
    train_task, train_languages = training_data(search.task)
    task_name, _ = split_ref(search.task)
    intermediate = search.phase == "intermediate"
    return TrialSpec(
        **common,
        task=task_name,
        train_task=train_task.name,
        train_languages=train_languages,
        eval_languages=selection_languages(search.task) if intermediate else eval_languages(config, search.task),
        eval_splits=("dev",) if intermediate else ("dev", "test"),
    )


def encoder_location(sweep_dir: layout.SweepDir, search: Search) -> str:
    """Where ``search``'s pairs read the encoder of its intermediate entry: the checkpoint store's entry it
    reused, or the one this sweep exported."""
    record = layout.read_manifest(sweep_dir)["searches"].get(stage_one_id(search.intermediate, model=search.model))
    if record and record.get("origin") == "reused":
        return record["encoder"]
    return sweep_dir.encoder_location(search.encoder_key)


def target_model(config: SweepConfig, target: str | None) -> Any:
    """The model spec of ``target``'s pairs: its own ``per_target`` length, on the position table of the
    model stage one trained (a scratch model's is sized from ``model.max_length``)."""
    model = config.model
    length = config.max_length_of(target)
    if length == model.max_length:
        return model
    return dataclasses.replace(model, max_length=length, max_positions=model.max_positions or model.max_length + 2)


def unpublished(manifest: dict[str, Any], config: SweepConfig) -> bool:
    """Whether a stage one trained here is missing from the config's checkpoint store (its driver died
    between the search's end and publishing it): resuming the sweep publishes it."""
    return bool(config.checkpoint_store) and any(
        entry["phase"] == "intermediate" and entry.get("origin") == "trained" and not entry.get("store")
        for entry in manifest["searches"].values()
        if entry["state"] == "done"
    )


def failure_message(sweep_dir: layout.SweepDir, failed: list[Search]) -> SweepStateError:
    """The error a finished sweep with failed searches ends with."""
    manifest = layout.read_manifest(sweep_dir)
    lines = "\n".join(f"  - {s.pair}: {manifest['searches'][s.id].get('error', 'no reason recorded')}" for s in failed)
    return SweepStateError(
        f"{len(failed)} search(es) of {sweep_dir.root} failed; the rest of the study finished:\n{lines}"
    )
