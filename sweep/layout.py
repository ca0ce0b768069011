"""The sweep directory: where the config copy, manifest, Tune state, journal, results and encoders live.

SWEEP_DIR/config.yaml      the fully resolved config (overrides applied, paths absolute)
SWEEP_DIR/manifest.json    code version, the plan, and each search's state
SWEEP_DIR/driver.lock      locked (flock) by the live driver, so only one runs a sweep at a time
SWEEP_DIR/driver.json      who holds the lock (pid, host, start), and what it runs (resources in use, trials)
SWEEP_DIR/tune/study/      the study's Ray Tune run: trial checkpoints, searcher and scheduler state
SWEEP_DIR/journal/<search>/<trial>.jsonl   every reported result, as it arrived
SWEEP_DIR/results/<search>/<trial>.a<k>.parquet   the results table
SWEEP_DIR/encoders/<task>/encoder.pt       the best intermediate encoder of each task
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import socket
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from filelock import Timeout, UnixFileLock

from sweep.errors import CheckpointError, SweepStateError
from trainers.checkpoint import STATE_FILE, read_state
from trainers.fileio import write_json

MANIFEST_VERSION = 2  # 2: the whole study is one Tune run (tune/study); 1: a Tune run per search
READABLE_VERSIONS = (1, 2)  # sweeps `status`, `query` and `export-predictions` read; only 2 resumes


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
    def lock_file(self) -> Path:
        return self.root / "driver.lock"

    @property
    def driver_info(self) -> Path:
        return self.root / "driver.json"

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
        """The folder of a trial's checkpoint at ``step`` (its epoch), as Tune kept it (under the study's
        Tune run, or under its search's own run in a sweep of manifest version 1)."""
        for folder in sorted(self.tune.glob(f"*/trial_{trial_id}/checkpoint_*")):
            # A folder without its state file was cut short (the driver died while Tune copied it).
            if (folder / STATE_FILE).is_file() and read_state(folder)["epoch"] == step:
                return folder
        raise CheckpointError(
            f"no checkpoint of trial {trial_id} of {search} at epoch {step} under {self.tune}; "
            "raise resources.checkpoints_to_keep so the best is kept"
        )

    def require(self) -> None:
        """Raise unless this looks like a sweep directory."""
        if not self.manifest.is_file() or not self.config.is_file():
            raise SweepStateError(
                f"{self.root} is not a sweep directory (no manifest.json/config.yaml); "
                "give the folder `sweep launch` printed"
            )


def read_manifest(sweep_dir: SweepDir, *, to_run: bool = False) -> dict[str, Any]:
    """Load the manifest, checking its version: one this xstilts reads, and with ``to_run`` one it runs."""
    sweep_dir.require()
    try:
        data = json.loads(sweep_dir.manifest.read_text())
    except json.JSONDecodeError as exc:
        raise SweepStateError(f"{sweep_dir.manifest} is damaged ({exc}); restore it from a backup") from exc
    version = data.get("version")
    if version not in READABLE_VERSIONS:
        raise SweepStateError(
            f"{sweep_dir.manifest} has version {version!r}; this xstilts reads versions "
            f"{', '.join(map(str, READABLE_VERSIONS))}"
        )
    if to_run and version != MANIFEST_VERSION:
        raise SweepStateError(
            f"{sweep_dir.root} was started by an xstilts that ran each search as its own Tune run (manifest "
            f"version {version}); this one runs a study as one Tune run and cannot continue it. Finish it with "
            f"the xstilts that started it ({data.get('code', {}).get('git_commit', 'see manifest.json')}), or "
            "launch it again; its results can still be read (`sweep query`, `status`, `export-predictions`)"
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


@contextlib.contextmanager
def driver_lock(sweep_dir: SweepDir) -> Iterator[None]:
    """Hold the sweep for this process while the block runs; refuse if another live driver holds it.

    The lock is the operating system's (flock on ``driver.lock``, never a soft lock file that a killed
    driver would leave behind): it is released when its process ends however it ends, kill -9
    included, so a dead driver never blocks a resume.
    """
    lock = UnixFileLock(sweep_dir.lock_file)
    try:
        lock.acquire(timeout=2)  # `sweep status` holds it for an instant when it looks
    except Timeout:
        raise SweepStateError(
            f"sweep {sweep_dir.root} is being run by {_holder(sweep_dir)}; wait for it or stop it before resuming"
        ) from None
    try:
        write_json(sweep_dir.driver_info, {"pid": os.getpid(), "host": socket.gethostname(), "since": time.time()})
        yield
    finally:
        sweep_dir.driver_info.unlink(missing_ok=True)
        lock.release()


def note_driver(sweep_dir: SweepDir, **fields: Any) -> None:
    """Add to the live driver's note (``driver.json``) what `sweep status` shows of it: the cluster's
    resources in use, the trials running per search."""
    try:
        info = json.loads(sweep_dir.driver_info.read_text())
    except (OSError, ValueError):
        info = {}
    write_json(sweep_dir.driver_info, {**info, **fields})


def driver_note(sweep_dir: SweepDir) -> dict[str, Any]:
    """The live driver's note, or {} when there is none."""
    try:
        return json.loads(sweep_dir.driver_info.read_text())
    except (OSError, ValueError):
        return {}


def driver_alive(sweep_dir: SweepDir) -> bool:
    """Whether a live driver currently holds the sweep.

    Probes the driver's flock with a shared lock on a read-only descriptor, so a user who may read
    the sweep folder but not write it gets the true answer too.
    """
    try:
        fd = os.open(sweep_dir.lock_file, os.O_RDONLY)
    except FileNotFoundError:
        return False
    try:
        fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
    except BlockingIOError:
        return True
    finally:
        os.close(fd)  # closing drops the probe's own lock
    return False


def _holder(sweep_dir: SweepDir) -> str:
    try:
        info = json.loads(sweep_dir.driver_info.read_text())
        return f"process {info['pid']} on {info['host']}"
    except (OSError, ValueError, KeyError):
        return "another process"
