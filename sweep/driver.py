"""Launching and resuming sweeps: the searches in plan order, each one a Ray Tune run.

Python API: ``launch("configs/quickstart.yaml")`` returns the sweep directory;
``resume(sweep_dir)`` continues one whose driver died.
"""

from __future__ import annotations

import re
import shlex
import sys
import time
from pathlib import Path
from typing import Any

import yaml

from sweep import layout
from sweep.config import SweepConfig, check_local_resources, load_config
from sweep.errors import CheckpointError, ConfigError, SweepStateError
from sweep.journal import TrialJournal
from sweep.plan import NONE, RETRIEVAL_TRIAL, Search, plan
from sweep.progress import Progress
from sweep.recorder import HP_COLUMN_TYPES, Recorder
from sweep.results import ResultsStore
from sweep.select import best_trial, test_summary
from trainers.fileio import write_atomic, write_json
from trainers.predictions import write as write_predictions
from trainers.spec import TrialSpec
from trainers.tasks import get_task, selection_languages, split_ref, training_data


def launch(
    config_path: str | Path,
    overrides: list[str] | tuple[str, ...] = (),
    *,
    name: str | None = None,
    storage: str | Path | None = None,
    address: str | None = None,
) -> Path:
    """Validate a config, create its sweep directory and run the sweep; return the directory.

    Example: ``launch("configs/quickstart.yaml", ["target.num_samples=2"], storage="/tmp/sweeps")``.
    """
    if name is not None:
        overrides = [*overrides, f"name={name}"]
    config = load_config(config_path, overrides)
    if address is None and (problems := check_local_resources(config.resources)):
        raise ConfigError(problems, source=str(config_path))
    root = (Path(storage) if storage else Path.cwd() / "sweeps").resolve() / config.name
    sweep_dir = layout.SweepDir(root)
    if sweep_dir.manifest.exists():
        raise SweepStateError(
            f"{root} already holds a sweep; continue it with `sweep resume {root}` or pick another --name"
        )
    _connect(config, address)  # a cluster that cannot be joined fails the launch before anything is written
    root.mkdir(parents=True, exist_ok=True)
    write_atomic(sweep_dir.config, yaml.safe_dump(config.to_dict(), sort_keys=False))
    write_json(
        sweep_dir.manifest,
        {
            "version": layout.MANIFEST_VERSION,
            "name": config.name,
            "created_at": time.time(),
            "command": " ".join(shlex.quote(a) for a in sys.argv),
            "source_config": str(Path(config_path).resolve()),
            "code": layout.code_version(),
            "searches": {s.id: {"phase": s.phase, "pair": s.pair, "state": "pending"} for s in plan(config)},
        },
    )
    _run(sweep_dir, config, address=address)
    return root


def resume(sweep_dir: str | Path, *, address: str | None = None) -> Path:
    """Continue a sweep from where its driver stopped: finished trials are kept, running ones
    continue from their last checkpoint, and searches not yet started run as planned."""
    folder = layout.SweepDir(Path(sweep_dir).resolve())
    layout.read_manifest(folder)
    config = load_config(folder.config)
    if address is None and (problems := check_local_resources(config.resources)):
        raise ConfigError(problems, source=str(folder.config))
    _run(folder, config, address=address)
    return folder.root


def _run(sweep_dir: layout.SweepDir, config: SweepConfig, *, address: str | None) -> None:
    from cluster import ray_session

    with layout.driver_lock(sweep_dir):
        try:
            _run_searches(sweep_dir, config, address=address)
        finally:
            ray_session.stop()


def _run_searches(sweep_dir: layout.SweepDir, config: SweepConfig, *, address: str | None) -> None:
    searches = plan(config)
    for search in searches:
        for path in _recorder(sweep_dir, config, search).rebuild_missing():
            print(f"rebuilt {path} from the trial journal", flush=True)
    progress = Progress(total_searches=len(searches))
    manifest = layout.read_manifest(sweep_dir)
    if any(manifest["searches"][s.id]["state"] != "done" for s in searches):
        _connect(config, address)
    for index, search in enumerate(searches, start=1):
        entry = layout.read_manifest(sweep_dir)["searches"][search.id]
        if entry["state"] == "done":
            progress.skip_search(index=index, label=_label(search))
            continue
        _run_one(sweep_dir, config, search, index=index, progress=progress, resumed=entry["state"] != "pending")
    print(f"sweep finished: {sweep_dir.root}", flush=True)


def _recorder(sweep_dir: layout.SweepDir, config: SweepConfig, search: Search) -> Recorder:
    # A retrieval target is one evaluation per encoder: one "epoch", no hyperparameters.
    evaluated = _is_retrieval(search)
    return Recorder(
        store=ResultsStore(sweep_dir.results, sweep=config.name, hp_types=HP_COLUMN_TYPES),
        journal=TrialJournal(sweep_dir.journal),
        search=search,
        sweep=config.name,
        model=config.model.name,
        epochs=1 if evaluated else config.stage(search.phase).epochs,
        seed=config.seed,
        trained=not evaluated,
    )


def _is_retrieval(search: Search) -> bool:
    return search.target is not None and get_task(search.target).kind == "retrieval"


def _run_one(
    sweep_dir: layout.SweepDir, config: SweepConfig, search: Search, *, index: int, progress: Progress, resumed: bool
) -> None:
    if _is_retrieval(search):
        _run_retrieval(sweep_dir, config, search, index=index, progress=progress, resumed=resumed)
        return
    from sweep import tuning

    _set_state(sweep_dir, search, state="running")
    stage = config.stage(search.phase)
    recorder = _recorder(sweep_dir, config, search)
    spec = trial_spec(config, search, sweep_dir)
    progress.start_search(
        index=index, label=_label(search), num_samples=stage.num_samples, epochs=stage.epochs, resumed=resumed
    )
    grid = tuning.run_search(config, search, spec=spec, storage=sweep_dir.tune, recorder=recorder, progress=progress)
    _reconcile(grid, recorder)
    table = ResultsStore.read(sweep_dir.results)
    best = best_trial(table, search=search.id)
    if best is None:
        raise SweepStateError(
            f"every trial of {search.id} failed; see the errors with "
            f"`sweep query {sweep_dir.root} --where search={search.id} --where metric=error`"
        )
    record: dict[str, Any] = {"best": best}
    if search.phase == "intermediate":
        record["encoder"] = str(_export(sweep_dir, search, spec, best))
        detail = f" (trial {best['trial_id']}, epoch {best['step']}); encoder saved"
    else:
        summary = test_summary(table, best=best)
        record["test"] = summary
        detail = (
            f" (trial {best['trial_id']}, epoch {best['step']}); test mean {summary['mean']:.4f}" if summary else ""
        )
    progress.end_search(best=best["objective"], detail=detail)
    _set_state(sweep_dir, search, state="done", **record)


def _run_retrieval(
    sweep_dir: layout.SweepDir, config: SweepConfig, search: Search, *, index: int, progress: Progress, resumed: bool
) -> None:
    """Evaluate a retrieval target on phase one's encoder (or the pretrained one), as a Ray task."""
    import ray

    from trainers.retrieval.embed import evaluate_retrieval

    _set_state(sweep_dir, search, state="running")
    recorder = _recorder(sweep_dir, config, search)
    progress.start_search(index=index, label=_label(search), num_samples=1, epochs=1, resumed=resumed)
    if not recorder.finished(RETRIEVAL_TRIAL):
        encoder = None if search.intermediate == NONE else str(sweep_dir.encoder(search.intermediate))
        remote = ray.remote(
            num_cpus=config.resources.cpus_per_trial,
            num_gpus=config.resources.gpus_per_trial,
            max_retries=config.resources.max_failures,
        )(evaluate_retrieval)
        error = None
        try:
            metrics, predicted = ray.get(
                remote.remote(
                    search.target,
                    model_spec=config.model,
                    init_encoder=encoder,
                    languages=config.eval_languages(search.target),
                    data_dir=config.data_dir,
                    layer=config.retrieval.layer,
                    pooling=config.retrieval.pooling,
                    batch_size=config.retrieval.batch_size,
                    torch_threads=config.training.torch_threads,
                )
            )
            # Kept like a trial's test predictions, for `sweep export-predictions`.
            task = get_task(search.target)
            for language, values in predicted.items():
                write_predictions(sweep_dir.evaluation_predictions(search.id), task, language, [], values)
            result = {**metrics, "training_iteration": 1, "time_total_s": metrics["seconds"]}
            recorder.on_result(RETRIEVAL_TRIAL, result, {})
            progress.on_result(RETRIEVAL_TRIAL, result)
        except Exception as exc:  # a failed evaluation is recorded with its error; the sweep goes on
            error = f"{type(exc).__name__}: {exc}"[-4000:]
        recorder.on_end(RETRIEVAL_TRIAL, error=error, hp={})
        progress.on_end(RETRIEVAL_TRIAL, [], error=error)
    table = ResultsStore.read(sweep_dir.results)
    best = best_trial(table, search=search.id)
    summary = test_summary(table, best=best, metric=get_task(search.target).metric) if best else {}
    detail = f"; test mean {summary['mean']:.4f}" if summary else ""
    progress.end_search(best=best["objective"] if best else None, detail=detail)
    _set_state(sweep_dir, search, state="done", best=best, test=summary)


def trial_spec(config: SweepConfig, search: Search, sweep_dir: layout.SweepDir) -> TrialSpec:
    """The spec every trial of ``search`` shares; each trial sets the hyperparameters its search chose."""
    stage = config.stage(search.phase)
    init_encoder = None
    if search.phase == "target" and search.intermediate != NONE:
        path = sweep_dir.encoder(search.intermediate)
        if not path.is_file():
            raise CheckpointError(
                f"{search.id} needs the encoder of intermediate task {search.intermediate} at "
                f"{path}, which is missing; `sweep resume {sweep_dir.root}` re-runs stage one"
            )
        init_encoder = str(path)
    # An intermediate task may train in other languages (``xnli@de+fr``); its trials are selected on
    # the dev sets of those languages. Targets train on their English training set.
    train_task, train_languages = training_data(search.task)
    task_name, _ = split_ref(search.task)
    return TrialSpec(
        sweep=config.name,
        search=search.id,
        phase=search.phase,
        task=task_name,
        train_task=train_task.name,
        train_languages=train_languages,
        eval_languages=selection_languages(search.task)
        if search.phase == "intermediate"
        else config.eval_languages(search.task),
        eval_splits=("dev",) if search.phase == "intermediate" else ("dev", "test"),
        select_on=config.search.select_on,
        data_dir=config.data_dir,
        epochs=stage.epochs,
        seed=config.seed,
        model=config.model,
        training=config.training,
        init_encoder=init_encoder,
    )


def _reconcile(grid: Any, recorder: Recorder) -> None:
    """Record any trial that ended while no callback could see it (e.g. just before a crash)."""
    for result in grid:
        trial_id = result.metrics.get("trial_id") if result.metrics else None
        if trial_id is None and result.path:
            # A trial that never reported: its folder name carries the id (see tuning.trial_dirname).
            match = re.fullmatch(r"trial_(\w+)", Path(result.path).name)
            trial_id = match.group(1) if match else None
        if trial_id is None:
            continue
        hp = (result.config or {}).get("hp", {})
        error = str(result.error)[-4000:] if result.error is not None else None
        recorder.on_end(trial_id, error=error, hp=hp)


def _export(sweep_dir: layout.SweepDir, search: Search, spec: TrialSpec, best: dict[str, Any]) -> Path:
    from trainers.engine import export_encoder

    out = sweep_dir.encoder(search.intermediate)
    export_encoder(sweep_dir.checkpoint(search=search.id, trial_id=best["trial_id"], step=best["step"]), out, spec=spec)
    return out


def _connect(config: SweepConfig, address: str | None) -> None:
    """Start or join Ray (once per process) and check that one trial fits on the cluster."""
    from cluster import ray_session

    resources = ray_session.start(address=address)
    needs = {"CPU": config.resources.cpus_per_trial, "GPU": config.resources.gpus_per_trial}
    problems = [
        f"resources.{key.lower()}s_per_trial is {need:g} but the cluster has {resources.get(key, 0):g} {key}s"
        for key, need in needs.items()
        if need > resources.get(key, 0)
    ]
    if problems:
        ray_session.stop()
        raise ConfigError(problems)


def _set_state(sweep_dir: layout.SweepDir, search: Search, **fields: Any) -> None:
    manifest = layout.read_manifest(sweep_dir)
    manifest["searches"][search.id].update(fields)
    write_json(sweep_dir.manifest, manifest)


def _label(search: Search) -> str:
    return f"{search.phase} {search.pair}"
