"""Chaos: a study of 15 searches on a three-node Ray cluster, its storage on S3 behind a network that resets
and delays requests, while worker nodes are killed (and replaced) and the driver is killed with SIGKILL twice
and resumed. Afterwards the study is complete, every trial attempt's rows are on S3 exactly once, nothing is
half-written there, and every search's recorded result is what its rows select. The test prints its tally.

Everything runs on 127.0.0.1: Ray's nodes (``ray.cluster_utils.Cluster``), moto's S3 server and the fault
proxy in front of it. Every process is ended by pid (the nodes by the cluster, the drivers by this test).
"""

from __future__ import annotations

import json
import os
import random
import re
import subprocess
import time
from collections.abc import Callable
from pathlib import Path

import psutil
import pytest

from tests.integration.conftest import QUICKSTART, ROOT, sweep_cmd
from tests.integration.test_resume_after_kill import _kill_tree

pytestmark = [pytest.mark.integration, pytest.mark.slow]

BUCKET = "chaos"
STUDY = [
    "intermediate_tasks=[toy_nli,toy_topic,toy_paws]",
    "target_tasks=[toy_order,toy_paws,toy_choice]",
    "languages=[en,de]",
    "search.scheduler=fifo",  # every trial runs every epoch: kills land in running trials
    "intermediate.epochs=3",
    "intermediate.num_samples=1",
    "target.epochs=2",
    "target.num_samples=1",
    "training.max_train_examples=300",
    "training.max_eval_examples=60",
    # Lost nodes count against it (Tune cannot tell them from a crash: docs/cluster.md): room for them.
    "resources.max_failures=4",
    "resources.max_concurrent_trials=3",
]
SEARCHES = 15  # 3 stage ones, 3 baselines, 9 pairs


def _trials_under(pid: int) -> list[psutil.Process]:
    from tests.integration.test_node_loss import _trial_processes

    try:
        return _trial_processes(pid)
    except psutil.Error:
        return []


def test_a_study_survives_node_kills_driver_kills_and_a_flaky_object_store(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    import pyarrow.dataset as ds
    import pyarrow.fs as pafs
    from ray.cluster_utils import Cluster

    from cluster.ray_compat import keep_nodes_on_loopback
    from tests.faultproxy import FaultProxy
    from tests.s3 import s3_endpoint

    rng = random.Random(22)
    tally = {"node kills": 0, "nodes added": 0, "driver kills": 0, "resumes": 0}
    started = time.monotonic()
    with s3_endpoint(BUCKET) as env:
        keys = {"access_key": "testing", "secret_key": "testing"}
        direct = pafs.S3FileSystem(endpoint_override=env["AWS_ENDPOINT_URL"], **keys)
        upstream = int(env["AWS_ENDPOINT_URL"].rsplit(":", 1)[1])
        with FaultProxy(upstream, reset=0.05, delay=0.2, delay_s=0.03, seed=22) as proxy:
            # Every process of the study (nodes, trials, drivers) reaches S3 through the proxy only.
            for key, value in {**env, "AWS_ENDPOINT_URL": proxy.endpoint}.items():
                monkeypatch.setenv(key, value)
            monkeypatch.setenv("RAY_AUTH_MODE", "disabled")  # this test is about faults, not tokens
            keep_nodes_on_loopback()
            cluster = Cluster(initialize_head=True, head_node_args={"num_cpus": 1, "include_dashboard": False})
            drivers: list[subprocess.Popen] = []
            try:
                workers = [cluster.add_node(num_cpus=1) for _ in range(2)]
                cluster.wait_for_nodes()
                location = f"s3://{BUCKET}/sweeps/chaos"

                def start(*args: str, name: str) -> subprocess.Popen:
                    log = (tmp_path / f"{name}.log").open("w")
                    driver = subprocess.Popen(
                        sweep_cmd(*args, "--address", cluster.address),
                        cwd=ROOT,
                        stdout=log,
                        stderr=subprocess.STDOUT,
                        env={**os.environ, "PYTHONUNBUFFERED": "1"},
                    )
                    drivers.append(driver)
                    return driver

                def done_searches() -> int:
                    try:
                        with direct.open_input_stream(f"{BUCKET}/sweeps/chaos/manifest.json") as f:
                            manifest = json.loads(f.read())
                    except (OSError, ValueError):
                        return 0
                    return sum(s["state"] == "done" for s in manifest["searches"].values())

                def wait(until: Callable[[], bool], driver: subprocess.Popen, what: str) -> None:
                    deadline = time.monotonic() + 300
                    while not until():
                        assert driver.poll() is None, f"the driver ended before {what}: " + _tail(tmp_path)
                        assert time.monotonic() < deadline, f"{what} did not come in time: " + _tail(tmp_path)
                        time.sleep(0.3)

                def kill_a_node(driver: subprocess.Popen) -> None:
                    """Kill a worker node that runs a trial, by its processes' pids, then add a fresh one."""
                    busy: list = []

                    def some_node_busy() -> bool:
                        busy[:] = [w for w in workers if _trials_under(w.all_processes["raylet"][0].process.pid)]
                        return bool(busy)

                    wait(some_node_busy, driver, "a trial on a worker node")
                    victim = rng.choice(busy)
                    cluster.remove_node(victim, allow_graceful=False)
                    workers.remove(victim)
                    tally["node kills"] += 1
                    workers.append(cluster.add_node(num_cpus=1))
                    tally["nodes added"] += 1

                def kill_the_driver(driver: subprocess.Popen) -> None:
                    _kill_tree(driver.pid)
                    driver.wait(timeout=30)
                    tally["driver kills"] += 1

                storage = f"s3://{BUCKET}/sweeps"
                driver = start("launch", str(QUICKSTART), *STUDY, "--name", "chaos", "--storage", storage, name="d0")
                kill_a_node(driver)
                wait(lambda: done_searches() >= 3, driver, "three searches done")
                kill_the_driver(driver)

                driver = start("resume", location, name="d1")
                tally["resumes"] += 1
                kill_a_node(driver)
                wait(lambda: done_searches() >= 8, driver, "eight searches done")
                kill_the_driver(driver)

                driver = start("resume", location, name="d2")
                tally["resumes"] += 1
                assert driver.wait(timeout=900) == 0, _tail(tmp_path)
            finally:
                for driver in drivers:
                    if driver.poll() is None:
                        _kill_tree(driver.pid)
                cluster.shutdown()
            faults = proxy.faults
        minutes = (time.monotonic() - started) / 60

        # ---- what is on S3, read straight from the server
        names = [
            i.path.removeprefix(f"{BUCKET}/sweeps/chaos/")
            for i in direct.get_file_info(pafs.FileSelector(f"{BUCKET}/sweeps/chaos", recursive=True))
            if i.type == pafs.FileType.File
        ]
        results = [n for n in names if n.startswith("results/")]
        # No pending merge, no temporary file: nothing half-written.
        whole = re.compile(r"results/[^/.][^/]*/(search\.c\d+|[^./]+\.a\d+)\.parquet")
        assert results and not [n for n in results if not whole.fullmatch(n)], results
        assert not [n for n in names if n.startswith("journal/") and ".parts/" in n]  # every attempt sealed
        plain = ds.dataset(f"{BUCKET}/sweeps/chaos/results", filesystem=direct, format="parquet").to_table()
        with direct.open_input_stream(f"{BUCKET}/sweeps/chaos/manifest.json") as f:
            manifest = json.loads(f.read())

    rows = plain.to_pylist()
    keys = [(r["search"], r["trial_id"], r["attempt"], r["step"], r["split"], r["language"], r["metric"]) for r in rows]
    assert len(keys) == len(set(keys)), "a row is on S3 twice"
    assert len(manifest["searches"]) == SEARCHES
    assert {s["state"] for s in manifest["searches"].values()} == {"done"}, manifest["searches"]
    ended: dict[tuple[str, str], list[tuple[int, str]]] = {}
    for r in rows:
        if r["metric"] in ("objective", "error"):
            ended.setdefault((r["search"], r["trial_id"]), []).append((r["attempt"], r["status"]))
    finished = {}
    for (search, trial), attempts in ended.items():
        won = {a for a, status in attempts if status in ("completed", "stopped")}
        assert len(won) == 1, f"{search} trial {trial} finished in attempts {won}"
        finished[search] = finished.get(search, 0) + 1
    assert finished == {s: 1 for s in manifest["searches"]}, finished

    # Every search's recorded result is what its rows select: the best dev objective, its test scores.
    for search, entry in manifest["searches"].items():
        own = [r for r in rows if r["search"] == search]
        objective = max(r["value"] for r in own if r["metric"] == "objective" and r["split"] == "dev")
        assert entry["best"]["objective"] == pytest.approx(objective), search
        if "test" in entry:
            best = entry["best"]
            at = [
                r["value"]
                for r in own
                if (r["trial_id"], r["attempt"], r["step"]) == (best["trial_id"], best["attempt"], best["step"])
                and r["split"] == "test"
                and r["metric"] == entry["test"]["metric"]
            ]
            assert entry["test"]["mean"] == pytest.approx(sum(at) / len(at)), search

    errored: dict[tuple[str, int], float] = {}  # each lost attempt: how long it had trained when lost
    for r in rows:
        if r["status"] == "errored":
            key = (r["trial_id"], r["attempt"])
            errored[key] = max(errored.get(key, 0.0), r["wall_s"] or 0.0)
    retried = [line for p in sorted(tmp_path.glob("d*.log")) for line in p.read_text().splitlines()]
    storage = [line for line in retried if line.startswith("shared storage: ")]
    with capsys.disabled():  # shown in every run, `make test-all` included, not only with -s
        print(
            f"\nchaos tally ({minutes:.1f} min): {tally['node kills']} worker nodes killed and "
            f"{tally['nodes added']} added, the driver killed {tally['driver kills']} times (kill -9) and resumed "
            f"{tally['resumes']} times; {len(errored)} trial attempts errored and were retried, "
            f"{sum(errored.values()):.0f} trial-seconds of training in them lost to faults; the proxy reset "
            f"{faults.resets} of {faults.chunks} requests and delayed {faults.delays}, all survived"
            + (f"; drivers' own retries: {'; '.join(storage)}" if storage else "; no request needed xstilts' retries")
        )

    # The first node's loss was seen by the first driver, which retried its trial (it ran on for 3 searches).
    first = (tmp_path / "d0.log").read_text()
    assert "failed; retrying from its last checkpoint" in first, first[-3000:]
    assert faults.resets > 0


def _tail(folder: Path) -> str:
    logs = sorted(folder.glob("d*.log"))
    return "".join(f"\n--- {p.name}\n{p.read_text()[-2500:]}" for p in logs)
