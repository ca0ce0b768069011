"""Trials that span several workers: a Ray Train ``TorchTrainer`` run inside the trial's Tune function.

Ray Train V2 cannot be handed to a Tuner directly; the pattern that works is a Tune function trainable
that fits a ``TorchTrainer`` (``../shared/STACK.md``). Here:

* The Tune trial itself holds only a ``TRAIN_DRIVER`` resource (a custom resource the cluster's head
  advertises; ``cluster.ray_session`` adds it to a local instance), so the CPUs and GPUs go to the
  workers, which Ray Train places in its own placement group: ``count`` workers of ``cpus``/``gpus``.
* Every worker runs ``trainers.engine.run_trial`` in the gloo/NCCL group Ray Train set up; DeepSpeed
  shards across them. DeepSpeed is imported inside the worker function only (ray #50406).
* Each worker reports its own checkpoint folder (its ZeRO shards; worker 0 adds the trainer state and
  the test predictions), and Ray Train merges them into one checkpoint on shared storage.
* A small Train callback hands worker 0's metrics and that checkpoint to this Tune function, which
  reports both to Tune. Tune then holds the trial's checkpoints as for a one-worker trial, so ASHA,
  selection, ``resources.checkpoints_to_keep``, encoder export, ``export-predictions`` and resume work
  unchanged: Tune's checkpoints are the only ones a trial resumes from. The Train run is named after
  the trial (deterministic) and its own folder is cleared before it starts and after it ends, so a
  retried or resumed trial continues from what Tune recorded, on whichever nodes it lands, and never
  from a Train checkpoint whose results Tune did not see.
"""

from __future__ import annotations

import threading
from typing import Any

from ray.train import UserCallback

from cluster.ray_session import DRIVER_RESOURCE
from trainers.fileio import join, remove_tree


class TrialStopped(Exception):
    """Raised in the Train controller to end the Train run of a trial that Tune stopped."""


def driver_resources() -> Any:
    """What the Tune function of a multi-worker trial reserves: a driver slot, no CPU (its workers' own)."""
    from ray import tune

    return tune.PlacementGroupFactory([{DRIVER_RESOURCE: 1}])


def fit_workers(config: dict[str, Any]) -> None:
    """Run a training trial on ``config["workers"]["count"]`` Ray Train workers, reporting each epoch to Tune.

    Example: called by ``sweep.run.trainable.xstilts_trial`` when a trial config has ``"workers": {"count":
    2, "cpus": 1, "gpus": 0, "storage": "/sweeps/NAME/tune/train"}``.
    """
    import ray.train
    from ray import tune
    from ray.train.torch import TorchTrainer
    from ray.util.queue import Queue

    workers = config["workers"]
    name = f"trial_{tune.get_context().get_trial_id()}"
    _clear(workers["storage"], name)
    # The Train controller waits in the callback until Tune has stored the checkpoint (``acks``), so that
    # Train's own retention (one checkpoint) never deletes one Tune is still copying.
    reports: Queue = Queue(maxsize=1, actor_options={"num_cpus": 0})
    acks: Queue = Queue(maxsize=1, actor_options={"num_cpus": 0})
    trainer = TorchTrainer(
        _worker_loop,
        train_loop_config={
            "trial": {k: v for k, v in config.items() if k != "workers"},
            "resume": tune.get_checkpoint(),
        },
        scaling_config=ray.train.ScalingConfig(
            num_workers=workers["count"],
            use_gpu=workers["gpus"] > 0,
            resources_per_worker={"CPU": workers["cpus"], **({"GPU": workers["gpus"]} if workers["gpus"] else {})},
        ),
        run_config=ray.train.RunConfig(
            name=name,
            storage_path=workers["storage"],
            callbacks=[_ForwardReports(reports, acks)],
            # Tune retries the whole trial (resources.max_failures) from the checkpoint it holds.
            failure_config=ray.train.FailureConfig(max_failures=0),
            checkpoint_config=ray.train.CheckpointConfig(num_to_keep=1),
        ),
    )
    outcome: dict[str, Any] = {}

    def fit() -> None:
        try:
            trainer.fit()
        except BaseException as exc:  # handed to the Tune thread, which raises it so that Tune retries
            outcome["error"] = exc
        finally:
            reports.put(None)

    thread = threading.Thread(target=fit, name=f"train-{name}", daemon=True)
    thread.start()
    while (item := reports.get()) is not None:
        metrics, checkpoint = item
        try:
            tune.report(metrics, checkpoint=checkpoint)  # Tune copies the checkpoint into the trial's folder
        except BaseException:
            # Tune stopped the trial (ASHA, or the end of the study): tune.report exits this thread.
            # End the Train run too, which frees its workers, and leave at once: Tune gives a reused
            # actor two seconds to stop. The trial's next attempt, or the driver at the end of the
            # study, clears the Train run's folder.
            acks.put(False)
            raise
        acks.put(True)
    thread.join()
    _clear(workers["storage"], name)
    if "error" in outcome:
        raise outcome["error"]


def _worker_loop(loop_config: dict[str, Any]) -> None:
    """One worker of a multi-worker trial (runs in a Ray Train worker process)."""
    import ray.train

    from sweep.run.trial_run import run_or_fatal
    from sweep.storage.publisher import install_checked_copies

    install_checked_copies()  # Train's checkpoint uploads: every file on storage, or an error

    fatal = run_or_fatal(loop_config["trial"], reporter=_TrainReporter(), checkpoint=loop_config["resume"])
    if fatal is not None:
        ray.train.report(fatal)


class _TrainReporter:
    """Each worker hands its epoch's metrics and its own checkpoint folder to Ray Train."""

    def report(self, metrics: dict[str, Any], *, checkpoint_dir: Any) -> None:
        import ray.train

        ray.train.report(metrics, checkpoint=ray.train.Checkpoint.from_directory(str(checkpoint_dir)))


class _ForwardReports(UserCallback):
    """Runs in the Train controller: hands worker 0's metrics and the merged checkpoint to the Tune function
    and waits until Tune has stored it."""

    def __init__(self, reports: Any, acks: Any) -> None:
        self.reports, self.acks = reports, acks

    def after_report(self, run_context: Any, metrics: list[dict[str, Any]], checkpoint: Any) -> None:
        self.reports.put((dict(metrics[0]), checkpoint))
        if not self.acks.get():
            raise TrialStopped("Tune stopped this trial; its Train run ends here")


def _clear(storage: str, name: str) -> None:
    """Delete a Train run's folder under ``storage`` (a path or a URI), if any."""
    remove_tree(join(storage, name))
