"""Every search space shipped under search_spaces/ loads, is checked, and turns into a Ray Tune space."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from sweep.config.spaces import SPACE_DIR, SearchSpace, available_spaces
from trainers.spec import HYPERPARAMETERS, HyperParameters

SPACES = sorted(SPACE_DIR.glob("*.yaml"))


def test_the_default_and_the_quickstarts_spaces_are_shipped() -> None:
    assert {"tpe_default", "quickstart_intermediate", "quickstart_target", "kinds_target"} <= set(available_spaces())
    assert [p.stem for p in SPACES] == available_spaces()


@pytest.mark.parametrize("path", SPACES, ids=lambda p: p.stem)
def test_shipped_space_is_valid(path: Path) -> None:
    raw = yaml.safe_load(path.read_text())
    assert raw.get("description"), f"{path.name} says what it is for"
    space = SearchSpace.named(path.stem)  # raises ConfigError listing every problem
    assert space.params and set(space.params) <= set(HYPERPARAMETERS)
    assert set(space.params) == set(raw["params"])
    # Every value it can give is one a trial accepts, and the inline copy a sweep keeps parses back equal.
    HyperParameters.from_search({name: _some_value(p) for name, p in space.params.items()})
    problems: list[str] = []
    assert SearchSpace.from_config(space.to_yaml(), where="copy", problems=problems) == space and not problems
    tune_space = space.to_tune()
    assert set(tune_space) == set(space.params)


def _some_value(param: object) -> object:
    return param.values[0] if param.values else param.low


def test_a_broken_space_names_its_problems() -> None:
    problems: list[str] = []
    raw = {"params": {"lerning_rate": 1e-3, "dropout": {"type": "uniform", "low": 0.3, "high": 0.1}}}
    assert SearchSpace.from_config(raw, where="target.search_space", problems=problems) is None
    assert any("unknown hyperparameter `lerning_rate`" in p and "did you mean `learning_rate`" in p for p in problems)
    assert any("low (0.3) must be below high (0.1)" in p for p in problems)
