"""The config records: what a user wrote in a sweep config, with its values resolved, as frozen dataclasses.

A record holds data and nothing else: reading one is ``sweep.config.load``; checking it against tasks,
data, model files and memory is ``sweep.preflight``; turning it into searches is ``sweep.plan``. Each of
those takes a record as input, so a config's path through the code runs one way.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any

from sweep.config.models import ModelEntry, merged
from sweep.config.spaces import SearchSpace
from trainers.spec import ModelSpec, TrainingSpec

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
    gpus_per_node: int | None = None  # GPU workers on one node, sharing its RAM; None: this machine's GPUs
    host_memory_per_node_gb: float | None = None  # a GPU node's RAM; None: this machine's (if it has GPUs)
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
class MlflowConfig:
    """An MLflow tracking server or store: a run per trial, nested under a run per search."""

    tracking_uri: str | None = None  # http(s)://..., sqlite:///..., file:...; None: MLflow's own default
    experiment: str | None = None  # None: the sweep's name


@dataclass(frozen=True, kw_only=True)
class WandbConfig:
    """Weights & Biases: a run per trial, ``group`` the sweep and ``job_type`` the search."""

    project: str = "xstilts"
    entity: str | None = None  # None: the logged-in user's default
    mode: str = "online"  # online, offline (run files under SWEEP_DIR/wandb, for `wandb sync`) or disabled


@dataclass(frozen=True, kw_only=True)
class TrackingConfig:
    """Where else a sweep's trials are shown as they run (``sweep.track``); the Parquet tables stay the record."""

    mlflow: MlflowConfig | None = None
    wandb: WandbConfig | None = None
    tensorboard: bool = False  # event files under SWEEP_DIR/tensorboard/<search>/<trial>


@dataclass(frozen=True, kw_only=True)
class NotifyConfig:
    """Who is told when the study ends or a search fails."""

    webhook: str | None = None  # an http(s) URL that takes a JSON POST (a Slack incoming webhook, ...)


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
    checkpoint_store: str | None = None  # stage-one results shared by studies (``sweep.storage.store``); None: no reuse
    model: ModelSpec = ModelSpec()
    training: TrainingSpec = TrainingSpec()
    intermediate: StageConfig = field(default_factory=StageConfig)  # built when used: it reads tpe_default.yaml
    target: StageConfig = field(default_factory=StageConfig)
    search: SearchConfig = SearchConfig()
    resources: ResourcesConfig = ResourcesConfig()
    retrieval: RetrievalConfig = RetrievalConfig()
    mixtures: dict[str, Any] = field(default_factory=dict)  # name -> definition (``sweep.config.mixtures``)
    regimes: dict[str, Any] = field(default_factory=dict)  # target -> regimes (default [zero_shot])
    models: tuple[ModelEntry, ...] = ()  # `model:` given as a list (``sweep.config.models``); `model` is then the first
    per_target: dict[str, TargetOverrides] = field(default_factory=dict)  # target -> its own epochs, length...
    tracking: TrackingConfig = TrackingConfig()  # MLflow, W&B, TensorBoard; none by default
    notify: NotifyConfig = NotifyConfig()

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
