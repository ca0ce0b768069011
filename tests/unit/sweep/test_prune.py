"""Pruning a finished search's checkpoints: every checkpoint folder of its trials but the kept one goes, and
nothing else under the trials' folders, whatever its name."""

from __future__ import annotations

from pathlib import Path

from sweep.storage.layout import SweepDir
from trainers.checkpoint import write_state


def _checkpoint(folder: Path, step: int) -> None:
    (folder / "checkpoint").mkdir(parents=True)
    (folder / "checkpoint" / "weights.bin").write_bytes(b"w")
    write_state(folder, epoch=step, evaluations=step)


def test_only_checkpoint_folders_go_and_the_kept_one_stays(tmp_path: Path) -> None:
    sweep = SweepDir(tmp_path)
    tune = Path(sweep.tune)
    trial = tune / "study" / "trial_a"
    for step in (1, 2, 3):
        _checkpoint(trial / f"checkpoint_00000{step - 1}", step)
    _checkpoint(tune / "study" / "trial_b" / "checkpoint_000000", 1)  # another search's trial
    # A multi-worker trial's Train run: Ray Train may write its snapshot there after the trial ended.
    train = tune / "train" / "trial_a"
    train.mkdir(parents=True)
    (train / "checkpoint_manager_snapshot.json").write_text("{}")
    assert sweep.prune_checkpoints({"a"}, keep=("a", 2)) == 2
    assert sorted(p.name for p in trial.iterdir()) == ["checkpoint_000001"]
    assert (trial / "checkpoint_000001" / "checkpoint" / "weights.bin").is_file()
    assert (train / "checkpoint_manager_snapshot.json").is_file()
    assert (tune / "study" / "trial_b" / "checkpoint_000000").is_dir()
    assert sweep.prune_checkpoints({"a"}, keep=("a", 2), keep_weights=False) == 0
    assert not (trial / "checkpoint_000001" / "checkpoint" / "weights.bin").exists()
