"""Benchmark: how long the driver's loop waits on object storage while trials' results are published, with
uploads on the loop ("before", ``XSTILTS_PUBLISH_INLINE=1``) and handed to the background publisher ("after",
``sweep.storage.publisher``), in one run.

The workload, the same for both: ``--attempts`` trial attempts ending, each written as the driver's Tune
callback writes it (``ResultsStore.write_attempt`` with ``SweepDir.publish``: one XNLI-sized attempt file,
180 rows), then the driver's exit (``layout.publishing`` waits for every upload). Storage: moto's S3 server on
127.0.0.1 behind the tests' fault proxy, which holds every request ``--delay-ms`` (an object store a few
regions away) and resets ``--reset`` of them (the storage client's and xstilts' retries take those).

Measured from outside, the same way for both (``perf_counter``): each callback's time (what the loop waits),
and the time from the first callback to the end of the exit (when everything is on storage), ``--repeats``
times each (median, min, max). Afterwards every object on the server is checked against its local file.

Run: ``.venv/bin/python bench/publishing.py [--attempts 60 --repeats 3]`` (about two minutes).
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

LANGUAGES = ("ar", "bg", "de", "el", "en", "es", "fr", "hi", "ru", "sw", "th", "tr", "ur", "vi", "zh")


def _rows(trial: int) -> list[dict]:
    rows = []
    for step in (1, 2, 3):
        for split in ("dev", "test"):
            for language in LANGUAGES:
                for metric in ("accuracy", "loss"):
                    rows.append(
                        {
                            "sweep": "bench",
                            "search": "target-mnli-xnli",
                            "pair": "mnli->xnli",
                            "model": "xlmr",
                            "intermediate": "mnli",
                            "target": "xnli",
                            "trial_id": f"t{trial:04d}",
                            "attempt": 0,
                            "status": "completed",
                            "phase": "target",
                            "step": step,
                            "split": split,
                            "language": language,
                            "metric": metric,
                            "value": 0.5,
                            "seed": trial,
                            "wall_s": 1.0,
                            "node": "n",
                            "started_at": 0.0,
                            "reported_at": 1.0,
                            "task": "xnli",
                            "hp": {"lr": 1e-5},
                        }
                    )
    return rows


def _one(tmp: Path, name: str, attempts: int, *, inline: bool, env: dict[str, str]) -> dict:
    import pyarrow.fs as pafs

    from sweep.storage import layout
    from sweep.storage.results import ResultsStore

    os.environ[layout.INLINE] = "1" if inline else "0"
    sweep = layout.SweepDir(tmp / name, remote=f"s3://bench/{name}")
    store = ResultsStore(sweep.results, sweep="bench", hp_types={"lr": "float"}, publish=sweep.publish)
    rows = [_rows(i) for i in range(attempts)]
    waits = []
    start = time.perf_counter()
    with layout.publishing(sweep):
        for i in range(attempts):
            t = time.perf_counter()
            store.write_attempt(rows[i], search="target-mnli-xnli", trial_id=f"t{i:04d}", attempt=0)
            waits.append(time.perf_counter() - t)
    total = time.perf_counter() - start
    fs = pafs.S3FileSystem(endpoint_override=env["AWS_ENDPOINT_URL"], access_key="testing", secret_key="testing")
    for path in sorted((sweep.results / "target-mnli-xnli").iterdir()):
        with fs.open_input_stream(f"bench/{name}/results/target-mnli-xnli/{path.name}") as f:
            assert f.read() == path.read_bytes(), path
    return {"loop_s": sum(waits), "callback_median_ms": 1000 * statistics.median(waits), "total_s": total}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--attempts", type=int, default=60)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--delay-ms", type=float, default=30.0)
    parser.add_argument("--reset", type=float, default=0.05)
    parser.add_argument("--json", type=Path, help="also write the figures here")
    args = parser.parse_args()

    from sweep.storage import publisher
    from tests.faultproxy import FaultProxy
    from tests.s3 import s3_endpoint

    logging.getLogger("werkzeug").setLevel(logging.CRITICAL)  # moto's server logs each request and each reset
    found: dict[str, list[dict]] = {"before": [], "after": []}
    with s3_endpoint("bench") as env, tempfile.TemporaryDirectory() as tmp:
        os.environ.update(env)
        upstream = int(env["AWS_ENDPOINT_URL"].rsplit(":", 1)[1])
        with FaultProxy(upstream, reset=args.reset, delay=1.0 - args.reset, delay_s=args.delay_ms / 1000) as proxy:
            os.environ["AWS_ENDPOINT_URL"] = proxy.endpoint
            for repeat in range(args.repeats):
                for side in ("before", "after"):
                    figures = _one(Path(tmp), f"{side}{repeat}", args.attempts, inline=side == "before", env=env)
                    found[side].append(figures)
                    print(f"{side} #{repeat + 1}: {json.dumps({k: round(v, 3) for k, v in figures.items()})}")
            faults = proxy.faults
    print(f"proxy: {faults}; requests retried by xstilts: {publisher.TALLY.retried}, failed: {publisher.TALLY.failed}")
    summary = {}
    for side, runs in found.items():
        summary[side] = {
            key: (statistics.median(r[key] for r in runs), min(r[key] for r in runs), max(r[key] for r in runs))
            for key in runs[0]
        }
        parts = [f"{key} {m:.3f} ({lo:.3f}-{hi:.3f})" for key, (m, lo, hi) in summary[side].items()]
        print(f"{side}: " + ", ".join(parts), flush=True)
    ratio = summary["before"]["loop_s"][0] / summary["after"]["loop_s"][0]
    print(f"the loop waited {ratio:.1f}x less with the publisher (medians)", flush=True)
    if args.json:
        args.json.write_text(json.dumps({"runs": found, "summary": summary, "faults": vars(faults)}, indent=1))


if __name__ == "__main__":
    main()
