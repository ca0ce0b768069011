"""The cluster files under cluster/ say what matters: token authentication on, no dashboard or head port
exposed publicly, the study's storage on S3, and a `sweep` command whose config validates."""

from __future__ import annotations

import json
import re
import shlex
from pathlib import Path
from typing import Any

import pytest
import yaml

from sweep.preflight.validate import load_config

ROOT = Path(__file__).resolve().parents[3]
FILES = sorted((ROOT / "cluster").rglob("*.yaml"))
# Where the cluster files put the data, and where the same data is in this checkout.
DATA_PATHS = {"/data/toy": ROOT / "data" / "toy", "~/xstilts-data": ROOT / "data" / "toy"}


def test_every_cluster_file_is_checked() -> None:
    names = {p.relative_to(ROOT / "cluster").as_posix() for p in FILES}
    assert names == {"aws.yaml", "kuberay/raycluster.yaml", "kuberay/rayjob.yaml"}


@pytest.mark.parametrize("path", FILES, ids=lambda p: p.name)
def test_every_line_of_settings_is_commented(path: Path) -> None:
    """Each file explains itself line by line: every line that sets something carries a comment, on it or on
    the line just above."""
    lines = path.read_text().splitlines()
    settings = [
        i for i, line in enumerate(lines) if re.match(r"\s*[\w-]+:\s*\S", line) and not line.lstrip().startswith("#")
    ]
    unexplained = [
        f"line {i + 1}: {lines[i].strip()}"
        for i in settings
        if "#" not in lines[i] and not (i and lines[i - 1].lstrip().startswith("#"))
    ]
    assert settings and not unexplained, f"{path.name}: settings without a comment: {unexplained}"


def _sweep_command(text: str) -> list[str]:
    args = shlex.split(text.replace("\\\n", " "))
    assert args[:2] == ["sweep", "launch"], args
    return args[2:]


def _validates(args: list[str]) -> dict[str, Any]:
    """Parse ``sweep launch`` arguments and validate their config here, the cluster's data paths mapped to
    this checkout's; return the options."""
    config, rest = args[0], args[1:]
    options, overrides = {}, []
    i = 0
    while i < len(rest):
        if rest[i].startswith("--"):
            flag = rest[i][2:]
            if flag == "resume-existing":
                options[flag] = True
                i += 1
            else:
                options[flag] = rest[i + 1]
                i += 2
        else:
            key, _, value = rest[i].partition("=")
            overrides.append(f"{key}={DATA_PATHS.get(value, value)}")
            i += 1
    load_config(ROOT / config, overrides)  # raises ConfigError listing every problem
    return options


def test_ray_up_config() -> None:
    text = (ROOT / "cluster" / "aws.yaml").read_text()
    spec = yaml.safe_load(text)
    assert "~/.ray/auth_token" in spec["file_mounts"], "every node gets the cluster's token"
    starts = spec["head_start_ray_commands"] + spec["worker_start_ray_commands"]
    assert all("RAY_AUTH_MODE=token" in c for c in starts if "ray start" in c)
    head = next(c for c in spec["head_start_ray_commands"] if "ray start" in c)
    assert "--dashboard-host=127.0.0.1" in head, "the dashboard is reached through `ray dashboard`, not a public port"
    nodes = spec["available_node_types"]
    assert nodes["head"]["node_config"].get("InstanceMarketOptions") is None, "the driver's node is on demand"
    # No trial runs beside the driver; multi-worker trials' Train drivers (no CPU of their own) do.
    assert nodes["head"]["resources"] == {"CPU": 0, "TRAIN_DRIVER": 1000}
    assert nodes["gpu_spot"]["node_config"]["InstanceMarketOptions"]["MarketType"] == "spot"
    # The study command the file shows (a comment: `ray up` has no field for it).
    block = re.search(r'ray exec \S+ --tmux "(.+?)"', re.sub(r"\\\n#\s*", " ", text), re.S)
    assert block, "the file shows how to start a study on the head"
    options = _validates(_sweep_command(block.group(1)))
    assert options["storage"].startswith("s3://") and options["address"] == "auto"


def _ray_cluster_specs() -> list[dict[str, Any]]:
    raycluster = yaml.safe_load((ROOT / "cluster" / "kuberay" / "raycluster.yaml").read_text())
    rayjob = yaml.safe_load((ROOT / "cluster" / "kuberay" / "rayjob.yaml").read_text())
    return [raycluster["spec"], rayjob["spec"]["rayClusterSpec"]]


@pytest.mark.parametrize("spec", _ray_cluster_specs(), ids=["RayCluster", "RayJob"])
def test_kuberay_clusters_are_token_secured_and_expose_nothing(spec: dict[str, Any]) -> None:
    assert spec["authOptions"]["mode"] == "token"
    major, minor, _ = (int(x) for x in spec["rayVersion"].split("."))
    assert (major, minor) >= (2, 52), "token authentication needs Ray 2.52 or newer"
    head = spec["headGroupSpec"]
    assert head.get("serviceType", "ClusterIP") == "ClusterIP", "no LoadBalancer or NodePort for the head"
    assert head["rayStartParams"]["dashboard-host"] == "127.0.0.1"
    assert head["rayStartParams"]["num-cpus"] == "0", "no trial runs beside the driver"
    assert json.loads(json.loads(head["rayStartParams"]["resources"])) == {"TRAIN_DRIVER": 1000}
    (worker,) = spec["workerGroupSpecs"]
    (container,) = worker["template"]["spec"]["containers"]
    assert container["resources"]["limits"]["nvidia.com/gpu"] == "8"


def test_rayjob_runs_a_study_that_resumes_on_retry() -> None:
    job = yaml.safe_load((ROOT / "cluster" / "kuberay" / "rayjob.yaml").read_text())["spec"]
    assert job["backoffLimit"] >= 1 and job["shutdownAfterJobFinishes"] is True
    options = _validates(_sweep_command(job["entrypoint"]))
    assert options["storage"].startswith("s3://"), "a retry runs on a new cluster: only S3 survives it"
    assert options.get("resume-existing") is True, "a retry continues the study instead of refusing it"
