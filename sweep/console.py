"""Progress bars for long commands: drawn on stderr where a person watches it, and nothing elsewhere.

A command that works for a while and prints nothing wraps its loop in ``progress``; a step that cannot be
counted runs under ``busy``. Where stderr is a terminal, rich draws one bar per loop (a loop inside another
adds a second bar under the first, as rich allows one live display at a time); where it is not (a pipe, a
log file, a test's captured output), nothing is drawn and rich is not even imported, so logs and tests stay
clean and ``sweep --help`` stays fast.

Example::

    for search in progress(searches, total=len(searches), description="compacting"):
        compact(search)
"""

from __future__ import annotations

import sys
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from typing import Any, TypeVar

__all__ = ["busy", "progress"]

T = TypeVar("T")

_live: Any = None  # the rich Progress being drawn, shared by nested loops


def _drawn() -> bool:
    """Whether bars are drawn: stderr is a terminal (its ``isatty``, so a test or a pipe draws none)."""
    stream = sys.stderr
    return stream is not None and hasattr(stream, "isatty") and stream.isatty()


def progress(iterable: Iterable[T], *, total: int | None = None, description: str) -> Iterator[T]:
    """Yield ``iterable``'s items, drawing a bar of ``total`` steps (a spinner without it) on a terminal's
    stderr; elsewhere yield them and draw nothing."""
    if total is None and hasattr(iterable, "__len__"):
        total = len(iterable)  # type: ignore[arg-type]
    if not _drawn():
        yield from iterable
        return
    with _task(description, total=total) as advance:
        for item in iterable:
            yield item
            advance()


@contextmanager
def busy(description: str) -> Iterator[None]:
    """Show ``description`` with a spinner and the time elapsed while the block runs (on a terminal's stderr
    only), for work that cannot be counted."""
    if not _drawn():
        yield
        return
    with _task(description, total=None):
        yield


@contextmanager
def _task(description: str, *, total: int | None) -> Iterator[Any]:
    """One task on the shared rich Progress, started with the first task and stopped with it."""
    global _live
    owner = _live is None
    if owner:
        from rich.console import Console
        from rich.progress import (
            BarColumn,
            Progress,
            SpinnerColumn,
            TextColumn,
            TimeElapsedColumn,
            TimeRemainingColumn,
        )

        _live = Progress(
            SpinnerColumn(),
            TextColumn("{task.description}"),
            BarColumn(),
            TextColumn("{task.fields[count]}"),  # "3/8"; nothing for work that cannot be counted
            TimeElapsedColumn(),
            TimeRemainingColumn(),
            console=Console(file=sys.stderr),
            transient=True,  # the command's own output says what it did; the bars only show it is working
            # Lines printed meanwhile go above the bars, but stdout sent to a file or pipe stays there.
            redirect_stdout=sys.stdout is not None and sys.stdout.isatty(),
        )
        _live.start()
    bar = _live
    task = bar.add_task(description, total=total, count="" if total is None else f"0/{total}")
    done = 0

    def advance() -> None:
        nonlocal done
        done += 1
        bar.update(task, advance=1, count=f"{done}/{total}" if total is not None else f"{done}")

    try:
        yield advance
    finally:
        bar.remove_task(task)
        if owner:
            bar.stop()
            _live = None
