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
