from __future__ import annotations

import urllib.request
from collections.abc import Iterator

import pytest

from devtools.cloud.local_aws import start_moto


@pytest.fixture(scope="session")
def moto_server() -> Iterator[str]:
    server, endpoint = start_moto()
    yield endpoint
    server.stop()


@pytest.fixture
def moto_endpoint(moto_server: str) -> str:
    """moto in server mode on loopback, from a clean state."""
    urllib.request.urlopen(urllib.request.Request(f"{moto_server}/moto-api/reset", method="POST")).close()
    return moto_server
