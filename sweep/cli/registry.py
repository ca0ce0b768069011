"""``sweep tasks``, ``data``, ``score`` and ``store``: the commands about tasks, their data, predictions files and
the checkpoint store, rather than one sweep."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from sweep.errors import XStiltsError
from sweep.report.output import TEXT_FORMATS, render

SPLIT_HELP = (
    "a role, train, dev or test (default: test), or the hub's name of the split it reads. For most tasks dev "
    "reads the hub's `validation` and test its `test`; where the benchmark's test set is the hub's validation "
    "split (XQuAD, TyDiQA-GoldP, Tatoeba) test reads `validation`; TyDiQA-GoldP's dev is `train[90%%:]`. "
    "`sweep tasks show TASK` lists which hub split each role reads"
)


def _tasks_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("action", nargs="?", choices=["list", "show"], default="list")
    p.add_argument("name", nargs="?")
    p.add_argument("--format", choices=TEXT_FORMATS, default="table")


def _tasks(args: argparse.Namespace) -> int:
    from sweep.analysis import taskinfo

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
    from sweep.analysis import taskinfo

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


def _mirror(args: argparse.Namespace) -> int:
    from sweep.console import progress
    from trainers.data import write_mirror
    from trainers.tasks import get_task

    if not args.out:
        raise XStiltsError("`sweep data mirror` needs --out DIR, the folder to write the mirror to")
    languages = args.languages.split(",") if args.languages else None
    work = []  # (task, language), one hub download each, so the bar moves as each is written
    for name in args.task:
        task = get_task(name)
        wanted = [lang for lang in languages if lang in task.languages] if languages else None
        work += [(task, language) for language in wanted or task.languages]
    for task, language in progress(work, description="mirroring"):
        for path in write_mirror(task, out=Path(args.out), languages=[language]):
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
    from sweep.analysis import taskinfo

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

    from sweep.storage.store import CheckpointStore

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
    "tasks": (_tasks_args, _tasks, "list the known tasks, or show one"),
    "store": (_store_args, _store, "list a checkpoint store's stage-one entries (what later studies reuse)"),
    "data": (_data_args, _data, "inspect a task's data as xstilts converts it"),
    "score": (_score_args, _score, "score a predictions file (as evaluate.py reads it) against gold labels"),
}
