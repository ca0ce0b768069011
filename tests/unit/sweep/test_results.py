"""Tests for sweep.storage.results: schema, atomic idempotent writes, checked reads."""

from __future__ import annotations

import math
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.dataset as ds
import pyarrow.parquet as pq
import pytest

from sweep.errors import ResultsError, XStiltsError
from sweep.storage.results import (
    BASE_COLUMNS,
    KNOWN_VERSIONS,
    SCHEMA_VERSION,
    VERSION_KEY,
    ResultsStore,
    read_results,
    results_schema,
)

HP_TYPES = {"lr": "float", "batch_size": "int", "optimizer": "str"}
HP_COLUMNS = ["hp_batch_size", "hp_lr", "hp_optimizer"]


def make_store(tmp_path: Path) -> ResultsStore:
    return ResultsStore(tmp_path / "results", sweep="s1", hp_types=HP_TYPES)


def make_row(*, trial_id: str = "t1", attempt: int = 0, step: int = 1, **over: Any) -> dict[str, Any]:
    row: dict[str, Any] = {
        "sweep": "s1",
        "search": "xnli",
        "pair": "mnli->xnli",
        "model": "xlmr-base",
        "intermediate": "mnli",
        "target": "xnli",
        "trial_id": trial_id,
        "attempt": attempt,
        "status": "completed",
        "phase": "target",
        "step": step,
        "split": "test",
        "language": "de",
        "metric": "accuracy",
        "value": 0.75,
        "seed": 13,
        "wall_s": 12.5,
        "node": "node-1",
        "started_at": 1_700_000_000.0,
        "reported_at": 1_700_000_060.25,
        "hp": {"lr": 1e-5, "batch_size": 32, "optimizer": "adamw"},
    }
    row.update(over)
    return row


def write(store: ResultsStore, rows: list[dict[str, Any]], *, trial_id: str = "t1", attempt: int = 0) -> Path | None:
    return store.write_attempt(rows, search="xnli", trial_id=trial_id, attempt=attempt)


def test_base_columns_and_schema_order() -> None:
    schema = results_schema(sweep="s1", hp_types=HP_TYPES)
    assert BASE_COLUMNS[:3] == ("sweep", "search", "pair")
    assert len(BASE_COLUMNS) == 25
    assert BASE_COLUMNS[-4:] == ("task", "regime", "layer", "origin")
    assert schema.names == [*BASE_COLUMNS, *HP_COLUMNS]
    assert schema.field("attempt").type == pa.int32()
    assert schema.field("started_at").type == pa.timestamp("ms", tz="UTC")
    assert schema.field("hp_batch_size").type == pa.int64()
    assert schema.metadata == {VERSION_KEY: b"2", b"xstilts.sweep": b"s1"}
    assert SCHEMA_VERSION == 2
    assert KNOWN_VERSIONS == frozenset({1, 2})


def test_version_1_files_read_with_the_columns_version_2_added(tmp_path: Path) -> None:
    """A sweep written before version 2 reads whole: the new columns hold what its rows meant (trained here,
    scoring the search's task, a pair zero-shot), in the fixed column order, mixed with version-2 files."""
    store = ResultsStore(tmp_path, sweep="s1", hp_types=HP_TYPES)
    write(store, [make_row(trial_id="new", task="xnli", regime="zero_shot", origin="trained")], trial_id="new")
    old = store.attempt_path(search="xnli", trial_id="old", attempt=0)
    table = pq.read_table(store.attempt_path(search="xnli", trial_id="new", attempt=0))
    table = table.drop_columns(["task", "regime", "layer", "origin"])
    table = table.replace_schema_metadata({VERSION_KEY: b"1", b"xstilts.sweep": b"s1"})
    table = table.set_column(table.schema.get_field_index("trial_id"), "trial_id", pa.array(["old"]))
    pq.write_table(table, old)
    read = ResultsStore.read(tmp_path)
    assert read.schema.names == [*BASE_COLUMNS, *HP_COLUMNS]
    rows = {r["trial_id"]: r for r in read.to_pylist()}
    assert (rows["old"]["task"], rows["old"]["regime"], rows["old"]["origin"], rows["old"]["layer"]) == (
        "xnli",
        "zero_shot",
        "trained",
        None,
    )
    only = ResultsStore.read(tmp_path, columns=["trial_id", "origin"]).to_pylist()
    assert sorted((r["trial_id"], r["origin"]) for r in only) == [("new", "trained"), ("old", "trained")]


def test_round_trip_with_hp_and_nulls(tmp_path: Path) -> None:
    store = make_store(tmp_path)
    rows = [
        make_row(step=1, phase="intermediate", target=None, hp={"lr": 0.5}),
        make_row(
            step=2,
            value=math.nan,
            status="errored",
            metric="error",
            error="OOM",
            reported_at=datetime(2024, 1, 2, 3, 4, 5, 678000, tzinfo=UTC),
        ),
    ]
    path = write(store, rows)
    assert path == tmp_path / "results" / "xnli" / "t1.a0.parquet"
    assert store.has_attempt(search="xnli", trial_id="t1", attempt=0)
    table = ResultsStore.read(tmp_path / "results")
    assert table.schema.names == [*BASE_COLUMNS, *HP_COLUMNS]
    assert table.schema.metadata[VERSION_KEY] == b"2"
    got = table.to_pylist()
    assert [r["step"] for r in got] == [1, 2]
    assert got[0]["target"] is None and got[0]["error"] is None
    assert got[0]["hp_lr"] == 0.5 and got[0]["hp_batch_size"] is None
    assert got[0]["hp_optimizer"] is None
    assert got[1]["hp_optimizer"] == "adamw" and got[1]["hp_batch_size"] == 32
    assert math.isnan(got[1]["value"]) and got[1]["error"] == "OOM"
    assert got[0]["started_at"] == datetime(2023, 11, 14, 22, 13, 20, tzinfo=UTC)
    assert got[0]["reported_at"] == datetime(2023, 11, 14, 22, 14, 20, 250000, tzinfo=UTC)
    assert got[1]["reported_at"] == datetime(2024, 1, 2, 3, 4, 5, 678000, tzinfo=UTC)
    assert pq.read_schema(path).metadata[VERSION_KEY] == b"2"


def test_pyarrow_dataset_reads_separate_attempts_with_one_schema(tmp_path: Path) -> None:
    store = make_store(tmp_path)
    first = write(store, [make_row(attempt=0)], attempt=0)
    second = write(store, [make_row(attempt=1), make_row(attempt=1, step=2)], attempt=1)
    assert first is not None and second is not None
    assert pq.read_schema(first) == pq.read_schema(second)
    table = ds.dataset(tmp_path / "results").to_table()
    assert table.num_rows == 3
    assert table.schema.names == [*BASE_COLUMNS, *HP_COLUMNS]
    assert sorted(table.column("attempt").to_pylist()) == [0, 1, 1]


def test_leftover_temp_file_is_ignored(tmp_path: Path) -> None:
    store = make_store(tmp_path)
    write(store, [make_row()])
    (tmp_path / "results" / "xnli" / ".t2.a0.parquet.abc.tmp").write_bytes(b"half a file")
    (tmp_path / "results" / "xnli" / ".t3.a0.parquet").write_bytes(b"half a file")
    assert ResultsStore.read(tmp_path / "results").num_rows == 1
    assert ds.dataset(tmp_path / "results").to_table().num_rows == 1


def test_second_write_of_same_attempt_is_a_no_op(tmp_path: Path) -> None:
    store = make_store(tmp_path)
    path = write(store, [make_row(value=0.5)])
    assert path is not None
    before = path.read_bytes()
    assert write(store, [make_row(value=0.9)]) is None
    with pytest.raises(ResultsError, match="status 'done'"):
        write(store, [make_row(status="done")])
    assert path.read_bytes() == before
    assert [p.name for p in path.parent.iterdir()] == ["t1.a0.parquet"]


def test_damaged_file_names_file_and_fix(tmp_path: Path) -> None:
    store = make_store(tmp_path)
    write(store, [make_row()])
    (tmp_path / "results" / "xnli" / "t9.a0.parquet").write_bytes(b"not parquet at all")
    with pytest.raises(ResultsError) as info:
        ResultsStore.read(tmp_path / "results")
    assert "t9.a0.parquet" in str(info.value)
    assert "damaged" in str(info.value)
    assert "sweep resume" in str(info.value)
    assert isinstance(info.value, XStiltsError)


def test_truncated_file_is_damaged(tmp_path: Path) -> None:
    path = write(make_store(tmp_path), [make_row()])
    assert path is not None
    path.write_bytes(path.read_bytes()[:-20])
    with pytest.raises(ResultsError, match=r"t1\.a0\.parquet.*sweep resume"):
        ResultsStore.read(tmp_path / "results")


def test_unknown_version_is_refused(tmp_path: Path) -> None:
    table = pa.table({"x": [1]}).replace_schema_metadata({VERSION_KEY: b"99"})
    (tmp_path / "results").mkdir()
    pq.write_table(table, tmp_path / "results" / "future.parquet")
    with pytest.raises(ResultsError) as info:
        ResultsStore.read(tmp_path / "results")
    assert "version 99" in str(info.value)
    assert "[1, 2]" in str(info.value) and "upgrade xstilts" in str(info.value)


def test_file_without_version_is_not_xstilts(tmp_path: Path) -> None:
    (tmp_path / "results").mkdir()
    pq.write_table(pa.table({"x": [1]}), tmp_path / "results" / "other.parquet")
    with pytest.raises(ResultsError, match=r"other\.parquet is not an xstilts results file"):
        ResultsStore.read(tmp_path / "results")


def test_unknown_hp_name_is_refused(tmp_path: Path) -> None:
    store = make_store(tmp_path)
    with pytest.raises(ResultsError) as info:
        write(store, [make_row(hp={"lr": 0.1, "warmup": 10})])
    assert "'warmup'" in str(info.value)
    assert "['batch_size', 'lr', 'optimizer']" in str(info.value)
    assert not store.has_attempt(search="xnli", trial_id="t1", attempt=0)


@pytest.mark.parametrize(
    ("over", "match"),
    [
        ({"status": "running"}, "status 'running'"),
        ({"phase": "pretrain"}, "phase 'pretrain'"),
        ({"trial_id": "t2"}, "trial_id 't2'"),
        ({"attempt": 3}, "attempt 3"),
        ({"sweep": "other"}, "sweep 'other'"),
        ({"metric": None}, "no value for 'metric'"),
        ({"phase": "target", "target": None}, "no target"),
        ({"colour": "red"}, "unknown keys \\['colour'\\]"),
        ({"step": "two"}, "column 'step'"),
        ({"seed": 1.5}, "column 'seed'.*a float was given"),
        ({"hp": {"batch_size": 1.5}}, "column 'hp_batch_size'"),
        ({"value": "high"}, "column 'value'"),
        ({"started_at": datetime(2024, 1, 1)}, "no time zone"),
    ],
)
def test_bad_rows_are_refused(tmp_path: Path, over: dict[str, Any], match: str) -> None:
    store = make_store(tmp_path)
    with pytest.raises(ResultsError, match=match):
        write(store, [make_row(), make_row(**{"step": 2, **over})])
    assert not (tmp_path / "results").exists()


def test_empty_rows_are_refused(tmp_path: Path) -> None:
    with pytest.raises(ResultsError, match="no rows given"):
        write(make_store(tmp_path), [])


@pytest.mark.parametrize("hp_types", [{"lr": "double"}, {"": "int"}])
def test_bad_hp_types_are_refused(tmp_path: Path, hp_types: dict[str, str]) -> None:
    with pytest.raises(ResultsError):
        ResultsStore(tmp_path, sweep="s1", hp_types=hp_types)


@pytest.mark.parametrize("name", ["", ".hidden", "_meta", "a/b"])
def test_unsafe_path_names_are_refused(tmp_path: Path, name: str) -> None:
    with pytest.raises(ResultsError, match="cannot be used as a file name"):
        make_store(tmp_path).attempt_path(search="xnli", trial_id=name, attempt=0)


def test_concurrent_writers_of_distinct_attempts_all_land(tmp_path: Path) -> None:
    store = make_store(tmp_path)

    def work(n: int) -> list[Path | None]:
        return [
            store.write_attempt([make_row(trial_id=f"t{n}", attempt=a)], search="xnli", trial_id=f"t{n}", attempt=a)
            for a in range(3)
        ]

    with ThreadPoolExecutor(max_workers=4) as pool:
        written = list(pool.map(work, range(4)))  # re-raises any writer's error here
    assert all(path is not None for paths in written for path in paths)
    table = ResultsStore.read(tmp_path / "results")
    assert table.num_rows == 12
    trials, attempts = table.column("trial_id").to_pylist(), table.column("attempt").to_pylist()
    pairs = sorted(zip(trials, attempts, strict=True))
    assert pairs == [(f"t{n}", a) for n in range(4) for a in range(3)]
    assert sorted(p.name for p in (tmp_path / "results" / "xnli").iterdir()) == sorted(
        f"t{n}.a{a}.parquet" for n in range(4) for a in range(3)
    )


def test_read_selects_columns(tmp_path: Path) -> None:
    write(make_store(tmp_path), [make_row(), make_row(step=2, value=0.5)])
    table = read_results(tmp_path / "results", columns=["value", "hp_lr"])
    assert table.schema.names == ["value", "hp_lr"]
    assert table.to_pydict() == {"value": [0.75, 0.5], "hp_lr": [1e-5, 1e-5]}


def test_read_unknown_column_lists_available(tmp_path: Path) -> None:
    write(make_store(tmp_path), [make_row()])
    with pytest.raises(ResultsError) as info:
        ResultsStore.read(tmp_path / "results", columns=["value", "accuracy"])
    assert "['accuracy']" in str(info.value)
    assert "hp_lr" in str(info.value) and "'value'" in str(info.value)


@pytest.mark.parametrize("make_dir", [False, True])
def test_empty_root_gives_empty_table_with_base_columns(tmp_path: Path, make_dir: bool) -> None:
    if make_dir:
        (tmp_path / "results" / "xnli").mkdir(parents=True)
    table = ResultsStore.read(tmp_path / "results")
    assert table.num_rows == 0
    assert table.schema.names == list(BASE_COLUMNS)
    assert table.schema.metadata[VERSION_KEY] == b"2"


def test_sweeps_with_different_hp_columns_read_together(tmp_path: Path) -> None:
    write(make_store(tmp_path), [make_row()])
    other = ResultsStore(tmp_path / "results", sweep="s1", hp_types={"dropout": "float"})
    other.write_attempt([make_row(trial_id="t2", hp={"dropout": 0.1})], search="xnli", trial_id="t2", attempt=0)
    table = ResultsStore.read(tmp_path / "results")
    assert table.num_rows == 2
    assert table.column("hp_dropout").to_pylist() == [None, 0.1]
    assert table.column("hp_lr").to_pylist() == [1e-5, None]
