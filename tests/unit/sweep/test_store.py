"""The checkpoint store: what identifies a stage-one result, entries complete or absent, and the lease that
lets one sweep train an entry while others wait."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pyarrow as pa
import pytest
import yaml

from sweep.errors import ConfigError, SweepStateError
from sweep.plan import stage_one
from sweep.plan.searches import plan
from sweep.preflight.validate import load_config
from sweep.storage.store import CheckpointStore, location_problems
from tests.leases import lease_held
from trainers.encoder_io import write_encoder

ROOT = Path(__file__).resolve().parents[3]
QUICKSTART = ROOT / "configs" / "quickstart.yaml"


def key_of(*overrides: str, path: Path = QUICKSTART, model: str | None = None) -> str:
    config = load_config(path, ["intermediate_tasks=[toy_nli]", *overrides])
    search = next(s for s in plan(config) if s.phase == "intermediate" and s.model == model)
    return stage_one.key(stage_one.identity(config, search))


def test_what_does_not_decide_stage_one_keeps_its_key() -> None:
    base = key_of()
    assert base.startswith("toy_nli-")
    assert base == key_of(
        "name=other",
        "target_tasks=[toy_order]",
        "languages=[en,de]",
        "baseline=false",
        "seeds=[1,2]",
        "model.name=renamed",
        "training.torch_threads=2",
        "training.feature_cache=null",
        "resources.max_concurrent_trials=1",
        "target.num_samples=9",
        "regimes={toy_order: [zero_shot, in_language]}",
        "training.offload_optimizer=true",  # memory for speed: studies on GPUs of different sizes share
        "training.activation_checkpointing=true",
        "training.eval_batch_size=7",
    )


@pytest.mark.parametrize(
    "override",
    [
        "intermediate.epochs=2",
        "intermediate.num_samples=5",
        "intermediate.search_space={extends: quickstart_intermediate, params: {weight_decay: 0.0}}",
        "search.seed=1",
        "seed=3",
        "search.select_on=mean_dev",
        "model.hidden_size=32",
        "model.seed=1",
        "training.zero_stage=0",
        "training.max_train_examples=10",
        "resources.workers_per_trial=2",
    ],
)
def test_what_decides_stage_one_changes_its_key(override: str) -> None:
    assert key_of(override) != key_of()


def test_the_data_s_content_and_the_trainers_code_are_in_the_key(tmp_path: Path, monkeypatch) -> None:
    data = tmp_path / "toy"
    shutil.copytree(ROOT / "data" / "toy", data)
    copied = key_of(f"data_dir={data}")
    assert copied == key_of(), "the same files elsewhere are the same data"
    train = data / "toy_nli.en" / "train.jsonl"
    lines = train.read_text().splitlines()
    train.write_text("\n".join(lines[:-1]) + "\n")  # one example fewer
    assert key_of(f"data_dir={data}") != copied
    monkeypatch.setattr(stage_one, "code_identity", lambda: {"trainers": "changed", "xstilts": "x"})
    assert key_of() != copied


def test_a_mixture_s_composition_is_in_its_key() -> None:
    def mixture(de: float) -> str:
        return key_of(
            f"mixtures={json.dumps({'nli_mix': {'task': 'toy_paws', 'languages': {'en': 1 - de, 'de': de}}})}",
            "intermediate_tasks=[nli_mix]",
        )

    assert mixture(0.25) != mixture(0.5) and mixture(0.25).startswith("nli_mix-")


def test_a_model_of_a_several_model_study_shares_the_one_model_study_s_key(tmp_path: Path) -> None:
    config = yaml.safe_load(QUICKSTART.read_text())
    tokenizer = str(ROOT / "data" / "toy" / "tokenizer.json")
    small = {**config["model"], "name": "small", "tokenizer": tokenizer, "hidden_size": 32}
    config.update(data_dir=str(ROOT / "data" / "toy"), model=[small, {**config["model"], "tokenizer": tokenizer}])
    path = tmp_path / "models.yaml"
    path.write_text(yaml.safe_dump(config))
    assert key_of(path=path, model="tiny-xlmr") == key_of()
    assert key_of(path=path, model="small") == key_of("model.hidden_size=32")


def _encoder(folder: Path) -> Path:
    import torch

    tensors = {"embeddings.weight": torch.arange(6.0).reshape(2, 3)}
    write_encoder(tensors, folder)
    return folder


ROWS = pa.table({"search": ["intermediate-x"], "trial_id": ["t1"], "value": [0.5]})


def test_an_entry_is_complete_or_absent_and_never_changes(tmp_path: Path, monkeypatch) -> None:
    store = CheckpointStore(tmp_path / "store")
    store.check()
    encoder = _encoder(tmp_path / "encoder")
    key = "x-0123"
    # What a publisher killed mid-copy leaves: a data folder, no record. Never read.
    half = Path(store.entry_location(key)) / "0badc0ffee"
    (half / "encoder").mkdir(parents=True)
    (half / "encoder" / "stray.bin").write_bytes(b"cut short")
    assert store.entry(key) is None and store.entries() == []
    assert store.publish(key, encoder=encoder, rows=ROWS, record={"best": {"objective": 0.5}})
    entry = store.entry(key)
    assert entry["key"] == key and entry["best"] == {"objective": 0.5} and store.entries() == [entry]
    assert entry["data"] != "0badc0ffee" and store.rows(entry).equals(ROWS)
    assert store.encoder_location(entry) == f"{store.entry_location(key)}/{entry['data']}/encoder"
    assert store.unreferenced() == [str(half)]
    assert not store.publish(key, encoder=encoder, rows=ROWS.slice(0, 0), record={"best": {}})  # the first wins
    # Even a publisher that missed the record (it looked before the record was there) cannot replace it:
    # the record is linked into place, which fails if one exists, and its data is deleted.
    monkeypatch.setattr(store, "entry", lambda k: None)
    assert not store.publish(key, encoder=encoder, rows=ROWS.slice(0, 0), record={"best": {}})
    monkeypatch.undo()
    assert store.entry(key) == entry and store.rows(entry).equals(ROWS) and store.unreferenced() == [str(half)]
    # A damaged record is an error naming what to delete (a sweep never reuses or overwrites it).
    (Path(store.entry_location(key)) / "entry.json").write_text("{not json")
    with pytest.raises(SweepStateError, match=f"delete the folder {store.entry_location(key)}"):
        store.entry(key)


def test_a_file_lease_is_one_holder_s_and_dies_with_its_process(tmp_path: Path) -> None:
    store = CheckpointStore(tmp_path / "store")
    with lease_held(tmp_path / "store", "k", sweep="sweep-a") as holder:
        lease = store.lease("k", holder={"sweep": "sweep-b"})
        assert not lease.acquire()
        assert store.holder("k").startswith(f"sweep sweep-a (process {holder.pid} on ")
        assert store.lease("other", holder={}).acquire()  # another entry's lease is free
    # Killed with SIGKILL: it had no chance to release the lease.
    assert lease.acquire() and lease.acquire()  # the operating system dropped the dead holder's lock
    assert store.holder("k").startswith("sweep sweep-b")
    lease.release()
    assert store.holder("k") == "another sweep"


def test_location_problems() -> None:
    assert location_problems("ftp://host/store") == [
        "checkpoint_store ftp://host/store: scheme `ftp` is not one of s3, gs, gcs, hdfs, abfs, abfss"
    ]
    assert location_problems("s3://bucket/store") == []
    assert "is a file" in location_problems(str(QUICKSTART))[0]
    assert location_problems(str(QUICKSTART), check_files=False) == []


def test_a_config_with_a_bad_store_is_refused_before_anything_runs() -> None:
    with pytest.raises(ConfigError) as info:
        load_config(QUICKSTART, ["checkpoint_store=ftp://host/store"])
    assert "scheme `ftp`" in str(info.value)
