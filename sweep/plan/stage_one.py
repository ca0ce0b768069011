"""What a stage-one search reads, and what identifies its result across studies.

A stage-one result (the best encoder of an intermediate entry and the search that chose it) is the same
result in any study that would produce it the same way. Its identity is a mapping of everything that
decides it; the key a checkpoint store files it under (``sweep.storage.store``) is that mapping's hash:

* ``entry``: the intermediate entry's name (it seeds the search's sampler) and what it trains: a task
  reference with its training and selection languages, or a mixture's whole composition;
* ``model``: the model spec (its display name aside), the tokenizer's files by content, and a pretrained
  model's files (a local folder, or the hub cache's snapshot of a hub id): ``config.json`` by content and
  each weight file by its size and sampled content (its first megabyte, where safetensors keeps the tensor
  table, and 16 blocks spread over the rest: hashing a 30B model whole would take minutes per launch);
* ``training``: every training setting that can change a result, and the workers per trial (the global
  batch). Settings that only trade memory for speed (offloading, activation checkpointing, the
  evaluation batch, threads, the feature cache) are left out, so studies on GPUs of different sizes
  share a stage one; the ZeRO stage is in (its results agree to about 1e-4, not bit for bit);
* ``search``: the stage's epochs, number of trials and search space (in its order, which the samplers
  follow), the searcher and scheduler settings (the samplers' seed among them) and the training seed;
* ``data``: each split stage one reads (training and selection), by the content of its files;
* ``code``: the source of the ``trainers`` package and of the driver modules that build a trial and choose
  the best one, by content, and the versions of torch, transformers, DeepSpeed, Optuna and Ray.

Anything not listed (targets, regimes, languages evaluated, resources other than workers, trials run at
once, the study's name) does not change a stage-one result, so studies that differ only there share it.
(How many trials run at once changes what TPE has seen when it proposes, but so does the order in which
they happen to finish: a search with concurrency is not reproducible to that level anyway.)
"""

from __future__ import annotations

import dataclasses
import functools
import hashlib
import json
import re
from pathlib import Path
from typing import Any

from sweep.config.records import SweepConfig
from sweep.plan.searches import Search
from trainers.tasks import Task, eval_split, get_task, selection_languages, training_data

IDENTITY_VERSION = 1  # bump when the identity's fields change meaning: older entries are then never matched
# Training settings that change speed, memory or disk, not results.
_NOT_RESULTS = (
    "torch_threads",
    "feature_cache",
    "offload_optimizer",
    "offload_parameters",
    "activation_checkpointing",
    "eval_batch_size",
)
# Driver modules that decide what a trial trains and which trial's encoder is kept (beside ``trainers``).
_DRIVER_CODE = (  # read as files, never imported: this layer knows them by name only
    "sweep.config.spaces",
    "sweep.run.runner",
    "sweep.run.trainable",
    "sweep.run.trial_run",
    "sweep.run.tuning",
    "sweep.run.workers",
    "sweep.storage.select",
)
_LIBRARIES = ("torch", "transformers", "deepspeed", "optuna", "ray")
_SAMPLES, _BLOCK, _HEAD = 16, 1 << 16, 1 << 20


def splits(config: SweepConfig, intermediate: str) -> list[tuple[Task, str, str]]:
    """Every (task, language, role) split stage one of ``intermediate`` reads: training data and the dev
    sets its trials are selected on (a mixture's, source by source)."""
    from sweep.config.mixtures import is_mixture, mixture_spec

    needs: list[tuple[Any, str, str]] = []
    if is_mixture(config, intermediate):
        for source in mixture_spec(config, intermediate).sources:
            for lang in source.languages:
                needs.append((get_task(source.train_task), lang, "train"))
                needs.append(dev_split(get_task(source.task), lang, source.dev_task))
    else:
        train_task, languages = training_data(intermediate)
        needs += [(train_task, lang, "train") for lang in languages]
        task = get_task(intermediate.split("@")[0])
        needs += [dev_split(task, lang, None) for lang in selection_languages(intermediate)]
    return [need for need in needs if need[0] is not None]


def dev_split(task: Task, language: str, dev_task: str | None) -> tuple[Any, str, str]:
    """Where ``task``'s selection data in ``language`` lives: ``dev_task``'s dev split when a source names
    one, else the task's own (None as the task where it has none)."""
    if dev_task is not None:
        return get_task(dev_task), language, "dev"
    where = eval_split(task, role="dev", language=language)
    return (where[0], language, where[1]) if where is not None else (None, language, "dev")


def identity(config: SweepConfig, search: Search) -> dict[str, Any]:
    """The identity of ``search``'s stage-one result in ``config`` (see the module's docstring)."""
    from sweep.config.mixtures import composition, is_mixture, mixture_spec

    config = config.for_model(search.model)
    entry: dict[str, Any] = {"name": search.intermediate}
    if is_mixture(config, search.intermediate):
        entry["mixture"] = composition(mixture_spec(config, search.intermediate))
    else:
        train_task, languages = training_data(search.intermediate)
        entry.update(
            train_task=train_task.name, languages=list(languages), select=list(selection_languages(search.intermediate))
        )
    stage = config.stage_of(search)
    training = {k: v for k, v in dataclasses.asdict(config.training).items() if k not in _NOT_RESULTS}
    return {
        "version": IDENTITY_VERSION,
        "entry": entry,
        "model": model_identity(config.model),
        "training": {**training, "workers_per_trial": config.resources.workers_per_trial},
        "search": {
            "epochs": stage.epochs,
            "num_samples": stage.num_samples,
            "space": [[name, param] for name, param in stage.search_space.to_yaml()["params"].items()],
            **dataclasses.asdict(config.search),  # its `seed` seeds the samplers
            "training_seed": config.seed,
        },
        "data": data_identity(config, search.intermediate),
        "code": code_identity(),
    }


def key(ident: dict[str, Any]) -> str:
    """The store key of an identity: its entry's name (readable) and the hash of the whole."""
    digest = hashlib.sha256(json.dumps(ident, sort_keys=True, default=str).encode()).hexdigest()
    return f"{re.sub(r'[^A-Za-z0-9_.-]', '_', ident['entry']['name'])}-{digest[:24]}"


def model_identity(model: Any) -> dict[str, Any]:
    """A model spec as it decides a result: its files by content where they are on this machine."""
    from trainers.cache import tokenizer_fingerprint

    data = dataclasses.asdict(model)
    del data["name"]  # a label: two studies may call one model two names
    tokenizer = model.tokenizer or model.path
    data["tokenizer"] = tokenizer_fingerprint(tokenizer) if tokenizer else None
    if model.init == "pretrained" and model.path:
        data["path"] = _model_files(model.path)
    return data


def _model_files(path: str) -> dict[str, Any]:
    """A pretrained model's files: its config by content, each weight file by size and sampled content; a
    hub id is read from the hub cache's snapshot (as written where the cache lacks it)."""
    from sweep.config.model_files import hub_cache_file

    folder = Path(path)
    if not folder.is_dir():
        cached = hub_cache_file(path, "config.json")
        if cached is None:
            return {"hub": path}
        folder = Path(cached).parent
    config = folder / "config.json"
    return {
        "config": hashlib.sha256(config.read_bytes()).hexdigest() if config.is_file() else None,
        "weights": sorted(
            [p.name, p.stat().st_size, _sampled_hash(p)]
            for p in folder.iterdir()
            if p.is_file() and p.suffix in (".safetensors", ".bin", ".pt", ".pth")
        ),
    }


def _sampled_hash(path: Path) -> str:
    """sha256 of a file's first megabyte and ``_SAMPLES`` blocks spread evenly over the rest."""
    size = path.stat().st_size
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        digest.update(f.read(_HEAD))
        for i in range(_SAMPLES):
            f.seek(_HEAD + (size - _HEAD) * i // _SAMPLES if size > _HEAD else size)
            digest.update(f.read(_BLOCK))
    return digest.hexdigest()


def data_identity(config: SweepConfig, intermediate: str) -> list[list[Any]]:
    """Each split stage one of ``intermediate`` reads, with the content hash of its files."""
    from trainers import data as data_lib

    out = []
    for task, language, role in splits(config, intermediate):
        paths = data_lib.split_paths(task, language=language, role=role, data_dir=Path(config.data_dir))
        out.append([task.name, language, role, [_file_hash(p) for p in paths]])
    return sorted(out)


def _file_hash(path: Path) -> str:
    stat = path.stat()
    return _content_hash(str(path.resolve()), stat.st_size, stat.st_mtime_ns)


@functools.cache
def _content_hash(path: str, size: int, mtime_ns: int) -> str:
    """sha256 of a file, once per process per (path, size, mtime)."""
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


@functools.cache
def code_identity() -> dict[str, str]:
    """The source that decides what a stage one trains and keeps, by content (``trainers`` whole, and the
    driver's modules that build trials and select), and the versions of the libraries that train."""
    from importlib.metadata import PackageNotFoundError, version

    import trainers

    root = Path(trainers.__file__).resolve().parent
    sweep_root = Path(__file__).resolve().parents[1]
    driver = [sweep_root.joinpath(*name.split(".")[1:]).with_suffix(".py") for name in _DRIVER_CODE]
    files = [*sorted(root.rglob("*.py")), *driver]
    digest = hashlib.sha256()
    for path in files:
        digest.update(f"{path.parent.name}/{path.name}".encode())
        digest.update(path.read_bytes())
    out = {"source": digest.hexdigest()}
    for name in _LIBRARIES:
        try:
            out[name] = version(name)
        except PackageNotFoundError:
            out[name] = "absent"
    return out
