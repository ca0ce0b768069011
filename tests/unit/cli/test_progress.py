"""``sweep.console``: bars on a terminal's stderr only, and the commands that use them print the same without."""

from __future__ import annotations

import io
import sys
from pathlib import Path

import pytest

from sweep import console


class _Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_nothing_is_drawn_where_stderr_is_no_terminal(capsys: pytest.CaptureFixture[str]) -> None:
    assert list(console.progress(range(3), description="counting")) == [0, 1, 2]
    with console.busy("waiting"):
        pass
    assert capsys.readouterr() == ("", "")
    assert console._live is None


def test_a_terminal_gets_bars_nested_loops_share_them(monkeypatch: pytest.MonkeyPatch) -> None:
    terminal = _Terminal()
    monkeypatch.setattr(sys, "stderr", terminal)
    seen = []
    with console.busy("outer"):
        outer = console._live
        for i in console.progress([1, 2], description="inner"):
            seen.append(i)
            assert console._live is outer and len(outer.tasks) == 2  # one display, a task each
        assert [t.description for t in outer.tasks] == ["outer"]  # the inner loop's task is gone
    assert seen == [1, 2] and console._live is None
    assert "inner" in terminal.getvalue() or "outer" in terminal.getvalue()


def test_a_loop_left_early_ends_its_bar(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sys, "stderr", _Terminal())
    items = console.progress(iter(range(10)), total=10, description="searching")
    assert next(items) == 0
    items.close()  # what `break` does to the generator, once it is collected
    assert console._live is None


def test_mirror_writes_a_language_at_a_time(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    import trainers.data
    from sweep.cli import main

    calls = []

    def write_mirror(task: object, *, out: Path, languages: list[str]) -> list[Path]:
        calls.append((task.name, languages))
        return [out / f"{task.name}-{languages[0]}" / "test.jsonl"]

    monkeypatch.setattr(trainers.data, "write_mirror", write_mirror)
    assert main(["data", "mirror", "toy_paws", "toy_nli", "--languages", "de,fr", "--out", str(tmp_path)]) == 0
    # toy_nli has neither language: all of its own (English), as a study in de and fr trains on it.
    assert calls == [("toy_paws", ["de"]), ("toy_paws", ["fr"]), ("toy_nli", ["en"])]
    out = capsys.readouterr().out
    assert out.count("wrote ") == 3 and out.rstrip().endswith("(use it as data_dir, or --data-dir)")
