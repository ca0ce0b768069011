"""``sweep status DIR --watch``: redraws as the sweep changes, ends when it ends, and its rich view's rows."""

from __future__ import annotations

import io
import json
from contextlib import ExitStack
from pathlib import Path
from types import SimpleNamespace

import pytest
import yaml

from sweep.analysis.status import sweep_status
from sweep.cli import main
from sweep.preflight.validate import load_config
from sweep.report import watch
from sweep.storage import layout
from tests.sweeps import T0, SweepWriter

QUICKSTART = Path(__file__).resolve().parents[3] / "configs" / "quickstart.yaml"
BASELINE, PAIR = "target-none-toy_paws", "target-toy_nli-toy_paws"  # two of the quickstart's searches


def _sweep(root: Path) -> Path:
    """A quickstart sweep whose baseline is done (4 trials, one errored) and whose pair runs (2 of its 4
    trials finished), launched at ``T0``."""
    w = SweepWriter(root / "quickstart", name="quickstart")
    for t in range(4):
        w.trial(
            intermediate="none", target="toy_paws", trial_id=f"b{t}", dev=[0.5, 0.5 + t / 10], test={"de": [0.4, 0.5]}
        )
    for t in range(2):
        w.trial(
            intermediate="toy_nli",
            target="toy_paws",
            trial_id=f"m{t}",
            dev=[0.6, 0.7 - t / 10],
            test={"de": [0.6, 0.7]},
        )
    sweep = w.finish()
    config = load_config(QUICKSTART, check_data=False)
    (sweep / "config.yaml").write_text(yaml.safe_dump(config.to_dict(), sort_keys=False))  # as `sweep launch`
    manifest = json.loads((sweep / "manifest.json").read_text())
    manifest["searches"][PAIR]["state"] = "running"
    (sweep / "manifest.json").write_text(json.dumps(manifest))
    return sweep


def test_watch_redraws_as_the_sweep_changes_and_ends_with_it(tmp_path: Path) -> None:
    sweep = _sweep(tmp_path)
    folder = layout.open_sweep(sweep)
    driver = ExitStack()
    driver.enter_context(layout.driver_lock(folder))  # this test is the sweep's live driver until it ends
    # Its last 2 trials have started and not reported yet: only the driver's note counts them.
    layout.note_driver(folder, resources={"CPU": [2.0, 4.0]}, running={PAIR: 2})
    slept = []

    def sleep(seconds: float) -> None:
        """Between the first and second redraw: the pair's last trials end, then the driver."""
        slept.append(seconds)
        if len(slept) == 1:
            for t in (2, 3):
                SweepWriter(sweep, name="quickstart").trial(
                    intermediate="toy_nli", target="toy_paws", trial_id=f"m{t}", dev=[0.6, 0.8], test={"de": [0.7, 0.8]}
                )
            layout.set_state(folder, SimpleNamespace(id=PAIR), state="done")
            driver.close()

    clock = iter([T0 + 600, T0 + 660, T0 + 720])
    out = io.StringIO()  # no terminal
    try:
        ended = watch.watch(sweep, interval=0.01, out=out, sleep=sleep, clock=lambda: next(clock))
    finally:
        driver.close()
    first, second = out.getvalue().strip().split("\n\n")
    assert (ended, slept) == ("finished", [0.01])
    assert "\x1b[" not in out.getvalue()  # no ANSI codes where stdout is no terminal

    assert first.splitlines()[0].startswith("== quickstart at ")
    assert f"{PAIR}  toy_nli->toy_paws  running" in first
    assert "driver: running, process " in first and "cluster resources in use: CPU 2/4" in first
    assert "searches: 1 running, 1 done" in first
    assert "trials: 6 ended (6 finished, 0 errored), 2 running, 0 to start" in first
    # 6 trials ended in the 10 minutes since launch: the 2 left take 200 s at that rate.
    assert "ETA: ~3m20s (an estimate: 6 trials ended in 10m00s since launch, 2 left at that rate)" in first

    assert f"{PAIR}  toy_nli->toy_paws  done" in second
    assert "driver: not running (the sweep has ended)" in second
    assert "searches: 2 done" in second and "ETA: ~0s (no trial left to run)" in second


def test_watch_of_a_stopped_sweep_ends_on_the_second_redraw(tmp_path: Path) -> None:
    sweep = _sweep(tmp_path)  # no driver holds it: its pair is interrupted
    out = io.StringIO()  # no terminal
    assert watch.watch(sweep, interval=0.01, out=out, sleep=lambda s: None) == "stopped"
    blocks = out.getvalue().strip().split("\n\n")
    assert len(blocks) == 2 and f"{PAIR}  toy_nli->toy_paws  interrupted" in blocks[1]
    assert "searches: 1 interrupted, 1 done" in blocks[1] and "ETA: unknown (no driver runs the sweep)" in blocks[1]


def test_eta_is_measured_over_the_watch_once_a_trial_ends_in_it(tmp_path: Path) -> None:
    info = {**sweep_status(_sweep(tmp_path)), "driver_alive": True}
    # Seen at T0 + 3000 with 6 trials ended; at T0 + 3060 one more has ended: 1 a minute, 1 left after it.
    info["searches"][1] = {**info["searches"][1], "finished": 3, "pending": 1}
    progress = watch.overview(info, now=T0 + 3060, since=(T0 + 3000, 6))
    assert (progress.ended, progress.remaining, progress.eta_s) == (7, 1, 60.0)
    assert "1 trials ended in 1m00s of this watch" in progress.basis
    assert watch.overview(info, now=T0 + 3060, since=(T0 + 3000, 7)).basis.endswith("since launch, 1 left at that rate")


def test_the_rich_view_has_a_row_and_a_bar_per_search(tmp_path: Path) -> None:
    from rich.console import Console
    from rich.progress_bar import ProgressBar

    info = sweep_status(_sweep(tmp_path))
    view = watch.rich_view(info, watch.overview(info, now=T0 + 600), now=T0 + 600)
    table = view.renderables[0]
    assert [c.header for c in table.columns] == [
        "search", "pair", "state", "progress", "finished", "running", "errored", "pending", "best", "test",
    ]  # fmt: skip
    cells = {c.header: list(c.cells) for c in table.columns}
    assert cells["search"] == [BASELINE, PAIR]
    assert [str(s) for s in cells["state"]] == ["done", "interrupted"]  # no driver: the pair was cut short
    assert [(b.completed, b.total) for b in cells["progress"]] == [(4, 4), (2, 4)]
    assert all(isinstance(b, ProgressBar) for b in cells["progress"])
    assert cells["finished"] == ["4", "2"] and cells["pending"] == ["0", "2"] and cells["best"] == ["0.8000", "0.7000"]

    console = Console(file=io.StringIO(), width=160, color_system=None)
    console.print(view)
    text = console.file.getvalue()
    assert "quickstart at " in text and "driver: not running" in text and "ETA: unknown" in text


def test_status_watch_through_the_cli_ends_with_a_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    sweep = _sweep(tmp_path)
    manifest = json.loads((sweep / "manifest.json").read_text())
    manifest["searches"][PAIR]["state"] = "failed"
    (sweep / "manifest.json").write_text(json.dumps(manifest))
    assert main(["status", str(sweep), "--watch", "0.01"]) == 0
    out = capsys.readouterr().out
    assert out.count("== quickstart at ") == 1 and "searches: 1 done, 1 failed" in out
    assert out.rstrip().endswith("sweep ended: every search is done or failed")
    assert main(["status", str(sweep), "--watch", "0"]) == 2
    assert "give the seconds between redraws" in capsys.readouterr().err
