"""The sweep directory: where the config copy, manifest, Tune state, journal, results and encoders live.

SWEEP_DIR/config.yaml      the fully resolved config (overrides applied, paths absolute)
SWEEP_DIR/manifest.json    code version, the plan, and each search's state
SWEEP_DIR/driver.pid       the live driver's pid (absent when none runs)
SWEEP_DIR/tune/<search>/   Ray Tune's experiment folders (checkpoints, searcher state)
SWEEP_DIR/journal/<search>/<trial>.jsonl   every reported result, as it arrived
SWEEP_DIR/results/<search>/<trial>.a<k>.parquet   the results table
SWEEP_DIR/encoders/<task>/encoder.pt       the best intermediate encoder of each task
"""

from __future__ import annotations

import json
import os
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sweep.errors import CheckpointError, SweepStateError

MANIFEST_VERSION = 1


@dataclass(frozen=True)
class SweepDir:
    """Paths inside one sweep directory."""

    root: Path

    @property
    def config(self) -> Path:
        return self.root / "config.yaml"

    @property
    def manifest(self) -> Path:
        return self.root / "manifest.json"

    @property
    def pid_file(self) -> Path:
        return self.root / "driver.pid"

    @property
    def tune(self) -> Path:
        return self.root / "tune"

    @property
    def journal(self) -> Path:
        return self.root / "journal"

    @property
    def results(self) -> Path:
        return self.root / "results"

    def encoder(self, task: str) -> Path:
        """Where the best encoder of intermediate task ``task`` is exported."""
        return self.root / "encoders" / task / "encoder.pt"

    def checkpoint(self, *, search: str, trial_id: str, step: int) -> Path:
        """The folder of a trial's checkpoint at ``step`` (its epoch), as Tune kept it."""
        state_file = "trainer_state.json"  # written by trainers.engine next to the DeepSpeed checkpoint
        for state in sorted((self.tune / search).glob(f"trial_{trial_id}/checkpoint_*/{state_file}")):
            if json.loads(state.read_text())["epoch"] == step:
                return state.parent
        raise CheckpointError(
            f"no checkpoint of trial {trial_id} at epoch {step} under {self.tune / search}; "
            "raise resources.checkpoints_to_keep so the best is kept"
        )

    def require(self) -> None:
        """Raise unless this looks like a sweep directory."""
        if not self.manifest.is_file() or not self.config.is_file():
            raise SweepStateError(
                f"{self.root} is not a sweep directory (no manifest.json/config.yaml); "
                "give the folder `sweep launch` printed"
            )


def write_json_atomic(path: Path, data: Any) -> None:
    """Write JSON so that a reader sees the old or the new file, never half of one."""
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    with tmp.open("w") as f:
        json.dump(data, f, indent=2, sort_keys=True)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)


def read_manifest(sweep_dir: SweepDir) -> dict[str, Any]:
    """Load the manifest, checking its version."""
    sweep_dir.require()
    try:
        data = json.loads(sweep_dir.manifest.read_text())
    except json.JSONDecodeError as exc:
        raise SweepStateError(f"{sweep_dir.manifest} is damaged ({exc}); restore it from a backup") from exc
    if data.get("version") != MANIFEST_VERSION:
        raise SweepStateError(
            f"{sweep_dir.manifest} has version {data.get('version')!r}; this xstilts reads version {MANIFEST_VERSION}"
        )
    return data


def code_version() -> dict[str, str]:
    """The xstilts version and, when run from a git checkout, its commit and whether it had local edits."""
    from importlib.metadata import PackageNotFoundError, version

    try:
        info = {"xstilts": version("xstilts")}
    except PackageNotFoundError:
        info = {"xstilts": "unknown"}
    repo = Path(__file__).resolve().parent.parent
    try:
        commit = subprocess.run(
            ["git", "-C", str(repo), "rev-parse", "HEAD"], capture_output=True, text=True, timeout=5, check=True
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "-C", str(repo), "status", "--porcelain", "--untracked-files=no"],
            capture_output=True,
            text=True,
            timeout=5,
            check=True,
        ).stdout.strip()
        info.update(git_commit=commit, git_dirty=str(bool(dirty)).lower())
    except (OSError, subprocess.SubprocessError):
        pass
    return info


def acquire_driver(sweep_dir: SweepDir) -> None:
    """Claim the sweep for this process; refuse if another live driver holds it."""
    if sweep_dir.pid_file.exists():
        try:
            pid = int(sweep_dir.pid_file.read_text().strip())
        except ValueError:
            pid = -1
        if pid > 0 and pid != os.getpid() and _alive(pid):
            raise SweepStateError(
                f"sweep {sweep_dir.root} is being run by process {pid}; wait for it or stop it before resuming"
            )
    sweep_dir.pid_file.write_text(f"{os.getpid()}\n")


def release_driver(sweep_dir: SweepDir) -> None:
    """Drop this process's claim on the sweep."""
    try:
        if int(sweep_dir.pid_file.read_text().strip()) == os.getpid():
            sweep_dir.pid_file.unlink()
    except (OSError, ValueError):
        pass


def driver_alive(sweep_dir: SweepDir) -> bool:
    """Whether a live driver currently holds the sweep."""
    try:
        return _alive(int(sweep_dir.pid_file.read_text().strip()))
    except (OSError, ValueError):
        return False


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    # A zombie (killed but not yet reaped) is not a live driver.
    try:
        return Path(f"/proc/{pid}/stat").read_text().split()[2] != "Z"
    except OSError:
        return True
