"""What differs between pretrained model families when a trial loads one from local files.

Encoders (XLM-R, mBERT, mDeBERTa-v3 and other masked-language models) and decoder-only LLMs (Llama and
the families transformers implements in its shape) name their options differently: BERT-style configs
have ``hidden_dropout_prob`` and ``attention_probs_dropout_prob``, Llama's ``attention_dropout``, GPT-2's
``resid_pdrop``, ``embd_pdrop`` and ``attn_pdrop``. A trial's dropout goes into whichever of these fields
the model's own config has, never as one family's keyword arguments to another's constructor.

A decoder's tokenizer often has no pad token; its padding then uses the end-of-sequence token, and the
model's config learns that id, which transformers' sequence-classification heads for decoders need to
find each sequence's last real token (they pool it, as the model reads left to right). Where
transformers has no head of a kind for decoders (multiple choice), ``DecoderForMultipleChoice`` is the
project's own (``trainers.heads``), built the same way.
"""

from __future__ import annotations

from typing import Any

from trainers.errors import ModelError
from trainers.partition import own_module
from trainers.spec import ModelSpec

#: Config fields that hold a dropout probability, in any family transformers implements. Each is set
#: only where a model's config has it.
DROPOUT_FIELDS = (
    "hidden_dropout_prob",  # BERT, XLM-R, DeBERTa(-v2), ELECTRA, ...
    "attention_probs_dropout_prob",
    "hidden_dropout",  # BLOOM, Falcon
    "attention_dropout",  # Llama, Mistral, Qwen2, Gemma, BLOOM, Falcon
    "resid_pdrop",  # GPT-2, GPT-J, Phi
    "embd_pdrop",
    "attn_pdrop",
)


def pretrained_config(spec: ModelSpec) -> Any:
    """The model's own config, read from local files only (a folder, or a hub id in the local cache)."""
    from transformers import AutoConfig

    try:
        return AutoConfig.from_pretrained(spec.path, local_files_only=True)
    except (OSError, ValueError, TypeError, _strict_field_error()) as exc:
        # huggingface_hub's strict configs say which field in two lines: "Validation error for field 'x':", the cause.
        lines = [line.strip() for line in str(exc).splitlines() if line.strip()] or [type(exc).__name__]
        cause = " ".join(lines[:2]) if lines[0].endswith(":") else lines[0]
        raise ModelError(
            f"model `{spec.name}`: no usable config.json at {spec.path} ({cause}); set model.path to a local model "
            "folder (one `save_pretrained` wrote) or a hub id already in the local cache, and check its config.json "
            "against its family's"
        ) from None


def _strict_field_error() -> type[Exception]:
    """What transformers' configs raise for a field of the wrong type (``num_hidden_layers: "two"``), where
    huggingface_hub's strict dataclasses check them; ``TypeError`` with versions that do not."""
    try:
        from huggingface_hub.errors import StrictDataclassError
    except ImportError:
        return TypeError
    return StrictDataclassError


def is_decoder_only(config: Any) -> bool:
    """Whether the family is a decoder-only language model (Llama, Mistral, GPT-2, ...): it has a causal
    language-model class in transformers and no masked one, and is not an encoder-decoder."""
    from transformers.models.auto.modeling_auto import (
        MODEL_FOR_CAUSAL_LM_MAPPING_NAMES,
        MODEL_FOR_MASKED_LM_MAPPING_NAMES,
    )

    model_type = config.model_type
    return (
        model_type in MODEL_FOR_CAUSAL_LM_MAPPING_NAMES
        and model_type not in MODEL_FOR_MASKED_LM_MAPPING_NAMES
        and not getattr(config, "is_encoder_decoder", False)
    )


#: The attention kernels a model may name in ``model.attn_implementation`` (``auto`` chooses one).
ATTENTION = ("auto", "eager", "sdpa", "flash_attention_2")


def model_class(config: Any) -> Any:
    """The transformers class of ``config``'s base model (what says which attention kernels it has)."""
    from transformers.models.auto.modeling_auto import MODEL_MAPPING

    return MODEL_MAPPING[type(config)]


def flash_attention_installed() -> bool:
    import importlib.util

    return importlib.util.find_spec("flash_attn") is not None


def attention(spec: ModelSpec, config: Any, *, gpu: bool) -> str:
    """The attention kernel a model of ``config`` runs with: ``spec.attn_implementation``, or for ``auto``
    FlashAttention-2 on a GPU worker where ``flash-attn`` is installed and the family has it, else PyTorch's
    scaled-dot-product attention where the family has it, else the family's own (eager)."""
    if spec.attn_implementation != "auto":
        return spec.attn_implementation
    cls = model_class(config)
    if gpu and getattr(cls, "_supports_flash_attn", False) and flash_attention_installed():
        return "flash_attention_2"
    return "sdpa" if getattr(cls, "_supports_sdpa", False) else "eager"


def attention_problem(spec: ModelSpec, config: Any, *, gpu: bool) -> str | None:
    """Why ``spec.attn_implementation`` cannot run on these workers (None: it can)."""
    wanted = spec.attn_implementation
    if wanted not in ATTENTION:
        return f"model.attn_implementation {wanted!r} is not one of {', '.join(ATTENTION)}"
    cls = model_class(config)
    family = f"model `{spec.name}` ({config.model_type})"
    if wanted == "sdpa" and not getattr(cls, "_supports_sdpa", False):
        return f"{family} has no sdpa attention in transformers; set model.attn_implementation to eager or auto"
    if wanted == "flash_attention_2":
        if not getattr(cls, "_supports_flash_attn", False):
            return f"{family} has no FlashAttention-2 in transformers; set model.attn_implementation to sdpa or auto"
        if not gpu:
            return f"{family}: FlashAttention-2 runs on GPUs only; set resources.gpus_per_trial, or auto"
        if not flash_attention_installed():
            return (
                f"{family}: model.attn_implementation=flash_attention_2 needs the flash-attn package, which is not "
                "installed here; install it in the image (pip install flash-attn) or set attn_implementation=auto"
            )
    return None


def set_dropout(config: Any, dropout: float) -> list[str]:
    """Set ``dropout`` on every dropout field the config has; return the fields set."""
    present = config.to_dict()
    fields = [name for name in DROPOUT_FIELDS if name in present]
    for name in fields:
        setattr(config, name, dropout)
    return fields


def ensure_pad_token(tokenizer: Any, *, name: str) -> None:
    """Give a tokenizer without a pad token (most decoders') its end-of-sequence token as pad token."""
    if tokenizer.pad_token is not None:
        return
    if tokenizer.eos_token is None:
        raise ModelError(
            f"model `{name}`: its tokenizer has neither a pad token nor an end-of-sequence token to pad with; "
            "give the tokenizer a pad token (tokenizer.add_special_tokens({'pad_token': ...}) and save it)"
        )
    tokenizer.pad_token = tokenizer.eos_token


def load_pretrained(spec: ModelSpec, *, head: str, num_labels: int, dropout: float, pad_token_id: int | None) -> Any:
    """The pretrained model of ``spec`` with a fresh ``AutoModel{head}`` head (e.g. ``ForSequenceClassification``)."""
    import transformers

    config = pretrained_config(spec)
    set_dropout(config, dropout)
    config.num_labels = num_labels
    if getattr(config, "pad_token_id", None) is None and pad_token_id is not None:
        config.pad_token_id = pad_token_id
    vocab = getattr(config, "vocab_size", None)
    if isinstance(config.pad_token_id, int) and vocab and config.pad_token_id >= vocab:
        raise ModelError(
            f"model `{spec.name}`: the padding token's id {config.pad_token_id} is outside its vocabulary of {vocab} "
            f"(the tokenizer in {spec.path} adds a token the model has no embedding for); give the folder a "
            "tokenizer whose pad token is one of the model's (e.g. its end-of-sequence token)"
        )
    from safetensors import SafetensorError

    auto = getattr(transformers, f"AutoModel{head}")
    kernel = {"attn_implementation": attention(spec, config, gpu=_on_gpu())}
    try:
        return auto.from_pretrained(spec.path, config=config, local_files_only=True, **kernel)
    except (OSError, SafetensorError) as exc:  # no weights file, or one that cannot be read
        raise ModelError(
            f"model `{spec.name}`: cannot load its weights from {spec.path} ({str(exc).splitlines()[0]}); "
            "the folder needs the weights `save_pretrained` writes (model.safetensors or its shards), whole"
        ) from None
    except ValueError as exc:
        if "Unrecognized configuration class" not in str(exc):
            raise
        if head == "ForMultipleChoice" and is_decoder_only(config):
            from trainers.heads import DecoderForMultipleChoice

            decoder = transformers.AutoModel.from_pretrained(spec.path, config=config, local_files_only=True, **kernel)
            return own_module(lambda: DecoderForMultipleChoice(decoder))
        raise ModelError(
            f"model `{spec.name}` ({config.model_type}) has no `{head}` head in transformers "
            f"{transformers.__version__}; choose a model family that has one for this task"
        ) from None


def _on_gpu() -> bool:
    import torch

    return torch.cuda.is_available()


def pretrained_skeleton(spec: ModelSpec, *, head: str, num_labels: int, pad_token_id: int | None) -> Any:
    """The model ``load_pretrained`` returns, built from its config alone (call it on the meta device)."""
    import transformers

    config = pretrained_config(spec)
    config.num_labels = num_labels
    if getattr(config, "pad_token_id", None) is None and pad_token_id is not None:
        config.pad_token_id = pad_token_id
    try:
        return getattr(transformers, f"AutoModel{head}").from_config(config)
    except ValueError:
        if head == "ForMultipleChoice" and is_decoder_only(config):
            from trainers.heads import DecoderForMultipleChoice

            decoder = transformers.AutoModel.from_config(config)
            return own_module(lambda: DecoderForMultipleChoice(decoder))
        raise
