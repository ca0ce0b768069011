"""Each of a trial's workers scores 1/N of every evaluation set and the predictions are gathered: the scores
and test predictions are exactly one worker's, for every kind (QA's windows and tagging's sentences fall
into batches that different workers run), plain and under ZeRO-3, whose forward passes every worker must
make together (batch counts that do not divide by the workers)."""

from __future__ import annotations

import json
import os
import pickle
from pathlib import Path
from typing import Any

import pytest

from tests.s3 import free_port
from trainers.spec import ModelSpec, TrainingSpec, TrialSpec

pytestmark = pytest.mark.slow  # two-process gloo runs: make test-all

ROOT = Path(__file__).resolve().parents[3]
TOY = ROOT / "data" / "toy"
TASKS = {"classification": "toy_nli", "multiple_choice": "toy_choice", "qa": "toy_qa", "tagging": "toy_ner"}


def _spec(task: str, zero: int) -> TrialSpec:
    languages = ("en",) if task == "toy_nli" else ("en", "de")
    return TrialSpec(
        sweep="t",
        search="s",
        phase="target",
        task=task,
        train_languages=("en",),
        eval_languages=languages,
        eval_splits=("dev", "test"),
        select_on="english_dev",
        data_dir=str(TOY),
        epochs=1,
        seed=0,
        model=ModelSpec(tokenizer=str(TOY / "tokenizer.json")),
        training=TrainingSpec(zero_stage=zero, max_eval_examples=41, eval_batch_size=4),
    )


def _scores(spec: TrialSpec, *, rank: int, world: int) -> tuple[dict[str, float], dict[str, Any]]:
    """The trial's first evaluation of its freshly built model, as ``trainers.reporting`` makes it."""
    from trainers import data as data_lib
    from trainers import kinds, mixing, trial_data
    from trainers.evaluation import evaluate
    from trainers.model import build_model, load_tokenizer
    from trainers.partition import partitioned
    from trainers.tasks import get_task

    sources = mixing.sources_of(spec)
    tasks = {s.task: data_lib.resolve_labels(get_task(s.task), data_dir=TOY) for s in sources}
    task = tasks[spec.task]
    tokenizer = load_tokenizer(spec.model)
    evals = trial_data.evaluation_sets(
        sources, tasks, spec=spec, tokenizer=tokenizer, data_dir=TOY, limit=41, roles=spec.eval_splits
    )
    ds_config = {"train_micro_batch_size_per_gpu": 1, "zero_optimization": {"stage": spec.training.zero_stage}}
    with partitioned(ds_config):
        model = build_model(
            spec.model, kind=task.kind, num_labels=kinds.num_outputs(task), vocab_size=len(tokenizer), dropout=0.0
        )
    engine: Any = model
    if spec.training.zero_stage == 3:
        import deepspeed
        import torch

        optimizer = torch.optim.AdamW(model.parameters(), lr=1e-3)
        engine, *_ = deepspeed.initialize(model=model, optimizer=optimizer, config=ds_config)
    heads = mixing.heads_of(sources)
    scores, test = evaluate(
        spec, engine, tasks, heads, evals, batch_size=4, pad_id=tokenizer.pad_token_id, workers=(rank, world)
    )
    return scores, {language: predictions for language, (_, predictions) in test.items()}


def _worker(rank: int, world: int, port: int, specs: list[dict], out: str) -> None:
    import torch.distributed as dist

    os.environ.update(LOCAL_RANK=str(rank), RANK=str(rank), WORLD_SIZE=str(world), DS_ACCELERATOR="cpu")
    dist.init_process_group("gloo", init_method=f"tcp://127.0.0.1:{port}", rank=rank, world_size=world)
    from trainers import ops

    ops.ready()  # DeepSpeed's compiled ops, built once per environment
    found = [_scores(TrialSpec.from_dict(data), rank=rank, world=world) for data in specs]
    Path(f"{out}.{rank}").write_bytes(pickle.dumps(found))
    dist.barrier()  # no rank tears gloo down while another still talks to it
    dist.destroy_process_group()


def _run(specs: list[TrialSpec], world: int, tmp_path: Path) -> list[list[Any]]:
    import torch.multiprocessing as mp

    out = str(tmp_path / f"found-{world}")
    args = (world, free_port(), [s.to_dict() for s in specs], out)
    mp.start_processes(_worker, args=args, nprocs=world, join=True, start_method="spawn")
    return [pickle.loads(Path(f"{out}.{rank}").read_bytes()) for rank in range(world)]


@pytest.mark.parametrize("zero", [0, 3], ids=["plain", "zero-3"])
def test_two_workers_score_every_kind_exactly_as_one(zero: int, tmp_path: Path) -> None:
    specs = [_spec(task, zero) for task in TASKS.values()]
    (alone,) = _run(specs, 1, tmp_path)
    pair = _run(specs, 2, tmp_path)
    for kind, one, rank0, rank1 in zip(TASKS, alone, *pair, strict=True):
        assert one[0] and rank0[0] == one[0], kind  # the scores, every split and language
        assert rank1[0] == one[0], kind  # every worker has them
        assert json.dumps(rank0[1], default=str) == json.dumps(one[1], default=str), kind  # test predictions
