"""Intermediate mixtures in configs: registered and defined ones resolve to their sources, and every
mistake in one is found by `sweep validate` with the fix named."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from sweep.config.mixtures import describe, mixture_spec
from sweep.errors import ConfigError
from sweep.plan.searches import plan
from sweep.preflight.validate import load_config

ROOT = Path(__file__).resolve().parents[3]
QUICKSTART = ROOT / "configs" / "quickstart.yaml"


def config_with(mixtures: dict, intermediate: list[str], *, check_data: bool = True) -> object:
    return load_config(
        QUICKSTART,
        [f"mixtures={json.dumps(mixtures)}", f"intermediate_tasks={json.dumps(intermediate)}"],
        check_data=check_data,
    )


def problems_of(mixtures: dict, intermediate: list[str]) -> list[str]:
    with pytest.raises(ConfigError) as info:
        config_with(mixtures, intermediate)
    return info.value.problems


def test_a_defined_mixture_resolves_to_its_sources() -> None:
    config = config_with(
        {
            "toy_mix": {
                "sources": ["toy_nli", {"task": "toy_qa", "cap": 50}],
                "sampling": "temperature",
                "temperature": 2,
            }
        },
        ["toy_mix", "toy_topic"],
    )
    spec = mixture_spec(config, "toy_mix")
    assert [(s.task, s.languages, s.head, s.cap) for s in spec.sources] == [
        ("toy_nli", ("en",), "toy_nli", None),
        ("toy_qa", ("en",), "toy_qa", 50),
    ]
    assert describe(spec) == "toy_nli + toy_qa[cap=50] (temperature T=2; select mean)"
    assert [s.id for s in plan(config)][:2] == ["intermediate-toy_mix", "intermediate-toy_topic"]


def test_registered_mixtures_share_their_head_and_nest() -> None:
    config = load_config(QUICKSTART, check_data=False)
    anli = mixture_spec(config, "anli_plus")
    assert [(s.task, s.head) for s in anli.sources] == [("snli", "nli"), ("mnli", "nli"), ("anli", "nli")]
    assert anli.select == "anli"
    everything = mixture_spec(config, "xstilts_all")
    assert [s.task for s in everything.sources] == [
        "snli",
        "mnli",
        "anli",
        "qqp",
        "squad",
        "squad_v2",
        "hellaswag",
        "ccg",
        "cosmos_qa",
        "commonsense_qa",
    ]
    assert {s.head for s in everything.sources[:3]} == {"nli"}


def test_a_language_ratio_trains_the_default_language_on_its_default_data() -> None:
    config = config_with({"x": {"task": "xnli", "languages": {"en": 0.75, "de": 0.25}}}, ["x"], check_data=False)
    spec = mixture_spec(config, "x")
    assert spec.sampling == "weights"
    assert [(s.task, s.train_task, s.languages, s.weight, s.head) for s in spec.sources] == [
        ("xnli", "mnli", ("en",), 0.75, "xnli"),
        ("xnli", "xnli", ("de",), 0.25, "xnli"),
    ]


@pytest.mark.parametrize(
    ("mixtures", "intermediate", "expected"),
    [
        ({"m": {"sources": ["toy_nli", "toy_nli"]}}, ["m"], "`toy_nli` in `en` is in the mixture twice"),
        ({"m": {"sources": ["toy_nli", "toy_nil"]}}, ["m"], "unknown task `toy_nil`; did you mean `toy_nli`"),
        ({"m": {"sources": ["toy_nli"], "sampling": "wieghts"}}, ["m"], "did you mean `weights`"),
        ({"m": {"sources": ["toy_nli", "toy_qa"], "sampling": "weights"}}, ["m"], "have no positive weight"),
        (
            {"m": {"sources": [{"task": "toy_nli", "weight": 2}, "toy_qa"]}},
            ["m"],
            "only `sampling: weights` uses",
        ),
        ({"m": {"sources": ["toy_nli"], "select": "toy_qa"}}, ["m"], "select is `toy_qa`"),
        (
            {"m": {"sources": [{"task": "toy_nli", "head": "h"}, {"task": "toy_qa", "head": "h"}]}},
            ["m"],
            "share head `h` but differ in kind or labels",
        ),
        ({"m": {"sources": ["toy_nli"], "wieght": 1}}, ["m"], "unknown key `wieght` in mixtures.m"),
        ({"m": {"sources": [{"task": "toy_nli", "cpa": 3}]}}, ["m"], "did you mean `cap`"),
        ({"m": {"sources": ["m"]}}, ["m"], "mixture `m` contains itself"),
        ({"a": {"sources": ["b"]}, "b": {"sources": ["a"]}}, ["a"], "contains itself (a -> b -> a)"),
        ({"m": {"sources": ["toy_nli"]}}, ["toy_topic"], "mixtures.m is defined but no intermediate entry uses it"),
        ({"toy_nli": {"sources": ["toy_topic"]}}, ["toy_nli"], "is a task's name"),
        ({"m": {"task": "toy_paws", "languages": {"de": 1, "xx": 1}}}, ["m"], "unknown language `xx`"),
        ({"m": {"sources": ["tatoeba"]}}, ["m"], "`tatoeba` is a retrieval task, which is evaluated, not trained"),
    ],
)
def test_mistakes_are_named(mixtures: dict, intermediate: list[str], expected: str) -> None:
    found = problems_of(mixtures, intermediate)
    assert any(expected in p for p in found), found


def test_missing_data_of_a_source_is_named() -> None:
    """toy_qa has no German training split in the toy data: the mixture cannot train on it."""
    found = problems_of({"m": {"task": "toy_qa", "languages": {"en": 1, "de": 1}}}, ["m"])
    assert any("toy_qa" in p and "train" in p and "de" in p for p in found), found
