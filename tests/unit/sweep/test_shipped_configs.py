"""Every config under configs/ validates as shipped (data included), and configs/kinds.yaml covers every
trainable kind; tests/integration runs them (test_quickstart.py, test_kinds.py)."""

from __future__ import annotations

from pathlib import Path

import pytest

from sweep.config import load_config
from sweep.plan import plan
from trainers.kinds import TRAINABLE_KINDS
from trainers.tasks import get_task

ROOT = Path(__file__).resolve().parents[3]
CONFIGS = sorted((ROOT / "configs").glob("*.yaml"))


def test_configs_are_found() -> None:
    assert {p.name for p in CONFIGS} >= {"quickstart.yaml", "kinds.yaml"}


@pytest.mark.parametrize("path", CONFIGS, ids=lambda p: p.name)
def test_shipped_config_is_valid(path: Path) -> None:
    config = load_config(path)  # raises ConfigError listing every problem, data files included
    assert config.name == path.stem
    assert Path(config.data_dir) == (ROOT / "data" / "toy").resolve()


def test_kinds_trains_every_kind_from_a_qa_encoder() -> None:
    config = load_config(ROOT / "configs" / "kinds.yaml")
    trained = {get_task(t).kind for t in (*config.intermediate_tasks, *config.target_tasks)}
    assert trained == set(TRAINABLE_KINDS) - {"classification"}
    assert [s.pair for s in plan(config)] == [
        "toy_qa",
        "none->toy_ner",
        "toy_qa->toy_ner",
        "none->toy_choice",
        "toy_qa->toy_choice",
        "none->toy_qa",
        "toy_qa->toy_qa",
    ]
    assert all(config.eval_languages(t) == ("en", "de", "fr", "es", "sw") for t in config.target_tasks)
    # tests/integration/test_kinds.py tells the two starting encoders apart by the embeddings of
    # words a target never sees: phase one must move them (weight decay), phase two must not.
    intermediate, target = (config.stage(phase).search_space.params for phase in ("intermediate", "target"))
    assert intermediate["weight_decay"].type == "constant" and intermediate["weight_decay"].values[0] > 0
    assert target["weight_decay"].type == "constant" and target["weight_decay"].values == (0.0,)
