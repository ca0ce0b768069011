"""Benchmark: the shipped quickstart, one search at a time ("before") against every ready search at once ("after").

One run at one commit, with a switch for "before": each run is ``sweep launch configs/quickstart.yaml`` in a
fresh process, into a temporary ``--storage`` folder of its own, timed by this script's wall clock around
that process (imports, starting and stopping Ray, and the sweep itself, as a user waits for it). "before"
adds ``resources.max_searches_in_flight=1``, so the study runs one search at a time, as xstilts ran a study
before; "after" runs the config as shipped. The runs alternate (before, after, before, after, ...), ``--repeats``
of each (default 3); extra ``key=value`` overrides apply to both sides alike (e.g. a smaller study for a smoke
test). Each run's tokenized features are cached in its own folder (``XSTILTS_FEATURE_CACHE``), so no run
finds the cache another one warmed.

Printed: each run's wall time, min/median/max per side, the ratio of the medians (before / after), and
whether the two sides' transfer matrices (``sweep query --pivot --format json``) agree. Every search is
seeded (TPE, training), but which trials ASHA stops can depend on the order in which results arrive, so the
matrices are also compared between runs of the same side: a difference found there too is that
nondeterminism, not the switch.

On this 2-core machine Ray declares 2 CPUs and each trial takes one, so both sides run at most two trials at
a time: "after" wins the slot that "before" leaves idle while a search's last trial runs alone.

Run: ``.venv/bin/python bench/quickstart.py [--repeats 3] [key=value ...]`` (about 11 minutes with the
defaults on 2 cores: six quickstarts of 80 to 120 s). A smoke test of about 2 minutes: ``--repeats 1
intermediate.num_samples=2 target.num_samples=2 intermediate.epochs=1 target.epochs=2``.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
QUICKSTART = ROOT / "configs" / "quickstart.yaml"
SIDES = {"before": ["resources.max_searches_in_flight=1"], "after": []}


def launch(
    side: str, overrides: list[str], work: Path, env: dict[str, str] | None = None
) -> tuple[float, Path, list[str]]:
    """Run one quickstart with ``overrides`` (and ``env`` added to the environment) in a fresh process; its
    wall seconds, its sweep folder, and the names of the processes it started that outlived it by 10 s
    (ended here, by pid). ``side`` names the run in errors."""
    import psutil

    command = [sys.executable, "-m", "sweep.cli", "launch", str(QUICKSTART), *overrides]
    command += ["--storage", str(work / "sweeps")]
    env = {**os.environ, "XSTILTS_FEATURE_CACHE": str(work / "features"), **(env or {})}
    seen: dict[int, psutil.Process] = {}
    started = time.perf_counter()
    with open(work / "launch.log", "w") as log:
        child = subprocess.Popen(command, cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)
        while True:  # until it exits (to the moment), noting what it starts, to check that it ends it all
            with contextlib.suppress(psutil.Error):
                seen.update((p.pid, p) for p in psutil.Process(child.pid).children(recursive=True))
            try:
                child.wait(timeout=0.5)
                break
            except subprocess.TimeoutExpired:
                pass
    wall = time.perf_counter() - started
    # Ray's processes may take a few seconds to exit after the driver's shutdown; any still there then are
    # ended here, by pid (is_running also checks that the pid was not reused), and counted.
    _, left = psutil.wait_procs([p for p in seen.values() if p.is_running()], timeout=10)
    names = []
    for process in left:
        with contextlib.suppress(psutil.Error):
            names.append(process.name())
            process.terminate()
    psutil.wait_procs(left, timeout=10)
    text = (work / "launch.log").read_text()
    if child.returncode != 0:
        raise SystemExit(f"{side}: `sweep launch` failed ({child.returncode}):\n{text[-3000:]}")
    folder = next(line.split(": ", 1)[1] for line in text.splitlines() if line.startswith("sweep directory: "))
    return wall, Path(folder), names


def matrix(folder: Path) -> list[dict[str, Any]]:
    """The sweep's transfer matrix, as ``sweep query --pivot --format json`` prints it."""
    from sweep.cli import main

    with contextlib.redirect_stdout(io.StringIO()) as out:
        code = main(["query", str(folder), "--pivot", "--format", "json"])
    if code != 0:
        raise SystemExit(f"`sweep query {folder} --pivot` failed ({code})")
    return json.loads(out.getvalue())


def differences(a: list[dict[str, Any]], b: list[dict[str, Any]]) -> list[str]:
    """The cells in which two matrices (a row per intermediate task) differ: ``row column: a != b``."""
    rows_a, rows_b = ({r["intermediate"]: r for r in m} for m in (a, b))
    out = [f"{k}: a row of one matrix only" for k in sorted(rows_a.keys() ^ rows_b.keys())]
    for k in sorted(rows_a.keys() & rows_b.keys()):
        for column in sorted(rows_a[k].keys() | rows_b[k].keys()):
            if rows_a[k].get(column) != rows_b[k].get(column):
                out.append(f"{k} {column}: {rows_a[k].get(column)} != {rows_b[k].get(column)}")
    return out


def spread(values: list[float]) -> str:
    return f"min {min(values):6.1f} s, median {statistics.median(values):6.1f} s, max {max(values):6.1f} s"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3, help="runs of each side, alternated")
    parser.add_argument("overrides", nargs="*", metavar="key=value", help="overrides for both sides alike")
    args = parser.parse_args()
    walls: dict[str, list[float]] = {side: [] for side in SIDES}
    matrices: dict[str, list[list[dict[str, Any]]]] = {side: [] for side in SIDES}
    extra = f" {' '.join(args.overrides)}" if args.overrides else ""
    print(f"sweep launch {QUICKSTART.relative_to(ROOT)}{extra}, each in a fresh process; timed from outside")
    print("before: resources.max_searches_in_flight=1 (one search at a time); after: as shipped", flush=True)
    for k in range(args.repeats):
        for side in SIDES:  # alternated: before, after, before, after, ...
            work = Path(tempfile.mkdtemp(prefix=f"xstilts-quickstart-{side}-"))
            try:
                wall, folder, left = launch(side, [*SIDES[side], *args.overrides], work)
                matrices[side].append(matrix(folder))
            finally:
                shutil.rmtree(work, ignore_errors=True)
            walls[side].append(wall)
            note = f" ({len(left)} processes it started outlived it by 10 s, ended: {', '.join(left)})" if left else ""
            print(f"  run {k + 1}/{args.repeats} {side:6} {wall:6.1f} s{note}", flush=True)
    print()
    for side in SIDES:
        print(f"{side:6} {spread(walls[side])}  (runs: {', '.join(f'{w:.1f}' for w in walls[side])})")
    before, after = statistics.median(walls["before"]), statistics.median(walls["after"])
    print(f"before / after, medians: {before / after:.2f}x")
    print()
    # Runs grouped by the matrix they gave: one group is full agreement; groups that split a side show
    # nondeterminism within it, not the switch.
    groups: list[tuple[list[dict[str, Any]], list[str]]] = []
    for side in SIDES:
        for k, found in enumerate(matrices[side]):
            group = next((g for g in groups if g[0] == found), None)
            if group is None:
                groups.append(group := (found, []))
            group[1].append(f"{side} {k + 1}")
    if len(groups) == 1:
        rows = len(groups[0][0])
        print(f"transfer matrices: all {2 * args.repeats} runs identical ({rows} rows): before and after agree")
        return
    shared = any({run.split()[0] for run in runs} == set(SIDES) for _, runs in groups)
    if shared:
        verdict = "a before and an after run gave the same one: runs differ from run to run, not by the switch"
    elif args.repeats == 1:
        verdict = "one run of each cannot tell the switch from run-to-run differences (--repeats 2 or more can)"
    else:
        verdict = "before and after disagree: no before run gave an after run's matrix"
    print(f"transfer matrices: {len(groups)} different ones among the {2 * args.repeats} runs; {verdict}")
    for n, (_, runs) in enumerate(groups, 1):
        print(f"  matrix {n}: {', '.join(runs)}")
    for n, (found, _) in enumerate(groups[1:], 2):
        cells = differences(groups[0][0], found)
        print(f"  matrix 1 against {n}: {len(cells)} cells differ")
        for line in cells[:8]:
            print(f"    {line}")


if __name__ == "__main__":
    main()
