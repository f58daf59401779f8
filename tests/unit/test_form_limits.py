"""The /process form parser's hard limits (issue 15, finding 1): every malformed or hostile form is
refused with a 4xx-class error (InvalidEventError) quickly, whatever its shape: nested multipart,
RFC 2231 or decoy boundaries, huge part headers, nested comments, many parts, deep JSON."""

from __future__ import annotations

import json
import time

import pytest

from pollbridge.errors import InvalidEventError
from pollbridge.webhook.form import MAX_BODY_BYTES, parse_form, to_request

PAYLOAD = json.dumps({"taskId": "t-1", "jobId": "j-1", "recordingId": "r-1"}).encode()


def part(name: str, body: bytes, boundary: bytes = b"b", headers: bytes = b"") -> bytes:
    disposition = f'Content-Disposition: form-data; name="{name}"\r\n'.encode()
    return b"--" + boundary + b"\r\n" + disposition + headers + b"\r\n" + body + b"\r\n"


def refused_quickly(content_type: str, body: bytes, match: str = "invalid /process request") -> str:
    started = time.perf_counter()
    with pytest.raises(InvalidEventError, match=match) as caught:
        parse_form(content_type, body)
    elapsed = time.perf_counter() - started
    assert elapsed < 1.0, f"{len(body)} bytes took {elapsed:.2f} s to refuse"
    return str(caught.value)


def test_a_nested_multipart_part_is_refused_not_parsed() -> None:
    inner = b"--c\r\n" + b'Content-Disposition: form-data; name="y"\r\n\r\nz\r\n' * 1 + b"--c--\r\n"
    nested = part("payload", inner * 2000, headers=b"Content-Type: multipart/mixed; boundary=c\r\n")
    message = refused_quickly("multipart/form-data; boundary=b", nested + b"--b--\r\n", "nested multipart")
    assert "payload" in message


@pytest.mark.parametrize(
    "content_type",
    [
        "multipart/form-data; boundary*=''b",  # RFC 2231: not a boundary the parser takes
        "multipart/form-data",  # none at all
        'multipart/form-data; x="boundary=b"',  # a decoy inside a quoted parameter
    ],
)
def test_boundaries_that_are_not_plain_parameters_are_refused(content_type: str) -> None:
    body = part("payload", PAYLOAD) * 10_000 + b"--b--\r\n"
    assert "boundary" in refused_quickly(content_type, body)


def test_a_decoy_boundary_never_counts_as_the_real_one() -> None:
    content_type = 'multipart/form-data; x="boundary=decoy"; boundary=b'
    body = part("payload", PAYLOAD) + b"--b--\r\n"
    assert parse_form(content_type, body).fields == {"payload": PAYLOAD.decode()}


@pytest.mark.parametrize("size", [40_000, 170_000, 1_000_000])
def test_a_huge_part_header_is_refused_in_linear_time(size: int) -> None:
    header = b'Content-Disposition: form-data; name="payload"; x="' + b"a\\" * (size // 2) + b'"\r\n'
    body = b"--b\r\n" + header + b"\r\n" + PAYLOAD + b"\r\n--b--\r\n"
    refused_quickly("multipart/form-data; boundary=b", body, "over a limit")


def test_nested_comments_in_a_part_header_are_refused_without_recursion() -> None:
    header = b'Content-Disposition: form-data; name="payload" ' + b"(" * 3000 + b")" * 3000 + b"\r\n"
    body = b"--b\r\n" + header + b"\r\n" + PAYLOAD + b"\r\n--b--\r\n"
    refused_quickly("multipart/form-data; boundary=b", body)


@pytest.mark.parametrize("parts", [65, 40_000])
def test_more_parts_than_the_limit_are_refused_before_all_are_read(parts: int) -> None:
    body = b"".join(part(f"f{i}", b"x") for i in range(parts)) + b"--b--\r\n"
    assert len(body) <= MAX_BODY_BYTES
    refused_quickly("multipart/form-data; boundary=b", body, "at most 64 parts")


def test_too_many_headers_in_a_part_are_refused() -> None:
    headers = b"".join(f"X-H{i}: v\r\n".encode() for i in range(50))
    refused_quickly("multipart/form-data; boundary=b", part("payload", PAYLOAD, headers=headers) + b"--b--\r\n")


@pytest.mark.parametrize("depth", [900, 30_000])
def test_deeply_nested_json_in_payload_is_a_bad_field_not_a_crash(depth: int) -> None:
    nested = b'{"taskId": "t", "jobId": "j", "recordingId": "r", "language": ' + b"[" * depth + b"]" * depth + b"}"
    body = part("payload", nested) + part("chunkMimeType", b"audio/wav") + part("cacheURI", b"https://c.example/a")
    form = parse_form("multipart/form-data; boundary=b", body + b"--b--\r\n")
    started = time.perf_counter()
    with pytest.raises(InvalidEventError, match="payload"):
        to_request(form, {"language"}.__contains__)
    assert time.perf_counter() - started < 1.0


def test_a_form_as_the_toolkit_writes_it_still_parses() -> None:
    body = (
        part("chunkMimeType", b"audio/wav")
        + part("payload", PAYLOAD)
        + b'--b\r\nContent-Disposition: form-data; name="chunk"; filename="chunk.data"\r\n'
        + b"Content-Type: application/octet-stream\r\n\r\n\x00\r\n--c\x01\r\n"
        + b"--b--\r\n"
    )
    form = parse_form("multipart/form-data; boundary=b", body)
    assert form.fields["chunkMimeType"] == "audio/wav"
    assert form.files["chunk"].body == b"\x00\r\n--c\x01" and form.files["chunk"].filename == "chunk.data"
