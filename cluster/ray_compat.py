"""The one place xstilts reaches into Ray's private internals, pinned to the Ray version that needs it.

Everything else uses Ray's public API. Each use below says why and what would replace it; a test
(tests/unit/cluster/test_ray_compat.py) fails when an upgrade of Ray removes what it relies on.
"""

from __future__ import annotations

import os
import sys

#: The Ray releases these internals were checked against (pyproject pins ray below 3).
PINNED_RAY = "2.60"


def keep_nodes_on_loopback() -> None:
    """Make Ray use 127.0.0.1 as this node's address instead of the machine's external one.

    Ray reads ``RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER`` into ``ray._private.ray_constants.ENABLE_RAY_CLUSTER``
    when it is first imported; setting the variable is enough before that. When Ray was imported
    already (a notebook, a test), the constant it read is set instead: Ray has no public switch for it.
    """
    os.environ["RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER"] = "0"
    if "ray" in sys.modules:
        from ray._private import ray_constants

        ray_constants.ENABLE_RAY_CLUSTER = False


def continue_from_a_kept_checkpoint(trial: object) -> tuple[int, int | None] | None:
    """Point a restored trial whose last checkpoint is gone from storage at its newest one still there.

    Tune deletes a trial's checkpoint that falls out of the best ``num_to_keep`` as soon as the next is
    registered, but saves its experiment state only every few seconds. A driver killed in between leaves
    a saved state naming as the trial's latest a checkpoint already deleted, and on resume every attempt
    of that trial fails in Tune's own restore ("Could not recover from checkpoint as it does not exist on
    storage anymore"). Tune offers no public way to choose the checkpoint a restored trial continues from,
    so this sets ``_CheckpointManager._latest_checkpoint_result`` (the value ``Trial.checkpoint`` reads) to
    the newest checkpoint that exists, or to none (the trial starts again). Tune restores the trial's
    iteration count from that checkpoint's metrics, so its reports continue from there.

    Returns ``(lost iteration, iteration continued from or None)`` when it changed something, else None.
    """
    import pyarrow.fs as pafs

    manager = trial.run_metadata.checkpoint_manager  # type: ignore[attr-defined]
    latest = manager.latest_checkpoint_result
    if latest is None:
        return None

    def exists(result: object) -> bool:
        checkpoint = result.checkpoint  # type: ignore[attr-defined]
        return checkpoint.filesystem.get_file_info(checkpoint.path).type != pafs.FileType.NotFound

    if exists(latest):
        return None
    manager._checkpoint_results = [r for r in manager._checkpoint_results if exists(r)]

    def iteration(result: object) -> int:
        return int(result.metrics.get("training_iteration", 0))  # type: ignore[attr-defined]

    kept = max(manager._checkpoint_results, key=iteration, default=None)
    manager._latest_checkpoint_result = kept
    return iteration(latest), None if kept is None else iteration(kept)
