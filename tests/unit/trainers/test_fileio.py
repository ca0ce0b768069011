"""The one atomic write: whole files or none, and first-writer-wins when asked."""

from __future__ import annotations

import json
import multiprocessing
from pathlib import Path

import pytest

from trainers.fileio import write_atomic, write_json


def test_overwrite_replaces_and_leaves_no_temporary_file(tmp_path: Path) -> None:
    path = tmp_path / "sub" / "out.json"
    write_json(path, {"a": 1})
    assert write_atomic(path, b"new") and path.read_bytes() == b"new"
    assert sorted(p.name for p in path.parent.iterdir()) == ["out.json"]


def test_first_writer_wins_when_overwriting_is_off(tmp_path: Path) -> None:
    path = tmp_path / "attempt.parquet"
    assert write_atomic(path, "first", overwrite=False)
    assert not write_atomic(path, "second", overwrite=False)
    assert path.read_text() == "first" and [p.name for p in tmp_path.iterdir()] == ["attempt.parquet"]


def test_a_failing_writer_leaves_nothing(tmp_path: Path) -> None:
    def broken(f: object) -> None:
        f.write(b"half")  # type: ignore[attr-defined]
        raise RuntimeError("disk full")

    with pytest.raises(RuntimeError):
        write_atomic(tmp_path / "x.pt", broken)
    assert list(tmp_path.iterdir()) == []


def _race(args: tuple[str, int]) -> bool:
    path, i = args
    return write_atomic(Path(path), json.dumps({"writer": i}), overwrite=False)


def test_racing_writers_leave_exactly_one_whole_file(tmp_path: Path) -> None:
    path = tmp_path / "r.json"
    with multiprocessing.get_context("spawn").Pool(4) as pool:
        won = pool.map(_race, [(str(path), i) for i in range(16)])
    assert sum(won) == 1
    assert json.loads(path.read_text())["writer"] == won.index(True)
    assert [p.name for p in tmp_path.iterdir()] == ["r.json"]


def test_a_full_disk_names_its_folder_and_keeps_what_was_there(small_disk: Path) -> None:
    from tests.disks import fill
    from trainers.errors import StorageError

    kept = small_disk / "results" / "a.json"
    write_atomic(kept, "first")
    ballast = fill(small_disk)
    with pytest.raises(StorageError, match=rf"no space left on the disk holding {small_disk / 'results'}.*df -h"):
        write_atomic(kept, "x" * 100_000)
    assert kept.read_text() == "first"  # the old file whole, no temporary file left
    assert sorted(p.name for p in kept.parent.iterdir()) == ["a.json"]
    ballast.unlink()
    write_atomic(kept, "x" * 100_000)  # space freed: it goes through
    assert len(kept.read_text()) == 100_000


def test_a_journal_append_on_a_full_disk_loses_no_record(small_disk: Path) -> None:
    from sweep.storage.journal import TrialJournal
    from tests.disks import fill
    from trainers.errors import StorageError

    journal = TrialJournal(small_disk / "journal")
    journal.append(search="s", trial_id="t", record={"attempt": 0, "step": 1})
    ballast = fill(small_disk)
    with pytest.raises(StorageError, match="no space left on the disk holding"):
        for step in range(2, 2000):  # until a block is needed and there is none
            journal.append(search="s", trial_id="t", record={"attempt": 0, "step": step, "pad": "x" * 500})
    ballast.unlink()
    journal.append(search="s", trial_id="t", record={"attempt": 0, "step": 5000})
    steps = [r["step"] for r in journal.records(search="s", trial_id="t")]
    assert steps[0] == 1 and steps[-1] == 5000 and steps[:-1] == list(range(1, len(steps)))  # each whole, in order
