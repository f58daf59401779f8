"""pollbridge's aiWARE engine: the local webhook the engine toolkit calls, forwarding to the stack.

aiWARE runs an engine as a Docker image whose entrypoint is the engine toolkit; the toolkit calls the
engine's webhooks (`VERITONE_WEBHOOK_READY`, `VERITONE_WEBHOOK_PROCESS`) inside the container, with no
`Authorization` header. pollbridge's work happens behind its Lambda Function URL (the stack's
`WebhookUrl`), which wants `Authorization: Bearer <token>`. This process is the engine: it listens on
loopback, adds the token, streams each request to the Function URL and hands the answer back as it
came (the toolkit reads 200 / 204 / anything else itself). Standard library only: the image needs
nothing but Python.

Environment:
  POLLBRIDGE_URL                the stack's WebhookUrl (https://<id>.lambda-url.<region>.on.aws/)
  POLLBRIDGE_TOKEN | POLLBRIDGE_TOKEN_FILE   the webhook's bearer token, or a file holding it
  PORT                          where to listen (default 8080; 0: any free port, logged)
  POLLBRIDGE_LISTEN_HOST        default 127.0.0.1: the toolkit is in the same container, and whoever
                                reaches this port gets the token's authority
  POLLBRIDGE_TIMEOUT_SECONDS    how long a /process reply may take (default 330; the function's is 300)
  POLLBRIDGE_MAX_BODY_BYTES     the largest body forwarded (default: what a Function URL accepts)
  POLLBRIDGE_HEARTBEAT_SECONDS  heartbeat period while a /process call is in flight (default 30; 0: off)
  POLLBRIDGE_ALLOW_HTTP         "true" lets POLLBRIDGE_URL be plain http to a non-loopback host (local
                                development only: the token would travel in clear)
"""

from __future__ import annotations

import http.client
import json
import logging
import os
import re
import signal
import socket
import socketserver
import ssl
import sys
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import FrameType
from typing import cast
from urllib.parse import urlsplit

log = logging.getLogger("pollbridge-engine")

# A Function URL request is at most 6 MB and Lambda hands the body to the function base64-encoded, so
# 3/4 of it is the most raw body that can arrive; 64 KiB stays free for the headers.
MAX_BODY_BYTES = 6 * 1024 * 1024 * 3 // 4 - 64 * 1024
MAX_REPLY_BYTES = 8 * 1024 * 1024  # a Function URL answers at most 6 MB: more is not a Function URL
MAX_READY_REPLY_BYTES = 64 * 1024
DEFAULT_TIMEOUT_S = 330.0
CONNECT_TIMEOUT_S = 10.0
READY_TIMEOUT_S = 5.0
HEARTBEAT_TIMEOUT_S = 5.0
CLIENT_TIMEOUT_S = 60.0  # a toolkit that stops sending its body mid-way for this long is gone
LINGER_S = 2.0
BLOCK = 64 * 1024
HEARTBEAT_SCAN_BYTES = 256 * 1024
LOCAL_HOSTS = frozenset({"localhost", "127.0.0.1", "::1"})
ROUTES = {"/ready": "GET", "/process": "POST"}

# The `heartbeatWebhook` part of a multipart form: its Content-Disposition, any other part headers, the
# blank line, then a one-line value. Go's multipart writer (the toolkit's) writes exactly this shape.
HEARTBEAT_FIELD = re.compile(
    rb'(?i:content-disposition):[^\r\n]*;[ \t]*name="heartbeatWebhook"[^\r\n]*\r\n'
    rb"(?:[^\r\n]+\r\n)*"
    rb"\r\n"
    rb"([^\r\n]{1,4096})\r\n"
)
CHUNK_SIZE = re.compile(rb"[0-9A-Fa-f]{1,16}")


class ConfigError(Exception):
    """The environment cannot run the forwarder: exit at start, naming the variable."""


@dataclass(frozen=True)
class Config:
    scheme: str
    host: str
    port: int | None
    base_path: str  # without a trailing slash: "" for a Function URL
    token: str
    listen_host: str
    listen_port: int
    timeout_s: float
    max_body_bytes: int
    heartbeat_s: float

    @property
    def upstream(self) -> str:
        """The Function URL as logged and named in errors (it holds no secret)."""
        port = f":{self.port}" if self.port is not None else ""
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{self.scheme}://{host}{port}{self.base_path}"


def load_config(env: Mapping[str, str]) -> Config:
    """Every setting, checked once at start, so that a bad deployment fails before the toolkit asks."""
    url = env.get("POLLBRIDGE_URL", "").strip()
    if not url:
        raise ConfigError("POLLBRIDGE_URL is not set: give the stack's WebhookUrl (https://<id>.lambda-url...)")
    parts = urlsplit(url)
    try:
        port = parts.port
    except ValueError:
        raise ConfigError("POLLBRIDGE_URL: the port is not a number between 0 and 65535") from None
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ConfigError("POLLBRIDGE_URL must be an http(s) URL with a host, such as the stack's WebhookUrl")
    if parts.username is not None or parts.query or parts.fragment:
        raise ConfigError("POLLBRIDGE_URL must have no user, query or fragment: the stack's WebhookUrl as is")
    if parts.scheme == "http" and parts.hostname not in LOCAL_HOSTS and not _flag(env, "POLLBRIDGE_ALLOW_HTTP"):
        raise ConfigError(
            "POLLBRIDGE_URL is plain http to a remote host: the token would travel in clear; use https "
            "(a Function URL always is) or set POLLBRIDGE_ALLOW_HTTP=true for local development"
        )
    return Config(
        scheme=parts.scheme,
        host=parts.hostname,
        port=port,
        base_path=parts.path.rstrip("/"),
        token=_token(env),
        listen_host=env.get("POLLBRIDGE_LISTEN_HOST", "").strip() or "127.0.0.1",
        listen_port=_number(env, "PORT", 8080, int, 0, 65535),
        timeout_s=_number(env, "POLLBRIDGE_TIMEOUT_SECONDS", DEFAULT_TIMEOUT_S, float, 0.001, 3600.0),
        max_body_bytes=_number(env, "POLLBRIDGE_MAX_BODY_BYTES", MAX_BODY_BYTES, int, 1, 1 << 40),
        heartbeat_s=_number(env, "POLLBRIDGE_HEARTBEAT_SECONDS", 30.0, float, 0.0, 86400.0),
    )


def _token(env: Mapping[str, str]) -> str:
    """The token, from the variable or the file (trimmed); its value is never printed."""
    given, path = env.get("POLLBRIDGE_TOKEN", ""), env.get("POLLBRIDGE_TOKEN_FILE", "")
    if given and path:
        raise ConfigError("set POLLBRIDGE_TOKEN or POLLBRIDGE_TOKEN_FILE, not both")
    name = "POLLBRIDGE_TOKEN_FILE" if path else "POLLBRIDGE_TOKEN"
    if path:
        try:
            with open(path, encoding="utf-8") as file:
                given = file.read()
        except (OSError, UnicodeDecodeError) as error:
            reason = error.strerror if isinstance(error, OSError) else "not UTF-8 text"
            raise ConfigError(f"POLLBRIDGE_TOKEN_FILE: cannot read {path!r}: {reason}") from None
    token = given.strip()
    if not token:
        raise ConfigError(f"{name} is empty or not set: the webhook's bearer token is required")
    if not all("!" <= character <= "~" for character in token):
        raise ConfigError(f"{name}: the token must be printable ASCII without spaces (it goes in a header)")
    return token


def _number[N: (int, float)](env: Mapping[str, str], name: str, default: N, kind: type[N], low: N, high: N) -> N:
    text = env.get(name, "").strip()
    if not text:
        return default
    try:
        value = kind(text)
    except ValueError:
        raise ConfigError(f"{name}={text!r} is not {'a whole number' if kind is int else 'a number'}") from None
    if not low <= value <= high:  # also refuses nan
        raise ConfigError(f"{name}={text!r} is out of range ({low} to {high})")
    return value


def _flag(env: Mapping[str, str], name: str) -> bool:
    return env.get(name, "").strip().lower() in ("1", "true", "yes")


def find_heartbeat_webhook(head: bytes) -> str | None:
    """The `heartbeatWebhook` form field's value, if the form's beginning holds it whole."""
    match = HEARTBEAT_FIELD.search(head)
    if match is None:
        return None
    try:
        return match.group(1).decode("utf-8").strip() or None
    except UnicodeDecodeError:
        return None


def local_heartbeat_url(url: str) -> bool:
    """Whether a heartbeat URL is container-local: the toolkit serves heartbeats in the container, and
    anything else would make this process call a host the request names."""
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 - raises ValueError on a bad port
    except ValueError:
        return False
    return parts.scheme in ("http", "https") and parts.username is None and parts.hostname in LOCAL_HOSTS


class Flight:
    """One /process call on its way: bytes forwarded so far, and the heartbeat URL once the form's
    beginning has gone past (scanned as it streams, never buffered beyond HEARTBEAT_SCAN_BYTES)."""

    def __init__(self, multipart: bool) -> None:
        self.forwarded = 0
        self.heartbeat_url: str | None = None
        self._head = bytearray()
        self._scanning = multipart

    def passed(self, block: bytes) -> None:
        self.forwarded += len(block)
        if not self._scanning:
            return
        self._head += block[: HEARTBEAT_SCAN_BYTES - len(self._head)]
        found = find_heartbeat_webhook(bytes(self._head))
        if found is None and len(self._head) < HEARTBEAT_SCAN_BYTES:
            return
        self._scanning = False
        self._head = bytearray()
        if found is None:
            return
        if local_heartbeat_url(found):
            self.heartbeat_url = found
        else:
            log.warning("heartbeatWebhook ignored: host %r is not container-local", urlsplit(found).hostname)


def send_heartbeat(url: str, bytes_read: int) -> None:
    """One heartbeat, with the fields the toolkit documents; a failure is logged and otherwise ignored."""
    parts = urlsplit(url)
    body = json.dumps({
        "status": "running",
        "bytesRead": bytes_read,
        "bytesWritten": 0,
        "messagesWritten": 0,
        "infoMsg": "waiting for pollbridge",
    }).encode()  # fmt: skip
    host, port = parts.hostname or "localhost", parts.port
    connection = (
        http.client.HTTPSConnection(host, port, timeout=HEARTBEAT_TIMEOUT_S)
        if parts.scheme == "https"
        else http.client.HTTPConnection(host, port, timeout=HEARTBEAT_TIMEOUT_S)
    )
    path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    try:
        connection.request("POST", path, body, {"Content-Type": "application/json"})
        response = connection.getresponse()
        response.read(MAX_READY_REPLY_BYTES)
        if not 200 <= response.status < 300:
            log.warning("heartbeat answered %d (ignored)", response.status)
    except (OSError, http.client.HTTPException) as error:
        log.warning("heartbeat failed (ignored): %s", describe(error))
    finally:
        connection.close()


def describe(error: BaseException) -> str:
    """A network failure in a few words: the text a toolkit reports as the chunk's failure, so no
    traceback and nothing but the error's kind and the system's message."""
    match error:
        case socket.gaierror():
            return f"DNS lookup failed ({error.strerror or error})"
        case ssl.SSLCertVerificationError():
            return f"TLS certificate not trusted ({error.verify_message})"
        case ssl.SSLError():
            return f"TLS error ({error.reason or error})"
        case http.client.RemoteDisconnected():
            return "the connection closed before a response"
        case ConnectionRefusedError():
            return "connection refused"
        case ConnectionResetError() | ConnectionAbortedError() | BrokenPipeError():
            return "the connection was reset"
        case TimeoutError():
            return "timed out"
        case http.client.IncompleteRead():
            return "the reply ended early"
        case http.client.HTTPException():
            detail = str(error)[:200]
            return f"an invalid HTTP reply ({type(error).__name__}{': ' if detail else ''}{detail})"
        case OSError():
            return error.strerror or type(error).__name__
    return type(error).__name__


class RefusedError(Exception):
    """An answer decided before anything reached pollbridge (a bad or too large request)."""

    def __init__(self, status: int, text: str, unread: int = 0) -> None:
        super().__init__(text)
        self.status = status
        self.text = text
        self.unread = unread  # bytes the client may still be sending


class ClientGoneError(Exception):
    """The toolkit stopped sending its request mid-way: nothing is forwarded or answered."""


class Forwarder(ThreadingHTTPServer):
    """The server: one thread per request, and on shutdown the requests in flight are finished."""

    daemon_threads = False
    block_on_close = True

    def __init__(self, config: Config) -> None:
        self.config = config
        self.tls = ssl.create_default_context() if config.scheme == "https" else None
        if ":" in config.listen_host:
            self.address_family = socket.AF_INET6
        super().__init__((config.listen_host, config.listen_port), Handler)

    def server_bind(self) -> None:
        """HTTPServer's, without its reverse DNS lookup of the address (slow where DNS is)."""
        socketserver.TCPServer.server_bind(self)
        host, port = self.server_address[:2]
        self.server_name, self.server_port = str(host), int(port)

    def connect(self, connect_timeout: float, timeout: float) -> http.client.HTTPConnection:
        """A connection to the Function URL: a short timeout to connect (and TLS), then `timeout`
        for each read; certificates are checked against the system's store (SSL_CERT_FILE honoured)."""
        config = self.config
        if self.tls is not None:
            connection: http.client.HTTPConnection = http.client.HTTPSConnection(
                config.host, config.port, timeout=connect_timeout, context=self.tls
            )
        else:
            connection = http.client.HTTPConnection(config.host, config.port, timeout=connect_timeout)
        try:
            connection.connect()
            connection.sock.settimeout(timeout)
        except BaseException:
            connection.close()
            raise
        return connection


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # to read chunked bodies and Expect: 100-continue; one request per connection
    server_version = "pollbridge-engine"
    sys_version = ""
    timeout = CLIENT_TIMEOUT_S
    error_content_type = "text/plain; charset=utf-8"
    error_message_format = "%(code)d %(message)s\n"

    def setup(self) -> None:
        super().setup()
        self._started = time.monotonic()
        self._status: int | None = None
        self._bytes_in = 0
        self._bytes_out = 0

    @property
    def forwarder(self) -> Forwarder:
        return cast(Forwarder, self.server)

    @property
    def route(self) -> str:
        return urlsplit(self.path).path

    # -- dispatch --------------------------------------------------------------------------------

    def _dispatch(self) -> None:
        try:
            self._serve()
        except ClientGoneError:
            log.warning("%s %s: the client closed its request before the end; nothing forwarded", *self._what())
        except Exception:
            log.exception("%s %s: unexpected error", *self._what())
            if self._status is None:
                self._text(500, "internal_error: the pollbridge engine failed unexpectedly (see its logs)\n")
        finally:
            self._log_line()
            self.close_connection = True

    do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = do_HEAD = do_OPTIONS = do_TRACE = do_CONNECT = _dispatch

    def _serve(self) -> None:
        method = ROUTES.get(self.route)
        if method is None:
            self._text(404, f"not found: this engine serves {', '.join(ROUTES)}\n")
        elif self.command != method:
            self._text(405, f"method not allowed: {self.route} takes {method}\n", {"Allow": method})
        elif method == "GET":
            self._ready()
        else:
            try:
                self._process()
            except RefusedError as refused:
                self._text(refused.status, refused.text)
                if refused.unread:
                    self._discard(refused.unread)

    def handle_expect_100(self) -> bool:
        """Refuse an announced over-limit body before the client sends it."""
        if self.command == "POST" and self.route == "/process":
            try:
                length = self._content_length()
            except RefusedError:
                length = None  # answered once the body framing is checked in earnest
            if length is not None and length > self.forwarder.config.max_body_bytes:
                self._text(413, self._too_large())
                self._log_line()
                self.close_connection = True
                return False
        return super().handle_expect_100()

    # -- GET /ready ------------------------------------------------------------------------------

    def _ready(self) -> None:
        config = self.forwarder.config
        connection: http.client.HTTPConnection | None = None
        try:
            connection = self.forwarder.connect(READY_TIMEOUT_S, READY_TIMEOUT_S)
            connection.request("GET", f"{config.base_path}/ready", headers=self._upstream_headers())
            response = connection.getresponse()
            body = _read_bounded(response, MAX_READY_REPLY_BYTES)
        except (OSError, http.client.HTTPException) as error:
            log.warning("pollbridge not ready: %s (%s)", describe(error), config.upstream)
            self._text(503, f"pollbridge could not be reached: {describe(error)} ({config.upstream})\n")
            return
        finally:
            if connection is not None:
                connection.close()
        self._relay(response, body)

    # -- POST /process ---------------------------------------------------------------------------

    def _process(self) -> None:
        config = self.forwarder.config
        length = self._content_length()
        chunked = self._chunked()
        if chunked and length is not None:
            raise RefusedError(400, "bad request: both Content-Length and Transfer-Encoding\n")
        if length is not None and length > config.max_body_bytes:
            raise RefusedError(413, self._too_large(), unread=length)
        buffered = self._read_chunked(config.max_body_bytes) if chunked else None
        size = len(buffered) if buffered is not None else (length or 0)

        flight = Flight(multipart=(self.headers.get("Content-Type") or "").lower().startswith("multipart/"))
        done = threading.Event()
        if config.heartbeat_s > 0:
            threading.Thread(target=_heartbeats, args=(flight, done, config.heartbeat_s), daemon=True).start()
        connection: http.client.HTTPConnection | None = None
        phase = "connecting"
        try:
            connection = self.forwarder.connect(CONNECT_TIMEOUT_S, config.timeout_s)
            phase = "sending the request"
            connection.putrequest("POST", f"{config.base_path}/process")  # with Accept-Encoding: identity
            for name, value in self._upstream_headers().items():
                connection.putheader(name, value)
            connection.putheader("Content-Length", str(size))
            connection.endheaders()
            if buffered is not None:
                connection.send(buffered)
                flight.passed(buffered)
            else:
                self._stream(connection, size, flight)
            phase = "waiting for the reply"
            response = connection.getresponse()
            body = _read_bounded(response, MAX_REPLY_BYTES)
        except (OSError, http.client.HTTPException) as error:
            unread = 0 if buffered is not None else size - self._bytes_in
            early = _early_reply(connection, error) if phase == "sending the request" else None
            if early is None:
                reason = describe(error)
                if isinstance(error, TimeoutError) and phase == "waiting for the reply":
                    reason = f"no reply within {config.timeout_s:g} s"
                log.warning("POST /process not delivered: %s while %s (%s)", reason, phase, config.upstream)
                self._text(502, f"internal_error: pollbridge could not be reached: {reason} ({phase})\n")
            else:
                self._relay(*early)
            if unread:
                self._discard(unread)
            return
        finally:
            done.set()
            if connection is not None:
                connection.close()
        self._relay(response, body)

    def _stream(self, connection: http.client.HTTPConnection, length: int, flight: Flight) -> None:
        remaining = length
        while remaining:
            try:
                block = self.rfile.read1(min(BLOCK, remaining))
            except OSError:
                raise ClientGoneError from None
            if not block:
                raise ClientGoneError
            self._bytes_in += len(block)
            connection.send(block)
            flight.passed(block)
            remaining -= len(block)

    def _read_chunked(self, limit: int) -> bytes:
        """A chunked body, whole (it is then sent with a Content-Length); 413 as soon as it would pass
        the limit, before that chunk is read."""
        body = bytearray()
        try:
            while True:
                line = self.rfile.readline(1024)
                size_text = line.split(b";", 1)[0].strip()
                if not line.endswith(b"\n") or not CHUNK_SIZE.fullmatch(size_text):
                    if not line:
                        raise ClientGoneError
                    raise RefusedError(400, "bad request: malformed chunked body\n")
                size = int(size_text, 16)
                if size == 0:
                    for _ in range(64):  # trailers, dropped
                        if self.rfile.readline(8192) in (b"\r\n", b"\n", b""):
                            return bytes(body)
                    raise RefusedError(400, "bad request: too many trailers\n")
                if len(body) + size > limit:
                    raise RefusedError(413, self._too_large(), unread=limit)
                data = self.rfile.read(size)
                self._bytes_in += len(data)
                if len(data) < size:
                    raise ClientGoneError
                body += data
                if self.rfile.readline(3) not in (b"\r\n", b"\n"):
                    raise RefusedError(400, "bad request: malformed chunked body\n")
        except OSError:
            raise ClientGoneError from None

    def _content_length(self) -> int | None:
        values = self.headers.get_all("Content-Length") or []
        if not values:
            return None
        if len(set(values)) != 1 or not values[0].strip().isdigit():
            raise RefusedError(400, "bad request: invalid Content-Length\n")
        return int(values[0])

    def _chunked(self) -> bool:
        codings = [c.strip().lower() for c in ",".join(self.headers.get_all("Transfer-Encoding") or []).split(",")]
        codings = [c for c in codings if c]
        if not codings:
            return False
        if codings != ["chunked"]:
            raise RefusedError(501, "not implemented: only Transfer-Encoding: chunked is accepted\n")
        return True

    def _too_large(self) -> str:
        limit = self.forwarder.config.max_body_bytes
        return (
            f"too_large: the request is over {limit} bytes, the most a Function URL takes; send the chunk "
            "by cacheURI (VERITONE_DISABLE_CHUNK_DOWNLOAD=true) or smaller chunks\n"
        )

    def _upstream_headers(self) -> dict[str, str]:
        """The toolkit's Content-Type and User-Agent, and the token; nothing else of the request goes on
        (an Authorization header it carried is replaced)."""
        headers = {"Authorization": f"Bearer {self.forwarder.config.token}"}
        content_type = self.headers.get("Content-Type")
        if content_type:
            headers["Content-Type"] = content_type
        headers["User-Agent"] = self.headers.get("User-Agent") or "pollbridge-engine"
        return headers

    # -- answers ---------------------------------------------------------------------------------

    def _relay(self, response: http.client.HTTPResponse, body: bytes) -> None:
        """The Function URL's status, Content-Type and body, unchanged; a redirect is passed on, not followed."""
        extra = {name: value for name in ("Location", "Retry-After") if (value := response.getheader(name))}
        self._send(response.status, body, response.getheader("Content-Type"), extra)

    def _text(self, status: int, text: str, extra: dict[str, str] | None = None) -> None:
        self._send(status, text.encode(), "text/plain; charset=utf-8", extra or {})

    def _send(self, status: int, body: bytes, content_type: str | None, extra: dict[str, str]) -> None:
        self._status = status
        self.send_response(status)
        if content_type:
            self.send_header("Content-Type", content_type)
        for name, value in extra.items():
            self.send_header(name, value)
        bodyless = status in (204, 304) or status < 200
        if not bodyless:
            self.send_header("Content-Length", str(len(body)))
        self.send_header("Connection", "close")
        self.end_headers()
        if not bodyless and self.command != "HEAD":
            self.wfile.write(body)
            self._bytes_out += len(body)
        self.close_connection = True

    def _discard(self, budget: int) -> None:
        """Read and drop, briefly, what the client is still sending after an early answer: closing a
        socket with unread data resets the connection, which can destroy the answer before it is read."""
        try:
            self.wfile.flush()
            self.connection.shutdown(socket.SHUT_WR)
            self.connection.settimeout(LINGER_S)
            deadline = time.monotonic() + LINGER_S
            while budget > 0 and time.monotonic() < deadline:
                data = self.rfile.read1(min(BLOCK, budget))
                if not data:
                    break
                budget -= len(data)
        except OSError:
            pass

    # -- logs ------------------------------------------------------------------------------------

    def _what(self) -> tuple[str, str]:
        return self.command, self.route

    def _log_line(self) -> None:
        elapsed_ms = (time.monotonic() - self._started) * 1000
        status = self._status if self._status is not None else "-"
        log.info("%s %s %s in=%dB out=%dB %.0fms", *self._what(), status, self._bytes_in, self._bytes_out, elapsed_ms)

    def log_request(self, code: int | str = "-", size: int | str = "-") -> None:
        pass  # one line per request, from _log_line

    def log_message(self, format: str, *args: object) -> None:  # noqa: A002 - the base class's name
        log.warning("%s: %s", self.client_address[0], format % args)


def _heartbeats(flight: Flight, done: threading.Event, every_s: float) -> None:
    """While the call is in flight: a heartbeat every `every_s`, once the form has named where."""
    while not done.wait(every_s):
        url = flight.heartbeat_url
        if url is not None:
            send_heartbeat(url, flight.forwarded)


def _read_bounded(response: http.client.HTTPResponse, limit: int) -> bytes:
    body = bytearray()
    while block := response.read(min(BLOCK, limit + 1 - len(body))):
        body += block
        if len(body) > limit:
            raise http.client.HTTPException(f"a reply over {limit} bytes")
    return bytes(body)


def _early_reply(
    connection: http.client.HTTPConnection | None, error: BaseException
) -> tuple[http.client.HTTPResponse, bytes] | None:
    """The answer the server sent before it stopped reading our request (a 413, say), if there is one."""
    if connection is None or connection.sock is None or not isinstance(error, ConnectionError):
        return None
    try:
        connection.sock.settimeout(LINGER_S)  # it is there already, or it is not coming
        response = connection.getresponse()
        return response, _read_bounded(response, MAX_REPLY_BYTES)
    except (OSError, http.client.HTTPException, ValueError):
        return None


def main() -> int:
    logging.basicConfig(stream=sys.stderr, level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    try:
        config = load_config(os.environ)
        server = Forwarder(config)
    except ConfigError as error:
        print(f"pollbridge-engine: configuration error: {error}", file=sys.stderr)
        return 2
    except OSError as error:
        print(f"pollbridge-engine: cannot listen (PORT, POLLBRIDGE_LISTEN_HOST): {describe(error)}", file=sys.stderr)
        return 2

    def stop(signum: int, frame: FrameType | None) -> None:
        log.info("%s: no new requests; finishing those in flight", signal.Signals(signum).name)
        threading.Thread(target=server.shutdown, daemon=True).start()  # shutdown() waits for serve_forever

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    host, port = str(server.server_address[0]), int(server.server_address[1])
    shown = f"[{host}]" if ":" in host else host
    log.info("listening on http://%s:%d, forwarding to %s", shown, port, config.upstream)
    try:
        server.serve_forever(poll_interval=0.05)
    finally:
        server.server_close()  # joins the request threads
    log.info("stopped")
    return 0


if __name__ == "__main__":
    sys.exit(main())
