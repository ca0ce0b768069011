"""Benchmark: querying a study of a million result rows, against Ray Tune's own experiment analysis.

A finished quickstart sweep (``--source``, or one run here first, about 90 s) is copied under new trial ids
until its results hold ``--rows`` rows (default 1,000,000) in one Parquet file per trial attempt, as a study
of that size writes them: about 23,000 files and 23,000 trials in 8 searches. Its Ray Tune experiment folder
is cloned the same way (each trial's ``result.json``, ``progress.csv`` and ``params.json`` under the new id,
and the trials added to the experiment state), so both hold the same trials.

Measured, each in its own process (seconds of the command itself, the process's wall time, peak memory):

* ``sweep query --pivot`` and ``sweep status`` over the per-attempt files and a manifest without trial
  counts (a sweep written before compaction, and before the driver recorded counts);
* ``sweep compact``: it merges each finished search's files into one and writes the search's trial counts
  into the manifest, as the driver does when a search ends (the benchmark checks that every search got
  them);
* after compaction, with those counts: ``sweep query --pivot``, ``sweep query --sql``, ``sweep status`` and
  ``sweep report``;
* Ray Tune: ``ExperimentAnalysis(path)`` (which reads every trial's results) and ``.dataframe()``, as
  ``ResultGrid.get_dataframe`` does.

Goals: the pivot well under a second, status about a second, the report in seconds, and the pivot at least
100x faster than Ray Tune's analysis of the same trials.

Run: ``.venv/bin/python bench/analysis_scale.py [--source SWEEP_DIR] [--rows 1000000]`` (about 5 minutes
on 2 cores, most of it writing the copies).
"""

from __future__ import annotations

import argparse
import json
import math
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

# Runs one command in a fresh interpreter; prints its own seconds and peak memory as the last line.
MEASURE = """
import json, sys, time
started = time.perf_counter()
kind, args = sys.argv[1], sys.argv[2:]
if kind == "sweep":
    import contextlib, io
    from sweep.cli import main
    with contextlib.redirect_stdout(io.StringIO()) as out:
        code = main(args)
    assert code == 0, out.getvalue()
else:
    from ray.tune import ExperimentAnalysis
    analysis = ExperimentAnalysis(args[0])
    frame = analysis.dataframe()
    assert len(analysis.trials) == int(args[1]), len(analysis.trials)
seconds = time.perf_counter() - started
# VmHWM: this process's peak resident memory (ru_maxrss would carry the parent's across exec).
peak = next(int(line.split()[1]) for line in open("/proc/self/status") if line.startswith("VmHWM:"))
print(json.dumps({"seconds": seconds, "peak_mb": peak / 1024}))
"""


def measure(kind: str, *args: str) -> dict[str, float]:
    """Run one measured command in a fresh interpreter; its seconds, wall seconds and peak memory."""
    started = time.perf_counter()
    done = subprocess.run(
        [sys.executable, "-c", MEASURE, kind, *args], capture_output=True, text=True, cwd=ROOT, check=False
    )
    wall = time.perf_counter() - started
    if done.returncode != 0:
        raise SystemExit(f"{kind} {' '.join(args)} failed:\n{done.stdout[-2000:]}\n{done.stderr[-3000:]}")
    result = json.loads(done.stdout.strip().splitlines()[-1])
    return {**result, "wall": wall}


def quickstart(work: Path) -> Path:
    """Run the quickstart into ``work`` (about 90 s on 2 cores); return its sweep folder."""
    print("running the quickstart for the source sweep (about 90 s)", flush=True)
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "sweep.cli",
            "launch",
            str(ROOT / "configs" / "quickstart.yaml"),
            "--storage",
            str(work),
        ],
        capture_output=True,
        text=True,
        cwd=ROOT,
        check=False,
    )
    if done.returncode != 0:
        raise SystemExit(done.stderr[-3000:])
    return work / "quickstart"


def copy_results(source: Path, big: Path, copies: int) -> tuple[int, int, dict[str, str]]:
    """Copy every attempt file of ``source`` ``copies`` times under new trial ids; return rows, files, and
    the new id of each (copy, old id) for the Tune side."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    from sweep.storage.results import ResultsStore

    table = ResultsStore.read(source / "results")
    by_attempt: dict[tuple[str, str, int], pa.Table] = {}
    for key in {
        (r["search"], r["trial_id"], r["attempt"]) for r in table.select(["search", "trial_id", "attempt"]).to_pylist()
    }:
        search, trial_id, attempt = key
        mask = [
            s == search and t == trial_id and a == attempt
            for s, t, a in zip(
                table["search"].to_pylist(), table["trial_id"].to_pylist(), table["attempt"].to_pylist(), strict=True
            )
        ]
        by_attempt[key] = table.filter(pa.array(mask))
    schema = table.schema
    ids: dict[str, str] = {}
    rows = files = 0
    for k in range(copies):
        for (search, trial_id, attempt), part in by_attempt.items():
            new_id = ids.setdefault(f"{k}:{trial_id}", f"{k:03x}{trial_id[3:]}")
            part = part.set_column(
                part.schema.get_field_index("trial_id"), "trial_id", pa.array([new_id] * part.num_rows)
            )
            path = big / "results" / search / f"{new_id}.a{attempt}.parquet"
            path.parent.mkdir(parents=True, exist_ok=True)
            pq.write_table(part.cast(schema), path)
            rows += part.num_rows
            files += 1
    assert len(set(ids.values())) == len(ids), "new trial ids collide"
    return rows, files, ids


def clone_tune(source: Path, out: Path, ids: dict[str, str], copies: int) -> int:
    """Clone the source's Tune experiment with every trial copied under the same new ids; return trials."""
    from ray.tune.utils.serialization import TuneFunctionEncoder, _loads_with_cloudpickle

    run = source / "tune" / "study"
    state_file = sorted(run.glob("experiment_state-*.json"))[-1]
    state = _loads_with_cloudpickle(state_file.read_bytes())
    out.mkdir(parents=True)
    trial_data = []
    for k in range(copies):
        for trial_json, metadata in state["trial_data"]:
            old = json.loads(trial_json)["trial_id"]
            new = ids.get(f"{k}:{old}", f"{k:03x}{old[3:]}")
            # The id is in the JSON and, hex-encoded, in the pickled storage context: same length, so both
            # can be replaced in place.
            cloned = trial_json.replace(old, new).replace(old.encode().hex(), new.encode().hex())
            trial_data.append([cloned, metadata])
            target = out / f"trial_{new}"
            target.mkdir()
            for name in ("result.json", "progress.csv", "params.json"):
                if (run / f"trial_{old}" / name).is_file():
                    text = (run / f"trial_{old}" / name).read_text()
                    (target / name).write_text(text.replace(old, new))
    state["trial_data"] = trial_data
    (out / state_file.name).write_text(json.dumps(state, cls=TuneFunctionEncoder))
    return len(trial_data)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--source", help="a finished quickstart sweep folder (default: run one)")
    parser.add_argument("--rows", type=int, default=1_000_000)
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="xstilts-scale-"))
    try:
        source = Path(args.source) if args.source else quickstart(work / "source")
        big = work / "big"
        big.mkdir()
        for name in ("config.yaml", "manifest.json"):
            shutil.copy(source / name, big / name)
        manifest = json.loads((big / "manifest.json").read_text())
        for entry in manifest["searches"].values():
            entry.pop("trials", None)  # as a sweep written before the driver recorded them
        (big / "manifest.json").write_text(json.dumps(manifest))
        from sweep.storage.results import ResultsStore

        source_rows = ResultsStore.read(source / "results", columns=["value"]).num_rows
        copies = math.ceil(args.rows / source_rows)
        started = time.perf_counter()
        rows, files, ids = copy_results(source, big, copies)
        trials = clone_tune(source, work / "tune" / "study", ids, copies)
        print(
            f"built in {time.perf_counter() - started:.0f} s: {rows:,} rows in {files:,} files; "
            f"Ray Tune experiment of {trials:,} trials",
            flush=True,
        )

        results: list[tuple[str, dict[str, float]]] = []

        def run(label: str, kind: str, *command: str) -> dict[str, float]:
            result = measure(kind, *command)
            results.append((label, result))
            print(
                f"{label:58} {result['seconds']:8.2f} s  (process {result['wall']:6.2f} s, "
                f"peak {result['peak_mb']:7.0f} MB)",
                flush=True,
            )
            return result

        sql = "SELECT intermediate, target, language, avg(value) AS score FROM best GROUP BY ALL"
        before = run("xstilts: query --pivot, one file per attempt", "sweep", "query", str(big), "--pivot")
        run("xstilts: status, one file per attempt", "sweep", "status", str(big))
        run("xstilts: compact (one file and trial counts per search)", "sweep", "compact", str(big))
        counted = json.loads((big / "manifest.json").read_text())["searches"]
        if missing := [s for s, entry in counted.items() if entry["state"] == "done" and "trials" not in entry]:
            raise SystemExit(f"`sweep compact` wrote no trial counts for {len(missing)} searches: {missing[:3]}")
        ended = sum(e["trials"]["finished"] + e["trials"]["errored"] for e in counted.values() if "trials" in e)
        print(f"{'':58} counts written: {ended:,} trials in {len(counted)} searches ({trials:,} in Tune's)", flush=True)
        pivot = run("xstilts: query --pivot, compacted", "sweep", "query", str(big), "--pivot")
        run("xstilts: query --sql (per language), compacted", "sweep", "query", str(big), "--sql", sql)
        run("xstilts: status, compacted, counts from compact", "sweep", "status", str(big))
        run("xstilts: report, compacted", "sweep", "report", str(big), "--out", str(work / "report"))
        ray = run("Ray Tune: ExperimentAnalysis + dataframe()", "ray", str(work / "tune" / "study"), str(trials))
        print()
        print(f"pivot, per-attempt files: {ray['seconds'] / before['seconds']:7.1f}x faster than Ray Tune's analysis")
        print(
            f"pivot, compacted:         {ray['seconds'] / pivot['seconds']:7.1f}x faster than Ray Tune's analysis "
            "(goal: >= 100x)"
        )
        print("(seconds: the command itself in a fresh interpreter; process: with the interpreter's start and imports)")
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    os.environ.setdefault("RAY_AIR_NEW_OUTPUT", "0")
    main()
