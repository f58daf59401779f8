"""The engine toolkit's /process form -> the same events the segment function takes (pure).

Bodies are built with a real multipart encoder (urllib3's), as the toolkit's Go code builds them."""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from urllib3 import encode_multipart_formdata

from devtools.standins.function_url import poll_task_form, process_form
from pollbridge.errors import BodyTooLargeError, InvalidEventError
from pollbridge.webhook.form import MAX_BODY_BYTES, NewChunk, PollTask, parse_form, to_request

PAYLOAD = {
    "applicationId": "app-1",
    "taskId": "19041508_Xp2bKsUAs4Rm6I8",
    "jobId": "19041508_Z1KQn2RJlG",
    "recordingId": "400001249",
    "token": "eyJhbGciOi.jwt.of-the-task",
    "mode": "chunk",
    "veritoneApiBaseUrl": "https://api.veritone.com",
    "language": "en-US",
}


def request_of(body: bytes, content_type: str) -> NewChunk | PollTask:
    return to_request(parse_form(content_type, body))


def test_a_new_chunk_becomes_a_media_chunk_with_the_uploaded_bytes() -> None:
    body, content_type = process_form(
        PAYLOAD,
        chunk=b"\x00\r\n--not-a-boundary\r\n\xff" * 100,
        mime_type="audio/wav",
        cache_uri="https://cache.example/chunk-3.wav",
        chunk_index=3,
        start_ms=90_000,
        end_ms=120_000,
        heartbeat="https://platform.example/heartbeat/abc",
    )
    request = request_of(body, content_type)
    assert isinstance(request, NewChunk)
    chunk = request.chunk
    assert (chunk.taskId, chunk.jobId, chunk.tdoId) == (PAYLOAD["taskId"], PAYLOAD["jobId"], "400001249")
    assert (chunk.mimeType, chunk.chunkIndex, chunk.startOffsetMs, chunk.endOffsetMs) == (
        "audio/wav",
        3,
        90_000,
        120_000,
    )
    assert chunk.cacheURI == "https://cache.example/chunk-3.wav"
    assert chunk.heartbeatWebhook is None  # the toolkit's own, inside the container: never called from Lambda
    # only the engine's configuration: the platform's keys (and its token) are not configuration
    assert chunk.taskPayload == {"language": "en-US"}
    assert request.media is not None and request.media.body == b"\x00\r\n--not-a-boundary\r\n\xff" * 100
    assert request.media.media_type == "audio/wav"
    assert request.api_base_url == "https://api.veritone.com"


@settings(max_examples=60, deadline=None)
@given(data=st.binary(min_size=1, max_size=4096))
def test_any_bytes_survive_the_form_exactly(data: bytes) -> None:
    body, content_type = process_form(PAYLOAD, chunk=data)
    request = request_of(body, content_type)
    assert isinstance(request, NewChunk) and request.media is not None
    assert request.media.body == data


def test_a_chunk_without_bytes_is_fetched_from_its_cache_uri() -> None:
    body, content_type = process_form(PAYLOAD, cache_uri="https://cache.example/c.wav", mime_type="audio/wav")
    request = request_of(body, content_type)
    assert isinstance(request, NewChunk) and request.media is None
    assert request.chunk.cacheURI == "https://cache.example/c.wav"


def test_a_poll_task_coming_back_is_its_signed_payload() -> None:
    payload = {
        "workId": "j_1",
        "isPollTask": True,
        "origTaskId": "t-1",
        "origTdoId": "d-1",
        "origJobId": "j-1",
        "origCallTimeUTC": 1,
        "provider": "http",
        "pollNumber": 2,
        "deadlineUTC": 2,
        "signature": "v1." + "A" * 43,
    }
    body, content_type = poll_task_form(payload, "poll-task-77")
    request = request_of(body, content_type)
    assert isinstance(request, PollTask)
    assert request.task_id == "poll-task-77"
    assert request.payload.origTaskId == "t-1" and request.payload.pollNumber == 2
    assert request.payload.signature == payload["signature"]
    legacy, content_type = process_form({"taskId": "poll-task-78", "taskPayload": payload})  # the legacy place
    assert isinstance(request_of(legacy, content_type), PollTask)


def test_every_bad_field_is_named_at_once() -> None:
    payload = {"taskId": " padded ", "recordingId": "d"}  # no jobId, an id with whitespace
    fields: list[tuple[str, Any]] = [
        ("chunkIndex", "minus-one"),
        ("startOffsetMS", "-5"),
        ("payload", json.dumps(payload)),
    ]
    body, content_type = encode_multipart_formdata(fields)
    with pytest.raises(InvalidEventError) as caught:
        request_of(body, content_type)
    message = str(caught.value)
    for named in ("chunkIndex", "startOffsetMS"):
        assert named in message
    body, content_type = encode_multipart_formdata([("payload", json.dumps(payload))])
    with pytest.raises(InvalidEventError) as caught:
        request_of(body, content_type)
    message = str(caught.value)
    for named in ("payload.taskId", "payload.jobId", "chunkMimeType", "chunk: a file part `chunk` or a `cacheURI`"):
        assert named in message, (named, message)


@pytest.mark.parametrize(
    ("fields", "named"),
    [
        ([("chunkMimeType", "audio/wav")], "payload: Field required"),
        ([("payload", "{not json")], "payload: not JSON"),
        ([("payload", "[1, 2]")], "payload: must be a JSON object"),
        (
            [("payload", json.dumps(PAYLOAD)), ("chunkMimeType", "a"), ("chunk", ("c", b"", "a"))],
            "chunk: the file part is empty",
        ),
        ([("payload", "{}"), ("payload", "{}")], "payload: given more than once"),
        (
            [("payload", json.dumps(PAYLOAD)), ("chunkMimeType", "a"), ("cacheURI", "file:///etc/passwd")],
            "cacheURI: Value error",
        ),
        (
            [("payload", json.dumps(PAYLOAD)), ("chunkMimeType", "a"), ("chunk", "/tmp/chunk.data")],
            "a path in `chunk` names a file in the engine's container",
        ),
    ],
)  # fmt: skip
def test_bad_forms_are_refused_naming_the_field(fields: list[tuple[str, Any]], named: str) -> None:
    body, content_type = encode_multipart_formdata(fields)
    with pytest.raises(InvalidEventError, match="invalid /process request") as caught:
        request_of(body, content_type)
    assert named in str(caught.value)


def test_only_multipart_is_read_and_size_is_bounded() -> None:
    with pytest.raises(InvalidEventError, match="Content-Type"):
        parse_form("application/json", b"{}")
    with pytest.raises(InvalidEventError, match="boundary"):
        parse_form("multipart/form-data", b"--x\r\n")
    with pytest.raises(BodyTooLargeError):
        parse_form("multipart/form-data; boundary=x", b"x" * (MAX_BODY_BYTES + 1))


def test_v3_fields_are_accepted_and_a_chunk_path_is_ignored_for_the_cache_uri() -> None:
    fields = [
        ("payload", json.dumps({**PAYLOAD, "startFromEntity": "e-1", "someFutureKey": {"x": 1}, "apiSecret": "s"})),
        ("chunkMimeType", "audio/wav"),
        ("cacheURI", "https://cache.example/chunk-0.wav"),
        ("chunk", "/var/aiware/chunks/chunk.data"),  # V3: "the file to process (as a path)"
        ("heartbeatWebhook", "http://localhost:9000/heartbeat"),
        ("resultWebhook", "http://localhost:9000/result"),
        ("externalCallbackWebhook", "http://localhost:9000/callback"),
        ("maxTTL", "3600"),
        ("chunkContext", '{"a": 1}'),
        ("chunk-metadata-language", "en"),
        ("internalJobId", "ij-1"),
        ("internalTaskId", "it-1"),
    ]
    body, content_type = encode_multipart_formdata(fields)
    request = to_request(parse_form(content_type, body), {"language"}.__contains__)
    assert isinstance(request, NewChunk)
    assert request.media is None and request.chunk.cacheURI == "https://cache.example/chunk-0.wav"
    assert request.chunk.heartbeatWebhook is None
    assert request.chunk.taskPayload == {"language": "en-US"}
    assert request.dropped == ("apiSecret", "someFutureKey")  # logged by name, never forwarded


def test_a_control_character_in_chunk_mime_type_is_refused_naming_the_field() -> None:
    fields = [
        ("payload", json.dumps(PAYLOAD)),
        ("chunkMimeType", "audio/wav\r\nX: 1"),
        ("cacheURI", "https://c.example/a"),
    ]
    body, content_type = encode_multipart_formdata(fields)
    with pytest.raises(InvalidEventError, match="chunkMimeType"):
        to_request(parse_form(content_type, body))
