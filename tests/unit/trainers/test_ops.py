"""DeepSpeed's compiled ops: a build folder per Python environment, and a build lock that a killed
process cannot leave behind for ever (trainers.ops)."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from trainers import ops


@pytest.fixture
def fresh(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    monkeypatch.setattr(ops, "_READY", False)
    monkeypatch.delenv("TORCH_EXTENSIONS_DIR", raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    return tmp_path


def test_each_python_environment_builds_into_its_own_folder(fresh: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    here = ops.extensions_dir()
    assert here.is_relative_to(fresh / "cache" / "xstilts" / "torch_extensions")
    monkeypatch.setattr(sys, "prefix", "/some/other/venv")
    assert ops.extensions_dir() != here
    monkeypatch.setenv("TORCH_EXTENSIONS_DIR", str(fresh / "mine"))
    assert ops.extensions_dir() == fresh / "mine"  # the user's choice wins


class _Builder:
    NAME = "shm_comm"

    def __init__(self, folder: Path, seen: list[bool]) -> None:
        self.folder, self.seen = folder, seen

    def load(self, verbose: bool = False) -> None:
        # Loaded while this process holds the build lock, with torch's stale lock file gone.
        from filelock import FileLock

        other = FileLock(str(self.folder / ops.LOCK), timeout=0)
        with pytest.raises(TimeoutError):
            other.acquire()
        self.seen.append((self.folder / "deepspeed_shm_comm" / "lock").exists())


def test_a_lock_file_left_by_a_killed_build_is_removed_before_loading(
    fresh: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import deepspeed.accelerator
    import deepspeed.ops
    import torch

    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    folder = ops.extensions_dir()
    (folder / "deepspeed_shm_comm").mkdir(parents=True)
    (folder / "deepspeed_shm_comm" / "lock").touch()  # what a process killed mid-build leaves
    seen: list[bool] = []

    class Accelerator:
        def create_op_builder(self, name: str) -> _Builder:
            assert name in ops.CPU_OPS
            return _Builder(folder, seen)

    monkeypatch.setitem(deepspeed.ops.__compatible_ops__, "shm_comm", True)  # computed on first use
    monkeypatch.setattr(deepspeed.accelerator, "get_accelerator", lambda: Accelerator())
    monkeypatch.setenv("TORCH_EXTENSIONS_DIR", "")  # unset: ready() chooses (and exports) the folder
    ops.ready()
    assert seen == [False]
    assert os.environ["TORCH_EXTENSIONS_DIR"] == str(folder)
    ops.ready()  # once per process
    assert seen == [False]


@pytest.mark.slow
def test_processes_build_the_real_op_past_a_stale_lock(tmp_path: Path) -> None:
    """The real build, twice at once, in a folder where a killed build left torch's lock file: both
    finish (torch alone would wait on that file for ever) and the second finds the first's build."""
    folder = tmp_path / "ext"
    (folder / "deepspeed_shm_comm").mkdir(parents=True)
    (folder / "deepspeed_shm_comm" / "lock").touch()
    script = textwrap.dedent(
        """
        import time
        from trainers import ops
        started = time.perf_counter()
        ops.ready()
        from deepspeed.comm.torch import build_shm_op
        assert build_shm_op() is not None
        print(f"ready in {time.perf_counter() - started:.1f}s")
        """
    )
    env = {**os.environ, "TORCH_EXTENSIONS_DIR": str(folder), "CUDA_VISIBLE_DEVICES": ""}
    runs = [
        subprocess.Popen([sys.executable, "-c", script], env=env, stdout=subprocess.PIPE, text=True) for _ in range(2)
    ]
    outs = [run.communicate(timeout=600)[0] for run in runs]
    assert [run.returncode for run in runs] == [0, 0], outs
    assert (folder / "deepspeed_shm_comm" / "deepspeed_shm_comm.so").is_file()
    assert not (folder / "deepspeed_shm_comm" / "lock").exists()
