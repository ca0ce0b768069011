"""Sweep configs: YAML plus ``key=value`` overrides, parsed into frozen dataclasses and validated.

Every problem is found before any compute is spent and reported at once (``ConfigError``);
``sweep validate CONFIG`` runs exactly this, with no Ray and no GPU.
"""

from __future__ import annotations

import dataclasses
import os
import re
import shutil
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from sweep.checks import (
    check_choice,
    check_model,
    check_tasks,
    decoder_only,
    model_config_data,
    model_depth,
    usable_positions,
)
from sweep.confparse import parse_dataclass
from sweep.errors import ConfigError, suggest
from sweep.models import ModelEntry, merged
from sweep.spaces import SearchSpace
from trainers.errors import TaskError
from trainers.spec import POOLINGS, ModelSpec, TrainingSpec
from trainers.tasks import get_task

PHASES = ("intermediate", "target")  # stage one, then the (intermediate, target) pairs


@dataclass(frozen=True, kw_only=True)
class StageConfig:
    """One phase's search: how long each trial trains and how many configurations are tried."""

    epochs: int = 3  # ASHA's max_t: a trial that is never stopped trains this many epochs
    num_samples: int = 4  # configurations tried per search
    # A name under search_spaces/, or inline {extends: NAME, params: {...}}; resolved when the config is read.
    search_space: SearchSpace = field(default_factory=lambda: SearchSpace.named("tpe_default"))


@dataclass(frozen=True, kw_only=True)
class TargetOverrides:
    """What one target's pairs do differently from the `target` section (jiant's XTREME scripts train XNLI
    2 epochs on 256 tokens and XQuAD 2 epochs on 384 at a smaller batch, UD-POS 10 epochs...)."""

    epochs: int | None = None
    num_samples: int | None = None
    max_length: int | None = None  # tokens per example for this target (model.max_length elsewhere)
    search_space: SearchSpace | None = None


@dataclass(frozen=True, kw_only=True)
class SearchConfig:
    """Which searcher and scheduler drive every search, and what they optimise."""

    algorithm: str = "tpe"  # tpe: Optuna's TPE sampler; random: Optuna's random sampler (both seeded per search)
    scheduler: str = "asha"  # asha: stop weak trials early; fifo: run every trial to the end
    grace_period: int = 1  # epochs before ASHA may stop a trial
    reduction_factor: int = 2
    select_on: str = "english_dev"  # english_dev (strict zero-shot) or mean_dev (all eval languages)
    seed: int = 0


@dataclass(frozen=True, kw_only=True)
class ResourcesConfig:
    """What each trial gets, and how many run at once."""

    cpus_per_trial: float = 1.0  # per worker of a trial
    gpus_per_trial: float = 0.0  # per worker of a trial
    workers_per_trial: int = 1  # >1: a Ray Train run of that many workers per trial, DeepSpeed sharding across them
    memory_per_worker_gb: float | None = None  # a GPU's memory, or a CPU worker's RAM; None: this machine's
    max_concurrent_trials: int = 2  # per search: more than a handful makes TPE little better than random
    max_trials_in_flight: int | None = None  # the whole study; None: as many as the cluster fits
    max_searches_in_flight: int | None = None  # searches running at once; None: all that are ready (1: one by one)
    max_failures: int = 1  # retries of a crashed trial, from its last checkpoint
    checkpoints_to_keep: int = 2  # per trial, best by the objective (the best is never deleted)
    keep_finished_checkpoints: bool = False  # False: a finished search keeps only its best checkpoint, all
    # that its encoder export and `export-predictions` read


@dataclass(frozen=True, kw_only=True)
class RetrievalConfig:
    """How retrieval targets (Tatoeba, BUCC, LAReQA, Mewsli-X) embed sentences: evaluated, never trained."""

    layer: int | None = None  # hidden-state layer (0 = embeddings); None: the encoder's middle layer
    layers: str | tuple[int, ...] | None = None  # also score these layers (`all`: every one), a row per layer
    pooling: str = "mean"  # mean over real tokens, cls (the first token) or last (the last real token: decoders)
    batch_size: int = 64


@dataclass(frozen=True, kw_only=True)
class SweepConfig:
    """A whole sweep: model, tasks, languages, the two searches and the resources they run on."""

    name: str
    data_dir: str
    intermediate_tasks: tuple[str, ...]  # task references, mixtures registered or defined under `mixtures`
    target_tasks: tuple[str, ...]
    languages: tuple[str, ...]  # evaluation languages; each target uses those it has
    seed: int = 0  # every search's seed (its searcher's, and its trials' training seed)
    seeds: tuple[int, ...] = ()  # re-run each pair's best configuration with these training seeds
    baseline: bool = True  # also train each target straight from the pretrained model
    storage: str | None = None  # where sweeps live: a folder, or shared storage (s3://bucket/prefix); default ./sweeps
    checkpoint_store: str | None = None  # stage-one results shared by studies (``sweep.store``); None: no reuse
    model: ModelSpec = ModelSpec()
    training: TrainingSpec = TrainingSpec()
    intermediate: StageConfig = field(default_factory=StageConfig)  # built when used: it reads tpe_default.yaml
    target: StageConfig = field(default_factory=StageConfig)
    search: SearchConfig = SearchConfig()
    resources: ResourcesConfig = ResourcesConfig()
    retrieval: RetrievalConfig = RetrievalConfig()
    mixtures: dict[str, Any] = field(default_factory=dict)  # name -> definition (``sweep.mixtures``)
    regimes: dict[str, Any] = field(default_factory=dict)  # target -> regimes (default [zero_shot])
    models: tuple[ModelEntry, ...] = ()  # `model:` given as a list (``sweep.models``); `model` is then the first
    per_target: dict[str, TargetOverrides] = field(default_factory=dict)  # target -> its own epochs, length...

    def stage_of(self, search: Any) -> StageConfig:
        """The stage settings of ``search``: its phase's, with its target's ``per_target`` overrides."""
        stage = self.stage(search.phase)
        override = self.per_target.get(search.target) if search.target else None
        if override is None:
            return stage
        changes = {k: getattr(override, k) for k in ("epochs", "num_samples", "search_space")}
        return dataclasses.replace(stage, **{k: v for k, v in changes.items() if v is not None})

    def max_length_of(self, target: str | None) -> int:
        """Tokens per example for ``target``'s pairs (or stage one, with None)."""
        override = self.per_target.get(target) if target else None
        return override.max_length if override is not None and override.max_length else self.model.max_length

    def model_names(self) -> tuple[str, ...]:
        """The study's models, by name: one, or each of a `model:` list."""
        return tuple(entry.spec.name for entry in self.models) or (self.model.name,)

    def for_model(self, name: str | None) -> SweepConfig:
        """The study as model ``name`` runs it: that model, with its training and resources overrides
        (``self`` for a one-model study, or ``name`` None)."""
        if not self.models or name is None:
            return self
        entry = next((e for e in self.models if e.spec.name == name), None)
        if entry is None:
            raise KeyError(f"model `{name}` is not one of {', '.join(self.model_names())}")
        problems: list[str] = []  # validated when the config was read
        return dataclasses.replace(
            self,
            model=entry.spec,
            training=merged(self.training, entry.training, where="training", problems=problems),
            resources=merged(self.resources, entry.resources, where="resources", problems=problems),
            models=(),
        )

    def regimes_of(self, target: str) -> tuple[str, ...]:
        """The regimes ``target`` trains in, each a pair of its own: ``regimes[target]``, or zero-shot."""
        value = self.regimes.get(target, ("zero_shot",))
        return (value,) if isinstance(value, str) else tuple(value)

    def stage(self, phase: str) -> StageConfig:
        """The settings of ``phase``'s searches: ``intermediate`` (stage one) or ``target`` (pairs)."""
        if phase not in PHASES:
            raise ValueError(f"phase {phase!r} is not one of {', '.join(PHASES)}")
        return self.intermediate if phase == "intermediate" else self.target

    def eval_languages(self, task: str) -> tuple[str, ...]:
        """The configured languages that target ``task`` has data in, in config order."""
        return tuple(lang for lang in self.languages if lang in get_task(task).languages)

    def to_dict(self) -> dict[str, Any]:
        """A plain, YAML-able dict; search spaces are inlined so the copy stands alone."""
        data = dataclasses.asdict(self)
        for phase in PHASES:
            data[phase]["search_space"] = self.stage(phase).search_space.to_yaml()
        del data["models"]
        for target, override in self.per_target.items():
            entry = {k: v for k, v in dataclasses.asdict(override).items() if v is not None}
            if override.search_space is not None:
                entry["search_space"] = override.search_space.to_yaml()
            data["per_target"][target] = entry
        if self.models:
            data["model"] = [entry.to_dict() for entry in self.models]
        return _lists(data)


def _lists(value: Any) -> Any:
    """``value`` with every tuple a list, as YAML's safe dumper wants."""
    if isinstance(value, dict):
        return {k: _lists(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_lists(v) for v in value]
    return value


def parse_overrides(items: Sequence[str]) -> dict[str, Any]:
    """Parse ``key.sub=value`` strings (values as YAML) into a dotted-key dict."""
    out = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise ConfigError([f"override `{item}` is not of the form key=value (e.g. training.zero_stage=2)"])
        out[key.strip()] = yaml.safe_load(value) if value.strip() else None
    return out


def load_config(path: str | Path, overrides: Sequence[str] = (), *, check_data: bool = True) -> SweepConfig:
    """Read, override, resolve paths and validate a sweep config; raise ConfigError listing every problem.

    Example: ``load_config("configs/quickstart.yaml", ["target.num_samples=2"])``.
    """
    path = Path(path)
    if not path.is_file():
        raise ConfigError([f"config file {path} does not exist"])
    try:
        raw = yaml.safe_load(path.read_text()) or {}
    except yaml.YAMLError as exc:
        raise ConfigError([f"not valid YAML: {exc}"], source=str(path)) from exc
    if not isinstance(raw, dict):
        raise ConfigError(["the top level must be a mapping of keys to values"], source=str(path))
    raw.setdefault("name", path.stem)
    overridden = set()
    for dotted, value in parse_overrides(overrides).items():
        _set_dotted(raw, dotted, value)
        overridden.add(dotted)
    # Paths in the file are relative to the file; paths given on the command line, to the shell's folder.
    for key in ("data_dir", "model.tokenizer", "model.path", "storage", "checkpoint_store"):
        _resolve_path(raw, key, base=Path.cwd() if key in overridden else path.parent)
    problems: list[str] = []
    if isinstance(raw.get("model"), list):  # several models (``sweep.models``)
        entries = raw.pop("model")
        for entry in entries:
            if isinstance(entry, dict):
                for key in ("tokenizer", "path"):
                    _resolve_path({"model": entry}, f"model.{key}", base=path.parent)
        models = [
            ModelEntry.from_config(entry, where=f"model[{i}]", problems=problems) for i, entry in enumerate(entries)
        ]
        raw["models"] = tuple(m for m in models if m is not None)
        if not entries:
            problems.append("model is an empty list; name at least one model")
    if raw.get("languages") == "all":
        raw["languages"] = _all_languages(raw.get("target_tasks"))
    models = raw.pop("models", ())
    per_target = raw.pop("per_target", None) or {}
    if not isinstance(per_target, dict):
        problems.append(f"per_target must be a mapping of target -> its overrides, got {per_target!r}")
        per_target = {}
    overrides = {
        target: parse_dataclass(TargetOverrides, value, where=f"per_target.{target}", problems=problems)
        for target, value in per_target.items()
    }
    config = parse_dataclass(SweepConfig, raw, where="", problems=problems)
    if config is not None and models:
        config = dataclasses.replace(config, model=models[0].spec, models=models)
    if config is not None:
        config = dataclasses.replace(config, per_target={t: o for t, o in overrides.items() if o is not None})
    if config is not None:  # also when some keys were bad: report the semantic problems too
        problems.extend(validate(config, check_data=check_data))
    if problems:
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
    for phase in PHASES:
        stage = config.stage(phase)
        if stage.epochs < 1 or stage.num_samples < 1:
            problems.append(
                f"{phase}.epochs and {phase}.num_samples must be at least 1 "
                f"(got {stage.epochs} and {stage.num_samples})"
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
        from sweep.store import location_problems

        problems += location_problems(config.checkpoint_store, check_files=check_data)
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
        if target not in config.target_tasks:
            problems.append(
                f"per_target.{target}: `{target}` is not one of target_tasks{suggest(target, config.target_tasks)}"
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
    if check_data and not problems:
        from sweep.memory import check_memory

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


def check_local_resources(res: ResourcesConfig) -> list[str]:
    """Problems with running on this machine alone (the embedded Ray instance)."""
    problems = []
    cpus = os.cpu_count() or 1
    if res.cpus_per_trial > cpus:
        problems.append(
            f"resources.cpus_per_trial is {res.cpus_per_trial:g} but this machine has {cpus} CPUs; "
            f"lower it or pass --address of a cluster with bigger nodes"
        )
    elif res.cpus_per_trial * res.workers_per_trial > cpus:
        problems.append(
            f"resources.workers_per_trial={res.workers_per_trial} workers of {res.cpus_per_trial:g} CPUs need "
            f"{res.cpus_per_trial * res.workers_per_trial:g} CPUs but this machine has {cpus}; lower either, "
            "or pass --address of a cluster"
        )
    if res.gpus_per_trial > 0 and shutil.which("nvidia-smi") is None:
        problems.append(
            f"resources.gpus_per_trial is {res.gpus_per_trial:g} but this machine has no GPU; "
            "set resources.gpus_per_trial=0 or pass --address of a cluster with GPUs"
        )
    return problems


def _set_dotted(raw: dict[str, Any], dotted: str, value: Any) -> None:
    node = raw
    parts = dotted.split(".")
    for part in parts[:-1]:
        child = node.get(part)
        if not isinstance(child, dict):
            child = node[part] = {} if child is None else child
        if not isinstance(child, dict):
            raise ConfigError([f"override `{dotted}`: `{part}` is not a section"])
        node = child
    node[parts[-1]] = value


def _resolve_path(raw: dict[str, Any], dotted: str, *, base: Path) -> None:
    node: Any = raw
    parts = dotted.split(".")
    for part in parts[:-1]:
        node = node.get(part) if isinstance(node, Mapping) else None
    if not isinstance(node, dict) or not isinstance(node.get(parts[-1]), str):
        return
    value = os.path.expanduser(node[parts[-1]])
    if "://" in value:  # a URI (shared storage) is no path
        return
    candidate = Path(value) if os.path.isabs(value) else (base / value)
    # A model.path that does not exist locally may be a hub id: leave it as written.
    if dotted != "model.path" or candidate.exists():
        node[parts[-1]] = str(candidate.resolve())


def _all_languages(targets: Any) -> list[str]:
    seen: list[str] = []
    for name in targets or []:
        try:
            langs = get_task(name).languages
        except (TaskError, TypeError):
            continue
        seen.extend(lang for lang in langs if lang not in seen)
    return seen
