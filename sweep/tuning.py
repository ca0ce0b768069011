"""Ray Tune wiring for one search: Optuna's TPE proposes, ASHA stops, the recorder writes rows.

Everything here composes Ray's and Optuna's own pieces (``OptunaSearch``, ``ConcurrencyLimiter``,
``ASHAScheduler``, ``Tuner.restore``); nothing of their logic is rewritten.

Tune pickles a run's callbacks with its state and unpickles them on ``Tuner.restore``, which takes no
new ones. So the callback holds only its sweep's and search's names and finds, when called, the recorder and
progress display this driver registered for that search (``_LIVE``): a restored run reports to the
live driver, never to copies of a dead one's objects.
"""

from __future__ import annotations

import zlib
from pathlib import Path
from typing import Any

from ray import tune

from sweep.config import SweepConfig
from sweep.plan import Search
from sweep.progress import Progress
from sweep.recorder import Recorder
from trainers.spec import OBJECTIVE, TrialSpec

#: The recorder and progress display of each search this driver runs, by ``live_key``.
_LIVE: dict[str, tuple[Recorder, Progress]] = {}


def search_seed(config: SweepConfig, search: Search) -> int:
    """A per-search sampler seed: stable across runs and machines, different between searches."""
    return (config.search.seed * 1_000_003 + zlib.crc32(search.id.encode())) % (2**31)


class RecordingCallback(tune.Callback):
    """Journals every result of one search and records each trial attempt when it ends."""

    def __init__(self, key: str) -> None:
        self.key = key  # live_key(config, search)

    def _live(self) -> tuple[Recorder, Progress]:
        return _LIVE[self.key]

    def on_trial_result(self, iteration: int, trials: list, trial: Any, result: dict, **info: Any) -> None:
        recorder, progress = self._live()
        recorder.on_result(trial.trial_id, result, trial.config["hp"])
        progress.on_result(trial.trial_id, result)

    def on_trial_complete(self, iteration: int, trials: list, trial: Any, **info: Any) -> None:
        recorder, progress = self._live()
        recorder.on_end(trial.trial_id, error=None, hp=trial.config["hp"])
        progress.on_end(trial.trial_id, trials, error=None)

    def on_trial_recover(self, iteration: int, trials: list, trial: Any, **info: Any) -> None:
        recorder, progress = self._live()
        recorder.on_end(trial.trial_id, error=_error_text(trial), hp=trial.config["hp"])
        progress.on_retry(trial.trial_id)

    def on_trial_error(self, iteration: int, trials: list, trial: Any, **info: Any) -> None:
        recorder, progress = self._live()
        recorder.on_end(trial.trial_id, error=_error_text(trial), hp=trial.config["hp"])
        progress.on_end(trial.trial_id, trials, error=_error_text(trial))


def run_search(
    config: SweepConfig, search: Search, *, spec: TrialSpec, storage: Path, recorder: Recorder, progress: Progress
) -> Any:
    """Run (or continue) one search to the end and return Tune's ResultGrid."""
    from sweep.trainable import xstilts_trial

    stage = config.stage(search.phase)
    # The searched values travel beside the spec (which holds no hyperparameters: a sweep started before
    # they were in the spec must restore with the same keys); the trial sets them into its spec.
    shared = {k: v for k, v in spec.to_dict().items() if k != "hparams"}
    param_space = {"spec": shared, "hp": stage.search_space.to_tune()}
    resources = {"cpu": config.resources.cpus_per_trial, "gpu": config.resources.gpus_per_trial}
    trainable = tune.with_resources(xstilts_trial, resources)
    path = storage / search.id
    key = live_key(config, search)
    _LIVE[key] = (recorder, progress)
    try:
        return _fit(
            config, search, stage=stage, trainable=trainable, param_space=param_space, storage=storage, path=path
        )
    finally:
        del _LIVE[key]


def live_key(config: SweepConfig, search: Search) -> str:
    """What a search's callback finds its driver's recorder by: the sweep and search names, which stay
    the same when a sweep directory is moved between a crash and its resume."""
    return f"{config.name}/{search.id}"


def _fit(
    config: SweepConfig, search: Search, *, stage: Any, trainable: Any, param_space: dict, storage: Path, path: Path
) -> Any:
    if tune.Tuner.can_restore(str(path)):
        # Tune keeps finished trials, continues running ones from their last checkpoint and
        # restores the searcher and scheduler state (and the callback); errored ones get another go.
        tuner = tune.Tuner.restore(str(path), trainable, resume_errored=True, param_space=param_space)
    else:
        tuner = tune.Tuner(
            trainable,
            param_space=param_space,
            tune_config=tune.TuneConfig(
                metric=OBJECTIVE,
                mode="max",
                num_samples=stage.num_samples,
                search_alg=make_searcher(config, search),
                scheduler=make_scheduler(config, stage),
                reuse_actors=True,
                trial_dirname_creator=trial_dirname,
            ),
            run_config=tune.RunConfig(
                name=search.id,
                storage_path=str(storage),
                verbose=0,
                callbacks=[RecordingCallback(live_key(config, search))],
                checkpoint_config=tune.CheckpointConfig(
                    num_to_keep=config.resources.checkpoints_to_keep,
                    checkpoint_score_attribute=OBJECTIVE,
                    checkpoint_score_order="max",
                ),
                failure_config=tune.FailureConfig(max_failures=config.resources.max_failures),
            ),
        )
    return tuner.fit()


def make_searcher(config: SweepConfig, search: Search) -> Any:
    """The search's searcher: seeded TPE (or random search), limited to max_concurrent_trials at once."""
    from ray.tune.search import BasicVariantGenerator, ConcurrencyLimiter

    seed = search_seed(config, search)
    limit = config.resources.max_concurrent_trials
    if config.search.algorithm == "random":
        return BasicVariantGenerator(random_state=seed, max_concurrent=limit)
    import optuna
    from ray.tune.search.optuna import OptunaSearch

    optuna.logging.set_verbosity(optuna.logging.WARNING)  # one "study created" line per search is noise
    return ConcurrencyLimiter(OptunaSearch(sampler=optuna.samplers.TPESampler(seed=seed)), max_concurrent=limit)


def make_scheduler(config: SweepConfig, stage: Any) -> Any:
    """The search's scheduler: ASHA over epochs (each search its own), or FIFO."""
    from ray.tune.schedulers import ASHAScheduler, FIFOScheduler

    if config.search.scheduler == "fifo":
        return FIFOScheduler()
    return ASHAScheduler(
        time_attr="training_iteration",
        max_t=stage.epochs,
        grace_period=config.search.grace_period,
        reduction_factor=config.search.reduction_factor,
    )


def trial_dirname(trial: Any) -> str:
    """Name trial folders by id alone: Tune's default packs the whole config into the name."""
    return f"trial_{trial.trial_id}"


def _error_text(trial: Any) -> str:
    # Tune appends "Failure # N ..." blocks to the trial's local error file before calling back;
    # its storage copy (get_error) may not be synced yet.
    text = None
    if trial.error_file and Path(trial.error_file).is_file():
        text = Path(trial.error_file).read_text().split("Failure # ")[-1]
    if not text:
        error = trial.get_error()
        text = str(error) if error is not None else "trial failed (no error recorded)"
    return text.strip()[-4000:]  # the tail holds the exception; the whole traceback stays in Tune's file
