"""What a trial's checkpoint folder holds, named once for the trainer that writes it and the sweep
that reads it::

    FOLDER/checkpoint/                DeepSpeed's checkpoint (its tag is TAG)
    FOLDER/trainer_state.json         {"epoch", "position", "evaluations", "task", "zero_stage", "precision",
                                       "workers"}
    FOLDER/rng_state.pt               torch, numpy and Python RNG states after the epoch (worker 0)
    FOLDER/rng_state.<rank>.pt        the same of each other worker of a multi-worker trial
    FOLDER/predictions/test-<lang>.*  the epoch's test predictions (``trainers.predictions``)
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from trainers.errors import CheckpointError

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
