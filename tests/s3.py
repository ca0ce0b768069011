"""A real S3-compatible endpoint on 127.0.0.1 for tests: moto's server, with one empty bucket."""

from __future__ import annotations

import contextlib
import socket
import urllib.request
from collections.abc import Iterator

import pytest


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextlib.contextmanager
def s3_endpoint(bucket: str) -> Iterator[dict[str, str]]:
    """Start moto's S3 server on 127.0.0.1 with ``bucket`` made; yield the environment that points clients
    (pyarrow, boto3, a subprocess) at it; stop the server after."""
    moto = pytest.importorskip("moto.server", reason="moto[server] is installed by the project's setup")
    import pyarrow.fs as pafs

    port = free_port()
    server = moto.ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    try:
        endpoint = f"http://127.0.0.1:{port}"
        # moto keeps its buckets in this process, across servers: each endpoint starts from none.
        urllib.request.urlopen(urllib.request.Request(f"{endpoint}/moto-api/reset", method="POST"), timeout=30)
        pafs.S3FileSystem(
            endpoint_override=endpoint, access_key="testing", secret_key="testing", allow_bucket_creation=True
        ).create_dir(bucket)
        yield {
            "AWS_ENDPOINT_URL": endpoint,
            "AWS_ACCESS_KEY_ID": "testing",
            "AWS_SECRET_ACCESS_KEY": "testing",
            "AWS_DEFAULT_REGION": "us-east-1",
            "AWS_EC2_METADATA_DISABLED": "true",
        }
    finally:
        server.stop()
