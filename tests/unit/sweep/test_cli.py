"""The `sweep` CLI's fast paths: validate, tasks, help, and how user errors are reported."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from sweep.cli import main

ROOT = Path(__file__).resolve().parents[3]
QUICKSTART = str(ROOT / "configs" / "quickstart.yaml")


def test_validate_prints_the_plan(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["validate", QUICKSTART]) == 0
    out = capsys.readouterr().out
    assert "valid. 8 searches, up to 30 trials, 2 at a time." in out
    assert "target       toy_nli->toy_order" in out


def test_validate_reports_every_problem_and_exits_2(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["validate", QUICKSTART, "training.zero_stag=2", "languages=[en,xx]"]) == 2
    err = capsys.readouterr().err
    assert "invalid config: 2 problem(s)" in err
    assert "did you mean `zero_stage`" in err and "unknown language `xx`" in err


def test_validate_checks_this_machine_unless_a_cluster_is_named(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["validate", QUICKSTART, "resources.cpus_per_trial=4096"]) == 2
    assert "this machine has" in capsys.readouterr().err
    assert main(["validate", QUICKSTART, "resources.cpus_per_trial=4096", "--address", "10.0.0.1:6379"]) == 0


def test_tasks_list_and_show(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["tasks"]) == 0
    assert "toy_paws" in capsys.readouterr().out
    assert main(["tasks", "show", "toy_paws"]) == 0
    assert "not_paraphrase" in capsys.readouterr().out
    assert main(["tasks", "show", "toy_pawz"]) == 2
    assert "did you mean `toy_paws`" in capsys.readouterr().err


def test_status_of_a_folder_that_is_no_sweep(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["status", str(tmp_path)]) == 2
    assert "is not a sweep directory" in capsys.readouterr().err


def test_validate_imports_no_ray_torch_or_deepspeed() -> None:
    code = (
        f"import sys, sweep.cli; sweep.cli.main(['validate', {QUICKSTART!r}]); "
        "print(sorted(m for m in ('ray', 'torch', 'deepspeed') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=ROOT).stdout
    assert out.strip().endswith("[]"), out
