"""The recorder: reports become rows once per attempt, retries get their own attempt, lost files come back."""

from __future__ import annotations

import math
from pathlib import Path

import pyarrow.dataset as ds
import pytest

from sweep.plan.searches import Search
from sweep.run.recorder import HP_COLUMN_TYPES, Recorder
from sweep.storage.journal import TrialJournal
from sweep.storage.results import ResultsStore
from trainers.spec import HyperParameters

SEARCH = Search(id="target-toy_nli-toy_order", phase="target", intermediate="toy_nli", target="toy_order")


def recorder(tmp_path: Path) -> Recorder:
    store = ResultsStore(tmp_path / "results", sweep="s", hp_types=HP_COLUMN_TYPES)
    return Recorder(
        store=store,
        journal=TrialJournal(tmp_path / "journal"),
        search=SEARCH,
        sweep="s",
        model="tiny",
        epochs=2,
        seed=7,
    )


def result(step: int, acc: float) -> dict:
    return {
        "training_iteration": step,
        "time_total_s": 1.5 * step,
        "objective": acc,
        "lr": 1e-3,
        "epoch": step,
        "node": "n1",
        "dev/en/accuracy": acc,
        "test/de/accuracy": acc - 0.1,
        "time_this_iter_s": 1.5,
        "trial_id": "t1",
        "done": False,
    }


def rows(tmp_path: Path) -> list[dict]:
    return ds.dataset(tmp_path / "results").to_table().to_pylist()


def test_completed_trial_becomes_rows_once(tmp_path: Path) -> None:
    rec = recorder(tmp_path)
    rec.on_result("t1", result(1, 0.5), {"learning_rate": 2e-3})
    rec.on_result("t1", result(1, 0.9), {"learning_rate": 2e-3})  # a re-report after resume: first one wins
    rec.on_result("t1", result(2, 0.75), {"learning_rate": 2e-3})
    assert rec.on_end("t1", error=None, hp={"learning_rate": 2e-3}) is not None
    assert rec.on_end("t1", error=None, hp={"learning_rate": 2e-3}) is None  # seen again on resume
    rec.on_result("t1", result(3, 0.1), {"learning_rate": 2e-3})  # ignored: the trial finished
    table = rows(tmp_path)
    assert len(table) == 2 * 4  # two steps x (objective, lr, dev/en, test/de)
    first = {(r["step"], r["metric"], r["split"], r["language"]): r["value"] for r in table}
    assert first[(1, "objective", "dev", "*")] == 0.5
    assert first[(2, "accuracy", "test", "de")] == pytest.approx(0.65)
    assert {r["status"] for r in table} == {"completed"}
    assert {r["pair"] for r in table} == {"toy_nli->toy_order"}
    assert table[0]["hp_learning_rate"] == 2e-3
    assert table[0]["hp_weight_decay"] == HyperParameters().weight_decay  # the value trained with, not null
    assert table[0]["wall_s"] == 1.5 and table[0]["seed"] == 7 and table[0]["node"] == "n1"


def test_stopped_and_retried_trials(tmp_path: Path) -> None:
    rec = recorder(tmp_path)
    rec.on_result("t2", result(1, 0.4), {})
    rec.on_end("t2", error=None, hp={})
    assert {r["status"] for r in rows(tmp_path)} == {"stopped"}

    rec.on_result("t3", result(1, 0.6), {})
    rec.on_end("t3", error="RuntimeError: node lost", hp={})  # Tune will retry it
    assert rec.attempt("t3") == 1
    rec.on_result("t3", result(2, 0.7), {})
    rec.on_end("t3", error=None, hp={})
    t3 = [r for r in rows(tmp_path) if r["trial_id"] == "t3"]
    assert {(r["attempt"], r["status"]) for r in t3} == {(0, "errored"), (1, "completed")}
    error_row = next(r for r in t3 if r["metric"] == "error")
    assert error_row["attempt"] == 0 and math.isnan(error_row["value"]) and "node lost" in error_row["error"]
    assert rec.finished("t3")


def test_trial_that_failed_before_reporting_gets_an_error_row(tmp_path: Path) -> None:
    rec = recorder(tmp_path)
    rec.on_end("t4", error="ValueError: bad", hp={"learning_rate": 1e-3})
    (row,) = rows(tmp_path)
    assert (row["metric"], row["status"], row["step"], row["error"]) == ("error", "errored", 0, "ValueError: bad")


def test_lost_results_file_is_rebuilt_identically(tmp_path: Path) -> None:
    rec = recorder(tmp_path)
    rec.on_result("t5", result(1, 0.5), {})
    rec.on_result("t5", result(2, 0.6), {})
    path = rec.on_end("t5", error=None, hp={})
    before = ds.dataset(path).to_table()
    path.unlink()
    assert rec.rebuild_missing() == [path]
    assert ds.dataset(path).to_table().equals(before)
    assert rec.rebuild_missing() == []


def test_evaluations_on_capped_dev_are_recorded_apart_and_never_selected(tmp_path: Path) -> None:
    """With training.eval_every and eval_dev_examples, a trial reports more often than it has epochs, its
    early objectives come from capped dev sets, and only its whole evaluations can be selected."""
    from sweep.storage.select import best_trial

    rec = recorder(tmp_path)
    early = {**result(1, 0.99), "evaluations": 3, "dev_capped/en/accuracy": 0.99}
    del early["dev/en/accuracy"], early["test/de/accuracy"]
    rec.on_result("t1", early, {})
    rec.on_result("t1", {**result(2, 0.6), "evaluations": 3}, {})  # 2 of 3: not complete at "epochs" 2
    rec.on_end("t1", error=None, hp={})
    rec.on_result("t2", {**result(1, 0.4), "evaluations": 1}, {})
    rec.on_end("t2", error=None, hp={})
    table = rows(tmp_path)
    status = {r["trial_id"]: r["status"] for r in table}
    assert status == {"t1": "stopped", "t2": "completed"}
    splits = {(r["trial_id"], r["step"], r["metric"]): r["split"] for r in table}
    assert splits[("t1", 1, "objective")] == "dev_capped" and splits[("t1", 2, "objective")] == "dev"
    # The capped 0.99 is higher, but only t1's whole evaluation (0.6) competes.
    best = best_trial(ResultsStore.read(tmp_path / "results"), search=SEARCH.id)
    assert (best["trial_id"], best["step"], best["objective"]) == ("t1", 2, 0.6)


def test_mixture_and_layer_keys_become_task_and_layer_columns(tmp_path: Path) -> None:
    """``mnli:dev/en/accuracy`` is task mnli's row; ``0#test/de/accuracy`` is layer 0's; a retrieval
    evaluation's unmarked scores are at its chosen layer; other rows score the search's task."""
    stage_one = Search(id="intermediate-mix", phase="intermediate", intermediate="mix", target=None)
    rec = Recorder(
        store=ResultsStore(tmp_path / "results", sweep="s", hp_types=HP_COLUMN_TYPES),
        journal=TrialJournal(tmp_path / "journal"),
        search=stage_one,
        sweep="s",
        model="tiny",
        epochs=1,
        seed=7,
    )
    report = {**result(1, 0.5), "mnli:dev/en/accuracy": 0.4, "squad:dev/en/f1": 0.6, "mnli:train/en/sampling_rate": 0.7}
    del report["dev/en/accuracy"], report["test/de/accuracy"]
    rec.on_result("t1", report, {"learning_rate": 2e-3})
    rec.on_end("t1", error=None, hp={"learning_rate": 2e-3})
    got = {(r["task"], r["split"], r["metric"]): (r["value"], r["regime"], r["layer"]) for r in rows(tmp_path)}
    assert got[("mnli", "dev", "accuracy")] == (0.4, None, None)
    assert got[("squad", "dev", "f1")] == (0.6, None, None)
    assert got[("mnli", "train", "sampling_rate")][0] == 0.7
    assert got[("mix", "dev", "objective")] == (0.5, None, None)

    evaluation = Search(id="target-none-tatoeba", phase="target", intermediate="none", target="tatoeba")
    rec = Recorder(
        store=ResultsStore(tmp_path / "results2", sweep="s", hp_types=HP_COLUMN_TYPES),
        journal=TrialJournal(tmp_path / "journal2"),
        search=evaluation,
        sweep="s",
        model="tiny",
        epochs=1,
        seed=7,
        trained=False,
    )
    rec.on_result(
        "e1",
        {"training_iteration": 1, "objective": 0.3, "layer": 1, "test/de/accuracy": 0.3, "0#test/de/accuracy": 0.2},
        {},
    )
    rec.on_end("e1", error=None, hp={})
    got = {
        (r["layer"], r["metric"]): (r["value"], r["task"], r["regime"])
        for r in ds.dataset(tmp_path / "results2").to_table().to_pylist()
    }
    assert got[(1, "accuracy")] == (0.3, "tatoeba", "zero_shot")
    assert got[(0, "accuracy")] == (0.2, "tatoeba", "zero_shot")
    assert got[(1, "objective")][0] == 0.3
