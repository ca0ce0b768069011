"""Ray Tune wiring for a whole study in one Tune run (why one run: ``sweep.plan.study``).

Three small adapters connect Tune to the study: ``StudySearcher`` (Tune's one searcher) hands each new
trial to the search whose turn it is, whose own seeded ``OptunaSearch`` proposes its hyperparameters;
``StudyScheduler`` (Tune's one scheduler) routes each trial's results to its own search's
``ASHAScheduler``; ``StudyCallback`` records results and trial ends. Optuna's and Ray's own pieces
do the searching and stopping; nothing of their logic is rewritten.

Tune pickles the searcher, scheduler and callbacks with its state and unpickles them on
``Tuner.restore``, which takes no new ones. So the adapters hold only the study's name and find, when
called, the live ``Study`` this driver registered (``_LIVE``): a restored run serves the live driver,
never copies of a dead one's objects. The study's searcher and scheduler state travels in Tune's own
searcher checkpoint (``StudySearcher.save``), taken together with the trials' state.
"""

from __future__ import annotations

import contextlib
import math
import zlib
from pathlib import Path
from typing import Any

from ray import tune
from ray.tune.schedulers import ASHAScheduler, FIFOScheduler, TrialScheduler
from ray.tune.search import Searcher

from cluster.ray_compat import continue_from_a_kept_checkpoint
from sweep.config.records import SweepConfig
from sweep.plan.searches import Search
from sweep.plan.study import FINISHED, Study
from trainers.fileio import join
from trainers.spec import FATAL, OBJECTIVE, SELECTION, eval_interval

#: The study each running driver serves, by ``study_key``.
_LIVE: dict[str, Any] = {}
EXPERIMENT = "study"  # the Tune experiment folder under SWEEP_DIR/tune


def study_key(config: SweepConfig) -> str:
    """What the adapters find their study by: the sweep's name, the same after its folder is moved."""
    return config.name


def search_seed(config: SweepConfig, search: Search) -> int:
    """A per-search sampler seed: stable across runs and machines, different between searches. The models of
    a study of several share their searches' seeds (each model's searches try the same values), which also
    lets a stage one be reused between a study of one model and one of several (``sweep.plan.stage_one``)."""
    own_id = search.id.removeprefix(f"{search.model}.") if search.model else search.id
    return (config.search.seed * 1_000_003 + zlib.crc32(own_id.encode())) % (2**31)


def make_searcher(config: SweepConfig, search: Search) -> Any:
    """The search's own searcher over its stage's space: Optuna with a TPE sampler, or its random
    sampler, seeded per search; None when the space searches nothing (every value is fixed)."""
    space = config.stage_of(search).search_space
    if not any(p.type != "constant" for p in space.params.values()):
        return None
    import optuna
    from ray.tune.search.optuna import OptunaSearch

    optuna.logging.set_verbosity(optuna.logging.WARNING)  # one "study created" line per search is noise
    seed = search_seed(config, search)
    sampler = (
        optuna.samplers.RandomSampler(seed=seed)
        if config.search.algorithm == "random"
        else optuna.samplers.TPESampler(seed=seed)
    )
    searcher = OptunaSearch(sampler=sampler)
    searcher.set_search_properties(OBJECTIVE, "max", {"hp": space.to_tune()})
    return searcher


def make_scheduler(config: SweepConfig, search: Search, *, epochs: int) -> Any:
    """The search's own scheduler: ASHA over its trials' evaluations (one per epoch, or as
    ``training.eval_every`` sets), or None (FIFO: every trial runs to the end)."""
    max_t = max_evaluations(config.for_model(search.model).training.eval_every, epochs=epochs)
    if config.search.scheduler == "fifo" or max_t <= 1:
        return None
    return ASHAScheduler(
        time_attr="training_iteration",  # the trial's evaluations so far: ASHA's milestones are in them
        metric=OBJECTIVE,
        mode="max",
        max_t=max_t,
        grace_period=config.search.grace_period,
        reduction_factor=config.search.reduction_factor,
    )


def max_evaluations(eval_every: str | None, *, epochs: int) -> int:
    """An upper bound on a trial's evaluations, ASHA's ``max_t`` (it stops a trial that reaches it).

    One per epoch by default. Every ``F epochs``: ``round(F x steps per epoch)`` steps apart, at least one,
    so at most ``3 x epochs / F + 1`` whatever the data's size. Every ``N steps`` depends on the training
    set's size, which the driver does not read: no cap (the trial ends by itself).
    """
    if eval_every is None:
        return epochs
    unit, amount = eval_interval(eval_every)
    if unit == "epochs":
        return math.ceil(3 * epochs / amount) + 1
    return 10**9


def _study(key: str) -> Study:
    return _LIVE[key]


class StudySearcher(Searcher):
    """Tune's searcher: asks the study which search proposes the next trial, and with what values."""

    def __init__(self, key: str) -> None:
        super().__init__(metric=OBJECTIVE, mode="max")
        self.key = key

    def set_search_properties(self, metric: str | None, mode: str | None, config: dict, **spec: Any) -> bool:
        return True  # each search's searcher has its own space

    def suggest(self, trial_id: str) -> dict[str, Any] | str | None:
        proposal = _study(self.key).suggest(trial_id)
        return Searcher.FINISHED if proposal == FINISHED else proposal

    def on_trial_result(self, trial_id: str, result: dict) -> None:
        searcher = _study(self.key).state_of(trial_id).searcher
        if searcher is not None:
            searcher.on_trial_result(trial_id, result)

    def on_trial_complete(self, trial_id: str, result: dict | None = None, error: bool = False) -> None:
        searcher = _study(self.key).state_of(trial_id).searcher
        if searcher is not None:
            error = error or FATAL in (result or {})  # failed for good, without an objective
            searcher.on_trial_complete(trial_id, result=None if error else result, error=error)

    def save(self, checkpoint_path: str) -> None:
        Path(checkpoint_path).write_bytes(_study(self.key).save_state())

    def restore(self, checkpoint_path: str) -> None:
        _study(self.key).restore_state(Path(checkpoint_path).read_bytes())


class StudyScheduler(FIFOScheduler):
    """Tune's scheduler: each trial's results go to its own search's ASHA; trials start first come,
    first served (FIFO), so every search gets slots as its trials are proposed."""

    def __init__(self, key: str) -> None:
        super().__init__()
        self.key = key

    def _own(self, trial: Any) -> Any:
        return _study(self.key).state_of(trial.trial_id, trial.config).scheduler

    def set_search_properties(self, metric: str | None, mode: str | None, **spec: Any) -> bool:
        return True

    def on_trial_add(self, tune_controller: Any, trial: Any) -> None:
        if (own := self._own(trial)) is not None:
            own.on_trial_add(tune_controller, trial)

    def on_trial_result(self, tune_controller: Any, trial: Any, result: dict) -> str:
        own = self._own(trial)
        if own is None or FATAL in result:  # a fatal report is no score for ASHA's rungs; the trial ends
            return TrialScheduler.CONTINUE
        return own.on_trial_result(tune_controller, trial, result)

    def on_trial_complete(self, tune_controller: Any, trial: Any, result: dict) -> None:
        if (own := self._own(trial)) is not None:
            with contextlib.suppress(KeyError):  # a trial ASHA already let go of
                own.on_trial_complete(tune_controller, trial, result)

    def on_trial_error(self, tune_controller: Any, trial: Any) -> None:
        self.on_trial_remove(tune_controller, trial)

    def on_trial_remove(self, tune_controller: Any, trial: Any) -> None:
        if (own := self._own(trial)) is not None:
            with contextlib.suppress(KeyError):
                own.on_trial_remove(tune_controller, trial)


class StudyCallback(tune.Callback):
    """Records every result and every trial's end through the study's driver hooks."""

    def __init__(self, key: str) -> None:
        self.key = key
        self.adopted = False

    def on_step_begin(self, iteration: int, trials: list, **info: Any) -> None:
        study = _study(self.key)
        study.poll()  # a stage one whose encoder export ended releases its pairs, whether Tune asks for a trial or not
        if not self.adopted:  # the first step: Tune has restored (or not yet made) its trials
            self.adopted = True
            study.adopt((t.trial_id, t.config) for t in trials)
            for trial in trials:
                if trial.status != "TERMINATED" and (moved := continue_from_a_kept_checkpoint(trial)):
                    study.events.checkpoint_lost(trial.trial_id, trial.config, lost=moved[0], kept=moved[1])

    def on_trial_result(self, iteration: int, trials: list, trial: Any, result: dict, **info: Any) -> None:
        if FATAL not in result:  # not a step: the trial's error, recorded when it ends
            _study(self.key).events.result(trial.trial_id, trial.config, result)

    def on_trial_complete(self, iteration: int, trials: list, trial: Any, **info: Any) -> None:
        fatal = (trial.last_result or {}).get(FATAL)  # an error no retry fixes, reported by the trial
        _study(self.key).events.ended(trial.trial_id, trial.config, error=fatal)

    def on_trial_recover(self, iteration: int, trials: list, trial: Any, **info: Any) -> None:
        _study(self.key).events.retried(trial.trial_id, trial.config, error=error_text(trial))

    def on_trial_error(self, iteration: int, trials: list, trial: Any, **info: Any) -> None:
        _study(self.key).events.ended(trial.trial_id, trial.config, error=error_text(trial))


def run_study(
    config: SweepConfig, study: Study, *, storage: str | Path, trainable: Any, resources: dict[str, float]
) -> Any:
    """Run (or continue) the study's Tune run to the end and return Tune's ResultGrid."""
    import os

    import ray

    key = study_key(config)
    path = join(str(storage), EXPERIMENT)  # a folder, or a URI on shared storage
    # Tune keeps one trial pending at a time for a searcher of its own kind, so a study would fill a
    # large cluster one trial at a time; let it queue as many as could run at once (Tune's own knob).
    cluster = ray.cluster_resources()
    fits = {}  # how many trials of each model's size the cluster holds at once
    for name in config.model_names():
        res = config.for_model(name).resources
        slots = cluster.get("CPU", 1) // max(res.cpus_per_trial * res.workers_per_trial, 1e-9)
        if res.gpus_per_trial > 0:
            slots = min(slots, cluster.get("GPU", 0) // (res.gpus_per_trial * res.workers_per_trial))
        fits[name] = (slots, res.workers_per_trial > 1)
    slots = max(slots for slots, _ in fits.values())
    if any(multi for _, multi in fits.values()):
        # A multi-worker trial's Tune function holds no CPU, so Tune alone would start more of them than
        # their workers fit; a Train run waiting for workers times out. Cap them at what fits.
        fitting = min(slots for slots, multi in fits.values() if multi)
        study.max_trials_in_flight = int(max(1, min(study.max_trials_in_flight or fitting, fitting)))
    res = config.resources
    os.environ.setdefault("TUNE_MAX_PENDING_TRIALS_PG", str(int(max(1, res.max_trials_in_flight or slots))))
    _LIVE[key] = study
    try:
        runnable = tune.with_resources(trainable, _resources_of(resources))
        if tune.Tuner.can_restore(str(path)):
            # Tune keeps finished trials, continues running ones from their last checkpoint, restores the
            # searcher (and with it each search's TPE and ASHA state); errored trials get another go.
            tuner = tune.Tuner.restore(str(path), runnable, resume_errored=True)
        else:
            tuner = tune.Tuner(
                runnable,
                param_space={},
                tune_config=tune.TuneConfig(
                    metric=OBJECTIVE,
                    mode="max",
                    num_samples=-1,  # the study's searcher says when it is finished
                    search_alg=StudySearcher(key),
                    scheduler=StudyScheduler(key),
                    reuse_actors=True,
                    trial_dirname_creator=trial_dirname,
                ),
                run_config=tune.RunConfig(
                    name=EXPERIMENT,
                    storage_path=str(storage),
                    verbose=0,
                    callbacks=[StudyCallback(key)],
                    checkpoint_config=tune.CheckpointConfig(
                        num_to_keep=config.resources.checkpoints_to_keep,
                        checkpoint_score_attribute=SELECTION,  # capped-dev evaluations rank last
                        checkpoint_score_order="max",
                    ),
                    failure_config=tune.FailureConfig(max_failures=config.resources.max_failures),
                ),
            )
        return tuner.fit()
    finally:
        del _LIVE[key]


def _resources_of(resources: dict[str, float]) -> Any:
    """A trial's resources: ``resources`` for one-worker trials and retrieval evaluations, a Train driver
    slot for a trial whose workers Ray Train places (``sweep.run.workers``)."""

    def of(trial_config: dict[str, Any]) -> Any:
        if trial_config.get("workers", {}).get("count", 1) > 1:
            from sweep.run.workers import driver_resources

            return driver_resources()
        own = trial_config.get("resources", resources)  # each model's own, in a study of several
        return tune.PlacementGroupFactory([{k.upper(): v for k, v in own.items() if v}])

    return of


def trial_dirname(trial: Any) -> str:
    """Name trial folders by id alone: Tune's default packs the whole config into the name."""
    return f"trial_{trial.trial_id}"


def error_text(trial: Any) -> str:
    """The tail of a failed trial's error: the exception, without the whole traceback."""
    # Tune appends "Failure # N ..." blocks to the trial's local error file before calling back;
    # its storage copy (get_error) may not be synced yet.
    text = None
    if trial.error_file and Path(trial.error_file).is_file():
        text = Path(trial.error_file).read_text().split("Failure # ")[-1]
    if not text:
        error = trial.get_error()
        text = str(error) if error is not None else "trial failed (no error recorded)"
    return text.strip()[-4000:]  # the tail holds the exception; the whole traceback stays in Tune's file
