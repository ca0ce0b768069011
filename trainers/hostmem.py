"""Host memory a worker frees goes back to the system.

glibc serves an allocation above its mmap threshold with a mapping of its own, unmapped when freed, and
smaller ones from its heap, which keeps what is freed for reuse. The threshold starts at 128 KiB and, by
default, rises to the size of each mapped block that is freed, up to 32 MiB: after the first few
parameters gathered and released, a training step's tensors of a layer's size come from the heap, and
what the step frees stays counted in the worker's resident memory. Measured on one ZeRO-3 worker of a
206M-parameter model (``bench/zero3_memory.py``), that was 0.95 GB of its peak at one worker and 0.86 GB at
two: about one fp32 copy of the model. A fixed threshold keeps the tensors above it in mappings of their
own; the 4 MiB default leaves smaller ones (a tiny model's, a micro-batch's activations) on the fast heap.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import os
import sys

__all__ = ["MMAP_THRESHOLD", "fix_mmap_threshold"]

#: Bytes from which an allocation gets a mapping of its own; ``XSTILTS_MMAP_THRESHOLD`` sets another,
#: ``0`` leaves glibc's moving threshold as it is.
MMAP_THRESHOLD = "XSTILTS_MMAP_THRESHOLD"
DEFAULT = 4 * 1024 * 1024
_M_MMAP_THRESHOLD = -3  # glibc's malloc.h


def fix_mmap_threshold() -> int | None:
    """Fix glibc's mmap threshold for this process; return it, or None where nothing was set (not glibc,
    or the threshold is 0). Takes effect for the allocations that follow, so call it before the model is
    built."""
    raw = os.environ.get(MMAP_THRESHOLD, str(DEFAULT))
    try:
        threshold = int(raw)
    except ValueError:
        raise ValueError(f"{MMAP_THRESHOLD}={raw!r} is not a whole number of bytes; unset it for {DEFAULT}") from None
    if threshold <= 0 or not sys.platform.startswith("linux"):
        return None
    name = ctypes.util.find_library("c")
    try:
        libc = ctypes.CDLL(name or "libc.so.6")
        mallopt = libc.mallopt
    except (OSError, AttributeError):  # musl and other C libraries have no mallopt
        return None
    return threshold if mallopt(_M_MMAP_THRESHOLD, threshold) == 1 else None
