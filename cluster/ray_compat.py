"""The one place xstilts reaches into Ray's private internals, pinned to the Ray version that needs it.

Everything else uses Ray's public API. Each use below says why and what would replace it; a test
(tests/unit/cluster/test_ray_compat.py) fails when an upgrade of Ray removes what it relies on.
"""

from __future__ import annotations

import os
import sys

#: The Ray releases these internals were checked against (pyproject pins ray below 3).
PINNED_RAY = "2.60"


def keep_nodes_on_loopback() -> None:
    """Make Ray use 127.0.0.1 as this node's address instead of the machine's external one.

    Ray reads ``RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER`` into ``ray._private.ray_constants.ENABLE_RAY_CLUSTER``
    when it is first imported; setting the variable is enough before that. When Ray was imported
    already (a notebook, a test), the constant it read is set instead: Ray has no public switch for it.
    """
    os.environ["RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER"] = "0"
    if "ray" in sys.modules:
        from ray._private import ray_constants

        ray_constants.ENABLE_RAY_CLUSTER = False
