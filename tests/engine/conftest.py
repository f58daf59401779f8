"""The engine's forwarder as it runs in the image: a real subprocess, between real HTTP servers on
loopback (OS-chosen ports): a fake Function URL that records what reaches it, and a fake toolkit
heartbeat endpoint."""

from __future__ import annotations

import importlib.util
import json
import os
import re
import socket
import ssl
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[2]
FORWARDER = ROOT / "engine" / "forwarder.py"
TOKEN = "tok-0123456789abcdef-secret"
BOUNDARY = "3f1c9a0e5b7d2c4e6a8b0d1f3e5a7c9b"
FORM_TYPE = f"multipart/form-data; boundary={BOUNDARY}"
TOOLKIT = {"Content-Type": FORM_TYPE, "User-Agent": "veritone-engine-toolkit"}


def form(heartbeat: str | None = None, chunk: bytes = b"RIFF....WAVEfmt ") -> bytes:
    """The toolkit's /process form, as Go's multipart writer lays it out."""
    fields = {
        "chunkMimeType": "audio/wav",
        "chunkUUID": "7f0c1d0e-0000-4000-8000-000000000001",
        "chunkIndex": "0",
        "startOffsetMS": "0",
        "endOffsetMS": "30000",
        "cacheURI": "https://cache.example/chunk-0.wav",
        "veritoneApiBaseUrl": "https://api.veritone.com",
        "token": "task-token",
        "payload": json.dumps({"taskId": "t-1", "jobId": "j-1", "recordingId": "400001249"}),
    }
    if heartbeat is not None:
        fields["heartbeatWebhook"] = heartbeat
    parts = [
        f'--{BOUNDARY}\r\nContent-Disposition: form-data; name="{name}"\r\n\r\n{value}\r\n'.encode()
        for name, value in fields.items()
    ]
    parts.append(
        f'--{BOUNDARY}\r\nContent-Disposition: form-data; name="chunk"; filename="chunk.data"\r\n'
        "Content-Type: application/octet-stream\r\n\r\n".encode()
        + chunk
        + f"\r\n--{BOUNDARY}--\r\n".encode()
    )
    return b"".join(parts)


@dataclass(frozen=True)
class Seen:
    method: str
    path: str
    headers: dict[str, str]  # names in lower case
    body: bytes


@dataclass
class Answer:
    status: int = 200
    headers: dict[str, str] = field(default_factory=lambda: {"Content-Type": "application/json"})
    body: bytes = b"{}"
    delay_s: float = 0.0


class Recorder:
    """An HTTP/1.1 server that records every request and answers `answers[path]` (else `default`)."""

    def __init__(self, host: str = "127.0.0.1", tls: tuple[Path, Path] | None = None) -> None:
        self.seen: list[Seen] = []
        self.answers: dict[str, Answer] = {}
        self.default = Answer()
        recorder = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: Any) -> None:
                pass

            def _answer(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                headers = {name.lower(): value for name, value in self.headers.items()}
                recorder.seen.append(Seen(self.command, self.path, headers, body))
                answer = recorder.answers.get(self.path, recorder.default)
                time.sleep(answer.delay_s)
                self.send_response(answer.status)
                for name, value in answer.headers.items():
                    self.send_header(name, value)
                if answer.status not in (204, 304):
                    self.send_header("Content-Length", str(len(answer.body)))
                self.end_headers()
                if answer.status not in (204, 304):
                    self.wfile.write(answer.body)

            do_GET = do_POST = _answer

        self.server = ThreadingHTTPServer((host, 0), Handler)
        if tls is not None:
            context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            context.load_cert_chain(*tls)
            self.server.socket = context.wrap_socket(self.server.socket, server_side=True)
        self.port = self.server.server_address[1]
        self.url = f"{'https' if tls else 'http'}://{host}:{self.port}"
        threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@dataclass
class Running:
    process: subprocess.Popen[bytes]
    port: int
    log_file: Path

    def logs(self) -> str:
        return self.log_file.read_text()


type Start = Callable[..., Running]


def load_forwarder() -> ModuleType:
    """engine/forwarder.py as a module (it is a script, not a package), for its pure parts."""
    if (loaded := sys.modules.get("pollbridge_engine_forwarder")) is not None:
        return loaded
    spec = importlib.util.spec_from_file_location("pollbridge_engine_forwarder", FORWARDER)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up while the class is made
    spec.loader.exec_module(module)
    return module


def free_port() -> int:
    """A port nothing listens on (bound, then released)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def forwarder_env(**settings: str | None) -> dict[str, str]:
    """A clean environment (no proxies or CA settings of the machine's), with `settings` (None removes)."""
    env = {"PATH": os.environ.get("PATH", ""), "PORT": "0", "POLLBRIDGE_TOKEN": TOKEN, "PYTHONUNBUFFERED": "1"}
    for name, value in settings.items():
        if value is None:
            env.pop(name, None)
        else:
            env[name] = value
    return env


@pytest.fixture
def upstream() -> Iterator[Recorder]:
    server = Recorder()
    yield server
    server.close()


@pytest.fixture
def start(tmp_path: Path) -> Iterator[Start]:
    """Starts the forwarder (PORT=0) and waits for the port it logs; stops every one at the end."""
    started: list[Running] = []

    def run(**settings: str | None) -> Running:
        log_file = tmp_path / f"forwarder-{len(started)}.log"
        with log_file.open("wb") as log:
            process = subprocess.Popen(
                [sys.executable, str(FORWARDER)], env=forwarder_env(**settings), stdout=log, stderr=log
            )
        running = Running(process, 0, log_file)
        started.append(running)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            found = re.search(r"listening on http://127\.0\.0\.1:(\d+)", log_file.read_text())
            if found:
                running.port = int(found.group(1))
                return running
            if process.poll() is not None:
                raise AssertionError(f"the forwarder exited ({process.returncode}): {log_file.read_text()}")
            time.sleep(0.01)
        raise AssertionError(f"the forwarder did not start: {log_file.read_text()}")

    yield run
    for running in started:  # killed: the graceful stop has its own test, and this is faster
        if running.process.poll() is None:
            running.process.kill()
        running.process.wait()
