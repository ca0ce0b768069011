"""One trial's training loop: train a task (or a mixture) through a DeepSpeed engine, handing each
evaluation over to ``trainers.reporting``.

This module holds what steps the optimizer: the process group, DeepSpeed's config, the learning-rate
schedule, each worker's share of a global micro-batch, and the loop itself. Around it, each in a module
of its own: when to evaluate and what a report holds (``trainers.reporting``, its scores from
``trainers.evaluation``), what a checkpoint holds and how a trial goes on from one
(``trainers.checkpoint``), and the hand-over of a trained encoder to the next phase
(``trainers.encoder_export``, which the sweep driver runs later, without training).

It knows nothing of Ray Tune: the caller passes a ``Reporter`` that receives each evaluation's metrics
and checkpoint folder, and may pass the folder of a checkpoint to resume from.
"""

from __future__ import annotations

import contextlib
import functools
import math
import os
import random
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from trainers import checkpoint, hostmem, kinds, mixing, trial_data
from trainers import data as data_lib
from trainers.errors import ModelError, TaskError, XStiltsError
from trainers.model import build_model, load_encoder, load_tokenizer
from trainers.multihead import build_multihead
from trainers.partition import one_fp32_copy, partitioned
from trainers.reporting import Reporter, evaluate_and_report, plan_evaluations
from trainers.spec import ModelSpec, TrialSpec
from trainers.tasks import get_task

__all__ = ["deepspeed_config", "ensure_process_group", "run_trial", "shard", "warmup_then_linear_decay"]


def ensure_process_group() -> None:
    """Create a one-rank gloo group on a free port unless one exists (Ray Train sets its own).

    A free port (0) lets many single-process trials share a machine without clashing.
    """
    import torch.distributed as dist

    from trainers import ops

    ops.ready()  # before DeepSpeed starts its backend, which loads its compiled ops
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
    if training.zero_stage == 3:
        zero |= stage3_buffers(spec.model)
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


def stage3_buffers(model: ModelSpec) -> dict[str, int]:
    """ZeRO-3's working buffers, sized by the model's width h rather than DeepSpeed's fixed defaults.

    Gradients are reduced in buckets of h^2 elements and parameters prefetched in buckets of 0.9 h^2, and
    those under 10 h elements (biases, norms) stay whole: transformers' "auto" values. The optimizer steps
    over sub-groups of at most 10 h^2 elements, so its temporaries (the flattened gradients, Adam's
    denominators) are a few layers' worth. A gathered parameter is released after use unless it is needed
    again within 10 h^2 elements, and at most 10 h^2 gathered elements are held at once, under a layer of a
    decoder (about 12 h^2): with DeepSpeed's 1e9 for both, every parameter gathered in a forward pass that
    follows the first stayed whole until the backward pass used it, a whole fp32 copy of any model under
    1e9 parameters on every worker (0.83 GB for a 206M model at 2 workers, measured). DeepSpeed's defaults
    are sized for throughput on big models: a 500M-element gradient bucket allocated at start (2 GB in fp32
    whatever the model) and one 1e9-element sub-group, whose temporaries are about three times a worker's
    partition of the model.

    Without a width (a config that names none), DeepSpeed's defaults stand; so they do with
    ``XSTILTS_WHOLE_MODEL_BUILD=1``, the way before (``bench/zero3_memory.py``)."""
    from trainers.partition import WHOLE_BUILD

    hidden = model_width(model)
    if not hidden or os.environ.get(WHOLE_BUILD) == "1":
        return {}
    return {
        "reduce_bucket_size": hidden * hidden,
        "stage3_prefetch_bucket_size": int(0.9 * hidden * hidden),
        "stage3_param_persistence_threshold": 10 * hidden,
        "sub_group_size": 10 * hidden * hidden,
        "stage3_max_live_parameters": 10 * hidden * hidden,
        "stage3_max_reuse_distance": 10 * hidden * hidden,
    }


def model_width(model: ModelSpec) -> int | None:
    """The model's hidden size: the spec's own for a scratch model, its config's for a pretrained one."""
    if model.init != "pretrained":
        return model.hidden_size
    from trainers.families import pretrained_config

    config = pretrained_config(model)
    for key in ("hidden_size", "d_model", "n_embd"):
        if isinstance(getattr(config, key, None), int):
            return getattr(config, key)
    return None


#: What building a model from a config it cannot take raises (transformers' and peft's checks, torch's
#: asserts on sizes): the same config fails the same way on every attempt. Not RuntimeError: a worker whose
#: peer died mid-build sees a DistBackendError (a RuntimeError), which a retry may well fix.
UNBUILDABLE = (ValueError, TypeError, KeyError, AttributeError, AssertionError, IndexError, NotImplementedError)


@contextlib.contextmanager
def unbuildable_is_fatal(model: ModelSpec) -> Iterator[None]:
    """Turn an error of building ``model`` into a ``ModelError`` naming the model and the cause: a trial
    reports it at once and is never retried (``sweep.run.trial_run.run_or_fatal``)."""
    try:
        yield
    except XStiltsError:
        raise
    except UNBUILDABLE as exc:
        where = f" from {model.path}" if model.path else ""
        cause = (str(exc).splitlines() or [""])[0]
        raise ModelError(
            f"model `{model.name}` cannot be built{where}: {type(exc).__name__}: {cause}; "
            "check its config.json (and training.adapter) against its family's, or rebuild the folder with "
            "save_pretrained"
        ) from exc


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
    """Train ``spec.task`` (or ``spec.mixture``'s sources) for ``spec.epochs`` epochs with ``spec.hparams``,
    reporting metrics and a checkpoint after each evaluation.

    Example: ``run_trial(spec, reporter=printer)``. With ``resume_dir`` (a folder an earlier report
    handed out), training continues after that checkpoint's position.
    """
    import numpy as np
    import torch

    hp = spec.hparams
    hostmem.fix_mmap_threshold()  # what a step frees goes back to the system (trainers.hostmem)
    torch.set_num_threads(spec.training.torch_threads)
    random.seed(spec.seed)
    np.random.seed(spec.seed)
    torch.manual_seed(spec.seed)
    ensure_process_group()
    import deepspeed
    import torch.distributed as dist

    rank, world = dist.get_rank(), dist.get_world_size()
    data_dir = Path(spec.data_dir)
    # A target may train on another task's English data (XNLI on MNLI), or on its own data in other
    # languages (XNLI's translated train); a mixture trains several sources, a head per task.
    sources = mixing.sources_of(spec)
    tasks = {s.task: data_lib.resolve_labels(get_task(s.task), data_dir=data_dir) for s in sources}
    for task in tasks.values():
        if task.kind not in kinds.TRAINABLE_KINDS:
            raise TaskError(f"task `{task.name}` is a {task.kind} task, which is evaluated, not trained")
    heads = mixing.heads_of(sources)
    tokenizer = load_tokenizer(spec.model)
    common = {"spec": spec, "tokenizer": tokenizer, "data_dir": data_dir}
    trains = trial_data.training_features(sources, tasks, **common)
    evals = trial_data.evaluation_sets(
        sources, tasks, **common, limit=spec.training.max_eval_examples, roles=spec.eval_splits
    )
    # Evaluations before the last may score dev on its first examples only (jiant's 500), and skip test.
    cap = spec.training.eval_dev_examples
    capped = evals
    if cap is not None:
        limit = min(cap, spec.training.max_eval_examples or cap)
        capped = trial_data.evaluation_sets(sources, tasks, **common, limit=limit, roles=("dev",))

    # Under ZeRO-3 the model is built in parts, each worker holding its own only (trainers.partition).
    ds_config = deepspeed_config(spec, world_size=world)
    with partitioned(ds_config), unbuildable_is_fatal(spec.model):
        outputs = {head: (tasks[task].kind, kinds.num_outputs(tasks[task])) for head, task in heads.items()}
        if len(heads) == 1:
            ((kind, num_labels),) = outputs.values()
            model = build_model(
                spec.model,
                kind=kind,
                num_labels=num_labels,
                vocab_size=len(tokenizer),
                dropout=hp.dropout,
                pad_token_id=tokenizer.pad_token_id,
            )
        else:
            model = build_multihead(
                spec.model,
                heads=outputs,
                vocab_size=len(tokenizer),
                dropout=hp.dropout,
                pad_token_id=tokenizer.pad_token_id,
            )
        if spec.init_encoder:
            load_encoder(model, spec.init_encoder)
        if spec.training.adapter is not None:  # LoRA: adapters and heads train, the rest is frozen
            from trainers import adapters

            adapters.attach(model, spec.training.adapter, hp)
    if spec.training.activation_checkpointing:
        _checkpoint_activations(model, name=spec.model.name)
    # Biases and normalization weights never decay: the parameters with fewer than two dimensions, in
    # every family (BERT's `LayerNorm.weight`, Llama's `input_layernorm.weight`, DeBERTa's ...). An
    # empty group is left out: DeepSpeed drops it, and the schedule would then have one group too many.
    # A parameter built in parts (ZeRO-3) keeps its whole shape as `ds_shape`.
    trained = [p for p in model.parameters() if p.requires_grad]  # all but a frozen base (training.adapter)
    decay = [p for p in trained if len(getattr(p, "ds_shape", p.shape)) >= 2]
    keep = [p for p in trained if len(getattr(p, "ds_shape", p.shape)) < 2]
    groups = [
        {"params": params, "weight_decay": rate} for params, rate in ((decay, hp.weight_decay), (keep, 0.0)) if params
    ]
    # The learning rate is given once, to the optimizer; the schedule scales it step by step.
    optimizer = torch.optim.AdamW(groups, lr=hp.learning_rate, eps=hp.adam_epsilon)
    # Each micro-step takes `micro_batch_size` examples per worker from one global micro-batch, so W
    # workers see the batches one worker would with W times the micro-batch (``shard``); a last batch
    # smaller than the workers is left out, as every worker must step on each.
    global_micro = hp.micro_batch_size * world
    sizes = [len(features) for features in trains]
    plan = functools.partial(
        mixing.plan_epoch, sizes, seed=spec.seed, global_micro=global_micro, world=world, mixture=spec.mixture
    )
    batches_per_epoch = mixing.epoch_batches(sizes, global_micro=global_micro, world=world, mixture=spec.mixture)
    rates = mixing.sampling_rates(sizes, spec.mixture) if spec.mixture is not None else None
    total_steps = math.ceil(batches_per_epoch / hp.gradient_accumulation_steps) * spec.epochs
    schedule = torch.optim.lr_scheduler.LambdaLR(
        optimizer,
        warmup_then_linear_decay(warmup_steps=round(hp.warmup_ratio * total_steps), total_steps=total_steps),
    )
    with one_fp32_copy():  # fp32 weights are their own master copy under ZeRO-3 (trainers.partition)
        engine, _, _, scheduler = deepspeed.initialize(
            model=model, optimizer=optimizer, lr_scheduler=schedule, config=ds_config
        )
    if world == 1 and spec.training.zero_stage == 0:
        # Alone, a worker has no gradients to average: DeepSpeed would still flatten, "all-reduce" and copy
        # them back every step (see bench/trainer_throughput.py). ZeRO stages keep it:
        # their reduction also moves gradients into the optimizer's partitions.
        engine.enable_backward_allreduce = False

    evaluations_plan = plan_evaluations(
        spec.training.eval_every,
        batches_per_epoch=batches_per_epoch,
        accumulation=hp.gradient_accumulation_steps,
        epochs=spec.epochs,
    )
    progress = {"epoch": 1, "position": 0, "evaluations": 0}
    if resume_dir is not None:
        progress = checkpoint.restore(engine, Path(resume_dir), batches_per_epoch=batches_per_epoch)
    pad_id = tokenizer.pad_token_id
    report = functools.partial(
        evaluate_and_report,
        engine=engine,
        spec=spec,
        sources=sources,
        tasks=tasks,
        heads=heads,
        reporter=reporter,
        scheduler=scheduler,
        evals=evals,
        capped=capped,
        rank=rank,
        batches_per_epoch=batches_per_epoch,
        planned=evaluations_plan.planned,
        pad_id=pad_id,
        rates=rates,
        sizes=sizes,
    )
    evaluations = progress["evaluations"]
    losses: list[list[float]] = [[] for _ in sources]
    train_seconds, examples = 0.0, 0
    steps = engine.global_steps
    for epoch in range(progress["epoch"], spec.epochs + 1):
        batches = plan(epoch=epoch)
        skip = progress["position"] if epoch == progress["epoch"] else 0
        engine.train()
        for position, planned_batch in enumerate(batches[skip:], start=skip + 1):
            started = time.perf_counter()
            source = sources[planned_batch.source]
            kind = tasks[source.task].kind
            mine = shard(planned_batch.indices, rank=rank, world_size=world)
            (batch,) = kinds.batches(
                kind, trains[planned_batch.source], order=mine, batch_size=len(mine), pad_id=pad_id
            )
            inputs = {k: v.to(engine.device) for k, v in batch.items()}
            loss = (engine(**inputs) if len(heads) == 1 else engine(head=source.head, **inputs)).loss
            engine.backward(loss)  # a mixture's idle heads get zero gradients (trainers.multihead)
            engine.step()
            losses[planned_batch.source].append(float(loss.detach()))
            train_seconds += time.perf_counter() - started
            examples += len(planned_batch.indices)
            stepped, steps = engine.global_steps != steps, engine.global_steps
            epoch_end = position == len(batches)
            due, final = evaluations_plan.due(
                stepped=stepped, steps=steps, epoch_end=epoch_end, trial_end=epoch_end and epoch == spec.epochs
            )
            if due:
                evaluations += 1
                report(
                    epoch=epoch,
                    position=position,
                    evaluations=evaluations,
                    final=final,
                    train={"losses": losses, "seconds": train_seconds, "examples": examples},
                )
                losses, train_seconds, examples = [[] for _ in sources], 0.0, 0
                engine.train()
    engine.destroy()


def _checkpoint_activations(model: Any, *, name: str) -> None:
    """Turn on transformers' gradient checkpointing (the non-reentrant kind, which works with ZeRO-3)."""
    target = model if hasattr(model, "gradient_checkpointing_enable") else model.base_model
    if not getattr(target, "supports_gradient_checkpointing", False):
        raise ModelError(
            f"model `{name}` ({type(target).__name__}) does not support activation checkpointing; set "
            "training.activation_checkpointing=false"
        )
    target.gradient_checkpointing_enable(gradient_checkpointing_kwargs={"use_reentrant": False})
