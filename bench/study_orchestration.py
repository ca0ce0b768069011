"""Benchmark: how well a study uses a cluster, and what xstilts' orchestration costs per trial.

Trials here sleep instead of training, so the figures measure orchestration, not this machine's cores.
A local Ray instance on 127.0.0.1 declares 16 CPUs (one per trial). Two measurements, each against its
alternative in the same run:

1. Cluster use. A study of 26 searches (2 intermediate tasks, 8 targets: 2 stage-one searches, 8
   baselines, 16 pairs that wait for their intermediate task), each 4 trials of 3 epochs of 4 s
   (``--seconds``), at most 2 trials at a time per search (the default),
   through xstilts' own machinery (``sweep.study``, ``sweep.tuning``, the recorder writing the journal
   and results): the fraction of slot-seconds busy with trials, one search at a time (as xstilts ran a
   study before) and all ready searches at once. Goal: >= 0.85 at once.
2. Overhead. One search of 48 short trials, 16 at a time, through the same machinery and through bare
   Ray Tune with the same searcher (Optuna TPE, seeded) and scheduler (ASHA): the wall-clock ratio.
   Goal: <= 1.1x.

Each trial also pays Ray Tune's own cost of starting it and handling its reports, which on a 2-core
machine running 16 trial processes is about half a second; trials of a few seconds make that a large
part of a slot's time, hence seconds long epochs.

Run: ``.venv/bin/python bench/study_orchestration.py [--seconds 4]`` (about 12 minutes with 4 s epochs,
most of it the one-search-at-a-time run).
"""

from __future__ import annotations

import os
import shutil
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ["RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER"] = "0"  # keep the instance on 127.0.0.1

SLOTS = 16


def sleepy(config: dict[str, Any]) -> None:
    """A trial that sleeps through its epochs and reports a score that depends on its learning rate."""
    from ray import tune

    rate = config["hp"]["learning_rate"]
    for epoch in range(1, config["epochs"] + 1):
        time.sleep(config["seconds"])
        tune.report({"objective": rate * 1000 + 0.01 * epoch, "epoch": epoch, "node": "bench"})


def _config(work: Path, **resources: Any) -> Any:
    from sweep.config import load_config

    overrides = [f"data_dir={ROOT / 'data' / 'toy'}", "target.search_space=quickstart_intermediate"]
    overrides += [f"resources.{key}={value}" for key, value in resources.items()]
    return load_config(ROOT / "configs" / "quickstart.yaml", overrides)


def _study(config: Any, work: Path, searches: list[Any], *, samples: int, epochs: int, seconds: float) -> Any:
    """The study of ``searches`` with the driver's own recorder (journal and results) and sleepy trials."""
    from sweep.journal import TrialJournal
    from sweep.recorder import HP_COLUMN_TYPES, Recorder
    from sweep.results import ResultsStore
    from sweep.select import best_trial
    from sweep.study import SearchState, Study
    from sweep.tuning import make_scheduler, make_searcher

    store = ResultsStore(work / "results", sweep=config.name, hp_types=HP_COLUMN_TYPES)
    recorders = {
        s.id: Recorder(
            store=store,
            journal=TrialJournal(work / "journal"),
            search=s,
            sweep=config.name,
            model="sleep",
            epochs=epochs,
            seed=0,
        )
        for s in searches
    }

    class Events:
        def result(self, trial_id: str, trial_config: dict, result: dict) -> None:
            recorders[study.state_of(trial_id, trial_config).search.id].on_result(trial_id, result, trial_config["hp"])

        def ended(self, trial_id: str, trial_config: dict, *, error: str | None) -> None:
            state = study.state_of(trial_id, trial_config)
            recorders[state.search.id].on_end(trial_id, error=error, hp=trial_config["hp"])
            study.trial_finished(trial_id, trial_config)

        def retried(self, trial_id: str, trial_config: dict, *, error: str) -> None:
            pass

    def finalize(search: Any) -> str:
        best_trial(ResultsStore.read(work / "results"), search=search.id)  # as the driver chooses the best
        return "done"

    states = [
        SearchState(
            search=s,
            samples=samples,
            needs=s.needs,
            searcher=make_searcher(config, s),
            scheduler=make_scheduler(config, s, epochs=epochs),
        )
        for s in searches
    ]
    study = Study(
        states,
        trial_config=lambda s, hp: {"search": s.id, "hp": hp, "epochs": epochs, "seconds": seconds},
        finalize=finalize,
        max_concurrent_trials=config.resources.max_concurrent_trials,
        max_searches_in_flight=config.resources.max_searches_in_flight,
    )
    study.events = Events()
    return study


def _run_study(config: Any, work: Path, searches: list[Any], **shape: Any) -> tuple[float, float]:
    """Wall seconds of the study, and the seconds its trials spent in their trainable."""
    from sweep.tuning import run_study

    study = _study(config, work, searches, **shape)
    started = time.monotonic()
    grid = run_study(config, study, storage=work / "tune", trainable=sleepy, resources={"cpu": 1})
    wall = time.monotonic() - started
    return wall, sum(r.metrics.get("time_total_s", 0.0) for r in grid if r.metrics)


def _searches(intermediates: int, targets: int) -> list[Any]:
    from sweep.plan import NONE, Search, stage_one_id

    out = [
        Search(id=stage_one_id(f"i{k}"), phase="intermediate", intermediate=f"i{k}", target=None)
        for k in range(intermediates)
    ]
    for j in range(targets):
        for start in [NONE, *(f"i{k}" for k in range(intermediates))]:
            out.append(Search(id=f"target-{start}-t{j}", phase="target", intermediate=start, target=f"t{j}"))
    return out


def _bare_tune(work: Path, *, trials: int, epochs: int, seconds: float, config: Any) -> float:
    """Wall seconds of the same trials as one plain Tune run: seeded Optuna TPE and ASHA, 16 at a time."""
    import optuna
    from ray import tune
    from ray.tune.schedulers import ASHAScheduler
    from ray.tune.search import ConcurrencyLimiter
    from ray.tune.search.optuna import OptunaSearch

    space = config.stage("target").search_space.to_tune()
    tuner = tune.Tuner(
        tune.with_resources(sleepy, {"cpu": 1}),
        param_space={"hp": space, "epochs": epochs, "seconds": seconds},
        tune_config=tune.TuneConfig(
            metric="objective",
            mode="max",
            num_samples=trials,
            search_alg=ConcurrencyLimiter(
                OptunaSearch(sampler=optuna.samplers.TPESampler(seed=0)), max_concurrent=SLOTS
            ),
            scheduler=ASHAScheduler(time_attr="training_iteration", max_t=epochs, grace_period=1, reduction_factor=2),
            reuse_actors=True,
        ),
        run_config=tune.RunConfig(name="bare", storage_path=str(work / "tune"), verbose=0),
    )
    started = time.monotonic()
    tuner.fit()
    return time.monotonic() - started


def main() -> None:
    import argparse

    import ray

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=4.0, help="seconds per epoch in the cluster-use study")
    args = parser.parse_args()

    from cluster import ray_session
    from sweep.plan import Search

    ray_session.start(num_cpus=SLOTS)
    work = Path(tempfile.mkdtemp(prefix="xstilts-bench-"))
    try:
        print(f"local Ray on 127.0.0.1 declaring {int(ray.cluster_resources()['CPU'])} CPUs; trials sleep")
        searches = _searches(intermediates=2, targets=8)
        shape = {"samples": 4, "epochs": 3, "seconds": args.seconds}
        print(
            f"\n1. cluster use: {len(searches)} searches x {shape['samples']} trials x {shape['epochs']} epochs "
            f"of {shape['seconds']:g} s, 2 trials at a time per search"
        )
        use = {}
        for label, cap in (("one search at a time", 1), ("all ready searches at once", None)):
            extra = {"max_searches_in_flight": cap} if cap else {}
            config = _config(work, **extra)
            wall, busy = _run_study(config, work / label.replace(" ", "_"), searches, **shape)
            use[label] = busy / (SLOTS * wall)
            print(f"   {label:27s} {wall:6.1f} s wall, {busy:7.1f} trial-seconds, busy fraction {use[label]:.2f}")
        ratio = use["all ready searches at once"] / use["one search at a time"]
        print(f"   at once / one at a time: {ratio:.1f}x busier (goal: >= 0.85 busy at once)")

        trials, epochs, seconds = 48, 3, 0.2
        print(f"\n2. overhead: one search of {trials} trials x {epochs} epochs of {seconds:g} s, {SLOTS} at a time")
        config = _config(work, max_concurrent_trials=SLOTS)
        one = [Search(id="target-none-t0", phase="target", intermediate="none", target="t0")]
        bare = _bare_tune(work / "bare", trials=trials, epochs=epochs, seconds=seconds, config=config)
        ours, _ = _run_study(config, work / "study_one", one, samples=trials, epochs=epochs, seconds=seconds)
        print(f"   bare Ray Tune   {bare:6.1f} s")
        print(f"   xstilts study   {ours:6.1f} s")
        print(f"   xstilts / bare: {ours / bare:.2f}x (goal: <= 1.1x)")
    finally:
        ray_session.stop()
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
