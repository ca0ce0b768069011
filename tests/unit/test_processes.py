"""The clean-up every integration test relies on ends what the test started and nothing else."""

from __future__ import annotations

import signal
import subprocess
import sys
import time

import psutil

from tests.processes import owned_processes, start_bystander

SLEEP = [sys.executable, "-c", "import time; time.sleep(600)"]
# A parent that starts a child and dies at once, as a raylet killed under its agents does.
ORPHANING = [
    sys.executable,
    "-c",
    "import subprocess, sys; subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(600)', 'ray::IDLE'])",
]


def test_started_processes_and_their_orphans_end_and_a_ray_looking_bystander_survives() -> None:
    with owned_processes(grace=0) as owned:
        worker = subprocess.Popen([*SLEEP, "ray::worker"])
        subprocess.run(ORPHANING, check=True)
        bystander = start_bystander("ray::IDLE", "sweep.cli", "array")  # somebody else's, started meanwhile
        try:
            deadline = time.monotonic() + 30
            while len(found := owned.find()) < 2:  # the worker, and the orphan re-parented to this process
                assert time.monotonic() < deadline, found
                time.sleep(0.1)
            assert bystander.pid not in {p.pid for p in found}
        except BaseException:
            bystander.kill()
            raise
    try:
        assert worker.wait(timeout=10) == -signal.SIGTERM, "ended by the clean-up, its exit status left to its Popen"
        assert not owned.find() and not any(_alive(p) for p in found)
        assert bystander.is_running(), "a process the test did not start was ended"
    finally:
        bystander.kill()


def test_wait_gone_reports_what_outlived_its_grace_and_leaves_older_processes() -> None:
    older = subprocess.Popen([*SLEEP, "older"])
    try:
        with owned_processes(grace=0) as owned:
            lingering = subprocess.Popen([*SLEEP, "lingering"])
            leftover = owned.wait_gone(grace=0.5)
            assert list(leftover) == [lingering.pid] and "lingering" in leftover[lingering.pid]
        assert lingering.wait(timeout=10) == -signal.SIGTERM
        assert older.poll() is None, "a process that was running before the block is not the block's"
    finally:
        older.kill()
        older.wait()


def _alive(proc: psutil.Process) -> bool:
    """Running, and not merely a zombie waiting for its parent to read its exit status."""
    try:
        return proc.status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False
