"""Will the model fit? DeepSpeed's estimate of the memory a worker needs for a model's states (weights,
gradients, optimizer) under the chosen ZeRO stage, offload and worker count, and of the host memory a GPU
node needs for the workers on it (offloaded states, and the model while it loads), checked before launch.

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
from trainers.spec import AdapterSpec, ModelSpec, TrainingSpec

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


def adapter_size(model: ModelSpec, adapter: AdapterSpec) -> int:
    """The parameters ``adapter``'s LoRA adds to a pretrained model (r x (inputs + outputs) for each adapted
    linear layer, at the adapter's own rank), counted on the meta device."""
    import torch
    import transformers

    from trainers.adapters import target_modules
    from trainers.families import pretrained_config

    with torch.device("meta"):
        built = transformers.AutoModel.from_config(pretrained_config(model))
    targets = set(target_modules(built, adapter))
    return sum(
        adapter.r * (m.in_features + m.out_features)
        for name, m in built.named_modules()
        if isinstance(m, torch.nn.Linear) and name.rsplit(".", 1)[-1] in targets
    )


def frozen_bytes(total: int, largest: int, plan: Plan, *, precision: str) -> int:
    """A frozen base's weights on one worker (``training.adapter``): no gradients, no optimizer state,
    only the weights in the trial's precision; ZeRO-3 shards them and gathers a layer at a time."""
    size = 4 if precision == "fp32" else 2
    if plan.zero_stage == 3:
        return int(size * (total / plan.workers + largest))
    return size * total


def bytes_per_worker(total: int, largest: int, plan: Plan, *, gpu: bool) -> int:
    """The memory one worker needs for the model's states (DeepSpeed's estimators, mixed precision).

    On a GPU worker, its GPU's memory (offloaded states live in host memory instead); on a CPU worker,
    its share of host memory, where offloading moves nothing.
    """
    if plan.zero_stage == 3:
        return _zero3(total, largest, plan, gpu=gpu, workers_per_node=plan.workers)[1]
    return _zero2(total, plan, gpu=gpu, workers_per_node=plan.workers)[1]


def host_bytes_per_node(total: int, largest: int, plan: Plan, *, workers_per_node: int) -> int:
    """The host memory one GPU node needs for a trial's ``workers_per_node`` workers on it: their offloaded
    states, and what loading the model takes there (DeepSpeed's estimators). Below ZeRO-3 every worker
    loads one whole fp32 copy of the model; under ZeRO-3 the model is built in parts (``trainers.partition``,
    DeepSpeed's ``zero_init``), and a worker holds its partition and the largest layer while loading."""
    workers_per_node = max(1, min(workers_per_node, plan.workers))
    if plan.zero_stage == 3:
        return _zero3(total, largest, plan, gpu=True, workers_per_node=workers_per_node)[0]
    return _zero2(total, plan, gpu=True, workers_per_node=workers_per_node)[0]


def _deepspeed_estimators() -> None:
    if not local_gpus():
        os.environ.setdefault("DS_ACCELERATOR", "cpu")  # else DeepSpeed warns that it found no GPU


def _zero3(total: int, largest: int, plan: Plan, *, gpu: bool, workers_per_node: int) -> tuple[int, int]:
    _deepspeed_estimators()
    from deepspeed.runtime.zero.stage3 import estimate_zero3_model_states_mem_needs

    nodes = max(1, -(-plan.workers // workers_per_node))
    host, device = estimate_zero3_model_states_mem_needs(
        total,
        largest,
        num_gpus_per_node=workers_per_node,
        num_nodes=nodes,
        cpu_offload=plan.offload_optimizer and gpu,
        cpu_offload_params=plan.offload_parameters and gpu,
        zero_init=True,  # the trainer builds the model in parts (trainers.partition)
        additional_buffer_factor=BUFFER_FACTOR,
    )[:2]
    return int(host), int(device)


def _zero2(total: int, plan: Plan, *, gpu: bool, workers_per_node: int) -> tuple[int, int]:
    _deepspeed_estimators()
    from deepspeed.runtime.zero.stage_1_and_2 import estimate_zero2_model_states_mem_needs

    # Stage 0 shards nothing: one worker's states are those of a single-GPU run.
    sharded = plan.workers if plan.zero_stage > 0 else 1
    nodes = max(1, -(-sharded // workers_per_node))
    host, device = estimate_zero2_model_states_mem_needs(
        total,
        num_gpus_per_node=min(workers_per_node, sharded),
        num_nodes=nodes,
        cpu_offload=plan.offload_optimizer and gpu,
        additional_buffer_factor=BUFFER_FACTOR,
    )
    if plan.zero_stage == 0:  # every worker of the node still loads its own copy
        host = host * max(1, min(workers_per_node, plan.workers))
    return int(host), int(device)


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


def host_memory_per_node(res: ResourcesConfig) -> tuple[float | None, int, str]:
    """A GPU node's RAM in bytes, the workers of a trial on one node, and where the RAM figure comes from
    (None: unknown here, no check)."""
    gpus = local_gpus()
    per_node = res.gpus_per_node or (len(gpus) if gpus else 8)
    if res.host_memory_per_node_gb is not None:
        return res.host_memory_per_node_gb * GIB, per_node, "resources.host_memory_per_node_gb"
    if gpus:
        ram = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
        return ram, per_node, "this machine's memory"
    return None, per_node, ""


def check_memory(model: ModelSpec, training: TrainingSpec, res: ResourcesConfig, problems: list[str]) -> None:
    """Refuse a pretrained model whose states cannot fit a worker, or whose workers cannot fit a GPU node's
    host memory, naming plans that would fit both."""
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
    host, per_node, host_source = host_memory_per_node(res) if gpu else (None, 1, "")
    trained = total  # every weight trains, or (training.adapter) only the adapters and heads on a frozen base
    if training.adapter is not None:
        from trainers.errors import ModelError

        try:
            trained = adapter_size(model, training.adapter)
        except ModelError as exc:  # target modules the model does not have
            problems.append(str(exc))
            return

    def need(plan: Plan) -> int:
        if trained == total:
            return bytes_per_worker(total, largest, plan, gpu=gpu)
        frozen = frozen_bytes(total, largest, plan, precision=training.precision)
        return frozen + bytes_per_worker(trained, min(largest, trained), plan, gpu=gpu)

    def host_need(plan: Plan) -> int:
        return host_bytes_per_node(total, largest, plan, workers_per_node=per_node)

    def fits(plan: Plan) -> bool:
        return need(plan) <= available and (host is None or host_need(plan) <= host)

    chosen = Plan(training.zero_stage, res.workers_per_trial, training.offload_optimizer, training.offload_parameters)
    if fits(chosen):
        return
    ok = [plan for plan in alternatives(chosen, gpu=gpu) if fits(plan)]
    hint = "; ".join(
        f"{plan.describe()} ({need(plan) / GIB:.1f} GiB a worker"
        + (f", {host_need(plan) / GIB:.0f} GiB of host memory a node)" if host is not None else ")")
        for plan in ok[:3]
    )
    needed = need(chosen)
    what = "its weights, gradients and optimizer state"
    if trained != total:
        what = f"its frozen weights and its adapters' ({trained / 1e6:.1f}M parameters) gradients and optimizer state"
    if needed > available:
        problem = (
            f"model `{model.name}` ({total / 1e9:.2f}B parameters) needs about {needed / GIB:.1f} GiB per worker "
            f"for {what} under ZeRO stage {chosen.zero_stage} with "
            f"{chosen.workers} worker(s) (DeepSpeed's estimate; activations come on top), but a worker has "
            f"{available / GIB:.1f} GiB ({source}); "
        )
    else:
        problem = (
            f"model `{model.name}` ({total / 1e9:.2f}B parameters) needs about {host_need(chosen) / GIB:.0f} GiB "
            f"of host memory on a node for {min(per_node, chosen.workers)} of its {chosen.workers} worker(s) under "
            f"ZeRO stage {chosen.zero_stage} (DeepSpeed's estimate: offloaded states, and below ZeRO-3 a whole "
            f"fp32 copy of the model a worker while it loads), but a node has {host / GIB:.0f} GiB "
            f"({host_source}); "
        )
    problems.append(
        problem + (f"what would fit: {hint}" if hint else "no ZeRO stage, offload or worker count up to 64 fits it")
    )


def alternatives(chosen: Plan, *, gpu: bool) -> list[Plan]:
    """Plans to suggest, cheapest first: sharding more, then more workers, then offloading (GPUs only)."""
    plans = [Plan(2, chosen.workers), Plan(3, chosen.workers)]
    plans += [Plan(3, workers) for workers in (2, 4, 8, 16, 32, 64) if workers > chosen.workers]
    if gpu:
        plans += [Plan(2, chosen.workers, offload_optimizer=True), Plan(3, chosen.workers, offload_optimizer=True)]
        plans.append(Plan(3, chosen.workers, offload_optimizer=True, offload_parameters=True))
    return [plan for plan in plans if plan != chosen]
