from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import boto3
import pytest

from devtools.cloud.local_aws import start_moto
from devtools.cloud.local_values import LOCAL_ENVIRONMENT
from devtools.standins.vendor_simulator import SimConfig, VendorSimulator


@pytest.fixture(scope="session")
def moto_endpoint() -> Iterator[str]:
    server, endpoint = start_moto()
    yield endpoint
    server.stop()


@pytest.fixture
def aws(moto_endpoint: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[dict[str, Any]]:
    """boto3 clients on a fresh moto state, reached through AWS_ENDPOINT_URL as the handlers do."""
    for name, value in LOCAL_ENVIRONMENT.items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("AWS_ENDPOINT_URL", moto_endpoint)
    import urllib.request

    urllib.request.urlopen(urllib.request.Request(f"{moto_endpoint}/moto-api/reset", method="POST")).close()
    yield {name: boto3.client(name) for name in ("s3", "scheduler", "sqs")}


@pytest.fixture
def simulator() -> Iterator[VendorSimulator]:
    with VendorSimulator(SimConfig(api_key="sekret", duration_s=(120, 120), queue_s=(0, 0))) as sim:
        yield sim
