"""The deployment, end to end, on 127.0.0.1: what KubeRay does with cluster/kuberay/rayjob.yaml, done from the
manifest itself.

- The project's wheel, installed with nothing else from the checkout (tests.packaging), runs every Ray process
  and the study, from an empty working folder, as in a pod of the image.
- A head and two worker nodes start with the manifest's ``rayStartParams`` (tests/integration/deploy/
  local_raycluster.py), token authentication on as KubeRay's ``authOptions`` turns it on, and the study's
  storage on S3 (moto's server on 127.0.0.1). Substituted, because this is one machine: the dashboard listens
  on 127.0.0.1 rather than on the pod's every interface, and the worker nodes have 2 CPUs and no GPU rather than
  the pod's limits.
- The RayJob's ``entrypoint`` is submitted through the Jobs API with the token, as KubeRay's submitter does, with
  only the bucket, the data path (a mirror holding a tiny XLM-R and the data the study reads) and the study's
  size (overrides appended) substituted; the study is followed from outside with ``sweep status s3://...``.
- A RayJob retry: the whole cluster is killed mid-study (its processes, by pid), a new one started, the same
  entrypoint submitted again; the study resumes from S3 and completes with every row exactly once.
"""

from __future__ import annotations

import json
import os
import secrets
import signal
import subprocess
import time
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.conftest import ROOT, XTREME_SAMPLE
from tests.packaging import build_wheel, install
from tests.processes import Owned
from tests.s3 import free_port, s3_endpoint

pytestmark = [pytest.mark.integration, pytest.mark.slow]

RAYJOB = ROOT / "cluster" / "kuberay" / "rayjob.yaml"
BUCKET = "rehearsal"
# The study's size: one English intermediate task and one target in two languages, tiny and short. Everything
# else is the shipped study's (its search space, selection, retrieval and protocol settings).
SIZE = [
    "intermediate_tasks=[mnli]",
    "target_tasks=[xnli]",
    "languages=[en,de]",
    "per_target=",
    "intermediate.epochs=1",
    # Long enough that the half-done study outlasts a few `sweep status` polls: at 2 epochs the last search
    # took 2 s, and once (in a full test-all run) the study ended between two polls.
    "target.epochs=40",
    "training.precision=fp32",
    "training.torch_threads=1",
    "training.eval_batch_size=32",
    "training.max_train_examples=96",
    "training.max_eval_examples=32",
    "model.max_length=48",
    "resources.cpus_per_trial=1",
    "resources.gpus_per_trial=0",
]
LOCAL = {"dashboard-host": "127.0.0.1"}  # what this machine changes of the head's parameters


def _ray_params(start_params: dict[str, str]) -> dict[str, Any]:
    """KubeRay's ``rayStartParams`` (the flags of ``ray start``) as Ray's node parameters."""
    out: dict[str, Any] = {}
    for flag, value in {**start_params, **{k: v for k, v in LOCAL.items() if k in start_params}}.items():
        if flag == "num-cpus":
            out["num_cpus"] = int(value)
        elif flag == "resources":
            out["resources"] = json.loads(json.loads(value))  # a JSON string, quoted for the shell
        elif flag == "dashboard-host":
            out["dashboard_host"] = value
        else:
            raise AssertionError(f"rayStartParams.{flag} has no counterpart here yet: map it in _ray_params")
    return out


def _manifest() -> tuple[str, dict[str, Any]]:
    job = yaml.safe_load(RAYJOB.read_text())["spec"]
    return job["entrypoint"], job["rayClusterSpec"]


def _mirror(root: Path, entrypoint: str) -> Path:
    """The data volume the pods mount at /data: the model the entrypoint names (a tiny XLM-R in its place) and
    the data the study reads (the shared sample's where it has it, stand-ins elsewhere)."""
    from sweep.preflight.validate import load_config
    from sweep.run.smoke import build_data
    from trainers.tiny import save_tiny_model

    args = entrypoint.split()
    model_path = next(a.split("=", 1)[1] for a in args if a.startswith("model.path="))
    save_tiny_model("xlm-roberta", root / Path(model_path).relative_to("/data"), seed=0)
    config = load_config("xstilts:studies/xstilts", SIZE, check_data=False)
    source = XTREME_SAMPLE / "hf" if (XTREME_SAMPLE / "hf").is_dir() else root / "empty"
    source.mkdir(exist_ok=True)
    build_data(config, source=source, overlay=root / "xtreme")
    return root


class LocalRayCluster:
    """One RayCluster of the RayJob's spec on this machine: started in a process of its own, ended with every
    process it started."""

    def __init__(self, spec: dict[str, Any], *, python: Path, env: dict[str, str], work: Path) -> None:
        head = spec["headGroupSpec"]["rayStartParams"]
        (group,) = spec["workerGroupSpecs"]
        assert group["rayStartParams"] == {}, "the worker nodes take what their pod's limits give them"
        self.spec = {
            "head": {
                **_ray_params(head),
                "include_dashboard": True,
                "dashboard_port": free_port(),
                "object_store_memory": 200 * 2**20,
            },
            # Two of the group's pods, each with what one pod of this machine can have.
            "workers": [{"num_cpus": 2, "num_gpus": 0, "object_store_memory": 200 * 2**20}] * 2,
        }
        work.mkdir(parents=True)
        (work / "spec.json").write_text(json.dumps(self.spec))
        self.ready_file = work / "ready.json"
        self.owned = Owned()
        self.proc = subprocess.Popen(
            [
                str(python),
                str(Path(__file__).with_name("local_raycluster.py")),
                str(work / "spec.json"),
                str(self.ready_file),
            ],
            env=env,
            cwd=work,
            stdout=open(work / "cluster.log", "w"),  # noqa: SIM115 - the cluster's own log, kept with it
            stderr=subprocess.STDOUT,
        )

    def wait_ready(self, timeout: float = 180) -> dict[str, str]:
        deadline = time.monotonic() + timeout
        while not self.ready_file.exists():
            assert self.proc.poll() is None, (self.ready_file.parent / "cluster.log").read_text()[-3000:]
            assert time.monotonic() < deadline, "the cluster did not start"
            time.sleep(1)
        return json.loads(self.ready_file.read_text())

    def kill(self) -> int:
        """Every process of the cluster, SIGKILLed at once (a deleted RayCluster's pods); return how many."""
        procs = self.owned.find()
        for proc in procs:
            try:
                proc.send_signal(signal.SIGKILL)
            except Exception:  # noqa: BLE001 - gone already
                pass
        self.proc.wait(timeout=30)
        self.owned.wait_gone(grace=30)
        return len(procs)


def _outside(bin_dir: Path, env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    """A `sweep` command from a laptop: the wheel's, with the storage's credentials and no Ray."""
    return subprocess.run([str(bin_dir / "sweep"), *args], env=env, capture_output=True, text=True, timeout=300)


def _status(bin_dir: Path, env: dict[str, str], location: str) -> list[dict[str, Any]] | None:
    done = _outside(bin_dir, env, "status", location, "--format", "json")
    return json.loads(done.stdout) if done.returncode == 0 else None


def test_the_rayjob_runs_its_study_and_a_retry_on_a_new_cluster_resumes_it(tmp_path: Path) -> None:
    entrypoint, cluster_spec = _manifest()
    assert cluster_spec["authOptions"]["mode"] == "token"
    bin_dir = install(build_wheel(tmp_path / "dist"), tmp_path / "env")
    mirror = _mirror(tmp_path / "data", entrypoint)
    words = entrypoint.replace("s3://your-bucket/", f"s3://{BUCKET}/").replace("=/data/", f"={mirror}/").split()
    first_option = next(i for i, w in enumerate(words) if w.startswith("--"))
    command = " ".join([*words[:first_option], *SIZE, *words[first_option:]])  # the size beside the overrides
    location = f"s3://{BUCKET}/sweeps/xstilts-1"
    assert f"--storage s3://{BUCKET}/sweeps --name xstilts-1" in command

    token = secrets.token_hex(32)
    home = tmp_path / "home"
    home.mkdir()
    with s3_endpoint(BUCKET) as s3:
        base = {k: v for k, v in os.environ.items() if not k.startswith(("RAY_", "VIRTUAL_ENV", "PYTHONPATH"))}
        laptop = {**base, **s3, "HOME": str(home), "PATH": f"{bin_dir}:{base['PATH']}"}
        # What KubeRay gives every pod: the token (authOptions), and the bucket's credentials (the service account).
        pod = {**laptop, "RAY_AUTH_MODE": "token", "RAY_AUTH_TOKEN": token}
        clusters: list[LocalRayCluster] = []
        tally: dict[str, Any] = {}
        try:
            # Attempt 1, killed with the study half done.
            clusters.append(LocalRayCluster(cluster_spec, python=bin_dir / "python", env=pod, work=tmp_path / "c1"))
            address = _submit(clusters[-1], bin_dir, pod, command, "xstilts-1-attempt-1")
            job = (bin_dir, pod, address, "xstilts-1-attempt-1")
            states = _follow(bin_dir, laptop, location, job, until=lambda s: "done" in s and set(s) != {"done"})
            tally["states at the kill"] = states
            tally["processes killed"] = clusters[-1].kill()
            assert set(states) != {"done"}, "the study ended before the kill; make it longer"

            # Attempt 2: a new cluster, the same entrypoint.
            clusters.append(LocalRayCluster(cluster_spec, python=bin_dir / "python", env=pod, work=tmp_path / "c2"))
            address = _submit(clusters[-1], bin_dir, pod, command, "xstilts-1-attempt-2")
            status = _wait_job(bin_dir, pod, address, "xstilts-1-attempt-2", timeout=900)
            logs = _ray_job(bin_dir, pod, address, "logs", "xstilts-1-attempt-2")
            assert status == "SUCCEEDED", logs[-4000:]
            assert f"{location} holds this sweep already: resuming it" in logs
        finally:
            for cluster in clusters:
                if cluster.proc.poll() is None:
                    cluster.kill()

        # From outside the cluster, on S3 alone: every search done, every trial attempt's rows exactly once.
        final = _status(bin_dir, laptop, location)
        assert final is not None and {r["state"] for r in final} == {"done"}, final
        assert {r["search"] for r in final} == {"intermediate-mnli", "target-none-xnli", "target-mnli-xnli"}
        columns = "search,trial_id,attempt,phase,step,split,language,metric,value"
        rows = json.loads(_outside(bin_dir, laptop, "query", location, "--columns", columns, "--format", "json").stdout)
        keys = [tuple(r[c] for c in columns.split(",")[:-1]) for r in rows]
        assert keys and len(keys) == len(set(keys)), "a row recorded twice"
        tested = {(r["search"], r["language"]) for r in rows if r["split"] == "test"}
        assert {("target-mnli-xnli", "de"), ("target-none-xnli", "de")} <= tested
        matrix = json.loads(_outside(bin_dir, laptop, "query", location, "--pivot", "--format", "json").stdout)
        assert {r["intermediate"] for r in matrix} == {"none", "mnli"}
        tally["rows"] = len(rows)
        print(f"rehearsal: {tally}")


def _ray_job(bin_dir: Path, pod: dict[str, str], address: str, *args: str) -> str:
    """``ray job ...`` as KubeRay's submitter runs it (``ray job submit --address http://<head-svc>:8265``), with
    the cluster's token in its environment, from the wheel's environment."""
    done = subprocess.run(
        [str(bin_dir / "python"), "-m", "ray.scripts.scripts", "job", args[0], "--address", address, *args[1:]],
        env=pod,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    return done.stdout + done.stderr  # Ray's CLI writes its status lines to stderr


def _submit(cluster: LocalRayCluster, bin_dir: Path, pod: dict[str, str], command: str, submission_id: str) -> str:
    """Submit as KubeRay's submitter does, which its Job retries: the head's dashboard may answer before its
    agent can take jobs ("No available agent to submit job, please try again later")."""
    import time

    address = cluster.wait_ready()["dashboard"]
    submit = ["job", "submit", "--address", address, "--submission-id", submission_id, "--no-wait", "--"]
    deadline = time.monotonic() + 180
    while True:
        done = subprocess.run(
            [str(bin_dir / "python"), "-m", "ray.scripts.scripts", *submit, *command.split()],
            env=pod,
            capture_output=True,
            text=True,
            timeout=300,
        )
        if done.returncode == 0:
            return address
        if "No available agent" not in done.stderr or time.monotonic() > deadline:
            raise AssertionError(done.stdout[-3000:] + done.stderr[-3000:])
        time.sleep(5)


def _ended(bin_dir: Path, pod: dict[str, str], address: str, submission_id: str) -> str | None:
    """The job's final status (SUCCEEDED, FAILED or STOPPED), or None while it runs: asked of the Jobs API as
    the operator asks it (``GET /api/jobs/<id>``), with the token; the CLI's ``ray job status`` words a success
    as "Job '...' succeeded" and is no interface to parse."""
    ask = (
        "import sys; from ray.job_submission import JobSubmissionClient; "
        "print(JobSubmissionClient(sys.argv[1]).get_job_status(sys.argv[2]).value)"
    )
    done = subprocess.run(
        [str(bin_dir / "python"), "-c", ask, address, submission_id],
        env=pod,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    status = done.stdout.strip().splitlines()[-1]
    return status if status in ("SUCCEEDED", "FAILED", "STOPPED") else None


def _wait_job(bin_dir: Path, pod: dict[str, str], address: str, submission_id: str, *, timeout: float) -> str:
    """Wait for the job to end; return its final status."""
    deadline = time.monotonic() + timeout
    while (status := _ended(bin_dir, pod, address, submission_id)) is None:
        assert time.monotonic() < deadline, _ray_job(bin_dir, pod, address, "logs", submission_id)[-4000:]
        time.sleep(3)
    return status


def _follow(
    bin_dir: Path, env: dict[str, str], location: str, job: tuple[Any, ...], *, until: Any, timeout: float = 900
) -> list[str]:
    """Poll `sweep status` from outside until ``until(states)``; return the searches' states then. The job
    ending first fails the test with its log."""
    deadline = time.monotonic() + timeout
    while True:
        rows = _status(bin_dir, env, location)
        states = [r["state"] for r in rows] if rows else []
        if states and until(states):
            return states
        if _ended(*job):
            raise AssertionError(_ray_job(*job[:3], "logs", job[3])[-4000:])
        assert time.monotonic() < deadline, f"the study did not get there: {states}"
        time.sleep(2)
