"""The ``sweep`` command: one entry point, a small ``add_arguments``/``run`` pair per subcommand.

Heavy libraries (ray, torch, deepspeed) are imported only by the subcommands that train, so
``sweep --help``, ``sweep validate`` and ``sweep query`` start fast. The commands live by what they do:
``running`` (launch, resume, validate), ``reading`` (status, query, report, compact, export-predictions) and
``registry`` (tasks, data, score, store).

Shell completion: ``eval "$(register-python-argcomplete sweep)"`` (docs/commands.md).
"""

# PYTHON_ARGCOMPLETE_OK: argcomplete's global completion looks for this mark in the first 1024 characters.

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence
from typing import Any

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


class _Version(argparse.Action):
    """``--version``: ``sweep (xstilts) 0.1.0``, the installed package's version, read only when asked."""

    def __init__(self, option_strings: Sequence[str], dest: str = argparse.SUPPRESS, **kwargs: Any) -> None:
        super().__init__(option_strings, dest, nargs=0, default=argparse.SUPPRESS, **kwargs)

    def __call__(self, parser: argparse.ArgumentParser, *args: Any) -> None:
        from importlib.metadata import PackageNotFoundError, version

        try:
            found = version("xstilts")
        except PackageNotFoundError:
            found = "not installed"
        print(f"sweep (xstilts) {found}")  # on stdout, as argparse's own version action
        parser.exit()


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of ``sweep``."""
    parser = argparse.ArgumentParser(prog="sweep", description="Intermediate-task transfer sweeps on Ray Tune.")
    parser.add_argument("--version", action=_Version, help="print the version of xstilts and exit")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for name, (add_arguments, run, help_text) in COMMANDS.items():
        p = sub.add_parser(name, help=help_text, description=help_text)
        add_arguments(p)
        p.set_defaults(run=run)
    return parser


def parse(parser: argparse.ArgumentParser, argv: Sequence[str] | None) -> argparse.Namespace:
    """Parse ``argv`` with ``key=value`` overrides anywhere among the options, for the commands that take
    them: ``sweep validate CONFIG --skip-files training.epochs=2`` as well as ``sweep validate CONFIG
    training.epochs=2 --skip-files``. Any other argument argparse does not know is an error, as before.

    argparse ends a positional ``nargs="*"`` at the first option, and ``parse_intermixed_args`` refuses
    subparsers, so the overrides it leaves over are taken back in the order they were given (a later
    override of one key wins, wherever it stands)."""
    args, extra = parser.parse_known_args(argv)
    extra = [a for a in extra if a != "--"]  # `sweep launch CONFIG --smoke -- key=value`, as shells write it
    if extra and isinstance(getattr(args, "overrides", None), list):
        overrides = [a for a in extra if "=" in a and not a.startswith("-")]
        args.overrides = [*args.overrides, *overrides]
        extra = [a for a in extra if a not in overrides]
    if extra:
        parser.error(f"unrecognized arguments: {' '.join(extra)}")
    return args


def main(argv: Sequence[str] | None = None) -> int:
    """Run ``sweep``; user errors print one clear message and exit 2. Example: ``main(["validate",
    "configs/quickstart.yaml", "--skip-files", "training.epochs=2"])``."""
    parser = build_parser()
    if "_ARGCOMPLETE" in os.environ:  # a shell asks for completions: only then is argcomplete imported
        try:
            import argcomplete
        except ImportError:
            pass
        else:
            argcomplete.autocomplete(parser)
    args = parse(parser, argv)
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
