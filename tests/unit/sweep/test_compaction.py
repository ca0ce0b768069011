"""Tests for sweep.storage.compaction: one file per finished search, with every guarantee of the results store."""

from __future__ import annotations

import json
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from sweep.analysis import analyses
from sweep.analysis.tables import Results
from sweep.cli import main
from sweep.errors import ResultsError
from sweep.storage.compaction import COVERS_KEY, compact_search, compact_sweep
from sweep.storage.results import ResultsStore, result_files
from tests.sweeps import SweepWriter


def _sweep(root: Path) -> Path:
    w = SweepWriter(root / "s", name="s")
    for t in range(3):
        w.trial(intermediate="none", target="xnli", trial_id=f"b{t}", dev=[0.5 + t / 10], test={"de": [0.4 + t / 10]})
        w.trial(intermediate="mnli", target="xnli", trial_id=f"m{t}", dev=[0.6 - t / 10], test={"de": [0.7 - t / 10]})
    return w.finish()


def _everything(root: Path) -> list[dict]:
    table = ResultsStore.read(root / "results")
    return sorted(table.to_pylist(), key=lambda r: (r["search"], r["trial_id"], r["step"], r["split"]))


def test_compaction_keeps_every_row_once_and_is_idempotent(tmp_path: Path) -> None:
    root = _sweep(tmp_path)
    before = _everything(root)
    pivot = analyses.matrix(Results([root]))
    assert len(compact_sweep(root)) == 2
    folder = root / "results" / "target-mnli-xnli"
    assert [p.name for p in folder.iterdir()] == ["search.c1.parquet"]
    covers = json.loads(pq.read_schema(folder / "search.c1.parquet").metadata[COVERS_KEY])
    assert covers == ["m0.a0.parquet", "m1.a0.parquet", "m2.a0.parquet"]
    assert _everything(root) == before
    assert analyses.matrix(Results([root])) == pivot
    assert compact_sweep(root) == []  # nothing new: nothing written
    assert _everything(root) == before


def test_a_crash_before_the_covered_files_are_deleted_reads_no_row_twice(tmp_path: Path) -> None:
    root = _sweep(tmp_path)
    before = _everything(root)
    folder = root / "results" / "target-none-xnli"
    kept = {p.name: p.read_bytes() for p in folder.iterdir()}
    compact_search(folder)
    for name, data in kept.items():  # as if the driver died right after the rename
        (folder / name).write_bytes(data)
    assert _everything(root) == before
    assert [p.name for p in result_files(folder)] == ["search.c1.parquet"]
    compact_search(folder)  # the next compaction deletes them, writing nothing
    assert sorted(p.name for p in folder.iterdir()) == ["search.c1.parquet"]


def test_a_compacted_attempt_is_never_written_again(tmp_path: Path) -> None:
    root = _sweep(tmp_path)
    store = ResultsStore(root / "results", sweep="s", hp_types={"lr": "float"})
    compact_sweep(root)
    assert store.has_attempt(search="target-none-xnli", trial_id="b1", attempt=0)
    assert not store.has_attempt(search="target-none-xnli", trial_id="b1", attempt=1)
    statuses = store.attempt_table(search="target-none-xnli", trial_id="b1", attempt=0, columns=["status"])
    assert set(statuses["status"].to_pylist()) == {"completed"}
    row = _everything(root)[0]
    again = [{k: v for k, v in row.items() if not k.startswith("hp_")} | {"hp": {"lr": 1e-5}}]
    assert store.write_attempt(again, search=row["search"], trial_id=row["trial_id"], attempt=0) is None


def test_a_later_attempt_goes_into_the_next_generation(tmp_path: Path) -> None:
    root = _sweep(tmp_path)
    folder = root / "results" / "target-none-xnli"
    compact_search(folder)
    w = SweepWriter(tmp_path / "s", name="s")  # the same folder: one more trial's file
    w.trial(intermediate="none", target="xnli", trial_id="b9", dev=[0.1], test={"de": [0.1]})
    assert compact_search(folder).name == "search.c2.parquet"
    assert sorted(p.name for p in folder.iterdir()) == ["search.c2.parquet"]
    assert {r["trial_id"] for r in ResultsStore.read(folder).to_pylist()} == {"b0", "b1", "b2", "b9"}


def test_cli_compact(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    root = _sweep(tmp_path)
    assert main(["compact", str(root)]) == 0
    assert "compacted 2 finished searches" in capsys.readouterr().out
    assert main(["compact", str(root)]) == 0
    assert "nothing to compact" in capsys.readouterr().out


def test_a_listing_taken_before_a_newer_compaction_still_reads_every_row(tmp_path: Path) -> None:
    from sweep.storage.results import search_files

    root = _sweep(tmp_path)
    before = _everything(root)
    folder = root / "results" / "target-none-xnli"
    first = sorted(folder.iterdir())
    compact_search(folder)
    listed = sorted(folder.iterdir())  # [c1]
    w = SweepWriter(tmp_path / "s", name="s")
    w.trial(intermediate="none", target="xnli", trial_id="b9", dev=[0.1], test={"de": [0.1]})
    snapshot = sorted(folder.iterdir())  # a reader's listing: [b9, c1]
    assert search_files(snapshot) == snapshot  # c1 is the newest it saw; b9 is not covered by it
    compact_search(folder)  # c2 covers everything; c1 and b9 are deleted under the reader
    with pytest.raises(FileNotFoundError):  # c1 is gone: what the reader listed cannot be read whole
        search_files(snapshot)
    rows = ResultsStore.read(root / "results")  # reading lists again when a listed file is gone
    assert len(rows) == len(before) + 2
    assert len(Results([root]).sql("SELECT * FROM rows")) == len(before) + 2
    assert first and listed


def test_a_damaged_compacted_file_is_named_or_skipped(tmp_path: Path) -> None:
    root = _sweep(tmp_path)
    compact_sweep(root)
    victim = root / "results" / "target-mnli-xnli" / "search.c1.parquet"
    victim.write_bytes(b"not parquet")
    with pytest.raises(ResultsError, match=r"search.c1.parquet is damaged.*--skip-bad"):
        Results([root])
    warnings: list[str] = []
    results = Results([root], skip_bad=True, warn=warnings.append)
    assert results.skipped == [str(victim)] and "search.c1.parquet" in warnings[0]
    assert {r["intermediate"] for r in analyses.pair_scores(results)} == {"none"}


def test_attempt_rows_by_trial_from_a_compacted_file(tmp_path: Path) -> None:
    root = _sweep(tmp_path)
    compact_sweep(root)
    store = ResultsStore(root / "results", sweep="s", hp_types={"lr": "float"})
    table = store.attempt_table(search="target-mnli-xnli", trial_id="m2", attempt=0, columns=["trial_id", "value"])
    assert set(table["trial_id"].to_pylist()) == {"m2"} and table.num_rows == 2
    with pytest.raises(ResultsError, match="no stored rows"):
        store.attempt_table(search="target-mnli-xnli", trial_id="m2", attempt=1, columns=["value"])


def test_a_compaction_that_loses_the_race_deletes_nothing(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import trainers.fileio

    root = _sweep(tmp_path)
    folder = root / "results" / "target-none-xnli"
    names = sorted(p.name for p in folder.iterdir())
    monkeypatch.setattr(trainers.fileio, "write_atomic", lambda *a, **k: False)  # the name was taken
    assert compact_search(folder) is None
    assert sorted(p.name for p in folder.iterdir()) == names
