"""Tests for sweep report: a self-contained page and its figures, from sweep folders written by hand."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from sweep.cli import main
from sweep.errors import XStiltsError
from sweep.report.page import write_report
from tests.sweeps import SweepWriter


def _study(root: Path) -> Path:
    w = SweepWriter(root / "s", name="s", intermediate_tasks=["mnli", "squad"], gpus_per_trial=1.0)
    for k, (inter, shift) in enumerate([("none", 0.0), ("mnli", 0.05), ("squad", -0.02)]):
        for t in range(3):
            dev = [0.5 + shift + 0.01 * t, 0.55 + shift + 0.01 * t]
            test = {
                lang: [0.4 + shift + 0.01 * i, 0.45 + shift + 0.01 * i] for i, lang in enumerate(["de", "sw", "hi"])
            }
            w.trial(intermediate=inter, target="xnli", trial_id=f"x{k}{t}", dev=dev, test=test, started=10.0 * t)
            w.trial(intermediate=inter, target="pawsx", trial_id=f"p{k}{t}", dev=dev, test={"de": test["de"]})
    return w.finish()


def test_report_is_one_offline_page_with_its_figures(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    sweep = _study(tmp_path)
    out = tmp_path / "report"
    assert main(["report", str(sweep), "--out", str(out)]) == 0
    assert str(out / "index.html") in capsys.readouterr().out
    page = (out / "index.html").read_text()
    for name in ("heatmap", "per-language", "progress-trials", "progress-time"):
        assert (out / f"{name}.png").stat().st_size > 1000 and (out / f"{name}.svg").is_file(), name
    assert page.count('src="data:image/png;base64,') == 4
    assert not re.search(r'(src|href)="https?://', page)  # nothing to fetch: it opens offline
    assert "Per language: xnli" in page  # the target with most languages
    assert "+0.0500" not in page and "0.0500" in page  # mnli's gain, as the tables print it
    assert "GPU-hours" in page  # trials held a GPU each: 18 trials x 20 s


def test_report_names_an_unknown_target(tmp_path: Path) -> None:
    with pytest.raises(XStiltsError, match="unknown target `xnl`; did you mean `xnli`"):
        write_report([_study(tmp_path)], out=tmp_path / "r", target="xnl")


def test_report_of_a_sweep_without_test_scores_says_so(tmp_path: Path) -> None:
    w = SweepWriter(tmp_path / "e", name="e")
    with pytest.raises(XStiltsError, match="no target pair has a selected trial"):
        write_report([w.finish()], out=tmp_path / "r")
