"""engine/forwarder.py end to end: the toolkit's requests in, the Function URL's answers out."""

from __future__ import annotations

import http.client
import json
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.engine.conftest import (
    FORM_TYPE,
    FORWARDER,
    TOKEN,
    TOOLKIT,
    Answer,
    Recorder,
    Running,
    Start,
    form,
    forwarder_env,
    free_port,
    load_forwarder,
)


def call(
    running: Running, method: str, path: str, body: bytes | None = None, headers: dict[str, str] | None = None
) -> tuple[int, http.client.HTTPResponse, bytes]:
    connection = http.client.HTTPConnection("127.0.0.1", running.port, timeout=10)
    try:
        connection.request(method, path, body, headers or {})
        response = connection.getresponse()
        return response.status, response, response.read()
    finally:
        connection.close()


def post(
    running: Running, body: bytes, headers: dict[str, str] | None = None
) -> tuple[int, http.client.HTTPResponse, bytes]:
    return call(running, "POST", "/process", body, headers or TOOLKIT)


# -- /process -------------------------------------------------------------------------------------


@pytest.mark.parametrize("slash", ["", "/"])
def test_process_adds_the_token_and_keeps_the_toolkits_headers(start: Start, upstream: Recorder, slash: str) -> None:
    upstream.default = Answer(200, {"Content-Type": "application/json"}, b'{"type": "schedule_poll_task"}')
    running = start(POLLBRIDGE_URL=upstream.url + slash)
    body = form()

    status, response, reply = post(running, body, {**TOOLKIT, "Authorization": "Bearer not-the-token"})

    assert (status, response.getheader("Content-Type"), reply) == (200, "application/json", upstream.default.body)
    [seen] = upstream.seen
    assert (seen.method, seen.path, seen.body) == ("POST", "/process", body)
    assert seen.headers["authorization"] == f"Bearer {TOKEN}"  # the caller's own is replaced
    assert seen.headers["content-type"] == FORM_TYPE
    assert seen.headers["user-agent"] == "veritone-engine-toolkit"
    assert seen.headers["content-length"] == str(len(body))
    assert "transfer-encoding" not in seen.headers


def test_a_path_in_the_url_is_kept(start: Start, upstream: Recorder) -> None:
    running = start(POLLBRIDGE_URL=upstream.url + "/prefix/")
    post(running, form())
    call(running, "GET", "/ready")
    assert [seen.path for seen in upstream.seen] == ["/prefix/process", "/prefix/ready"]


@pytest.mark.parametrize(
    "answer",
    [
        Answer(200, {"Content-Type": "application/json"}, b'{"schemaId": "vtn"}'),
        Answer(204, {}, b""),
        Answer(400, {"Content-Type": "text/plain"}, b"invalid /process request: chunkIndex: not an integer"),
        Answer(422, {"Content-Type": "text/plain; charset=utf-8"}, b"failed: invalid_data"),
        Answer(503, {"Content-Type": "application/json", "Retry-After": "7"}, b'{"error": "unavailable"}'),
    ],
    ids=lambda answer: str(answer.status),
)
def test_status_type_and_body_pass_through(start: Start, upstream: Recorder, answer: Answer) -> None:
    upstream.default = answer
    running = start(POLLBRIDGE_URL=upstream.url)

    status, response, reply = post(running, form())

    assert (status, reply) == (answer.status, answer.body)
    assert response.getheader("Content-Type") == answer.headers.get("Content-Type")
    assert response.getheader("Retry-After") == answer.headers.get("Retry-After")


def test_a_redirect_is_passed_on_not_followed(start: Start, upstream: Recorder) -> None:
    upstream.answers["/process"] = Answer(307, {"Location": f"{upstream.url}/elsewhere"}, b"")
    running = start(POLLBRIDGE_URL=upstream.url)

    status, response, _ = post(running, form())

    assert (status, response.getheader("Location")) == (307, f"{upstream.url}/elsewhere")
    assert [seen.path for seen in upstream.seen] == ["/process"]


def test_an_announced_over_limit_body_is_413_before_it_is_read(start: Start, upstream: Recorder) -> None:
    running = start(POLLBRIDGE_URL=upstream.url, POLLBRIDGE_MAX_BODY_BYTES="1000")
    with socket.create_connection(("127.0.0.1", running.port), timeout=5) as client:
        client.sendall(
            b"POST /process HTTP/1.1\r\nHost: localhost\r\n"
            + f"Content-Type: {FORM_TYPE}\r\nContent-Length: 50000000\r\n\r\n".encode()
        )  # and not one byte of the body
        reply = client.makefile("rb").read()
    assert reply.startswith(b"HTTP/1.1 413 ")
    assert b"text/plain" in reply and b"too_large" in reply
    assert upstream.seen == []


def test_expect_100_continue_over_the_limit_is_refused_before_the_body(start: Start, upstream: Recorder) -> None:
    running = start(POLLBRIDGE_URL=upstream.url, POLLBRIDGE_MAX_BODY_BYTES="1000")
    with socket.create_connection(("127.0.0.1", running.port), timeout=5) as client:
        client.sendall(
            b"POST /process HTTP/1.1\r\nHost: localhost\r\nExpect: 100-continue\r\n"
            + f"Content-Type: {FORM_TYPE}\r\nContent-Length: 5000\r\n\r\n".encode()
        )
        reply = client.makefile("rb").read()
    assert reply.startswith(b"HTTP/1.1 413 ")
    assert b"100 Continue" not in reply
    assert upstream.seen == []


def test_an_over_limit_body_sent_anyway_still_gets_its_413(start: Start, upstream: Recorder) -> None:
    running = start(POLLBRIDGE_URL=upstream.url, POLLBRIDGE_MAX_BODY_BYTES="1000")
    status, response, reply = post(running, b"x" * 200_000)
    assert status == 413
    assert response.getheader("Content-Type") == "text/plain; charset=utf-8"
    assert reply.startswith(b"too_large: the request is over 1000 bytes")
    assert upstream.seen == []


def test_the_default_limit_is_what_a_function_url_takes() -> None:
    assert load_forwarder().MAX_BODY_BYTES == 6 * 1024 * 1024 * 3 // 4 - 64 * 1024 == 4_653_056


def test_a_chunked_body_is_forwarded_with_a_content_length(start: Start, upstream: Recorder) -> None:
    running = start(POLLBRIDGE_URL=upstream.url)
    body = form(chunk=b"\x00\x01" * 50_000)
    pieces = [body[i : i + 7_000] for i in range(0, len(body), 7_000)]

    connection = http.client.HTTPConnection("127.0.0.1", running.port, timeout=10)
    connection.request("POST", "/process", iter(pieces), TOOLKIT, encode_chunked=True)
    status = connection.getresponse().status
    connection.close()

    assert status == 200
    [seen] = upstream.seen
    assert seen.body == body
    assert seen.headers["content-length"] == str(len(body))
    assert "transfer-encoding" not in seen.headers


def test_a_chunked_body_over_the_limit_is_413(start: Start, upstream: Recorder) -> None:
    running = start(POLLBRIDGE_URL=upstream.url, POLLBRIDGE_MAX_BODY_BYTES="10000")
    connection = http.client.HTTPConnection("127.0.0.1", running.port, timeout=10)
    connection.request("POST", "/process", iter([b"a" * 6000, b"b" * 6000]), TOOLKIT, encode_chunked=True)
    response = connection.getresponse()
    assert (response.status, response.read()[:10]) == (413, b"too_large:")
    connection.close()
    assert upstream.seen == []


def test_upstream_down_is_502_in_plain_text(start: Start) -> None:
    running = start(POLLBRIDGE_URL=f"http://127.0.0.1:{free_port()}/")
    status, response, reply = post(running, form())
    assert status == 502
    assert response.getheader("Content-Type") == "text/plain; charset=utf-8"
    assert reply.startswith(b"internal_error: pollbridge could not be reached: connection refused")
    assert b"Traceback" not in reply and b"Traceback" not in running.logs().encode()


def test_a_dns_failure_is_502(start: Start) -> None:
    running = start(POLLBRIDGE_URL="http://pollbridge.invalid/", POLLBRIDGE_ALLOW_HTTP="true")
    status, _, reply = post(running, form())
    assert status == 502
    assert reply.startswith(b"internal_error: pollbridge could not be reached: DNS lookup failed")


def test_a_connection_closed_without_an_answer_is_502(start: Start) -> None:
    with socket.create_server(("127.0.0.1", 0)) as listener:

        def slam() -> None:
            client, _ = listener.accept()
            client.recv(65536)
            client.close()

        threading.Thread(target=slam, daemon=True).start()
        running = start(POLLBRIDGE_URL=f"http://127.0.0.1:{listener.getsockname()[1]}")
        status, _, reply = post(running, form())
    assert status == 502
    assert reply.startswith(b"internal_error: pollbridge could not be reached: ")
    assert b"closed before a response" in reply or b"reset" in reply


def test_a_reply_slower_than_the_timeout_is_502(start: Start, upstream: Recorder) -> None:
    upstream.default = Answer(delay_s=1.5)
    running = start(POLLBRIDGE_URL=upstream.url, POLLBRIDGE_TIMEOUT_SECONDS="0.3")
    started = time.monotonic()
    status, _, reply = post(running, form())
    assert status == 502
    assert reply == b"internal_error: pollbridge could not be reached: no reply within 0.3 s (waiting for the reply)\n"
    assert time.monotonic() - started < 1.4


def test_https_checks_the_certificate(start: Start, tmp_path: Path) -> None:
    from devtools.standins.tls import loopback_tls

    tls = loopback_tls(tmp_path)
    secure = Recorder(tls=(tls.cert_file, tls.key_file))
    try:
        trusted = start(POLLBRIDGE_URL=secure.url, SSL_CERT_FILE=str(tls.ca_file))
        assert post(trusted, form())[0] == 200
        untrusted = start(POLLBRIDGE_URL=secure.url)  # the system store does not know the test CA
        status, _, reply = post(untrusted, form())
        assert status == 502
        assert b"TLS certificate not trusted" in reply
    finally:
        secure.close()
    assert len(secure.seen) == 1


# -- /ready, routes -------------------------------------------------------------------------------


def test_ready_passes_the_stacks_answer_through(start: Start, upstream: Recorder) -> None:
    upstream.answers["/ready"] = Answer(200, {"Content-Type": "application/json"}, b'{"ready": true}')
    running = start(POLLBRIDGE_URL=upstream.url)

    status, response, reply = call(running, "GET", "/ready")

    assert (status, response.getheader("Content-Type"), reply) == (200, "application/json", b'{"ready": true}')
    [seen] = upstream.seen
    assert (seen.method, seen.path, seen.headers["authorization"]) == ("GET", "/ready", f"Bearer {TOKEN}")


def test_ready_passes_a_not_ready_stack_through(start: Start, upstream: Recorder) -> None:
    upstream.answers["/ready"] = Answer(503, {"Content-Type": "application/json"}, b'{"ready": false}')
    running = start(POLLBRIDGE_URL=upstream.url)
    assert call(running, "GET", "/ready")[::2] == (503, b'{"ready": false}')


def test_ready_is_503_while_the_stack_cannot_be_reached(start: Start) -> None:
    running = start(POLLBRIDGE_URL=f"http://127.0.0.1:{free_port()}")
    status, response, reply = call(running, "GET", "/ready")
    assert status == 503
    assert response.getheader("Content-Type") == "text/plain; charset=utf-8"
    assert reply.startswith(b"pollbridge could not be reached: connection refused")


@pytest.mark.parametrize(
    ("method", "path", "expected", "allow"),
    [
        ("GET", "/process", 405, "POST"),
        ("PUT", "/process", 405, "POST"),
        ("POST", "/ready", 405, "GET"),
        ("DELETE", "/ready", 405, "GET"),
        ("GET", "/", 404, None),
        ("POST", "/process/extra", 404, None),
    ],
)
def test_other_paths_and_methods(
    start: Start, upstream: Recorder, method: str, path: str, expected: int, allow: str | None
) -> None:
    running = start(POLLBRIDGE_URL=upstream.url)
    status, response, _ = call(running, method, path, b"" if method in ("POST", "PUT") else None)
    assert (status, response.getheader("Allow")) == (expected, allow)
    assert upstream.seen == []


# -- heartbeats -----------------------------------------------------------------------------------


@pytest.fixture
def heartbeats() -> Iterator[Recorder]:
    server = Recorder()
    server.default = Answer(204, {}, b"")
    yield server
    server.close()


def test_heartbeats_while_the_stack_works(start: Start, upstream: Recorder, heartbeats: Recorder) -> None:
    upstream.default = Answer(delay_s=0.7)
    running = start(POLLBRIDGE_URL=upstream.url, POLLBRIDGE_HEARTBEAT_SECONDS="0.15")
    body = form(heartbeat=f"http://localhost:{heartbeats.port}/heartbeat?task=1")

    assert post(running, body)[0] == 200

    assert len(heartbeats.seen) >= 2
    for beat in heartbeats.seen:
        assert (beat.method, beat.path, beat.headers["content-type"]) == (
            "POST",
            "/heartbeat?task=1",
            "application/json",
        )
        assert "authorization" not in beat.headers
        assert json.loads(beat.body) == {
            "status": "running",
            "bytesRead": len(body),
            "bytesWritten": 0,
            "messagesWritten": 0,
            "infoMsg": "waiting for pollbridge",
        }
    count = len(heartbeats.seen)
    time.sleep(0.35)
    assert len(heartbeats.seen) == count  # they stop with the call


def test_no_heartbeat_when_disabled_or_fast(start: Start, upstream: Recorder, heartbeats: Recorder) -> None:
    body = form(heartbeat=f"http://127.0.0.1:{heartbeats.port}/heartbeat")
    upstream.default = Answer(delay_s=0.5)
    post(start(POLLBRIDGE_URL=upstream.url, POLLBRIDGE_HEARTBEAT_SECONDS="0"), body)
    upstream.default = Answer()
    post(start(POLLBRIDGE_URL=upstream.url, POLLBRIDGE_HEARTBEAT_SECONDS="0.3"), body)
    time.sleep(0.4)
    assert heartbeats.seen == []


def test_a_failing_heartbeat_changes_nothing(start: Start, upstream: Recorder) -> None:
    upstream.default = Answer(200, {"Content-Type": "application/json"}, b'{"ok": 1}', delay_s=0.6)
    running = start(POLLBRIDGE_URL=upstream.url, POLLBRIDGE_HEARTBEAT_SECONDS="0.2")
    body = form(heartbeat=f"http://127.0.0.1:{free_port()}/heartbeat")
    assert post(running, body)[::2] == (200, b'{"ok": 1}')
    assert "heartbeat failed (ignored): connection refused" in running.logs()


def test_a_heartbeat_url_off_the_container_is_never_called(start: Start, upstream: Recorder) -> None:
    try:  # a loopback address that is not one of the three container-local names
        elsewhere = Recorder(host="127.0.0.2")
    except OSError:
        pytest.skip("127.0.0.2 cannot be bound here")
    try:
        upstream.default = Answer(delay_s=0.6)
        running = start(POLLBRIDGE_URL=upstream.url, POLLBRIDGE_HEARTBEAT_SECONDS="0.1")
        assert post(running, form(heartbeat=f"{elsewhere.url}/heartbeat"))[0] == 200
    finally:
        elsewhere.close()
    assert elsewhere.seen == []
    assert "heartbeatWebhook ignored: host '127.0.0.2' is not container-local" in running.logs()


# -- configuration, logs, shutdown ----------------------------------------------------------------


def test_the_token_can_come_from_a_file(start: Start, upstream: Recorder, tmp_path: Path) -> None:
    secret = tmp_path / "token"
    secret.write_text("  file-token-0123456789\n")
    running = start(POLLBRIDGE_URL=upstream.url, POLLBRIDGE_TOKEN=None, POLLBRIDGE_TOKEN_FILE=str(secret))
    call(running, "GET", "/ready")
    post(running, form())
    assert [seen.headers["authorization"] for seen in upstream.seen] == ["Bearer file-token-0123456789"] * 2


@pytest.mark.parametrize(
    ("settings", "named"),
    [
        ({"POLLBRIDGE_URL": None}, "POLLBRIDGE_URL"),
        ({"POLLBRIDGE_TOKEN": None}, "POLLBRIDGE_TOKEN"),
        ({"POLLBRIDGE_TOKEN_FILE": "/nonexistent/token", "POLLBRIDGE_TOKEN": None}, "POLLBRIDGE_TOKEN_FILE"),
        ({"PORT": "http"}, "PORT"),
    ],
)
def test_bad_configuration_stops_it_at_start(settings: dict[str, str | None], named: str) -> None:
    env = forwarder_env(**{"POLLBRIDGE_URL": "https://abc.lambda-url.us-east-1.on.aws/", **settings})
    done = subprocess.run([sys.executable, str(FORWARDER)], env=env, capture_output=True, timeout=10, check=False)
    assert done.returncode != 0
    assert named in done.stderr.decode()
    assert TOKEN not in done.stderr.decode() and b"Traceback" not in done.stderr


def test_an_empty_token_file_is_refused(tmp_path: Path) -> None:
    secret = tmp_path / "token"
    secret.write_text("\n")
    env = forwarder_env(POLLBRIDGE_URL="https://a.example/", POLLBRIDGE_TOKEN=None, POLLBRIDGE_TOKEN_FILE=str(secret))
    done = subprocess.run([sys.executable, str(FORWARDER)], env=env, capture_output=True, timeout=10, check=False)
    assert done.returncode != 0
    assert b"POLLBRIDGE_TOKEN_FILE is empty" in done.stderr


def test_one_log_line_per_request_and_never_the_token(start: Start, upstream: Recorder) -> None:
    running = start(POLLBRIDGE_URL=upstream.url)
    body = form()
    post(running, body)
    call(running, "GET", "/ready")
    call(running, "GET", "/nowhere")
    post(start(POLLBRIDGE_URL=f"http://127.0.0.1:{free_port()}"), body)
    running.process.terminate()
    running.process.wait(5)

    logs = running.logs()
    assert f"POST /process 200 in={len(body)}B out=2B " in logs
    assert "GET /ready 200 in=0B out=2B " in logs
    assert "GET /nowhere 404 " in logs
    assert TOKEN not in logs and "task-token" not in logs


def test_sigterm_finishes_the_call_in_flight_then_exits(start: Start, upstream: Recorder) -> None:
    upstream.default = Answer(200, {"Content-Type": "application/json"}, b'{"done": true}', delay_s=0.8)
    running = start(POLLBRIDGE_URL=upstream.url)
    replies: list[tuple[int, bytes]] = []
    caller = threading.Thread(target=lambda: replies.append(post(running, form())[::2]))
    caller.start()
    while not upstream.seen:
        time.sleep(0.01)

    running.process.send_signal(signal.SIGTERM)

    caller.join(5)
    assert replies == [(200, b'{"done": true}')]
    assert running.process.wait(5) == 0
    assert "SIGTERM" in running.logs() and "stopped" in running.logs()
