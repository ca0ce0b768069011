"""Tests for sweep.storage.publisher: retries with backoff, a background publisher that keeps the order of
what it was given, and a sweep published whole through a network that resets and delays requests."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest

from sweep.errors import StorageError
from sweep.storage import publisher
from sweep.storage.publisher import Publisher, with_retries


def test_transient_errors_are_retried_with_growing_backoff_and_permanent_ones_are_not() -> None:
    calls: list[int] = []
    waits: list[float] = []

    def flaky() -> str:
        calls.append(1)
        if len(calls) < 4:
            raise ConnectionResetError("Connection reset by peer")
        return "stored"

    before = publisher.TALLY.retried
    assert with_retries(flaky, what="uploading x", sleep=waits.append) == "stored"
    assert len(calls) == 4 and publisher.TALLY.retried - before == 3
    for wait, base in zip(waits, (0.2, 0.4, 0.8), strict=True):  # doubling, each times a random 0.5-1
        assert base / 2 <= wait <= base

    def denied() -> None:
        calls.append(1)
        raise OSError("When uploading to s3://b/k: AWS Error ACCESS_DENIED during PutObject operation")

    calls.clear()
    with pytest.raises(StorageError, match=r"uploading s3://b/k failed \(.*ACCESS_DENIED.*credentials.*sweep resume"):
        with_retries(denied, what="uploading s3://b/k", sleep=waits.append)
    assert len(calls) == 1  # no retry mends it

    def down() -> None:
        raise TimeoutError("timed out")

    with pytest.raises(StorageError, match="failed after 3 tries"):
        with_retries(down, what="deleting y", tries=3, sleep=lambda s: None)


def test_the_publisher_keeps_the_order_and_runs_nothing_after_a_failure() -> None:
    done: list[int] = []
    gate = threading.Event()
    p = Publisher(bound=4)
    p.submit("first", lambda: (gate.wait(10), done.append(1)))
    for i in (2, 3):
        p.submit(f"op {i}", lambda i=i: done.append(i))
    assert done == []  # queued, not run on the submitting thread
    gate.set()
    p.flush()
    assert done == [1, 2, 3] and p.done == 3

    def broken() -> None:
        raise PermissionError("denied")

    p.submit("uploading the merged file", broken)
    p.submit("deleting what it covers", lambda: done.append(4))
    with pytest.raises(StorageError, match="uploading the merged file failed"):
        p.flush()
    assert done == [1, 2, 3]  # the delete never ran: storage keeps a prefix of the operations
    with pytest.raises(StorageError):
        p.submit("later", lambda: done.append(5))
    with pytest.raises(StorageError):
        p.close()


def test_a_sweep_publishes_whole_through_a_network_that_resets_and_delays_requests(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """moto's S3 behind a proxy that resets 25% of requests and delays 20% more: every results file, journal
    part and delete reaches storage, in order, and the resets are survived (by the storage client's own
    retries and by ``with_retries``)."""
    import pyarrow.fs as pafs

    from sweep.storage import layout
    from sweep.storage.journal import TrialJournal
    from tests.faultproxy import FaultProxy
    from tests.s3 import s3_endpoint

    with s3_endpoint("published") as env:
        for key, value in env.items():
            monkeypatch.setenv(key, value)
        upstream = int(env["AWS_ENDPOINT_URL"].rsplit(":", 1)[1])
        with FaultProxy(upstream, reset=0.25, delay=0.2, delay_s=0.02, seed=7) as proxy:
            monkeypatch.setenv("AWS_ENDPOINT_URL", proxy.endpoint)
            monkeypatch.setattr(publisher, "TRIES", 12)  # a reset on any request: allow a long streak
            sweep = layout.SweepDir(tmp_path / "local", remote="s3://published/s")
            journal = TrialJournal(sweep.journal, publish=sweep.publish_now, publish_part=sweep.publish_bytes)
            written = {}
            with layout.publishing(sweep):
                for i in range(12):
                    path = sweep.results / "search" / f"t{i}.a0.parquet"
                    path.parent.mkdir(parents=True, exist_ok=True)
                    path.write_bytes(f"rows of {i}".encode() * 50)
                    sweep.publish(path)
                    written[f"results/search/t{i}.a0.parquet"] = path.read_bytes()
                    journal.append(search="search", trial_id=f"t{i}", record={"attempt": 0, "step": 1})
                for i in range(0, 12, 3):  # deletes queued after the uploads they follow
                    sweep.unpublish(sweep.results / "search" / f"t{i}.a0.parquet")
                    del written[f"results/search/t{i}.a0.parquet"]
            faults = proxy.faults
        # Read straight from the server, not through the proxy.
        fs = pafs.S3FileSystem(endpoint_override=env["AWS_ENDPOINT_URL"], access_key="testing", secret_key="testing")
        found = {}
        for info in fs.get_file_info(pafs.FileSelector("published/s/results", recursive=True)):
            if info.type == pafs.FileType.File:
                with fs.open_input_stream(info.path) as f:
                    found[info.path.removeprefix("published/s/")] = f.read()
        parts = [i for i in fs.get_file_info(pafs.FileSelector("published/s/journal", recursive=True)) if i.size]
    assert found == written
    assert len(parts) == 12
    assert faults.resets >= 5 and faults.delays >= 3, faults


@pytest.mark.slow  # 20 s of retries through the proxy
def test_copies_to_shared_storage_raise_or_arrive_whole(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """pyarrow's copy_files (what Tune and Train upload checkpoints with) can drop a file whose upload fails
    and return as if it had not (seen in the chaos test); the checked copy xstilts installs raises on a failed
    upload and retries it, so through a network that resets 15% of requests every file arrives whole."""
    import logging
    import os

    import pyarrow.fs as pafs

    from sweep.storage.publisher import checked_copy_files
    from tests.faultproxy import FaultProxy
    from tests.s3 import s3_endpoint

    logging.getLogger("werkzeug").setLevel(logging.CRITICAL)
    checkpoint = tmp_path / "checkpoint_000002"
    (checkpoint / "checkpoint").mkdir(parents=True)
    files = {"checkpoint/optim_states.pt": os.urandom(600_000), "trainer_state.json": b"{}"}
    for name, data in files.items():
        (checkpoint / name).write_bytes(data)
    monkeypatch.setattr(publisher, "TRIES", 20)
    with s3_endpoint("ckpt") as env:
        keys = {"access_key": "testing", "secret_key": "testing"}
        direct = pafs.S3FileSystem(endpoint_override=env["AWS_ENDPOINT_URL"], **keys)
        upstream = int(env["AWS_ENDPOINT_URL"].rsplit(":", 1)[1])
        with FaultProxy(upstream, reset=0.15, seed=1) as proxy:
            flaky = pafs.S3FileSystem(endpoint_override=proxy.endpoint, **keys)
            for i in range(4):
                checked_copy_files(str(checkpoint), f"ckpt/checked{i}", destination_filesystem=flaky)
            resets = proxy.faults.resets

        def stored(prefix: str) -> dict[str, bytes]:
            found = {}
            for info in direct.get_file_info(pafs.FileSelector(f"ckpt/{prefix}", recursive=True)):
                if info.type == pafs.FileType.File:
                    with direct.open_input_stream(info.path) as f:
                        found[info.path.split("/", 2)[2]] = f.read()
            return found

        assert all(stored(f"checked{i}") == files for i in range(4))
    assert resets > 0
    with pytest.raises(FileNotFoundError):
        checked_copy_files(str(tmp_path / "missing"), "ckpt/x", destination_filesystem=direct)
