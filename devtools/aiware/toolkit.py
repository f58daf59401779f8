"""A stand-in for aiWARE's engine toolkit calling an engine's webhooks, as the public toolkit v0.2.0 does.

Why: in aiWARE the toolkit is the container's entrypoint and calls the engine (pollbridge's forwarder)
at VERITONE_WEBHOOK_READY / VERITONE_WEBHOOK_PROCESS. Its image is closed, so the demo and the tests use
this copy of its public behaviour (engine/webhooks.go and engine/engine.go at v0.2.0):

- `POST /process` is a multipart form written by Go's multipart writer, with exactly the fields
  `chunkMimeType`, `chunkUUID`, `chunkIndex`, `startOffsetMS`, `endOffsetMS`, `width`, `height`,
  `libraryId`, `libraryEngineModelId`, `cacheURI`, `veritoneApiBaseUrl`, `token`, `payload` (the task's
  payload JSON as the platform gave it), and the file part `chunk` (`chunk.data`) when there is a
  cacheURI (the toolkit downloads it first, for every attempt). Headers: `User-Agent:
  veritone-engine-toolkit` and the form's Content-Type, nothing else (no Authorization: the toolkit has
  no credential setting). Go's transport adds `Accept-Encoding: gzip`; this one sends no
  Accept-Encoding at all, so that a reply is never compressed.
- Retries: at most 3 calls, 100 ms then 200 ms apart, `Retry-After` ignored. 204, or 200 with an empty
  body, is "ignored"; 200 with a JSON object is the output; a 200 that is not a JSON object fails the
  attempt as Go's decoder does ("decode response: ..."). After the last failed call the chunk is failed
  with `failureReason: internal_error` and `failureMsg: "<status>: <body>"` (or the error's text).
- `v3=True` adds what V3 toolkits send: `heartbeatWebhook`, `resultWebhook`, `externalCallbackWebhook`
  (served here on localhost, as the toolkit serves them inside the container), `maxTTL`, `chunkContext`,
  `chunk-metadata-<key>`, `internalJobId`, `internalTaskId`, and `chunk` as a path (a text field naming
  the file) instead of the bytes.
- `ready(url)`: `GET /ready` (Go's `http.Get`: its default User-Agent) every second until a 200, for at
  most a minute.
"""

from __future__ import annotations

import http.client
import json
import secrets
import shutil
import tempfile
import threading
import time
import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, Literal
from urllib.parse import urlsplit

USER_AGENT = "veritone-engine-toolkit"
READY_USER_AGENT = "Go-http-client/1.1"  # the toolkit asks /ready with Go's http.Get, default headers
RETRY_DELAYS_S = (0.1, 0.2)  # the toolkit's doubling backoff from 100 ms: 3 calls in all
READY_EVERY_S = 1.0
READY_WITHIN_S = 60.0
PROCESS_TIMEOUT_S = 330.0
DOWNLOAD_TIMEOUT_S = 30.0
MAX_REPLY_BYTES = 16 * 1024 * 1024

# The form fields of v0.2.0, in the order its Go source writes them (then the file part `chunk`).
V02_FIELDS = (
    "chunkMimeType",
    "chunkUUID",
    "chunkIndex",
    "startOffsetMS",
    "endOffsetMS",
    "width",
    "height",
    "libraryId",
    "libraryEngineModelId",
    "cacheURI",
    "veritoneApiBaseUrl",
    "token",
    "payload",
)
# What a V3 toolkit adds (besides `chunk-metadata-<key>` and `chunk` as a path).
V3_FIELDS = (
    "heartbeatWebhook",
    "resultWebhook",
    "externalCallbackWebhook",
    "maxTTL",
    "chunkContext",
    "internalJobId",
    "internalTaskId",
)
# The keys aiWARE puts in a task's payload (v0.2's payload model), before the engine's own fields.
PAYLOAD_KEYS = (
    "applicationId",
    "jobId",
    "taskId",
    "recordingId",
    "token",
    "mode",
    "libraryId",
    "libraryEngineModelId",
    "veritoneApiBaseUrl",
    "startFromEntity",
)

type Status = Literal["complete", "ignored", "failed"]
type FormValue = str | tuple[str, bytes]  # a text field, or a file part (filename, bytes)


def task_payload(
    *,
    job_id: str,
    task_id: str,
    recording_id: str,
    token: str,
    custom: Mapping[str, Any] | None = None,
    application_id: str = "pollbridge-aiware-standin",
    mode: str = "chunk",
    library_id: str = "",
    library_engine_model_id: str = "",
    veritone_api_base_url: str = "https://api.veritone.com",
    start_from_entity: str = "",
) -> dict[str, Any]:
    """A task's payload as aiWARE gives it to the toolkit: its keys, then the engine's custom fields (for
    a poll task, the returned taskPayload's keys), which never replace aiWARE's own."""
    own = {
        "applicationId": application_id,
        "jobId": job_id,
        "taskId": task_id,
        "recordingId": recording_id,
        "token": token,
        "mode": mode,
        "libraryId": library_id,
        "libraryEngineModelId": library_engine_model_id,
        "veritoneApiBaseUrl": veritone_api_base_url,
        "startFromEntity": start_from_entity,
    }
    return {**dict(custom or {}), **own}


@dataclass(frozen=True)
class ChunkMessage:
    """One chunk of one task, as the toolkit takes it from its queue (a `media_chunk`)."""

    payload: Mapping[str, Any]  # the task's payload (task_payload); sent as the `payload` field
    chunk_uuid: str = field(default_factory=lambda: str(uuid.uuid4()))
    chunk_index: int = 0
    mime_type: str = ""
    start_offset_ms: int = 0
    end_offset_ms: int = 0
    width: int = 0
    height: int = 0
    cache_uri: str = ""  # where the toolkit downloads the chunk from ("" for a poll task: no media)
    data: bytes | None = None  # the chunk when already at hand: sent without a download
    metadata: Mapping[str, str] = field(default_factory=dict)  # V3: `chunk-metadata-<key>` fields

    @property
    def has_chunk(self) -> bool:
        return bool(self.cache_uri) or self.data is not None


@dataclass(frozen=True)
class ChunkResult:
    """What the toolkit reports to aiWARE about one chunk."""

    status: Status
    output: str | None = None  # the engine's output (a 200's body) when complete
    failure_reason: str | None = None
    failure_msg: str | None = None
    attempts: int = 0
    statuses: tuple[int, ...] = ()  # each call's HTTP status (0: no answer)

    def json(self) -> Any:
        """The output as JSON (None when there is none)."""
        return json.loads(self.output) if self.output else None


class AttemptError(Exception):
    """One call that did not produce a result: retried, and its text is the failureMsg if it is the last."""


def encode_form(fields: Sequence[tuple[str, FormValue]], boundary: str | None = None) -> tuple[bytes, str]:
    """(body, content type) exactly as Go's mime/multipart writes them: a 60-hex-digit boundary, only a
    Content-Disposition on text fields, `application/octet-stream` on a file part."""
    boundary = boundary or secrets.token_hex(30)
    out = bytearray()
    for name, value in fields:
        out += f"--{boundary}\r\n".encode()
        if isinstance(value, tuple):
            filename, data = value
            out += (
                f'Content-Disposition: form-data; name="{_quote(name)}"; filename="{_quote(filename)}"\r\n'
                "Content-Type: application/octet-stream\r\n\r\n"
            ).encode()
            out += data
        else:
            out += f'Content-Disposition: form-data; name="{_quote(name)}"\r\n\r\n'.encode()
            out += value.encode()
        out += b"\r\n"
    out += f"--{boundary}--\r\n".encode()
    return bytes(out), f"multipart/form-data; boundary={boundary}"


def _quote(text: str) -> str:
    return text.replace("\\", "\\\\").replace('"', '\\"')


class Toolkit:
    """The toolkit's side of `/process` for one engine; `with Toolkit(url) as toolkit:` (V3 serves its
    callback webhooks while open)."""

    def __init__(
        self,
        process_url: str,
        *,
        v3: bool = False,
        retry_delays: Sequence[float] = RETRY_DELAYS_S,
        timeout_s: float = PROCESS_TIMEOUT_S,
        download_chunks: bool = True,
        max_ttl_s: int = 3600,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.process_url = process_url
        self.v3 = v3
        self.retry_delays = tuple(retry_delays)
        self.timeout_s = timeout_s
        self.download_chunks = download_chunks  # False: VERITONE_DISABLE_CHUNK_DOWNLOAD=true
        self.max_ttl_s = max_ttl_s
        self._sleep = sleep
        self.callbacks: list[tuple[str, bytes]] = []  # V3: (path, body) of each call to its webhooks
        self._server: ThreadingHTTPServer | None = None
        self._work_dir: Path | None = None

    def __enter__(self) -> Toolkit:
        if self.v3:
            self._start_callbacks()
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None
        if self._work_dir is not None:
            shutil.rmtree(self._work_dir, ignore_errors=True)
            self._work_dir = None

    @property
    def callback_base(self) -> str:
        """Where the V3 webhooks are, as the docs' example names them (localhost)."""
        if self._server is None:
            self._start_callbacks()
        assert self._server is not None
        return f"http://localhost:{self._server.server_address[1]}"

    def process(self, message: ChunkMessage) -> ChunkResult:
        """One chunk through `/process`, with the toolkit's retries; what it would report."""
        statuses: list[int] = []
        last = ""
        for attempt in range(1, len(self.retry_delays) + 2):
            if attempt > 1:
                self._sleep(self.retry_delays[attempt - 2])
            try:
                status, reply = self._attempt(message, statuses)
            except AttemptError as error:
                last = str(error)
                continue
            if status == 204 or (status == 200 and not reply):
                return ChunkResult("ignored", attempts=attempt, statuses=tuple(statuses))
            if status != 200:
                last = f"{status}: {reply.decode('utf-8', 'replace')}"
                continue
            try:
                output = json.loads(reply)
            except ValueError as error:
                last = f"decode response: {error}"
                continue
            if not isinstance(output, dict):
                last = f"decode response: cannot unmarshal {type(output).__name__} into an engine output object"
                continue
            return ChunkResult("complete", reply.decode(), attempts=attempt, statuses=tuple(statuses))
        return ChunkResult(
            "failed",
            failure_reason="internal_error",
            failure_msg=last,
            attempts=len(statuses),
            statuses=tuple(statuses),
        )

    # -- one call ------------------------------------------------------------------------------------

    def _attempt(self, message: ChunkMessage, statuses: list[int]) -> tuple[int, bytes]:
        """Build the request (downloading the chunk, as every attempt does) and post it."""
        try:
            fields, written = self.form_fields(message)
        except AttemptError:
            statuses.append(0)
            raise
        body, content_type = encode_form(fields)
        try:
            return self._post(body, content_type, statuses)
        finally:
            if written is not None:
                written.unlink(missing_ok=True)

    def form_fields(self, message: ChunkMessage) -> tuple[list[tuple[str, FormValue]], Path | None]:
        """The form's fields in the toolkit's order, and the file written for a V3 `chunk` path."""
        payload = message.payload
        fields: list[tuple[str, FormValue]] = [
            ("chunkMimeType", message.mime_type),
            ("chunkUUID", message.chunk_uuid),
            ("chunkIndex", str(message.chunk_index)),
            ("startOffsetMS", str(message.start_offset_ms)),
            ("endOffsetMS", str(message.end_offset_ms)),
            ("width", str(message.width)),
            ("height", str(message.height)),
            ("libraryId", str(payload.get("libraryId") or "")),
            ("libraryEngineModelId", str(payload.get("libraryEngineModelId") or "")),
            ("cacheURI", message.cache_uri),
            ("veritoneApiBaseUrl", str(payload.get("veritoneApiBaseUrl") or "")),
            ("token", str(payload.get("token") or "")),
            ("payload", json.dumps(payload)),
        ]
        data = self._chunk_bytes(message)
        if not self.v3:
            if data is not None:
                fields.append(("chunk", ("chunk.data", data)))
            return fields, None
        base = self.callback_base
        fields += [
            ("heartbeatWebhook", f"{base}/heartbeat"),
            ("resultWebhook", f"{base}/result"),
            ("externalCallbackWebhook", f"{base}/callback"),
            ("maxTTL", str(self.max_ttl_s)),
            ("chunkContext", json.dumps({"chunkUUID": message.chunk_uuid, "chunkIndex": message.chunk_index})),
            *((f"chunk-metadata-{key}", value) for key, value in message.metadata.items()),
            ("internalJobId", f"internal-{payload.get('jobId', '')}"),
            ("internalTaskId", f"internal-{payload.get('taskId', '')}"),
        ]
        if data is None:
            return fields, None
        path = self._chunk_path(message.chunk_uuid)
        path.write_bytes(data)
        fields.append(("chunk", str(path)))
        return fields, path

    def _chunk_bytes(self, message: ChunkMessage) -> bytes | None:
        if message.data is not None:
            return message.data
        if not message.cache_uri or not self.download_chunks:
            return None
        try:
            status, body = _request("GET", message.cache_uri, None, {}, DOWNLOAD_TIMEOUT_S)
        except (OSError, http.client.HTTPException, ValueError) as error:
            raise AttemptError(f"new request: download chunk file from source: {error}") from None
        if status != 200:
            raise AttemptError(f"new request: download chunk file from source: status code {status}")
        return body

    def _chunk_path(self, chunk_uuid: str) -> Path:
        if self._work_dir is None:
            self._work_dir = Path(tempfile.mkdtemp(prefix="aiware-toolkit-"))
        folder = self._work_dir / "".join(c if c.isalnum() or c in "-_" else "_" for c in chunk_uuid)[:100]
        folder.mkdir(exist_ok=True)
        return folder / "chunk.data"

    def _post(self, body: bytes, content_type: str, statuses: list[int]) -> tuple[int, bytes]:
        headers = {"User-Agent": USER_AGENT, "Content-Type": content_type}
        try:
            status, reply = _request("POST", self.process_url, body, headers, self.timeout_s)
        except (OSError, http.client.HTTPException, ValueError) as error:
            statuses.append(0)
            raise AttemptError(f"Post {self.process_url}: {error or type(error).__name__}") from None
        statuses.append(status)
        return status, reply

    # -- V3 webhooks ---------------------------------------------------------------------------------

    def _start_callbacks(self) -> None:
        toolkit = self

        class Callbacks(BaseHTTPRequestHandler):
            def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - the base class's name
                pass

            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                toolkit.callbacks.append((self.path, body))
                self.send_response(204)
                self.end_headers()

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Callbacks)
        self._server.daemon_threads = True
        threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()


def _request(
    method: str, url: str, body: bytes | None, headers: Mapping[str, str], timeout_s: float
) -> tuple[int, bytes]:
    """One HTTP exchange with exactly these headers (plus Host and Content-Length)."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError(f"unsupported URL {url!r}")
    connection: http.client.HTTPConnection = (
        http.client.HTTPSConnection(parts.hostname, parts.port, timeout=timeout_s)
        if parts.scheme == "https"
        else http.client.HTTPConnection(parts.hostname, parts.port, timeout=timeout_s)
    )
    try:
        connection.putrequest(method, (parts.path or "/") + (f"?{parts.query}" if parts.query else ""),
                              skip_accept_encoding=True)  # fmt: skip
        for name, value in headers.items():
            connection.putheader(name, value)
        if body is not None:
            connection.putheader("Content-Length", str(len(body)))
        connection.endheaders(body)
        response = connection.getresponse()
        reply = response.read(MAX_REPLY_BYTES + 1)
        if len(reply) > MAX_REPLY_BYTES:
            raise http.client.HTTPException(f"a reply over {MAX_REPLY_BYTES} bytes")
        return response.status, reply
    finally:
        connection.close()


def ready(
    url: str, *, every_s: float = READY_EVERY_S, within_s: float = READY_WITHIN_S, timeout_s: float = 5.0
) -> bool:
    """The v0.2 toolkit's wait for the engine: `GET url` every `every_s` until a 200; False once `within_s`
    has passed (the toolkit then gives up and the engine never takes work)."""
    started = time.monotonic()
    while time.monotonic() - started < within_s:
        try:
            status, _ = _request("GET", url, None, {"User-Agent": READY_USER_AGENT}, timeout_s)
            if status == 200:
                return True
        except (OSError, http.client.HTTPException):
            pass
        time.sleep(every_s)
    return False
