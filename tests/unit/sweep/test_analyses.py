"""Tests for sweep.analysis.tables and sweep.analysis.analyses: the protocol's selection, groups, seeds, several
sweeps, SQL, and bad inputs, on sweep folders written by hand (tests.sweeps) with numbers checked by hand."""

from __future__ import annotations

import json
import math
import shutil
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from sweep.analysis import analyses, stats
from sweep.analysis.sweeps import QueryError
from sweep.analysis.tables import Results
from sweep.cli import main
from sweep.errors import ResultsError, XStiltsError
from sweep.storage.results import VERSION_KEY
from tests.sweeps import SweepWriter


def _plain(root: Path, name: str = "s1", **kwargs) -> Path:
    """A search per pair, no seeds. Baseline: trials t1 and t2 tie at 0.6 (t1 at step 2, t2 at step 1): the
    later step wins, so the test scores are t1's at step 2, not its last nor t2's. mnli: t3 is best at its
    first step of three."""
    w = SweepWriter(root / name, name=name, **kwargs)
    w.trial(
        intermediate="none", target="xnli", trial_id="t1", dev=[0.5, 0.6], test={"de": [0.4, 0.5], "sw": [0.3, 0.34]}
    )
    w.trial(
        intermediate="none", target="xnli", trial_id="t2", dev=[0.6, 0.55], test={"de": [0.45, 0.9], "sw": [0.35, 0.9]}
    )
    w.trial(
        intermediate="mnli",
        target="xnli",
        trial_id="t3",
        dev=[0.7, 0.65, 0.6],
        test={"de": [0.6, 0.2, 0.2], "sw": [0.4, 0.2, 0.2]},
        hp={"lr": 2e-5},
    )
    return w.finish()


def _seeded(root: Path) -> Path:
    """As _plain's pairs, each re-run with seeds 1-3: the seed runs' means are baseline 0.40/0.45/0.50 and mnli
    0.6/0.7/0.8; the searches that chose the configurations score higher (0.9) and must not count."""
    w = SweepWriter(root / "s2", name="s2")
    for inter in ("none", "mnli"):
        w.trial(intermediate=inter, target="xnli", trial_id=f"{inter}-sel", dev=[0.9], test={"de": [0.9], "sw": [0.9]})
    for seed, (de, sw) in enumerate([(0.5, 0.3), (0.55, 0.35), (0.6, 0.4)], start=1):
        w.trial(
            intermediate="none",
            target="xnli",
            trial_id=f"b{seed}",
            dev=[0.5],
            test={"de": [de], "sw": [sw]},
            seed=seed,
            seeds=True,
        )
    for seed, (de, sw) in enumerate([(0.7, 0.5), (0.8, 0.6), (0.9, 0.7)], start=1):
        w.trial(
            intermediate="mnli",
            target="xnli",
            trial_id=f"m{seed}",
            dev=[0.5],
            test={"de": [de], "sw": [sw]},
            seed=seed,
            seeds=True,
        )
    return w.finish()


def _by(rows: list[dict], *keys: str) -> dict:
    return {tuple(r[k] for k in keys) if len(keys) > 1 else r[keys[0]]: r for r in rows}


def test_the_best_step_by_dev_objective_gives_the_test_scores(tmp_path: Path) -> None:
    results = Results([_plain(tmp_path)])
    selected = _by(results.sql("SELECT * FROM selected").to_pylist(), "search")
    assert (selected["target-none-xnli"]["trial_id"], selected["target-none-xnli"]["step"]) == ("t1", 2)
    assert (selected["target-mnli-xnli"]["trial_id"], selected["target-mnli-xnli"]["step"]) == ("t3", 1)
    pairs = _by(analyses.pair_scores(results), "intermediate")
    assert pairs["none"]["score"] == pytest.approx(0.42)  # (0.5 + 0.34) / 2
    assert pairs["mnli"]["score"] == pytest.approx(0.5)
    assert pairs["mnli"]["gain"] == pytest.approx(0.08)
    assert pairs["none"]["gain"] is None
    matrix = _by(analyses.matrix(results), "intermediate")
    assert matrix["mnli"]["xnli"] == pytest.approx(0.5) and matrix["mnli"]["xnli vs none"] == pytest.approx(0.08)


def test_scores_group_by_family_genus_and_script(tmp_path: Path) -> None:
    results = Results([_plain(tmp_path)])
    family = _by(analyses.pair_scores(results, by="family"), "intermediate", "family")
    assert family[("mnli", "Indo-European")]["gain"] == pytest.approx(0.1)  # de: 0.6 - 0.5
    assert family[("mnli", "Atlantic-Congo")]["gain"] == pytest.approx(0.06)  # sw: 0.4 - 0.34
    genus = {r["genus"] for r in analyses.pair_scores(results, by="genus")}
    assert genus == {"Germanic", "Bantoid"}
    assert {r["script"] for r in analyses.pair_scores(results, by="script")} == {"Latin"}
    with pytest.raises(QueryError, match="did you mean `family`"):
        analyses.pair_scores(results, by="familly")


def test_seeds_runs_represent_a_pair_with_t_and_welch_intervals(tmp_path: Path) -> None:
    scipy_stats = pytest.importorskip("scipy.stats")
    results = Results([_seeded(tmp_path)])
    pairs = _by(analyses.pair_stats(results), "intermediate")
    mnli, none = pairs["mnli"], pairs["none"]
    assert (mnli["runs"], none["runs"]) == (3, 3)
    assert mnli["mean"] == pytest.approx(0.7) and none["mean"] == pytest.approx(0.45)  # not the 0.9 of selection
    assert mnli["sd"] == pytest.approx(0.1)
    # t(0.975, 2) = 4.302653: 0.7 -+ 4.302653 * 0.1 / sqrt(3)
    assert (mnli["ci_low"], mnli["ci_high"]) == pytest.approx((0.451586, 0.948414), abs=1e-6)
    assert mnli["per_seed"] == "1:0.6000 2:0.7000 3:0.8000"
    assert mnli["gain"] == pytest.approx(0.25)
    welch = scipy_stats.ttest_ind([0.6, 0.7, 0.8], [0.4, 0.45, 0.5], equal_var=False).confidence_interval(0.95)
    assert (mnli["gain_low"], mnli["gain_high"]) == pytest.approx((welch.low, welch.high))
    assert "Welch" in mnli["method"]


def test_expected_best_of_k_trials() -> None:
    curve = stats.expected_max([0.5, 0.7])
    assert curve[0] == pytest.approx((0.6, 0.1))
    assert curve[1][0] == pytest.approx(0.5 * 0.25 + 0.7 * 0.75)  # max of two draws is 0.5 only if both are
    assert stats.expected_max([0.3, 0.3, 0.3]) == [pytest.approx((0.3, 0.0), abs=1e-6)] * 3


def test_search_progress_orders_trials_and_adds_up_their_time(tmp_path: Path) -> None:
    results = Results([_plain(tmp_path)])
    rows = [r for r in analyses.search_progress(results) if r["search"] == "target-none-xnli"]
    assert [r["trial_id"] for r in rows] == ["t1", "t2"]
    assert [r["best_so_far"] for r in rows] == [0.6, 0.6]
    assert [r["trial_s"] for r in rows] == [20.0, 40.0]
    assert rows[1]["expected_best"] == pytest.approx(0.6)


def test_several_sweeps_with_different_hyperparameters_are_one_table(tmp_path: Path) -> None:
    a = _plain(tmp_path, "a")
    b = _plain(tmp_path, "b", hp_types={"lr": "float", "warmup": "float"})
    results = Results([a, b])
    counts = {
        r["sweep"]: r["n"] for r in results.sql("SELECT sweep, count(*) AS n FROM rows GROUP BY sweep").to_pylist()
    }
    assert counts == {"a": 21, "b": 21}  # 7 steps, each an objective and two test rows
    assert set(results.columns("rows")) >= {"sweep", "hp_lr", "hp_warmup"}
    assert {r["sweep"] for r in analyses.matrix(results)} == {"a", "b"}
    only_b = analyses.pair_scores(results, where=["sweep=b"])
    assert {r["sweep"] for r in only_b} == {"b"}
    with pytest.raises(QueryError, match="unknown sweep `c`.*the sweeps queried are a, b"):
        analyses.pair_scores(results, where=["sweep=c"])
    shutil.copytree(a, tmp_path / "copy")
    with pytest.raises(QueryError, match="two sweeps are named 'a'"):
        Results([a, tmp_path / "copy"])


def test_a_folder_of_sweeps_is_named_with_what_it_holds(tmp_path: Path) -> None:
    _plain(tmp_path, "a")
    with pytest.raises(QueryError, match=r"holds the sweeps a: name them"):
        Results([tmp_path])
    with pytest.raises(QueryError, match="no such folder"):
        Results([tmp_path / "nope"])


def test_sql_errors_name_what_exists(tmp_path: Path) -> None:
    results = Results([_plain(tmp_path)])
    with pytest.raises(QueryError, match="columns of best: sweep, search"):
        results.sql("SELECT langauge FROM best")
    with pytest.raises(QueryError, match="the views are rows, trials"):
        results.sql("SELECT * FROM bets")
    with pytest.raises(QueryError, match="did you mean `language`"):
        analyses.pair_scores(results, where=["lang=de"])


def test_a_damaged_file_is_named_or_skipped(tmp_path: Path) -> None:
    root = _plain(tmp_path)
    victim = next((root / "results" / "target-mnli-xnli").glob("*.parquet"))
    victim.write_bytes(victim.read_bytes()[:100])
    with pytest.raises(ResultsError, match=rf"{victim.name}.*--skip-bad"):
        Results([root])
    warnings: list[str] = []
    results = Results([root], skip_bad=True, warn=warnings.append)
    assert results.skipped == [str(victim)] and victim.name in warnings[0]
    assert {r["intermediate"] for r in analyses.pair_scores(results)} == {"none"}


def test_an_unknown_schema_version_is_refused_naming_both(tmp_path: Path) -> None:
    root = _plain(tmp_path)
    victim = next((root / "results" / "target-mnli-xnli").glob("*.parquet"))
    table = pq.read_table(victim)
    pq.write_table(table.replace_schema_metadata({**table.schema.metadata, VERSION_KEY: b"9"}), victim)
    with pytest.raises(ResultsError, match=r"version 9, but this xstilts reads versions \[1, 2\]"):
        Results([root])


def test_cli_pivot_over_two_sweeps_and_sql(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    a, b = _plain(tmp_path, "a"), _seeded(tmp_path)
    assert main(["query", str(a), str(b), "--pivot", "--format", "json"]) == 0
    matrix = _by(json.loads(capsys.readouterr().out), "sweep", "intermediate")
    assert matrix[("s2", "mnli")]["xnli"] == pytest.approx(0.7)
    assert matrix[("a", "mnli")]["xnli vs none"] == pytest.approx(0.08)
    sql = "SELECT family, round(avg(value), 4) AS mean FROM best WHERE sweep = 'a' GROUP BY family ORDER BY family"
    assert main(["query", str(a), "--sql", sql, "--format", "csv"]) == 0
    assert capsys.readouterr().out.splitlines() == ["family,mean", "Atlantic-Congo,0.37", "Indo-European,0.55"]
    assert main(["query", str(a), "--sql", "SELECT nope FROM best"]) == 2
    assert "columns of best" in capsys.readouterr().err


def test_english_share_and_mixture_columns(tmp_path: Path) -> None:
    mixtures = {
        "half": {
            "sources": [
                {"task": "xnli", "languages": ["en"], "weight": 0.5},
                {"task": "xnli", "languages": ["de"], "weight": 0.25},
                {"task": "xnli", "languages": ["sw"], "weight": 0.25},
            ]
        }
    }
    w = SweepWriter(tmp_path / "mix", name="mix", intermediate_tasks=["mnli", "half"], mixtures=mixtures)
    w.trial(intermediate="half", target="xnli", trial_id="h1", dev=[0.5], test={"de": [0.5]})
    results = Results([w.finish()])
    shares = {r["intermediate"]: r["english_share"] for r in results.sql("SELECT * FROM _entries").to_pylist()}
    assert shares == {"mnli": 1.0, "half": 0.5, "none": None}
    mixture = results.sql("SELECT DISTINCT mixture FROM best").to_pylist()[0]["mixture"]
    assert mixture == "xnli@en 0.5 + xnli@de 0.25 + xnli@sw 0.25"


def test_one_run_says_it_has_no_interval(tmp_path: Path) -> None:
    rows = analyses.pair_stats(Results([_plain(tmp_path)]))
    assert all(r["ci_low"] is None and r["method"].startswith("one run") for r in rows)
    assert not any(isinstance(r["mean"], float) and math.isnan(r["mean"]) for r in rows)


def test_the_notebook_api_returns_arrow_and_pandas(tmp_path: Path) -> None:
    from sweep.api import Analysis

    study = Analysis([_plain(tmp_path)])
    table = study.matrix()
    assert table.column_names == ["intermediate", "xnli", "xnli vs none"]
    frame = study.by("family", as_="pandas")
    assert set(frame["family"]) == {"Indo-European", "Atlantic-Congo"}
    assert study.sql("SELECT count(*) AS n FROM selected").to_pylist() == [{"n": 2}]
    with pytest.raises(Exception, match="use arrow, pandas or polars"):
        study.stats(as_="excel")


def test_the_scores_view_holds_the_protocol_s_runs(tmp_path: Path) -> None:
    results = Results([_seeded(tmp_path)])
    rows = results.sql("SELECT intermediate, seed, language, value FROM scores ORDER BY ALL").to_pylist()
    assert len(rows) == 2 * 3 * 2 and {r["seed"] for r in rows} == {1, 2, 3}  # the selection searches' 0.9 left out
    assert analyses.scores(results).num_rows == len(rows)
    by_metric = analyses.scores(results, metric="accuracy")
    assert by_metric.num_rows == len(rows)


def test_benchmark_table_names_what_is_missing(tmp_path: Path) -> None:
    rows = analyses.benchmark_table(Results([_plain(tmp_path)]), version="xtreme")
    none = _by(rows, "intermediate")["none"]
    assert none["xnli"] is None and none["overall"] is None  # only de and sw of XNLI's 15 languages
    assert none["missing"].startswith("pawsx; xnli: ar bg el en es fr hi ru th tr ur vi zh;")
    toy = SweepWriter(tmp_path / "toy", name="toy")
    toy.trial(intermediate="none", target="toy_paws", trial_id="t", dev=[0.5], test={"de": [0.5]})
    with pytest.raises(XStiltsError, match="none of the targets \\(toy_paws\\) is a task of xtreme-r"):
        analyses.benchmark_table(Results([toy.finish()]), version="xtreme-r")
