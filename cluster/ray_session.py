"""Start an embedded Ray instance bound to this machine, or join an existing (token-secured) cluster.

Ray 2.60 turns token authentication on for clusters it starts: joining one needs
``RAY_AUTH_MODE=token`` and the cluster's token (``~/.ray/auth_token`` on its head node, or
``RAY_AUTH_TOKEN``), otherwise Ray fails with ``AuthenticationError: InvalidAuthToken``.

The driver's Hugging Face cache and offline settings (``hf_env``) go to every trial of a cluster it joins
through the job's ``runtime_env``: a worker of a node started elsewhere (``ray start``, a KubeRay pod) has
that node's environment, not the driver's.
"""

from __future__ import annotations

import json
import logging
import os
import socket
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from cluster.ray_compat import keep_nodes_on_loopback
from trainers.errors import XStiltsError

TOKEN_FILE = Path.home() / ".ray" / "auth_token"
#: The custom resource a multi-worker trial's Tune function holds instead of a CPU (one per trial): the
#: head of a cluster advertises it (``--resources='{"TRAIN_DRIVER": 1000}'``), a local instance gets it here.
DRIVER_RESOURCE = "TRAIN_DRIVER"
DRIVER_SLOTS = 1000  # multi-worker trials a node can drive at once: their workers are the real limit

#: The Hugging Face settings a trial takes from the driver (``hf_env``): where models, tokenizers and datasets
#: are cached, whether to reach a hub at all, and which one. Never a token (HF_TOKEN, HF_TOKEN_PATH,
#: HUGGING_FACE_HUB_TOKEN): anyone who reaches the cluster reads a job's runtime_env (`ray list jobs --detail`);
#: secrets belong in the nodes' own environment or a secret store.
HF_SETTINGS = (
    "HF_HOME",  # the root of the caches below, where they are not set themselves
    "HF_HUB_CACHE",  # models and tokenizers (hub/models--ORG--NAME/...); a hub id in model.path resolves here
    "HF_ASSETS_CACHE",
    "HF_XET_CACHE",
    "HF_DATASETS_CACHE",
    "HUGGINGFACE_HUB_CACHE",  # legacy names of HF_HUB_CACHE, still read where the new one is unset
    "TRANSFORMERS_CACHE",
    "HF_HUB_OFFLINE",  # never reach the hub: a trial that would download fails instead
    "HF_DATASETS_OFFLINE",
    "TRANSFORMERS_OFFLINE",
    "HF_ENDPOINT",  # a mirror of the hub
    "HF_HUB_DISABLE_TELEMETRY",
    "HF_HUB_ETAG_TIMEOUT",
    "HF_HUB_DOWNLOAD_TIMEOUT",
)
#: Those of HF_SETTINGS that name a folder: a relative one is made absolute (a worker's working directory is
#: Ray's session folder, not the driver's). ``~`` is kept: each node expands it to its own home, as the hub does.
_HF_PATHS = frozenset(name for name in HF_SETTINGS if name.endswith(("_HOME", "_CACHE")))


class ClusterError(XStiltsError):
    """The cluster cannot be started or joined."""


def start(
    *, address: str | None = None, num_cpus: float | None = None, num_gpus: float | None = None
) -> dict[str, Any]:
    """Connect this process to Ray and return the cluster's total resources.

    Without ``address`` an embedded single-node instance starts on 127.0.0.1 only (its GCS and
    workers never listen on other interfaces). With ``address`` (``HOST:PORT`` or ``auto``) the
    process joins that cluster, using token authentication when a token is available, and passes this
    process's Hugging Face settings (``hf_env``) to every task and actor of the job (Tune's trials, Ray
    Train's workers) through its runtime_env; the nodes of a local instance inherit them. A process already
    connected to Ray keeps its connection as it is.
    """
    if address is not None and address != "auto":
        _check_reachable(address)
    if address is None or _is_loopback(address):
        # Ray then uses the loopback address for this node instead of swapping 127.0.0.1 for the
        # machine's external address.
        keep_nodes_on_loopback()
    os.environ.setdefault("RAY_AIR_NEW_OUTPUT", "0")
    if address is not None:
        _configure_token()  # read by Ray at import time
    import ray

    if ray.is_initialized():
        return dict(ray.cluster_resources())
    kwargs: dict[str, Any] = {"log_to_driver": False, "logging_level": "WARNING", "configure_logging": True}
    if address is None:
        # "local" forces a fresh instance: without it ray.init() silently joins any cluster that
        # `ray start` left running on this machine.
        kwargs.update(
            address="local",
            num_cpus=num_cpus,
            num_gpus=num_gpus,
            include_dashboard=True,
            dashboard_host="127.0.0.1",
            # Multi-worker trials' Tune functions hold this instead of a CPU (sweep.run.workers).
            resources={DRIVER_RESOURCE: DRIVER_SLOTS},
        )
    else:
        kwargs["address"] = address
    if address is None:
        # An instance started here: its nodes' processes inherit this process's environment, so a runtime_env
        # would only cost each trial a worker process of its own (Ray prestarts workers without one); the
        # relative cache folders become absolute, as workers run in Ray's session folder.
        os.environ.update(hf_env())
    elif env_vars := _job_env_vars():
        # Job-level: tasks and actors inherit it, and one that sets env_vars of its own (Ray Train's workers
        # do) has them merged per variable with these.
        kwargs["runtime_env"] = {"env_vars": env_vars}
    try:
        ray.init(**kwargs)
    except Exception as exc:  # Ray raises ConnectionError, AuthenticationError, RuntimeError, ...
        hint = ""
        if address is not None:
            hint = (
                f"; check that a Ray head runs at {address} (`ray status --address {address}`) and that its "
                f"token is in {TOKEN_FILE} or RAY_AUTH_TOKEN"
            )
        raise ClusterError(
            f"could not {'join Ray at ' + address if address else 'start a local Ray instance'}: "
            f"{type(exc).__name__}: {exc}{hint}"
        ) from exc
    # Tune logs every trial failure with its traceback; xstilts records and prints them itself.
    logging.getLogger("ray.tune").setLevel(logging.CRITICAL)
    return dict(ray.cluster_resources())


def hf_env(environ: Mapping[str, str] | None = None) -> dict[str, str]:
    """The Hugging Face settings of ``environ`` (this process's environment by default) that are set and
    not empty, by name (``HF_SETTINGS``), with relative cache folders made absolute; tokens never.

    Example::

        >>> hf_env({"HF_HOME": "/data/hf", "HF_HUB_OFFLINE": "1", "HF_TOKEN": "hf_secret", "PATH": "/bin"})
        {'HF_HOME': '/data/hf', 'HF_HUB_OFFLINE': '1'}
    """
    environ = os.environ if environ is None else environ
    found = {}
    for name in HF_SETTINGS:
        value = environ.get(name)
        if not value:  # unset, or set empty (which the hub's libraries read as unset or as the working folder)
            continue
        if name in _HF_PATHS and not value.startswith("~"):
            value = os.path.abspath(value)
        found[name] = value
    return found


def _job_env_vars() -> dict[str, str]:
    """``hf_env()`` less the variables a submitted job's own runtime_env sets (``ray job submit``, a KubeRay
    RayJob): Ray refuses a ray.init runtime_env that sets any of them again, and the job's values are the
    driver's own there (the driver runs in the job's runtime_env)."""
    env = hf_env()
    submitted = os.environ.get("RAY_JOB_CONFIG_JSON_ENV_VAR")  # set by Ray's job manager for a submitted job
    if submitted:
        try:
            job_env = (json.loads(submitted).get("runtime_env") or {}).get("env_vars") or {}
        except (ValueError, AttributeError):
            job_env = {}
        env = {name: value for name, value in env.items() if name not in job_env}
    return env


def stop() -> None:
    """Disconnect from Ray; an embedded instance shuts down with it."""
    if "ray" not in sys.modules:  # never started: importing ray just to check would cost a second
        return
    import ray

    if ray.is_initialized():
        ray.shutdown()


def _split(address: str) -> tuple[str, int]:
    host, _, port = address.removeprefix("ray://").rpartition(":")
    try:
        return host or address, int(port)
    except ValueError:
        raise ClusterError(f"--address {address!r} is not HOST:PORT (e.g. 10.0.0.5:6379) or `auto`") from None


def _is_loopback(address: str) -> bool:
    if address == "auto":
        return False
    host = _split(address)[0]
    return host == "localhost" or host.startswith("127.")


def _check_reachable(address: str, timeout: float = 5.0) -> None:
    """Fail fast: Ray itself retries an unreachable head for minutes."""
    host, port = _split(address)
    try:
        socket.create_connection((host, port), timeout=timeout).close()
    except OSError as exc:
        raise ClusterError(
            f"no Ray head answers at {address} ({exc}); start one with `ray start --head` or fix --address"
        ) from exc


def _configure_token() -> None:
    # Ray looks for the token in RAY_AUTH_TOKEN, then the file RAY_AUTH_TOKEN_PATH names, then ~/.ray/auth_token.
    path = os.environ.get("RAY_AUTH_TOKEN_PATH")
    if os.environ.get("RAY_AUTH_TOKEN") or (Path(path).is_file() if path else TOKEN_FILE.is_file()):
        os.environ.setdefault("RAY_AUTH_MODE", "token")
