"""Start an embedded Ray instance bound to this machine, or join an existing (token-secured) cluster.

Ray 2.60 turns token authentication on for clusters it starts: joining one needs
``RAY_AUTH_MODE=token`` and the cluster's token (``~/.ray/auth_token`` on its head node, or
``RAY_AUTH_TOKEN``), otherwise Ray fails with ``AuthenticationError: InvalidAuthToken``.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import Any

from trainers.errors import XStiltsError

TOKEN_FILE = Path.home() / ".ray" / "auth_token"


class ClusterError(XStiltsError):
    """The cluster cannot be started or joined."""


def start(*, address: str | None = None, num_cpus: float | None = None,
          num_gpus: float | None = None) -> dict[str, Any]:
    """Connect this process to Ray and return the cluster's total resources.

    Without ``address`` an embedded single-node instance starts on 127.0.0.1 only (its GCS and
    workers never listen on other interfaces). With ``address`` (``HOST:PORT`` or ``auto``) the
    process joins that cluster, using token authentication when a token is available.
    """
    if address is None:
        # Must be set before ray is imported: Ray then picks the loopback address for this node.
        os.environ["RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER"] = "0"
    os.environ.setdefault("RAY_AIR_NEW_OUTPUT", "0")
    import ray

    if ray.is_initialized():
        return dict(ray.cluster_resources())
    kwargs: dict[str, Any] = {"log_to_driver": False, "logging_level": "WARNING", "configure_logging": True}
    if address is None:
        kwargs.update(num_cpus=num_cpus, num_gpus=num_gpus, include_dashboard=True, dashboard_host="127.0.0.1")
    else:
        _configure_token()
        kwargs["address"] = address
    try:
        ray.init(**kwargs)
    except Exception as exc:  # Ray raises ConnectionError, AuthenticationError, RuntimeError, ...
        hint = ""
        if address is not None:
            hint = (f"; check that a Ray head runs at {address} (`ray status --address {address}`) and that its "
                    f"token is in {TOKEN_FILE} or RAY_AUTH_TOKEN")
        raise ClusterError(f"could not {'join Ray at ' + address if address else 'start a local Ray instance'}: "
                           f"{type(exc).__name__}: {exc}{hint}") from exc
    # Tune logs every trial failure with its traceback; xstilts records and prints them itself.
    logging.getLogger("ray.tune").setLevel(logging.CRITICAL)
    return dict(ray.cluster_resources())


def stop() -> None:
    """Disconnect from Ray; an embedded instance shuts down with it."""
    import ray

    if ray.is_initialized():
        ray.shutdown()


def _configure_token() -> None:
    if os.environ.get("RAY_AUTH_TOKEN") or TOKEN_FILE.is_file():
        os.environ.setdefault("RAY_AUTH_MODE", "token")
