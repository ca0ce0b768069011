"""The Ray Tune trainable: turns a trial's config into a run of ``trainers`` (training, or a retrieval
evaluation) and hands what it reports to Tune."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any


class _TuneReporter:
    """Hands each epoch's metrics and checkpoint folder to Ray Tune."""

    def report(self, metrics: dict[str, Any], *, checkpoint_dir: Path) -> None:
        from ray import tune

        tune.report(metrics, checkpoint=tune.Checkpoint.from_directory(str(checkpoint_dir)))


def xstilts_trial(config: dict[str, Any]) -> None:
    """Run one trial. ``config`` is ``{"search": id, "spec": TrialSpec.to_dict() without hyperparameters,
    "hp": {name: value}}`` for a training trial, or ``{"search": id, "evaluate": {...}}`` for a retrieval
    target's evaluation (the keyword arguments of ``trainers.retrieval.embed.evaluate_retrieval``).

    A retried or resumed trial continues from the last checkpoint Tune handed back. An error that no retry
    can fix (a model that cannot be built, missing or malformed data, an unknown task, a missing encoder)
    is not raised, which would make Tune retry it ``resources.max_failures`` times for nothing: the trial
    reports it (``FATAL``) and returns, and the driver records the trial as errored with its text.
    """
    from ray import tune

    from trainers.errors import CheckpointError, DataError, ModelError, TaskError
    from trainers.spec import FATAL, OBJECTIVE

    try:
        _run(config)
    except (ModelError, DataError, TaskError, CheckpointError) as exc:
        tune.report({OBJECTIVE: float("nan"), FATAL: f"{type(exc).__name__}: {exc}"})


def _run(config: dict[str, Any]) -> None:
    from ray import tune

    if "evaluate" in config:
        from trainers.retrieval.embed import evaluate_and_report
        from trainers.spec import ModelSpec

        options = dict(config["evaluate"])
        options["model_spec"] = ModelSpec(**options["model_spec"])
        evaluate_and_report(options.pop("task"), reporter=_TuneReporter(), **options)
        return

    from trainers.engine import run_trial
    from trainers.spec import HyperParameters, TrialSpec

    spec = dataclasses.replace(TrialSpec.from_dict(config["spec"]), hparams=HyperParameters.from_search(config["hp"]))
    checkpoint = tune.get_checkpoint()
    if checkpoint is None:
        run_trial(spec, reporter=_TuneReporter())
        return
    with checkpoint.as_directory() as folder:
        run_trial(spec, reporter=_TuneReporter(), resume_dir=Path(folder))
