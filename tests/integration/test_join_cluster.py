"""`sweep launch --address` joins a running, token-secured Ray cluster (started with `ray start`)."""

from __future__ import annotations

import os
import secrets
import socket
import subprocess
import sys
from pathlib import Path

import pyarrow.dataset as ds
import pytest

from tests.integration.conftest import QUICKSTART, ROOT, run_sweep, sweep_cmd
from tests.processes import Owned

pytestmark = pytest.mark.integration

TINY = [
    "intermediate_tasks=[toy_nli]",
    "target_tasks=[toy_order]",
    "languages=[en,de]",
    "intermediate.epochs=1",
    "intermediate.num_samples=1",
    "target.epochs=1",
    "target.num_samples=1",
    "training.max_train_examples=100",
    "training.max_eval_examples=50",
    "baseline=false",
]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.mark.slow  # 47 s for a `ray start --head` cluster of its own; `make test-all` runs it
def test_launch_on_an_existing_cluster(tmp_path: Path, owned: Owned) -> None:
    """A token-secured cluster, as Ray 2.60 makes them. `ray start` turns tokens on only where it finds
    one, so the test brings its own rather than depend on the machine's ~/.ray. The daemons `ray start`
    leaves behind are the test's own (tests.processes), so it stops them by pid (not `ray stop`, which
    stops every Ray process of the machine)."""
    port = _free_port()
    token = secrets.token_hex(32)
    # RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER=0 keeps the head on 127.0.0.1.
    env = {**os.environ, "RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER": "0", "RAY_AUTH_MODE": "token", "RAY_AUTH_TOKEN": token}
    ray_cli = str(Path(sys.executable).parent / "ray")
    subprocess.run(
        [
            "timeout",
            "120",
            ray_cli,
            "start",
            "--head",
            "--port",
            str(port),
            "--num-cpus",
            "2",
            "--node-ip-address",
            "127.0.0.1",
            "--include-dashboard",
            "false",
        ],
        env=env,
        check=True,
        capture_output=True,
    )
    address = f"127.0.0.1:{port}"

    done = run_sweep(
        "launch",
        str(QUICKSTART),
        *TINY,
        "--name",
        "joined",
        "--storage",
        str(tmp_path),
        "--address",
        address,
        env={"RAY_AUTH_TOKEN": token},
    )
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    table = ds.dataset(tmp_path / "joined" / "results").to_table()
    assert set(table["search"].to_pylist()) == {"intermediate-toy_nli", "target-toy_nli-toy_order"}

    # Without the cluster's token, joining fails with a message that names the token.
    without_token = {k: v for k, v in os.environ.items() if not k.startswith("RAY_AUTH")}
    no_token = subprocess.run(
        sweep_cmd(
            "launch", str(QUICKSTART), *TINY, "--name", "rejected", "--storage", str(tmp_path), "--address", address
        ),
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=180,
        env={**without_token, "HOME": str(tmp_path), "RAY_AUTH_MODE": "disabled"},
    )
    assert no_token.returncode == 2
    assert "token" in no_token.stderr
    assert not (tmp_path / "rejected").exists(), "a failed launch must not leave a half-made sweep behind"

    # Stop what `ray start` started, by pid, now rather than after a grace period.
    started = owned.find()
    assert any("raylet" in " ".join(p.cmdline()) for p in started), [p.cmdline()[:2] for p in started]
    owned.end(grace=0)
    assert not owned.find()


def test_unreachable_address_fails_fast(tmp_path: Path) -> None:
    done = run_sweep(
        "launch",
        str(QUICKSTART),
        *TINY,
        "--storage",
        str(tmp_path),
        "--address",
        f"127.0.0.1:{_free_port()}",
        timeout=60,
    )
    assert done.returncode == 2
    assert "no Ray head answers at 127.0.0.1" in done.stderr
