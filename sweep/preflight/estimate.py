"""How long, how much: a study's cost and wall-clock on a given cluster, before anything runs.

Each search's trials are sized from the data: training sequences an epoch (the data's files where they
are on this machine, else ``trainers.tasks.sizes``), capped as the config caps them, times the epochs a
trial is expected to train (every epoch without a scheduler; ASHA's expected share of them otherwise),
and evaluation sequences (dev at each evaluation, capped where ``eval_dev_examples`` says, test at the last).
Sequences become seconds through a throughput per model entry: given (``--throughput NAME=SEQ_PER_S``,
training sequences a second on one GPU, evaluation taken as three times faster), or estimated from the
model's parameters and the GPU's peak bf16 FLOP/s at a utilization (``--mfu``): 6 FLOPs a parameter and
token to train in full, 4 with adapters (no weight gradients for the frozen base), 2 to evaluate. A trial
on W workers runs W times faster on W times the GPUs.

The schedule is simulated with the study's own ``Study`` (the same priorities, per-search caps and
dependencies the driver uses): trials start when the cluster has room for them, in the order the study
proposes them, and a search ends when its last trial does. Measured trial lengths of a finished sweep may
be fed in instead (``durations``), which is how a test checks the simulation against a real run; with them
come the seconds that sweep spent between trials (``Pauses``): a trial's start after its slot freed (Ray
starting its actors) and, after each stage one ended, its encoder's export, for which the searches that
need it wait (the others go on), which a sizing from the data alone leaves out.
"""

from __future__ import annotations

import heapq
import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sweep.config.mixtures import is_mixture, mixture_spec
from sweep.config.records import SweepConfig
from sweep.errors import ConfigError
from sweep.plan.searches import ZERO_SHOT, Search, eval_languages, is_evaluation, plan, regime_sources
from sweep.plan.study import FINISHING, SearchState, Study
from trainers.tasks import get_task, selection_languages, training_data
from trainers.tasks.sizes import choices_of, size_of

#: Peak dense bf16 FLOP/s of the GPUs ``--gpu`` names.
GPUS = {"a100-40gb": 312e12, "a100-80gb": 312e12, "h100-80gb": 989e12, "h200": 989e12, "l4": 121e12}
EVAL_SPEEDUP = 3.0  # a given training throughput's evaluation counterpart (no backward pass)

#: Parameters of well-known checkpoints, by the last part of ``model.path``, for a model not on this machine.
KNOWN_PARAMETERS = {
    "xlm-roberta-base": 278e6,
    "xlm-roberta-large": 560e6,
    "xlm-roberta-xl": 3.48e9,
    "xlm-roberta-xxl": 10.7e9,
    "bert-base-multilingual-cased": 178e6,
    "mdeberta-v3-base": 279e6,
    "llama-7b": 6.74e9,
    "llama-13b": 13.0e9,
    "llama-30b": 32.5e9,
}


@dataclass
class SearchCost:
    """One search's size and the time its trials take."""

    search: Search
    trials: int
    gpus_per_trial: float  # GPUs (or CPUs on a CPU-only study) one trial holds
    trial_seconds: float  # a trial's expected length
    train_sequences: float = 0.0  # a trial's, over its expected epochs
    eval_sequences: float = 0.0
    start: float = 0.0
    end: float = 0.0

    @property
    def gpu_hours(self) -> float:
        return self.trials * self.trial_seconds * self.gpus_per_trial / 3600


@dataclass
class Pauses:
    """The seconds a finished sweep's driver spent between trials, beyond the trials themselves."""

    per_trial: float = 0.0  # the median wait from a slot freeing to the next trial's start
    after: dict[str, float] = field(default_factory=dict)  # search id -> its export: its dependents' wait after it


@dataclass
class Estimate:
    """The simulated study on a cluster of ``capacity`` GPUs (or CPUs)."""

    searches: list[SearchCost]
    capacity: float
    unit: str  # "GPU" or "CPU"
    wall_seconds: float = 0.0
    peak_in_use: float = 0.0
    chain: list[str] = field(default_factory=list)  # the longest chain of searches, first to last
    chain_seconds: float = 0.0
    exports: dict[str, float] = field(default_factory=dict)  # search id -> its export, simulated (``Pauses.after``)

    @property
    def gpu_hours(self) -> float:
        return sum(s.gpu_hours for s in self.searches)

    @property
    def mean_in_use(self) -> float:
        return self.gpu_hours * 3600 / self.wall_seconds if self.wall_seconds else 0.0


# ------------------------------------------------------------------------------------------ sizes


def split_size(task_name: str, role: str, language: str, data_dir: str | None) -> int:
    """Examples in one split: counted in the data's files where they are here, else the registry's size."""
    task = get_task(task_name)
    if data_dir:
        counted = _count_files(task, role, language, Path(data_dir))
        if counted is not None:
            return counted
    size = size_of(task_name, role)
    if size is None and role == "dev" and task.test_is_validation:
        size = size_of(task_name, "test")
    if size is None:
        raise ConfigError(
            [
                f"no size is known for {task_name}'s {role} split and its data is not in data_dir; put the data "
                f"there (its files are counted) or add the size to trainers/tasks/sizes.py"
            ]
        )
    return size


def _count_files(task: Any, role: str, language: str, data_dir: Path) -> int | None:
    for source in task.sources:
        if source.files or role not in source.splits:
            continue
        names = source.splits[role]
        names = (names,) if isinstance(names, str) else names
        folder = data_dir / source.mirror_for(language)
        total = 0
        for name in names:
            jsonl, parquet = folder / f"{name}.jsonl", folder / f"{name}.parquet"
            if jsonl.is_file():
                with jsonl.open("rb") as handle:
                    total += sum(1 for line in handle if line.strip())
            elif parquet.is_file():
                import pyarrow.parquet as pq

                total += pq.ParquetFile(parquet).metadata.num_rows
            else:
                return None
        return total
    return None


def _training_sets(config: SweepConfig, search: Search) -> list[tuple[str, str, int | None]]:
    """(task whose train split, language, cap) of each training set a trial of ``search`` reads."""
    if search.phase == "intermediate":
        if is_mixture(config, search.intermediate):
            spec = mixture_spec(config, search.intermediate)
            return [(s.train_task, lang, s.cap) for s in spec.sources for lang in s.languages]
        task, languages = training_data(search.intermediate)
        return [(task.name, lang, None) for lang in languages]
    if search.regime != ZERO_SHOT:
        return [(s.train_task, lang, None) for s in regime_sources(config, search) for lang in s.languages]
    task, languages = training_data(search.target)
    return [(task.name, lang, None) for lang in languages]


def _expected_epochs(config: SweepConfig, search: Search, epochs: int) -> float:
    """Epochs a trial is expected to train: all of them without a scheduler; with ASHA, a trial passes
    each rung (grace period x reduction factor^k) with chance 1/reduction factor."""
    if config.search.scheduler != "asha" or search.rerun_of is not None:
        return float(epochs)
    grace, eta = config.search.grace_period, config.search.reduction_factor
    rungs = []
    rung = grace
    while rung < epochs:
        rungs.append(rung)
        rung *= eta
    expected, reached, previous = 0.0, 1.0, 0
    for rung in [*rungs, epochs]:
        expected += reached * (rung - previous)
        reached /= eta
        previous = rung
    return expected


def size_search(
    config: SweepConfig,
    search: Search,
    *,
    seconds: Any,
    durations: Mapping[str, float] | None = None,
) -> SearchCost:
    """The trials of ``search`` and their expected length (``seconds(model_config, train, eval)``, or a
    measured length from ``durations``, by search id)."""
    sub = config.for_model(search.model)
    res = sub.resources
    per_trial = (res.gpus_per_trial or res.cpus_per_trial) * res.workers_per_trial
    if is_evaluation(search):
        languages = eval_languages(sub, search.target)
        evals = sum(split_size(search.target, "test", lang, sub.data_dir) for lang in languages)
        length = durations[search.id] if durations and search.id in durations else seconds(sub, 0.0, evals)
        return SearchCost(search, trials=1, gpus_per_trial=per_trial, trial_seconds=length, eval_sequences=evals)
    stage = sub.stage_of(search)
    trials = len(sub.seeds) if search.rerun_of else stage.num_samples
    train = 0.0
    for task_name, lang, cap in _training_sets(sub, search):
        n = split_size(task_name, "train", lang, sub.data_dir)
        n = min(n, cap) if cap else n
        n = min(n, sub.training.max_train_examples) if sub.training.max_train_examples else n
        train += n * choices_of(task_name)
    epochs = _expected_epochs(sub, search, stage.epochs)
    dev_task = search.target or search.intermediate
    if search.phase == "intermediate" and is_mixture(sub, search.intermediate):
        dev_sets = [(s.dev_task or s.task, s.languages) for s in mixture_spec(sub, search.intermediate).sources]
    elif search.phase == "intermediate":
        dev_sets = [(training_data(search.intermediate)[0].name, selection_languages(search.intermediate))]
    else:
        dev_sets = [(dev_task, eval_languages(sub, dev_task))]
    dev = test = 0.0
    cap_eval = sub.training.max_eval_examples
    for task_name, languages in dev_sets:
        for lang in languages:
            for role in ("dev",) + (("test",) if search.phase == "target" else ()):
                try:
                    n = split_size(task_name, role, lang, sub.data_dir)
                except ConfigError:
                    if role == "dev":  # a target without a dev split selects on its training task's
                        continue
                    raise
                n = min(n, cap_eval) if cap_eval else n
                if role == "dev":
                    dev += n * choices_of(task_name)
                else:
                    test += n * choices_of(task_name)
    evaluations = _evaluations(sub, train, epochs)
    capped_dev = min(dev, sub.training.eval_dev_examples) if sub.training.eval_dev_examples else dev
    evals = capped_dev * max(0, evaluations - 1) + dev + test
    length = durations[search.id] if durations and search.id in durations else seconds(sub, train * epochs, evals)
    return SearchCost(
        search, trials, per_trial, trial_seconds=length, train_sequences=train * epochs, eval_sequences=evals
    )


def _evaluations(config: SweepConfig, per_epoch: float, epochs: float) -> int:
    """Evaluations a trial makes over ``epochs``: each epoch's end, or every ``training.eval_every``
    (steps counted at the search space's default batch)."""
    from trainers.spec import HyperParameters, eval_interval

    every = config.training.eval_every
    if every is None:
        return max(1, math.ceil(epochs))
    unit, amount = eval_interval(every)
    if unit == "epochs":
        return max(1, math.ceil(epochs / amount))
    hp = HyperParameters()
    batch = hp.micro_batch_size * hp.gradient_accumulation_steps * config.resources.workers_per_trial
    return max(1, math.ceil(per_epoch * epochs / batch / amount))


# ------------------------------------------------------------------------------------ throughput


def parameters_of(config: SweepConfig) -> float:
    """The model's parameters: counted from its config where its files are here, else a known size."""
    model = config.model
    if model.init == "scratch":
        return 12 * model.num_layers * model.hidden_size**2 + 250_000 * model.hidden_size
    from sweep.preflight.memory import model_sizes

    try:
        return float(model_sizes(model)[0])
    except Exception:
        name = (model.path or model.name).rstrip("/").rsplit("/", 1)[-1].lower()
        if name in KNOWN_PARAMETERS:
            return KNOWN_PARAMETERS[name]
        raise ConfigError(
            [
                f"model `{model.name}`: its files are not here and its size is not known; give its training "
                f"throughput with --throughput {model.name}=SEQUENCES_PER_SECOND"
            ]
        ) from None


def flops_seconds(gpu: str, mfu: float, throughputs: Mapping[str, float]) -> Any:
    """``seconds(config, train_sequences, eval_sequences)``: a trial's length on ``gpu`` GPUs."""
    if gpu not in GPUS:
        raise ConfigError([f"unknown --gpu {gpu!r}; known: {', '.join(GPUS)}"])
    peak = GPUS[gpu] * mfu

    def seconds(config: SweepConfig, train: float, evals: float) -> float:
        res = config.resources
        workers = res.workers_per_trial * max(1.0, res.gpus_per_trial)
        given = throughputs.get(config.model.name)
        if given is not None:
            return (train / given + evals / (given * EVAL_SPEEDUP)) / workers
        params = parameters_of(config)
        tokens = config.model.max_length
        train_flops = (4 if config.training.adapter is not None else 6) * params * tokens
        return (train * train_flops + evals * 2 * params * tokens) / (peak * workers)

    return seconds


# ------------------------------------------------------------------------------------ simulation


def simulate(
    config: SweepConfig, costs: list[SearchCost], *, capacity: float, unit: str, pauses: Pauses | None = None
) -> Estimate:
    """Run the study's ``Study`` on a cluster of ``capacity`` GPUs (or CPUs) with each trial's expected
    length; trials start in the order the study proposes them, when they fit, and the searches that need a
    search start only once its export (``pauses.after``) has ended, as in the driver (``FINISHING``)."""
    by_id = {c.search.id: c for c in costs}
    for cost in costs:
        if cost.gpus_per_trial > capacity:
            raise ConfigError(
                [f"{cost.search.id}: one trial needs {cost.gpus_per_trial:g} {unit}s but the cluster has {capacity:g}"]
            )
    now = 0.0
    ended: dict[str, float] = {}
    running: list[tuple[float, int, str | None, float]] = []  # (end, order, trial id or None: an export's, gpus)
    exports = (pauses or Pauses()).after

    def finalize(search: Search) -> str:
        ended[search.id] = now
        if exports.get(search.id, 0.0) > 0:
            heapq.heappush(running, (now + exports[search.id], -1, None, 0.0))
            return FINISHING
        return "done"

    def finish(search: Search) -> str | None:
        return "done" if now >= ended[search.id] + exports[search.id] - 1e-9 else None

    started: set[str] = set()

    def trial_config(search: Search, sampled: dict[str, Any]) -> dict[str, Any]:
        if search.id not in started:  # its first trial: the search starts now
            by_id[search.id].start = now
            started.add(search.id)
        return {"search": search.id}

    states = [SearchState(search=c.search, samples=c.trials, needs=c.search.needs) for c in costs]
    res = config.resources
    study = Study(
        states,
        trial_config=trial_config,
        finalize=finalize,
        finish=finish,
        max_concurrent_trials=res.max_concurrent_trials,
        max_trials_in_flight=res.max_trials_in_flight,
        max_searches_in_flight=res.max_searches_in_flight,
    )
    in_use, peak, counter, waiting = 0.0, 0.0, 0, None
    while True:
        while True:  # start what fits, in the study's order (one that does not waits)
            if waiting is None:
                trial_id = f"t{counter}"
                proposal = study.suggest(trial_id)
                if not isinstance(proposal, dict):
                    break
                counter += 1
                waiting = (trial_id, by_id[proposal["search"]])
            trial_id, cost = waiting
            if in_use + cost.gpus_per_trial > capacity + 1e-9:
                break
            waiting = None
            in_use += cost.gpus_per_trial
            peak = max(peak, in_use)
            heapq.heappush(running, (now + cost.trial_seconds, counter, trial_id, cost.gpus_per_trial))
        if not running:
            break
        now, _, trial_id, gpus = heapq.heappop(running)
        if trial_id is not None:
            in_use -= gpus
            study.trial_finished(trial_id)
    for cost in costs:
        cost.end = ended.get(cost.search.id, now)
    estimate = Estimate(costs, capacity=capacity, unit=unit, wall_seconds=now, peak_in_use=peak, exports=dict(exports))
    estimate.chain, estimate.chain_seconds = _longest_chain(costs)
    return estimate


def _longest_chain(costs: list[SearchCost]) -> tuple[list[str], float]:
    """The chain of dependent searches with the longest total span (start to end of each)."""
    by_id = {c.search.id: c for c in costs}
    best: tuple[list[str], float] = ([], 0.0)
    for cost in costs:
        chain, total, current = [], 0.0, cost
        while current is not None:
            chain.append(current.search.id)
            total += current.end - current.start
            current = by_id.get(current.search.needs) if current.search.needs else None
        if total > best[1]:
            best = (list(reversed(chain)), total)
    return best


def estimate(
    config: SweepConfig,
    *,
    gpus: float,
    gpu: str = "a100-40gb",
    mfu: float = 0.4,
    throughputs: Mapping[str, float] | None = None,
    durations: Mapping[str, float] | None = None,
    pauses: Pauses | None = None,
) -> Estimate:
    """The study of ``config`` sized and simulated on ``gpus`` GPUs (or, for a study whose trials take no
    GPU, that many CPUs); ``pauses`` (measured with ``durations``) add each trial's start and the stage
    ones' exports."""
    seconds = flops_seconds(gpu, mfu, throughputs or {})
    costs = [size_search(config, s, seconds=seconds, durations=durations) for s in plan(config)]
    if pauses is not None:
        for cost in costs:  # a trial holds its slot from the moment it frees, actors starting included
            cost.trial_seconds += pauses.per_trial
        needed = {cost.search.needs for cost in costs if cost.search.needs}
        pauses = Pauses(pauses.per_trial, {k: v for k, v in pauses.after.items() if k in needed})
    unit = "GPU" if any(config.for_model(n).resources.gpus_per_trial > 0 for n in config.model_names()) else "CPU"
    return simulate(config, costs, capacity=gpus, unit=unit, pauses=pauses)


def measured_durations(sweep_root: Path) -> dict[str, float]:
    """The mean length of each search's trials in a finished sweep: from a trial's first start to its last
    report, as its results saw them: what the trial held its slot for. The reports' ``wall_s`` (Tune's
    ``time_total_s``) came out shorter for some trials (6.6 s against 10.9 s for one in a quickstart run)."""
    import duckdb

    rows = duckdb.sql(
        "select search, avg(span) from (select search, trial_id, "
        "epoch(max(reported_at) - min(started_at)) span from "
        f"read_parquet('{sweep_root}/results/**/*.parquet', union_by_name=true) group by 1, 2) group by 1"
    ).fetchall()
    return {search: float(span) for search, span in rows}


def measured_pauses(sweep_root: Path) -> Pauses:
    """The seconds a finished sweep spent between trials, from its results: each trial's wait from the last
    trial end before its start (the median: Ray starting its actors; the first trials, which waited for no
    end, count none), and each stage one's export, as its manifest recorded it (``export_s``: from its last
    trial's end to its encoder's being written). A sweep whose manifest records no ``export_s`` was run by a
    driver that started no trial while exporting: for it, the wait after each search's last report until
    the next trial anywhere started, less that median (none for a search reused from the checkpoint store,
    whose rows are another sweep's)."""
    import bisect
    import json
    import statistics

    import duckdb

    rows = duckdb.sql(
        "select search, epoch(min(started_at)), epoch(max(reported_at)) from "
        f"read_parquet('{sweep_root}/results/**/*.parquet', union_by_name=true) group by search, trial_id"
    ).fetchall()
    ends = sorted(end for _, _, end in rows)
    starts = sorted(start for _, start, _ in rows)
    gaps = [start - ends[bisect.bisect_right(ends, start) - 1] for start in starts if ends and ends[0] <= start]
    per_trial = statistics.median(gaps) if gaps else 0.0
    manifest = sweep_root / "manifest.json"
    recorded = json.loads(manifest.read_text()).get("searches", {}) if manifest.is_file() else {}
    exported = {k: float(v["export_s"]) for k, v in recorded.items() if v.get("export_s") is not None}
    if exported:
        return Pauses(per_trial, exported)
    after: dict[str, float] = {}
    last_report: dict[str, float] = {}  # each search's last report, in one pass over its trials
    for search, _, end in rows:
        last_report[search] = max(end, last_report.get(search, end))
    for search, last in last_report.items():
        if recorded.get(search, {}).get("origin") == "reused":
            continue
        following = bisect.bisect_left(starts, last)  # the first trial to start after its last report
        if following < len(starts):
            after[search] = max(0.0, starts[following] - last - per_trial)
    return Pauses(per_trial, after)
