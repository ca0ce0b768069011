"""The deployment files as shipped: cluster/aws.yaml against Ray's own `ray up` schema and checks, the KubeRay
manifests against KubeRay's CRDs (unknown fields rejected, as `kubectl apply` does), and what no schema can say:
the operator reaches the dashboard, token authentication is on, nothing is exposed outside the cluster, the roles
can do what the autoscaler does and no more, every file names the one image the Dockerfile builds, and the study
each file starts validates."""

from __future__ import annotations

import copy
import json
import os
import re
import shlex
import subprocess
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml

from sweep.cli import main as sweep_main
from tests.conftest import ROOT
from tests.unit.cluster import kube_schema

CLUSTER = ROOT / "cluster"
FILES = sorted(CLUSTER.rglob("*.yaml"))
CRDS = ROOT.parent / "shared" / "schemas" / "kuberay"
RAYCLUSTER = CLUSTER / "kuberay" / "raycluster.yaml"
RAYJOB = CLUSTER / "kuberay" / "rayjob.yaml"
AWS = CLUSTER / "aws.yaml"


def _load(path: Path) -> dict[str, Any]:
    return yaml.safe_load(path.read_text())


def _crds() -> Path:
    if not CRDS.is_dir():
        pytest.skip(f"{CRDS} is absent (a fresh clone has no ../shared)")
    return CRDS


def test_every_cluster_file_is_checked() -> None:
    names = {p.relative_to(CLUSTER).as_posix() for p in CLUSTER.rglob("*") if p.suffix in {".yaml", ".json"}}
    assert names == {
        "aws.yaml",
        "aws-iam/head-policy.json",
        "aws-iam/worker-policy.json",
        "kuberay/raycluster.yaml",
        "kuberay/rayjob.yaml",
    }


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


# ----------------------------------------------------------------------------- schemas


def _ray_up_checks(config: dict[str, Any]) -> None:
    """What `ray up` does with a cluster file before it starts anything: the schema, then its defaults filled
    in and the cross-field checks."""
    import ray.autoscaler
    from ray.autoscaler._private.util import prepare_config, validate_config

    schema = json.loads((Path(ray.autoscaler.__file__).parent / "ray-schema.json").read_text())
    jsonschema.validate(config, schema)
    validate_config(prepare_config(copy.deepcopy(config)))


def test_aws_yaml_passes_ray_ups_own_checks() -> None:
    _ray_up_checks(_load(AWS))


def test_ray_ups_checks_reject_a_misspelt_key() -> None:
    """The check above can fail: a key Ray does not know is an error, not ignored."""
    config = _load(AWS)
    config["available_node_types"]["gpu_spot"]["max_worker"] = config["available_node_types"]["gpu_spot"].pop(
        "max_workers"
    )
    with pytest.raises(jsonschema.ValidationError, match="max_worker"):
        _ray_up_checks(config)


@pytest.mark.parametrize(
    ("manifest", "crd"), [(RAYCLUSTER, "rayclusters"), (RAYJOB, "rayjobs")], ids=["RayCluster", "RayJob"]
)
def test_kuberay_manifests_validate_against_the_crds(manifest: Path, crd: str) -> None:
    crd_path = _crds() / f"ray.io_{crd}.yaml"
    spec = _load(manifest)
    errors = [
        f"{'/'.join(map(str, e.absolute_path))}: {e.message}" for e in kube_schema.validator(crd_path).iter_errors(spec)
    ]
    assert not errors, errors
    # The CEL rules only the API server evaluates guard fields these manifests leave alone.
    assert not [p for p in kube_schema.cel_paths(crd_path) if kube_schema.has_path(spec, p)]


def test_the_crd_check_rejects_an_unknown_field() -> None:
    crd_path = _crds() / "ray.io_rayjobs.yaml"
    job = _load(RAYJOB)
    job["spec"]["rayClusterSpec"]["headGroupSpec"]["rayStartParam"] = {"num-cpus": "0"}  # rayStartParams, misspelt
    job["spec"]["backoffLimit"] = "three"
    messages = [e.message for e in kube_schema.validator(crd_path).iter_errors(job)]
    assert any("rayStartParam" in m for m in messages) and any("'three'" in m for m in messages), messages


# ----------------------------------------------------------------------------- what no schema says


def _cluster_specs() -> list[dict[str, Any]]:
    return [_load(RAYCLUSTER)["spec"], _load(RAYJOB)["spec"]["rayClusterSpec"]]


@pytest.mark.parametrize("spec", _cluster_specs(), ids=["RayCluster", "RayJob"])
def test_kuberay_clusters_are_reachable_inside_secured_and_closed_outside(spec: dict[str, Any]) -> None:
    assert spec["authOptions"]["mode"] == "token", "every Ray client, the submitter included, needs the token"
    major, minor, _ = (int(x) for x in spec["rayVersion"].split("."))
    assert (major, minor) >= (2, 52), "token authentication needs Ray 2.52 or newer"
    head = spec["headGroupSpec"]
    assert head.get("serviceType", "ClusterIP") == "ClusterIP", "no LoadBalancer or NodePort for the head"
    assert not head.get("enableIngress"), "no Ingress to the dashboard"
    # KubeRay's submitter and operator reach the dashboard through the head Service, from other pods.
    assert head["rayStartParams"].get("dashboard-host", "0.0.0.0") not in {"127.0.0.1", "localhost"}
    assert head["rayStartParams"]["num-cpus"] == "0", "no trial runs beside the driver"
    assert json.loads(json.loads(head["rayStartParams"]["resources"])) == {"TRAIN_DRIVER": 1000}
    pods = [head["template"]["spec"], *(g["template"]["spec"] for g in spec["workerGroupSpecs"])]
    for pod in pods:
        assert not pod.get("hostNetwork"), "pods keep their own network namespace"
        assert not [p for c in pod["containers"] for p in c.get("ports", []) if "hostPort" in p]
    (worker,) = spec["workerGroupSpecs"]
    (container,) = worker["template"]["spec"]["containers"]
    assert container["resources"]["limits"]["nvidia.com/gpu"] == "8"
    # Scaling is on, and the bounds admit it; without the flag KubeRay would keep `replicas` pods.
    assert spec["enableInTreeAutoscaling"] is True
    assert worker["minReplicas"] == 0 <= worker["replicas"] <= worker["maxReplicas"] == 8


def _policy(name: str) -> list[dict[str, Any]]:
    return json.loads((CLUSTER / "aws-iam" / name).read_text())["Statement"]


def _actions(statements: list[dict[str, Any]]) -> set[str]:
    out: set[str] = set()
    for s in statements:
        assert s["Effect"] == "Allow"
        out |= {s["Action"]} if isinstance(s["Action"], str) else set(s["Action"])
    return out


def test_aws_roles_let_the_head_run_the_autoscaler_and_the_workers_reach_only_the_bucket() -> None:
    nodes = _load(AWS)["available_node_types"]
    head_profile = nodes["head"]["node_config"]["IamInstanceProfile"]["Arn"]
    worker_profile = nodes["gpu_spot"]["node_config"]["IamInstanceProfile"]["Arn"]
    assert head_profile != worker_profile
    head, worker = _policy("head-policy.json"), _policy("worker-policy.json")
    # What Ray's AWS node provider calls on the head to start, tag, list and end the spot workers.
    autoscaler = {"ec2:RunInstances", "ec2:CreateTags", "ec2:DescribeInstances", "ec2:TerminateInstances"}
    assert autoscaler <= _actions(head)
    # ... and the workers' role, which it hands to each worker it starts.
    (pass_role,) = [s for s in head if s["Action"] == "iam:PassRole"]
    worker_role = worker_profile.split("instance-profile/")[1]
    assert pass_role["Resource"].endswith(f":role/{worker_role}"), "iam:PassRole for the workers' role only"
    bucket = re.search(r"s3://([\w.-]+)/", AWS.read_text()).group(1)
    assert _actions(worker) == {"s3:ListBucket", "s3:GetObject", "s3:PutObject", "s3:DeleteObject"}
    for statements in (head, worker):
        s3 = [s for s in statements if str(s["Action"]).startswith(("s3:", "['s3:"))]
        assert {r for s in s3 for r in s["Resource"]} == {f"arn:aws:s3:::{bucket}", f"arn:aws:s3:::{bucket}/*"}


def test_every_file_runs_the_image_the_dockerfile_builds_with_the_tested_versions() -> None:
    pins = dict(
        line.split("==")
        for line in (ROOT / "constraints.txt").read_text().splitlines()
        if "==" in line and not line.startswith("#")
    )
    image = subprocess.run(
        ["make", "-s", "--no-print-directory", "image-name"], cwd=ROOT, capture_output=True, text=True, check=True
    ).stdout.strip()
    assert image.endswith(f":{_project_version()}-ray{pins['ray']}")
    images = {c["image"] for spec in _cluster_specs() for c in _containers(spec)} | {_load(AWS)["docker"]["image"]}
    assert images == {image}
    assert {spec["rayVersion"] for spec in _cluster_specs()} == {pins["ray"]}
    dockerfile = (ROOT / "Dockerfile").read_text()
    args = dict(re.findall(r"^ARG (\w+)=(\S+)$", dockerfile, re.M))
    assert args["RAY_VERSION"] == pins["ray"] and args["TORCH_VERSION"] == pins["torch"]
    assert "FROM rayproject/ray:${RAY_VERSION}-${PYTHON_TAG}-${CUDA_TAG}" in dockerfile, "Ray's own GPU image"
    assert args["CUDA_TAG"] in args["TORCH_INDEX"], "torch's CUDA build for the base image's CUDA"
    assert args["PYTHON_TAG"] == "py311", "the Python the tests run on"
    assert re.search(r"^USER ray$", dockerfile, re.M), "not root"
    assert all(
        "-c /tmp/xstilts/constraints.txt" in line
        for line in dockerfile.splitlines()
        if "pip install" in line and "torch==" not in line
    )


def _project_version() -> str:
    return re.search(r'^version = "(.+)"', (ROOT / "pyproject.toml").read_text(), re.M).group(1)


def _containers(spec: dict[str, Any]) -> list[dict[str, Any]]:
    groups = [spec["headGroupSpec"], *spec["workerGroupSpecs"]]
    return [c for g in groups for c in g["template"]["spec"]["containers"]]


# ----------------------------------------------------------------------------- the studies they start


def _validate_args(command: str) -> list[str]:
    """`sweep validate` arguments for a `sweep launch` command: its config and overrides (--name as the
    override it is), checked without this machine's files or CPUs (`--skip-files`, `--address`)."""
    args = shlex.split(command)
    assert args[:2] == ["sweep", "launch"], args
    out, rest = [], iter(args[2:])
    for arg in rest:
        if arg == "--name":
            out.append(f"name={next(rest)}")
        elif arg in {"--storage", "--address"}:
            value = next(rest)
            if arg == "--storage":
                assert value.startswith("s3://"), "a cluster study lives on shared storage"
        elif arg == "--resume-existing":
            continue
        else:
            out.append(arg)
    return ["validate", *out, "--skip-files", "--address", "auto"]


def _rayjob_command() -> str:
    return _load(RAYJOB)["spec"]["entrypoint"]


def _aws_command() -> str:
    text = AWS.read_text()
    block = re.search(r'ray exec \S+ --tmux "(.+?)"', re.sub(r"\\\n#\s*", " ", text), re.S)
    assert block, "the file shows how to start a study on the head"
    return block.group(1)


@pytest.mark.parametrize("command", [_rayjob_command, _aws_command], ids=["RayJob", "aws.yaml"])
def test_the_study_each_file_starts_validates(
    command: Any, capsys: pytest.CaptureFixture[str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    text = command()
    assert "--resume-existing" in text.split(), "a retry continues the study instead of refusing it"
    assert "xstilts:studies/xstilts" in text.split(), "the X-STILTs study, as packaged in the image"
    monkeypatch.chdir(tmp_path)  # a pod's working folder has no checkout
    monkeypatch.setenv("HOME", str(tmp_path))
    assert sweep_main(_validate_args(os.path.expanduser(text))) == 0, capsys.readouterr().err
    out = capsys.readouterr().out
    assert "xstilts:studies/xstilts: valid. 109 searches" in out, out[:500]


def test_rayjob_retries_and_frees_the_cluster() -> None:
    job = _load(RAYJOB)["spec"]
    assert job["backoffLimit"] >= 1 and job["shutdownAfterJobFinishes"] is True
    assert job["submissionMode"] == "K8sJobMode"
