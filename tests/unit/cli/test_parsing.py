"""How ``sweep`` reads its command line: overrides anywhere, ``--version``, examples in ``--help``, completion."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from sweep.cli import main

ROOT = Path(__file__).resolve().parents[3]
QUICKSTART = str(ROOT / "configs" / "quickstart.yaml")


@pytest.mark.parametrize(
    "argv",
    [
        ["validate", QUICKSTART, "--skip-files", "target.num_samples=2"],
        ["validate", QUICKSTART, "target.num_samples=2", "--skip-files"],
        ["validate", "--skip-files", QUICKSTART, "target.num_samples=2"],
        ["validate", QUICKSTART, "--address", "10.0.0.1:6379", "target.num_samples=2", "--skip-files"],
    ],
    ids=["after", "before", "config-after-option", "among"],
)
def test_overrides_stand_before_after_or_among_the_options(argv: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    assert main(argv) == 0
    # 8 searches: the stage ones' 2 x 3 trials, the 6 targets' 2 each.
    assert "valid. 8 searches, up to 18 trials, 2 at a time." in capsys.readouterr().out


def test_overrides_split_by_an_option_keep_their_order(capsys: pytest.CaptureFixture[str]) -> None:
    argv = ["validate", QUICKSTART, "target.num_samples=9", "intermediate.num_samples=1", "--skip-files"]
    assert main([*argv, "target.num_samples=2"]) == 0  # the later one wins, as it would side by side
    assert "up to 14 trials" in capsys.readouterr().out  # 2 x 1 + 6 x 2


def test_overrides_after_options_are_checked_as_any(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["validate", QUICKSTART, "--skip-files", "training.zero_stag=2"]) == 2
    assert "did you mean `zero_stage`" in capsys.readouterr().err


def test_estimate_takes_overrides_after_its_options(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["estimate", QUICKSTART, "--gpus", "1", "target.num_samples=1"]) == 0
    out = capsys.readouterr().out
    assert "total:" in out


@pytest.mark.parametrize(
    ("argv", "unknown"),
    [
        (["validate", QUICKSTART, "--skip-files", "--bogus"], "--bogus"),
        (["validate", QUICKSTART, "--bogus=1", "target.num_samples=2"], "--bogus=1"),
        (["status", "sweeps/x", "target.num_samples=2"], "target.num_samples=2"),  # status takes no overrides
        (["tasks", "--nope"], "--nope"),
    ],
)
def test_unknown_arguments_still_fail(argv: list[str], unknown: str, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_:
        main(argv)
    assert exit_.value.code == 2
    assert capsys.readouterr().err.endswith(f"sweep: error: unrecognized arguments: {unknown}\n")


def test_version(capsys: pytest.CaptureFixture[str]) -> None:
    from importlib.metadata import version

    with pytest.raises(SystemExit) as exit_:
        main(["--version"])
    assert exit_.value.code == 0
    assert capsys.readouterr().out == f"sweep (xstilts) {version('xstilts')}\n"


@pytest.mark.parametrize("command", ["launch", "validate"])
def test_help_shows_examples(command: str, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        main([command, "--help"])
    out = capsys.readouterr().out
    assert "examples:\n  sweep " + command in out
    assert "--skip-files target.num_samples=8" in out or command == "launch"


def test_help_imports_no_rich_argcomplete_or_ray() -> None:
    code = (
        "import sys, sweep.cli\n"
        "try:\n    sweep.cli.main(['--help'])\nexcept SystemExit:\n    pass\n"
        "print(sorted(m for m in ('rich', 'argcomplete', 'ray', 'torch', 'importlib.metadata') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=ROOT).stdout
    assert out.strip().endswith("[]"), out


def test_completion_answers_a_shell(tmp_path: Path) -> None:
    """What ``eval "$(register-python-argcomplete sweep)"`` asks: the words completing ``sweep sta``."""
    line = "sweep sta"
    env = {
        **os.environ,
        "_ARGCOMPLETE": "1",
        "_ARGCOMPLETE_SHELL": "bash",
        "COMP_LINE": line,
        "COMP_POINT": str(len(line)),
        "_ARGCOMPLETE_STDOUT_FILENAME": str(tmp_path / "words"),
    }
    code = "import sys, sweep.cli; sys.exit(sweep.cli.main())"
    subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, cwd=ROOT, timeout=60)
    assert (tmp_path / "words").read_text().split() == ["status"]
