"""The engine toolkit stand-in (devtools/aiware/toolkit.py) against a real HTTP server on loopback: it
must call an engine exactly as the public toolkit v0.2.0 does (its form, its headers, its retries, what
it reports), or the demo and the end-to-end tests would prove pollbridge against the wrong client."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from email.message import EmailMessage
from email.parser import BytesParser
from email.policy import HTTP
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from devtools.aiware.toolkit import (
    PAYLOAD_KEYS,
    USER_AGENT,
    V02_FIELDS,
    V3_FIELDS,
    ChunkMessage,
    Toolkit,
    ready,
    task_payload,
)

type Answer = tuple[int, dict[str, str], bytes]


@dataclass
class Seen:
    method: str
    path: str
    headers: list[tuple[str, str]]
    body: bytes
    at: float
    files: dict[str, bytes] = field(default_factory=dict)  # V3: what a `chunk` path held on arrival


class Engine:
    """An engine's webhook that answers from a script (the last answer repeats) and records requests."""

    def __init__(self, *answers: Answer) -> None:
        self.answers = list(answers) or [(200, {}, b"{}")]
        self.seen: list[Seen] = []
        self.blobs: dict[str, bytes] = {}  # GET paths served as a chunk cache
        engine = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
                pass

            def do_GET(self) -> None:
                if self.path in engine.blobs:
                    return self._send((200, {}, engine.blobs[self.path]))
                engine.seen.append(Seen("GET", self.path, list(self.headers.items()), b"", time.monotonic()))
                return self._send(engine._next())

            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                seen = Seen("POST", self.path, list(self.headers.items()), body, time.monotonic())
                for name, (filename, data) in parse(self.headers.get("Content-Type", ""), body).items():
                    if name == "chunk" and filename is None and Path(data.decode()).is_file():
                        seen.files[data.decode()] = Path(data.decode()).read_bytes()
                engine.seen.append(seen)
                self._send(engine._next())

            def _send(self, answer: Answer) -> None:
                status, headers, payload = answer
                self.send_response(status)
                for name, value in headers.items():
                    self.send_header(name, value)
                if status != 204:
                    self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                if status != 204:
                    self.wfile.write(payload)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True).start()

    def _next(self) -> Answer:
        return self.answers.pop(0) if len(self.answers) > 1 else self.answers[0]

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()

    def form(self, index: int = -1) -> dict[str, tuple[str | None, bytes]]:
        seen = self.seen[index]
        return parse(dict(seen.headers)["Content-Type"], seen.body)


def parse(content_type: str, body: bytes) -> dict[str, tuple[str | None, bytes]]:
    """name -> (filename, bytes), in the form's order, read by a MIME parser (as the webhook reads it)."""
    message = BytesParser(policy=HTTP).parsebytes(f"Content-Type: {content_type}\r\n\r\n".encode() + body)
    assert isinstance(message, EmailMessage) and message.is_multipart()
    parts: dict[str, tuple[str | None, bytes]] = {}
    for part in message.iter_parts():
        name = part.get_param("name", header="content-disposition")
        assert isinstance(name, str) and name not in parts
        data = part.get_payload(decode=True)
        parts[name] = (part.get_filename(), data if isinstance(data, bytes) else b"")
        if part.get_filename() is not None:
            assert part.get_content_type() == "application/octet-stream"
    return parts


@pytest.fixture
def engine() -> Iterator[Engine]:
    server = Engine()
    yield server
    server.close()


def message(**overrides: Any) -> ChunkMessage:
    payload = task_payload(
        job_id="job-1", task_id="task-1", recording_id="tdo-1", token="task-token-1", custom={"language": "en-US"}
    )
    values: dict[str, Any] = {
        "payload": payload,
        "chunk_uuid": "7f0c1d0e-5c1f-4f4e-9d38-0d7d4f2b9a11",
        "chunk_index": 1,
        "mime_type": "audio/wav",
        "start_offset_ms": 30_000,
        "end_offset_ms": 60_000,
        "data": b"RIFF-bytes-of-the-chunk",
    }
    return ChunkMessage(**{**values, **overrides})


def test_v02_posts_exactly_the_toolkit_fields_and_headers(engine: Engine) -> None:
    engine.answers = [(200, {"Content-Type": "application/json"}, b'{"series": []}')]
    with Toolkit(f"{engine.url}/process") as toolkit:
        result = toolkit.process(message(cache_uri="https://cache.example/chunk-1.wav"))
    assert (result.status, result.output, result.attempts, result.statuses) == ("complete", '{"series": []}', 1, (200,))
    seen = engine.seen[0]
    assert (seen.method, seen.path) == ("POST", "/process")
    headers = dict(seen.headers)
    assert sorted(headers) == ["Content-Length", "Content-Type", "Host", "User-Agent"]  # no Authorization
    assert headers["User-Agent"] == USER_AGENT == "veritone-engine-toolkit"
    assert headers["Content-Type"].startswith("multipart/form-data; boundary=")
    form = engine.form()
    assert list(form) == [*V02_FIELDS, "chunk"]
    assert form["chunk"] == ("chunk.data", b"RIFF-bytes-of-the-chunk")
    text = {name: data.decode() for name, (_, data) in form.items() if name != "chunk"}
    assert text == {
        "chunkMimeType": "audio/wav",
        "chunkUUID": "7f0c1d0e-5c1f-4f4e-9d38-0d7d4f2b9a11",
        "chunkIndex": "1",
        "startOffsetMS": "30000",
        "endOffsetMS": "60000",
        "width": "0",
        "height": "0",
        "libraryId": "",
        "libraryEngineModelId": "",
        "cacheURI": "https://cache.example/chunk-1.wav",
        "veritoneApiBaseUrl": "https://api.veritone.com",
        "token": "task-token-1",
        "payload": text["payload"],
    }
    payload = json.loads(text["payload"])
    assert list(payload) == ["language", *PAYLOAD_KEYS]  # aiWARE's keys, and the engine's custom fields
    assert (payload["taskId"], payload["jobId"], payload["recordingId"]) == ("task-1", "job-1", "tdo-1")
    assert payload["token"] == "task-token-1" and payload["mode"] == "chunk"


def test_the_chunk_is_downloaded_from_its_cache_uri_for_every_attempt(engine: Engine) -> None:
    engine.blobs["/cache/chunk-0"] = b"downloaded media"
    engine.answers = [(500, {}, b"boom"), (200, {}, b'{"ok": true}')]
    with Toolkit(f"{engine.url}/process") as toolkit:
        result = toolkit.process(message(data=None, cache_uri=f"{engine.url}/cache/chunk-0"))
    assert result.status == "complete" and result.attempts == 2
    assert [engine.form(i)["chunk"] for i in (0, 1)] == [("chunk.data", b"downloaded media")] * 2


def test_without_chunk_download_only_the_cache_uri_is_sent(engine: Engine) -> None:
    with Toolkit(f"{engine.url}/process", download_chunks=False) as toolkit:
        toolkit.process(message(data=None, cache_uri="s3://media/chunk.wav"))
    form = engine.form()
    assert list(form) == list(V02_FIELDS)
    assert form["cacheURI"] == (None, b"s3://media/chunk.wav")


def test_a_poll_task_has_no_chunk_and_its_payload_keys_merged(engine: Engine) -> None:
    poll_keys = {"isPollTask": True, "workId": "j_1", "origTaskId": "task-1", "taskId": "not-this-one"}
    payload = task_payload(job_id="job-1", task_id="poll-task-2", recording_id="tdo-1", token="t2", custom=poll_keys)
    with Toolkit(f"{engine.url}/process") as toolkit:
        toolkit.process(ChunkMessage(payload))
    form = engine.form()
    assert list(form) == list(V02_FIELDS)  # no file part: nothing to download
    sent = json.loads(form["payload"][1])
    assert sent["isPollTask"] is True and sent["workId"] == "j_1" and sent["origTaskId"] == "task-1"
    assert sent["taskId"] == "poll-task-2"  # the poll task's own id: aiWARE's keys win
    assert form["cacheURI"] == (None, b"") and form["chunkMimeType"] == (None, b"")


def test_v3_adds_its_fields_and_sends_the_chunk_as_a_path(engine: Engine) -> None:
    with Toolkit(f"{engine.url}/process", v3=True) as toolkit:
        result = toolkit.process(message(metadata={"tdoId": "tdo-1", "source": "standin"}))
        form = engine.form()
        assert list(form) == [
            *V02_FIELDS,
            *V3_FIELDS[:5],
            "chunk-metadata-tdoId",
            "chunk-metadata-source",
            *V3_FIELDS[5:],
            "chunk",
        ]
        filename, path = form["chunk"]
        assert filename is None  # a text field naming the file, not the bytes
        assert engine.seen[0].files == {path.decode(): b"RIFF-bytes-of-the-chunk"}
        assert not Path(path.decode()).exists()  # removed once the call is over
        base = toolkit.callback_base
        assert base.startswith("http://localhost:")
        urls = {
            name: form[name][1].decode() for name in ("heartbeatWebhook", "resultWebhook", "externalCallbackWebhook")
        }
        assert urls == {
            "heartbeatWebhook": f"{base}/heartbeat",
            "resultWebhook": f"{base}/result",
            "externalCallbackWebhook": f"{base}/callback",
        }
        assert form["internalJobId"][1] == b"internal-job-1" and form["internalTaskId"][1] == b"internal-task-1"
        assert form["maxTTL"][1] == b"3600" and form["chunk-metadata-tdoId"][1] == b"tdo-1"
        # the toolkit serves its webhooks while it runs: a heartbeat is taken (204) and kept
        import urllib.request

        heartbeat = urllib.request.Request(urls["heartbeatWebhook"], b'{"status": "running"}', method="POST")
        with urllib.request.urlopen(heartbeat, timeout=5) as answer:
            assert answer.status == 204
        assert toolkit.callbacks == [("/heartbeat", b'{"status": "running"}')]
    assert result.status == "complete"
    assert "Authorization" not in dict(engine.seen[0].headers)


def test_three_calls_100_then_200_ms_apart_then_internal_error(engine: Engine) -> None:
    engine.answers = [(503, {"Retry-After": "30", "Content-Type": "text/plain"}, b"busy: try later")]
    started = time.monotonic()
    with Toolkit(f"{engine.url}/process") as toolkit:
        result = toolkit.process(message())
    assert time.monotonic() - started < 2  # Retry-After: 30 is ignored
    assert result.status == "failed"
    assert (result.failure_reason, result.failure_msg) == ("internal_error", "503: busy: try later")
    assert (result.attempts, result.statuses, result.output) == (3, (503, 503, 503), None)
    times = [seen.at for seen in engine.seen]
    assert len(times) == 3
    first, second = times[1] - times[0], times[2] - times[1]
    assert 0.09 <= first < 0.3 and 0.19 <= second < 0.45 and second > first


def test_the_last_failure_is_the_one_reported(engine: Engine) -> None:
    engine.answers = [(500, {}, b"first"), (502, {}, b"second"), (422, {}, b"invalid_data: the media is unreadable")]
    with Toolkit(f"{engine.url}/process") as toolkit:
        result = toolkit.process(message())
    assert result.failure_msg == "422: invalid_data: the media is unreadable"
    assert result.statuses == (500, 502, 422)


def test_a_failure_then_a_result_completes(engine: Engine) -> None:
    engine.answers = [(500, {}, b"oops"), (200, {}, b'{"type": "schedule_poll_task"}')]
    with Toolkit(f"{engine.url}/process") as toolkit:
        result = toolkit.process(message())
    assert (result.status, result.attempts, result.json()) == ("complete", 2, {"type": "schedule_poll_task"})


@pytest.mark.parametrize("answer", [(204, {}, b""), (200, {}, b"")], ids=["204", "200-empty"])
def test_204_or_an_empty_200_is_ignored_after_one_call(engine: Engine, answer: Answer) -> None:
    engine.answers = [answer]
    with Toolkit(f"{engine.url}/process") as toolkit:
        result = toolkit.process(message())
    assert (result.status, result.attempts, result.output, result.failure_reason) == ("ignored", 1, None, None)
    assert len(engine.seen) == 1


def test_a_200_that_is_not_a_json_object_fails_the_attempt(engine: Engine) -> None:
    engine.answers = [(200, {}, b"plain text")]
    with Toolkit(f"{engine.url}/process") as toolkit:
        result = toolkit.process(message())
    assert result.status == "failed" and result.attempts == 3
    assert str(result.failure_msg).startswith("decode response:")


def test_no_engine_listening_fails_after_three_calls() -> None:
    closed = Engine()
    url = closed.url
    closed.close()
    with Toolkit(f"{url}/process") as toolkit:
        result = toolkit.process(message())
    assert (result.status, result.failure_reason, result.statuses) == ("failed", "internal_error", (0, 0, 0))
    assert url in str(result.failure_msg)


def test_ready_asks_until_200(engine: Engine) -> None:
    engine.answers = [(503, {}, b"not yet"), (503, {}, b"not yet"), (200, {}, b'{"ready": true}')]
    assert ready(f"{engine.url}/ready", every_s=0.05, within_s=5)
    assert [seen.path for seen in engine.seen] == ["/ready"] * 3
    assert dict(engine.seen[0].headers)["User-Agent"] == "Go-http-client/1.1"
    gaps = [b.at - a.at for a, b in zip(engine.seen, engine.seen[1:], strict=False)]
    assert all(gap >= 0.045 for gap in gaps)


def test_ready_gives_up_after_its_maximum(engine: Engine) -> None:
    engine.answers = [(503, {}, b"never")]
    started = time.monotonic()
    assert not ready(f"{engine.url}/ready", every_s=0.05, within_s=0.3)
    assert 0.3 <= time.monotonic() - started < 1.5
    assert 4 <= len(engine.seen) <= 8
