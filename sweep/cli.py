"""The ``sweep`` command: one entry point, a small ``add_arguments``/``run`` pair per subcommand.

Heavy libraries (ray, torch, deepspeed) are imported only by the subcommands that train, so
``sweep --help``, ``sweep validate`` and ``sweep query`` start fast.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from sweep.errors import ConfigError, XStiltsError
from sweep.output import FORMATS, TEXT_FORMATS, render

GROUPINGS = ("language", "family", "genus", "script")  # sweep.analyses.GROUPINGS, without importing it
BENCHMARKS = ("xtreme", "xtreme-r")  # sweep.benchmark.VERSIONS

SPLIT_HELP = (
    "a role, train, dev or test (default: test), or the hub's name of the split it reads. For most tasks dev "
    "reads the hub's `validation` and test its `test`; where the benchmark's test set is the hub's validation "
    "split (XQuAD, TyDiQA-GoldP, Tatoeba) test reads `validation`; TyDiQA-GoldP's dev is `train[90%%:]`. "
    "`sweep tasks show TASK` lists which hub split each role reads"
)


def _launch_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("config", help="sweep config (YAML)")
    p.add_argument("overrides", nargs="*", metavar="key=value", help="config overrides, e.g. target.num_samples=2")
    p.add_argument("--name", help="sweep name (default: the config's name)")
    p.add_argument(
        "--storage",
        help="where sweeps live: a folder, or shared storage such as s3://bucket/prefix (default: the "
        "config's storage, else ./sweeps)",
    )
    p.add_argument("--address", help="join an existing Ray cluster (HOST:PORT or auto) instead of a local one")
    p.add_argument(
        "--resume-existing",
        action="store_true",
        help="if the sweep exists already, resume it instead of refusing (for a job its scheduler retries)",
    )
    _smoke_args(p)


def _smoke_args(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--smoke",
        action="store_true",
        help="the study in miniature on a CPU: tiny models of the same families, a few dozen examples per split, "
        "two short trials per search (named <name>-smoke)",
    )
    p.add_argument("--data-dir", help="with --smoke: real data to use wherever it has a split (synthetic elsewhere)")
    p.add_argument("--tokenizer", help="with --smoke: a tokenizer for models whose own is not on this machine")


def _launch(args: argparse.Namespace) -> int:
    from sweep.driver import launch

    root = launch(
        args.config,
        args.overrides,
        name=args.name,
        storage=args.storage,
        address=args.address,
        resume_existing=args.resume_existing,
        smoke=args.smoke,
        data_dir=args.data_dir,
        tokenizer=args.tokenizer,
    )
    print(f"sweep directory: {root}\nsee the transfer matrix with: sweep query {root} --pivot")
    return 0


def _resume_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("sweep_dir")
    p.add_argument("--address", help="join an existing Ray cluster instead of a local one")


def _resume(args: argparse.Namespace) -> int:
    from sweep.driver import resume

    root = resume(args.sweep_dir, address=args.address)
    print(f"sweep directory: {root}")
    return 0


def _status_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("sweep_dir")
    p.add_argument("--format", choices=TEXT_FORMATS, default="table")


def _status(args: argparse.Namespace) -> int:
    from sweep.status import sweep_status

    info = sweep_status(args.sweep_dir)
    rows = info["searches"]
    if args.format != "table":
        print(render(rows, fmt=args.format))
        return 0
    if not info["driver_alive"]:
        rows = [{("interrupted" if k == "running" else k): v for k, v in r.items()} for r in rows]
    print(render(rows, fmt=args.format))
    if not info["driver_alive"]:
        print("driver: not running (`sweep resume` continues the sweep)")
        return 0
    note = info["driver"]
    in_flight = sum(1 for r in rows if r["state"] == "running")
    running = sum(r["running"] for r in rows)
    print(f"driver: running, process {note.get('pid', '?')} on {note.get('host', '?')}")
    print(f"in flight: {in_flight} searches, {running} trials running")
    if resources := note.get("resources"):
        used = ", ".join(f"{name} {pair[0]:g}/{pair[1]:g}" for name, pair in resources.items())
        print(f"cluster resources in use: {used}")
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
    from sweep import analyses, query
    from sweep.tables import Results

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
    from sweep.report import write_report

    index = write_report(args.sweep_dirs, out=args.out, target=args.target, title=args.title, skip_bad=args.skip_bad)
    print(f"report: {index} (figures as PNG and SVG beside it)")
    return 0


def _compact_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("sweep_dir")


def _compact(args: argparse.Namespace) -> int:
    from sweep.compaction import compact_sweep

    written = compact_sweep(args.sweep_dir)
    print(
        f"compacted {len(written)} finished searches' results into one file each"
        if written
        else "nothing to compact: every finished search's results are one file already"
    )
    return 0


def _validate_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("config")
    p.add_argument("overrides", nargs="*", metavar="key=value")
    p.add_argument(
        "--address",
        help="the sweep will join this cluster: skip the checks against this machine's "
        "CPUs and GPUs (the cluster's are checked at launch)",
    )
    p.add_argument(
        "--skip-files",
        action="store_true",
        help="check the config alone, not this machine's data and model files",
    )
    _smoke_args(p)


def _store_notes(config: Any, searches: list[Any]) -> dict[str, str]:
    """What the checkpoint store holds of each stage one: ``  [reused: KEY, trained by ...]`` or
    ``  [trained, then stored: KEY]``."""
    from sweep import stage_one
    from sweep.store import CheckpointStore

    store = CheckpointStore(config.checkpoint_store)
    notes = {}
    for search in searches:
        if search.phase == "intermediate":
            key = stage_one.key(stage_one.identity(config, search))
            entry = store.entry(key)
            by = (entry or {}).get("trained_by", {}).get("sweep", "?")
            notes[search.id] = f"  [reused: {key}, trained by {by}]" if entry else f"  [trained, then stored: {key}]"
    return notes


def _validate(args: argparse.Namespace) -> int:
    from sweep.config import load_config, local_problems
    from sweep.plan import plan

    config = load_config(args.config, args.overrides, check_data=not (args.skip_files or args.smoke))
    if args.smoke:
        import tempfile
        from pathlib import Path

        from sweep.config import validate
        from sweep.smoke import smoke_config

        with tempfile.TemporaryDirectory(prefix="xstilts-smoke-") as work:
            config, report = smoke_config(config, work=Path(work), data_dir=args.data_dir, tokenizer=args.tokenizer)
            if problems := validate(config):
                raise ConfigError(problems, source=f"{args.config} (its smoke version)")
        print(f"smoke: {len(report['real'])} splits of real data, {len(report['synthetic'])} synthetic")
    elif args.address is None and not args.skip_files and (problems := local_problems(config)):
        raise ConfigError(problems, source=args.config)
    searches = plan(config)
    from sweep.runner import is_evaluation

    trials = sum(
        len(config.seeds) if s.rerun_of else 1 if is_evaluation(s) else config.stage_of(s).num_samples for s in searches
    )
    print(
        f"{args.config}: valid. {len(searches)} searches, up to {trials} trials, "
        f"{config.resources.max_concurrent_trials} at a time."
    )
    from sweep.checks import regime_notes
    from sweep.mixtures import describe, mixtures_of

    mixtures = mixtures_of(config)
    stored = _store_notes(config, searches) if config.checkpoint_store and not (args.skip_files or args.smoke) else {}
    for s in searches:
        trains = f"  = {describe(mixtures[s.intermediate])}" if s.target is None and s.intermediate in mixtures else ""
        in_language = f" ({s.language})" if s.language else ""
        seeds = f"  re-run with seeds {', '.join(map(str, config.seeds))}" if s.rerun_of else ""
        model = f"{s.model:14} " if s.model else ""
        print(f"  {model}{s.phase:12} {s.pair}{in_language}{trains}{seeds}{stored.get(s.id, '')}")
    for note in regime_notes(config):
        print(f"note: {note}")
    return 0


def _tasks_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("action", nargs="?", choices=["list", "show"], default="list")
    p.add_argument("name", nargs="?")
    p.add_argument("--format", choices=TEXT_FORMATS, default="table")


def _tasks(args: argparse.Namespace) -> int:
    from sweep import taskinfo

    if args.action == "show":
        if not args.name:
            raise XStiltsError("`sweep tasks show` needs a task name; `sweep tasks` lists them")
        detail = taskinfo.task_detail(args.name)
        if args.format == "json":
            print(json.dumps(detail, indent=2, ensure_ascii=False))
            return 0
        languages = detail.pop("languages")
        sources = detail.pop("sources")
        print(render([{"field": k, "value": str(v)} for k, v in detail.items()], fmt=args.format))
        print()
        if languages:  # a mixture has none of its own: its sources say which
            print(render(languages, fmt=args.format))
            print()
        print(render([{k: str(v) for k, v in s.items()} for s in sources], fmt=args.format))
    else:
        print(render(taskinfo.task_rows(), fmt=args.format))
    return 0


def _data_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("action", choices=["inspect", "mirror"], help="inspect a split, or mirror tasks from the hub")
    p.add_argument("task", nargs="+", help="one task for inspect; one or more for mirror")
    p.add_argument("--out", help="mirror: the folder to write (<config>/<split>.jsonl)")
    p.add_argument("--languages", help="mirror: comma-separated languages (default: all of each task)")
    p.add_argument("--language", default="en")
    p.add_argument("--split", default="test", help=SPLIT_HELP)
    p.add_argument("--data-dir", help="a local mirror (<config>/<split>.jsonl); default: the hub")
    p.add_argument("--limit", type=int, default=3, help="how many examples to show")
    p.add_argument("--format", choices=TEXT_FORMATS, default="json")


def _data(args: argparse.Namespace) -> int:
    from sweep import taskinfo

    if args.action == "mirror":
        return _mirror(args)
    if len(args.task) != 1:
        raise XStiltsError("`sweep data inspect` takes one task")
    args.task = args.task[0]
    data_dir = Path(args.data_dir) if args.data_dir else None
    count, rows = taskinfo.inspect_rows(
        args.task, language=args.language, role=args.split, data_dir=data_dir, limit=args.limit
    )
    print(f"{args.task} {args.language} {args.split}: {count} examples")
    print(render(rows, fmt=args.format))
    return 0


def _export_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("sweep_dir")
    p.add_argument("--out", required=True, help="folder for <intermediate>/<task>/test-<lang>.<tsv|jsonl|json>")


def _export(args: argparse.Namespace) -> int:
    from sweep.export import export_predictions

    written = export_predictions(args.sweep_dir, args.out)
    print(f"wrote {len(written)} prediction files under {Path(args.out).resolve()}")
    return 0


def _mirror(args: argparse.Namespace) -> int:
    from trainers.data import write_mirror
    from trainers.tasks import get_task

    if not args.out:
        raise XStiltsError("`sweep data mirror` needs --out DIR, the folder to write the mirror to")
    languages = args.languages.split(",") if args.languages else None
    for name in args.task:
        task = get_task(name)
        wanted = [lang for lang in languages if lang in task.languages] if languages else None
        for path in write_mirror(task, out=Path(args.out), languages=wanted):
            print(f"wrote {path}", flush=True)
    print(f"mirror: {Path(args.out).resolve()} (use it as data_dir, or --data-dir)")
    return 0


def _score_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("task")
    p.add_argument("--language", required=True)
    p.add_argument(
        "--predictions",
        required=True,
        help="one language's file, as XTREME's evaluate.py reads it: test-<lang>.tsv (labels, tags, Tatoeba "
        "indices, BUCC pairs), .jsonl (multiple choice) or .json (QA answers, Mewsli-X/LAReQA rankings)",
    )
    p.add_argument("--split", default="test", help=SPLIT_HELP)
    p.add_argument("--data-dir", help="a local mirror holding the gold data; default: the hub")
    p.add_argument("--format", choices=["table", "json"], default="table")


def _score(args: argparse.Namespace) -> int:
    from sweep import taskinfo

    scores = taskinfo.score_file(
        args.task,
        language=args.language,
        predictions=Path(args.predictions),
        role=args.split,
        data_dir=Path(args.data_dir) if args.data_dir else None,
    )
    if args.format == "json":
        print(json.dumps(scores, indent=2))
    else:
        print(render([{"metric": k, "value": v} for k, v in scores.items()], fmt="table"))
    return 0


def _store_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("location", help="the checkpoint store: a folder, or a URI such as s3://bucket/store")
    p.add_argument("--format", choices=TEXT_FORMATS, default="table")


def _store(args: argparse.Namespace) -> int:
    from datetime import datetime, timezone

    from sweep.store import CheckpointStore

    store = CheckpointStore(args.location)
    rows = [
        {
            "key": entry["key"],
            "intermediate": entry.get("intermediate"),
            "model": entry.get("model"),
            "best": round(entry["best"]["objective"], 4),
            "trained_by": entry.get("trained_by", {}).get("sweep"),
            "created": datetime.fromtimestamp(entry["created_at"], timezone.utc).strftime("%Y-%m-%d %H:%M"),
        }
        for entry in store.entries()
    ]
    if args.format == "json":
        print(json.dumps(rows, indent=2))
    elif rows:
        print(render(rows, fmt=args.format))
    else:
        print(f"{store.location} holds no complete entries", file=sys.stderr)
    if left := store.unreferenced():
        print(
            "data folders no record names (left by interrupted publishes, never read; delete them while no "
            "sweep publishes those entries):\n" + "\n".join(f"  {path}" for path in left),
            file=sys.stderr,
        )
    return 0


COMMANDS = {
    "launch": (_launch_args, _launch, "start a sweep"),
    "resume": (_resume_args, _resume, "continue a sweep whose driver stopped"),
    "status": (_status_args, _status, "trials finished/running/errored/pending and best score per search"),
    "query": (_query_args, _query, "read and analyse the results of one or more sweeps"),
    "report": (_report_args, _report, "an HTML report with figures of one or more sweeps"),
    "compact": (_compact_args, _compact, "merge each finished search's results files into one (done as each ends)"),
    "validate": (_validate_args, _validate, "check a config completely, without starting Ray"),
    "tasks": (_tasks_args, _tasks, "list the known tasks, or show one"),
    "store": (_store_args, _store, "list a checkpoint store's stage-one entries (what later studies reuse)"),
    "data": (_data_args, _data, "inspect a task's data as xstilts converts it"),
    "export-predictions": (_export_args, _export, "write the best trials' test predictions as evaluate.py reads them"),
    "score": (_score_args, _score, "score a predictions file (as evaluate.py reads it) against gold labels"),
}


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of ``sweep``."""
    parser = argparse.ArgumentParser(prog="sweep", description="Intermediate-task transfer sweeps on Ray Tune.")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for name, (add_arguments, run, help_text) in COMMANDS.items():
        p = sub.add_parser(name, help=help_text, description=help_text)
        add_arguments(p)
        p.set_defaults(run=run)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run ``sweep``; user errors print one clear message and exit 2."""
    args = build_parser().parse_args(argv)
    try:
        return args.run(args)
    except ConfigError as exc:
        print(f"sweep {args.command}: invalid config: {exc}", file=sys.stderr)
        return 2
    except XStiltsError as exc:
        print(f"sweep {args.command}: error: {exc}", file=sys.stderr)
        return 2
    except BrokenPipeError:  # e.g. `sweep tasks | head`
        sys.stderr.close()
        return 0
    except KeyboardInterrupt:
        print(
            f"sweep {args.command}: interrupted; `sweep resume` continues a sweep from where it stopped",
            file=sys.stderr,
        )
        return 130


if __name__ == "__main__":
    sys.exit(main())
