"""Every check of a config before any compute, reported at once: ``load_config`` reads a config and runs
them (``sweep validate CONFIG`` does exactly this, with no Ray and no GPU); ``validate`` runs them on a
record already read.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Sequence
from pathlib import Path

from sweep.config.load import read_config
from sweep.config.model_files import decoder_only, model_config_data, model_depth, usable_positions
from sweep.config.models import merged
from sweep.config.records import PHASES, ResourcesConfig, SweepConfig
from sweep.errors import ConfigError, check_choice, suggest
from sweep.preflight.machine import check_local_resources
from sweep.preflight.model_checks import check_attention, check_model
from sweep.preflight.task_checks import check_tasks, registered
from trainers.fileio import is_uri
from trainers.spec import POOLINGS


def load_config(path: str | Path, overrides: Sequence[str] = (), *, check_data: bool = True) -> SweepConfig:
    """Read, override, resolve paths and validate a sweep config; raise ConfigError listing every problem.

    Example: ``load_config("configs/quickstart.yaml", ["target.num_samples=2"])``.
    """
    config, problems = read_config(path, overrides)
    if config is not None:  # also when some keys were bad: report the semantic problems too
        problems.extend(validate(config, check_data=check_data))
    if problems or config is None:
        raise ConfigError(problems, source=str(path))
    return config


def validate(config: SweepConfig, *, check_data: bool = True) -> list[str]:
    """Return every semantic problem of an already-parsed config (empty when it is runnable); without
    ``check_data``, of the config alone, not of this machine's data and model files."""
    if config.models:
        return _validate_models(config, check_data=check_data)
    problems: list[str] = []
    if not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9._-]*", config.name):
        problems.append(f"name `{config.name}` may only use letters, digits, '.', '_' and '-'")
    check_model(config.model, config.training, problems, check_files=check_data)
    check_attention(config.model, config.resources, problems, check_files=check_data)
    for phase in PHASES:
        stage = config.stage(phase)
        if stage.epochs < 1 or stage.num_samples < 1:
            problems.append(
                f"{phase}.epochs and {phase}.num_samples must be at least 1 "
                f"(got {stage.epochs} and {stage.num_samples})"
            )
        adapter_values = sorted({"lora_r", "lora_alpha"} & set(stage.search_space.params))
        if adapter_values and config.training.adapter is None:
            problems.append(
                f"{phase}'s search space sets {', '.join(adapter_values)}, which only an adapter has; set "
                "training.adapter (e.g. training.adapter.r=16) or leave them out of the space"
            )
        if config.search.scheduler == "asha" and config.training.eval_every is None:
            if config.search.grace_period > stage.epochs:
                problems.append(
                    f"search.grace_period ({config.search.grace_period}) exceeds {phase}.epochs "
                    f"({stage.epochs}); ASHA could never stop a trial"
                )
    check_choice(problems, "search.algorithm", config.search.algorithm, ("tpe", "random"))
    check_choice(problems, "search.scheduler", config.search.scheduler, ("asha", "fifo"))
    check_choice(problems, "search.select_on", config.search.select_on, ("english_dev", "mean_dev"))
    if config.search.grace_period < 1 or config.search.reduction_factor < 2:
        problems.append("search.grace_period must be >= 1 and search.reduction_factor >= 2")
    _validate_resources(config.resources, problems)
    if config.checkpoint_store is not None:
        from sweep.storage.store import location_problems

        problems += location_problems(config.checkpoint_store, check_files=check_data)
    if config.storage is not None and is_uri(config.storage):
        from sweep.storage.store import SCHEMES

        if (scheme := config.storage.split("://", 1)[0]) not in SCHEMES:
            problems.append(
                f"storage {config.storage}: scheme `{scheme}` is not one of {', '.join(SCHEMES)}; name a folder "
                "or a URI such as s3://bucket/prefix"
            )
    check_choice(problems, "retrieval.pooling", config.retrieval.pooling, POOLINGS)
    if config.retrieval.pooling == "cls" and (data := model_config_data(config.model)) and decoder_only(data):
        problems.append(
            f"retrieval.pooling is cls, but model.path {config.model.path} is a decoder ({data['model_type']}): "
            "its first token has read nothing of the sentence; use mean or last"
        )
    if config.retrieval.batch_size < 1 or (config.retrieval.layer is not None and config.retrieval.layer < 0):
        problems.append("retrieval.batch_size must be >= 1 and retrieval.layer >= 0 (0 is the embedding layer)")
    elif config.retrieval.layer is not None and (depth := model_depth(config.model)) is not None:
        if config.retrieval.layer > depth:
            where = "model.num_layers" if config.model.init == "scratch" else f"model.path {config.model.path}"
            problems.append(
                f"retrieval.layer {config.retrieval.layer} does not exist: {where} has {depth} layers, so the "
                f"layers are 0 (the embeddings) to {depth}; pick one of them or leave it out (the middle layer)"
            )
    _validate_layers(config, problems)
    for target, override in config.per_target.items():
        if target not in config.target_tasks and not registered(target):  # a task left out: a note says unused
            problems.append(
                f"per_target.{target}: `{target}` is neither one of target_tasks ({', '.join(config.target_tasks)}) "
                f"nor a registered task{suggest(target, config.target_tasks)}"
            )
        for key in ("epochs", "num_samples"):
            if (value := getattr(override, key)) is not None and value < 1:
                problems.append(f"per_target.{target}.{key} must be at least 1, got {value}")
        if override.max_length is not None and override.max_length < 8:
            problems.append(f"per_target.{target}.max_length must be at least 8 tokens, got {override.max_length}")
        elif override.max_length is not None and config.model.init == "scratch":
            if override.max_length > config.model.max_length:
                problems.append(
                    f"per_target.{target}.max_length {override.max_length} is longer than model.max_length "
                    f"{config.model.max_length}, which sizes a scratch model's positions; raise model.max_length"
                )
        elif override.max_length is not None and (usable := usable_positions(config.model)) is not None:
            if override.max_length > usable:
                problems.append(
                    f"per_target.{target}.max_length {override.max_length} is longer than the {usable} positions "
                    f"of model.path {config.model.path}; set it to at most {usable}"
                )
    if len(set(config.seeds)) != len(config.seeds):
        problems.append(f"seeds {list(config.seeds)} names a seed twice; each seed is one re-run")
    check_tasks(config, problems, check_data=check_data)
    from sweep.track import tracking_problems

    problems += tracking_problems(config)
    if check_data and not problems:
        from sweep.preflight.memory import check_memory

        check_memory(config.model, config.training, config.resources, problems)
    return problems


def _validate_models(config: SweepConfig, *, check_data: bool) -> list[str]:
    """A study of several models: each model's study is checked; a problem every model shares is said once,
    the others name their model."""
    names = config.model_names()
    problems = [
        f"model: `{n}` is listed twice; give each model its own name" for n in sorted(set(names)) if names.count(n) > 1
    ]
    for name in names:
        if not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9._-]*", name):
            problems.append(f"model name `{name}` may only use letters, digits, '.', '_' and '-' (it names searches)")
    per_model = {}
    for i, entry in enumerate(config.models):
        own: list[str] = []
        training = merged(config.training, entry.training, where=f"model[{i}].training", problems=own)
        resources = merged(config.resources, entry.resources, where=f"model[{i}].resources", problems=own)
        sub = dataclasses.replace(config, model=entry.spec, training=training, resources=resources, models=())
        per_model[entry.spec.name] = own + validate(sub, check_data=check_data)
    shared = set.intersection(*(set(found) for found in per_model.values())) if per_model else set()
    problems += [p for p in next(iter(per_model.values()), []) if p in shared]
    for name, found in per_model.items():
        problems += [f"model {name}: {p}" for p in found if p not in shared]
    return problems


def _validate_layers(config: SweepConfig, problems: list[str]) -> None:
    layers = config.retrieval.layers
    if layers is None:
        return
    if isinstance(layers, str):
        if layers != "all":
            problems.append(f"retrieval.layers is `{layers}`; give `all` or a list of layer numbers (0 = embeddings)")
        return
    depth = model_depth(config.model)
    bad = [layer for layer in layers if layer < 0 or (depth is not None and layer > depth)]
    if bad or len(set(layers)) != len(layers):
        where = f"0 (the embeddings) to {depth}" if depth is not None else "0 (the embeddings) and up"
        problems.append(f"retrieval.layers {list(layers)}: each layer once, from {where}")


def _validate_resources(res: ResourcesConfig, problems: list[str]) -> None:
    if res.cpus_per_trial <= 0 or res.gpus_per_trial < 0 or res.max_concurrent_trials < 1:
        problems.append("resources: cpus_per_trial must be > 0, gpus_per_trial >= 0, max_concurrent_trials >= 1")
    if res.workers_per_trial < 1:
        problems.append(f"resources.workers_per_trial must be >= 1, got {res.workers_per_trial}")
    if res.max_failures < 0 or res.checkpoints_to_keep < 1:
        problems.append("resources: max_failures must be >= 0 and checkpoints_to_keep >= 1")
    for key in ("max_trials_in_flight", "max_searches_in_flight"):
        if (value := getattr(res, key)) is not None and value < 1:
            problems.append(f"resources.{key} must be >= 1 (or left out for no cap), got {value}")


def local_problems(config: SweepConfig) -> list[str]:
    """``check_local_resources`` for each model of the study."""
    if not config.models:
        return check_local_resources(config.resources)
    return [
        f"model {name}: {problem}"
        for name in config.model_names()
        for problem in check_local_resources(config.for_model(name).resources)
    ]
