"""Target regimes in configs and the registry: which data each regime trains and selects on, how the plan
splits per-language regimes into searches, and every mistake named before compute is spent."""

from __future__ import annotations

from pathlib import Path

import pytest

from sweep.errors import ConfigError
from sweep.plan.searches import plan, regime_sources
from sweep.preflight.task_checks import regime_notes
from sweep.preflight.validate import load_config
from sweep.run.runner import trial_spec
from trainers.tasks import get_task

ROOT = Path(__file__).resolve().parents[3]
QUICKSTART = ROOT / "configs" / "quickstart.yaml"


def test_the_registry_knows_each_targets_regime_data() -> None:
    xnli = get_task("xnli").regime_data("translate_train")
    assert (xnli.train_task, xnli.dev_task, "en" in xnli.languages, len(xnli.languages)) == ("xnli", "xnli", False, 14)
    xcopa = get_task("xcopa").regime_data("in_language")
    assert (xcopa.train_task, xcopa.dev_task) == ("xcopa_fewshot", "xcopa_fewshot")
    fewshot = get_task("xcopa_fewshot").source.splits
    assert fewshot == {"train": "validation[:80%]", "dev": "validation[80%:]"}  # never the same examples
    mlqa = get_task("mlqa").regime_data("translate_train")
    assert (mlqa.train_task, mlqa.dev_task) == ("mlqa_translate_train", "mlqa")
    assert get_task("udpos").regime_data("in_language").languages.count("th") == 0  # a test-only treebank
    assert get_task("tatoeba").regimes == ()


def test_per_language_regimes_are_a_search_per_language() -> None:
    config = load_config(
        QUICKSTART,
        ["target_tasks=[toy_order]", "languages=[en,de,sw]", "regimes={toy_order: [in_language, multilingual]}"],
    )
    targets = [(s.id, s.pair, s.language) for s in plan(config) if s.phase == "target"]
    assert ("target-toy_nli-toy_order.in_language.de", "toy_nli->toy_order[in_language]", "de") in targets
    assert ("target-none-toy_order.multilingual", "none->toy_order[multilingual]", None) in targets
    assert not any(s for s in targets if s[1].endswith("toy_order"))  # no zero-shot pair unless named
    search = next(s for s in plan(config) if s.id == "target-none-toy_order.in_language.sw")
    spec = trial_spec(config, search, sweep_dir=None)  # type: ignore[arg-type]
    assert (spec.train_languages, spec.eval_languages, spec.eval_splits) == (("sw",), ("sw",), ("dev", "test"))
    (source,) = spec.mixture.sources
    assert (source.train_task, source.dev_task, source.head) == ("toy_order", "toy_order", "toy_order")
    multi = next(s for s in plan(config) if s.id == "target-none-toy_order.multilingual")
    assert [(s.languages, s.train_task) for s in regime_sources(config, multi)] == [
        (("en",), "toy_order"),
        (("de",), "toy_order"),
        (("sw",), "toy_order"),
    ]


def test_multilingual_xnli_trains_english_on_mnli() -> None:
    config = load_config(
        QUICKSTART,
        ["target_tasks=[xnli]", "languages=[en,de]", "regimes={xnli: multilingual}"],
        check_data=False,
    )
    search = next(s for s in plan(config) if s.phase == "target")
    assert [(s.languages, s.train_task, s.dev_task) for s in regime_sources(config, search)] == [
        (("en",), "mnli", None),
        (("de",), "xnli", "xnli"),
    ]


@pytest.mark.parametrize(
    ("regimes", "extra", "expected"),
    [
        ("{toy_paws: [in_language]}", [], "has no in_language data; it has translate_train"),
        ("{toy_paws: [zero_shoot]}", [], "did you mean `zero_shot`"),
        ("{toy_pwas: [translate_train]}", [], "did you mean `toy_paws`"),
        ("{toy_paws: [translate_train, translate_train]}", [], "names a regime twice"),
        ("{toy_paws: 3}", [], "must be a list of regimes"),
        ("{toy_paws: [translate_train]}", ["languages=[en]", "target_tasks=[toy_paws]"], "only en is evaluated"),
        ("{toy_qa: [multilingual]}", ["target_tasks=[toy_qa]"], "`toy_qa` has no training data for multilingual"),
    ],
)
def test_mistakes_are_named(regimes: str, extra: list[str], expected: str) -> None:
    with pytest.raises(ConfigError) as info:
        load_config(QUICKSTART, [f"regimes={regimes}", *extra])
    assert any(expected in p for p in info.value.problems), info.value.problems


def test_retrieval_targets_are_only_zero_shot() -> None:
    with pytest.raises(ConfigError) as info:
        load_config(
            QUICKSTART,
            ["target_tasks=[tatoeba]", "languages=[de]", "regimes={tatoeba: [multilingual]}"],
            check_data=False,
        )
    assert any("retrieval targets are evaluated, never trained" in p for p in info.value.problems)


def test_languages_without_a_regimes_data_are_noted() -> None:
    config = load_config(
        QUICKSTART,
        ["target_tasks=[udpos]", "languages=[en,de,th]", "regimes={udpos: [in_language]}"],
        check_data=False,
    )
    assert regime_notes(config) == [
        "udpos[in_language]: no in_language data in th; those languages get no search of it"
    ]
    assert [s.language for s in plan(config) if s.phase == "target"] == ["de", "de", "de"]


def test_missing_regime_files_are_named(tmp_path: Path) -> None:
    import shutil

    data = tmp_path / "toy"
    shutil.copytree(ROOT / "data" / "toy", data)
    (data / "toy_paws.de" / "train.jsonl").unlink()
    with pytest.raises(ConfigError) as info:
        load_config(QUICKSTART, [f"data_dir={data}", "languages=[en,de]", "regimes={toy_paws: [translate_train]}"])
    assert any("no train data for task `toy_paws` in `de`" in p for p in info.value.problems), info.value.problems


def test_seeds_re_run_every_trained_pair_after_its_search() -> None:
    config = load_config(
        QUICKSTART,
        ["target_tasks=[toy_paws, tatoeba]", "languages=[de]", "seeds=[1, 2, 3]", "regimes={toy_paws: [multilingual]}"],
        check_data=False,
    )
    reruns = {s.id: s for s in plan(config) if s.rerun_of}
    assert set(reruns) == {
        "target-none-toy_paws.multilingual.seeds",
        "target-toy_nli-toy_paws.multilingual.seeds",
        "target-toy_topic-toy_paws.multilingual.seeds",
    }  # retrieval evaluations train nothing: no seeds
    rerun = reruns["target-toy_nli-toy_paws.multilingual.seeds"]
    assert (rerun.needs, rerun.pair, rerun.regime) == (
        "target-toy_nli-toy_paws.multilingual",
        "toy_nli->toy_paws[multilingual]",
        "multilingual",
    )
    with pytest.raises(ConfigError, match="names a seed twice"):
        load_config(QUICKSTART, ["seeds=[1, 1]"])


def test_per_target_overrides_set_each_targets_epochs_length_and_space() -> None:
    config = load_config(
        QUICKSTART,
        [
            "per_target={toy_paws: {epochs: 2, max_length: 48, search_space: {extends: quickstart_target, "
            "params: {micro_batch_size: 8}}}}",
            "seeds=[1]",
        ],
    )
    paws = next(s for s in plan(config) if s.id == "target-none-toy_paws")
    order = next(s for s in plan(config) if s.id == "target-none-toy_order")
    assert (config.stage_of(paws).epochs, config.stage_of(order).epochs) == (2, 5)
    assert config.stage_of(paws).search_space.params["micro_batch_size"].values == (8,)
    spec = trial_spec(config, paws, sweep_dir=None)  # type: ignore[arg-type]
    assert (spec.epochs, spec.model.max_length) == (2, 48)
    assert trial_spec(config, order, sweep_dir=None).model.max_length == 64  # type: ignore[arg-type]
    rerun = next(s for s in plan(config) if s.id == "target-toy_nli-toy_paws.seeds")
    assert config.stage_of(rerun).epochs == 2
    saved = config.to_dict()["per_target"]["toy_paws"]
    assert saved["epochs"] == 2 and saved["search_space"]["params"]["micro_batch_size"] == 8
    with pytest.raises(ConfigError, match="did you mean `toy_paws`"):
        load_config(QUICKSTART, ["per_target={toy_pawz: {epochs: 2}}"])
    with pytest.raises(ConfigError, match="unknown key `epoch` in per_target.toy_paws"):
        load_config(QUICKSTART, ["per_target={toy_paws: {epoch: 2}}"])


def test_a_scratch_model_keeps_its_positions_when_a_target_is_shorter() -> None:
    """Stage one's encoder fits the target's model: a per-target length changes truncation, not the table."""
    from sweep.run.runner import target_model

    config = load_config(QUICKSTART, ["per_target={toy_paws: {max_length: 48}}"])
    model = target_model(config, "toy_paws")
    assert (model.max_length, model.max_positions) == (48, 66)
    assert target_model(config, "toy_order") is config.model
    with pytest.raises(ConfigError, match="longer than model.max_length 64"):
        load_config(QUICKSTART, ["per_target={toy_paws: {max_length: 96}}"])


def test_a_model_sets_only_what_its_trials_get() -> None:
    import json

    models = [{"name": "a", "tokenizer": str(ROOT / "data/toy/tokenizer.json"), "resources": {"max_failures": 3}}]
    with pytest.raises(ConfigError, match="resources.max_failures is the study's, not a model's"):
        load_config(QUICKSTART, [f"model={json.dumps(models)}"])
