"""Benchmark: what a trial's journal costs on object storage, at ``--reports`` reports (100 by default), with
every append publishing the whole journal again ("before", ``XSTILTS_JOURNAL_WHOLE_UPLOADS=1``) and with each
append published as an object of its own and the file published whole once when the attempt ends ("after",
``sweep.storage.journal``), in one run.

The workload, the same for both: one trial's reports as the driver journals them (``TrialJournal.append``
through ``SweepDir.publish`` / ``publish_bytes``, the driver's own path), each record the size of a real one
(an XNLI-sized target: 15 languages x dev and test x accuracy and loss, with the trial's hyperparameters), then
the attempt's end (``seal``), to S3: moto's server on 127.0.0.1 with versioning on, so the server keeps every
object ever written.

Measured from outside, the same way for both: the uploads and their bytes as the server recorded them (every
object version written, from ``list_object_versions``), and the wall time of the appends (``perf_counter``
around the loop), ``--repeats`` times (median, min, max). A reader's copy (``open_sweep``) is checked to hold
exactly the driver's file in both.

Run: ``.venv/bin/python bench/journal_uploads.py [--reports 100 --repeats 3]`` (under a minute).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

LANGUAGES = ("ar", "bg", "de", "el", "en", "es", "fr", "hi", "ru", "sw", "th", "tr", "ur", "vi", "zh")


def _record(step: int) -> dict[str, Any]:
    metrics: dict[str, Any] = {}
    for split in ("dev", "test"):
        for language in LANGUAGES:
            metrics[f"{split}/{language}/accuracy"] = 0.3 + step / 1000 + len(language) / 100
            metrics[f"{split}/{language}/loss"] = 1.1 - step / 1000
    hp = {"learning_rate": 1e-5, "micro_batch_size": 8, "warmup_ratio": 0.1, "weight_decay": 0.01, "dropout": 0.1}
    now = time.time()
    return {
        "attempt": 0,
        "step": step,
        "reported_at": now,
        "started_at": now - 10,
        "wall_s": 10.0,
        "metrics": metrics,
        "hp": hp,
        "planned": 100,
    }


def _one(env: dict[str, str], *, bucket: str, reports: int, whole: bool, tmp: Path) -> dict[str, float]:
    import boto3

    from sweep.storage.journal import TrialJournal
    from sweep.storage.layout import SweepDir, open_sweep

    os.environ["XSTILTS_JOURNAL_WHOLE_UPLOADS"] = "1" if whole else "0"
    name = "before" if whole else "after"
    local = SweepDir(tmp / name, remote=f"s3://{bucket}/{name}")
    for file in ("config.yaml", "manifest.json"):
        (local.root / file).parent.mkdir(parents=True, exist_ok=True)
        (local.root / file).write_text("{}")
        local.publish(local.root / file)
    journal = TrialJournal(
        local.journal, publish=local.publish, publish_part=local.publish_bytes, unpublish_parts=local.unpublish_tree
    )
    start = time.perf_counter()
    for step in range(1, reports + 1):
        journal.append(search="xnli", trial_id="t1", record=_record(step))
    journal.seal(search="xnli", trial_id="t1")
    seconds = time.perf_counter() - start
    driver_file = journal.path(search="xnli", trial_id="t1").read_bytes()
    reader_file = (open_sweep(local.remote or "").journal / "xnli" / "t1.jsonl").read_bytes()
    assert reader_file == driver_file, "a reader's copy differs from the driver's journal"
    client = boto3.client("s3", endpoint_url=env["AWS_ENDPOINT_URL"])
    uploads, uploaded = 0, 0
    for page in client.get_paginator("list_object_versions").paginate(Bucket=bucket, Prefix=f"{name}/journal/"):
        for version in page.get("Versions", []):
            uploads += 1
            uploaded += version["Size"]
    return {"uploads": uploads, "bytes": uploaded, "seconds": seconds, "journal_bytes": len(driver_file)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--reports", type=int, default=100)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--json", type=Path, help="also write the figures here")
    args = parser.parse_args()

    import logging

    import boto3

    from tests.s3 import s3_endpoint

    logging.getLogger("werkzeug").setLevel(logging.ERROR)  # moto's server logs each request

    found: dict[str, list[dict[str, float]]] = {"before": [], "after": []}
    for repeat in range(args.repeats):
        bucket = f"journal{repeat}"
        with s3_endpoint(bucket) as env, tempfile.TemporaryDirectory() as tmp:
            os.environ.update(env)
            boto3.client("s3", endpoint_url=env["AWS_ENDPOINT_URL"]).put_bucket_versioning(
                Bucket=bucket, VersioningConfiguration={"Status": "Enabled"}
            )
            for whole, name in ((True, "before"), (False, "after")):
                found[name].append(_one(env, bucket=bucket, reports=args.reports, whole=whole, tmp=Path(tmp)))

    def spread(name: str, key: str) -> tuple[float, float, float]:
        values = [run[key] for run in found[name]]
        return statistics.median(values), min(values), max(values)

    size = found["after"][0]["journal_bytes"]
    print(f"one trial, {args.reports} reports, journal {size / 1e3:.0f} kB, {args.repeats} runs (median, min-max)")
    print(f"{'':8} {'uploads':>8} {'MB uploaded':>12} {'append seconds (med, min-max)':>32}")
    for name in ("before", "after"):
        uploads = spread(name, "uploads")[0]
        megabytes = spread(name, "bytes")[0] / 1e6
        med, low, high = spread(name, "seconds")
        print(f"{name:8} {uploads:>8.0f} {megabytes:>12.2f} {med:>14.2f} ({low:.2f}-{high:.2f})")
    ratio_bytes = spread("before", "bytes")[0] / spread("after", "bytes")[0]
    ratio_time = spread("before", "seconds")[0] / spread("after", "seconds")[0]
    print(f"before/after: {ratio_bytes:.1f}x the bytes, {ratio_time:.2f}x the append time (medians)")
    if args.json:
        args.json.write_text(json.dumps({"reports": args.reports, "runs": found}, indent=1))


if __name__ == "__main__":
    main()
