"""Benchmark: how well a study uses a cluster, one search at a time against every ready search at once, and what
xstilts' orchestration costs per trial against bare Ray Tune.

Trials sleep instead of training, so the figures measure orchestration, not this machine's cores. A local Ray
instance on 127.0.0.1 declares 16 CPUs: 16 slots, one per trial. Every time in parts 1 and 2 is this script's
wall clock around building and running the same workload on each side (a study through
``sweep.run.tuning.run_study``; bare Ray Tune's ``Tuner`` and ``fit()``); the two sides' runs alternate, and
each side is summarised by the min, median and max of its runs. Nothing is subtracted from any time.

0. Start-up, for information: bare Ray Tune running 16 sleeping trials, the seconds from ``fit()`` until its
   first trial runs. On this 2-core machine the 16 trial processes import Ray Tune at once, sharing 2 cores,
   so none of them runs for about 13 s (a node with a core per trial starts them in about one). Every run
   below pays it inside its wall time; it is printed, never subtracted.
1. Cluster use: one study, run with a switch. "before" sets ``resources.max_searches_in_flight=1`` (one
   search at a time, as xstilts ran a study before); "after" leaves it unset (every ready search at once).
   The study: ``--intermediates`` intermediate tasks (2) and ``--targets`` targets (6), so one stage-one
   search per intermediate task, one baseline per target and one pair per (task, target) that waits for its
   stage one (2 + 6 + 12 = 20 searches); each search ``--trials`` trials (4) of ``--epochs`` epochs (3) of
   ``--seconds`` s (3.5), ASHA, at most 2 trials at a time per search (the default), through xstilts' own
   machinery (``sweep.plan.study``, ``sweep.run.tuning``, the recorder writing the journal and results).
   ``--repeats`` runs of each side (2), alternated. Per run: the wall seconds, the trial-seconds (each
   trial's seconds in its trainable, Ray Tune's ``time_total_s``, summed) and the busy fraction,
   trial-seconds / (16 slots x wall). Printed: every run, min/median/max per side, and the ratios of the
   medians (wall: before / after; busy fraction: after / before). Goal: after >= 0.85 busy.
2. Overhead: one search of ``--overhead-trials`` trials (48) of 3 epochs of 0.2 s, 16 at a time, through the
   same machinery and through bare Ray Tune with the same searcher (Optuna TPE, seeded) and scheduler
   (ASHA); ``--overhead-repeats`` runs of each (3), alternated; min/median/max of each and the ratio of the
   medians. Goal: <= 1.1x.

Sizing: one search at a time keeps at most 2 of the 16 slots busy, so "before" takes 5 to 6 times as long as
"after" on the same study. The defaults (about 600 trial-seconds per run) keep the whole benchmark near 17
minutes on this 2-core machine: about 6 minutes per "before" run (about 18 s per search) and a little over 1
per "after" run, about 3 for part 2, and half a minute for starting Ray and part 0. With after-runs of about a
minute, the start-up above (inside every run) caps the busy fraction this machine can show; a larger study
(``--targets``, ``--trials``, ``--seconds``) shows more of the steady state, at about 5 minutes of "before"
per extra minute of "after". Each trial also pays Ray Tune's own cost of starting it and handling its
reports, about half a second here, hence epochs of seconds.

Run: ``.venv/bin/python bench/study_orchestration.py`` (about 17 minutes), or a smoke test of a minute or two:
``... --repeats 1 --intermediates 1 --targets 2 --trials 2 --epochs 2 --seconds 1 --overhead-trials 16
--overhead-repeats 1``.
"""

from __future__ import annotations

import os
import shutil
import statistics
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


def _config(**resources: Any) -> Any:
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
    """Wall seconds of building and running the study (this script's clock), and the seconds its trials spent
    in their trainable (Ray Tune's ``time_total_s`` of each trial, summed)."""
    from sweep.run.tuning import run_study

    started = time.monotonic()
    study = _study(config, work, searches, **shape)
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
    """Wall seconds of building and running the same trials as one plain Tune run: seeded Optuna TPE and
    ASHA, 16 at a time."""
    import optuna
    from ray import tune
    from ray.tune.schedulers import ASHAScheduler
    from ray.tune.search import ConcurrencyLimiter
    from ray.tune.search.optuna import OptunaSearch

    started = time.monotonic()  # as for the study: building the run and running it
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
    tuner.fit()
    return time.monotonic() - started


def _spread(values: list[float], fmt: str = "6.1f", unit: str = " s") -> str:
    low, mid, high = min(values), statistics.median(values), max(values)
    return f"min {low:{fmt}}{unit}, median {mid:{fmt}}{unit}, max {high:{fmt}}{unit}"


def main() -> None:
    import argparse

    import ray

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=2, help="cluster use: runs of each side, alternated")
    parser.add_argument("--intermediates", type=int, default=2, help="cluster use: intermediate tasks of the study")
    parser.add_argument("--targets", type=int, default=6, help="cluster use: targets of the study")
    parser.add_argument("--trials", type=int, default=4, help="cluster use: trials per search")
    parser.add_argument("--epochs", type=int, default=3, help="cluster use: epochs per trial")
    parser.add_argument("--seconds", type=float, default=3.5, help="cluster use: seconds per epoch")
    parser.add_argument("--overhead-trials", type=int, default=48, help="overhead: trials of the one search")
    parser.add_argument(
        "--overhead-repeats", type=int, default=3, help="overhead: runs of each side, alternated (0: skip)"
    )
    args = parser.parse_args()

    from cluster import ray_session
    from sweep.plan.searches import Search

    ray_session.start(num_cpus=SLOTS)
    work = Path(tempfile.mkdtemp(prefix="xstilts-bench-"))
    try:
        print(f"local Ray on 127.0.0.1 declaring {int(ray.cluster_resources()['CPU'])} CPUs; trials sleep", flush=True)
        startup = _startup(work)
        print(
            f"\n0. start-up: bare Ray Tune's first of {SLOTS} trials runs {startup:.1f} s after fit() (not subtracted)"
        )

        searches = _searches(intermediates=args.intermediates, targets=args.targets)
        shape = {"samples": args.trials, "epochs": args.epochs, "seconds": args.seconds}
        print(
            f"\n1. cluster use: one study of {len(searches)} searches (stage ones {args.intermediates}, baselines "
            f"{args.targets}, pairs {args.intermediates * args.targets}), {args.trials} trials each of "
            f"{args.epochs} epochs of {args.seconds:g} s, at most 2 trials at a time per search; {args.repeats} "
            f"runs of each side, alternated",
            flush=True,
        )
        sides = {
            "before": ("one search at a time", _config(max_searches_in_flight=1)),
            "after": ("all ready searches at once", _config()),
        }
        walls: dict[str, list[float]] = {side: [] for side in sides}
        busy: dict[str, list[float]] = {side: [] for side in sides}
        for k in range(args.repeats):
            for side, (label, config) in sides.items():  # alternated: before, after, before, after, ...
                folder = work / f"{side}{k}"
                wall, seconds = _run_study(config, folder, searches, **shape)
                shutil.rmtree(folder, ignore_errors=True)
                walls[side].append(wall)
                busy[side].append(seconds / (SLOTS * wall))
                print(
                    f"   run {k + 1} {side:6} {'(' + label + ')':28} {wall:7.1f} s wall, {seconds:7.1f} trial-seconds, "
                    f"busy fraction {busy[side][-1]:.2f}",
                    flush=True,
                )
        for side in sides:
            print(f"   {side:6} wall: {_spread(walls[side])}; busy fraction: {_spread(busy[side], '.2f', '')}")
        wall_ratio = statistics.median(walls["before"]) / statistics.median(walls["after"])
        busy_ratio = statistics.median(busy["after"]) / statistics.median(busy["before"])
        print(
            f"   medians: before / after wall {wall_ratio:.2f}x; after / before busy fraction {busy_ratio:.2f}x "
            f"(goal: after >= 0.85 busy)"
        )

        if args.overhead_repeats < 1:
            return
        trials, epochs, seconds = args.overhead_trials, 3, 0.2
        print(
            f"\n2. overhead: one search of {trials} trials x {epochs} epochs of {seconds:g} s, {SLOTS} at a time; "
            f"{args.overhead_repeats} runs of each, alternated",
            flush=True,
        )
        config = _config(max_concurrent_trials=SLOTS)
        one = [Search(id="target-none-t0", phase="target", intermediate="none", target="t0")]
        bares, ours = [], []
        for k in range(args.overhead_repeats):
            bares.append(_bare_tune(work / f"bare{k}", trials=trials, epochs=epochs, seconds=seconds, config=config))
            wall, _ = _run_study(config, work / f"study_one{k}", one, samples=trials, epochs=epochs, seconds=seconds)
            ours.append(wall)
            print(f"   run {k + 1} bare Ray Tune {bares[-1]:6.1f} s, xstilts study {ours[-1]:6.1f} s", flush=True)
        print(f"   bare Ray Tune  {_spread(bares)}")
        print(f"   xstilts study  {_spread(ours)}")
        ratio = statistics.median(ours) / statistics.median(bares)
        print(f"   xstilts / bare, medians: {ratio:.2f}x (goal: <= 1.1x)")
    finally:
        ray_session.stop()
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
