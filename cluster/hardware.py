"""What this machine has: its GPUs and their memory, as ``nvidia-smi`` reports them.

One place answers "GPUs on this machine" for the checks against it (``sweep.preflight.machine``) and the
memory estimate (``sweep.preflight.memory``), so both agree; neither imports torch or starts CUDA.
"""

from __future__ import annotations

import shutil
import subprocess


def local_gpus() -> list[float]:
    """The memory of each GPU of this machine, in bytes ([] where there is none, or no ``nvidia-smi``)."""
    if shutil.which("nvidia-smi") is None:
        return []
    try:
        out = subprocess.run(
            ["nvidia-smi", "--query-gpu=memory.total", "--format=csv,noheader,nounits"],
            capture_output=True,
            text=True,
            check=False,
            timeout=30,
        ).stdout.split()
    except (OSError, subprocess.TimeoutExpired):  # a driver that hangs or is gone: no usable GPU here
        return []
    return [float(x) * 1024**2 for x in out if x.replace(".", "", 1).isdigit()]  # nvidia-smi says MiB
