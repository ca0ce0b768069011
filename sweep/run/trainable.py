"""The Ray Tune trainable: turns a trial's config into a run of ``trainers`` (training, or a retrieval
evaluation) and hands what it reports to Tune."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from sweep.run.trial_run import run_or_fatal


class _TuneReporter:
    """Hands each epoch's metrics and checkpoint folder to Ray Tune."""

    def report(self, metrics: dict[str, Any], *, checkpoint_dir: Path) -> None:
        from ray import tune

        tune.report(metrics, checkpoint=tune.Checkpoint.from_directory(str(checkpoint_dir)))


def xstilts_trial(config: dict[str, Any]) -> None:
    """Run one trial. ``config`` is ``{"search": id, "spec": TrialSpec.to_dict() without hyperparameters,
    "hp": {name: value}}`` for a training trial, or ``{"search": id, "evaluate": {...}}`` for a retrieval
    target's evaluation (the keyword arguments of ``trainers.retrieval.embed.evaluate_retrieval``). A
    training trial of several workers also has ``"workers": {"count", "cpus", "gpus", "storage"}`` and runs
    as a Ray Train run inside this trial (``sweep.run.workers``).

    A retried or resumed trial continues from the last checkpoint Tune handed back. An error that no retry
    can fix (a model that cannot be built, missing or malformed data, an unknown task, a missing encoder)
    is not raised, which would make Tune retry it ``resources.max_failures`` times for nothing: the trial
    reports it (``FATAL``) and returns, and the driver records the trial as errored with its text.
    """
    from ray import tune

    from sweep.storage.publisher import install_checked_copies

    install_checked_copies()  # Tune's checkpoint uploads: every file on storage, or an error
    if config.get("workers", {}).get("count", 1) > 1:
        from sweep.run.workers import fit_workers

        fit_workers(config)
        return
    checkpoint = tune.get_checkpoint()
    fatal = run_or_fatal(config, reporter=_TuneReporter(), checkpoint=checkpoint)
    if fatal is not None:
        tune.report(fatal)
