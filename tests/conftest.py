"""Shared fixtures: paths to the project's toy data and to the optional shared XTREME sample."""

from __future__ import annotations

import os
import platform
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
TOY_DATA = ROOT / "data" / "toy"
QUICKSTART = ROOT / "configs" / "quickstart.yaml"
XTREME_SAMPLE = ROOT.parent / "shared" / "data" / "xtreme-sample"

# Tests (and the sweeps and Ray workers they start) keep tokenized splits out of the user's home.
os.environ.setdefault("XSTILTS_FEATURE_CACHE", tempfile.mkdtemp(prefix="xstilts-test-features-"))

# The pinned losses (test_engine, test_families) are torch's AVX2 kernels' sums. Its AVX-512 kernels add in
# another order: on an AVX-512 machine Llama's multiple-choice head ended its 16 steps at 0.58460 or 0.58165,
# depending on what the process had run before, against 0.58411 with AVX2. Every x86-64 machine CI may get
# runs AVX2, so tests (and the Ray workers they start, which inherit it) dispatch to it. Set before torch loads.
if platform.machine().lower() in ("x86_64", "amd64"):
    os.environ.setdefault("ATEN_CPU_CAPABILITY", "avx2")

# Trials and tests never reach a hub.
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("HF_DATASETS_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")


@pytest.fixture
def toy_data() -> Path:
    """The toy data that ships with the project."""
    return TOY_DATA


@pytest.fixture
def xtreme_sample() -> Path:
    """The shared XTREME sample beside the checkout; skips the test when it is absent."""
    if not XTREME_SAMPLE.is_dir():
        pytest.skip(f"{XTREME_SAMPLE} is absent (a fresh clone has no ../shared)")
    return XTREME_SAMPLE


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Skip `gpu` tests on machines without a CUDA device."""
    if not any(item.get_closest_marker("gpu") for item in items):
        return
    import torch

    if torch.cuda.is_available():
        return
    skip = pytest.mark.skip(reason="needs a CUDA GPU")
    for item in items:
        if item.get_closest_marker("gpu"):
            item.add_marker(skip)


@pytest.fixture
def mount_disk(tmp_path: Path) -> Iterator[Callable[[str], Path]]:
    """``mount_disk("64m")``: a folder on a file system of its own of that size (a tmpfs), to fill up, unmounted
    after the test; skips where this user may not mount one (it needs root, or CAP_SYS_ADMIN in a container)."""
    import subprocess

    mounted: list[Path] = []

    def mount(size: str) -> Path:
        folder = tmp_path / f"disk{len(mounted)}"
        folder.mkdir()
        done = subprocess.run(
            ["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(folder)], capture_output=True, text=True
        )
        if done.returncode != 0:
            pytest.skip(f"cannot mount a small tmpfs here ({done.stderr.strip() or done.returncode})")
        mounted.append(folder)
        return folder

    try:
        yield mount
    finally:
        for folder in mounted:
            subprocess.run(["umount", "--lazy", str(folder)], check=True)


@pytest.fixture
def small_disk(mount_disk: Callable[[str], Path]) -> Path:
    """A folder on a file system of its own of 1 MiB (``mount_disk``)."""
    return mount_disk("1m")
