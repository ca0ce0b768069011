"""Tests for sweep.storage.journal: append-only trial journals, torn lines, dedup on read."""

from __future__ import annotations

import math
from pathlib import Path

import pytest

from sweep.errors import ResultsError
from sweep.storage.journal import TrialJournal


def make_journal(tmp_path: Path) -> TrialJournal:
    return TrialJournal(tmp_path / "journal")


def test_append_and_records_round_trip(tmp_path: Path) -> None:
    journal = make_journal(tmp_path)
    first = {"attempt": 0, "step": 1, "metrics": {"de": 0.5}, "value": math.nan}
    second = {"attempt": 0, "step": 2, "metrics": {"de": 0.6}, "node": None}
    journal.append(search="xnli", trial_id="t1", record=first)
    journal.append(search="xnli", trial_id="t1", record=second)
    path = journal.path(search="xnli", trial_id="t1")
    assert path == tmp_path / "journal" / "xnli" / "t1.jsonl"
    line = '{"attempt":0,"metrics":{"de":0.6},"node":null,"step":2}'
    assert path.read_text().splitlines()[1] == line
    got = journal.records(search="xnli", trial_id="t1")
    assert len(got) == 2
    assert math.isnan(got[0].pop("value"))
    assert got == [{"attempt": 0, "step": 1, "metrics": {"de": 0.5}}, second]


def test_missing_journal_has_no_records(tmp_path: Path) -> None:
    assert make_journal(tmp_path).records(search="xnli", trial_id="t1") == []


def test_dedup_keeps_first_record_of_each_attempt_and_step(tmp_path: Path) -> None:
    journal = make_journal(tmp_path)
    for record in [
        {"attempt": 0, "step": 1, "v": "first"},
        {"attempt": 0, "step": 2, "v": "a"},
        {"attempt": 0, "step": 1, "v": "again"},
        {"attempt": 1, "step": 1, "v": "b"},
    ]:
        journal.append(search="xnli", trial_id="t1", record=record)
    assert journal.records(search="xnli", trial_id="t1") == [
        {"attempt": 0, "step": 1, "v": "first"},
        {"attempt": 0, "step": 2, "v": "a"},
        {"attempt": 1, "step": 1, "v": "b"},
    ]


def test_torn_last_line_is_ignored_and_cut_on_next_append(tmp_path: Path) -> None:
    journal = make_journal(tmp_path)
    journal.append(search="xnli", trial_id="t1", record={"attempt": 0, "step": 1})
    path = journal.path(search="xnli", trial_id="t1")
    with path.open("ab") as fh:
        fh.write(b'{"attempt":0,"st')
    assert journal.records(search="xnli", trial_id="t1") == [{"attempt": 0, "step": 1}]
    journal.append(search="xnli", trial_id="t1", record={"attempt": 0, "step": 2})
    assert path.read_text() == '{"attempt":0,"step":1}\n{"attempt":0,"step":2}\n'
    assert journal.records(search="xnli", trial_id="t1") == [{"attempt": 0, "step": 1}, {"attempt": 0, "step": 2}]


def test_complete_last_line_without_newline_is_kept(tmp_path: Path) -> None:
    journal = make_journal(tmp_path)
    path = journal.path(search="xnli", trial_id="t1")
    path.parent.mkdir(parents=True)
    path.write_bytes(b'{"attempt":0,"step":1}')
    journal.append(search="xnli", trial_id="t1", record={"attempt": 0, "step": 2})
    assert journal.records(search="xnli", trial_id="t1") == [{"attempt": 0, "step": 1}, {"attempt": 0, "step": 2}]


def test_corrupt_middle_line_names_line_number(tmp_path: Path) -> None:
    journal = make_journal(tmp_path)
    path = journal.path(search="xnli", trial_id="t1")
    path.parent.mkdir(parents=True)
    path.write_text('{"attempt":0,"step":1}\n{"attempt":0,"st\n{"attempt":0,"step":3}\n')
    with pytest.raises(ResultsError) as info:
        journal.records(search="xnli", trial_id="t1")
    message = str(info.value)
    assert "t1.jsonl" in message and "line 2" in message
    assert "move the file aside" in message and "results/ are unaffected" in message


def test_record_needs_int_attempt_and_step(tmp_path: Path) -> None:
    journal = make_journal(tmp_path)
    with pytest.raises(ResultsError, match="step '3'"):
        journal.append(search="xnli", trial_id="t1", record={"attempt": 0, "step": "3"})
    with pytest.raises(ResultsError, match="attempt None"):
        journal.append(search="xnli", trial_id="t1", record={"step": 3})
    with pytest.raises(ResultsError, match="cannot be stored as JSON"):
        journal.append(search="xnli", trial_id="t1", record={"attempt": 0, "step": 1, "x": {1j}})
    assert not journal.path(search="xnli", trial_id="t1").exists()


def test_trials_and_searches_are_listed_sorted(tmp_path: Path) -> None:
    journal = make_journal(tmp_path)
    assert journal.searches() == []
    assert journal.trials(search="xnli") == []
    for search, trial in [("xnli", "t2"), ("xnli", "t1"), ("paws", "t9")]:
        journal.append(search=search, trial_id=trial, record={"attempt": 0, "step": 1})
    (tmp_path / "journal" / "xnli" / ".t3.jsonl").write_text("")
    assert journal.searches() == ["paws", "xnli"]
    assert journal.trials(search="xnli") == ["t1", "t2"]
    assert journal.trials(search="paws") == ["t9"]


def test_unsafe_names_are_refused(tmp_path: Path) -> None:
    with pytest.raises(ResultsError, match="cannot be used as a file name"):
        make_journal(tmp_path).path(search="../x", trial_id="t1")


def _objects(env: dict[str, str], bucket: str) -> dict[str, bytes]:
    import pyarrow.fs as pafs

    fs = pafs.S3FileSystem(endpoint_override=env["AWS_ENDPOINT_URL"], access_key="testing", secret_key="testing")
    found = {}
    for info in fs.get_file_info(pafs.FileSelector(bucket, recursive=True)):
        if info.type == pafs.FileType.File:
            with fs.open_input_stream(info.path) as f:
                found[info.path[len(bucket) + 1 :]] = f.read()
    return found


def test_on_shared_storage_each_append_is_an_object_and_a_sealed_trial_is_one(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """On S3 (moto's server) an append publishes its own bytes, never the whole file again; the end of an
    attempt publishes the file whole and deletes the parts; a reader's copy (open_sweep) is the driver's
    file byte for byte at every moment, including a seal whose deletes never ran and a driver that went on
    appending after a copy was made."""
    from sweep.storage.journal import PARTS
    from sweep.storage.layout import SweepDir, open_sweep
    from tests.s3 import s3_endpoint

    with s3_endpoint("sweeps") as env:
        for key, value in env.items():
            monkeypatch.setenv(key, value)
        local = SweepDir(tmp_path / "driver", remote="s3://sweeps/one")
        for name in ("config.yaml", "manifest.json"):  # what open_sweep needs to call it a sweep
            (local.root / name).parent.mkdir(parents=True, exist_ok=True)
            (local.root / name).write_text("{}")
            local.publish(local.root / name)
        journal = TrialJournal(
            local.journal, publish=local.publish, publish_part=local.publish_bytes, unpublish_parts=local.unpublish_tree
        )

        def append(step: int, attempt: int = 0) -> None:
            journal.append(search="xnli", trial_id="t1", record={"attempt": attempt, "step": step, "x": "y" * 50})

        def reader_copy() -> bytes:
            return (open_sweep("s3://sweeps/one").journal / "xnli" / "t1.jsonl").read_bytes()

        for step in range(1, 6):
            append(step)
        whole = journal.path(search="xnli", trial_id="t1").read_bytes()
        parts = {k: v for k, v in _objects(env, "sweeps").items() if k.startswith("one/journal/")}
        assert len(parts) == 5 and all(f"/t1{PARTS}/" in k for k in parts)
        assert sum(len(v) for v in parts.values()) == len(whole)  # each byte uploaded once
        assert reader_copy() == whole

        journal.seal(search="xnli", trial_id="t1")
        assert [k for k in _objects(env, "sweeps") if k.startswith("one/journal/")] == ["one/journal/xnli/t1.jsonl"]
        assert reader_copy() == whole

        # A retry appends again after the seal; a stale part the seal left (its deletes cut short) is covered.
        append(1, attempt=1)
        local.publish_bytes(local.journal / "xnli" / f"t1{PARTS}" / f"{0:016d}.jsonl", whole[:40])
        grown = journal.path(search="xnli", trial_id="t1").read_bytes()
        assert reader_copy() == grown and len(grown) > len(whole)
        driver = open_sweep("s3://sweeps/one", driver=True, wait_s=0)  # a driver resuming from storage
        assert TrialJournal(driver.journal).records(search="xnli", trial_id="t1") == journal.records(
            search="xnli", trial_id="t1"
        )


def test_without_part_publishing_the_whole_file_is_published_as_before(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``XSTILTS_JOURNAL_WHOLE_UPLOADS=1`` (the benchmark's "before"): each append publishes the whole file."""
    published: list[bytes] = []
    monkeypatch.setenv("XSTILTS_JOURNAL_WHOLE_UPLOADS", "1")
    journal = TrialJournal(
        tmp_path / "journal", publish=lambda p: published.append(p.read_bytes()), publish_part=lambda p, d: None
    )
    for step in (1, 2, 3):
        journal.append(search="xnli", trial_id="t1", record={"attempt": 0, "step": step})
    assert [len(b.splitlines()) for b in published] == [1, 2, 3]
