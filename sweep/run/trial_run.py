"""What a trial runs, whoever drives it: a Tune function (one worker) or each Ray Train worker of a
multi-worker trial (``sweep.run.workers``)."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any


def run_or_fatal(config: dict[str, Any], *, reporter: Any, checkpoint: Any) -> dict[str, Any] | None:
    """Run the trial; return the report of an error no retry can fix (None when it ran)."""
    from trainers.errors import CheckpointError, DataError, ModelError, TaskError
    from trainers.spec import FATAL, OBJECTIVE

    try:
        run(config, reporter=reporter, checkpoint=checkpoint)
    except (ModelError, DataError, TaskError, CheckpointError) as exc:
        return {OBJECTIVE: float("nan"), FATAL: f"{type(exc).__name__}: {exc}"}
    finally:
        release_memory()
    return None


def release_memory() -> None:
    """Give the memory a finished trial freed back to the system. Tune reuses a trial's process for the
    next trial; without this the C heap keeps what each trial's model and optimizer freed, fragmented,
    and a process that has run a hundred trials holds gigabytes (seen in smoke runs of the studies)."""
    import ctypes
    import gc

    gc.collect()
    try:
        import torch

        if torch.cuda.is_available():
            torch.cuda.empty_cache()
    except ImportError:
        pass
    try:
        ctypes.CDLL("libc.so.6").malloc_trim(0)  # glibc only: elsewhere the allocator keeps its own counsel
    except (OSError, AttributeError):
        pass


def run(config: dict[str, Any], *, reporter: Any, checkpoint: Any) -> None:
    """Run one trial with ``reporter``, continuing from ``checkpoint`` (a Tune/Train Checkpoint) if any."""
    if "evaluate" in config:
        from trainers.retrieval.embed import evaluate_and_report
        from trainers.spec import ModelSpec

        options = dict(config["evaluate"])
        options["model_spec"] = ModelSpec(**options["model_spec"])
        evaluate_and_report(options.pop("task"), reporter=reporter, **options)
        return

    from trainers.engine import run_trial
    from trainers.spec import HyperParameters, TrialSpec

    spec = dataclasses.replace(TrialSpec.from_dict(config["spec"]), hparams=HyperParameters.from_search(config["hp"]))
    if checkpoint is None:
        run_trial(spec, reporter=reporter)
        return
    with checkpoint.as_directory() as folder:
        run_trial(spec, reporter=reporter, resume_dir=Path(folder))
