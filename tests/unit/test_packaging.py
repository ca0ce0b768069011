"""What the wheel holds: every package of the code, and the configs and toy data a study needs beside it."""

from __future__ import annotations

import pytest

from tests.conftest import ROOT

tomllib = pytest.importorskip("tomllib", reason="Python 3.11 or newer reads pyproject.toml itself")


def test_every_code_package_is_listed_for_the_wheel() -> None:
    setuptools = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]
    found = {
        p.parent.relative_to(ROOT).as_posix().replace("/", ".")
        for root in ("sweep", "trainers", "cluster", "search_spaces")
        for p in (ROOT / root).rglob("__init__.py")
    }
    listed = set(setuptools["packages"])
    assert found <= listed, f"packages missing from pyproject.toml's list (not in the wheel): {sorted(found - listed)}"
    assert listed - found == {"xstilts.configs", "xstilts.configs.studies", "xstilts.data", "xstilts.data.toy"}
    assert setuptools["package-dir"] == {"xstilts.configs": "configs", "xstilts.data": "data"}
