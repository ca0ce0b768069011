"""The wheel alone: installed into an environment of its own and run from an empty folder, as in a pod of the
image, it holds the packaged configs and toy data, and the study the RayJob starts validates."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest
import yaml

from tests.conftest import ROOT
from tests.packaging import build_wheel, install
from tests.unit.cluster.test_cluster_files import _validate_args

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def wheel_bin(tmp_path_factory: pytest.TempPathFactory) -> Path:
    work = tmp_path_factory.mktemp("wheel")
    return install(build_wheel(work / "dist"), work / "env")


def _run(bin_dir: Path, *args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k not in {"PYTHONPATH", "VIRTUAL_ENV"}}
    env["PATH"] = f"{bin_dir}:{env['PATH']}"
    return subprocess.run(args, cwd=cwd, env=env, capture_output=True, text=True, timeout=300)


def test_the_wheel_runs_without_the_checkout(wheel_bin: Path, tmp_path: Path) -> None:
    where = _run(
        wheel_bin,
        "python",
        "-c",
        "import sweep, trainers, xstilts.configs as c; print(sweep.__file__); print(list(c.__path__)[0])",
        cwd=tmp_path,
    )
    assert where.returncode == 0, where.stderr
    code, configs = where.stdout.split()
    env = wheel_bin.parent.resolve()
    assert Path(code).resolve().is_relative_to(env) and Path(configs).resolve().is_relative_to(env)
    assert not Path(code).resolve().is_relative_to(ROOT)


def test_the_rayjob_study_validates_in_an_empty_folder(wheel_bin: Path, tmp_path: Path) -> None:
    entrypoint = yaml.safe_load((ROOT / "cluster" / "kuberay" / "rayjob.yaml").read_text())["spec"]["entrypoint"]
    done = _run(wheel_bin, "sweep", *_validate_args(entrypoint), cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert "xstilts:studies/xstilts: valid. 109 searches" in done.stdout
    assert list(tmp_path.iterdir()) == [], "validating writes nothing"


def test_the_packaged_quickstart_finds_its_toy_data_in_the_package(wheel_bin: Path, tmp_path: Path) -> None:
    done = _run(wheel_bin, "sweep", "validate", "xstilts:quickstart", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert "xstilts:quickstart: valid. 8 searches" in done.stdout
    tasks = _run(wheel_bin, "sweep", "validate", "configs/quickstart.yaml", cwd=tmp_path)
    assert tasks.returncode == 2 and "`xstilts:quickstart`" in tasks.stderr
