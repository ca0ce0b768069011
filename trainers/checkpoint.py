"""What a trial's checkpoint folder holds, named once for the trainer that writes it and the sweep
that reads it, and how a trial writes one (``save``) and goes on from one (``restore``)::

    FOLDER/checkpoint/                DeepSpeed's checkpoint (its tag is TAG)
    FOLDER/trainer_state.json         {"epoch", "position", "evaluations", "micro_steps", "task", "zero_stage",
                                       "precision", "workers"}
    FOLDER/rng_state.pt               torch, numpy and Python RNG states after the epoch (worker 0)
    FOLDER/rng_state.<rank>.pt        the same of each other worker of a multi-worker trial
    FOLDER/predictions/test-<lang>.*  the epoch's test predictions (``trainers.predictions``)

Importing this module is cheap (the sweep driver reads checkpoints' states): torch, numpy and DeepSpeed's
engine are only touched by ``save`` and ``restore``, inside a trial.
"""

from __future__ import annotations

import json
import pickle
import random
from pathlib import Path
from typing import Any

from trainers.errors import CheckpointError
from trainers.fileio import no_space

TAG = "checkpoint"
STATE_FILE = "trainer_state.json"
RNG_FILE = "rng_state.pt"
PREDICTIONS_DIR = "predictions"


def rng_file(rank: int) -> str:
    """The name of worker ``rank``'s RNG state file in a checkpoint folder."""
    return RNG_FILE if rank == 0 else f"rng_state.{rank}.pt"


def report_step(state: dict[str, Any]) -> int:
    """The report a checkpoint belongs to (Tune's ``training_iteration``, the results' ``step``): its
    evaluation's number, or its epoch in checkpoints that evaluate once an epoch (as earlier versions)."""
    return int(state.get("evaluations", state["epoch"]))


def write_state(folder: Path, **state: Any) -> None:
    """Write a checkpoint folder's trainer state (``epoch`` at least)."""
    (Path(folder) / STATE_FILE).write_text(json.dumps(state))


def read_state(folder: Path) -> dict[str, Any]:
    """The trainer state of a checkpoint folder; a CheckpointError when it was not written by a trial."""
    path = Path(folder) / STATE_FILE
    try:
        return json.loads(path.read_text())
    except FileNotFoundError:
        raise CheckpointError(
            f"checkpoint {folder} has no {STATE_FILE}; it was not written by an xstilts trial"
        ) from None
    except json.JSONDecodeError as exc:
        raise CheckpointError(f"{path} is damaged ({exc.msg}); the checkpoint cannot be used") from exc


def save(engine: Any, folder: Path, *, rank: int, state: dict[str, Any]) -> None:
    """Write this worker's part of a trial checkpoint into ``folder``: its DeepSpeed shards (DeepSpeed needs
    every worker to call this), the trainer ``state`` (worker 0 only) and its RNG states."""
    try:
        _save(engine, folder, rank=rank, state=state)
    except Exception as exc:  # a full disk, whatever DeepSpeed or torch wrapped it in: name the folder
        if (full := no_space(exc, folder)) is not None:
            raise full from exc
        raise


def _save(engine: Any, folder: Path, *, rank: int, state: dict[str, Any]) -> None:
    import numpy as np
    import torch

    # A frozen base (training.adapter) is left out: it comes back from where the trial built it from.
    engine.save_checkpoint(str(folder), tag=TAG, exclude_frozen_parameters=_has_frozen(engine))
    if rank == 0:
        write_state(folder, **state)
    # Dropout draws from these: restoring them makes a resumed epoch identical to an uninterrupted one.
    # Tensors, numbers and strings only: loaded with weights_only, so the file cannot carry code.
    kind, keys, position, has_gauss, gauss = np.random.get_state()
    version, words, gauss_next = random.getstate()
    torch.save(
        {
            "torch": torch.get_rng_state(),
            "numpy": [kind, torch.from_numpy(keys.astype(np.int64)), int(position), int(has_gauss), float(gauss)],
            "python": [version, list(words), gauss_next],
        },
        Path(folder) / rng_file(rank),
    )


def restore(engine: Any, folder: Path, *, batches_per_epoch: int) -> dict[str, int]:
    """Load a trial checkpoint into ``engine`` and this worker's RNGs; return where training goes on:
    ``{"epoch", "position", "evaluations"}`` (the global micro-batches of ``epoch`` already trained, and
    the evaluations made)."""
    import torch.distributed as dist

    state = read_state(folder)
    workers = int(state.get("workers", 1))
    if workers != dist.get_world_size() and state.get("zero_stage", 0) > 0:
        raise CheckpointError(
            f"checkpoint {folder} holds ZeRO shards of {workers} workers, but this trial runs on "
            f"{dist.get_world_size()}; resume with the same resources.workers_per_trial"
        )
    load_path, _ = engine.load_checkpoint(str(folder), tag=TAG, load_module_strict=not _has_frozen(engine))
    if load_path is None:
        raise CheckpointError(f"DeepSpeed could not load the checkpoint in {folder}")
    rng_path = folder / rng_file(dist.get_rank())
    if not rng_path.is_file():
        rng_path = folder / RNG_FILE
    if rng_path.is_file():
        import numpy as np
        import torch

        try:
            rng = torch.load(rng_path, weights_only=True)
        except pickle.UnpicklingError:  # written by an earlier version, as a pickle of numpy's own objects
            print(
                f"{rng_path}: random states of an earlier version, not loaded (they may hold code); "
                "dropout after this resume differs from an uninterrupted run's",
                flush=True,
            )
        else:
            torch.set_rng_state(rng["torch"])
            kind, keys, position, has_gauss, gauss = rng["numpy"]
            np.random.set_state((kind, keys.numpy().astype(np.uint32), position, has_gauss, gauss))
            version, words, gauss_next = rng["python"]
            random.setstate((version, tuple(words), gauss_next))
    if "micro_steps" in state:
        engine.micro_steps = int(state["micro_steps"])
    # Checkpoints of earlier versions were taken at epoch ends only, one evaluation per epoch.
    epoch, position = int(state["epoch"]), int(state.get("position", batches_per_epoch))
    evaluations = int(state.get("evaluations", epoch))
    if position >= batches_per_epoch:
        return {"epoch": epoch + 1, "position": 0, "evaluations": evaluations}
    return {"epoch": epoch, "position": position, "evaluations": evaluations}


def _has_frozen(engine: Any) -> bool:
    return any(not p.requires_grad for p in engine.module.parameters())
