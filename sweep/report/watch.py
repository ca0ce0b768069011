"""``sweep status DIR --watch``: a sweep's searches, trials, best scores, cluster and ETA, redrawn until it ends.

Each redraw reads ``sweep.analysis.status.sweep_status`` (no Ray). On a terminal the view is redrawn in place
(rich: a table with a bar per search); elsewhere (a pipe, a log file) one plain block is printed per interval,
without ANSI codes. The watch ends by itself when the sweep ends: every search done, reused or failed and no
driver left, or the driver gone with searches unfinished (seen so on two redraws in a row, since a launch
writes its manifest an instant before its driver takes the sweep). Ctrl-C ends the watch, not the sweep.

The ETA is an estimate: trials still to run divided by the rate trials have ended at, measured over this
watch once a trial has ended during it, else since the sweep was launched. It assumes later trials are as
long as earlier ones and run as many at a time; stage ones and targets differ, so it moves as the sweep goes.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

from sweep.analysis.status import sweep_status
from sweep.errors import XStiltsError
from sweep.report.output import cell, render

__all__ = ["ENDED", "SweepProgress", "driver_lines", "overview", "plain_view", "rich_view", "watch"]

#: A search's states that are final: it will run no more trials.
ENDED = ("done", "reused", "failed")

INTERVAL = 5.0  # seconds between redraws: status reads each running search's rows, cheap at that pace


@dataclass(frozen=True)
class SweepProgress:
    """The sweep as a whole at one redraw: searches by state, trials, and the ETA with how it was estimated."""

    searches: dict[str, int]
    finished: int
    errored: int
    running: int
    remaining: int  # trials still to run, those running included, of searches not ended
    eta_s: float | None
    basis: str

    @property
    def ended(self) -> int:
        return self.finished + self.errored

    def lines(self) -> list[str]:
        """The summary under the table: searches by state, trials, the ETA."""
        order = ("running", "pending", "interrupted", "done", "reused", "failed")
        names = {"pending": "waiting"}
        states = ", ".join(
            f"{self.searches[s]} {names.get(s, s)}"
            for s in sorted(self.searches, key=_index(order))
            if self.searches[s]
        )
        return [
            f"searches: {states or 'none'}",
            f"trials: {self.ended} ended ({self.finished} finished, {self.errored} errored), "
            f"{self.running} running, {self.remaining - self.running} to start",
            f"ETA: {_eta(self.eta_s)} ({self.basis})",
        ]


def _index(order: tuple[str, ...]) -> Callable[[str], int]:
    return lambda s: order.index(s) if s in order else len(order)


def overview(info: dict[str, Any], *, now: float, since: tuple[float, int] | None = None) -> SweepProgress:
    """The whole sweep's progress in ``info`` (``sweep_status``'s answer) at time ``now``. ``since`` is
    (time, trials ended) at an earlier redraw: the ETA is measured from there once a trial has ended since,
    else from the sweep's launch (``created_at``)."""
    searches: dict[str, int] = {}
    finished = errored = running = remaining = 0
    for row in _rows(info):
        state = row["state"]
        searches[state] = searches.get(state, 0) + 1
        finished += row["finished"]
        errored += row["errored"]
        if state not in ENDED:
            running += row["running"]
            remaining += row["running"] + row["pending"]
    ended = finished + errored
    watched = since is not None and ended > since[1]
    start, before = since if watched else (info.get("created_at"), 0)
    eta, basis = None, "estimated from the rate trials end at, once one has ended"
    if remaining == 0:
        eta, basis = 0.0, "no trial left to run"
    elif not info["driver_alive"]:
        basis = "no driver runs the sweep"
    elif start is not None and ended > before and now > start:
        eta = remaining * (now - start) / (ended - before)
        basis = (
            f"an estimate: {ended - before} trials ended in {_span(now - start)} "
            f"{'of this watch' if watched else 'since launch'}, {remaining} left at that rate"
        )
    return SweepProgress(searches, finished, errored, running, remaining, eta, basis)


def driver_lines(info: dict[str, Any]) -> list[str]:
    """Who runs the sweep and the cluster's resources in use, as ``sweep status`` prints them."""
    if not info["driver_alive"] and all(r["state"] in ENDED for r in info["searches"]):
        return ["driver: not running (the sweep has ended)"]
    if not info["driver_alive"]:
        return ["driver: not running (`sweep resume` continues the sweep)"]
    note = info["driver"]
    lines = [f"driver: running, process {note.get('pid', '?')} on {note.get('host', '?')}"]
    if resources := note.get("resources"):
        used = ", ".join(f"{name} {pair[0]:g}/{pair[1]:g}" for name, pair in resources.items())
        lines.append(f"cluster resources in use: {used}")
    return lines


def _rows(info: dict[str, Any]) -> list[dict[str, Any]]:
    """The searches as ``sweep status`` shows them: a running search without a driver is ``interrupted``."""
    rows = info["searches"]
    if not info["driver_alive"]:
        rows = [{**r, "state": "interrupted" if r["state"] == "running" else r["state"]} for r in rows]
    return rows


def plain_view(info: dict[str, Any], progress: SweepProgress, *, now: float) -> str:
    """One redraw as plain text: a header, the searches' table, the driver and the summary."""
    header = f"== {info['sweep']} at {time.strftime('%H:%M:%S', time.localtime(now))} =="
    return "\n".join([header, render(_rows(info), fmt="table"), *driver_lines(info), *progress.lines()])


STYLES = {"running": "yellow", "done": "green", "reused": "green", "failed": "red", "interrupted": "magenta"}


def rich_view(info: dict[str, Any], progress: SweepProgress, *, now: float) -> Any:
    """One redraw as a rich renderable: a table with a bar per search, then the driver and the summary."""
    from rich.console import Group
    from rich.progress_bar import ProgressBar
    from rich.table import Table
    from rich.text import Text

    table = Table(title=f"{info['sweep']} at {time.strftime('%H:%M:%S', time.localtime(now))}", title_justify="left")
    for name in ("search", "pair", "state", "progress", "finished", "running", "errored", "pending", "best", "test"):
        table.add_column(name, justify="right" if name not in ("search", "pair", "state", "progress") else "left")
    for row in _rows(info):
        ended = row["finished"] + row["errored"]
        total = ended if row["state"] in ENDED else ended + row["running"] + row["pending"]
        table.add_row(
            row["search"],
            row["pair"],
            Text(row["state"], style=STYLES.get(row["state"], "dim")),
            ProgressBar(total=max(total, 1), completed=ended if total else 1, width=20, finished_style="green"),
            *(str(row[k]) for k in ("finished", "running", "errored", "pending")),
            cell(row["best"]),
            cell(row["test_mean"]),
        )
    return Group(table, *(Text(line) for line in [*driver_lines(info), *progress.lines()]))


def watch(
    sweep_dir: str | Path,
    *,
    interval: float = INTERVAL,
    out: IO[str] | None = None,
    sleep: Callable[[float], None] = time.sleep,
    clock: Callable[[], float] = time.time,
) -> str:
    """Redraw ``sweep_dir``'s status every ``interval`` seconds on ``out`` (stdout) until the sweep ends;
    return how it ended: ``"finished"``, ``"stopped"`` (its driver gone, searches unfinished) or
    ``"interrupted"`` (Ctrl-C). Example: ``watch("sweeps/quickstart", interval=5)``."""
    out = out or sys.stdout
    live = None
    if out.isatty():
        from rich.console import Console
        from rich.live import Live

        live = Live(console=Console(file=out), auto_refresh=False, redirect_stdout=False, redirect_stderr=False)
        live.start()
    first: tuple[float, int] | None = None
    absent = 0  # redraws in a row without a driver
    try:
        while True:
            try:
                info, now = sweep_status(sweep_dir), clock()
            except (OSError, XStiltsError) as exc:
                if first is None:  # the first read: a wrong folder or URI is the user's to fix
                    raise
                # Storage that fails once (a network blip) is read again at the next redraw.
                print(f"status: could not read the sweep ({exc}); trying again in {interval:g} s", file=sys.stderr)
                sleep(interval)
                continue
            progress = overview(info, now=now, since=first)
            first = first or (now, progress.ended)
            if live is not None:
                live.update(rich_view(info, progress, now=now), refresh=True)
            else:
                print(plain_view(info, progress, now=now) + "\n", file=out, flush=True)
            absent = 0 if info["driver_alive"] else absent + 1
            if absent and all(r["state"] in ENDED for r in info["searches"]):
                return "finished"
            if absent >= 2:
                return "stopped"
            sleep(interval)
    except KeyboardInterrupt:
        return "interrupted"
    finally:
        if live is not None:
            live.stop()


def _eta(seconds: float | None) -> str:
    """``~1h05m``, ``~7m05s``, ``~42s``, or ``unknown``."""
    return "unknown" if seconds is None else f"~{_span(seconds)}"


def _span(seconds: float) -> str:
    """``1h05m``, ``7m05s`` or ``42s``."""
    s = round(seconds)
    if s >= 3600:
        return f"{s // 3600}h{s % 3600 // 60:02d}m"
    return f"{s // 60}m{s % 60:02d}s" if s >= 60 else f"{s}s"
