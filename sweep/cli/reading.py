"""``sweep status``, ``query``, ``report``, ``compact`` and ``export-predictions``: the commands that read sweeps."""

from __future__ import annotations

import argparse
from pathlib import Path

from sweep.errors import XStiltsError
from sweep.report.output import FORMATS, TEXT_FORMATS, render

GROUPINGS = ("language", "family", "genus", "script")  # sweep.analysis.analyses.GROUPINGS, without importing it


BENCHMARKS = ("xtreme", "xtreme-r")  # sweep.analysis.benchmark.VERSIONS


def _status_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("sweep_dir")
    p.add_argument("--format", choices=TEXT_FORMATS, default="table")
    p.add_argument(
        "--watch",
        nargs="?",
        type=float,
        const=5.0,
        metavar="SECONDS",
        help="redraw every SECONDS (default 5) until the sweep ends, with a bar per search, the cluster in use and "
        "an estimated time to the end; plain text blocks when stdout is no terminal; Ctrl-C stops watching, not "
        "the sweep (exit 0)",
    )


def _status(args: argparse.Namespace) -> int:
    from sweep.analysis.status import sweep_status
    from sweep.report.watch import driver_lines

    if args.watch is not None:
        return _watch(args)
    info = sweep_status(args.sweep_dir)
    rows = info["searches"]
    if args.format != "table":
        print(render(rows, fmt=args.format))
        return 0
    if not info["driver_alive"]:
        rows = [{("interrupted" if k == "running" else k): v for k, v in r.items()} for r in rows]
    print(render(rows, fmt=args.format))
    lines = driver_lines(info)
    if info["driver_alive"]:
        in_flight = sum(1 for r in rows if r["state"] == "running")
        running = sum(r["running"] for r in rows)
        lines.insert(1, f"in flight: {in_flight} searches, {running} trials running")
    print("\n".join(lines))
    return 0


def _watch(args: argparse.Namespace) -> int:
    from sweep.report.watch import watch

    if args.format != "table":
        raise XStiltsError("--watch draws a table; leave out --format, or poll `sweep status --format json`")
    if args.watch <= 0:
        raise XStiltsError(f"--watch {args.watch:g}: give the seconds between redraws, more than 0")
    ended = watch(args.sweep_dir, interval=args.watch)
    print(
        {
            "finished": "sweep ended: every search is done or failed",
            "stopped": "sweep stopped: its driver is gone; `sweep resume` continues it",
            "interrupted": "stopped watching; the sweep goes on",
        }[ended],
        flush=True,
    )
    return 0


def _query_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("sweep_dirs", nargs="+", metavar="SWEEP_DIR", help="one or more sweep folders or URIs")
    p.add_argument(
        "--where",
        action="append",
        default=[],
        metavar="COL=VALUE",
        help="filter rows (repeatable; OP is one of = != < <= > >=; a|b matches either)",
    )
    p.add_argument("--metric", help="only this metric (e.g. accuracy); with an analysis, instead of the headline")
    p.add_argument("--columns", help="comma-separated columns to show")
    what = p.add_mutually_exclusive_group()
    what.add_argument(
        "--pivot",
        action="store_true",
        help="intermediate x target matrix: the protocol's test score and its gain over the baseline",
    )
    what.add_argument(
        "--by",
        choices=GROUPINGS,
        help="each pair's score and gain per language, or per language family, genus or script",
    )
    what.add_argument(
        "--stats",
        action="store_true",
        help="mean, sd and 95%% intervals: t over seeds, Welch for the gain; for pairs run once, a paired "
        "bootstrap over test examples",
    )
    what.add_argument(
        "--progress",
        action="store_true",
        help="each search's trials in order: dev score, best so far, trial-seconds, expected best of k trials",
    )
    what.add_argument(
        "--benchmark",
        choices=BENCHMARKS,
        help="XTREME or XTREME-R task, group and overall scores as google-research/xtreme evaluate.py computes them",
    )
    what.add_argument(
        "--sql",
        metavar="QUERY",
        help="SQL over the views rows, trials, selected, best, scores, searches, sweeps, languages and tasks (DuckDB)",
    )
    what.add_argument(
        "--mixtures",
        action="store_true",
        help="each mixture's sources: task, languages, head, weight, cap, and the sampling rate they got",
    )
    p.add_argument("--language", help="with --pivot, --by or --stats: one language instead of the mean")
    p.add_argument(
        "--replicates",
        type=int,
        default=1000,
        help="with --stats: resamples of the paired bootstrap for pairs run once (0: none)",
    )
    p.add_argument("--skip-bad", action="store_true", help="leave damaged results files out, with a warning")
    p.add_argument("--format", choices=FORMATS, default="table")
    p.add_argument("--out", help="write to this file (required for parquet)")


def _query(args: argparse.Namespace) -> int:
    from sweep.analysis import analyses, query
    from sweep.analysis.tables import Results

    if args.mixtures:
        result = query.mixture_rows(args.sweep_dirs)
    else:
        results = Results(args.sweep_dirs, skip_bad=args.skip_bad)
        common = {"where": args.where, "metric": args.metric, "language": args.language}
        if args.sql:
            if args.where or args.metric or args.language:
                raise XStiltsError("--sql takes its filters in its WHERE clause, not --where, --metric or --language")
            result = results.sql(args.sql).to_pylist()
        elif args.pivot:
            result = analyses.matrix(results, **common)
        elif args.by:
            result = analyses.pair_scores(results, by=args.by, **common)
        elif args.stats:
            result = analyses.pair_stats(results, replicates=args.replicates, **common)
        elif args.progress:
            result = analyses.search_progress(results, where=args.where)
        elif args.benchmark:
            result = analyses.benchmark_table(results, version=args.benchmark, where=args.where)
        else:
            columns = args.columns.split(",") if args.columns else None
            result = query.rows(results, where=args.where, metric=args.metric, columns=columns)
            args.columns = None
    if args.columns:
        wanted = args.columns.split(",")
        if unknown := [c for c in wanted if result and c not in result[0]]:
            raise query.QueryError(f"unknown column `{unknown[0]}`; columns: {', '.join(result[0])}")
        result = [{c: row[c] for c in wanted} for row in result]
    print(render(result, fmt=args.format, out=args.out))
    return 0


def _report_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("sweep_dirs", nargs="+", metavar="SWEEP_DIR", help="one or more sweep folders or URIs")
    p.add_argument("--out", required=True, help="folder for index.html and the figures (PNG and SVG)")
    p.add_argument("--target", help="the target of the per-language figure (default: the one with most languages)")
    p.add_argument("--title", help="the page's title")
    p.add_argument("--skip-bad", action="store_true", help="leave damaged results files out, with a warning")


def _report(args: argparse.Namespace) -> int:
    from sweep.report.page import write_report

    index = write_report(args.sweep_dirs, out=args.out, target=args.target, title=args.title, skip_bad=args.skip_bad)
    print(f"report: {index} (figures as PNG and SVG beside it)")
    return 0


def _compact_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("sweep_dir")


def _compact(args: argparse.Namespace) -> int:
    from sweep.console import busy
    from sweep.storage.compaction import compact_sweep

    with busy(f"compacting {args.sweep_dir}"):
        done = compact_sweep(args.sweep_dir)
    print(
        f"compacted {len(done.written)} finished searches' results into one file each"
        if done.written
        else "nothing to compact: every finished search's results are one file already"
    )
    if done.counted:
        print(
            f"wrote {len(done.counted)} finished searches' trial counts into the manifest (`sweep status` reads them)"
        )
    if done.not_counted:
        print(f"trial counts not written: {done.not_counted}")
    return 0


def _export_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("sweep_dir")
    p.add_argument("--out", required=True, help="folder for <intermediate>/<task>/test-<lang>.<tsv|jsonl|json>")


def _export(args: argparse.Namespace) -> int:
    from sweep.report.export import export_predictions

    written = export_predictions(args.sweep_dir, args.out)
    print(f"wrote {len(written)} prediction files under {Path(args.out).resolve()}")
    return 0


COMMANDS = {
    "status": (_status_args, _status, "trials finished/running/errored/pending and best score per search"),
    "query": (_query_args, _query, "read and analyse the results of one or more sweeps"),
    "report": (_report_args, _report, "an HTML report with figures of one or more sweeps"),
    "compact": (_compact_args, _compact, "merge each finished search's results into one file; record its counts"),
    "export-predictions": (_export_args, _export, "write the best trials' test predictions as evaluate.py reads them"),
}
