"""`sweep estimate`: searches sized from the data or the registry, ASHA's expected stopping, and the
study's own scheduling simulated on a cluster; every shipped study gets its GPU-hours and wall-clock."""

from __future__ import annotations

from pathlib import Path

import pytest

from sweep.cli import main
from sweep.plan.searches import plan
from sweep.preflight.estimate import Pauses, _expected_epochs, estimate, measured_pauses
from sweep.preflight.validate import load_config

ROOT = Path(__file__).resolve().parents[3]
QUICKSTART = ROOT / "configs" / "quickstart.yaml"
STUDIES = sorted((ROOT / "configs" / "studies").glob("*.yaml"))


def test_asha_expects_each_rung_to_keep_one_trial_in_reduction_factor() -> None:
    config = load_config(QUICKSTART, ["search.scheduler=asha", "search.grace_period=1", "search.reduction_factor=2"])
    search = plan(config)[0]
    # Rungs at 1, 2 and 4 of 8 epochs: 1 + 1/2 + 2/4 + 4/8.
    assert _expected_epochs(config, search, 8) == pytest.approx(1 + 0.5 + 0.5 + 0.5)
    fifo = load_config(QUICKSTART, ["search.scheduler=fifo"])
    assert _expected_epochs(fifo, plan(fifo)[0], 8) == 8.0


def _one_pair_and_its_baseline() -> tuple[object, dict[str, float]]:
    """The quickstart narrowed to stage one toy_nli (3 trials of 10 s), its pair with toy_order and the
    baseline (2 trials each, of 5 s and 4 s)."""
    overrides = ["intermediate_tasks=[toy_nli]", "target_tasks=[toy_order]"]
    config = load_config(QUICKSTART, [*overrides, "intermediate.num_samples=3", "target.num_samples=2"])
    return config, {"intermediate-toy_nli": 10.0, "target-none-toy_order": 4.0, "target-toy_nli-toy_order": 5.0}


def test_the_schedule_follows_the_study_s_caps_and_dependencies() -> None:
    """Two CPUs, two trials a search at once: stage one's 3 trials of 10 s take 20 s; the baseline pair
    fills the second CPU meanwhile, and the other pair starts when stage one ends."""
    config, durations = _one_pair_and_its_baseline()
    result = estimate(config, gpus=2, durations=durations)
    spans = {c.search.id: (c.start, c.end) for c in result.searches}
    assert result.unit == "CPU" and result.peak_in_use == 2
    assert spans["intermediate-toy_nli"] == (0.0, 20.0)
    assert spans["target-toy_nli-toy_order"][0] == 20.0
    assert result.wall_seconds == 25.0
    assert result.gpu_hours == pytest.approx((3 * 10 + 2 * 4 + 2 * 5) / 3600)
    assert result.chain == ["intermediate-toy_nli", "target-toy_nli-toy_order"] and result.chain_seconds == 25.0


def test_measured_pauses_start_each_trial_later_and_hold_the_pair_for_its_stage_one_s_export() -> None:
    """The schedule above with a second before each trial and a 3 s export after stage one: its trials end
    at 11 and 22, the baseline's at 16 and 21; the pair starts at 25 and ends at 31. The baseline's own
    pause is no stage one's, so it holds nothing."""
    config, durations = _one_pair_and_its_baseline()
    pauses = Pauses(per_trial=1.0, after={"intermediate-toy_nli": 3.0, "target-none-toy_order": 7.0})
    result = estimate(config, gpus=2, durations=durations, pauses=pauses)
    spans = {c.search.id: (c.start, c.end) for c in result.searches}
    assert spans["intermediate-toy_nli"] == (0.0, 22.0)
    assert spans["target-none-toy_order"][1] == 21.0
    assert spans["target-toy_nli-toy_order"] == (25.0, 31.0)
    assert result.wall_seconds == 31.0 and result.exports == {"intermediate-toy_nli": 3.0}


def test_an_export_holds_only_the_searches_that_need_it() -> None:
    """Stage one's 2 trials of 10 s hold both CPUs until 10; during its 3 s export the baseline's 2 trials
    (4 s) start at once, and the pair, ready at 13, starts when they end, at 14, and ends at 19. A driver
    that started nothing while exporting would have run the baseline from 13 to 17 and ended at 22."""
    overrides = ["intermediate_tasks=[toy_nli]", "target_tasks=[toy_order]"]
    config = load_config(QUICKSTART, [*overrides, "intermediate.num_samples=2", "target.num_samples=2"])
    durations = {"intermediate-toy_nli": 10.0, "target-none-toy_order": 4.0, "target-toy_nli-toy_order": 5.0}
    result = estimate(config, gpus=2, durations=durations, pauses=Pauses(after={"intermediate-toy_nli": 3.0}))
    spans = {c.search.id: (c.start, c.end) for c in result.searches}
    assert spans["intermediate-toy_nli"] == (0.0, 10.0)
    assert spans["target-none-toy_order"][1] == 14.0
    assert spans["target-toy_nli-toy_order"] == (13.0, 19.0)  # proposed at 13; a CPU frees at 14
    assert result.wall_seconds == 19.0


def test_pauses_are_measured_from_a_sweep_s_results(tmp_path: Path) -> None:
    """Each trial's wait from the last end before its start (the first wave waited for none), its median;
    each stage one's export as the manifest recorded it; for a sweep with none recorded (from a driver that
    stopped while exporting), the wait after each search's last report until the next start anywhere, less
    that median."""
    import json
    from datetime import UTC, datetime, timedelta

    import pyarrow as pa
    import pyarrow.parquet as pq

    t0 = datetime(2026, 12, 7, tzinfo=UTC)
    trials = [  # search, trial, start, last report (seconds)
        ("A", "a1", 0.0, 10.0),
        ("A", "a2", 0.0, 9.0),
        ("B", "b1", 9.5, 15.0),
        ("A", "a3", 10.5, 20.0),
        ("B", "b2", 15.5, 19.0),
        ("C", "c1", 23.5, 30.0),
    ]
    rows = [(s, t, start, at) for s, t, start, end in trials for at in (start + 0.1, end)]  # two reports each
    (tmp_path / "results" / "x").mkdir(parents=True)
    table = pa.table(
        {
            "search": [r[0] for r in rows],
            "trial_id": [r[1] for r in rows],
            "started_at": [t0 + timedelta(seconds=r[2]) for r in rows],
            "reported_at": [t0 + timedelta(seconds=r[3]) for r in rows],
        }
    )
    pq.write_table(table, tmp_path / "results" / "x" / "part.parquet")
    pauses = measured_pauses(tmp_path)
    assert pauses.per_trial == pytest.approx(0.5)
    assert pauses.after == pytest.approx({"A": 3.0, "B": 4.0})
    reused = {"searches": {"A": {"state": "done", "origin": "reused"}, "B": {"state": "done"}}}
    (tmp_path / "manifest.json").write_text(json.dumps(reused))
    assert measured_pauses(tmp_path).after == pytest.approx({"B": 4.0})  # A's rows are another sweep's
    recorded = {"searches": {"A": {"state": "done", "export_s": 1.25}, "B": {"state": "done"}}}
    (tmp_path / "manifest.json").write_text(json.dumps(recorded))
    assert measured_pauses(tmp_path).after == pytest.approx({"A": 1.25})


def test_the_data_s_files_are_counted_where_they_are_here() -> None:
    config = load_config(QUICKSTART, ["intermediate_tasks=[toy_nli]", "target_tasks=[toy_order]"])
    lines = sum(1 for line in (ROOT / "data" / "toy" / "toy_nli.en" / "train.jsonl").open() if line.strip())
    stage_one = next(c for c in estimate(config, gpus=2).searches if c.search.phase == "intermediate")
    capped = min(lines, config.training.max_train_examples or lines)
    epochs = _expected_epochs(config, stage_one.search, config.stage_of(stage_one.search).epochs)
    assert stage_one.train_sequences == pytest.approx(capped * epochs)


def test_the_command_prints_each_search_and_the_totals(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["estimate", str(ROOT / "configs" / "studies" / "scaling.yaml"), "--gpus", "64"]) == 0
    out = capsys.readouterr().out
    assert "GPU-hours; wall-clock" in out and "GPUs in use: peak" in out and "longest chain:" in out
    assert "xlm-roberta-xl.intermediate-mnli" in out


@pytest.mark.parametrize("path", STUDIES, ids=lambda p: p.stem)
def test_every_shipped_study_is_estimated_on_64_gpus(path: Path) -> None:
    config = load_config(path, check_data=False)
    result = estimate(config, gpus=64)
    assert len(result.searches) == len(plan(config)) and result.gpu_hours > 0
    assert 0 < result.peak_in_use <= 64 and result.wall_seconds >= result.chain_seconds * 0.999


def test_bad_throughputs_and_unknown_gpus_are_named(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["estimate", str(STUDIES[0]), "--gpus", "64", "--throughput", "nope=5"]) == 2
    assert "--throughput names ['nope']" in capsys.readouterr().err
    assert main(["estimate", str(STUDIES[0]), "--gpus", "64", "--gpu", "tpu"]) == 2
    assert "unknown --gpu 'tpu'" in capsys.readouterr().err


@pytest.mark.parametrize("path", STUDIES, ids=lambda p: p.stem)
def test_each_study_s_cost_comment_is_what_the_estimate_prints(path: Path) -> None:
    """The header's cost is the command's output, not a hand estimate that drifts from the code."""
    from sweep.cli.running import _span

    result = estimate(load_config(path, check_data=False), gpus=64)
    header = " ".join(line.lstrip("# ") for line in path.read_text().split("\nname:")[0].splitlines())
    assert f"{result.gpu_hours:,.0f} GPU-hours, {_span(result.wall_seconds)} of wall-clock on 64 GPUs" in header
