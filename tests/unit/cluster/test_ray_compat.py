"""The private Ray internals cluster.ray_compat relies on still exist in the installed Ray."""

from __future__ import annotations

import importlib


def test_the_installed_ray_has_what_ray_compat_uses() -> None:
    import ray

    from cluster.ray_compat import PINNED_RAY

    constants = importlib.import_module("ray._private.ray_constants")
    assert hasattr(constants, "ENABLE_RAY_CLUSTER"), (
        f"Ray {ray.__version__} no longer has ray_constants.ENABLE_RAY_CLUSTER; cluster/ray_compat.py was "
        f"written for Ray {PINNED_RAY} and needs updating"
    )


def test_the_installed_ray_keeps_a_trials_checkpoints_where_ray_compat_looks() -> None:
    from ray.train._internal.checkpoint_manager import _CheckpointManager
    from ray.tune import CheckpointConfig

    manager = _CheckpointManager(CheckpointConfig(num_to_keep=2))
    assert hasattr(manager, "_checkpoint_results") and hasattr(manager, "_latest_checkpoint_result")
    assert manager.latest_checkpoint_result is None  # the property Trial.checkpoint reads


def test_a_restored_trial_whose_last_checkpoint_is_gone_continues_from_the_newest_kept(tmp_path) -> None:
    """Tune deleted the trial's newest checkpoint after the state it was restored from was saved."""
    from types import SimpleNamespace

    from ray.train import Checkpoint
    from ray.train._internal.checkpoint_manager import _CheckpointManager, _TrainingResult
    from ray.tune import CheckpointConfig

    from cluster.ray_compat import continue_from_a_kept_checkpoint

    manager = _CheckpointManager(CheckpointConfig(num_to_keep=3, checkpoint_score_attribute="score"))
    for step, score in ((1, 0.9), (2, 0.5), (3, 0.6)):
        folder = tmp_path / f"checkpoint_{step}"
        folder.mkdir()
        manager.register_checkpoint(
            _TrainingResult(Checkpoint.from_directory(str(folder)), {"training_iteration": step, "score": score})
        )
    trial = SimpleNamespace(run_metadata=SimpleNamespace(checkpoint_manager=manager))
    assert continue_from_a_kept_checkpoint(trial) is None  # all there: nothing changes
    assert manager.latest_checkpoint_result.metrics["training_iteration"] == 3

    (tmp_path / "checkpoint_3").rmdir()
    assert continue_from_a_kept_checkpoint(trial) == (3, 2)  # the newest left, not the best (1)
    assert manager.latest_checkpoint_result.checkpoint.path.endswith("checkpoint_2")
    assert len(manager.best_checkpoint_results) == 2

    (tmp_path / "checkpoint_2").rmdir()
    (tmp_path / "checkpoint_1").rmdir()
    assert continue_from_a_kept_checkpoint(trial) == (2, None)  # none left: the trial starts again
    assert manager.latest_checkpoint_result is None
