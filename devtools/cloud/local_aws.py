"""The local cloud's AWS: moto on loopback (in a thread or a process of its own), or answering
boto3 inside this process."""

from __future__ import annotations

import logging
import os
import urllib.request
from typing import Any, Literal

from moto.server import ThreadedMotoServer

from devtools.cloud import moto_speedups
from devtools.cloud.moto_process import MotoProcess

# Where the local cloud's AWS (moto) runs:
# - "thread": a server on loopback, in a thread of this process (tests, `make localcloud`: other
#   processes such as devtools.invoke, devtools.ops and the cold-start benchmark can call it);
# - "process": the same server in a process of its own;
# - "in-process": no server at all: moto answers boto3 inside this process (`mock_aws`), which saves
#   the HTTP round trip of every AWS call, two thirds of its cost (`make load`, the demo, the
#   scaling benchmark); only this process can reach it.
type MotoMode = Literal["thread", "process", "in-process"]


def start_moto(port: int = 0, own_process: bool = False) -> tuple[ThreadedMotoServer | MotoProcess, str]:
    """moto in server mode on loopback, in a thread or in a process of its own. Its state is per
    process, so start from a clean slate."""
    logging.getLogger("werkzeug").setLevel(logging.ERROR)
    server: ThreadedMotoServer | MotoProcess
    if own_process:
        server = MotoProcess(port)
    else:
        moto_speedups.install()
        server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
        server.start()
    host, bound = server.get_host_and_port()
    endpoint = f"http://{host}:{bound}"
    urllib.request.urlopen(urllib.request.Request(f"{endpoint}/moto-api/reset", method="POST")).close()  # noqa: S310
    return server, endpoint


class LocalAws:
    """One local AWS, started clean and stopped with the cloud that started it."""

    def __init__(self, mode: MotoMode, port: int = 0) -> None:
        self.mode = mode
        self.port = port
        self.server: ThreadedMotoServer | MotoProcess | None = None
        self.endpoint: str | None = None  # None: in-process, boto3's own AWS addresses, answered by moto
        self._in_process: Any = None

    def start(self) -> LocalAws:
        if self.mode == "in-process":
            from moto import mock_aws

            moto_speedups.install()
            self._in_process = mock_aws()
            self._in_process.start()  # a clean slate, as a reset server
        else:
            self.server, self.endpoint = start_moto(self.port, own_process=self.mode == "process")
        return self

    def stop(self) -> None:
        """After the cloud restored the environment: the in-process mock restores what it changed itself."""
        if self.server is not None:
            self.server.stop()
        if self._in_process is not None:
            self._in_process.stop()

    def endpoint_environment(self) -> dict[str, str | None]:
        """AWS_ENDPOINT_URL for the functions' clients; none at all when moto answers in-process.
        A developer's service-specific endpoints (AWS_ENDPOINT_URL_<SERVICE>, which win over it) are
        removed; in-process, endpoints configured in a profile are ignored too."""
        specific = {name: None for name in os.environ if name.startswith("AWS_ENDPOINT_URL_")}
        ignore = {"AWS_IGNORE_CONFIGURED_ENDPOINT_URLS": "true" if self.endpoint is None else None}
        return {**specific, **ignore, "AWS_ENDPOINT_URL": self.endpoint}
