"""Benchmark: what a reader of ``results/`` that is not xstilts (``pyarrow.dataset``, DuckDB's glob) sees while
a search's results are compacted, with the merged file named before the files it covers are deleted
("before", ``XSTILTS_COMPACTION_NAME_FIRST=1``) and named after them ("after", ``sweep.storage.compaction``),
in one run.

The workload, the same for both: one search folder of ``--attempts`` attempt files (XNLI-sized: 15 languages
x dev and test x 2 metrics at 3 evaluations, 180 rows each) in the results schema, compacted by
``compact_search``, the driver's own call, ``--repeats`` times each (a fresh copy each time): in a local
folder, and on S3 (moto's server on 127.0.0.1; ``--s3-attempts`` files, one delete request each).

Measured from outside: a second process counts the folder's rows in a loop while the compaction runs, with
``pyarrow.dataset`` (and locally DuckDB's ``read_parquet('<folder>/*.parquet')``), and tallies each read as
whole (every row once), short (rows missing), doubled (more rows than there are: rows read twice) or failed
(a listed file vanished before it was read). The compaction's wall time is taken around the call (median,
min, max). Last, a compaction killed halfway through its deletes: the rows each reader then counts, and keeps
counting until the next compaction.

Run: ``.venv/bin/python bench/compaction_readers.py [--attempts 2000 --repeats 3]`` (about three minutes).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

LANGUAGES = ("ar", "bg", "de", "el", "en", "es", "fr", "hi", "ru", "sw", "th", "tr", "ur", "vi", "zh")

READER = r"""
import json, os, sys, time, pathlib
import duckdb, pyarrow.dataset as ds, pyarrow.fs as pafs
folder, stop, total, remote = sys.argv[1], pathlib.Path(sys.argv[2]), int(sys.argv[3]), sys.argv[4]
kinds = ("pyarrow",) if remote else ("pyarrow", "duckdb")
tally = {k: {"whole": 0, "short": 0, "doubled": 0, "failed": 0} for k in kinds}
fs = pafs.S3FileSystem(endpoint_override=os.environ["AWS_ENDPOINT_URL"]) if remote else None
def note(kind, count):
    tally[kind]["whole" if count == total else "short" if count < total else "doubled"] += 1
print("ready", flush=True)
while not stop.exists():
    try:
        note("pyarrow", ds.dataset(remote or folder, filesystem=fs, format="parquet").count_rows())
    except Exception:
        tally["pyarrow"]["failed"] += 1
    if remote:
        continue
    try:
        note("duckdb", duckdb.sql(f"SELECT count(*) FROM read_parquet('{folder}/*.parquet')").fetchall()[0][0])
    except Exception:
        tally["duckdb"]["failed"] += 1
print(json.dumps(tally), flush=True)
"""


def _write_search(folder: Path, attempts: int) -> int:
    """``attempts`` attempt files of 180 rows each in the results schema; return the number of rows."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    from sweep.storage.results import results_schema

    schema = results_schema(sweep="bench", hp_types={"lr": "float"})
    folder.mkdir(parents=True)
    rows = [
        (step, split, language, metric)
        for step in (1, 2, 3)
        for split in ("dev", "test")
        for language in LANGUAGES
        for metric in ("accuracy", "loss")
    ]
    for i in range(attempts):
        n = len(rows)
        columns = {name: pa.nulls(n, schema.field(name).type) for name in schema.names}
        fixed = {"sweep": "bench", "search": "target-mnli-xnli", "pair": "mnli->xnli", "model": "xlmr"}
        fixed |= {"intermediate": "mnli", "target": "xnli", "trial_id": f"t{i:05d}", "status": "completed"}
        fixed |= {"phase": "target", "node": "n", "task": "xnli"}
        for name, value in fixed.items():
            columns[name] = pa.array([value] * n, schema.field(name).type)
        columns["attempt"] = pa.array([0] * n, pa.int32())
        columns["step"] = pa.array([r[0] for r in rows], pa.int32())
        columns["split"] = pa.array([r[1] for r in rows])
        columns["language"] = pa.array([r[2] for r in rows])
        columns["metric"] = pa.array([r[3] for r in rows])
        columns["value"] = pa.array([0.5] * n, pa.float64())
        columns["seed"] = pa.array([i] * n, pa.int64())
        columns["wall_s"] = pa.array([1.0] * n, pa.float64())
        columns["started_at"] = pa.array([0] * n, pa.timestamp("ms", tz="UTC"))
        columns["reported_at"] = pa.array([0] * n, pa.timestamp("ms", tz="UTC"))
        columns["hp_lr"] = pa.array([1e-5] * n, pa.float64())
        pq.write_table(pa.table(columns, schema=schema), folder / f"t{i:05d}.a0.parquet")
    return attempts * len(rows)


def _one(source: Path, work: Path, total: int, *, name_first: bool, remote: str) -> tuple[float, dict]:
    from sweep.storage.compaction import NAME_FIRST, compact_search
    from sweep.storage.layout import SweepDir

    folder = work / "results" / "target-mnli-xnli"
    shutil.rmtree(work, ignore_errors=True)
    shutil.copytree(source, folder)
    sweep = SweepDir(work, remote=remote or None)
    for path in sorted(folder.iterdir()):
        sweep.publish(path)
    stop = work.parent / "stop"
    stop.unlink(missing_ok=True)
    listed = (remote[len("s3://") :] + "/results/target-mnli-xnli") if remote else ""
    reader = subprocess.Popen(
        [sys.executable, "-c", READER, str(folder), str(stop), str(total), listed], stdout=subprocess.PIPE, text=True
    )
    try:
        assert reader.stdout is not None and reader.stdout.readline().strip() == "ready"
        time.sleep(0.5)  # a few whole reads first
        os.environ[NAME_FIRST] = "1" if name_first else "0"
        start = time.perf_counter()
        compact_search(folder, publish=sweep.publish, remove=sweep.unpublish)
        seconds = time.perf_counter() - start
        time.sleep(0.5)  # and a few after
        stop.touch()
        tally = json.loads(reader.communicate(timeout=120)[0].strip().splitlines()[-1])
    finally:
        if reader.poll() is None:
            reader.kill()
            reader.wait()
    return seconds, tally


class _Killed(BaseException):
    pass


def _killed(source: Path, work: Path, total: int, *, name_first: bool) -> dict[str, int]:
    """A compaction killed halfway through its deletes: the rows a plain reader then counts (and keeps
    counting until the next compaction)."""
    import duckdb
    import pyarrow.dataset as ds

    from sweep.storage.compaction import NAME_FIRST, compact_search

    folder = work / "results" / "target-mnli-xnli"
    shutil.rmtree(work, ignore_errors=True)
    shutil.copytree(source, folder)
    deleted = []

    def remove(path: Path) -> None:
        deleted.append(path)
        if len(deleted) == total // 360:  # half the attempts (180 rows each)
            raise _Killed

    os.environ[NAME_FIRST] = "1" if name_first else "0"
    try:
        compact_search(folder, remove=remove)
    except _Killed:
        pass
    glob = f"read_parquet('{folder}/*.parquet')"
    return {
        "pyarrow": ds.dataset(folder, format="parquet").count_rows(),
        "duckdb": duckdb.sql(f"SELECT count(*) FROM {glob}").fetchall()[0][0],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--attempts", type=int, default=2000)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--s3-attempts", type=int, default=300, help="attempt files on S3 (one request each)")
    parser.add_argument("--json", type=Path, help="also write the figures here")
    args = parser.parse_args()
    import logging

    from tests.s3 import s3_endpoint

    logging.getLogger("werkzeug").setLevel(logging.ERROR)  # moto's server logs each request
    figures: dict[str, dict] = {}
    with tempfile.TemporaryDirectory(prefix="xstilts-bench-") as tmp, s3_endpoint("bench") as env:
        os.environ.update(env)
        for storage, attempts in (("local", args.attempts), ("s3", args.s3_attempts)):
            source = Path(tmp) / f"source-{storage}"
            total = _write_search(source, attempts)
            print(f"{storage}: one search of {attempts} attempt files, {total} rows", flush=True)
            for side, name_first in (("before", True), ("after", False)):
                seconds, tallies = [], []
                for repeat in range(args.repeats):
                    remote = f"s3://bench/{side}{repeat}" if storage == "s3" else ""
                    s, t = _one(source, Path(tmp) / "work" / "w", total, name_first=name_first, remote=remote)
                    seconds.append(s)
                    tallies.append(t)
                summed = {k: {c: sum(t[k][c] for t in tallies) for c in tallies[0][k]} for k in tallies[0]}
                figures[f"{storage} {side}"] = {"compact_s": seconds, "reads": summed}
                print(
                    f"  {side}: compaction {statistics.median(seconds):.2f} s ({min(seconds):.2f}-"
                    f"{max(seconds):.2f}); reads during {args.repeats} compactions: {json.dumps(summed)}",
                    flush=True,
                )
        total = _write_search(Path(tmp) / "source-killed", args.attempts)
        for side, name_first in (("before", True), ("after", False)):
            counts = _killed(Path(tmp) / "source-killed", Path(tmp) / "killed", total, name_first=name_first)
            figures[f"killed {side}"] = counts
            print(f"killed halfway through its deletes, {side}: rows counted {counts} of {total}", flush=True)
    doubled = {side: sum(r["doubled"] for r in f["reads"].values()) for side, f in figures.items() if "reads" in f}
    print("reads that counted rows twice: " + ", ".join(f"{k} {v}" for k, v in doubled.items()), flush=True)
    if args.json:
        args.json.write_text(json.dumps(figures, indent=1))


if __name__ == "__main__":
    main()
