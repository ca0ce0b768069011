"""Tests for sweep.analysis.bootstrap: per-example parts reproduce the scorers' numbers, and the paired interval."""

from __future__ import annotations

import random

import numpy as np
import pytest

from sweep.analysis.bootstrap import Parts, example_parts, paired_interval
from trainers.examples import Answer, SpanExample, TagExample, TextExample
from trainers.scoring import score
from trainers.tasks import get_task


def test_parts_reproduce_classification_accuracy() -> None:
    task = get_task("xnli")
    gold = [TextExample(id=str(i), texts=("a", "b"), label=i % 3) for i in range(7)]
    predicted = [0, 1, 1, 0, 1, 2, 2]
    parts = example_parts(task, gold, predicted, language="de")
    assert parts.metric() == pytest.approx(score(task, gold, predicted, language="de")["accuracy"])


def test_parts_reproduce_span_f1_of_tagging() -> None:
    task = get_task("panx")
    names = task.labels
    rng = random.Random(3)
    gold, predicted = [], []
    for i in range(40):
        length = rng.randint(1, 8)
        gold.append(
            TagExample(id=str(i), tokens=("w",) * length, tags=tuple(rng.randrange(len(names)) for _ in range(length)))
        )
        predicted.append([rng.randrange(len(names)) for _ in range(length)])
    parts = example_parts(task, gold, predicted, language="de")
    assert parts.kind == "f1"
    assert parts.metric() == pytest.approx(score(task, gold, predicted, language="de")["f1"], abs=1e-12)


def test_parts_reproduce_qa_headline() -> None:
    task = get_task("xquad")
    gold = [
        SpanExample(id="q1", question="?", context="c", answers=(Answer("the red house", 0),)),
        SpanExample(id="q2", question="?", context="c", answers=(Answer("1999", 0), Answer("in 1999", 0))),
        SpanExample(id="q3", question="?", context="c", answers=(Answer("Paris", 0),)),
    ]
    predicted = {"q1": "red house", "q2": "in 1999", "q3": "London"}
    parts = example_parts(task, gold, predicted, language="en")
    assert parts.metric() == pytest.approx(score(task, gold, predicted, language="en")["em_f1_avg"])


def test_paired_interval_of_identical_systems_is_zero() -> None:
    same = Parts("mean", (np.array([1.0, 0.0, 1.0, 1.0, 0.0]),))
    result = paired_interval([(same, same)], replicates=200)
    assert (result["gain"], result["low"], result["high"]) == (0.0, 0.0, 0.0)


def test_paired_interval_excludes_zero_for_a_consistent_gain_and_is_reproducible() -> None:
    rng = np.random.default_rng(0)
    base = (rng.random(400) < 0.6).astype(float)
    better = np.maximum(base, (rng.random(400) < 0.15).astype(float))  # right wherever base is, and more
    pair = [(Parts("mean", (better,)), Parts("mean", (base,)))]
    first = paired_interval(pair, replicates=500, seed=1)
    assert first == paired_interval(pair, replicates=500, seed=1)
    assert first["gain"] == pytest.approx(better.mean() - base.mean())
    assert 0 < first["low"] < first["gain"] < first["high"]
    # Resampling the pair and the baseline independently would ignore that they share examples: wider.
    unpaired = [better[rng.integers(0, 400, 400)].mean() - base[rng.integers(0, 400, 400)].mean() for _ in range(500)]
    assert first["high"] - first["low"] < np.quantile(unpaired, 0.975) - np.quantile(unpaired, 0.025)


def test_mismatched_sizes_are_refused() -> None:
    with pytest.raises(Exception, match="not paired"):
        paired_interval([(Parts("mean", (np.ones(3),)), Parts("mean", (np.ones(4),)))])
