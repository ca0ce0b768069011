"""The checks of a config's model and precision settings: sizes, ZeRO and offload, and a pretrained
model's files (config, weights, tokenizer, vocabulary and positions), before any of them is loaded.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from sweep.config.model_files import hub_cache_file, in_hub_cache, model_config_data, usable_positions
from sweep.errors import check_choice
from trainers.spec import ADAPTER_METHODS, ModelSpec, TrainingSpec, eval_interval


def check_model(model: ModelSpec, training: TrainingSpec, problems: list[str], *, check_files: bool = True) -> None:
    """The model and precision settings: sizes, files (with ``check_files``), and names Ray and DeepSpeed
    will not catch early."""
    check_choice(problems, "model.init", model.init, ("scratch", "pretrained"))
    check_choice(problems, "training.precision", training.precision, ("fp32", "bf16", "fp16"))
    if training.zero_stage not in (0, 1, 2, 3):
        problems.append(f"training.zero_stage must be 0, 1, 2 or 3, got {training.zero_stage}")
    if training.offload_optimizer and training.zero_stage == 0:
        problems.append("training.offload_optimizer needs ZeRO: set training.zero_stage to 1, 2 or 3")
    if training.offload_parameters and training.zero_stage != 3:
        problems.append("training.offload_parameters needs training.zero_stage=3 (only stage 3 partitions parameters)")
    if (adapter := training.adapter) is not None:
        check_choice(problems, "training.adapter.method", adapter.method, ADAPTER_METHODS)
        if adapter.r < 1 or adapter.alpha <= 0:
            problems.append(
                f"training.adapter: r must be >= 1 and alpha > 0, got r={adapter.r}, alpha={adapter.alpha:g}"
            )
        if not 0 <= adapter.dropout < 1:
            problems.append(f"training.adapter.dropout must be in [0, 1), got {adapter.dropout:g}")
    if model.init == "scratch":
        check_choice(problems, "model.architecture", model.architecture, ("xlm-roberta",))
        if min(model.hidden_size, model.num_layers, model.num_heads, model.intermediate_size) < 1:
            problems.append("model sizes (hidden_size, num_layers, num_heads, intermediate_size) must be >= 1")
        elif model.hidden_size % model.num_heads:
            problems.append(
                f"model.hidden_size ({model.hidden_size}) must be divisible by model.num_heads ({model.num_heads})"
            )
        if not model.tokenizer:
            problems.append("model.tokenizer must name a tokenizer.json for a scratch model")
        elif not Path(model.tokenizer).exists():
            problems.append(
                f"model.tokenizer {model.tokenizer} does not exist; point it at a tokenizer.json or a folder "
                "tokenizer.save_pretrained wrote"
            )
        elif check_files:
            _check_scratch_tokenizer(model.tokenizer, problems)
    elif model.init == "pretrained":
        if not check_files:  # the config alone: this machine may not have the model (a smoke run's)
            if not model.path:
                problems.append("model.path must name a local model folder (or a cached hub id) for init: pretrained")
        elif not model.path:
            problems.append("model.path must name a local model folder (or a cached hub id) for init: pretrained")
        elif not Path(model.path).exists() and not in_hub_cache(model.path):
            problems.append(
                f"model.path `{model.path}` is neither a local folder nor in the local hub cache; "
                "download it once with `huggingface-cli download` where there is internet"
            )
        else:
            _check_pretrained_files(model, problems)
    if model.max_length < 8:
        problems.append(f"model.max_length must be at least 8 tokens, got {model.max_length}")
    if training.eval_every is not None:
        try:
            eval_interval(training.eval_every)
        except ValueError as exc:
            problems.append(str(exc))
    if training.eval_dev_examples is not None and training.eval_dev_examples < 1:
        problems.append(
            f"training.eval_dev_examples must be >= 1 (or left out: whole dev), got {training.eval_dev_examples}"
        )
    if training.eval_batch_size < 1 or training.torch_threads < 1:
        problems.append("training.eval_batch_size and training.torch_threads must be >= 1")


def check_attention(model: ModelSpec, resources: Any, problems: list[str], *, check_files: bool = True) -> None:
    """``model.attn_implementation``: a kernel transformers has for the family, on the workers' devices (a
    pretrained model's family is read from its config.json, with ``check_files``)."""
    from trainers.families import ATTENTION, attention_problem

    if model.attn_implementation not in ATTENTION:
        problems.append(f"model.attn_implementation {model.attn_implementation!r} is not one of {', '.join(ATTENTION)}")
        return
    if model.attn_implementation == "auto":
        return
    config = _family_config(model, check_files=check_files)
    if config is not None and (problem := attention_problem(model, config, gpu=resources.gpus_per_trial > 0)):
        problems.append(problem)


def attention_of(config: Any) -> str | None:
    """The attention kernel the trials of a one-model study (``SweepConfig.for_model``) run with, as
    ``trainers.families.attention`` resolves it on their workers (None: the model's config is not here)."""
    from trainers.families import attention

    family = _family_config(config.model, check_files=True)
    return None if family is None else attention(config.model, family, gpu=config.resources.gpus_per_trial > 0)


def _family_config(model: ModelSpec, *, check_files: bool) -> Any:
    """The transformers config of the model's family (None where it cannot be read here)."""
    import transformers

    if model.init == "scratch":
        return transformers.XLMRobertaConfig()
    if not check_files or not model.path:
        return None
    try:
        from trainers.families import pretrained_config

        return pretrained_config(model)
    except Exception:  # the file checks say what is wrong with it
        return None


#: What ``save_pretrained`` writes for the weights (one file, or shards with an index), either format.
WEIGHT_FILES = (
    "model.safetensors",
    "model.safetensors.index.json",
    "pytorch_model.bin",
    "pytorch_model.bin.index.json",
)
#: Any one of these makes a folder a tokenizer ``AutoTokenizer`` can load (fast, WordPiece, SentencePiece, BPE).
TOKENIZER_FILES = (
    "tokenizer.json",
    "tokenizer_config.json",
    "vocab.txt",
    "tokenizer.model",
    "sentencepiece.bpe.model",
    "spm.model",
    "vocab.json",
)


def _has_file(source: str, names: tuple[str, ...]) -> bool:
    folder = Path(source)
    if folder.is_dir():
        return any((folder / name).is_file() for name in names)
    return any(hub_cache_file(source, name) for name in names)


def _check_scratch_tokenizer(tokenizer: str, problems: list[str]) -> None:
    """A scratch model's tokenizer, read as the trials read it (``trainers.model.load_tokenizer``): a
    ``tokenizer.json``, parsed here by the ``tokenizers`` library (no transformers, no torch), or a folder
    ``tokenizer.save_pretrained`` wrote."""
    path = Path(tokenizer)
    fix = "point model.tokenizer at the tokenizer.json that tokenizer.save_pretrained wrote, or at its folder"
    if path.is_dir():
        if not _has_file(tokenizer, TOKENIZER_FILES):
            problems.append(
                f"model.tokenizer {tokenizer} holds no tokenizer (none of {', '.join(TOKENIZER_FILES[:3])}, ...); {fix}"
            )
        return
    if path.suffix != ".json":
        problems.append(f"model.tokenizer {tokenizer} is neither a tokenizer.json nor a folder; {fix}")
        return
    from tokenizers import Tokenizer

    try:
        Tokenizer.from_file(tokenizer)
    except Exception as exc:  # noqa: BLE001 - the tokenizers library raises a bare Exception for unreadable files
        cause = (str(exc).splitlines() or [type(exc).__name__])[0]
        what = f"model.tokenizer {tokenizer} is not a tokenizer.json"
        problems.append(f"{what} the tokenizers library can read ({cause}); {fix}")


def _check_pretrained_files(model: ModelSpec, problems: list[str]) -> None:
    """What the trials would find out one by one: config, weights, tokenizer and sizes of a local model."""
    if not model.path:
        return
    data = model_config_data(model)
    if not data or "model_type" not in data:
        problems.append(
            f"model.path {model.path} has no readable config.json with a model_type; point model.path at the "
            "folder `save_pretrained` wrote"
        )
        return
    from trainers.errors import ModelError
    from trainers.families import pretrained_config

    try:  # a field of the wrong type: transformers reads config.json for the tokenizer too, so say it once
        pretrained_config(model)
    except ModelError as exc:
        problems.append(str(exc))
        return
    if not _has_file(model.path, WEIGHT_FILES):
        problems.append(
            f"model.path {model.path} has no weights ({' or '.join(WEIGHT_FILES[:2])}); copy the whole folder "
            "`save_pretrained` wrote, weights included"
        )
    tokenizer = model.tokenizer or model.path
    if Path(tokenizer).suffix == ".json":
        if not Path(tokenizer).is_file():
            problems.append(
                f"model.tokenizer {tokenizer} does not exist; point it at the model's tokenizer.json, or set "
                "model.tokenizer=null to use the one in model.path"
            )
        else:
            _check_vocabulary(model, data, problems)
    elif not (Path(tokenizer).exists() or in_hub_cache(tokenizer)) or not _has_file(tokenizer, TOKENIZER_FILES):
        where = "model.tokenizer" if model.tokenizer else "model.path"
        problems.append(
            f"{where} {tokenizer} holds no tokenizer (none of {', '.join(TOKENIZER_FILES[:3])}, ...); save the "
            "model's tokenizer there (tokenizer.save_pretrained) or set model.tokenizer to a folder that has one"
        )
    else:
        _check_vocabulary(model, data, problems)
    hidden, heads = data.get("hidden_size"), data.get("num_attention_heads")
    if isinstance(hidden, int) and isinstance(heads, int) and heads > 0 and hidden % heads:
        problems.append(f"model.path {model.path}: hidden_size {hidden} is not divisible by {heads} attention heads")
    else:
        _check_buildable(model, problems)
    usable = usable_positions(model)
    if usable is not None and model.max_length > usable:
        problems.append(
            f"model.max_length {model.max_length} is longer than the {usable} positions model.path "
            f"{model.path} ({data['model_type']}) has; set model.max_length to at most {usable}"
        )


def _check_vocabulary(model: ModelSpec, data: dict[str, Any], problems: list[str]) -> None:
    """Every id the tokenizer gives, its pad token's included, must have an embedding: past the model's
    ``vocab_size`` a trial fails at its first batch (torch's "Padding_idx must be within num_embeddings").
    The tokenizer is loaded as the trials load it (``trainers.model.load_tokenizer``: transformers' class for
    the folder, which may add tokens, and the end-of-sequence token as pad token when it has none). The usual
    causes: a scratch config's ``model.tokenizer`` kept when switching to a pretrained model, and a tokenizer
    saved beside a model of another family (Qwen2's adds ``<|endoftext|>`` to a vocabulary of exactly the
    model's size)."""
    vocab = data.get("vocab_size")
    if not isinstance(vocab, int):
        return
    from trainers.errors import DataError, ModelError
    from trainers.model import load_tokenizer

    try:
        tokenizer = load_tokenizer(model)
    except (DataError, ModelError) as exc:
        problems.append(str(exc))
        return
    except Exception as exc:  # noqa: BLE001 - tokenizers and transformers raise many kinds on unreadable files
        where = f"model.tokenizer {model.tokenizer}" if model.tokenizer else f"model.path {model.path}"
        problems.append(
            f"{where}: its tokenizer cannot be loaded ({(str(exc).splitlines() or [type(exc).__name__])[0]}); save "
            "the model's tokenizer there again (tokenizer.save_pretrained)"
        )
        return
    size = len(tokenizer)  # added tokens included
    configured = data.get("pad_token_id")
    pad = configured if isinstance(configured, int) else tokenizer.pad_token_id
    if model.tokenizer and size > vocab:
        problems.append(
            f"model.tokenizer {model.tokenizer} has {size} tokens, more than the {vocab} embeddings "
            f"of model.path {model.path}; a pretrained model needs its own tokenizer: set model.tokenizer=null "
            "to use the one in model.path"
        )
    elif size > vocab or (isinstance(pad, int) and pad >= vocab):
        what = (
            f"its pad token `{tokenizer.pad_token}` has id {pad}"
            if isinstance(pad, int) and pad >= vocab
            else f"it has {size} tokens"
        )
        problems.append(
            f"model.path {model.path}: the tokenizer gives ids the model has no embedding for ({what}, and the "
            f"model has {vocab} embeddings); save a tokenizer that matches the model in {model.path}, or resize "
            f"the model's embeddings (model.resize_token_embeddings({max(size, (pad or 0) + 1)}), then "
            "save_pretrained) and train them"
        )


def _check_buildable(model: ModelSpec, problems: list[str]) -> None:
    """The model's body, built from its config on the ``meta`` device (shapes, no memory; the memory check's
    own count, ``sweep.preflight.memory.model_sizes``): what transformers refuses there (an activation it has
    no function for, sizes its layers cannot take) every trial would meet at its start, with the trial's own
    message (``trainers.engine.unbuildable_is_fatal``)."""
    from sweep.preflight.memory import model_sizes
    from trainers.engine import unbuildable_is_fatal
    from trainers.errors import ModelError

    try:
        with unbuildable_is_fatal(model):
            model_sizes(model)
    except ModelError as exc:
        problems.append(str(exc))
