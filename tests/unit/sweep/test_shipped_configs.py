"""Every config under configs/ validates as shipped (data included), and configs/kinds.yaml covers every
trainable kind; tests/integration runs them (test_quickstart.py, test_kinds.py)."""

from __future__ import annotations

from pathlib import Path

import pytest

from sweep.plan.searches import eval_languages, plan
from sweep.preflight.validate import load_config
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
    assert all(eval_languages(config, t) == ("en", "de", "fr", "es", "sw") for t in config.target_tasks)
    # tests/integration/test_kinds.py tells the two starting encoders apart by the embeddings of
    # words a target never sees: phase one must move them (weight decay), phase two must not.
    intermediate, target = (config.stage(phase).search_space.params for phase in ("intermediate", "target"))
    assert intermediate["weight_decay"].type == "constant" and intermediate["weight_decay"].values[0] > 0
    assert target["weight_decay"].type == "constant" and target["weight_decay"].values == (0.0,)


STUDIES = sorted((ROOT / "configs" / "studies").glob("*.yaml"))
QUESTIONS = {  # each research question of docs/studies.md has its config
    "xstilts.yaml",
    "alignment.yaml",
    "reasoning.yaml",
    "scaling.yaml",
    "scaling_decoders.yaml",
    "mixing.yaml",
    "qa_retrieval.yaml",
}


def test_every_question_has_a_study_config() -> None:
    assert {p.name for p in STUDIES} == QUESTIONS
    documented = (ROOT / "docs" / "studies.md").read_text()
    assert all(f"configs/studies/{name}" in documented for name in QUESTIONS)


@pytest.mark.parametrize("path", STUDIES, ids=lambda p: p.name)
def test_study_config_is_valid_and_says_what_it_asks(path: Path) -> None:
    """A study validates as a config (its data and models live on the cluster, not here: --skip-files),
    and opens with its question, protocol, deviations and cost."""
    config = load_config(path, check_data=False)
    assert config.name == path.stem
    header = path.read_text().split("\nname:")[0]
    for part in ("Question", "Protocol", "Deviation", "Cost", "GPU-hours"):
        assert part in header, (path.name, part)
    assert config.model.init == "pretrained" and config.model.architecture  # --smoke builds its family


@pytest.mark.parametrize("path", STUDIES, ids=lambda p: p.name)
def test_study_smoke_version_is_valid(path: Path, tmp_path: Path) -> None:
    """What `sweep launch --smoke` would run: tiny models, capped data (synthetic here), short searches."""
    from sweep.preflight.validate import validate
    from sweep.run.smoke import EPOCHS, smoke_config

    config = load_config(path, check_data=False)
    smoke, report = smoke_config(config, work=tmp_path)
    assert validate(smoke) == []
    assert report["real"] == [] and report["synthetic"]  # no data folder here: every split stands in
    assert [s.id for s in plan(smoke)] == [s.id for s in plan(config)]  # the same study, only smaller
    assert all(smoke.stage_of(s).epochs == EPOCHS for s in plan(smoke))
    assert smoke.model_names() == config.model_names()
    assert smoke.checkpoint_store == str(tmp_path / "checkpoint_store")  # not the real runs' store


def test_the_studies_share_the_stage_ones_docs_studies_md_says_they_share(monkeypatch: pytest.MonkeyPatch) -> None:
    """With one data mirror (its content stands in here), the stage ones whose settings agree have one
    checkpoint-store key, so whichever study runs first trains them for the others."""
    from collections import defaultdict

    from sweep.plan import stage_one

    monkeypatch.setattr(stage_one, "data_identity", lambda config, intermediate: "one mirror")
    shared = defaultdict(set)
    for path in STUDIES:
        config = load_config(path, check_data=False)
        assert config.checkpoint_store == str((ROOT / "checkpoint_store").resolve())
        for search in plan(config):
            if search.phase == "intermediate":
                shared[stage_one.key(stage_one.identity(config, search))].add(f"{path.stem}:{search.id}")
    assert sorted(sorted(studies) for studies in shared.values() if len(studies) > 1) == [
        ["alignment:intermediate-mnli", "mixing:intermediate-mnli", "scaling:xlm-roberta-large.intermediate-mnli"],
        ["reasoning:intermediate-commonsense_qa", "xstilts:intermediate-commonsense_qa"],
        ["reasoning:intermediate-mnli", "xstilts:intermediate-mnli"],
    ]
