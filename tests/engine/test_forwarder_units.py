"""The forwarder's pure parts: its configuration, and where heartbeats may go."""

from __future__ import annotations

from typing import Any

import pytest

from tests.engine.conftest import BOUNDARY, form, load_forwarder

forwarder: Any = load_forwarder()
FUNCTION_URL = "https://abc123.lambda-url.us-east-1.on.aws/"


def test_defaults() -> None:
    config = forwarder.load_config({"POLLBRIDGE_URL": FUNCTION_URL, "POLLBRIDGE_TOKEN": "t0ken\n"})
    assert (config.scheme, config.host, config.port, config.base_path) == (
        "https",
        "abc123.lambda-url.us-east-1.on.aws",
        None,
        "",
    )
    assert (config.token, config.listen_host, config.listen_port) == ("t0ken", "127.0.0.1", 8080)
    assert (config.timeout_s, config.max_body_bytes, config.heartbeat_s) == (330.0, 4_653_056, 30.0)
    assert config.upstream == "https://abc123.lambda-url.us-east-1.on.aws"


@pytest.mark.parametrize(
    ("settings", "named"),
    [
        ({"POLLBRIDGE_URL": "  "}, "POLLBRIDGE_URL is not set"),
        ({"POLLBRIDGE_URL": "ftp://example.com/"}, "POLLBRIDGE_URL must be an http"),
        ({"POLLBRIDGE_URL": "https:///process"}, "POLLBRIDGE_URL must be an http"),
        ({"POLLBRIDGE_URL": "https://example.com/?a=1"}, "POLLBRIDGE_URL must have no user, query"),
        ({"POLLBRIDGE_URL": "https://user:pw@example.com/"}, "POLLBRIDGE_URL must have no user, query"),
        ({"POLLBRIDGE_URL": "https://example.com:99999/"}, "POLLBRIDGE_URL: the port"),
        ({"POLLBRIDGE_URL": "http://abc.lambda-url.us-east-1.on.aws/"}, "POLLBRIDGE_URL is plain http"),
        ({"POLLBRIDGE_TOKEN": ""}, "POLLBRIDGE_TOKEN is empty or not set"),
        ({"POLLBRIDGE_TOKEN": "two words"}, "POLLBRIDGE_TOKEN: the token must be printable ASCII"),
        ({"POLLBRIDGE_TOKEN": "t\u00e9"}, "POLLBRIDGE_TOKEN: the token must be printable ASCII"),
        ({"PORT": "70000"}, "PORT='70000' is out of range"),
        ({"POLLBRIDGE_TIMEOUT_SECONDS": "0"}, "POLLBRIDGE_TIMEOUT_SECONDS='0' is out of range"),
        ({"POLLBRIDGE_TIMEOUT_SECONDS": "nan"}, "POLLBRIDGE_TIMEOUT_SECONDS='nan' is out of range"),
        ({"POLLBRIDGE_MAX_BODY_BYTES": "4.5e6"}, "POLLBRIDGE_MAX_BODY_BYTES='4.5e6' is not a whole number"),
        ({"POLLBRIDGE_HEARTBEAT_SECONDS": "-1"}, "POLLBRIDGE_HEARTBEAT_SECONDS='-1' is out of range"),
    ],
)
def test_bad_settings_are_named(settings: dict[str, str], named: str) -> None:
    env = {"POLLBRIDGE_URL": FUNCTION_URL, "POLLBRIDGE_TOKEN": "t0ken"} | settings
    with pytest.raises(forwarder.ConfigError) as raised:
        forwarder.load_config(env)
    assert str(raised.value).startswith(named)
    assert "t0ken" not in str(raised.value)


def test_plain_http_only_to_loopback_unless_allowed() -> None:
    local = forwarder.load_config({"POLLBRIDGE_URL": "http://[::1]:8000/base/", "POLLBRIDGE_TOKEN": "t"})
    assert (local.host, local.port, local.base_path, local.upstream) == ("::1", 8000, "/base", "http://[::1]:8000/base")
    with pytest.raises(forwarder.ConfigError, match="POLLBRIDGE_ALLOW_HTTP"):
        forwarder.load_config({"POLLBRIDGE_URL": "http://10.0.0.5/", "POLLBRIDGE_TOKEN": "t"})
    allowed = {"POLLBRIDGE_URL": "http://10.0.0.5/", "POLLBRIDGE_TOKEN": "t", "POLLBRIDGE_ALLOW_HTTP": "true"}
    assert forwarder.load_config(allowed).host == "10.0.0.5"


def test_both_token_settings_are_refused(tmp_path: Any) -> None:
    secret = tmp_path / "token"
    secret.write_text("t")
    env = {"POLLBRIDGE_URL": FUNCTION_URL, "POLLBRIDGE_TOKEN": "t", "POLLBRIDGE_TOKEN_FILE": str(secret)}
    with pytest.raises(forwarder.ConfigError, match="not both"):
        forwarder.load_config(env)


def test_the_heartbeat_field_is_found_in_the_form() -> None:
    url = "http://localhost:9000/heartbeat/abc"
    assert forwarder.find_heartbeat_webhook(form(heartbeat=url)) == url
    assert forwarder.find_heartbeat_webhook(form()) is None
    as_file = (
        f'--{BOUNDARY}\r\nContent-Disposition: form-data; name="chunk"; filename="heartbeatWebhook"\r\n'
        "Content-Type: text/plain\r\n\r\nhttp://localhost/x\r\n"
    ).encode()
    assert forwarder.find_heartbeat_webhook(as_file) is None
    with_headers = (
        f'--{BOUNDARY}\r\ncontent-disposition: form-data; name="heartbeatWebhook"\r\n'
        f"Content-Type: text/plain; charset=utf-8\r\n\r\n{url}\r\n--{BOUNDARY}--\r\n"
    ).encode()
    assert forwarder.find_heartbeat_webhook(with_headers) == url


def test_the_heartbeat_field_is_found_across_blocks_but_only_near_the_start() -> None:
    url = "http://127.0.0.1:9000/heartbeat"
    body = form(heartbeat=url)
    flight = forwarder.Flight(multipart=True)
    for i in range(0, len(body), 7):
        flight.passed(body[i : i + 7])
    assert (flight.heartbeat_url, flight.forwarded) == (url, len(body))

    late = forwarder.Flight(multipart=True)
    late.passed(b"x" * forwarder.HEARTBEAT_SCAN_BYTES)
    late.passed(body)
    assert late.heartbeat_url is None

    not_a_form = forwarder.Flight(multipart=False)
    not_a_form.passed(body)
    assert not_a_form.heartbeat_url is None


@pytest.mark.parametrize(
    "url",
    [
        "http://localhost:9000/heartbeat",
        "http://127.0.0.1/heartbeat?x=1",
        "http://[::1]:9000/heartbeat",
        "https://localhost/heartbeat",
    ],
)
def test_container_local_heartbeat_urls(url: str) -> None:
    assert forwarder.local_heartbeat_url(url)


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.2/heartbeat",
        "http://169.254.169.254/latest/meta-data/",
        "http://localhost.evil.example/heartbeat",
        "http://evil.example#@localhost/",
        "http://localhost@evil.example/",
        "http://user@localhost/heartbeat",
        "http://localhost:99999/heartbeat",
        "ftp://localhost/heartbeat",
        "file:///etc/passwd",
        "localhost:9000/heartbeat",
    ],
)
def test_other_heartbeat_urls_are_refused(url: str) -> None:
    assert not forwarder.local_heartbeat_url(url)
