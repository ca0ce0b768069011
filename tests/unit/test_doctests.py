"""The examples in docstrings (``>>>``) run and say what the code does."""

from __future__ import annotations

import doctest
import importlib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
MODULES = sorted(
    ".".join(path.relative_to(ROOT).with_suffix("").parts).removesuffix(".__init__")
    for package in ("sweep", "trainers", "cluster")
    for path in (ROOT / package).rglob("*.py")
    if ">>>" in path.read_text()
)


def test_the_examples_are_found() -> None:
    assert {"trainers.engine", "trainers.data", "trainers.tasks"} <= set(MODULES)


@pytest.mark.parametrize("name", MODULES)
def test_docstring_examples_run(name: str) -> None:
    result = doctest.testmod(importlib.import_module(name), optionflags=doctest.NORMALIZE_WHITESPACE)
    assert result.attempted and not result.failed, f"{result.failed} of {result.attempted} examples failed in {name}"
