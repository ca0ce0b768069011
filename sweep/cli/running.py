"""``sweep launch``, ``sweep resume`` and ``sweep validate``: the commands that start, continue or check a study."""

from __future__ import annotations

import argparse
from typing import Any

from sweep.errors import ConfigError


def _config_arg(p: argparse.ArgumentParser, *, examples: str = "") -> None:
    """The config argument, and below the options ``examples`` (lines of commands), the forms a config takes
    and the packaged configs' names."""
    from sweep.config.source import packaged_configs

    p.add_argument(
        "config",
        help="the sweep config: a YAML file, a packaged config by name (xstilts:quickstart) or a file on "
        "shared storage (s3://bucket/configs/study.yaml)",
    )
    p.add_argument(
        "overrides",
        nargs="*",
        metavar="key=value",
        help="config overrides, e.g. target.num_samples=2, before or after the options",
    )
    names = "\n".join(f"  {name}" for name in packaged_configs()) or "  (none: xstilts is not installed)"
    p.formatter_class = argparse.RawDescriptionHelpFormatter
    p.epilog = (
        (f"examples:\n{examples}\n\n" if examples else "")
        + f"packaged configs (paths inside them resolve against the package):\n{names}\n"
        "a config on shared storage names its paths absolutely, or they are given as overrides (data_dir=/data)"
    )


LAUNCH_EXAMPLES = """\
  sweep launch configs/quickstart.yaml                       a sweep in ./sweeps/quickstart
  sweep launch configs/quickstart.yaml --smoke               the study in miniature on a CPU
  sweep launch xstilts:quickstart target.num_samples=8 --name qs8 --storage /scratch/sweeps
  sweep launch study.yaml --address auto --storage s3://bucket/sweeps   on a running Ray cluster
  sweep status sweeps/quickstart --watch                     then follow it as it runs"""

VALIDATE_EXAMPLES = """\
  sweep validate configs/quickstart.yaml                     every check launch runs, no Ray, no GPU
  sweep validate configs/quickstart.yaml --skip-files target.num_samples=8   the config alone
  sweep validate study.yaml --address 10.0.0.1:6379          for a cluster: skip this machine's CPUs/GPUs
  sweep validate study.yaml --smoke                          the smoke version launch --smoke would run"""


def _launch_args(p: argparse.ArgumentParser) -> None:
    _config_arg(p, examples=LAUNCH_EXAMPLES)
    p.add_argument("--name", help="sweep name (default: the config's name)")
    p.add_argument(
        "--storage",
        help="where sweeps live: a folder, or shared storage such as s3://bucket/prefix (default: the "
        "config's storage, else ./sweeps)",
    )
    p.add_argument("--address", help="join an existing Ray cluster (HOST:PORT or auto) instead of a local one")
    p.add_argument(
        "--resume-existing",
        action="store_true",
        help="if the sweep exists already, resume it instead of refusing (for a job its scheduler retries)",
    )
    _trust_arg(p)
    _smoke_args(p)


def _trust_arg(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--trust-storage",
        action="store_true",
        help="resume a sweep even where other users can write its files (resuming loads pickled state "
        "from them: docs/security.md)",
    )


def _smoke_args(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--smoke",
        action="store_true",
        help="the study in miniature on a CPU: tiny models of the same families, a few dozen examples per split, "
        "two short trials per search (named <name>-smoke)",
    )
    p.add_argument("--data-dir", help="with --smoke: real data to use wherever it has a split (synthetic elsewhere)")
    p.add_argument("--tokenizer", help="with --smoke: a tokenizer for models whose own is not on this machine")


def _launch(args: argparse.Namespace) -> int:
    from sweep.run.driver import launch

    root = launch(
        args.config,
        args.overrides,
        name=args.name,
        storage=args.storage,
        address=args.address,
        resume_existing=args.resume_existing,
        smoke=args.smoke,
        data_dir=args.data_dir,
        tokenizer=args.tokenizer,
        trust_storage=args.trust_storage,
    )
    print(f"sweep directory: {root}\nsee the transfer matrix with: sweep query {root} --pivot")
    return 0


def _resume_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("sweep_dir")
    p.add_argument("--address", help="join an existing Ray cluster instead of a local one")
    _trust_arg(p)


def _resume(args: argparse.Namespace) -> int:
    from sweep.run.driver import resume

    root = resume(args.sweep_dir, address=args.address, trust_storage=args.trust_storage)
    print(f"sweep directory: {root}")
    return 0


def _validate_args(p: argparse.ArgumentParser) -> None:
    _config_arg(p, examples=VALIDATE_EXAMPLES)
    p.add_argument(
        "--address",
        help="the sweep will join this cluster: skip the checks against this machine's "
        "CPUs and GPUs (the cluster's are checked at launch)",
    )
    p.add_argument(
        "--skip-files",
        action="store_true",
        help="check the config alone, not this machine's data and model files",
    )
    _smoke_args(p)


def _store_notes(config: Any, searches: list[Any]) -> dict[str, str]:
    """What the checkpoint store holds of each stage one: ``  [reused: KEY, trained by ...]`` or
    ``  [trained, then stored: KEY]``."""
    from sweep.plan import stage_one
    from sweep.storage.store import CheckpointStore

    store = CheckpointStore(config.checkpoint_store)
    notes = {}
    for search in searches:
        if search.phase == "intermediate":
            key = stage_one.key(stage_one.identity(config, search))
            try:
                entry = store.entry(key)
            except OSError as exc:
                raise store.unreachable(exc) from exc
            by = (entry or {}).get("trained_by", {}).get("sweep", "?")
            notes[search.id] = f"  [reused: {key}, trained by {by}]" if entry else f"  [trained, then stored: {key}]"
    return notes


def _validate(args: argparse.Namespace) -> int:
    from sweep.plan.searches import plan
    from sweep.preflight.validate import load_config, local_problems

    config = load_config(args.config, args.overrides, check_data=not (args.skip_files or args.smoke))
    if args.smoke:
        import tempfile
        from pathlib import Path

        from sweep.preflight.validate import validate
        from sweep.run.smoke import smoke_config

        with tempfile.TemporaryDirectory(prefix="xstilts-smoke-") as work:
            config, report = smoke_config(config, work=Path(work), data_dir=args.data_dir, tokenizer=args.tokenizer)
            if problems := validate(config):
                raise ConfigError(problems, source=f"{args.config} (its smoke version)")
        print(f"smoke: {len(report['real'])} splits of real data, {len(report['synthetic'])} synthetic")
    elif args.address is None and not args.skip_files and (problems := local_problems(config)):
        raise ConfigError(problems, source=args.config)
    searches = plan(config)
    from sweep.plan.searches import is_evaluation

    trials = sum(
        len(config.seeds) if s.rerun_of else 1 if is_evaluation(s) else config.stage_of(s).num_samples for s in searches
    )
    print(
        f"{args.config}: valid. {len(searches)} searches, up to {trials} trials, "
        f"{config.resources.max_concurrent_trials} at a time."
    )
    from sweep.config.mixtures import describe, mixtures_of
    from sweep.preflight.task_checks import regime_notes

    mixtures = mixtures_of(config)
    stored = _store_notes(config, searches) if config.checkpoint_store and not (args.skip_files or args.smoke) else {}
    for s in searches:
        trains = f"  = {describe(mixtures[s.intermediate])}" if s.target is None and s.intermediate in mixtures else ""
        in_language = f" ({s.language})" if s.language else ""
        seeds = f"  re-run with seeds {', '.join(map(str, config.seeds))}" if s.rerun_of else ""
        model = f"{s.model:14} " if s.model else ""
        print(f"  {model}{s.phase:12} {s.pair}{in_language}{trains}{seeds}{stored.get(s.id, '')}")
    for note in regime_notes(config):
        print(f"note: {note}")
    return 0


def _estimate_args(p: argparse.ArgumentParser) -> None:
    _config_arg(p)
    p.add_argument("--gpus", type=float, required=True, help="GPUs of the cluster (CPUs for a study without GPUs)")
    p.add_argument("--gpu", default="a100-40gb", help="the GPU, for its peak bf16 FLOP/s (a100-40gb, h100-80gb, ...)")
    p.add_argument("--mfu", type=float, default=0.4, help="model FLOPs utilization assumed (default 0.4)")
    p.add_argument(
        "--throughput",
        action="append",
        default=[],
        metavar="MODEL=SEQ_PER_S",
        help="a model entry's measured training sequences a second on one GPU (repeatable); "
        "others are estimated from parameters and FLOPs",
    )
    p.add_argument(
        "--durations",
        metavar="SWEEP_DIR",
        help="take each search's trial length from this finished sweep's results instead",
    )


def _estimate(args: argparse.Namespace) -> int:
    from pathlib import Path

    from sweep.preflight.estimate import estimate, measured_durations, measured_pauses
    from sweep.preflight.validate import load_config

    config = load_config(args.config, args.overrides, check_data=False)
    throughputs = {}
    for item in args.throughput:
        name, _, value = item.partition("=")
        try:
            throughputs[name] = float(value)
        except ValueError:
            raise ConfigError([f"--throughput {item!r} is not MODEL=SEQUENCES_PER_SECOND"]) from None
    unknown = set(throughputs) - set(config.model_names())
    if unknown:
        raise ConfigError([f"--throughput names {sorted(unknown)}, not models of this study: {config.model_names()}"])
    durations = measured_durations(Path(args.durations)) if args.durations else None
    pauses = measured_pauses(Path(args.durations)) if args.durations else None
    result = estimate(
        config, gpus=args.gpus, gpu=args.gpu, mfu=args.mfu, throughputs=throughputs, durations=durations, pauses=pauses
    )
    unit = result.unit
    basis = f"trial lengths measured in {args.durations}" if durations else f"{args.gpu} at {args.mfu:.0%} MFU"
    print(f"{args.config} on {args.gpus:g} {unit}s ({basis}):")
    print(f"  {'search':52} {'trials':>6} {unit + 's':>5} {'a trial':>9} {unit + '-hours':>10} {'start':>9} {'end':>9}")
    for cost in result.searches:
        print(
            f"  {cost.search.id[:52]:52} {cost.trials:>6} {cost.gpus_per_trial:>5g} {_span(cost.trial_seconds):>9} "
            f"{cost.gpu_hours:>10.2f} {_span(cost.start):>9} {_span(cost.end):>9}"
        )
    print(f"  total: {result.gpu_hours:,.2f} {unit}-hours; wall-clock {_span(result.wall_seconds)}")
    print(f"  {unit}s in use: peak {result.peak_in_use:g} of {result.capacity:g}, mean {result.mean_in_use:.1f}")
    print(f"  longest chain: {' -> '.join(result.chain)} ({_span(result.chain_seconds)})")
    if pauses is not None:
        exports = ", ".join(f"{k} {v:.1f}s" for k, v in sorted(result.exports.items())) or "none"
        print(f"  measured between trials: {pauses.per_trial:.1f}s before each trial; stage ones' exports: {exports}")
    return 0


def _span(seconds: float) -> str:
    """``3d04h``, ``5h12m``, ``7m05s`` or ``42s``."""
    s = round(seconds)
    if s >= 86400:
        return f"{s // 86400}d{s % 86400 // 3600:02d}h"
    if s >= 3600:
        return f"{s // 3600}h{s % 3600 // 60:02d}m"
    return f"{s // 60}m{s % 60:02d}s" if s >= 60 else f"{s}s"


COMMANDS = {
    "launch": (_launch_args, _launch, "start a sweep"),
    "resume": (_resume_args, _resume, "continue a sweep whose driver stopped"),
    "validate": (_validate_args, _validate, "check a config completely, without starting Ray"),
    "estimate": (_estimate_args, _estimate, "a study's GPU-hours and wall-clock on a cluster, before it runs"),
}
