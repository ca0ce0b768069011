"""A study whose Tune run ends before every search has ended is never reported as a success: the driver
marks those searches failed, saying how many of their trials ended and how to run the rest."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from sweep.errors import SweepStateError
from sweep.run import driver, tuning
from tests.conftest import QUICKSTART


def test_a_tune_run_that_ends_early_fails_the_unfinished_searches(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    ran: list[int] = []

    def ends_at_once(config, study, **kwargs):  # a Tune run that returned before any trial ended
        ran.append(len(study.states))
        return []

    monkeypatch.setattr(tuning, "run_study", ends_at_once)
    monkeypatch.setattr(driver, "_connect", lambda config, address: None)
    with pytest.raises(SweepStateError) as failure:
        driver.launch(
            QUICKSTART, ["intermediate_tasks=[toy_nli]", "target_tasks=[toy_order]"], storage=tmp_path, name="cut"
        )
    manifest = json.loads((tmp_path / "cut" / "manifest.json").read_text())
    assert ran == [len(manifest["searches"])]
    assert {entry["state"] for entry in manifest["searches"].values()} == {"failed"}
    assert all("ended with 0 of its" in entry["error"] for entry in manifest["searches"].values())
    assert f"sweep resume {tmp_path / 'cut'}" in str(failure.value)
