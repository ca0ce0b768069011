"""DeepSpeed's compiled ops: where they are built, and building them one process at a time.

On a machine without a GPU DeepSpeed compiles its shared-memory collective (``deepspeed_shm_comm``) the
first time a process starts its communication backend, through torch's C++ extension loader. Two things
go wrong with torch's defaults when many trials start together:

- every Python environment on the machine builds into the same ``~/.cache/torch_extensions`` folder, and
  each rebuilds the op when the one before it was built by another environment (the build's flags name
  the environment's paths), so two installs used in turn recompile on every trial start;
- torch's build lock is a file that a process killed while holding it leaves behind, and every later
  process waits on it for ever.

``ready()`` gives each environment its own build folder (unless ``TORCH_EXTENSIONS_DIR`` is set) and loads
the op while holding an operating-system lock (``filelock``: released when its holder dies, however it
dies). A torch lock file found while holding it belongs to a dead process and is removed.
"""

from __future__ import annotations

import hashlib
import os
import sys
from pathlib import Path

__all__ = ["extensions_dir", "ready"]

#: The ops a trial loads on a machine without a GPU (the optimizer is torch's own AdamW).
CPU_OPS = ("ShareMemCommBuilder",)
LOCK = "xstilts-build.lock"
_READY = False


def extensions_dir() -> Path:
    """This Python environment's folder for compiled extensions (``TORCH_EXTENSIONS_DIR`` when set)."""
    if os.environ.get("TORCH_EXTENSIONS_DIR"):
        return Path(os.environ["TORCH_EXTENSIONS_DIR"])
    import torch

    key = hashlib.sha1(f"{sys.prefix}|{torch.__version__}".encode()).hexdigest()[:12]
    cache = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    return cache / "xstilts" / "torch_extensions" / key


def ready() -> None:
    """Point DeepSpeed at this machine's accelerator and this environment's build folder, and load the
    ops it will compile, one process at a time. Call before DeepSpeed starts its backend; idempotent."""
    global _READY
    if _READY:
        return
    import torch

    if not torch.cuda.is_available():
        os.environ.setdefault("DS_ACCELERATOR", "cpu")
    folder = extensions_dir()
    os.environ["TORCH_EXTENSIONS_DIR"] = str(folder)
    if torch.cuda.is_available():  # GPU images build their ops at install time (Dockerfile)
        _READY = True
        return
    from deepspeed.accelerator import get_accelerator
    from filelock import FileLock

    folder.mkdir(parents=True, exist_ok=True)
    with FileLock(str(folder / LOCK)):
        for stale in folder.glob("*/lock"):  # no live process of ours holds one while we hold LOCK
            stale.unlink(missing_ok=True)
        import deepspeed.ops

        for name in CPU_OPS:
            builder = get_accelerator().create_op_builder(name)
            if builder is not None and deepspeed.ops.__compatible_ops__.get(builder.NAME, False):
                builder.load(verbose=False)  # cached per process: DeepSpeed's own load finds it
    _READY = True
