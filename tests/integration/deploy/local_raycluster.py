"""A RayCluster on 127.0.0.1, as KubeRay would make it from a manifest: one head and its worker nodes, each
started with the ``rayStartParams`` the test read from the manifest (as Ray's own parameters).

Run by the deployment rehearsal with the installed wheel's Python, in a process of its own, so that the whole
cluster is that process and its descendants (ended by pid, as deleting a RayCluster ends its pods):

    python local_raycluster.py SPEC.json READY.json

SPEC holds ``{"head": {...}, "workers": [{...}, ...]}``; READY gets the head's GCS and dashboard addresses once
every node has joined. The process then waits until it is killed.
"""

from __future__ import annotations

import json
import os
import sys
import time
from pathlib import Path

# The head and its nodes on 127.0.0.1 only (ray.cluster_utils on one machine; see the project's STACK notes).
os.environ["RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER"] = "0"

from ray.cluster_utils import Cluster  # noqa: E402


def main() -> None:
    spec = json.loads(Path(sys.argv[1]).read_text())
    cluster = Cluster(initialize_head=True, head_node_args=spec["head"], shutdown_at_exit=False)
    for worker in spec["workers"]:
        cluster.add_node(**worker)
    cluster.wait_for_nodes()
    ready = {"gcs": cluster.address, "dashboard": f"http://127.0.0.1:{spec['head']['dashboard_port']}"}
    Path(sys.argv[2]).write_text(json.dumps(ready))
    while True:
        time.sleep(3600)


if __name__ == "__main__":
    main()
