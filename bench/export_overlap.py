"""Benchmark: the driver waiting for each stage one's encoder export ("before") against going on with every
other search while the export runs ("after").

One run at one commit, with a switch for "before": each run is ``sweep launch configs/quickstart.yaml`` in a
fresh process, into a temporary ``--storage`` folder of its own, timed by this script's wall clock around
that process (``bench/quickstart.py``'s ``launch``). "before" sets ``XSTILTS_EXPORT_WAIT=1``: the driver waits
inside Tune's loop for each export, as it used to, and no trial starts meanwhile; "after" runs as shipped:
the export runs as a Ray task while the driver starts the trials of the searches that do not need its
encoder. The runs alternate (before, after, ...), ``--repeats`` of each (default 3); extra ``key=value``
overrides apply to both sides alike.

Printed for each run: its wall time; each stage one's export as its manifest recorded it (``export_s``:
from its last trial's end to the encoder written, as the driver saw it); and how many trials started
within those windows (the window taken from the stage one's last report, for ``export_s``): none on the
"before" side, where the driver starts nothing while it exports. Then min/median/max per side, the ratio of
the medians (before / after), and whether the two sides' transfer matrices agree (``bench/quickstart.py``).

On this 2-core machine with tiny models an export takes seconds, and the Ray task doing it shares the two
cores with the trials that now run beside it; on a cluster a 7B-30B encoder's export takes minutes, on the
node of the trial that trained it, while the rest of the cluster would otherwise wait.

Run: ``.venv/bin/python bench/export_overlap.py [--repeats 3] [key=value ...]`` (about 7 minutes with the
defaults on 2 cores: six quickstarts of about a minute).
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import sys
import tempfile
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from quickstart import QUICKSTART, ROOT, differences, launch, matrix, spread  # noqa: E402

SIDES = {"before": {"XSTILTS_EXPORT_WAIT": "1"}, "after": {}}


def exports(folder: Path) -> list[dict[str, Any]]:
    """Each stage one's export (``export_s``) and the trials of other searches that started within it."""
    import duckdb

    searches = json.loads((folder / "manifest.json").read_text())["searches"]
    rows = duckdb.sql(
        "select search, trial_id, epoch(min(started_at)), epoch(max(reported_at)) from "
        f"read_parquet('{folder}/results/**/*.parquet', union_by_name=true) group by search, trial_id"
    ).fetchall()
    out = []
    for search, record in sorted(searches.items()):
        if record.get("export_s") is None:
            continue
        last = max(end for s, _, _, end in rows if s == search)
        during = sum(1 for s, _, start, _ in rows if s != search and last <= start <= last + record["export_s"])
        out.append({"search": search, "export_s": record["export_s"], "started_during": during})
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3, help="runs of each side, alternated")
    parser.add_argument("overrides", nargs="*", metavar="key=value", help="overrides for both sides alike")
    args = parser.parse_args()
    walls: dict[str, list[float]] = {side: [] for side in SIDES}
    matrices: dict[str, list[list[dict[str, Any]]]] = {side: [] for side in SIDES}
    extra = f" {' '.join(args.overrides)}" if args.overrides else ""
    print(f"sweep launch {QUICKSTART.relative_to(ROOT)}{extra}, each in a fresh process; timed from outside")
    print("before: XSTILTS_EXPORT_WAIT=1 (the driver waits for each export); after: as shipped", flush=True)
    for k in range(args.repeats):
        for side, env in SIDES.items():  # alternated: before, after, before, after, ...
            work = Path(tempfile.mkdtemp(prefix=f"xstilts-export-{side}-"))
            try:
                wall, folder, left = launch(side, args.overrides, work, env=env)
                matrices[side].append(matrix(folder))
                found = exports(folder)
            finally:
                shutil.rmtree(work, ignore_errors=True)
            walls[side].append(wall)
            note = f" ({len(left)} processes it started outlived it by 10 s, ended: {', '.join(left)})" if left else ""
            detail = "; ".join(
                f"{e['search']} {e['export_s']:.1f} s, {e['started_during']} trials started" for e in found
            )
            print(f"  run {k + 1}/{args.repeats} {side:6} {wall:6.1f} s  exports: {detail}{note}", flush=True)
    print()
    for side in SIDES:
        print(f"{side:6} {spread(walls[side])}  (runs: {', '.join(f'{w:.1f}' for w in walls[side])})")
    before, after = statistics.median(walls["before"]), statistics.median(walls["after"])
    print(f"before / after, medians: {before / after:.2f}x")
    reference = matrices["before"][0]
    differing = [
        f"{side} {k + 1}" for side in SIDES for k, found in enumerate(matrices[side]) if differences(reference, found)
    ]
    if not differing:
        print(f"transfer matrices: all {2 * args.repeats} runs identical")
    else:
        print(f"transfer matrices: differ from before run 1 in {', '.join(differing)} (ASHA follows result order)")


if __name__ == "__main__":
    main()
