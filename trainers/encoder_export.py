"""Export the encoder of a trial checkpoint: the hand-over from an intermediate task to its targets.

Kept apart from the training loop (``trainers.engine``) because it runs elsewhere and later: the sweep
driver calls it once a search has chosen its best checkpoint, in a process that never trains. It builds
no model and starts no DeepSpeed engine: the model's skeleton on the meta device names the encoder's
tensors, the checkpoint supplies their values one at a time, and ``trainers.encoder_io`` writes them.
"""

from __future__ import annotations

import contextlib
import io
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from trainers import data as data_lib
from trainers import kinds, mixing
from trainers.checkpoint import TAG
from trainers.encoder_io import MAX_SHARD_BYTES, write_encoder
from trainers.errors import CheckpointError
from trainers.model import base_prefix, load_tokenizer, model_skeleton
from trainers.multihead import multihead_skeleton
from trainers.spec import TrialSpec
from trainers.tasks import get_task


def export_encoder(
    checkpoint_dir: Path, out_dir: Path, *, spec: TrialSpec, max_shard_bytes: int = MAX_SHARD_BYTES
) -> None:
    """Write the fp32 encoder of a trial checkpoint to ``out_dir`` for the target phase: safetensors shards
    with an index, atomically (``trainers.encoder_io``).

    ZeRO stages 1-3 keep the fp32 master weights in the workers' optimizer partitions: DeepSpeed's own
    tool consolidates them, lazily, so each tensor is gathered as its shard is written; stage 0
    checkpoints hold the whole module, memory-mapped. The model itself is never built (its skeleton on
    the meta device names the encoder's tensors), so the export holds at most one shard in memory.

    Example: ``export_encoder(best_checkpoint, Path("encoders/mnli/encoder"), spec=spec)``.
    """
    import torch

    if spec.training.adapter is not None:
        return _export_merged(Path(checkpoint_dir), Path(out_dir), spec=spec, max_shard_bytes=max_shard_bytes)
    skeleton = _trial_skeleton(spec)
    prefix = base_prefix(skeleton)
    encoder = skeleton.base_model.state_dict()
    parameters = {name for name, _ in skeleton.base_model.named_parameters()}
    state = _checkpoint_weights(Path(checkpoint_dir), zero_stage=spec.training.zero_stage)
    missing = [name for name in parameters if prefix + name not in state]
    if missing:
        raise CheckpointError(
            f"checkpoint {checkpoint_dir} does not fit the model of task {spec.task}: missing {sorted(missing)[:5]}"
        )
    # Buffers that checkpoints leave out (position ids) are rebuilt by the model itself.
    names = [name for name in encoder if prefix + name in state]
    with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
        write_encoder(
            {name: state[prefix + name] for name in names},
            Path(out_dir),
            # Planned from the skeleton's shapes, in the fp32 written: no weight is read (or, under ZeRO,
            # gathered) before its own shard is written.
            like={name: torch.empty(encoder[name].shape, dtype=torch.float32, device="meta") for name in names},
            materialize=lambda t: t.contiguous().float(),
            max_shard_bytes=max_shard_bytes,
        )


def _export_merged(checkpoint_dir: Path, out_dir: Path, *, spec: TrialSpec, max_shard_bytes: int) -> None:
    """A trial trained with adapters (``training.adapter``) kept only them and its heads: its model is built
    again as the trial built it (frozen weights from the same files, encoder or seed), the checkpoint's
    tensors go in, and the encoder is written with each adapter folded into its weight
    (``trainers.adapters.merged``). This holds one fp32 copy of the model, on the node that exports."""
    import torch

    from trainers import adapters
    from trainers.model import build_model, load_encoder

    outputs, tokenizer = _trial_heads(spec)
    common = {"vocab_size": len(tokenizer), "dropout": spec.hparams.dropout, "pad_token_id": tokenizer.pad_token_id}
    with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
        if len(outputs) == 1:
            ((kind, num_labels),) = outputs.values()
            model = build_model(spec.model, kind=kind, num_labels=num_labels, **common)
        else:
            from trainers.multihead import build_multihead

            model = build_multihead(spec.model, heads=outputs, **common)
        if spec.init_encoder:
            load_encoder(model, spec.init_encoder)
        adapters.attach(model, spec.training.adapter, spec.hparams)
    state = _checkpoint_weights(checkpoint_dir, zero_stage=spec.training.zero_stage)
    trained = [name for name, p in model.named_parameters() if p.requires_grad]
    missing = [name for name in trained if name not in state]
    if missing:
        raise CheckpointError(
            f"checkpoint {checkpoint_dir} does not fit the adapters of task {spec.task}: missing {sorted(missing)[:5]}"
        )
    with torch.no_grad():
        parameters = dict(model.named_parameters())
        for name in trained:
            parameters[name].copy_(state[name].contiguous().float())
    encoder = adapters.merged(model)
    with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
        write_encoder(encoder, out_dir, max_shard_bytes=max_shard_bytes)


def _trial_heads(spec: TrialSpec) -> tuple[dict[str, tuple[str, int]], Any]:
    """A trial's heads (name -> (kind, outputs)) and its tokenizer."""
    sources = mixing.sources_of(spec)
    tasks = {s.task: data_lib.resolve_labels(get_task(s.task), data_dir=Path(spec.data_dir)) for s in sources}
    outputs = {
        head: (tasks[task].kind, kinds.num_outputs(tasks[task])) for head, task in mixing.heads_of(sources).items()
    }
    return outputs, load_tokenizer(spec.model)


def _trial_skeleton(spec: TrialSpec) -> Any:
    """The model a trial of ``spec`` trains (one head per task of a mixture), on the meta device."""
    outputs, tokenizer = _trial_heads(spec)
    if len(outputs) == 1:
        ((kind, num_labels),) = outputs.values()
        return model_skeleton(
            spec.model, kind=kind, num_labels=num_labels, vocab_size=len(tokenizer), pad_token_id=tokenizer.pad_token_id
        )
    return multihead_skeleton(spec.model, heads=outputs, vocab_size=len(tokenizer), pad_token_id=tokenizer.pad_token_id)


def _checkpoint_weights(checkpoint_dir: Path, *, zero_stage: int) -> Mapping[str, Any]:
    """The whole model's fp32 weights in a trial checkpoint, by name; lazy values under ZeRO."""
    if zero_stage > 0:
        from deepspeed.utils.zero_to_fp32 import get_fp32_state_dict_from_zero_checkpoint

        # It prints progress lines (and a tqdm bar) meant for its own CLI.
        with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
            return get_fp32_state_dict_from_zero_checkpoint(str(checkpoint_dir), tag=TAG, lazy_mode=True)
    import torch

    states = checkpoint_dir / TAG / "mp_rank_00_model_states.pt"
    if not states.is_file():
        raise CheckpointError(f"{states} is missing; cannot export the intermediate encoder")
    return torch.load(states, map_location="cpu", weights_only=False, mmap=True)["module"]
