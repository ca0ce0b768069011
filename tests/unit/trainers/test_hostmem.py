"""A worker's freed memory goes back to the system: the fixed mmap threshold, measured in a fresh process."""

from __future__ import annotations

import os
import platform
import subprocess
import sys
from pathlib import Path

import pytest

from trainers.hostmem import MMAP_THRESHOLD, fix_mmap_threshold

ROOT = Path(__file__).resolve().parents[3]

# Free one 24 MiB block (glibc's moving threshold rises to it), then take eight 16 MiB blocks and a 1 MiB
# one after them, write them, free the eight: what stays resident is what the heap kept.
PROGRAM = """
import ctypes, sys
from trainers.hostmem import fix_mmap_threshold
fix_mmap_threshold()
libc = ctypes.CDLL("libc.so.6")
libc.malloc.restype = ctypes.c_void_p
libc.malloc.argtypes = [ctypes.c_size_t]
libc.free.argtypes = [ctypes.c_void_p]
def anon():
    status = open("/proc/self/status").read().splitlines()
    return next(int(line.split()[1]) for line in status if line.startswith("RssAnon:")) * 1024
libc.free(libc.malloc(24 << 20))
before = anon()
blocks = [libc.malloc(16 << 20) for _ in range(8)]
pin = libc.malloc(1 << 20)  # after them on the heap, so it cannot shrink back over them
for block in blocks:
    ctypes.memset(block, 1, 16 << 20)
for block in blocks:
    libc.free(block)
print(anon() - before)
"""


def kept_after_free(threshold: str) -> int:
    env = os.environ | {MMAP_THRESHOLD: threshold, "PYTHONPATH": str(ROOT)}
    out = subprocess.run([sys.executable, "-c", PROGRAM], env=env, capture_output=True, text=True, check=True)
    return int(out.stdout)


@pytest.mark.skipif(platform.libc_ver()[0] != "glibc", reason="glibc's malloc only")
def test_blocks_above_the_threshold_go_back_to_the_system_when_freed() -> None:
    assert kept_after_free("0") > 100 << 20  # glibc's moving threshold: the heap keeps the 128 MiB
    assert kept_after_free(str(4 << 20)) < 16 << 20


def test_the_threshold_is_set_or_left_alone_and_a_bad_value_is_named(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(MMAP_THRESHOLD, "0")
    assert fix_mmap_threshold() is None
    monkeypatch.setenv(MMAP_THRESHOLD, "4MB")
    with pytest.raises(ValueError, match="XSTILTS_MMAP_THRESHOLD='4MB' is not a whole number of bytes"):
        fix_mmap_threshold()
    if platform.libc_ver()[0] == "glibc":
        monkeypatch.delenv(MMAP_THRESHOLD)
        assert fix_mmap_threshold() == 4 << 20
