"""Property-based fuzzing of the /process form parser (issue 15, finding 1): any body at all, however
malformed or hostile (mutated toolkit forms, nested multipart, odd boundaries, huge headers, many
parts), is either a form or an InvalidEventError, within a second, and never anything else (no
RecursionError, no crash, no time spent in proportion to the square of the input)."""

from __future__ import annotations

import json
import time

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pollbridge.errors import InvalidEventError
from pollbridge.webhook.form import parse_form, to_request

PAYLOAD = json.dumps({"taskId": "t-1", "jobId": "j-1", "recordingId": "r-1", "language": "en-US"}).encode()


def toolkit_form(boundary: bytes) -> bytes:
    def part(name: bytes, body: bytes, extra: bytes = b"") -> bytes:
        return (
            b"--"
            + boundary
            + b'\r\nContent-Disposition: form-data; name="'
            + name
            + b'"'
            + extra
            + b"\r\n\r\n"
            + body
            + b"\r\n"
        )

    return (
        part(b"chunkMimeType", b"audio/wav")
        + part(b"cacheURI", b"https://cache.example/c.wav")
        + part(b"payload", PAYLOAD)
        + part(b"chunk", b"\x00\x01RIFF", b'; filename="chunk.data"')
        + b"--" + boundary + b"--\r\n"
    )  # fmt: skip


hostile_pieces = st.sampled_from(
    [
        b"--b\r\n",
        b"\r\n--b--\r\n",
        b"Content-Type: multipart/mixed; boundary=b\r\n",
        b'Content-Disposition: form-data; name="x"' + b"(" * 500 + b")" * 500 + b"\r\n",
        b'Content-Disposition: form-data; name="' + b"a" * 5000 + b'"\r\n',
        b"X-Header: " + b"v" * 5000 + b"\r\n",
        b"\r\n\r\n",
        b"\x00\xff\xfe",
        b'"; boundary="b',
    ]
)


@st.composite
def mutated_forms(draw: st.DrawFn) -> bytes:
    body = bytearray(toolkit_form(b"b"))
    for _ in range(draw(st.integers(1, 6))):
        at = draw(st.integers(0, len(body)))
        if draw(st.booleans()):
            body[at:at] = draw(hostile_pieces) * draw(st.integers(1, 200))
        else:
            end = min(len(body), at + draw(st.integers(1, 50)))
            del body[at:end]
    return bytes(body)


content_types = st.sampled_from(
    [
        "multipart/form-data; boundary=b",
        "multipart/form-data; boundary*=''b",
        'multipart/form-data; x="boundary=b"',
        'multipart/form-data; boundary="b"',
        "multipart/form-data",
        "multipart/mixed; boundary=b",
        "text/plain",
    ]
)


@settings(deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(content_type=content_types, body=st.one_of(mutated_forms(), st.binary(max_size=2000)))
def test_any_body_is_a_form_or_a_named_refusal_within_a_second(content_type: str, body: bytes) -> None:
    started = time.perf_counter()
    try:
        to_request(parse_form(content_type, body), {"language"}.__contains__)
    except InvalidEventError as error:
        assert str(error).startswith("invalid /process request: ")
    assert time.perf_counter() - started < 1.0
