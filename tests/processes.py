"""Ending exactly the processes a test started, by pid, and no other process of the machine.

The test process makes itself a *child subreaper* (Linux ``prctl(PR_SET_CHILD_SUBREAPER)``): a process
orphaned anywhere below it (Ray's agents after their raylet dies, the daemons `ray start` leaves behind,
what a SIGKILLed driver started) is re-parented to the test process instead of to init, so everything
the tests start stays in its process tree, and nothing started elsewhere ever enters it.
``owned_processes()`` owns the descendants that appear while its block runs and ends them by pid
afterwards.

Why not match command lines (``ray`` in them): that also ends other people's Ray jobs, and any
command that mentions an "array". Why not an environment mark alone: Ray's processes set their title
over their own ``/proc/<pid>/environ``, so a mark there can be wiped (seen with ``ray::DashboardAgent``).
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import subprocess
import sys
import time
from collections.abc import Iterator

import psutil

_PR_SET_CHILD_SUBREAPER = 36


def adopt_orphans(enabled: bool = True) -> None:
    """Make this process the subreaper of every process it starts (or stop being one)."""
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.prctl(_PR_SET_CHILD_SUBREAPER, int(enabled), 0, 0, 0) != 0:
        raise OSError(ctypes.get_errno(), "prctl(PR_SET_CHILD_SUBREAPER) failed; the tests need Linux")


def _key(proc: psutil.Process) -> tuple[int, float]:
    return proc.pid, proc.create_time()  # a pid alone may be reused


class Owned:
    """The processes started below this process since a block began."""

    def __init__(self) -> None:
        adopt_orphans()
        self._before = {_key(p) for p in self._descendants()}

    @staticmethod
    def _descendants() -> list[psutil.Process]:
        alive = []
        for proc in psutil.Process().children(recursive=True):
            with contextlib.suppress(psutil.Error):
                if proc.status() != psutil.STATUS_ZOMBIE:
                    alive.append(proc)
        return alive

    def find(self) -> list[psutil.Process]:
        """Live processes started below this process since the block began."""
        found = []
        for proc in self._descendants():
            with contextlib.suppress(psutil.Error):
                if _key(proc) not in self._before:
                    found.append(proc)
        return found

    def wait_gone(self, grace: float = 20.0) -> dict[int, str]:
        """Wait up to ``grace`` seconds for the owned processes to exit by themselves; return the
        ones still alive (pid -> command line). Ray's processes take a few seconds after shutdown."""
        deadline = time.monotonic() + grace
        while (alive := self.find()) and time.monotonic() < deadline:
            time.sleep(0.5)
        leftover = {}
        for proc in alive:
            with contextlib.suppress(psutil.Error):
                leftover[proc.pid] = " ".join(proc.cmdline())[:200]
        return leftover

    def end(self, grace: float = 20.0) -> dict[int, str]:
        """Let the owned processes exit for ``grace`` seconds, then terminate (and if need be kill)
        the rest by pid; return those that had to be ended.

        Nothing is waited for with waitpid: that would take the exit status of a child a test still
        holds as a ``Popen``. Adopted orphans that exit stay zombies until this process ends.
        """
        leftover = self.wait_gone(grace)
        for signal_sent in ("terminate", "kill"):
            procs = self.find()
            for proc in procs:
                with contextlib.suppress(psutil.Error):
                    getattr(proc, signal_sent)()
            deadline = time.monotonic() + 5
            while self.find() and time.monotonic() < deadline:
                time.sleep(0.1)
        return leftover


@contextlib.contextmanager
def owned_processes(*, grace: float = 20.0) -> Iterator[Owned]:
    """Own every process started below this one inside the block, and end it afterwards by pid.

    Example::

        with owned_processes() as owned:
            subprocess.run(["sweep", "launch", ...])
            assert not owned.wait_gone(), "the driver left processes behind"
    """
    owned = Owned()
    try:
        yield owned
    finally:
        owned.end(grace)


def start_bystander(*title: str) -> psutil.Process:
    """Start a process outside this process's tree, as another user's job would be, with ``title`` in
    its command line; it exits by itself once this process is gone."""
    watch = "import os, sys, time\nwhile True:\n    time.sleep(1)\n    os.kill(int(sys.argv[1]), 0)\n"
    launcher = (
        "import subprocess, sys\n"
        "p = subprocess.Popen(sys.argv[1:], start_new_session=True, stdin=subprocess.DEVNULL,"
        " stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)\n"
        "print(p.pid)\n"
    )
    adopt_orphans(False)  # the launcher exits at once: its child must go to init, not to this process
    try:
        out = subprocess.run(
            [sys.executable, "-c", launcher, sys.executable, "-c", watch, str(os.getpid()), *title],
            capture_output=True,
            text=True,
            check=True,
        )
    finally:
        adopt_orphans()
    proc = psutil.Process(int(out.stdout))
    assert proc.pid not in {p.pid for p in psutil.Process().children(recursive=True)}
    return proc
