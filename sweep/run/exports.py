"""A stage one's best encoder, exported on the cluster rather than in the driver.

The export reads the best trial's checkpoint (under ZeRO: its workers' fp32 partitions, consolidated
tensor by tensor) and writes the encoder's safetensors shards. Done by the driver, that meant fetching a
7B model's whole ZeRO checkpoint (about 16 bytes a parameter) onto the head node and holding a shard of
it in the driver's memory. Here a Ray task does it, on the node that trained the best trial where that
node is still there (any node otherwise), in a scratch folder of its own that it removes afterwards; it
writes the shards straight to the sweep's storage and the driver records where they are.

The driver does not wait for it: ``start_export`` returns at once, and the driver goes on starting the
trials of every other search while the export runs (with a 7B-30B encoder that is minutes of reading and
writing shards, during which a waiting driver left the whole cluster idle); only the searches that need
the encoder wait for it. ``XSTILTS_EXPORT_WAIT=1`` makes the driver wait, as it used to (the "before" of
``bench/export_overlap.py``).

The task asks for no CPU: a study's trials may hold every CPU when it starts, and the export is mostly
reading and writing files.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path
from typing import Any

from sweep.storage import layout
from trainers.fileio import is_uri
from trainers.spec import TrialSpec

__all__ = ["Export", "export_best_encoder", "export_here", "node_of", "start_export"]


def export_here(
    location: str, *, search: str, trial_id: str, step: int, key: str, spec: dict[str, Any], scratch: str | None = None
) -> str:
    """Export the encoder of ``search``'s trial ``trial_id`` at ``step`` from the sweep at ``location`` (a
    folder, or a URI on shared storage) and return where trials read it. A sweep on shared storage is
    worked on in a scratch copy under ``scratch`` (the system's temporary folder by default), removed
    when done, so a worker's disk keeps nothing of it."""
    args = {"search": search, "trial_id": trial_id, "step": step, "key": key, "spec": spec}
    if not is_uri(location):
        return _export(layout.SweepDir(Path(location)), **args)
    work = Path(tempfile.mkdtemp(prefix="xstilts-export-", dir=scratch))
    try:
        return _export(layout.SweepDir(work, remote=str(location).rstrip("/")), **args)
    finally:
        shutil.rmtree(work, ignore_errors=True)


def _export(sweep_dir: layout.SweepDir, *, search: str, trial_id: str, step: int, key: str, spec: dict) -> str:
    from trainers.encoder_export import export_encoder

    checkpoint = sweep_dir.checkpoint(search=search, trial_id=trial_id, step=step)  # fetched from storage
    export_encoder(checkpoint, sweep_dir.encoder(key), spec=TrialSpec.from_dict(spec))
    sweep_dir.publish_encoder(key)  # shard by shard to shared storage, its index last
    return sweep_dir.encoder_location(key)


def node_of(hostname: str) -> str | None:
    """The id of the live Ray node whose host is ``hostname`` (where a trial reported from), or None."""
    import ray

    for node in ray.nodes():
        if node.get("Alive") and node.get("NodeManagerHostname") == hostname:
            return node["NodeID"]
    return None


class Export:
    """An encoder export: under way on the cluster (a Ray task's result), or done (``location`` known)."""

    def __init__(self, *, ref: Any = None, location: str | None = None) -> None:
        self._ref, self._location = ref, location

    def ready(self) -> bool:
        """Whether the export has ended (well or not), without waiting."""
        if self._ref is None:
            return True
        import ray

        done, _ = ray.wait([self._ref], timeout=0)
        return bool(done)

    def location(self) -> str:
        """Where trials read the encoder, once the export has ended (waiting for it otherwise); raises the
        export's error if it failed."""
        if self._location is None:
            import ray

            self._location = ray.get(self._ref)
        return self._location


def start_export(
    sweep_dir: layout.SweepDir, *, search: str, trial_id: str, step: int, key: str, spec: TrialSpec, node: str = ""
) -> Export:
    """Start the export on the cluster (a Ray task, preferably on ``node``, the host the trial ran on) and
    return at once; in this process, done on return, when no Ray runs here (a library call outside a sweep)
    or when ``XSTILTS_EXPORT_WAIT=1`` asks the driver to wait."""
    import ray

    location = sweep_dir.remote or str(sweep_dir.root)
    args = {"search": search, "trial_id": trial_id, "step": step, "key": key, "spec": spec.to_dict()}
    if not ray.is_initialized():
        return Export(location=export_here(location, **args))
    from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy

    node_id = node_of(node) if node else None
    strategy = NodeAffinitySchedulingStrategy(node_id, soft=True) if node_id else "DEFAULT"
    task = ray.remote(num_cpus=0, max_retries=1)(export_here).options(scheduling_strategy=strategy)
    export = Export(ref=task.remote(location, **args))
    if os.environ.get("XSTILTS_EXPORT_WAIT") == "1":
        export.location()
    return export


def export_best_encoder(
    sweep_dir: layout.SweepDir, *, search: str, trial_id: str, step: int, key: str, spec: TrialSpec, node: str = ""
) -> str:
    """Export (``start_export``) and wait for it; return where the encoder is."""
    args = {"search": search, "trial_id": trial_id, "step": step, "key": key, "spec": spec, "node": node}
    return start_export(sweep_dir, **args).location()
