"""The checks of a config against the world outside it: the task registry, the data folder and the
model's files. ``sweep.config.validate`` runs them; none starts Ray or loads a model.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sweep.errors import suggest
from sweep.mixtures import check_mixture, is_mixture
from trainers.errors import DataError, TaskError
from trainers.languages import get_language
from trainers.spec import ModelSpec, TrainingSpec, eval_interval
from trainers.tasks import (
    LANGUAGE_MARK,
    PER_LANGUAGE_REGIMES,
    REGIMES,
    eval_split,
    get_task,
    split_ref,
    training_data,
)

if TYPE_CHECKING:
    from sweep.config import SweepConfig


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
            problems.append(f"model.tokenizer {model.tokenizer} does not exist")
    elif model.init == "pretrained":
        if not check_files:  # the config alone: this machine may not have the model (a smoke run's)
            if not model.path:
                problems.append("model.path must name a local model folder (or a cached hub id) for init: pretrained")
        elif not model.path:
            problems.append("model.path must name a local model folder (or a cached hub id) for init: pretrained")
        elif not Path(model.path).exists() and not _in_hub_cache(model.path):
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


def check_tasks(config: SweepConfig, problems: list[str], *, check_data: bool) -> None:
    """Tasks, languages and, with ``check_data``, every file the sweep will read."""
    if not config.target_tasks:
        problems.append("target_tasks is empty; name at least one target task (`sweep tasks` lists them)")
    languages_ok = True
    for lang in config.languages:
        try:
            get_language(lang)
        except TaskError as exc:
            problems.append(f"languages: {exc}")
            languages_ok = False
    tasks = {}
    mixtures: dict[str, Any] = {}
    _check_mixture_names(config, problems)
    _check_regimes(config, problems)
    for key in ("intermediate_tasks", "target_tasks"):
        names = getattr(config, key)
        for name in sorted({n for n in names if names.count(n) > 1}):
            problems.append(f"{key}: `{name}` is listed twice; each task runs once")
        for name in names:
            try:
                # Intermediate tasks may name their training languages (xnli@de+fr); targets train in English.
                if key == "target_tasks" and LANGUAGE_MARK in name:
                    raise TaskError(
                        f"`{name}`: targets train on their English training set (zero-shot transfer); "
                        f"name training languages on intermediate tasks instead (intermediate_tasks: [{name}])"
                    )
                if key == "intermediate_tasks" and is_mixture(config, name):
                    if (mixture := check_mixture(config, name, problems)) is not None:
                        mixtures[name] = mixture
                    continue
                task_name = split_ref(name)[0] if key == "intermediate_tasks" else name
                tasks[(key, name)] = get_task(task_name)
            except TaskError as exc:
                problems.append(f"{key}: {exc}")
    if not config.languages:
        problems.append("languages is empty; name the evaluation languages (or `all`)")
    elif languages_ok:
        targets = [t for (key, _), t in tasks.items() if key == "target_tasks"]
        for lang in config.languages:
            if targets and not any(lang in t.languages for t in targets):
                problems.append(
                    f"language `{lang}` is in none of the target tasks "
                    f"({', '.join(t.name for t in targets)}); drop it from languages"
                )
        if config.search.select_on == "mean_dev":
            _validate_mean_dev(config, [t for t in targets if t.kind != "retrieval"], problems)
    for name, mixture in mixtures.items():
        if config.training.zero_stage == 3 and len({s.head for s in mixture.sources}) > 1:
            from trainers.mixing import ZERO3_HEADS

            problems.append(f"mixture `{name}`: {ZERO3_HEADS}")
    for name, mixture in mixtures.items():  # the registry's part: a dev split to select each source on
        for source in mixture.sources:
            for lang in source.languages:
                if source.dev_task is None and eval_split(get_task(source.task), role="dev", language=lang) is None:
                    problems.append(f"mixture `{name}`: task `{source.task}` has no `{lang}` dev split to select on")
    data_dir = Path(config.data_dir)
    if not check_data:
        return
    if not data_dir.is_dir():
        problems.append(
            f"data_dir {data_dir} is not a folder; point it at a local mirror "
            "(<config>/<split>.jsonl files in the hub's layout)"
        )
        return
    from trainers.kinds import TRAINABLE_KINDS

    for (key, name), task in tasks.items():
        if task.kind == "retrieval" and key == "target_tasks":
            _validate_retrieval(config, name, data_dir=data_dir, problems=problems)
            continue
        if task.kind not in TRAINABLE_KINDS:
            problems.append(
                f"{key}: task `{name}` is a {task.kind} task, which is evaluated rather than trained; "
                f"sweeps train {', '.join(TRAINABLE_KINDS)} tasks"
            )
            continue
        train_task, train_languages = training_data(name)
        needs = [(train_task, lang, "train") for lang in train_languages]
        for lang in train_languages:
            if (dev := eval_split(task, role="dev", language=lang)) is None:
                problems.append(f"{key}: task `{name}` has no `{lang}` dev split to select trials on")
            else:
                needs.append((dev[0], lang, dev[1]))
        if key == "target_tasks":
            for lang in config.eval_languages(name):
                for role in ("dev", "test"):
                    if (where := eval_split(task, role=role, language=lang)) is not None:
                        needs.append((where[0], lang, where[1]))
        _check_files(needs, [task], data_dir=data_dir, problems=problems)
    _check_regime_files(config, data_dir=data_dir, problems=problems)
    for mixture in mixtures.values():
        needs = []
        for source in mixture.sources:
            task = get_task(source.task)
            needs.extend((get_task(source.train_task), lang, "train") for lang in source.languages)
            for lang in source.languages:
                if (dev := eval_split(task, role="dev", language=lang)) is not None:  # else reported above
                    needs.append((dev[0], lang, dev[1]))
        _check_files(needs, [get_task(s.task) for s in mixture.sources], data_dir=data_dir, problems=problems)


def _check_files(needs: list[Any], tasks: list[Any], *, data_dir: Path, problems: list[str]) -> None:
    """Every (task, language, role) split in ``needs`` exists under ``data_dir``; labels files too."""
    from trainers.data import resolve_labels, split_paths

    unique = {(t.name, lang, role): (t, lang, role) for t, lang, role in needs}
    for needed, lang, role in unique.values():
        try:
            split_paths(needed, language=lang, role=role, data_dir=data_dir)
        except (DataError, TaskError) as exc:
            if str(exc) not in problems:  # a missing folder fails its train and dev splits alike
                problems.append(str(exc))
    for task in {t.name: t for t in tasks}.values():
        if task.labels_file:
            try:
                resolve_labels(task, data_dir=data_dir)
            except DataError as exc:
                if str(exc) not in problems:
                    problems.append(str(exc))


def _check_regimes(config: SweepConfig, problems: list[str]) -> None:
    """``regimes`` names targets of the sweep and regimes each has data for."""
    from sweep.plan import regime_languages

    for target, value in config.regimes.items():
        where = f"regimes.{target}"
        if target not in config.target_tasks:
            problems.append(
                f"{where}: `{target}` is not one of target_tasks{suggest(target, config.target_tasks)}; "
                f"regimes are set per target ({', '.join(config.target_tasks)})"
            )
            continue
        regimes = [value] if isinstance(value, str) else value
        if not isinstance(regimes, list) or not regimes or not all(isinstance(r, str) for r in regimes):
            problems.append(f"{where} must be a list of regimes ({', '.join(REGIMES)}), got {value!r}")
            continue
        if len(set(regimes)) != len(regimes):
            problems.append(f"{where} names a regime twice: {regimes}")
        try:
            task = get_task(target)
        except TaskError:
            continue  # reported with target_tasks
        for regime in regimes:
            if regime not in REGIMES:
                problems.append(
                    f"{where}: unknown regime `{regime}`{suggest(regime, REGIMES)}; regimes: {', '.join(REGIMES)}"
                )
                continue
            if regime == "zero_shot":
                continue
            has = [r.regime for r in task.regimes]
            if task.kind == "retrieval" or not has:
                problems.append(
                    f"{where}: `{target}` has no training data for {regime} (only zero_shot"
                    f"{'; retrieval targets are evaluated, never trained' if task.kind == 'retrieval' else ''}); "
                    "drop the regime"
                )
                continue
            if regime in PER_LANGUAGE_REGIMES and regime not in has:
                problems.append(
                    f"{where}: `{target}` has no {regime} data; it has {', '.join(has)}; use that or multilingual"
                )
                continue
            data = task.regime_data(regime if regime in has else has[0])
            if not regime_languages(config, target, data.regime):  # type: ignore[union-attr]
                lacking = [lang for lang in config.eval_languages(target) if lang != task.train_language]
                which = f"{', '.join(lacking)} lack it" if lacking else f"only {task.train_language} is evaluated"
                problems.append(
                    f"{where}: none of `{target}`'s evaluation languages has {data.regime} data ({which}); "  # type: ignore[union-attr]
                    f"it exists in {', '.join(data.languages)}: add some of them to languages"  # type: ignore[union-attr]
                )


def regime_notes(config: SweepConfig) -> list[str]:
    """What `sweep validate` says of per-language regimes: the evaluation languages without their data,
    which get no search of that regime (their rows come from the other regimes only)."""
    from sweep.plan import regime_languages

    notes = []
    for target in config.target_tasks:
        task = get_task(target)
        for regime in config.regimes_of(target):
            if regime in ("zero_shot",) or not task.regimes:
                continue
            data = task.regime_data(regime) or task.regimes[0]
            have = regime_languages(config, target, data.regime)
            lacking = [
                lang for lang in config.eval_languages(target) if lang not in have and lang != task.train_language
            ]
            if lacking:
                notes.append(
                    f"{target}[{regime}]: no {data.regime} data in {', '.join(lacking)}; "
                    + (
                        "those languages get no search of it"
                        if regime in PER_LANGUAGE_REGIMES
                        else "trained without them"
                    )
                )
    return notes


def _check_regime_files(config: SweepConfig, *, data_dir: Path, problems: list[str]) -> None:
    """The training and selection files of every regime search the plan makes."""
    from sweep.plan import plan, regime_sources

    if problems:  # the plan needs valid tasks and regimes
        return
    needs = []
    for search in plan(config):
        if search.phase != "target" or search.regime == "zero_shot":
            continue
        for source in regime_sources(config, search):
            for lang in source.languages:
                needs.append((get_task(source.train_task), lang, "train"))
                if source.dev_task:
                    needs.append((get_task(source.dev_task), lang, "dev"))
    _check_files(needs, [], data_dir=data_dir, problems=problems)


def _check_mixture_names(config: SweepConfig, problems: list[str]) -> None:
    """Every mixture defined is used, by an intermediate entry or inside another mixture."""
    used = set(config.intermediate_tasks)
    for definition in config.mixtures.values():
        if isinstance(definition, dict):
            for item in definition.get("sources") or ():
                used.add(item if isinstance(item, str) else item.get("task") if isinstance(item, dict) else None)
    for name in config.mixtures:
        if name not in used:
            problems.append(
                f"mixtures.{name} is defined but no intermediate entry uses it; add it to intermediate_tasks "
                "or remove it"
            )


def _validate_mean_dev(config: SweepConfig, targets: list[Any], problems: list[str]) -> None:
    """``mean_dev`` selects a target's trials on the mean of its dev scores in the evaluation languages,
    so each target needs a dev split in at least one of them."""
    for task in targets:
        languages = config.eval_languages(task.name)
        if languages and not any(eval_split(task, role="dev", language=lang) for lang in languages):
            with_dev = [lang for lang in task.languages if eval_split(task, role="dev", language=lang)]
            problems.append(
                f"search.select_on is mean_dev, but target `{task.name}` has no dev split in its evaluation "
                f"languages ({', '.join(languages)}); it has dev data in {', '.join(with_dev) or 'no language'}: "
                f"add one of those to languages, or select on english_dev"
            )


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
#: Families whose position ids start after the pad id, so two of their position embeddings are never used.
_OFFSET_POSITIONS = ("roberta", "xlm-roberta", "xlm-roberta-xl", "camembert")


def _has_file(source: str, names: tuple[str, ...]) -> bool:
    folder = Path(source)
    if folder.is_dir():
        return any((folder / name).is_file() for name in names)
    return any(_hub_cache_file(source, name) for name in names)


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
    if not _has_file(model.path, WEIGHT_FILES):
        problems.append(
            f"model.path {model.path} has no weights ({' or '.join(WEIGHT_FILES[:2])}); copy the whole folder "
            "`save_pretrained` wrote, weights included"
        )
    tokenizer = model.tokenizer or model.path
    if Path(tokenizer).suffix == ".json":
        if not Path(tokenizer).is_file():
            problems.append(f"model.tokenizer {tokenizer} does not exist")
    elif not (Path(tokenizer).exists() or _in_hub_cache(tokenizer)) or not _has_file(tokenizer, TOKENIZER_FILES):
        where = "model.tokenizer" if model.tokenizer else "model.path"
        problems.append(
            f"{where} {tokenizer} holds no tokenizer (none of {', '.join(TOKENIZER_FILES[:3])}, ...); save the "
            "model's tokenizer there (tokenizer.save_pretrained) or set model.tokenizer to a folder that has one"
        )
    _check_vocabulary(model, data, problems)
    hidden, heads = data.get("hidden_size"), data.get("num_attention_heads")
    if isinstance(hidden, int) and isinstance(heads, int) and heads > 0 and hidden % heads:
        problems.append(f"model.path {model.path}: hidden_size {hidden} is not divisible by {heads} attention heads")
    usable = usable_positions(model)
    if usable is not None and model.max_length > usable:
        problems.append(
            f"model.max_length {model.max_length} is longer than the {usable} positions model.path "
            f"{model.path} ({data['model_type']}) has; set model.max_length to at most {usable}"
        )


def usable_positions(model: ModelSpec) -> int | None:
    """How many tokens a sequence of the model may have, where its config can be read locally: its
    position embeddings (for XLM-R-style families, two fewer: positions start after the pad id)."""
    if model.init == "scratch":
        return None  # built with max_length + 2 positions
    data = model_config_data(model)
    positions = data.get("max_position_embeddings", data.get("n_positions"))
    if not isinstance(positions, int) or positions <= 0:
        return None
    return positions - 2 if data.get("model_type") in _OFFSET_POSITIONS else positions


def _check_vocabulary(model: ModelSpec, data: dict[str, Any], problems: list[str]) -> None:
    """A tokenizer with more tokens than the model has embeddings gives ids the model cannot look up;
    the usual cause is a scratch config's ``model.tokenizer`` kept when switching to a pretrained model."""
    if not model.tokenizer or not isinstance(data.get("vocab_size"), int):
        return
    path = Path(model.tokenizer)
    path = path / "tokenizer.json" if path.is_dir() else path
    if path.suffix != ".json" or not path.is_file():
        return
    from tokenizers import Tokenizer

    try:
        size = Tokenizer.from_file(str(path)).get_vocab_size(with_added_tokens=True)
    except Exception as exc:  # the tokenizers library raises bare Exceptions on unreadable files
        problems.append(f"model.tokenizer {path} cannot be read as a tokenizer ({str(exc).splitlines()[0]})")
        return
    if size > data["vocab_size"]:
        problems.append(
            f"model.tokenizer {model.tokenizer} has {size} tokens, more than the {data['vocab_size']} embeddings "
            f"of model.path {model.path}; a pretrained model needs its own tokenizer: set model.tokenizer=null "
            "to use the one in model.path"
        )


def model_config_data(model: ModelSpec) -> dict[str, Any]:
    """A pretrained model's ``config.json``, where it can be read locally ({} where not, or for scratch)."""
    if model.init == "scratch" or not model.path:
        return {}
    folder = Path(model.path)
    path = folder / "config.json" if folder.is_dir() else _hub_cache_file(model.path, "config.json")
    try:
        data = json.loads(Path(path).read_text()) if path else {}
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def decoder_only(data: dict[str, Any]) -> bool:
    """Whether a model's ``config.json`` describes a decoder-only family (``trainers.families``)."""
    from types import SimpleNamespace

    from trainers.families import is_decoder_only

    return "model_type" in data and is_decoder_only(SimpleNamespace(**data))


def model_depth(model: ModelSpec) -> int | None:
    """The number of layers of the model, where its config can be read locally (None where not)."""
    if model.init == "scratch":
        return model.num_layers
    data = model_config_data(model)
    depth = next((data[key] for key in ("num_hidden_layers", "n_layer", "num_layers") if key in data), None)
    return depth if isinstance(depth, int) else None


def _validate_retrieval(config: SweepConfig, name: str, *, data_dir: Path, problems: list[str]) -> None:
    """A retrieval target is evaluated after phase one, not trained: it needs an evaluator and every
    file that evaluator reads (BUCC's dev and test corpora; LAReQA's pool of all 11 languages)."""
    from trainers.data import split_paths
    from trainers.retrieval.evaluators import EVALUATORS, required_splits

    task = get_task(name)
    if name not in EVALUATORS:
        problems.append(f"target_tasks: retrieval task `{name}` has no evaluator; these do: {', '.join(EVALUATORS)}")
        return
    for lang, role in required_splits(task, config.eval_languages(name)):
        try:
            split_paths(task, language=lang, role=role, data_dir=data_dir)
        except (DataError, TaskError) as exc:
            problems.append(str(exc))


def _in_hub_cache(repo_id: str) -> bool:
    return _hub_cache_file(repo_id, "config.json") is not None


def _hub_cache_file(repo_id: str, name: str) -> str | None:
    """The path of a file of ``repo_id`` in the local hub cache, or None (never downloads)."""
    try:
        from huggingface_hub import try_to_load_from_cache
    except ImportError:
        return None
    try:
        found = try_to_load_from_cache(repo_id, name)
    except ValueError:  # not a valid repo id
        return None
    return found if isinstance(found, str) else None


def check_choice(problems: list[str], key: str, value: str, allowed: tuple[str, ...]) -> None:
    """Append a problem unless ``value`` is one of ``allowed``, with a "did you mean" where one is close."""
    if value not in allowed:
        problems.append(f"{key} is `{value}`{suggest(value, allowed)}; choose one of {', '.join(allowed)}")
