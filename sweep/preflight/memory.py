"""Will the model fit? DeepSpeed's estimate of the memory a worker needs for a model's states (weights,
gradients, optimizer) under the chosen ZeRO stage, offload and worker count, checked before launch.

The model is built on PyTorch's ``meta`` device from its config, so nothing is allocated and no weights
are read: a 70B config is counted in about a second. The estimate covers model states only; activations
(which grow with ``micro_batch_size`` and ``max_length`` and shrink with activation checkpointing) come
on top, so a config that fits only just may still run out of memory.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

from cluster.hardware import local_gpus
from sweep.config.records import ResourcesConfig
from trainers.spec import ModelSpec, TrainingSpec

GIB = 1024**3
#: DeepSpeed's own margin for buffers and fragmentation, as its estimators print by default.
BUFFER_FACTOR = 1.5


@dataclass(frozen=True)
class Plan:
    """One way to train: ZeRO stage, offloads and workers per trial."""

    zero_stage: int
    workers: int
    offload_optimizer: bool = False
    offload_parameters: bool = False

    def describe(self) -> str:
        parts = [f"training.zero_stage={self.zero_stage}", f"resources.workers_per_trial={self.workers}"]
        if self.offload_optimizer:
            parts.append("training.offload_optimizer=true")
        if self.offload_parameters:
            parts.append("training.offload_parameters=true")
        return " ".join(parts)


def model_sizes(model: ModelSpec) -> tuple[int, int]:
    """(parameters, parameters of the largest layer) of a pretrained model, counted on the meta device."""
    import torch
    import transformers

    from trainers.families import pretrained_config

    config = pretrained_config(model)
    with torch.device("meta"):
        built = transformers.AutoModel.from_config(config)
    total = sum(p.numel() for p in built.parameters())
    largest = max(sum(p.numel() for p in m.parameters(recurse=False)) for m in built.modules())
    return total, largest


def bytes_per_worker(total: int, largest: int, plan: Plan, *, gpu: bool) -> int:
    """The memory one worker needs for the model's states (DeepSpeed's estimators, mixed precision).

    On a GPU worker, its GPU's memory (offloaded states live in host memory instead); on a CPU worker,
    its share of host memory, where offloading moves nothing.
    """
    if not local_gpus():
        os.environ.setdefault("DS_ACCELERATOR", "cpu")  # else DeepSpeed warns that it found no GPU
    from deepspeed.runtime.zero.stage3 import estimate_zero3_model_states_mem_needs
    from deepspeed.runtime.zero.stage_1_and_2 import estimate_zero2_model_states_mem_needs

    offload_optimizer = plan.offload_optimizer and gpu
    if plan.zero_stage == 3:
        # The trainer builds the whole model on each worker before DeepSpeed partitions it (no zero.Init).
        _, device = estimate_zero3_model_states_mem_needs(
            total,
            largest,
            num_gpus_per_node=plan.workers,
            cpu_offload=offload_optimizer,
            cpu_offload_params=plan.offload_parameters and gpu,
            zero_init=False,
            additional_buffer_factor=BUFFER_FACTOR,
        )[:2]
        return int(device)
    # Stage 0 shards nothing: one worker's states are those of a single-GPU run.
    _, device = estimate_zero2_model_states_mem_needs(
        total,
        num_gpus_per_node=plan.workers if plan.zero_stage > 0 else 1,
        cpu_offload=offload_optimizer,
        additional_buffer_factor=BUFFER_FACTOR,
    )
    return int(device)


def memory_per_worker(res: ResourcesConfig) -> tuple[float | None, str]:
    """The bytes one worker may use, and where that figure comes from (None: unknown here)."""
    if res.memory_per_worker_gb is not None:
        return res.memory_per_worker_gb * GIB, "resources.memory_per_worker_gb"
    if res.gpus_per_trial > 0:
        sizes = local_gpus()
        return (min(sizes) * res.gpus_per_trial, "this machine's GPU") if sizes else (None, "")
    ram = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    cpus = os.cpu_count() or 1
    return ram * min(1.0, res.cpus_per_trial / cpus), f"this machine's memory x {res.cpus_per_trial:g}/{cpus} CPUs"


def check_memory(model: ModelSpec, training: TrainingSpec, res: ResourcesConfig, problems: list[str]) -> None:
    """Refuse a pretrained model whose states cannot fit a worker, naming plans that would."""
    if model.init != "pretrained":
        return
    available, source = memory_per_worker(res)
    if available is None:
        return
    try:
        total, largest = model_sizes(model)
    except Exception:  # a config transformers cannot build: the model checks say why
        return
    gpu = res.gpus_per_trial > 0
    chosen = Plan(training.zero_stage, res.workers_per_trial, training.offload_optimizer, training.offload_parameters)
    need = bytes_per_worker(total, largest, chosen, gpu=gpu)
    if need <= available:
        return
    fits = [
        (plan, size)
        for plan in alternatives(chosen, gpu=gpu)
        if (size := bytes_per_worker(total, largest, plan, gpu=gpu)) <= available
    ]
    hint = "; ".join(f"{plan.describe()} ({size / GIB:.1f} GiB)" for plan, size in fits[:3])
    problems.append(
        f"model `{model.name}` ({total / 1e9:.2f}B parameters) needs about {need / GIB:.1f} GiB per worker for "
        f"its weights, gradients and optimizer state under ZeRO stage {chosen.zero_stage} with "
        f"{chosen.workers} worker(s) (DeepSpeed's estimate; activations come on top), but a worker has "
        f"{available / GIB:.1f} GiB ({source}); "
        + (f"what would fit: {hint}" if hint else "no ZeRO stage, offload or worker count up to 64 fits it")
    )


def alternatives(chosen: Plan, *, gpu: bool) -> list[Plan]:
    """Plans to suggest, cheapest first: sharding more, then more workers, then offloading (GPUs only)."""
    plans = [Plan(2, chosen.workers), Plan(3, chosen.workers)]
    plans += [Plan(3, workers) for workers in (2, 4, 8, 16, 32, 64) if workers > chosen.workers]
    if gpu:
        plans += [Plan(2, chosen.workers, offload_optimizer=True), Plan(3, chosen.workers, offload_optimizer=True)]
        plans.append(Plan(3, chosen.workers, offload_optimizer=True, offload_parameters=True))
    return [plan for plan in plans if plan != chosen]
