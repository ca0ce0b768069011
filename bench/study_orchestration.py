"""Benchmark: how well a study uses a cluster, and what xstilts' orchestration costs per trial.

Trials here sleep instead of training, so the figures measure orchestration, not this machine's cores.
A local Ray instance on 127.0.0.1 declares 16 CPUs (one per trial). Three measurements:

0. Start-up. Bare Ray Tune running 16 sleeping trials: the seconds until its first trial runs. On this
   2-core machine the 16 trial processes import Ray Tune at once, sharing 2 cores, so none of them runs
   for about 13 s; a node with a core per trial starts them in about one. It is this machine's cost,
   paid once by any Tune run, and printed so that the cluster-use figure can be read both with and
   without it.
1. Cluster use. A study of 35 searches (3 intermediate tasks, 8 targets: 3 stage-one searches, 8
   baselines, 24 pairs that wait for their intermediate task), each 6 trials of 3 epochs of 6 s
   (``--seconds``), at most 2 trials at a time per search (the default), through xstilts' own machinery
   (``sweep.plan.study``, ``sweep.run.tuning``, the recorder writing the journal and results): the fraction of
   slot-seconds busy with trials with every ready search at once, and with one search at a time (as
   xstilts ran a study before). One search at a time uses the cluster the same way for any number of
   searches, so that run takes only the study's first ``--before`` searches (default 6), which keeps
   the benchmark near 15 minutes instead of an hour. Goal: >= 0.85 at once.
2. Overhead. One search of 48 short trials, 16 at a time, through the same machinery and through bare
   Ray Tune with the same searcher (Optuna TPE, seeded) and scheduler (ASHA): the wall-clock ratio,
   best of two runs each, alternated. Goal: <= 1.1x.

Each trial also pays Ray Tune's own cost of starting it and handling its reports, about half a second
on this machine; trials of a few seconds make that a large part of a slot's time, hence 6 s epochs.

Run: ``.venv/bin/python bench/study_orchestration.py [--seconds 6] [--before 6]`` (about 15 minutes).
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
    from sweep.preflight.validate import load_config

    overrides = [f"data_dir={ROOT / 'data' / 'toy'}", "target.search_space=quickstart_intermediate"]
    overrides += [f"resources.{key}={value}" for key, value in resources.items()]
    return load_config(ROOT / "configs" / "quickstart.yaml", overrides)


def _study(config: Any, work: Path, searches: list[Any], *, samples: int, epochs: int, seconds: float) -> Any:
    """The study of ``searches`` with the driver's own recorder (journal and results) and sleepy trials."""
    from sweep.plan.study import SearchState, Study
    from sweep.run.recorder import HP_COLUMN_TYPES, Recorder
    from sweep.run.tuning import make_scheduler, make_searcher
    from sweep.storage.journal import TrialJournal
    from sweep.storage.results import ResultsStore
    from sweep.storage.select import best_trial

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

        def checkpoint_lost(self, trial_id: str, trial_config: dict, *, lost: int, kept: int | None) -> None:
            pass  # only on resume, which the benchmark does not do

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
    from sweep.run.tuning import run_study

    study = _study(config, work, searches, **shape)
    started = time.monotonic()
    grid = run_study(config, study, storage=work / "tune", trainable=sleepy, resources={"cpu": 1})
    wall = time.monotonic() - started
    return wall, sum(r.metrics.get("time_total_s", 0.0) for r in grid if r.metrics)


def _startup(work: Path) -> float:
    """Seconds bare Ray Tune takes from ``fit`` until the first of 16 sleeping trials runs."""
    from ray import tune

    def began(config: dict[str, Any]) -> None:
        began = time.time()
        time.sleep(1.0)
        tune.report({"began": began})

    tuner = tune.Tuner(
        tune.with_resources(began, {"cpu": 1}),
        param_space={"k": tune.grid_search(list(range(SLOTS)))},
        tune_config=tune.TuneConfig(reuse_actors=True),
        run_config=tune.RunConfig(name="startup", storage_path=str(work / "startup"), verbose=0),
    )
    started = time.time()
    grid = tuner.fit()
    return min(r.metrics["began"] for r in grid) - started


def _searches(intermediates: int, targets: int) -> list[Any]:
    from sweep.plan.searches import NONE, Search, stage_one_id

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
    parser.add_argument("--seconds", type=float, default=6.0, help="seconds per epoch in the cluster-use study")
    parser.add_argument("--before", type=int, default=6, help="searches run one at a time for the 'before' figure")
    args = parser.parse_args()

    from cluster import ray_session
    from sweep.plan.searches import Search

    ray_session.start(num_cpus=SLOTS)
    work = Path(tempfile.mkdtemp(prefix="xstilts-bench-"))
    try:
        print(f"local Ray on 127.0.0.1 declaring {int(ray.cluster_resources()['CPU'])} CPUs; trials sleep")
        startup = _startup(work)
        print(f"\n0. start-up: bare Ray Tune's first of {SLOTS} trials runs {startup:.1f} s after fit()")

        searches = _searches(intermediates=3, targets=8)
        shape = {"samples": 6, "epochs": 3, "seconds": args.seconds}
        print(
            f"\n1. cluster use: {len(searches)} searches x {shape['samples']} trials x {shape['epochs']} epochs "
            f"of {shape['seconds']:g} s, 2 trials at a time per search"
        )
        use = {}
        runs = (("one search at a time", 1, searches[: args.before]), ("all ready searches at once", None, searches))
        for label, cap, chosen in runs:
            extra = {"max_searches_in_flight": cap} if cap else {}
            config = _config(work, **extra)
            wall, busy = _run_study(config, work / label.replace(" ", "_"), chosen, **shape)
            use[label] = busy / (SLOTS * wall)
            net = busy / (SLOTS * (wall - startup))
            print(
                f"   {label:27s} {len(chosen):2d} searches {wall:6.1f} s wall, {busy:7.1f} trial-seconds, "
                f"busy fraction {use[label]:.2f} ({net:.2f} without the start-up)"
            )
        ratio = use["all ready searches at once"] / use["one search at a time"]
        print(f"   at once / one at a time: {ratio:.1f}x busier (goal: >= 0.85 busy at once)")

        trials, epochs, seconds = 48, 3, 0.2
        print(f"\n2. overhead: one search of {trials} trials x {epochs} epochs of {seconds:g} s, {SLOTS} at a time")
        config = _config(work, max_concurrent_trials=SLOTS)
        one = [Search(id="target-none-t0", phase="target", intermediate="none", target="t0")]
        bares, ours = [], []
        for k in range(2):  # alternated, best of two each: one run of about 20 s is noisy here
            bares.append(_bare_tune(work / f"bare{k}", trials=trials, epochs=epochs, seconds=seconds, config=config))
            wall, _ = _run_study(config, work / f"study_one{k}", one, samples=trials, epochs=epochs, seconds=seconds)
            ours.append(wall)
        bare, ours_best = min(bares), min(ours)
        print(f"   bare Ray Tune   {bare:6.1f} s (runs: {', '.join(f'{b:.1f}' for b in bares)})")
        print(f"   xstilts study   {ours_best:6.1f} s (runs: {', '.join(f'{o:.1f}' for o in ours)})")
        print(f"   xstilts / bare: {ours_best / bare:.2f}x, best of each (goal: <= 1.1x)")
    finally:
        ray_session.stop()
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
