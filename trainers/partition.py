"""Models built in parts under ZeRO-3, each of a trial's workers holding only its own.

Without this each worker would build the whole model in fp32 before DeepSpeed partitions it at
``deepspeed.initialize``: a 30B decoder is 120 GB of host memory per worker, eight workers a node, and
loading a checkpoint held a second and third copy. Inside ``partitioned(ds_config)``, transformers' DeepSpeed
integration (an ``HfDeepSpeedConfig`` kept alive for the block) builds a pretrained model inside
``deepspeed.zero.Init`` and loads its checkpoint into the partitions shard by shard. A scratch model (a test-sized
stand-in) is built the same way and given the weights its seed gives at every other stage, drawn whole by
rank 0 alone (``trainers.model``), so a trial's results do not depend on its ZeRO stage.
Modules of the project's own (``trainers.heads``) are built inside ``zero.Init`` too (``own_module``), and
an encoder a pair starts from is loaded into the partitions one shard at a time
(``trainers.encoder_io.load_encoder_into``).

Outside ZeRO-3 nothing changes: transformers builds a pretrained model on the meta device and loads its
checkpoint into it, one copy per worker.

``XSTILTS_WHOLE_MODEL_BUILD=1`` in a worker's environment turns the partitioned build off (every worker
builds the whole model, as before it existed): the "before" of ``bench/zero3_memory.py``.

``one_fp32_copy()``, around ``deepspeed.initialize``, keeps ZeRO-3 from copying weights that are already fp32
into a second set of fp32 master weights (``XSTILTS_FP32_MASTER_COPY=1`` keeps the copy).
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Callable, Iterator
from typing import Any, TypeVar

T = TypeVar("T")

#: The environment variable that turns the partitioned build off (the benchmark's "before").
WHOLE_BUILD = "XSTILTS_WHOLE_MODEL_BUILD"

#: The environment variable that keeps DeepSpeed's second fp32 copy (the benchmark's "before").
MASTER_COPY = "XSTILTS_FP32_MASTER_COPY"

#: The DeepSpeed configs of the ``partitioned`` blocks now open (innermost last).
_OPEN: list[dict[str, Any]] = []
#: transformers' handles of those configs, held here: transformers keeps only a weak reference.
_HANDLES: list[Any] = []


def is_zero3(ds_config: dict[str, Any]) -> bool:
    return ds_config.get("zero_optimization", {}).get("stage") == 3


@contextlib.contextmanager
def partitioned(ds_config: dict[str, Any]) -> Iterator[None]:
    """Build the models made inside this block in parts when ``ds_config`` (a trial's DeepSpeed config) is
    ZeRO-3; otherwise do nothing. The process group must exist (``trainers.engine.ensure_process_group``)."""
    if not is_zero3(ds_config) or os.environ.get(WHOLE_BUILD) == "1":
        yield
        return
    from transformers.integrations import HfDeepSpeedConfig
    from transformers.integrations.deepspeed import unset_hf_deepspeed_config

    # Without the global batch: zero.Init checks it against DeepSpeed's own world size, which is set only
    # at deepspeed.initialize (the micro-batch and accumulation steps give it again there).
    building = {k: v for k, v in ds_config.items() if k != "train_batch_size"}
    _HANDLES.append(HfDeepSpeedConfig(building))  # alive for the block
    _OPEN.append(building)
    try:
        yield
    finally:
        _OPEN.pop()
        _HANDLES.pop()
        unset_hf_deepspeed_config()


@contextlib.contextmanager
def suspended() -> Iterator[None]:
    """Build whole again for the block, inside a ``partitioned`` one: for models on the ``meta`` device
    (names and shapes, no weights), which there is nothing to partition in."""
    if not _OPEN:
        yield
        return
    from transformers.integrations import HfDeepSpeedConfig
    from transformers.integrations.deepspeed import unset_hf_deepspeed_config

    open_now = list(_OPEN)
    _OPEN.clear()
    unset_hf_deepspeed_config()
    try:
        yield
    finally:
        _OPEN.extend(open_now)
        _HANDLES[-1] = HfDeepSpeedConfig(_OPEN[-1])


def building_partitioned() -> bool:
    """Whether models built now are built in parts (inside a ZeRO-3 ``partitioned`` block)."""
    return bool(_OPEN)


def own_module(build: Callable[[], T]) -> T:
    """A module of the project's own, made by ``build()``: inside a ZeRO-3 ``partitioned`` block, inside
    ``deepspeed.zero.Init``, so its weights are partitioned as they are made."""
    if not _OPEN:
        return build()
    import deepspeed

    with deepspeed.zero.Init(config_dict_or_path=_OPEN[-1]):
        return build()


def gathered(parameters: list[Any], *, write: bool) -> contextlib.AbstractContextManager[Any]:
    """The whole values of ``parameters`` for the block (all workers take part): ZeRO-3 partitioned ones
    are gathered, and with ``write`` what rank 0 writes into them is partitioned again at the end. Plain
    parameters (no ZeRO-3) are simply themselves."""
    if not any(hasattr(p, "ds_id") for p in parameters):
        return contextlib.nullcontext()
    import deepspeed

    return deepspeed.zero.GatheredParameters(parameters, modifier_rank=0 if write else None)


@contextlib.contextmanager
def one_fp32_copy() -> Iterator[None]:
    """ZeRO-3 optimizers made in this block use a worker's fp32 weight partitions as their master weights
    instead of copying them.

    DeepSpeed (0.19.8, ``stage3.DeepSpeedZeroOptimizer_Stage3._create_fp32_partitions``) means to do this for
    weights already in fp32 without optimizer offload, but decides it with ``partition.device ==
    self.device``, where ``self.device`` is the accelerator's device *name*, a string; a ``torch.device``
    never equals a string, so every fp32 model got a second copy of its partitions: 4 bytes a parameter
    over ZeRO-3's 16, over one fp32 copy of the model per node's workers (measured in
    ``bench/zero3_memory.py``). For the one call that decides, the name is given as the ``torch.device`` it
    names; the optimizer then steps the partitions in place, and copying them back after each step copies
    a tensor into itself. Half precision and offload take DeepSpeed's own paths as before.
    """
    if os.environ.get(MASTER_COPY) == "1":
        yield
        return
    import torch
    from deepspeed.runtime.zero.stage3 import DeepSpeedZeroOptimizer_Stage3 as Stage3

    create = Stage3._create_fp32_partitions

    def create_sharing(self: Any) -> Any:
        name = self.device
        if isinstance(name, str):
            self.device = torch.device(name)
        try:
            return create(self)
        finally:
            self.device = name

    Stage3._create_fp32_partitions = create_sharing
    try:
        yield
    finally:
        Stage3._create_fp32_partitions = create
