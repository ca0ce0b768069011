"""Trials see the driver's Hugging Face cache and offline settings on a node that never had them.

The cluster is a head started with `ray start` from an environment without any Hugging Face variable, as a
KubeRay pod or a `ray up` node is: its workers have the node's environment, not the driver's. A driver
joining it with HF_HOME and HF_HUB_OFFLINE set passes them through the job's runtime_env
(``cluster.ray_session.hf_env``), so a hub model id in model.path resolves from that cache in a task, in a
Tune trial and in an actor with env_vars of its own (as Ray Train's workers are).
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import socket
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from cluster.ray_session import HF_SETTINGS
from tests.integration.conftest import ROOT
from tests.processes import Owned

pytestmark = [pytest.mark.integration, pytest.mark.slow]  # a Ray head of its own: about 35 s

REPO_ID = "xstilts-test/tiny-xlmr"  # no such repo on the hub: only the cache below can resolve it
COMMIT = "0123456789abcdef0123456789abcdef01234567"
SHOWN = ("HF_HOME", "HF_HUB_OFFLINE", "HF_DATASETS_OFFLINE", "TRANSFORMERS_OFFLINE", "HF_TOKEN", "SET_BY_ACTOR")

# The driver: joins the cluster with cluster.ray_session.start, then asks a task, a Tune trial and an actor
# with env_vars of its own what they see, and has the task load the model through the project's own loader.
DRIVER = """
import json, os, sys
from cluster import ray_session

address, repo, storage = sys.argv[1:4]
shown = json.loads(sys.argv[4])
ray_session.start(address=address)
import ray
from ray import tune

def seen():
    return {name: os.environ.get(name) for name in shown}

@ray.remote
def load(repo):
    from transformers import AutoConfig
    from trainers.model import build_model, load_tokenizer
    from trainers.spec import ModelSpec
    out = {"env": seen(), "node": ray.get_runtime_context().get_node_id()}
    if repo:
        out["config"] = AutoConfig.from_pretrained(repo).hidden_size
        spec = ModelSpec(name="hub", init="pretrained", path=repo)
        tokenizer = load_tokenizer(spec)
        model = build_model(spec, num_labels=3, vocab_size=len(tokenizer), dropout=0.0)
        out["model"] = [type(model).__name__, model.config.hidden_size, model.config.num_labels]
    return out

@ray.remote(num_cpus=0)
class Worker:
    def env(self):
        return seen()

def trial(config):
    tune.report({"env": json.dumps(seen())})

out = ray.get(load.remote(repo))
out["actor"] = ray.get(Worker.options(runtime_env={"env_vars": {"SET_BY_ACTOR": "yes"}}).remote().env.remote())
grid = tune.Tuner(trial, run_config=tune.RunConfig(storage_path=storage, name="probe", verbose=0)).fit()
out["trial"] = json.loads(grid[0].metrics["env"])
out["job_runtime_env"] = ray.get_runtime_context().runtime_env.get("env_vars", {})
ray_session.stop()
print("RESULT " + json.dumps(out))
"""


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _without_hf(environ: dict[str, str]) -> dict[str, str]:
    hf = ("HF_", "HUGGINGFACE_", "TRANSFORMERS_")
    return {k: v for k, v in environ.items() if k not in HF_SETTINGS and not k.startswith(hf)}


def _hub_cache(hf_home: Path) -> Path:
    """A tiny XLM-R and its tokenizer in the hub cache's layout under ``hf_home``, as `hf download` leaves a
    repo (refs/main naming a snapshot); plain files stand in for the blobs' symlinks."""
    from trainers.tiny import save_tiny_model

    repo = hf_home / "hub" / ("models--" + REPO_ID.replace("/", "--"))
    save_tiny_model("xlm-roberta", repo / "snapshots" / COMMIT)
    (repo / "refs").mkdir()
    (repo / "refs" / "main").write_text(COMMIT)
    return repo


@pytest.fixture(scope="module")
def head() -> Iterator[tuple[str, str]]:
    """A token-secured one-CPU Ray head on 127.0.0.1 whose environment has no Hugging Face setting, shared by
    this module's tests (each driver is a job of its own: jobs never share workers); yields (address, token).
    Its daemons are this module's (tests.processes) and are ended by pid, never `ray stop`."""
    owned = Owned()
    port, token = _free_port(), secrets.token_hex(32)
    temp_dir = tempfile.mkdtemp(prefix="xs-hf-")  # short: Ray's socket paths under it have a length limit
    env = {
        **_without_hf(dict(os.environ)),
        "RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER": "0",  # keeps the head on 127.0.0.1
        "RAY_AUTH_MODE": "token",
        "RAY_AUTH_TOKEN": token,
    }
    ray_cli = str(Path(sys.executable).parent / "ray")
    command = ["timeout", "120", ray_cli, "start", "--head", "--port", str(port), "--num-cpus", "1"]
    command += ["--node-ip-address", "127.0.0.1", "--include-dashboard", "false", "--temp-dir", temp_dir]
    started = subprocess.run(command, env=env, capture_output=True, text=True)
    try:
        assert started.returncode == 0, started.stdout[-2000:] + started.stderr[-2000:]
        yield f"127.0.0.1:{port}", token
    finally:
        owned.end(grace=0)
        shutil.rmtree(temp_dir, ignore_errors=True)


def _drive(address: str, token: str, env: dict[str, str], repo: str, storage: Path) -> dict:
    done = subprocess.run(
        [sys.executable, "-c", DRIVER, address, repo, str(storage), json.dumps(SHOWN)],
        cwd=ROOT,
        env={**_without_hf(dict(os.environ)), "RAY_AUTH_TOKEN": token, **env},
        capture_output=True,
        text=True,
        timeout=300,
    )
    lines = [line for line in done.stdout.splitlines() if line.startswith("RESULT ")]
    assert done.returncode == 0 and lines, done.stdout[-3000:] + done.stderr[-3000:]
    return json.loads(lines[-1].removeprefix("RESULT "))


def test_trials_see_the_drivers_hf_cache_and_offline_settings(tmp_path: Path, head: tuple[str, str]) -> None:
    address, token = head
    hf_home = tmp_path / "hf"
    _hub_cache(hf_home)
    driver_env = {
        "HF_HOME": str(hf_home),
        "HF_HUB_OFFLINE": "1",
        "HF_DATASETS_OFFLINE": "1",
        "TRANSFORMERS_OFFLINE": "1",
        "HF_TOKEN": "hf_not_for_the_dashboard",  # a secret: stays with the driver
    }
    out = _drive(address, token, driver_env, REPO_ID, tmp_path / "tune")

    expected = {**{k: v for k, v in driver_env.items() if k != "HF_TOKEN"}, "HF_TOKEN": None}
    assert out["env"] == {**expected, "SET_BY_ACTOR": None}
    assert out["trial"] == {**expected, "SET_BY_ACTOR": None}
    assert out["actor"] == {**expected, "SET_BY_ACTOR": "yes"}  # merged per variable with the job's
    assert out["job_runtime_env"] == {k: v for k, v in driver_env.items() if k != "HF_TOKEN"}
    # The hub id resolved from the cache (offline, so nothing else could have answered): the tiny model's sizes.
    assert out["config"] == 32
    assert out["model"] == ["XLMRobertaForSequenceClassification", 32, 3]


def test_a_driver_without_hf_settings_joins_as_before(tmp_path: Path, head: tuple[str, str]) -> None:
    """No Hugging Face variable in the driver: no runtime_env is passed, and the node's environment stands."""
    address, token = head
    out = _drive(address, token, {}, "", tmp_path / "tune")
    assert out["env"] == dict.fromkeys(SHOWN)
    assert out["trial"] == dict.fromkeys(SHOWN)
    assert out["actor"] == {**dict.fromkeys(SHOWN), "SET_BY_ACTOR": "yes"}
    assert out["job_runtime_env"] == {}
