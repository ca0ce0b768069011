"""Shared fixtures: paths to the project's toy data and to the optional shared XTREME sample."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
TOY_DATA = ROOT / "data" / "toy"
QUICKSTART = ROOT / "configs" / "quickstart.yaml"
XTREME_SAMPLE = ROOT.parent / "shared" / "data" / "xtreme-sample"

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
