"""Launching and resuming sweeps: the whole study in one Ray Tune run (``sweep.plan.study``, ``sweep.run.runner``).

Python API: ``launch("configs/quickstart.yaml")`` returns the sweep directory;
``resume(sweep_dir)`` continues one whose driver died.
"""

from __future__ import annotations

import shlex
import sys
import time
from pathlib import Path

import yaml

from sweep.config import source
from sweep.config.mixtures import composition, mixtures_of
from sweep.config.records import SweepConfig
from sweep.errors import ConfigError, SweepStateError, XStiltsError
from sweep.plan.searches import plan
from sweep.preflight.model_checks import attention_of
from sweep.preflight.validate import load_config, local_problems
from sweep.storage import layout
from sweep.storage.lease import LEASE_RENEW_S, LEASE_S
from trainers.fileio import exists, is_uri, join, no_space, write_atomic, write_json


def launch(
    config_path: str | Path,
    overrides: list[str] | tuple[str, ...] = (),
    *,
    name: str | None = None,
    storage: str | Path | None = None,
    address: str | None = None,
    resume_existing: bool = False,
    smoke: bool = False,
    data_dir: str | None = None,
    tokenizer: str | None = None,
    trust_storage: bool = False,
) -> Path | str:
    """Validate a config, create its sweep directory and run the sweep; return the directory (a URI for a
    sweep on shared storage).

    Example: ``launch("configs/quickstart.yaml", ["target.num_samples=2"], storage="/tmp/sweeps")``; with
    ``storage="s3://bucket/sweeps"`` everything lives there and any machine can resume or read it.
    ``resume_existing`` continues the sweep if it exists already (a job retried by its scheduler).
    ``trust_storage`` resumes such a sweep even where others can write its files (``resume``).
    ``smoke`` runs the study's smoke version (``sweep.run.smoke``), named ``<name>-smoke``, on ``data_dir``
    where it has the data, with ``tokenizer`` where the models' own are not on this machine.
    """
    if name is not None:
        overrides = [*overrides, f"name={name}"]
    # A smoke run needs none of the real run's files: only the config is checked before it is built.
    config = load_config(config_path, overrides, check_data=not smoke)
    if not smoke and address is None and (problems := local_problems(config)):
        raise ConfigError(problems, source=str(config_path))
    where = str(storage or (None if smoke else config.storage) or Path.cwd() / "sweeps")
    if smoke and is_uri(where):
        raise ConfigError(["a smoke run keeps its tiny models and data on this machine; give a local --storage"])
    named = f"{config.name}-smoke" if smoke else config.name
    location = join(where, named) if is_uri(where) else str(Path(where).resolve() / named)
    try:
        taken = exists(join(location, "manifest.json"))
    except OSError as exc:
        raise SweepStateError(
            f"cannot reach the storage {where}: {exc}; check the URI, AWS_ENDPOINT_URL and the storage's "
            "credentials (AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, or AWS_PROFILE)"
        ) from exc
    if taken and resume_existing:
        print(f"{location} holds this sweep already: resuming it", flush=True)
        return resume(location, address=address, wait_for_lease=True, trust_storage=trust_storage)
    if taken:
        raise SweepStateError(
            f"{location} already holds a sweep; continue it with `sweep resume {location}` or pick another --name"
        )
    if smoke:
        config = _build_smoke(config, Path(location), data_dir=data_dir, tokenizer=tokenizer, source=config_path)
    _connect(config, address)  # a cluster that cannot be joined fails the launch before anything is written
    sweep_dir = layout.open_sweep(location, launch=True)
    sweep_dir.root.mkdir(parents=True, exist_ok=True)
    write_atomic(sweep_dir.config, yaml.safe_dump(config.to_dict(), sort_keys=False))
    sweep_dir.publish(sweep_dir.config)
    write_json(
        sweep_dir.manifest,
        {
            "version": layout.MANIFEST_VERSION,
            "name": config.name,
            "created_at": time.time(),
            "command": " ".join(shlex.quote(a) for a in sys.argv),
            "source_config": source.describe(config_path),
            "code": layout.code_version(),
            "searches": {s.id: {"phase": s.phase, "pair": s.pair, "state": "pending"} for s in plan(config)},
            # What each mixture trains (sources, heads, weights, caps, sampling, selection), as resolved now.
            "mixtures": {name: composition(spec) for name, spec in mixtures_of(config).items()},
            # The attention kernel each model's trials run with (model.attn_implementation, `auto` resolved).
            "attention": {name: attention_of(config.for_model(name)) for name in config.model_names()},
        },
    )
    sweep_dir.publish(sweep_dir.manifest)
    _run(sweep_dir, config, address=address)
    return sweep_dir.remote or sweep_dir.root


def _build_smoke(
    config: SweepConfig, location: Path, *, data_dir: str | None, tokenizer: str | None, source: str | Path
) -> SweepConfig:
    """Build the smoke version of ``config`` in ``location/smoke`` and check it as any config is."""
    from sweep.preflight.validate import validate
    from sweep.run.smoke import smoke_config

    work = location / "smoke"
    smoke, report = smoke_config(config, work=work, data_dir=data_dir, tokenizer=tokenizer)
    if problems := validate(smoke) + local_problems(smoke):
        raise ConfigError(problems, source=f"{source} (its smoke version, in {work})")
    write_json(work / "smoke.json", report)
    print(
        f"smoke run: tiny {', '.join(smoke.model_names())}; {len(report['real'])} splits of real data from "
        f"{report['data_dir']}, {len(report['synthetic'])} synthetic (listed in {work / 'smoke.json'})",
        flush=True,
    )
    return smoke


def resume(
    sweep_dir: str | Path,
    *,
    address: str | None = None,
    wait_for_lease: bool = False,
    trust_storage: bool = False,
) -> Path | str:
    """Continue a sweep from where its driver stopped: finished trials are kept, running ones
    continue from their last checkpoint, and searches not yet started run as planned. A sweep on
    shared storage (a URI) resumes from any machine; with ``wait_for_lease`` (a launch with
    ``--resume-existing``, which a job scheduler retries) it first waits for a dead driver's lease there to
    lapse rather than refuse. A local sweep whose files other users can write is refused unless
    ``trust_storage`` (``layout.refuse_untrusted``): resuming loads pickled state from it."""
    wait_s = LEASE_S + LEASE_RENEW_S if wait_for_lease else 0.0
    folder = layout.open_sweep(sweep_dir, driver=True, wait_s=wait_s)
    if not trust_storage:
        layout.refuse_untrusted(folder)
    layout.read_manifest(folder, to_run=True)
    config = load_config(folder.config)
    if address is None and (problems := local_problems(config)):
        raise ConfigError(problems, source=str(folder.config))
    _run(folder, config, address=address, wait_s=wait_s)
    return folder.remote or folder.root


def _finish_merges(sweep_dir: layout.SweepDir) -> None:
    """Finish the compactions a killed driver left pending, so that readers of ``results/`` other than
    xstilts' own see every row again (``sweep.storage.compaction``)."""
    from sweep.storage.compaction import compact_search, pending_merges

    for folder in pending_merges(sweep_dir.results):
        try:
            merged = compact_search(folder, publish=sweep_dir.publish, remove=sweep_dir.unpublish)
        except (OSError, XStiltsError) as exc:
            print(f"{folder.name}: results not compacted ({exc}); xstilts reads them as they are", flush=True)
        else:
            print(f"finished merging {folder.name}'s results into {merged.name if merged else 'its merged file'}")


def _run(sweep_dir: layout.SweepDir, config: SweepConfig, *, address: str | None, wait_s: float = 0.0) -> None:
    from cluster import ray_session
    from sweep.run.runner import StudyRun, failure_message, recorder, unpublished
    from sweep.storage.publisher import install_checked_copies

    install_checked_copies()  # Tune's uploads of its experiment state: every file on storage, or an error
    with layout.driver_lock(sweep_dir, wait_s=wait_s), layout.publishing(sweep_dir):
        try:
            manifest = layout.read_manifest(sweep_dir)
            _finish_merges(sweep_dir)
            for search in plan(config):
                rebuilt = recorder(sweep_dir, config, search).rebuild_missing()
                for path in rebuilt:
                    print(f"rebuilt {path} from the trial journal", flush=True)
                if rebuilt and manifest["searches"].get(search.id, {}).get("state") == "done":
                    from sweep.storage.compaction import compact_search

                    try:  # merged again; if that fails, the rebuilt files are read as they are
                        compact_search(path.parent, publish=sweep_dir.publish, remove=sweep_dir.unpublish)
                    except (OSError, XStiltsError) as exc:
                        print(f"{search.pair}: results not compacted ({exc})", flush=True)
            manifest = layout.read_manifest(sweep_dir)
            failed = []
            if any(entry["state"] != "done" for entry in manifest["searches"].values()) or unpublished(
                manifest, config
            ):
                _connect(config, address)
                from sweep.run.trainable import xstilts_trial

                started = time.monotonic()
                failed = StudyRun(sweep_dir, config).run(trainable=xstilts_trial)
                if config.notify.webhook:
                    _notify_end(sweep_dir, config, elapsed_s=time.monotonic() - started)
            print(f"sweep finished: {sweep_dir.root}", flush=True)
            if failed:
                raise failure_message(sweep_dir, failed)
        except Exception as exc:
            # A full disk under the sweep, met anywhere (Tune's own state included): say where, and the fix.
            if not isinstance(exc, XStiltsError) and (full := no_space(exc, sweep_dir.root)) is not None:
                raise full from exc
            raise
        finally:
            ray_session.stop()


def _notify_end(sweep_dir: layout.SweepDir, config: SweepConfig, *, elapsed_s: float) -> None:
    """Tell ``notify.webhook`` the study ended: its searches done and failed (a failure is only a note)."""
    from sweep.track import notify

    searches = layout.read_manifest(sweep_dir)["searches"]
    message = notify.study_ended(
        sweep=config.name,
        location=sweep_dir.remote or str(sweep_dir.root),
        done=[entry.get("pair", key) for key, entry in searches.items() if entry["state"] == "done"],
        failed={
            entry.get("pair", key): entry.get("error", "")
            for key, entry in searches.items()
            if entry["state"] == "failed"
        },
        elapsed_s=elapsed_s,
    )
    if (trouble := notify.post(config.notify.webhook, message)) is not None:
        print(f"notify: {trouble}", flush=True)


def _connect(config: SweepConfig, address: str | None) -> None:
    """Start or join Ray (once per process) and check that one trial fits on the cluster."""
    from cluster import ray_session

    resources = ray_session.start(address=address)
    problems: list[str] = []
    for name in config.model_names():
        res = config.for_model(name).resources
        which = f"model {name}: " if config.models else ""
        workers = res.workers_per_trial
        needs = {"CPU": res.cpus_per_trial * workers, "GPU": res.gpus_per_trial * workers}
        per = f" x {workers} workers" if workers > 1 else ""
        problems += [
            f"{which}resources.{key.lower()}s_per_trial{per} is {need:g} but the cluster has "
            f"{resources.get(key, 0):g} {key}s"
            for key, need in needs.items()
            if need > resources.get(key, 0)
        ]
        if workers > 1 and not resources.get(ray_session.DRIVER_RESOURCE):
            problems.append(
                f"{which}resources.workers_per_trial is {workers}, but the cluster advertises no "
                f"{ray_session.DRIVER_RESOURCE} resource for the trials' Train drivers; start its head with "
                f"`ray start --head --resources='{{\"{ray_session.DRIVER_RESOURCE}\": 1000}}'` (docs/cluster.md)"
            )
    if problems:
        ray_session.stop()
        raise ConfigError(problems)
