"""The benchmark scores against google-research/xtreme's own evaluate.py (loaded as an oracle, with its
per-file scorer replaced by the per-language scores given to both)."""

from __future__ import annotations

import random
from pathlib import Path

import pytest

from sweep.analysis import benchmark
from tests.oracles import load_official

QA = {"xquad", "mlqa", "tydiqa"}


def _scores(version: str, *, seed: int = 0) -> dict[str, dict[str, dict[str, float]]]:
    """Per task and language, the metrics evaluate.py's scorer would return (fractions)."""
    rng = random.Random(seed)
    out: dict[str, dict[str, dict[str, float]]] = {}
    for task, languages in benchmark.LANGUAGES[version].items():
        out[task] = {}
        for lang in languages:
            if task in QA:
                out[task][lang] = {"exact_match": rng.random(), "f1": rng.random()}
            elif task in ("mewslix", "lareqa"):
                out[task][lang] = {"map@20": rng.random()}
            elif task in ("panx", "udpos", "bucc2018"):
                out[task][lang] = {"f1": rng.random()}
            else:
                out[task][lang] = {"accuracy": rng.random()}
    return out


def _headline(metrics: dict[str, float]) -> float:
    if "exact_match" in metrics:
        return (metrics["exact_match"] + metrics["f1"]) / 2
    return next(iter(metrics.values()))


def _official(tmp_path: Path, version: str, scores: dict, tasks: list[str]) -> tuple[dict, dict]:
    def evaluate_one_task(prediction_file, label_file, task, language=None):  # noqa: ANN001, ANN202
        return {k: v * 100 for k, v in scores[task][language].items()}

    namespace = load_official("xtreme/evaluate.py", "evaluate", evaluate_one_task=evaluate_one_task)
    for side in ("pred", "gold"):
        for task in tasks:
            (tmp_path / side / task).mkdir(parents=True)
    for task in tasks:
        suffix = namespace["get_suffix"](task, namespace["XTREME_VERSIONS_GROUP_DICT"][version])
        for lang in namespace["XTREME_VERSIONS_LANG_DICT"][version][task]:
            for side in ("pred", "gold"):
                (tmp_path / side / task / f"test-{lang}.{suffix}").touch()
    return namespace["evaluate"](str(tmp_path / "pred"), str(tmp_path / "gold"), version)


def test_the_lists_are_evaluate_py_s() -> None:
    namespace = load_official("xtreme/evaluate.py", "XTREME_VERSIONS_GROUP_DICT", "XTREME_VERSIONS_LANG_DICT")
    for version in benchmark.VERSIONS:
        groups = {g: tuple(t) for g, t in namespace["XTREME_VERSIONS_GROUP_DICT"][version].items()}
        assert groups == benchmark.GROUPS[version]
        official = namespace["XTREME_VERSIONS_LANG_DICT"][version]
        ours = benchmark.LANGUAGES[version]
        assert set(official) == set(ours)
        for task, languages in official.items():
            if task != "lareqa":  # evaluate.py lists none: see sweep.analysis.benchmark
                assert tuple(languages) == ours[task], task


def test_xtreme_scores_equal_evaluate_py(tmp_path: Path) -> None:
    scores = _scores("xtreme")
    overall, detailed = _official(tmp_path, "xtreme", scores, list(scores))
    per_language = {t: {lang: _headline(m) for lang, m in langs.items()} for t, langs in scores.items()}
    ours = benchmark.benchmark_scores(per_language, version="xtreme")
    for task in scores:
        assert ours["tasks"][task] * 100 == pytest.approx(detailed[task]["avg_metric"], rel=1e-12)
    for group in benchmark.GROUPS["xtreme"]:
        assert ours["groups"][group] * 100 == pytest.approx(overall[group], rel=1e-12)
    assert ours["overall"] * 100 == pytest.approx(overall["all_task"], rel=1e-12)


def test_xtreme_r_groups_equal_evaluate_py_and_its_quirks(tmp_path: Path) -> None:
    scores = _scores("xtreme-r", seed=1)
    tasks = [t for t in scores if t != "lareqa"]  # evaluate.py cannot score LAReQA
    overall, detailed = _official(tmp_path, "xtreme-r", scores, tasks)
    per_language = {t: {lang: _headline(m) for lang, m in langs.items()} for t, langs in scores.items()}
    ours = benchmark.benchmark_scores(per_language, version="xtreme-r")
    for group in benchmark.GROUPS["xtreme-r"]:
        assert ours["groups"][group] * 100 == pytest.approx(overall[group], rel=1e-12)
    # XCOPA counts in two groups; LAReQA in none; evaluate.py never gives an overall XTREME-R score.
    assert ours["groups"]["multi_choice"] == ours["tasks"]["xcopa"]
    assert benchmark.task_groups("xtreme-r")["xcopa"] == ("classification", "multi_choice")
    assert benchmark.task_groups("xtreme-r")["lareqa"] == ()
    assert "all_task" not in overall
    assert ours["overall"] == pytest.approx(sum(ours["tasks"].values()) / 10)


def test_a_missing_language_leaves_the_task_and_overall_unscored() -> None:
    per_language = {t: dict.fromkeys(langs, 0.5) for t, langs in benchmark.LANGUAGES["xtreme"].items()}
    del per_language["pawsx"]["ko"]
    result = benchmark.benchmark_scores(per_language, version="xtreme")
    assert result["tasks"]["pawsx"] is None and result["missing"] == {"pawsx": ["ko"]}
    assert result["groups"]["classification"] is None and result["groups"]["tagging"] == 0.5
    assert result["overall"] is None
    with pytest.raises(Exception, match="did you mean `xtreme-r`"):
        benchmark.benchmark_scores(per_language, version="xtreme_r")
