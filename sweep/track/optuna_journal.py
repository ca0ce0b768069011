"""Every search of a sweep as an Optuna study in one journal file, for ``optuna-dashboard``.

``SWEEP_DIR/optuna-journal.log`` is an ``optuna.storages.JournalStorage`` file: a study per search (named
by its id), and in it a trial per xstilts trial, with the values its searcher proposed as params (over the
search space's distributions), its dev objective by evaluation as intermediate values, and its end:
``COMPLETE`` with its best objective (what selection ranks), ``PRUNED`` when ASHA stopped it early, ``FAIL``
when it errored. ``optuna-dashboard SWEEP_DIR/optuna-journal.log`` then shows all of a study's searches side
by side, and ``optuna.load_study`` reads any of them.

It is a view, written as trials report (each search's own ``OptunaSearch`` keeps its sampler's state in
Tune's checkpoint, not here). A resumed driver finds each trial again by its ``trial_id`` user attribute
and continues it; a trial that Tune runs again after it had failed for good gets a second Optuna trial
(an Optuna trial never reopens), marked with ``continues``. On shared storage the file is published as
trials end, at most every ``PUBLISH_EVERY_S``, and when each search and the driver end.
"""

from __future__ import annotations

import math
import time
from typing import Any

from sweep.config.records import SweepConfig
from sweep.config.spaces import Param
from sweep.plan.searches import Search, is_evaluation
from sweep.storage import layout
from sweep.track.naming import TrialInfo, search_tags
from trainers.spec import CAPPED_SCORE, OBJECTIVE, SELECTION

JOURNAL_FILE = "optuna-journal.log"
PUBLISH_EVERY_S = 30.0
_STATES = {"completed": "COMPLETE", "stopped": "PRUNED", "errored": "FAIL"}


def distribution(param: Param) -> Any:
    """The Optuna distribution of a searched hyperparameter (a constant has none: it is a user attribute)."""
    from optuna.distributions import CategoricalDistribution, FloatDistribution, IntDistribution

    if param.type in ("uniform", "loguniform"):
        return FloatDistribution(float(param.low), float(param.high), log=param.type == "loguniform")
    if param.type == "int":
        return IntDistribution(int(param.low), int(param.high))
    if param.type == "choice":
        return CategoricalDistribution(list(param.values))
    return None


def open_storage(path: str) -> Any:
    """The journal at ``path`` as an Optuna storage, with the lock ``optuna-dashboard`` takes too."""
    from optuna.storages import JournalStorage
    from optuna.storages.journal import JournalFileBackend, JournalFileOpenLock

    return JournalStorage(JournalFileBackend(path, lock_obj=JournalFileOpenLock(path)))


class OptunaJournal:
    """Writes a sweep's searches and trials into its Optuna journal as they run."""

    name = "optuna journal"

    def __init__(self, sweep_dir: layout.SweepDir, config: SweepConfig) -> None:
        import optuna

        optuna.logging.set_verbosity(optuna.logging.WARNING)
        self.optuna = optuna
        self.sweep_dir, self.config = sweep_dir, config
        self.path = sweep_dir.root / JOURNAL_FILE
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.storage = open_storage(str(self.path))
        self.studies: dict[str, int] = {}  # search id -> its study id
        self.trials: dict[str, int] = {}  # xstilts trial id -> its live Optuna trial id
        self.best: dict[str, float] = {}  # xstilts trial id -> its best selection objective so far
        self.published = 0.0

    def _study(self, search: Search, model: str) -> int:
        if search.id not in self.studies:
            study = self.optuna.create_study(
                storage=self.storage, study_name=search.id, direction="maximize", load_if_exists=True
            )
            for key, value in search_tags(search, sweep=self.config.name, model=model).items():
                if study.user_attrs.get(key) != value:
                    study.set_user_attr(key, value)
            study_id = self.storage.get_study_id_from_name(search.id)
            self.studies[search.id] = study_id
            for trial in study.get_trials(deepcopy=False):  # a resumed driver's trials, by their xstilts id
                own = trial.user_attrs.get("trial_id")
                if own is not None and not trial.state.is_finished():
                    self.trials[own] = self.storage.get_trial_id_from_study_id_trial_number(study_id, trial.number)
                    if "best_so_far" in trial.user_attrs:  # as selection ranks it, which this driver extends
                        self.best[own] = trial.user_attrs["best_so_far"]
        return self.studies[search.id]

    def _trial(self, trial: TrialInfo) -> int:
        study_id = self._study(trial.search, trial.model)
        if trial.trial_id in self.trials:
            return self.trials[trial.trial_id]
        earlier = [
            t
            for t in self.storage.get_all_trials(study_id, deepcopy=False)
            if t.user_attrs.get("trial_id") == trial.trial_id
        ]
        number = self.storage.create_new_trial(study_id)  # the storage's id of the trial, not its number
        self.trials[trial.trial_id] = number
        attrs: dict[str, Any] = {"trial_id": trial.trial_id, "seed": trial.seed, "attempt": trial.attempt}
        if earlier:
            attrs["continues"] = earlier[-1].number
        space = {} if is_evaluation(trial.search) else self.config.stage_of(trial.search).search_space.params
        for name, value in sorted(trial.hp.items()):
            param = space.get(name)
            dist = distribution(param) if param is not None else None
            if dist is None:
                attrs[f"hp_{name}"] = value
            else:
                self.storage.set_trial_param(number, name, dist.to_internal_repr(value), dist)
        for key, value in attrs.items():
            self.storage.set_trial_user_attr(number, key, value)
        return number

    def result(self, trial: TrialInfo, *, step: int, result: dict[str, Any]) -> None:
        number = self._trial(trial)
        objective = result.get(OBJECTIVE)
        if isinstance(objective, (int, float)) and math.isfinite(objective):
            self.storage.set_trial_intermediate_value(number, step, float(objective))
        chosen = result.get(SELECTION, objective)
        if isinstance(chosen, (int, float)) and math.isfinite(chosen) and chosen > CAPPED_SCORE:
            if float(chosen) > self.best.get(trial.trial_id, -math.inf):
                self.best[trial.trial_id] = float(chosen)
                self.storage.set_trial_user_attr(number, "best_so_far", float(chosen))  # for a resumed driver

    def retried(self, trial: TrialInfo, *, error: str) -> None:
        self.storage.set_trial_user_attr(self._trial(trial), "attempt", trial.attempt)

    def ended(self, trial: TrialInfo, *, status: str, error: str | None) -> None:
        from optuna.trial import TrialState

        number = self._trial(trial)
        best = self.best.pop(trial.trial_id, None)
        state = TrialState[_STATES[status]]
        if state == TrialState.COMPLETE and best is None:
            state = TrialState.FAIL  # a trial that completed without a usable objective is no result
        if error:
            self.storage.set_trial_user_attr(number, "error", error[-2000:])
        self.storage.set_trial_user_attr(number, "status", status)
        self.storage.set_trial_state_values(number, state, [best] if state == TrialState.COMPLETE else None)
        del self.trials[trial.trial_id]
        if time.monotonic() - self.published >= PUBLISH_EVERY_S:
            self._publish()

    def search_ended(self, search: Search, *, state: str, record: dict[str, Any]) -> None:
        study_id = self._study(search, search.model or self.config.model.name)
        self.storage.set_study_user_attr(study_id, "state", state)
        if (test := record.get("test")) and test.get("mean") is not None:
            self.storage.set_study_user_attr(study_id, "test_mean", test["mean"])
        self._publish()

    def close(self) -> None:
        if self.path.is_file():
            self._publish()

    def _publish(self) -> None:
        self.published = time.monotonic()
        self.sweep_dir.publish(self.path)
