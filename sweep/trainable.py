"""The Ray Tune trainable: builds a trial's spec from its config and runs it through ``trainers.engine``."""

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
    """Run one trial. ``config`` is ``{"spec": TrialSpec.to_dict(), "hp": {name: value chosen by the search}}``.

    A retried or resumed trial continues from the last checkpoint Tune handed back.
    """
    from ray import tune

    from trainers.engine import run_trial
    from trainers.spec import HyperParameters, TrialSpec

    spec = dataclasses.replace(TrialSpec.from_dict(config["spec"]), hparams=HyperParameters.from_search(config["hp"]))
    checkpoint = tune.get_checkpoint()
    if checkpoint is None:
        run_trial(spec, reporter=_TuneReporter())
        return
    with checkpoint.as_directory() as folder:
        run_trial(spec, reporter=_TuneReporter(), resume_dir=Path(folder))
