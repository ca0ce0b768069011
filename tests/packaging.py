"""The project as a user gets it: its wheel, installed with nothing else from the checkout into a virtual
environment of its own. The wheel's dependencies come from the environment the tests run in (a ``.pth`` line
naming its site-packages, which adds the folder and none of the ``.pth`` files in it, so the checkout's
editable install stays out)."""

from __future__ import annotations

import subprocess
import sys
import sysconfig
import venv
from pathlib import Path

from tests.conftest import ROOT


def build_wheel(out: Path) -> Path:
    """Build the project's wheel into ``out``; return its path."""
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            "--quiet",
            "--no-deps",
            "--no-build-isolation",
            "-w",
            str(out),
            str(ROOT),
        ],
        check=True,
        capture_output=True,
        text=True,
    )
    (wheel,) = out.glob("xstilts-*.whl")
    return wheel


def install(wheel: Path, env: Path) -> Path:
    """A new virtual environment at ``env`` with ``wheel`` installed; return its ``bin`` folder."""
    venv.EnvBuilder(with_pip=False).create(env)
    python = env / "bin" / "python"
    purelib = subprocess.run(
        [str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
        check=True,
        capture_output=True,
        text=True,
    ).stdout.strip()
    (Path(purelib) / "xstilts-test-deps.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "--python",
            str(python),
            "install",
            "--quiet",
            "--no-deps",
            "--no-index",
            str(wheel),
        ],
        check=True,
        capture_output=True,
        text=True,
    )
    return env / "bin"
