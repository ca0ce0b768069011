"""The private Ray internals cluster.ray_compat relies on still exist in the installed Ray."""

from __future__ import annotations

import importlib


def test_the_installed_ray_has_what_ray_compat_uses() -> None:
    import ray

    from cluster.ray_compat import PINNED_RAY

    constants = importlib.import_module("ray._private.ray_constants")
    assert hasattr(constants, "ENABLE_RAY_CLUSTER"), (
        f"Ray {ray.__version__} no longer has ray_constants.ENABLE_RAY_CLUSTER; cluster/ray_compat.py was "
        f"written for Ray {PINNED_RAY} and needs updating"
    )
