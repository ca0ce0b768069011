"""Smoke runs: any study on a CPU in minutes (``sweep launch CONFIG --smoke``).

Everything a study is made of stays as configured: tasks, languages, mixtures, regimes, phases, seeds,
retrieval layers and the results' shape. What changes is its size: each model becomes a tiny random model
of the same family (from the model's local config, or ``model.architecture``) with the model's own
tokenizer where it is on this machine, one given with ``--tokenizer``, or a small one trained on the run's
data; every split is capped to a few dozen examples; searches try two configurations for one epoch.

Data comes from ``--data-dir`` (or the config's ``data_dir``) wherever it has the split, and from
synthetic stand-ins in each task's own schema where it has not (``trainers.fixtures``); the run says
how many of each it used, and ``smoke.json`` in the sweep directory lists them. Its numbers are a smoke
test's, never results.
"""

from __future__ import annotations

import dataclasses
import json
import os
import shutil
from pathlib import Path
from typing import Any

from sweep.config.model_files import model_config_data
from sweep.config.records import MlflowConfig, NotifyConfig, StageConfig, SweepConfig, TrackingConfig
from sweep.errors import ConfigError
from sweep.plan import stage_one
from sweep.plan.searches import ZERO_SHOT, eval_languages, plan, regime_sources
from trainers.errors import DataError, TaskError
from trainers.spec import ModelSpec
from trainers.tasks import Task, eval_split, get_task, training_data

TRAIN_EXAMPLES = 48  # per training split (and language) of every source
EVAL_EXAMPLES = 32  # per dev and test split
SAMPLES, EPOCHS = 2, 1  # each search: two configurations, one epoch
MAX_LENGTH = 128  # tokens per example, at most (the tiny models have this many positions, plus XLM-R's 2)
#: What a smoke run changes of `training` (its size and devices; evaluation cadence and ZeRO stay).
SMALL_TRAINING = {
    "max_train_examples": TRAIN_EXAMPLES,
    "max_eval_examples": EVAL_EXAMPLES,
    "precision": "fp32",  # bf16 is slow on CPUs, fp16 unsupported
    "offload_parameters": False,
    "offload_optimizer": False,
    "torch_threads": 1,
}
SIZES = {"hidden_size": 64, "num_layers": 2, "num_heads": 2, "intermediate_size": 128}
#: Families whose tiny models ``trainers.tiny`` builds, by a model config's ``model_type``.
FAMILY_OF = {
    "xlm-roberta": "xlm-roberta",
    "roberta": "xlm-roberta",
    "bert": "bert",
    "deberta-v2": "deberta-v2",
    "llama": "llama",
    "mistral": "llama",
    "qwen2": "llama",
}


def smoke_config(
    config: SweepConfig, *, work: Path, data_dir: str | None = None, tokenizer: str | None = None
) -> tuple[SweepConfig, dict[str, Any]]:
    """The smoke version of ``config``, its tiny models and data built under ``work``; and a report of
    which data was real and which synthetic."""
    work = Path(work)
    source = Path(data_dir or config.data_dir)
    if not source.is_dir():
        source = work / "no-data"  # every split then comes from the synthetic stand-ins
        source.mkdir(parents=True, exist_ok=True)
    overlay = work / "data"
    report = build_data(config, source=source, overlay=overlay)
    report["data_dir"] = str(source)
    texts = _texts(overlay)
    scales = _scales(config)
    entries = []
    for name in config.model_names():
        model = config.for_model(name).model
        entries.append(_tiny(model, work=work / "models", tokenizer=tokenizer, texts=texts, scale=scales[name]))
    training = dataclasses.replace(config.training, **SMALL_TRAINING)
    resources = dataclasses.replace(
        config.resources,
        cpus_per_trial=1,
        gpus_per_trial=0,
        workers_per_trial=1,
        memory_per_worker_gb=None,
        max_concurrent_trials=2,
        max_trials_in_flight=None,
        max_searches_in_flight=None,
        checkpoints_to_keep=1,  # hundreds of small trials: their checkpoints would fill a laptop's disk
        keep_finished_checkpoints=False,
    )

    def stage(s: StageConfig) -> StageConfig:
        return dataclasses.replace(s, epochs=EPOCHS, num_samples=min(SAMPLES, s.num_samples))

    models: tuple[Any, ...] = ()
    if config.models:  # keep each model's own overrides, but none of its sizes or devices
        from sweep.config.models import ModelEntry

        models = tuple(
            ModelEntry(spec=spec, training={k: v for k, v in e.training.items() if k not in SMALL_TRAINING})
            for spec, e in zip(entries, config.models, strict=True)
        )
    # Every sequence fits the tiny models' positions, and every search is short (per-target settings too).
    per_target = {
        target: dataclasses.replace(
            o,
            max_length=min(o.max_length, MAX_LENGTH) if o.max_length else None,
            epochs=min(o.epochs, EPOCHS) if o.epochs else None,
            num_samples=min(o.num_samples, SAMPLES) if o.num_samples else None,
        )
        for target, o in config.per_target.items()
    }
    # The tiny models have SIZES["num_layers"] layers: a layer beyond them becomes the middle one.
    depth = SIZES["num_layers"]
    layers = config.retrieval.layers
    if isinstance(layers, tuple):
        layers = tuple(dict.fromkeys(min(layer, depth) for layer in layers))
    layer = config.retrieval.layer if config.retrieval.layer is None or config.retrieval.layer <= depth else None
    smoke = dataclasses.replace(
        config,
        name=f"{config.name}-smoke",
        per_target=per_target,
        retrieval=dataclasses.replace(config.retrieval, layer=layer, layers=layers),
        data_dir=str(overlay),
        storage=None,
        model=entries[0],
        models=models,
        training=training,
        resources=resources,
        intermediate=stage(config.intermediate),
        target=stage(config.target),
        search=dataclasses.replace(config.search, grace_period=1),
        # Its own store: tiny models' stage ones are no one else's to reuse.
        checkpoint_store=str(work / "checkpoint_store") if config.checkpoint_store else None,
        # A rehearsal tells no one and logs nowhere shared: its trackers write under its own folder, offline.
        tracking=smoke_tracking(config.tracking, work=work),
        notify=NotifyConfig(),
    )
    return smoke, report


def smoke_tracking(tracking: TrackingConfig, *, work: Path) -> TrackingConfig:
    """A smoke run's trackers: the study's own, but local (MLflow in a SQLite file under ``work``, W&B
    offline), so that a rehearsal exercises them without adding runs to a team's experiments."""
    return dataclasses.replace(
        tracking,
        mlflow=None if tracking.mlflow is None else MlflowConfig(tracking_uri=f"sqlite:///{work / 'mlflow.db'}"),
        wandb=None if tracking.wandb is None else dataclasses.replace(tracking.wandb, mode="offline"),
    )


def needed_splits(config: SweepConfig) -> list[tuple[Task, str, str]]:
    """Every (task, language, role) split the study reads, in plan order, each once."""
    from trainers.retrieval.evaluators import EVALUATORS, required_splits

    needs: list[tuple[Task, str, str]] = []
    for search in plan(config):
        if search.target is None:
            needs += stage_one.splits(config.for_model(search.model), search.intermediate)
            continue
        task = get_task(search.target)
        languages = (search.language,) if search.language else eval_languages(config, task.name)
        if task.kind == "retrieval":
            if task.name in EVALUATORS:
                needs += [(task, lang, role) for lang, role in required_splits(task, languages)]
            continue
        if search.regime == ZERO_SHOT:
            train_task, train_languages = training_data(task.name)
            needs += [(train_task, lang, "train") for lang in train_languages]
            needs += [stage_one.dev_split(task, lang, None) for lang in train_languages]
        else:
            for s in regime_sources(config, search):
                for lang in s.languages:
                    needs.append((get_task(s.train_task), lang, "train"))
                    needs.append(stage_one.dev_split(task, lang, s.dev_task))
        for lang in languages:
            for role in ("dev", "test"):
                if (where := eval_split(task, role=role, language=lang)) is not None:
                    needs.append((where[0], lang, where[1]))
    unique = {(t.name, lang, role): (t, lang, role) for t, lang, role in needs if t is not None}
    return list(unique.values())


def build_data(config: SweepConfig, *, source: Path, overlay: Path) -> dict[str, Any]:
    """Lay out under ``overlay`` every split the study reads: linked from ``source`` where it has it,
    synthetic where it has not. Returns ``{"real": [...], "synthetic": [...]}`` (``task/language/role``)."""
    from sweep.console import progress
    from trainers.data import mirror_source, split_paths
    from trainers.fixtures import write_split

    real, synthetic, missing = [], [], []
    for task, language, role in progress(needed_splits(config), description="smoke: laying out the data"):
        label = f"{task.name}/{language}/{role}"
        try:
            paths = split_paths(task, language=language, role=role, data_dir=source)
        except (DataError, TaskError):
            missing.append((task, language, role))
            continue
        for path in paths:
            _link(path, overlay / path.relative_to(source))
        if task.labels_file and not task.source.files:
            folder = mirror_source(task, language=language, data_dir=source).mirror_for(task.train_language)
            if (source / folder / task.labels_file).is_file():
                _link(source / folder / task.labels_file, overlay / folder / task.labels_file)
        real.append(label)
    # Once every real split is in place: where a language's real files are in one schema's folder, the
    # stand-ins go beside them in that schema, so the loader finds both in the one folder it picks.
    for task, language, role in missing:
        try:
            chosen = mirror_source(task, language=language, data_dir=overlay)
        except (DataError, TaskError):
            chosen = None
        if chosen is not None and role not in chosen.splits:
            # The real files' schema has no such split (google/xtreme's XNLI has no train): the stand-in
            # goes in the task's own schema, whose folder the loader then reads for every split of this
            # language, so that language's real splits are stand-ins too, and are reported so.
            shadowed = [label for label in real if label.startswith(f"{task.name}/{language}/")]
            for label in shadowed:
                real.remove(label)
                synthetic.append(label)
                write_split(
                    task,
                    language=language,
                    role=label.rsplit("/", 1)[1],
                    data_dir=overlay,
                    examples=TRAIN_EXAMPLES,
                    source=task.source,
                )
            chosen = task.source
        write_split(task, language=language, role=role, data_dir=overlay, examples=TRAIN_EXAMPLES, source=chosen)
        synthetic.append(f"{task.name}/{language}/{role}")
    return {"real": real, "synthetic": synthetic}


def _link(path: Path, to: Path) -> None:
    to.parent.mkdir(parents=True, exist_ok=True)
    if not to.exists():
        os.symlink(path.resolve(), to)


def _texts(overlay: Path, *, per_file: int = 200) -> list[str]:
    """Some text of the run's data, for training a tokenizer where no model brings one."""
    texts: list[str] = []
    for path in sorted(overlay.rglob("*.jsonl")):
        with open(path, encoding="utf-8") as f:
            for _, line in zip(range(per_file), f, strict=False):
                record = json.loads(line)
                texts.extend(v for v in record.values() if isinstance(v, str) and len(v) > 3)
    return texts


def _scales(config: SweepConfig) -> dict[str, float]:
    """Each model's size over the study's smallest (parameters, from its config where its files are here,
    else the known sizes of ``sweep.preflight.estimate``); 1 where a size is unknown. A study of 7B, 13B and
    30B models gets tiny models in the same order of size, so their smoke results differ as theirs will."""
    from sweep.errors import ConfigError as Unknown
    from sweep.preflight.estimate import parameters_of

    sizes: dict[str, float | None] = {}
    for name in config.model_names():
        try:
            sizes[name] = parameters_of(config.for_model(name))
        except Unknown:
            sizes[name] = None
    known = [v for v in sizes.values() if v]
    smallest = min(known) if known else 1.0
    return {name: (size / smallest if size else 1.0) for name, size in sizes.items()}


def scaled_sizes(scale: float) -> dict[str, int]:
    """The tiny model's sizes for a model ``scale`` times the smallest: width and depth grow as the cube
    root of the parameter ratio (as they roughly do across a model family).

    >>> scaled_sizes(1.0) == SIZES, scaled_sizes(4.8)["hidden_size"], scaled_sizes(4.8)["num_layers"]
    (True, 112, 3)
    """
    factor = max(1.0, scale) ** (1 / 3)
    hidden = 16 * round(SIZES["hidden_size"] / 16 * factor)
    return {
        "hidden_size": hidden,
        "num_layers": max(SIZES["num_layers"], round(SIZES["num_layers"] * factor)),
        "num_heads": SIZES["num_heads"],
        "intermediate_size": 2 * hidden,
    }


def _tiny(model: ModelSpec, *, work: Path, tokenizer: str | None, texts: list[str], scale: float = 1.0) -> ModelSpec:
    """A tiny random model of ``model``'s family (``scale`` times the smallest of its study), saved under
    ``work``; its spec keeps the model's name."""
    from trainers.model import load_tokenizer
    from trainers.tiny import save_tiny_model, train_tokenizer

    data = model_config_data(model)
    model_type = data.get("model_type") or model.architecture
    family = FAMILY_OF.get(model_type)
    if family is None:
        raise ConfigError(
            [
                f"model `{model.name}`: a smoke run builds a tiny model of its family, but family `{model_type}` is "
                f"not one it can build ({', '.join(sorted(FAMILY_OF))}); set model.architecture to the nearest"
            ]
        )
    own = None
    if tokenizer is not None:
        fix = "give a tokenizer.json or a folder tokenizer.save_pretrained wrote"
        if not Path(tokenizer).exists():
            raise ConfigError([f"--tokenizer {tokenizer} does not exist; {fix}"])
        try:
            own = load_tokenizer(ModelSpec(name=model.name, tokenizer=tokenizer))
        except Exception as exc:  # noqa: BLE001 - tokenizers and transformers raise many kinds on unreadable files
            cause = (str(exc).splitlines() or [type(exc).__name__])[0]
            raise ConfigError([f"--tokenizer {tokenizer} cannot be loaded ({cause}); {fix}"]) from exc
    elif model.init == "scratch" or data:  # the model's own tokenizer, where this machine has it
        try:
            own = load_tokenizer(model)
        except (DataError, OSError, ValueError):
            own = None
    if own is None:
        own = train_tokenizer(family, texts, vocab_size=2000)
    folder = work / model.name
    if folder.exists():
        shutil.rmtree(folder)
    max_length = min(model.max_length, MAX_LENGTH)
    sizes = {**scaled_sizes(scale), "max_positions": MAX_LENGTH + 2}  # room for any per-target length, capped
    save_tiny_model(family, folder, tokenizer=own, sizes=sizes, seed=model.seed)
    return ModelSpec(name=model.name, init="pretrained", architecture=family, path=str(folder), max_length=max_length)
