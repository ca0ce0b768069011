"""The ``sweep`` command: one entry point, a small ``add_arguments``/``run`` pair per subcommand.

Heavy libraries (ray, torch, deepspeed) are imported only by the subcommands that train, so
``sweep --help``, ``sweep validate`` and ``sweep query`` start fast. The commands live by what they do:
``running`` (launch, resume, validate), ``reading`` (status, query, report, compact, export-predictions) and
``registry`` (tasks, data, score, store).
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from sweep.cli import reading, registry, running
from sweep.errors import ConfigError, XStiltsError

#: Every subcommand: (add_arguments, run, help), in the order `sweep --help` lists them.
COMMANDS = {
    name: {**running.COMMANDS, **reading.COMMANDS, **registry.COMMANDS}[name]
    for name in (
        "launch",
        "resume",
        "status",
        "query",
        "report",
        "compact",
        "validate",
        "estimate",
        "tasks",
        "store",
        "data",
        "export-predictions",
        "score",
    )
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
