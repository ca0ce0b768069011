"""One trial: train a task through a DeepSpeed engine, evaluate it, checkpoint and report each epoch.

This module knows nothing of Ray Tune: the caller passes a ``Reporter`` that receives each epoch's
metrics and checkpoint folder, and may pass the folder of a checkpoint to resume from.
"""

from __future__ import annotations

import contextlib
import functools
import io
import math
import os
import platform
import random
import shutil
import tempfile
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, Protocol

from trainers import cache as feature_cache
from trainers import data as data_lib
from trainers import kinds
from trainers import predictions as predictions_lib
from trainers.checkpoint import PREDICTIONS_DIR, RNG_FILE, TAG, read_state, rng_file, write_state
from trainers.encoder_io import MAX_SHARD_BYTES, write_encoder
from trainers.errors import CheckpointError, ModelError, TaskError
from trainers.model import base_prefix, build_model, load_encoder, load_tokenizer, model_skeleton
from trainers.scoring import score
from trainers.spec import CAPPED_SCORE, CAPPED_SPLIT, OBJECTIVE, SELECTION, TrialSpec, eval_interval
from trainers.tasks import eval_split, get_task


class Reporter(Protocol):
    """Receives one report per epoch; the checkpoint folder may be deleted once it returns."""

    def report(self, metrics: dict[str, Any], *, checkpoint_dir: Path) -> None: ...


def ensure_process_group() -> None:
    """Create a one-rank gloo group on a free port unless one exists (Ray Train sets its own).

    A free port (0) lets many single-process trials share a machine without clashing.
    """
    import torch.distributed as dist

    if dist.is_initialized():
        return
    os.environ.setdefault("LOCAL_RANK", "0")
    store = dist.TCPStore("127.0.0.1", 0, 1, is_master=True)
    dist.init_process_group("gloo", store=store, rank=0, world_size=1)


def deepspeed_config(spec: TrialSpec, *, world_size: int = 1) -> dict[str, Any]:
    """Return the DeepSpeed config of a trial: batch sizes, accumulation, clipping, ZeRO stage, offload,
    precision.

    ``micro_batch_size`` is per worker, so an optimizer step sees ``micro_batch_size x
    gradient_accumulation_steps x world_size`` examples. The optimizer and its learning-rate schedule
    are the trainer's own (``run_trial``), so the rate is set in exactly one place.
    """
    training, hp = spec.training, spec.hparams
    zero: dict[str, Any] = {"stage": training.zero_stage}
    if training.offload_optimizer:  # ZeRO-Offload (stages 1-3): optimizer state and step on the CPU
        zero["offload_optimizer"] = {"device": "cpu", "pin_memory": False}
    if training.offload_parameters:  # ZeRO-Infinity's parameter offload (stage 3 only)
        zero["offload_param"] = {"device": "cpu", "pin_memory": False}
    return {
        "train_micro_batch_size_per_gpu": hp.micro_batch_size,
        "gradient_accumulation_steps": hp.gradient_accumulation_steps,
        "train_batch_size": hp.micro_batch_size * hp.gradient_accumulation_steps * world_size,
        "gradient_clipping": training.gradient_clipping,
        "zero_optimization": zero,
        # The optimizer is a torch one (AdamW with its own schedule); DeepSpeed's offload wants its own
        # CPU Adam unless told that an untested optimizer is fine.
        "zero_force_ds_cpu_optimizer": False,
        "bf16": {"enabled": training.precision == "bf16"},
        "fp16": {"enabled": training.precision == "fp16"},
        "steps_per_print": 10**9,  # DeepSpeed's own step logging would flood trial logs
        "wall_clock_breakdown": False,
    }


def shard(batch: list[int], *, rank: int, world_size: int) -> list[int]:
    """This worker's part of a global micro-batch: equal slices in rank order (the last, short batch of an
    epoch split as evenly as it goes).

    >>> [shard(list(range(8)), rank=r, world_size=2) for r in (0, 1)]
    [[0, 1, 2, 3], [4, 5, 6, 7]]
    >>> [shard([0, 1, 2], rank=r, world_size=2) for r in (0, 1)]
    [[0, 1], [2]]
    """
    size, extra = divmod(len(batch), world_size)
    start = rank * size + min(rank, extra)
    return batch[start : start + size + (rank < extra)]


def warmup_then_linear_decay(*, warmup_steps: int, total_steps: int) -> Callable[[int], float]:
    """The factor of the peak learning rate at each optimizer step (0-based): a linear ramp from 0 over
    ``warmup_steps``, then a linear decay to 0 at ``total_steps``; as transformers'
    ``get_linear_schedule_with_warmup``, which XTREME's fine-tuning scripts use.

    >>> f = warmup_then_linear_decay(warmup_steps=2, total_steps=10)
    >>> [round(f(step), 3) for step in (0, 1, 2, 6, 10)]
    [0.0, 0.5, 1.0, 0.5, 0.0]
    """

    def factor(step: int) -> float:
        if step < warmup_steps:
            return step / warmup_steps
        return max(0.0, (total_steps - step) / max(1, total_steps - warmup_steps))

    return factor


def run_trial(spec: TrialSpec, *, reporter: Reporter, resume_dir: Path | None = None) -> None:
    """Train ``spec.task`` for ``spec.epochs`` epochs with ``spec.hparams``, reporting metrics and a
    checkpoint after each.

    Example: ``run_trial(spec, reporter=printer)``. With ``resume_dir`` (a folder an earlier report
    handed out), training continues after that checkpoint's epoch.
    """
    import numpy as np
    import torch

    hp = spec.hparams
    torch.set_num_threads(spec.training.torch_threads)
    random.seed(spec.seed)
    np.random.seed(spec.seed)
    torch.manual_seed(spec.seed)
    if not torch.cuda.is_available():
        os.environ.setdefault("DS_ACCELERATOR", "cpu")
    import deepspeed

    ensure_process_group()
    import torch.distributed as dist

    rank, world = dist.get_rank(), dist.get_world_size()
    data_dir = Path(spec.data_dir)
    task = data_lib.resolve_labels(get_task(spec.task), data_dir=data_dir)
    if task.kind not in kinds.TRAINABLE_KINDS:
        raise TaskError(f"task `{task.name}` is a {task.kind} task, which is evaluated, not trained")
    tokenizer = load_tokenizer(spec.model)
    # A target may train on another task's English data (XNLI on MNLI), or on its own data in other
    # languages (XNLI's translated train); examples without a gold label (SNLI's "-1") cannot be trained on.
    if spec.train_task:
        train_task = get_task(spec.train_task)
    else:
        train_task = get_task(task.train_task) if task.train_task else task
    prepare = functools.partial(_prepare, spec=spec, kind=task.kind, tokenizer=tokenizer, data_dir=data_dir)
    _, train = prepare(
        train_task, languages=spec.train_languages, role="train", train=True, limit=spec.training.max_train_examples
    )
    trained_on = "+".join(spec.train_languages)
    evals = {}
    for role in spec.eval_splits:
        # Trials are selected on the training languages' dev sets even where the target has no data
        # in them (XCOPA: COPA's English dev).
        extra = tuple(lang for lang in spec.train_languages if role == "dev" and lang not in spec.eval_languages)
        for language in (*spec.eval_languages, *extra):
            where = eval_split(task, role=role, language=language)
            if where is not None:
                evals[(role, language)] = prepare(
                    where[0], languages=(language,), role=where[1], train=False, limit=spec.training.max_eval_examples
                )
    # Evaluations before the last may score dev on its first examples only (jiant's 500), and skip test.
    cap = spec.training.eval_dev_examples
    capped = evals
    if cap is not None:
        limit = min(cap, spec.training.max_eval_examples or cap)
        capped = {
            (role, language): prepare(where[0], languages=(language,), role=where[1], train=False, limit=limit)
            for (role, language) in evals
            if role == "dev" and (where := eval_split(task, role=role, language=language)) is not None
        }

    model = build_model(
        spec.model,
        kind=task.kind,
        num_labels=kinds.num_outputs(task),
        vocab_size=len(tokenizer),
        dropout=hp.dropout,
        pad_token_id=tokenizer.pad_token_id,
    )
    if spec.init_encoder:
        load_encoder(model, spec.init_encoder)
    if spec.training.activation_checkpointing:
        _checkpoint_activations(model, name=spec.model.name)
    # Biases and normalization weights never decay: the parameters with fewer than two dimensions, in
    # every family (BERT's `LayerNorm.weight`, Llama's `input_layernorm.weight`, DeBERTa's ...). An
    # empty group is left out: DeepSpeed drops it, and the schedule would then have one group too many.
    decay = [p for p in model.parameters() if p.ndim >= 2]
    keep = [p for p in model.parameters() if p.ndim < 2]
    groups = [
        {"params": params, "weight_decay": rate} for params, rate in ((decay, hp.weight_decay), (keep, 0.0)) if params
    ]
    # The learning rate is given once, to the optimizer; the schedule scales it step by step.
    optimizer = torch.optim.AdamW(groups, lr=hp.learning_rate, eps=hp.adam_epsilon)
    # Each micro-step takes `micro_batch_size` examples per worker from one shuffled order, so W workers
    # see the batches one worker would with W times the micro-batch (``shard``).
    global_micro = hp.micro_batch_size * world
    total_steps = math.ceil(len(train) / (global_micro * hp.gradient_accumulation_steps)) * spec.epochs
    schedule = torch.optim.lr_scheduler.LambdaLR(
        optimizer,
        warmup_then_linear_decay(warmup_steps=round(hp.warmup_ratio * total_steps), total_steps=total_steps),
    )
    engine, _, _, scheduler = deepspeed.initialize(
        model=model, optimizer=optimizer, lr_scheduler=schedule, config=deepspeed_config(spec, world_size=world)
    )
    if world == 1 and spec.training.zero_stage == 0:
        # Alone, a worker has no gradients to average: DeepSpeed would still flatten, "all-reduce" and copy
        # them back every step (see bench/trainer_throughput.py). ZeRO stages keep it:
        # their reduction also moves gradients into the optimizer's partitions.
        engine.enable_backward_allreduce = False

    # The global micro-batches of an epoch: every worker must step on each, so a last one smaller than
    # the workers is left out.
    starts = [first for first in range(0, len(train), global_micro) if min(global_micro, len(train) - first) >= world]
    steps_per_epoch = math.ceil(len(starts) / hp.gradient_accumulation_steps)
    every = evaluation_interval(spec.training.eval_every, steps_per_epoch=steps_per_epoch)
    # DeepSpeed steps the optimizer every `gradient_accumulation_steps` micro-batches, counting across
    # epochs: the trial's last step is `final_step` (micro-batches left after it are never applied).
    final_step = len(starts) * spec.epochs // hp.gradient_accumulation_steps
    if every is None:
        planned = spec.epochs
    else:
        planned = final_step // every + (1 if final_step % every else 0) if final_step else 1
    progress = {"epoch": 1, "position": 0, "evaluations": 0}
    if resume_dir is not None:
        progress = _load_checkpoint(engine, Path(resume_dir), batches_per_epoch=len(starts))
    report = functools.partial(
        _evaluate_and_report,
        engine=engine,
        spec=spec,
        task=task,
        reporter=reporter,
        scheduler=scheduler,
        evals=evals,
        capped=capped,
        rank=rank,
        trained_on=trained_on,
        batches_per_epoch=len(starts),
        planned=planned,
        pad_id=tokenizer.pad_token_id,
    )
    pad_id = tokenizer.pad_token_id
    evaluations = progress["evaluations"]
    losses: list[float] = []
    train_seconds, examples = 0.0, 0
    steps = engine.global_steps
    for epoch in range(progress["epoch"], spec.epochs + 1):
        # The order depends on (seed, epoch) only, so a resumed trial sees the same batches.
        order = list(range(len(train)))
        random.Random(spec.seed * 1_000_003 + epoch).shuffle(order)
        skip = progress["position"] if epoch == progress["epoch"] else 0
        engine.train()
        for position, first in enumerate(starts[skip:], start=skip + 1):
            started = time.perf_counter()
            batch_order = order[first : first + global_micro]
            mine = shard(batch_order, rank=rank, world_size=world)
            (batch,) = kinds.batches(task.kind, train, order=mine, batch_size=len(mine), pad_id=pad_id)
            loss = engine(**{k: v.to(engine.device) for k, v in batch.items()}).loss
            engine.backward(loss)
            engine.step()
            losses.append(float(loss.detach()))
            train_seconds += time.perf_counter() - started
            examples += len(batch_order)
            stepped, steps = engine.global_steps != steps, engine.global_steps
            at_end = epoch == spec.epochs and position == len(starts)
            if every is None:
                due, final = position == len(starts), at_end
            else:
                # Each optimizer step evaluates at most once; the last one always does, and is the final one.
                final = (stepped and steps == final_step) or (final_step == 0 and at_end)
                due = final or (stepped and steps % every == 0)
            if due:
                evaluations += 1
                report(
                    epoch=epoch,
                    position=position,
                    evaluations=evaluations,
                    final=final,
                    train={"losses": losses, "seconds": train_seconds, "examples": examples},
                )
                losses, train_seconds, examples = [], 0.0, 0
                engine.train()
    engine.destroy()


def _prepare(
    data_task: Any,
    *,
    spec: TrialSpec,
    kind: str,
    tokenizer: Any,
    data_dir: Path,
    languages: tuple[str, ...],
    role: str,
    train: bool,
    limit: int | None,
) -> tuple[list, Any]:
    """Examples and features of one split in one or more languages (concatenated, in that order),
    from the feature cache when an earlier trial made them.

    Training drops examples without a gold label (SNLI's -1) before keeping the first ``limit`` of
    each language, so a capped smoke run still sees every language.
    """

    def compute() -> tuple[list, Any]:
        examples = []
        for language in languages:
            part = data_lib.load_examples(data_task, language=language, role=role, data_dir=data_dir)
            if train:
                part = [e for e in part if getattr(e, "label", 0) >= 0]
            examples.extend(part[:limit])
        return examples, kinds.featurize(
            kind, examples, tokenizer=tokenizer, max_length=spec.model.max_length, train=train
        )

    source = spec.model.tokenizer or spec.model.path or ""
    key = {
        "tokenizer": feature_cache.tokenizer_fingerprint(source),
        "task": data_task.name,
        "kind": kind,
        "language": "+".join(languages),
        "role": role,
        "train": train,
        "limit": limit,
        "max_length": spec.model.max_length,
        "data": feature_cache.files_fingerprint(
            [
                path
                for language in languages
                for path in data_lib.split_paths(data_task, language=language, role=role, data_dir=data_dir)
            ]
        ),
    }
    return feature_cache.cached(key, compute, cache_dir=spec.training.feature_cache)


def _evaluate(
    engine: Any, task: Any, evals: dict[tuple[str, str], tuple[list, Any]], *, batch_size: int, pad_id: int
) -> tuple[dict[str, float], dict[str, tuple[list, Any]]]:
    """Scores of every (split, language), and the test predictions per language."""
    engine.eval()
    scores, test_predictions = {}, {}
    for (role, language), (examples, features) in evals.items():
        predictions = kinds.predict(
            task.kind,
            engine,
            examples,
            features,
            batch_size=batch_size,
            pad_id=pad_id,
            device=engine.device,
            allow_impossible=task.scorer == "squad_v2",
        )
        for name, value in score(task, examples, predictions, language=language).items():
            scores[f"{role}/{language}/{name}"] = value
        if role == "test":
            test_predictions[language] = (examples, predictions)
    return scores, test_predictions


def _objective(metrics: Mapping[str, Any], spec: TrialSpec, *, metric: str, split: str = "dev") -> float:
    if spec.select_on == "english_dev":  # the dev sets of the training languages (English unless told)
        return sum(float(metrics[f"{split}/{lang}/{metric}"]) for lang in spec.train_languages) / len(
            spec.train_languages
        )
    values = [float(metrics[key]) for lang in spec.eval_languages if (key := f"{split}/{lang}/{metric}") in metrics]
    return sum(values) / len(values)


def evaluation_interval(eval_every: str | None, *, steps_per_epoch: int) -> int | None:
    """Optimizer steps between evaluations (None: at each epoch's end), from ``training.eval_every``.

    >>> evaluation_interval("0.25 epochs", steps_per_epoch=100), evaluation_interval("30 steps", steps_per_epoch=100)
    (25, 30)
    """
    if eval_every is None:
        return None
    unit, amount = eval_interval(eval_every)
    if unit == "steps":
        return int(amount)
    return max(1, round(amount * steps_per_epoch))


def _evaluate_and_report(
    *,
    engine: Any,
    spec: TrialSpec,
    task: Any,
    reporter: Reporter,
    scheduler: Any,
    evals: dict[tuple[str, str], tuple[list, Any]],
    capped: dict[tuple[str, str], tuple[list, Any]],
    rank: int,
    trained_on: str,
    batches_per_epoch: int,
    planned: int,
    pad_id: int,
    epoch: int,
    position: int,
    evaluations: int,
    final: bool,
    train: dict[str, Any],
) -> None:
    """Evaluate, checkpoint and report once: after ``position`` global micro-batches of ``epoch``."""
    import numpy as np
    import torch

    whole = final or capped is evals
    at_epoch_end = position == batches_per_epoch
    metrics: dict[str, Any] = {
        # Whole epochs as before where evaluations fall on epoch ends; else the fraction trained.
        "epoch": epoch if at_epoch_end else round(epoch - 1 + position / batches_per_epoch, 4),
        "optimizer_step": int(engine.global_steps),
        "evaluations": planned,  # how many this trial makes in all: the recorder's "completed"
        # Training rows name the language(s) trained on: "en", or "de+fr" for mixed training; the
        # loss is the mean over steps of the workers' mean, as one worker would see it.
        f"train/{trained_on}/loss": _mean_over_workers(train["losses"], device=engine.device),
        f"train/{trained_on}/examples_per_s": train["examples"] / max(train["seconds"], 1e-9),
        "lr": float(scheduler.get_last_lr()[0]),
        "node": platform.node(),
    }
    scores, test_predictions = _evaluate(
        engine, task, evals if whole else capped, batch_size=spec.training.eval_batch_size, pad_id=pad_id
    )
    if not whole:  # dev on its first examples: rows of their own split, never selected
        scores = {key.replace("dev/", f"{CAPPED_SPLIT}/", 1): value for key, value in scores.items()}
    metrics.update(scores)
    metrics[OBJECTIVE] = _objective(metrics, spec, metric=task.metric, split="dev" if whole else CAPPED_SPLIT)
    metrics[SELECTION] = metrics[OBJECTIVE] if whole else CAPPED_SCORE
    checkpoint_dir = Path(tempfile.mkdtemp(prefix="xstilts-ckpt-"))
    try:
        # Every worker writes its own shards (DeepSpeed needs all of them to call this); the reporter
        # gathers the workers' folders into one checkpoint.
        engine.save_checkpoint(str(checkpoint_dir), tag=TAG)
        if rank == 0:
            # Kept with the checkpoint, so the best step's test predictions can be exported later.
            for language, (examples, predictions) in test_predictions.items():
                predictions_lib.write(checkpoint_dir / PREDICTIONS_DIR, task, language, examples, predictions)
            write_state(
                checkpoint_dir,
                epoch=epoch,
                position=position,
                evaluations=evaluations,
                # DeepSpeed does not save where gradient accumulation stands; a resumed run needs it to
                # step on the same micro-batches. (The gradient accumulated so far is not saved: a resume
                # from between two steps, an epoch end that is not one, loses that one step's part.)
                micro_steps=int(engine.micro_steps),
                task=task.name,
                zero_stage=spec.training.zero_stage,
                precision=spec.training.precision,
                workers=torch.distributed.get_world_size(),
            )
        # Dropout draws from these: restoring them makes a resumed epoch identical to an uninterrupted one.
        torch.save(
            {"torch": torch.get_rng_state(), "numpy": np.random.get_state(), "python": random.getstate()},
            checkpoint_dir / rng_file(rank),
        )
        reporter.report(metrics, checkpoint_dir=checkpoint_dir)
    finally:
        shutil.rmtree(checkpoint_dir, ignore_errors=True)


def _checkpoint_activations(model: Any, *, name: str) -> None:
    """Turn on transformers' gradient checkpointing (the non-reentrant kind, which works with ZeRO-3)."""
    target = model if hasattr(model, "gradient_checkpointing_enable") else model.base_model
    if not getattr(target, "supports_gradient_checkpointing", False):
        raise ModelError(
            f"model `{name}` ({type(target).__name__}) does not support activation checkpointing; set "
            "training.activation_checkpointing=false"
        )
    target.gradient_checkpointing_enable(gradient_checkpointing_kwargs={"use_reentrant": False})


def _mean_over_workers(losses: list[float], *, device: Any) -> float:
    """The mean of ``losses`` over this worker's steps, averaged over the workers (the same steps each)."""
    import torch
    import torch.distributed as dist

    # On the engine's device: an NCCL group (GPU workers) reduces CUDA tensors only.
    total = torch.tensor([sum(losses), len(losses)], dtype=torch.float64, device=device)
    if dist.get_world_size() > 1:
        dist.all_reduce(total)
    return float(total[0] / total[1]) if total[1] else float("nan")


def _load_checkpoint(engine: Any, folder: Path, *, batches_per_epoch: int) -> dict[str, int]:
    """Load a checkpoint; return where training goes on: ``{"epoch", "position", "evaluations"}`` (the
    global micro-batches of ``epoch`` already trained, and the evaluations made)."""
    import torch.distributed as dist

    state = read_state(folder)
    workers = int(state.get("workers", 1))
    if workers != dist.get_world_size() and state.get("zero_stage", 0) > 0:
        raise CheckpointError(
            f"checkpoint {folder} holds ZeRO shards of {workers} workers, but this trial runs on "
            f"{dist.get_world_size()}; resume with the same resources.workers_per_trial"
        )
    load_path, _ = engine.load_checkpoint(str(folder), tag=TAG)
    if load_path is None:
        raise CheckpointError(f"DeepSpeed could not load the checkpoint in {folder}")
    rng_path = folder / rng_file(dist.get_rank())
    if not rng_path.is_file():
        rng_path = folder / RNG_FILE
    if rng_path.is_file():
        import numpy as np
        import torch

        rng = torch.load(rng_path, weights_only=False)
        torch.set_rng_state(rng["torch"])
        np.random.set_state(rng["numpy"])
        random.setstate(rng["python"])
    if "micro_steps" in state:
        engine.micro_steps = int(state["micro_steps"])
    # Checkpoints of earlier versions were taken at epoch ends only, one evaluation per epoch.
    epoch, position = int(state["epoch"]), int(state.get("position", batches_per_epoch))
    evaluations = int(state.get("evaluations", epoch))
    if position >= batches_per_epoch:
        return {"epoch": epoch + 1, "position": 0, "evaluations": evaluations}
    return {"epoch": epoch, "position": position, "evaluations": evaluations}


def export_encoder(
    checkpoint_dir: Path, out_dir: Path, *, spec: TrialSpec, max_shard_bytes: int = MAX_SHARD_BYTES
) -> None:
    """Write the fp32 encoder of a trial checkpoint to ``out_dir`` for the target phase: safetensors shards
    with an index, atomically (``trainers.encoder_io``).

    ZeRO stages 1-3 keep the fp32 master weights in the workers' optimizer partitions: DeepSpeed's own
    tool consolidates them, lazily, so each tensor is gathered as its shard is written; stage 0
    checkpoints hold the whole module, memory-mapped. The model itself is never built (its skeleton on
    the meta device names the encoder's tensors), so the export holds at most one shard in memory.
    """
    import torch

    task = data_lib.resolve_labels(get_task(spec.task), data_dir=Path(spec.data_dir))
    tokenizer = load_tokenizer(spec.model)
    skeleton = model_skeleton(
        spec.model,
        kind=task.kind,
        num_labels=kinds.num_outputs(task),
        vocab_size=len(tokenizer),
        pad_token_id=tokenizer.pad_token_id,
    )
    prefix = base_prefix(skeleton)
    encoder = skeleton.base_model.state_dict()
    parameters = {name for name, _ in skeleton.base_model.named_parameters()}
    if spec.training.zero_stage > 0:
        from deepspeed.utils.zero_to_fp32 import get_fp32_state_dict_from_zero_checkpoint

        # It prints progress lines (and a tqdm bar) meant for its own CLI.
        with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
            state = get_fp32_state_dict_from_zero_checkpoint(str(checkpoint_dir), tag=TAG, lazy_mode=True)
    else:
        states = checkpoint_dir / TAG / "mp_rank_00_model_states.pt"
        if not states.is_file():
            raise CheckpointError(f"{states} is missing; cannot export the intermediate encoder")
        state = torch.load(states, map_location="cpu", weights_only=False, mmap=True)["module"]
    missing = [name for name in parameters if prefix + name not in state]
    if missing:
        raise CheckpointError(
            f"checkpoint {checkpoint_dir} does not fit the model of task {task.name}: missing {sorted(missing)[:5]}"
        )
    # Buffers that checkpoints leave out (position ids) are rebuilt by the model itself.
    names = [name for name in encoder if prefix + name in state]
    with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
        write_encoder(
            {name: state[prefix + name] for name in names},
            Path(out_dir),
            sizes={name: encoder[name].numel() * 4 for name in names},
            materialize=lambda t: t.contiguous().float(),
            max_shard_bytes=max_shard_bytes,
        )
