"""The sweep directory's driver lock: one driver at a time, released however the driver ends."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from sweep.errors import SweepStateError
from sweep.storage.layout import SweepDir, driver_alive, driver_lock

HOLD = (
    "import sys, time\n"
    "from sweep.storage.layout import SweepDir, driver_lock\n"
    "with driver_lock(SweepDir(__import__('pathlib').Path(sys.argv[1]))):\n"
    "    print('held', flush=True)\n"
    "    time.sleep(600)\n"
)


def _holder(root: Path) -> subprocess.Popen[str]:
    proc = subprocess.Popen(
        [sys.executable, "-c", HOLD, str(root)], stdout=subprocess.PIPE, text=True, cwd=Path(__file__).parents[3]
    )
    assert proc.stdout.readline().strip() == "held"
    return proc


def test_a_second_driver_is_refused_and_named(tmp_path: Path) -> None:
    folder = SweepDir(tmp_path)
    assert not driver_alive(folder)
    holder = _holder(tmp_path)
    try:
        assert driver_alive(folder)
        with pytest.raises(SweepStateError, match=f"is being run by process {holder.pid} on "):
            with driver_lock(folder):
                pass
    finally:
        holder.kill()
        holder.wait()


def test_a_killed_driver_leaves_no_lock_behind(tmp_path: Path) -> None:
    folder = SweepDir(tmp_path)
    holder = _holder(tmp_path)
    holder.send_signal(signal.SIGKILL)
    holder.wait()
    assert folder.driver_info.exists()  # its note stays, but only the lock counts
    assert not driver_alive(folder)
    with driver_lock(folder):
        assert driver_alive(folder)
        assert f'"pid": {os.getpid()}' in folder.driver_info.read_text()
    assert not driver_alive(folder) and not folder.driver_info.exists()


def test_a_file_system_without_flock_is_refused_not_soft_locked(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Where flock is missing (some NFS and Lustre mounts), filelock would fall back to a marker file that a
    killed driver leaves behind, refusing every resume for good: the driver refuses the folder instead."""
    import errno
    import fcntl

    real = fcntl.flock

    def no_flock(fd: int, operation: int) -> None:
        raise OSError(errno.ENOSYS, "Function not implemented")

    folder = SweepDir(tmp_path)
    monkeypatch.setattr(fcntl, "flock", no_flock)
    with pytest.raises(SweepStateError, match="its file system has no flock .*mounted with flock"):
        with driver_lock(folder):
            pass
    monkeypatch.setattr(fcntl, "flock", real)
    assert not folder.driver_info.exists()
    with driver_lock(folder):  # nothing was left behind that would refuse a later driver
        assert driver_alive(folder)


def test_the_status_probe_only_reads(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """`sweep status` must work for a user who may read a sweep folder but not write it."""
    folder = SweepDir(tmp_path)
    holder = _holder(tmp_path)
    opened = []
    real_open = os.open
    monkeypatch.setattr(os, "open", lambda path, flags, *rest: opened.append(flags) or real_open(path, flags, *rest))
    try:
        assert driver_alive(folder)
    finally:
        holder.kill()
        holder.wait()
    assert opened and all(flags & (os.O_WRONLY | os.O_RDWR | os.O_CREAT) == 0 for flags in opened)


def test_a_status_probe_does_not_block_a_starting_driver(tmp_path: Path) -> None:
    folder = SweepDir(tmp_path)
    with driver_lock(folder):
        pass  # creates the lock file
    started = time.monotonic()
    for _ in range(50):
        driver_alive(folder)
    with driver_lock(folder):
        assert time.monotonic() - started < 2


def test_a_retried_job_waits_for_a_dead_drivers_lease_on_shared_storage_to_lapse(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """A RayJob retried on a new cluster may start before the dead driver's lease has run out: with a wait it
    takes the sweep once the lease lapses; without one, or while the lease outlasts the wait, it is refused."""
    from sweep.storage import layout

    folder = SweepDir(Path("/nonexistent"), remote="s3://bucket/sweeps/study")
    lapses_at = time.monotonic() + 0.6
    monkeypatch.setattr(layout, "_remote_driver_alive", lambda _: time.monotonic() < lapses_at)
    monkeypatch.setattr(layout, "_holder", lambda _: "process 17 on head-0")
    with pytest.raises(SweepStateError, match="is being run by process 17 on head-0"):
        layout._refuse_if_leased(folder)
    with pytest.raises(SweepStateError, match="is being run by process 17 on head-0"):
        layout._refuse_if_leased(folder, wait_s=0.2)
    layout._refuse_if_leased(folder, wait_s=30)
    assert time.monotonic() >= lapses_at
    assert "was held by process 17 on head-0; waiting up to" in capsys.readouterr().out


def test_a_zombie_holds_no_lease() -> None:
    """A driver killed but not yet reaped by its parent is dead: its lease does not hold the sweep."""
    from sweep.storage.lease import pid_alive

    child = subprocess.Popen([sys.executable, "-c", "pass"])
    deadline = time.monotonic() + 30
    while Path(f"/proc/{child.pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z":
        assert time.monotonic() < deadline
        time.sleep(0.05)
    try:
        assert not pid_alive(child.pid)
        assert pid_alive(os.getpid())
    finally:
        child.wait()


def test_a_sweep_others_can_write_is_not_resumed_unless_trusted(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Resuming loads pickled state (Tune's, DeepSpeed's) from the sweep folder: a file in it that everyone
    can write is refused by name, with the fixes, before anything runs; --trust-storage goes past the check."""
    from sweep.cli import main
    from sweep.storage.layout import refuse_untrusted, untrusted_files
    from tests.sweeps import SweepWriter

    root = SweepWriter(tmp_path / "s", name="s").finish()
    assert untrusted_files(root) == []
    refuse_untrusted(SweepDir(root))
    pickle = root / "tune" / "tuner.pkl"
    pickle.parent.mkdir()
    pickle.write_bytes(b"")
    pickle.chmod(0o666)
    assert untrusted_files(root) == [f"{pickle} (writable by everyone)"]
    assert main(["resume", str(root)]) == 2
    err = capsys.readouterr().err
    assert f"{pickle} (writable by everyone)" in err
    assert f"chmod -R o-w {root}" in err and "--trust-storage" in err

    assert main(["resume", str(root), "--trust-storage"]) == 2  # past the check: this folder's config is a stub
    err = capsys.readouterr().err
    assert "other users can write" not in err and "missing key `data_dir`" in err
    pickle.chmod(0o644)
    assert untrusted_files(root) == []
