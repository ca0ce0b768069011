"""Tokenizers and encoder models, built from config (no download) or loaded from local files."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from trainers.encoder_io import MAX_SHARD_BYTES, load_encoder_into, load_tensors_into, write_encoder
from trainers.errors import CheckpointError, DataError
from trainers.families import attention, ensure_pad_token, load_pretrained, pretrained_skeleton
from trainers.fileio import local_copy
from trainers.partition import building_partitioned, suspended
from trainers.spec import ModelSpec

_XLMR_SPECIALS = {
    "bos_token": "<s>",
    "eos_token": "</s>",
    "unk_token": "<unk>",
    "sep_token": "</s>",
    "cls_token": "<s>",
    "pad_token": "<pad>",
    "mask_token": "<mask>",
}


def load_tokenizer(spec: ModelSpec) -> Any:
    """Load the tokenizer a model spec names: a ``tokenizer.json`` file or a local model folder."""
    from transformers import AutoTokenizer, PreTrainedTokenizerFast

    source = spec.tokenizer or spec.path
    if source is None:
        raise DataError(
            f"model `{spec.name}` names no tokenizer; set model.tokenizer to a tokenizer.json or a local model folder"
        )
    path = Path(source)
    if path.suffix == ".json":
        if not path.is_file():
            raise DataError(f"tokenizer file {path} does not exist; set model.tokenizer to an existing file")
        return PreTrainedTokenizerFast(tokenizer_file=str(path), **_XLMR_SPECIALS)
    # Only local files: a sweep never downloads at run time.
    tokenizer = AutoTokenizer.from_pretrained(source, local_files_only=True)
    ensure_pad_token(tokenizer, name=spec.name)  # decoders' tokenizers often have none
    return tokenizer


def build_model(
    spec: ModelSpec,
    *,
    kind: str = "classification",
    num_labels: int,
    vocab_size: int,
    dropout: float,
    pad_token_id: int | None = None,
) -> Any:
    """Return a model with a fresh head for ``kind`` (``num_labels`` classes or tags).

    A ``scratch`` model gets weights from ``spec.seed`` alone, so every trial of a sweep starts
    from the same "pretrained" encoder; a ``pretrained`` one is loaded from local files, its dropout set
    through its own family's config fields and, for a decoder, its tokenizer's ``pad_token_id``
    (``trainers.families``). Inside ``trainers.partition.partitioned`` (ZeRO-3) the model is built in
    parts, each worker holding only its own.
    """
    import torch

    from trainers.kinds import HEADS

    head = HEADS[kind]
    if spec.init == "pretrained":
        return load_pretrained(spec, head=head, num_labels=num_labels, dropout=dropout, pad_token_id=pad_token_id)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(spec.seed)
        return _scratch_model(spec, head=head, num_labels=num_labels, vocab_size=vocab_size, dropout=dropout)


def model_skeleton(
    spec: ModelSpec, *, kind: str, num_labels: int, vocab_size: int, pad_token_id: int | None = None
) -> Any:
    """The model ``build_model`` builds, on PyTorch's ``meta`` device: its modules, names and shapes, with
    no memory for weights and no weights read (what exporting an encoder needs to know)."""
    import torch

    from trainers.kinds import HEADS

    head = HEADS[kind]
    with suspended(), torch.device("meta"):  # nothing to partition: no weights
        if spec.init == "pretrained":
            return pretrained_skeleton(spec, head=head, num_labels=num_labels, pad_token_id=pad_token_id)
        return _scratch_model(spec, head=head, num_labels=num_labels, vocab_size=vocab_size, dropout=0.0)


def _scratch_model(spec: ModelSpec, *, head: str, num_labels: int, vocab_size: int, dropout: float) -> Any:
    import torch
    import transformers

    config = transformers.XLMRobertaConfig(
        vocab_size=vocab_size,
        hidden_size=spec.hidden_size,
        num_hidden_layers=spec.num_layers,
        num_attention_heads=spec.num_heads,
        intermediate_size=spec.intermediate_size,
        # XLM-R offsets positions by the pad id + 1; a target with its own length keeps stage one's table.
        max_position_embeddings=spec.max_positions or spec.max_length + 2,
        type_vocab_size=1,
        pad_token_id=1,
        bos_token_id=0,
        eos_token_id=2,
        num_labels=num_labels,
        hidden_dropout_prob=dropout,
        attention_probs_dropout_prob=dropout,
    )
    config._attn_implementation = attention(spec, config, gpu=torch.cuda.is_available())
    if building_partitioned():
        return _scratch_in_parts(config, head=head)
    return getattr(transformers, f"XLMRoberta{head}")(config)


def _scratch_in_parts(config: Any, *, head: str) -> Any:
    """A scratch model built in parts (ZeRO-3) with the weights the same seed gives at every other stage:
    rank 0 draws the whole model as ``_scratch_model`` does and writes it into the partitions, parameter by
    parameter; the other workers never hold it. (Drawn in parts, module by module, the weights would
    depend on the ZeRO stage, and a trial's results should not.) A scratch model is a test-sized stand-in
    for a pretrained one; a pretrained model is loaded into its parts by transformers without any whole copy.
    """
    import torch
    import torch.distributed as dist
    import transformers

    # Drawn first, from the seed's generator state, as at the other stages.
    whole = getattr(transformers, f"XLMRoberta{head}")(config) if dist.get_rank() == 0 else None
    with torch.random.fork_rng(devices=[]):  # what is drawn next (a mixture's other heads) as at other stages
        parts = getattr(transformers, f"AutoModel{head}").from_config(config)  # transformers' ZeRO-3 path
    names = list(parts.state_dict())
    load_tensors_into(parts, whole.state_dict() if whole is not None else {}, names=names)
    return parts


def base_prefix(model: Any) -> str:
    """The prefix of the encoder's keys in the whole model's state dict (``"roberta."``, ``"model."``...)."""
    base = model.base_model
    if base is model:
        return ""
    return next(f"{name}." for name, module in model.named_modules() if module is base)


def encoder_state(model: Any) -> dict[str, Any]:
    """Return the encoder's weights (everything but the task head), keyed as in ``base_model``."""
    return {k: v.detach().to("cpu").clone() for k, v in model.base_model.state_dict().items()}


def load_encoder(model: Any, location: str | Path) -> None:
    """Load an exported encoder (``trainers.encoder_io``: safetensors shards, one at a time) into ``model``;
    the task head stays fresh. ``location`` is a folder, or a URI on shared storage (fetched shard by
    shard). A single ``encoder.pt`` file, as earlier versions exported, is read too."""
    target = model.base_model
    if str(location).endswith(".pt"):
        loaded = _load_torch_file(target, location)
    else:
        loaded = load_encoder_into(target, location)
    # Pooler weights may be absent on one side; anything else means a different architecture.
    missing = [k for k, _ in target.named_parameters() if k not in loaded and not k.startswith("pooler.")]
    if missing:
        raise CheckpointError(
            f"encoder {location} does not fit the model: missing {missing[:5]}; the intermediate and target "
            "phases must use the same model"
        )


def _load_torch_file(target: Any, location: str | Path) -> set[str]:
    import torch

    missing = CheckpointError(
        f"intermediate encoder {location} does not exist; rerun the intermediate search "
        "(`sweep resume` re-exports it from the best checkpoint)"
    )
    try:
        path = local_copy(location)
    except (DataError, OSError):
        raise missing from None
    if not path.is_file():
        raise missing
    state = torch.load(path, map_location="cpu", weights_only=True)
    unexpected = [k for k in state if k not in target.state_dict() and not k.startswith("pooler.")]
    if unexpected:
        raise CheckpointError(
            f"encoder {path} does not fit the model: unexpected {unexpected[:5]}; the intermediate and target "
            "phases must use the same model"
        )
    load_tensors_into(target, state)
    return set(state)


def save_encoder(state: dict[str, Any], path: Path, *, max_shard_bytes: int = MAX_SHARD_BYTES) -> None:
    """Write encoder weights as an encoder folder (``trainers.encoder_io``), atomically."""
    write_encoder(state, Path(path), max_shard_bytes=max_shard_bytes)
