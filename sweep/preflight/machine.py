"""The checks of a config against this machine, for a sweep that runs on it alone (no ``--address``):
its CPUs and GPUs against what one trial asks for.
"""

from __future__ import annotations

import os

from cluster.hardware import local_gpus
from sweep.config.records import ResourcesConfig


def check_local_resources(res: ResourcesConfig) -> list[str]:
    """Problems with running on this machine alone (the embedded Ray instance)."""
    problems = []
    cpus = os.cpu_count() or 1
    if res.cpus_per_trial > cpus:
        problems.append(
            f"resources.cpus_per_trial is {res.cpus_per_trial:g} but this machine has {cpus} CPUs; "
            f"lower it or pass --address of a cluster with bigger nodes"
        )
    elif res.cpus_per_trial * res.workers_per_trial > cpus:
        problems.append(
            f"resources.workers_per_trial={res.workers_per_trial} workers of {res.cpus_per_trial:g} CPUs need "
            f"{res.cpus_per_trial * res.workers_per_trial:g} CPUs but this machine has {cpus}; lower either, "
            "or pass --address of a cluster"
        )
    if res.gpus_per_trial > 0 and not local_gpus():
        problems.append(
            f"resources.gpus_per_trial is {res.gpus_per_trial:g} but this machine has no GPU; "
            "set resources.gpus_per_trial=0 or pass --address of a cluster with GPUs"
        )
    return problems
