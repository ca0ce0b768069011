"""A sweep on shared storage (S3), against a real S3-compatible server started on 127.0.0.1 (moto's server
mode): launch, kill -9 of the driver, resume and read, all through ``s3://``, with nothing of the sweep
left on this machine's disk but working copies."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import psutil
import pytest

from tests.integration.conftest import MINI, QUICKSTART, ROOT, run_sweep, sweep_cmd
from tests.kept import kept as rows_kept

pytestmark = pytest.mark.integration
BUCKET = "xstilts-test"
# The pair's trials run every epoch (no early stopping) and more of them, to be killed while one runs.
LONGER_PAIRS = [*MINI, "target.epochs=6", "search.scheduler=fifo"]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def s3() -> Iterator[dict[str, str]]:
    """An S3 endpoint on 127.0.0.1 with an empty bucket; the environment that points clients at it."""
    moto = pytest.importorskip("moto.server", reason="moto[server] is installed by the project's setup")
    port = _free_port()
    server = moto.ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    env = {
        "AWS_ENDPOINT_URL": f"http://127.0.0.1:{port}",
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_EC2_METADATA_DISABLED": "true",
    }
    saved = {k: os.environ.get(k) for k in env}
    os.environ.update(env)  # for the reads this test makes itself
    try:
        import pyarrow.fs as pafs

        pafs.S3FileSystem(endpoint_override=env["AWS_ENDPOINT_URL"], allow_bucket_creation=True).create_dir(BUCKET)
        yield env
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
        server.stop()


def _fs() -> object:
    import pyarrow.fs as pafs

    return pafs.FileSystem.from_uri(f"s3://{BUCKET}")[0]


def _names(prefix: str) -> list[str]:
    import pyarrow.fs as pafs

    selector = pafs.FileSelector(f"{BUCKET}/{prefix}", recursive=True, allow_not_found=True)
    return [i.path for i in _fs().get_file_info(selector) if i.type == pafs.FileType.File]


def _objects(prefix: str) -> dict[str, bytes]:
    fs = _fs()
    out = {}
    for path in _names(prefix):
        try:
            with fs.open_input_stream(path) as f:
                out[path.removeprefix(f"{BUCKET}/")] = f.read()
        except OSError:  # a checkpoint Tune deleted meanwhile (it keeps the best two)
            continue
    return out


def _reported_pair_trial(prefix: str) -> bool:
    """A trial of the pair has reported (its journal is on S3) and has not ended (no results file)."""
    names = {n.removeprefix(f"{BUCKET}/") for n in _names(prefix)}
    journals = [n for n in names if "/journal/target-toy_nli-toy_order/" in n]
    return any(
        not any(r.startswith(j.replace("/journal/", "/results/").removesuffix(".jsonl") + ".a") for r in names)
        for j in journals
    )


@pytest.mark.slow  # 90 s: runs with `make test-all`, keeping `make test` within its 15 minutes on a fresh machine
def test_launch_kill_resume_and_query_through_s3(s3: dict[str, str], tmp_path: Path) -> None:
    location = f"s3://{BUCKET}/sweeps/shared"
    env = {**os.environ, **s3, "PYTHONUNBUFFERED": "1"}
    log = (tmp_path / "launch.log").open("w")
    driver = subprocess.Popen(
        sweep_cmd("launch", str(QUICKSTART), *LONGER_PAIRS, "--name", "shared", "--storage", f"s3://{BUCKET}/sweeps"),
        cwd=ROOT,
        stdout=log,
        stderr=subprocess.STDOUT,
        env=env,
    )
    deadline = time.monotonic() + 300
    while not _reported_pair_trial("sweeps/shared"):
        assert driver.poll() is None, (tmp_path / "launch.log").read_text()[-3000:]
        assert time.monotonic() < deadline, "no trial of the pair reported in time"
        time.sleep(0.2)
    before = {k: v for k, v in _objects("sweeps/shared").items() if "/results/" in k}
    procs = [psutil.Process(driver.pid), *psutil.Process(driver.pid).children(recursive=True)]
    for proc in procs:
        proc.send_signal(signal.SIGKILL)
    psutil.wait_procs(procs, timeout=30)
    assert before, "the kill should come after some trials finished"

    status = run_sweep("status", location, env=s3)
    assert status.returncode == 0, status.stderr
    assert "intermediate-toy_nli" in status.stdout and "driver: not running" in status.stdout

    resumed = run_sweep("resume", location, env=s3)
    assert resumed.returncode == 0, resumed.stdout[-3000:] + resumed.stderr[-3000:]
    assert "already finished, kept: toy_nli" in resumed.stdout

    stored = _objects("sweeps/shared")
    # Results written before the kill were not written again (or merged whole into their search's compacted
    # file once it finished); every trial is in the table once.
    for key, data in before.items():
        prefix, name = key.rsplit("/", 1)
        folder = {k.rsplit("/", 1)[1]: v for k, v in stored.items() if k.rsplit("/", 1)[0] == prefix}
        assert rows_kept(name, data, stored.get(key), folder), key
    columns = "search,trial_id,attempt,status,step,split,language,metric,error"
    rows = json.loads(run_sweep("query", location, "--columns", columns, "--format", "json", env=s3).stdout)
    finished = {(r["search"], r["trial_id"]) for r in rows if r["status"] in ("completed", "stopped")}
    assert {s for s, _ in finished} == {"intermediate-toy_nli", "target-none-toy_order", "target-toy_nli-toy_order"}
    unfinished = sorted(
        {(r["search"], r["trial_id"], r["attempt"], r["status"]) for r in rows if r["status"] != "completed"}
    )
    assert len(finished) == 2 + 3 + 3, (unfinished, resumed.stdout[-2000:], resumed.stderr[-3000:])
    keys = [(r["trial_id"], r["attempt"], r["step"], r["split"], r["language"], r["metric"]) for r in rows]
    assert len(keys) == len(set(keys)), "a row was recorded twice"
    # Everything lives on S3: the config, the manifest, the results, the encoder and Tune's run.
    assert {
        "sweeps/shared/config.yaml",
        "sweeps/shared/manifest.json",
        "sweeps/shared/encoders/toy_nli/encoder/model.safetensors",
    } <= set(stored)
    assert any(k.startswith("sweeps/shared/tune/study/") for k in stored)
    manifest = json.loads(stored["sweeps/shared/manifest.json"])
    assert {s["state"] for s in manifest["searches"].values()} == {"done"}

    pivot = run_sweep("query", location, "--pivot", "--format", "json", env=s3)
    assert pivot.returncode == 0 and {row["intermediate"] for row in json.loads(pivot.stdout)} == {"none", "toy_nli"}
    out = tmp_path / "submission"
    exported = run_sweep("export-predictions", location, "--out", str(out), env=s3)
    assert exported.returncode == 0, exported.stderr
    assert sorted(p.name for p in (out / "toy_nli" / "toy_order").iterdir()) == [
        "test-de.tsv",
        "test-en.tsv",
        "test-sw.tsv",
    ]


def _encoder_dir(tmp_path: Path) -> Path:
    import torch

    from trainers.encoder_io import write_encoder

    write_encoder({"w": torch.zeros(2)}, tmp_path / "lost")
    return tmp_path / "lost"


def test_a_checkpoint_store_on_s3_keeps_whole_entries_and_one_lease_holder(
    s3: dict[str, str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The store's contract where there are no locks: an entry is read only once its record is there,
    and of two drivers wanting one entry's lease only one gets it until it releases it or its note lapses."""
    import pyarrow as pa
    import torch

    from sweep.errors import SweepStateError
    from sweep.storage import lease as lease_module
    from sweep.storage import store as store_module
    from sweep.storage.store import CheckpointStore
    from trainers.encoder_io import read_encoder, write_encoder

    monkeypatch.setattr(store_module, "LEASE_SETTLE_S", 0.2)
    store = CheckpointStore(f"s3://{BUCKET}/store")
    store.check()
    first, second = store.lease("k", holder={"sweep": "a"}), store.lease("k", holder={"sweep": "b"})
    assert first.acquire() and not second.acquire()
    assert store.holder("k").startswith("sweep a (process ")
    first.release()
    assert second.acquire() and not first.acquire()
    second._renewal.stop()  # its driver died: the note is no longer renewed ...
    note = json.loads(_objects("store/locks")["store/locks/k.json"])
    note["noted_at"] -= lease_module.LEASE_S + 1  # ... and lapses
    with _fs().open_output_stream(f"{BUCKET}/store/locks/k.json") as out:
        out.write(json.dumps(note).encode())
    assert first.acquire() and not second.valid()
    second.held = True  # as a stalled driver that never saw its renewal fail would think
    with pytest.raises(SweepStateError, match="taken over while publishing"):
        store.publish("k", encoder=_encoder_dir(tmp_path), rows=pa.table({"v": [1]}), record={}, lease=second)
    assert store.entry("k") is None

    write_encoder({"w": torch.arange(4.0)}, tmp_path / "encoder")
    rows = pa.table({"search": ["s"], "value": [0.25]})
    with _fs().open_output_stream(f"{BUCKET}/store/entries/k/0badc0ffee/encoder/model.safetensors") as out:
        out.write(b"what a killed publisher left")
    assert store.entry("k") is None
    assert store.publish(
        "k", encoder=tmp_path / "encoder", rows=rows, record={"best": {"objective": 0.25}}, lease=first
    )
    entry = store.entry("k")
    assert entry["best"] == {"objective": 0.25} and store.rows(entry).equals(rows)
    assert torch.equal(read_encoder(store.encoder_location(entry))["w"], torch.arange(4.0))
    assert [e["key"] for e in store.entries()] == ["k"]
    assert store.unreferenced() == [f"s3://{BUCKET}/store/entries/k/0badc0ffee"]
    assert not store.publish("k", encoder=tmp_path / "encoder", rows=rows, record={}, lease=first)  # the first wins
    first.release()


@pytest.mark.slow
def test_studies_share_stage_one_through_a_store_on_s3(s3: dict[str, str], tmp_path: Path) -> None:
    small = ["intermediate.num_samples=1", "target.num_samples=1", "target.epochs=1", "baseline=false"]
    store = f"checkpoint_store=s3://{BUCKET}/shared-store"
    outputs = []
    for name, target in (("trains", "toy_order"), ("reuses", "toy_paws")):
        done = run_sweep(
            "launch", str(QUICKSTART), *MINI, *small, store, f"target_tasks=[{target}]", "--name", name,
            "--storage", str(tmp_path), env=s3,
        )  # fmt: skip
        assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
        outputs.append(done.stdout)
    assert "added to the checkpoint store as toy_nli-" in outputs[0]
    assert "reused from the checkpoint store (toy_nli-" in outputs[1]
    encoder = json.loads((tmp_path / "reuses" / "manifest.json").read_text())["searches"]["intermediate-toy_nli"]
    assert encoder["encoder"].startswith(f"s3://{BUCKET}/shared-store/entries/toy_nli-")
    pair = json.loads((tmp_path / "reuses" / "manifest.json").read_text())["searches"]["target-toy_nli-toy_paws"]
    assert pair["state"] == "done"
