"""Stage one shared by studies through a checkpoint store (``checkpoint_store:``), through `sweep launch`:
a later study that needs the same stage one reuses it (rows marked reused, pairs starting from the store's
encoder), a half-written entry is never taken for done, and a sweep that finds another one training the
entry waits and reuses it; if that one dies without publishing, it trains the entry itself."""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import subprocess
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pyarrow.dataset as ds
import pytest

from tests.integration.conftest import QUICKSTART, ROOT, run_sweep, sweep_cmd
from tests.integration.encoders import checkpoint_rows, encoder_rows, unseen_rows
from tests.leases import lease_held

pytestmark = pytest.mark.integration

STAGE_ONE = [  # what decides stage one: the same in every sweep below
    "intermediate_tasks=[toy_nli]",
    "intermediate.epochs=1",
    "intermediate.num_samples=2",
    "search.scheduler=fifo",
    "training.max_train_examples=600",
]
PAIRS = [
    "languages=[en,de,sw]",
    "baseline=false",
    "target.epochs=1",
    "target.num_samples=1",
    # No weight decay: rows of words the target never trains keep their starting values (tests.integration.encoders).
    "target.search_space={extends: quickstart_target, params: {weight_decay: 0.0}}",
]
SEARCH = "intermediate-toy_nli"


def launch(name: str, storage: Path, store: Path, *extra: str) -> subprocess.CompletedProcess[str]:
    done = run_sweep(
        "launch", str(QUICKSTART), *STAGE_ONE, *PAIRS, f"checkpoint_store={store}", *extra, "--name", name,
        "--storage", str(storage),
    )  # fmt: skip
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    return done


def stage_one_key(store: Path, *extra: str) -> str:
    """The store key these sweeps' stage one has (computed as the driver does)."""
    from sweep.plan import stage_one
    from sweep.plan.searches import plan
    from sweep.preflight.validate import load_config

    config = load_config(QUICKSTART, [*STAGE_ONE, *PAIRS, f"checkpoint_store={store}", *extra])
    search = next(s for s in plan(config) if s.id == SEARCH)
    return stage_one.key(stage_one.identity(config, search))


def rows(sweep: Path, search: str = SEARCH) -> list[dict]:
    return [r for r in ds.dataset(sweep / "results").to_table().to_pylist() if r["search"] == search]


@pytest.fixture(scope="module")
def two_sweeps(tmp_path_factory: pytest.TempPathFactory) -> dict[str, object]:
    """``first`` trains stage one into a new store; ``second`` (another target) reuses it."""
    base = tmp_path_factory.mktemp("store")
    storage, store = base / "sweeps", base / "store"
    first = launch("first", storage, store, "target_tasks=[toy_paws]")
    second = launch("second", storage, store, "target_tasks=[toy_order]", "resources.keep_finished_checkpoints=true")
    return {"storage": storage, "store": store, "first": first, "second": second}


def test_a_later_study_reuses_stage_one_and_says_so(two_sweeps: dict) -> None:
    storage, store = two_sweeps["storage"], two_sweeps["store"]
    key = stage_one_key(store)
    assert f"added to the checkpoint store as {key}" in two_sweeps["first"].stdout
    assert "starting intermediate toy_nli" not in two_sweeps["second"].stdout
    assert f"reused from the checkpoint store ({key}, trained by {storage / 'first'})" in two_sweeps["second"].stdout
    trained, reused = rows(storage / "first"), rows(storage / "second")
    assert {r["origin"] for r in trained} == {"trained"} and {r["origin"] for r in reused} == {"reused"}
    assert {r["sweep"] for r in reused} == {"second"}

    def same(r: dict) -> tuple:
        return r["trial_id"], r["attempt"], r["step"], r["split"], r["language"], r["metric"], r["value"]

    assert sorted(map(same, reused)) == sorted(map(same, trained)) and len({r["trial_id"] for r in reused}) == 2
    assert not (storage / "second" / "journal" / SEARCH).exists()  # no stage-one trial ran there
    record = json.loads((storage / "second" / "manifest.json").read_text())["searches"][SEARCH]
    first = json.loads((storage / "first" / "manifest.json").read_text())["searches"][SEARCH]
    assert record["origin"] == "reused" and record["best"] == first["best"]
    entry = json.loads((store / "entries" / key / "entry.json").read_text())
    assert record["encoder"] == str(store / "entries" / key / entry["data"] / "encoder")
    assert first["origin"] == "trained" and first["store"] == {"key": key, "location": str(store), "published": True}
    assert entry["trained_by"]["sweep"] == str(storage / "first") and entry["best"] == first["best"]

    status = run_sweep("status", str(storage / "second"))
    line = next(line for line in status.stdout.splitlines() if line.startswith(SEARCH))
    assert line.split()[2] == "reused"
    query = run_sweep(
        "query", str(storage / "second"), "--where", "origin=reused", "--columns", "search,origin", "--format", "json"
    )
    assert {r["search"] for r in json.loads(query.stdout)} == {SEARCH}
    listed = json.loads(run_sweep("store", str(store), "--format", "json").stdout)
    assert [(e["key"], e["trained_by"]) for e in listed] == [(key, str(storage / "first"))]
    # Before a launch, `sweep validate` says which stage ones the store holds.
    args = [*STAGE_ONE, *PAIRS, f"checkpoint_store={store}", "target_tasks=[toy_order]"]
    validated = run_sweep("validate", str(QUICKSTART), *args)
    assert f"intermediate toy_nli  [reused: {key}, trained by {storage / 'first'}]" in validated.stdout
    other = run_sweep("validate", str(QUICKSTART), *args, "intermediate.epochs=2")
    assert "intermediate toy_nli  [trained, then stored: toy_nli-" in other.stdout


def test_the_reusing_study_s_pairs_start_from_the_store_s_encoder(two_sweeps: dict) -> None:
    import torch

    from sweep.preflight.validate import load_config

    second = two_sweeps["storage"] / "second"
    encoder = json.loads((second / "manifest.json").read_text())["searches"][SEARCH]["encoder"]
    config = load_config(second / "config.yaml")
    unseen = unseen_rows(config, "toy_order", limit=config.training.max_train_examples)
    expected = encoder_rows(Path(encoder))
    trials = {r["trial_id"] for r in rows(second, "target-toy_nli-toy_order")}
    checkpoints = sorted(c for t in trials for c in (second / "tune").glob(f"*/trial_{t}/checkpoint_*"))
    assert checkpoints
    for checkpoint in checkpoints:
        assert torch.equal(checkpoint_rows(checkpoint)[unseen], expected[unseen])


@pytest.mark.slow
def test_a_half_written_entry_is_trained_again_not_reused(two_sweeps: dict, tmp_path: Path) -> None:
    store = tmp_path / "store"
    key = stage_one_key(store)
    # What a publisher killed mid-copy leaves: its data folder (encoder cut short), no entry.json.
    shutil.copytree(two_sweeps["store"] / "entries" / key, store / "entries" / key)
    (store / "entries" / key / "entry.json").unlink()
    (half,) = (store / "entries" / key).iterdir()
    (half / "encoder" / "model.safetensors").write_bytes(b"cut short")
    done = launch("third", tmp_path / "sweeps", store, "target_tasks=[toy_paws]")
    assert "starting intermediate toy_nli: 2 trials" in done.stdout
    assert f"added to the checkpoint store as {key}" in done.stdout
    entry = json.loads((store / "entries" / key / "entry.json").read_text())
    assert entry["trained_by"]["sweep"] == str(tmp_path / "sweeps" / "third") and entry["data"] != half.name
    encoder_rows(store / "entries" / key / entry["data"] / "encoder")  # a whole encoder
    listed = run_sweep("store", str(store))
    assert "data folders no record names" in listed.stderr and str(half) in listed.stderr


def _start(name: str, storage: Path, store: Path) -> tuple[subprocess.Popen[str], list[str]]:
    args = [*STAGE_ONE, *PAIRS, f"checkpoint_store={store}", "target_tasks=[toy_paws]"]
    driver = subprocess.Popen(
        sweep_cmd("launch", str(QUICKSTART), *args, "--name", name, "--storage", str(storage)),
        cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )  # fmt: skip
    lines: list[str] = []
    threading.Thread(target=lambda: lines.extend(driver.stdout), daemon=True).start()  # type: ignore[arg-type]
    return driver, lines


def _wait_for(lines: list[str], text: str, *, timeout: float = 180) -> None:
    deadline = time.monotonic() + timeout
    while not any(text in line for line in lines):
        assert time.monotonic() < deadline, f"no {text!r} in:\n{''.join(lines)[-3000:]}"
        time.sleep(0.5)


@contextlib.contextmanager
def waiting_sweep(name: str, tmp_path: Path) -> Iterator[tuple[subprocess.Popen[str], list[str], Path, str]]:
    """A sweep launched while another process holds its stage one's lease, once it says it waits: the
    driver, its output lines so far, the store and the key. The holder is killed as the block ends."""
    store = tmp_path / "store"
    key = stage_one_key(store)
    with lease_held(store, key, sweep="elsewhere"):
        driver, lines = _start(name, tmp_path / "sweeps", store)
        _wait_for(lines, "waiting to reuse it")
        assert any("sweep elsewhere" in line for line in lines)
        yield driver, lines, store, key
    assert driver.wait(timeout=300) == 0, "".join(lines)[-3000:]


@pytest.mark.slow
def test_a_sweep_waits_for_the_one_training_the_entry_and_reuses_it(two_sweeps: dict, tmp_path: Path) -> None:
    with waiting_sweep("fourth", tmp_path) as (_, lines, store, key):
        time.sleep(6)  # it keeps waiting while the lease is held and no entry is complete
        assert not any("starting intermediate" in line for line in lines)
        # The holder publishes (the first store's complete entry, the same key; renamed into place whole), then ends.
        shutil.copytree(two_sweeps["store"] / "entries" / key, store / "entries" / f".{key}")
        (store / "entries" / f".{key}").rename(store / "entries" / key)
    assert any("reused from the checkpoint store" in line for line in lines)
    assert not any("starting intermediate" in line for line in lines)
    assert {r["origin"] for r in rows(tmp_path / "sweeps" / "fourth")} == {"reused"}


@pytest.mark.slow
def test_a_sweep_trains_the_entry_when_its_trainer_dies_without_publishing(tmp_path: Path) -> None:
    with waiting_sweep("fifth", tmp_path) as (_, lines, _, key):
        pass  # the holder is killed (SIGKILL): the operating system drops its lock, and nothing is published
    assert any("starting intermediate toy_nli" in line for line in lines)
    assert any(f"added to the checkpoint store as {key}" in line for line in lines)
    assert {r["origin"] for r in rows(tmp_path / "sweeps" / "fifth")} == {"trained"}


@pytest.mark.slow
def test_two_sweeps_started_at_once_train_their_shared_stage_one_once(tmp_path: Path) -> None:
    store = tmp_path / "store"
    drivers = [_start(name, tmp_path / "sweeps", store) for name in ("left", "right")]
    for driver, lines in drivers:
        assert driver.wait(timeout=600) == 0, "".join(lines)[-3000:]
    origins = {name: {r["origin"] for r in rows(tmp_path / "sweeps" / name)} for name in ("left", "right")}
    assert sorted(map(tuple, origins.values())) == [("reused",), ("trained",)], origins
    trainer = next(name for name, found in origins.items() if found == {"trained"})
    (entry,) = (store / "entries").iterdir()
    assert json.loads((entry / "entry.json").read_text())["trained_by"]["sweep"] == str(tmp_path / "sweeps" / trainer)


def test_resuming_a_sweep_that_died_before_publishing_publishes_it(two_sweeps: dict, tmp_path: Path) -> None:
    import yaml

    sweep, store = tmp_path / "first", tmp_path / "store"
    shutil.copytree(two_sweeps["storage"] / "first", sweep)
    config = yaml.safe_load((sweep / "config.yaml").read_text())
    (sweep / "config.yaml").write_text(yaml.safe_dump({**config, "checkpoint_store": str(store)}, sort_keys=False))
    manifest = json.loads((sweep / "manifest.json").read_text())
    del manifest["searches"][SEARCH]["store"]  # its driver died after the search ended, before publishing
    (sweep / "manifest.json").write_text(json.dumps(manifest))
    done = run_sweep("resume", str(sweep))
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    key = stage_one_key(store)
    assert f"added to the checkpoint store as {key}" in done.stdout, done.stdout
    entry = json.loads((store / "entries" / key / "entry.json").read_text())
    assert entry["best"] == manifest["searches"][SEARCH]["best"]
