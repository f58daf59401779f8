"""Requests to vetted addresses only: the http(s) side of media fetching and heartbeats.

A URL is taken apart into a `Hop` (scheme, IDNA host, port, target); every address its host resolves
to is vetted (address_guard), and the connection dials a vetted address itself, with the URL's name
in the Host header and as the TLS server name (SNI and certificate check): urllib3's connection
classes (installed with botocore, present in the Lambda runtime) take the two separately. One
`Deadline` covers a whole fetch (DNS, connect, TLS, headers, body, every redirect hop): when it runs
out a watchdog shuts the connections down, so no blocking read outlives it.

Imported only where an http(s) URL is fetched or checked (a cold start without one never pays for it).
"""

from __future__ import annotations

import contextlib
import http.client
import socket
import ssl
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import urljoin, urlsplit

import urllib3.connection
import urllib3.exceptions
import urllib3.response
from urllib3.util.ssl_match_hostname import CertificateError

from pollbridge.adapters.address_guard import IPAddress, Resolver, vet
from pollbridge.adapters.http_policy import declared_over, is_transient, read_bounded, retry_after_s
from pollbridge.errors import PermanentError, TransientError
from pollbridge.models import TaskFailureReason

type ConnectTo = Callable[[IPAddress, int], tuple[str, int]]

_REDIRECTS = frozenset({301, 302, 303, 307, 308})
_REASONS: dict[int, TaskFailureReason] = {
    404: "url_not_found",
    410: "url_not_found",
    401: "url_not_allowed",
    403: "url_not_allowed",
}
DEFAULT_PORTS = {"http": 80, "https": 443}
_USER_AGENT = "pollbridge-media/1"


def get_body(
    url: str,
    *,
    max_bytes: int,
    timeout_s: float,
    max_redirects: int,
    resolve: Resolver,
    allow_private: bool,
    connect_to: ConnectTo | None,
    too_large: Callable[[str], PermanentError],
) -> bytes:
    """GET `url`'s body, at most `max_bytes`, following http(s) redirects (at most `max_redirects`),
    every hop vetted, all within `timeout_s`. `connect_to` is for tests only (see MediaFetcher)."""
    deadline = Deadline(timeout_s)
    try:
        for _ in range(max_redirects + 1):
            hop = Hop.parse(url)
            addresses = vet(hop.host, hop.port, deadline.bounded(resolve, hop), allow_private)
            conn, response = _get(hop, addresses, deadline, connect_to)
            try:
                if response.status in _REDIRECTS:
                    url = _next_hop(url, hop, response.headers.get("Location"))
                    continue
                _check_status(response.status, hop, response.headers.get("Retry-After"))
                return _read_body(response, hop, deadline, max_bytes, too_large)
            except (urllib3.exceptions.HTTPError, http.client.HTTPException, OSError) as error:
                raise _transport_error(error, hop, deadline) from None
            finally:
                response.close()
                conn.close()
        raise PermanentError(
            f"cacheURI redirected more than {max_redirects} times (next: {Hop.describe(url)})", "url_error"
        )
    finally:
        deadline.close()


def _get(
    hop: Hop, addresses: list[IPAddress], deadline: Deadline, connect_to: ConnectTo | None
) -> tuple[urllib3.connection.HTTPConnection, urllib3.response.BaseHTTPResponse]:
    """Connects to the vetted addresses in turn (the first that answers) and sends the request."""
    unreachable: Exception | None = None
    for address in addresses:
        dial_host, dial_port = connect_to(address, hop.port) if connect_to else (str(address), hop.port)
        conn = connection(hop, dial_host, dial_port, deadline)
        try:
            try:
                conn.connect()
            except (urllib3.exceptions.NewConnectionError, urllib3.exceptions.ConnectTimeoutError) as error:
                if deadline.expired():
                    raise
                unreachable = error  # try the next address (e.g. IPv6 listed but not routed)
                conn.close()
                continue
            conn.request("GET", hop.target, headers=hop.headers(), preload_content=False, decode_content=False)
            return conn, conn.getresponse()
        except (urllib3.exceptions.HTTPError, http.client.HTTPException, OSError, CertificateError) as error:
            conn.close()
            raise _transport_error(error, hop, deadline) from None
    raise _transport_error(unreachable or OSError("no address"), hop, deadline)


def _read_body(
    response: urllib3.response.BaseHTTPResponse,
    hop: Hop,
    deadline: Deadline,
    max_bytes: int,
    too_large: Callable[[str], PermanentError],
) -> bytes:
    if declared_over(response.headers, max_bytes):
        raise too_large(f"cacheURI media ({response.headers.get('Content-Length', '').strip()} bytes at {hop.display})")
    answer = read_bounded(response.read1, max_bytes, deadline.expired)
    if answer.outcome == "too large":
        raise too_large(f"cacheURI media at {hop.display}")
    if answer.outcome == "late" or deadline.expired():  # the watchdog's shutdown can look like the end of a body
        raise deadline.error(hop)
    return answer.body


@dataclass(frozen=True)
class Hop:
    """One request of a fetch: where it goes and how it is described (never with the query)."""

    scheme: str
    host: str  # ASCII (IDNA), lower case, no brackets
    port: int
    target: str  # path and query, as sent
    display: str  # scheme://host[:port]/path, for messages

    @classmethod
    def parse(cls, url: str) -> Hop:
        parts = urlsplit(url)
        try:
            port = parts.port or DEFAULT_PORTS[parts.scheme]
            host = (parts.hostname or "").encode("idna").decode("ascii")
        except (ValueError, KeyError, UnicodeError):
            where = cls.describe(url)
            raise PermanentError(f"cacheURI {where} is not a valid http(s) URL", "url_not_allowed") from None
        if not host:
            raise PermanentError(f"cacheURI {cls.describe(url)} has no host", "url_not_allowed")
        target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
        return cls(parts.scheme, host, port, target, cls.describe(url))

    @staticmethod
    def describe(url: str) -> str:
        parts = urlsplit(url)
        host = parts.hostname or ""
        where = f"[{host}]" if ":" in host else host
        try:
            port = f":{parts.port}" if parts.port else ""
        except ValueError:
            port = ""
        return f"{parts.scheme}://{where}{port}{parts.path}"

    def headers(self) -> dict[str, str]:
        name = f"[{self.host}]" if ":" in self.host else self.host
        host = name if self.port == DEFAULT_PORTS[self.scheme] else f"{name}:{self.port}"
        return {"Host": host, "User-Agent": _USER_AGENT, "Accept": "*/*", "Accept-Encoding": "identity"}


def _next_hop(url: str, hop: Hop, location: str | None) -> str:
    if not location:
        raise PermanentError(f"cacheURI {hop.display} redirected without a Location", "url_error")
    following = urljoin(url, location.strip())
    scheme = urlsplit(following).scheme
    if scheme not in DEFAULT_PORTS:
        raise PermanentError(
            f"cacheURI {hop.display} redirected to {Hop.describe(following)}: only http and https are followed",
            "url_not_allowed",
        )
    return following


def _check_status(status: int, hop: Hop, retry_after: str | None) -> None:
    if 200 <= status < 300:
        return
    message = f"cacheURI {hop.display} answered {status}"
    if is_transient(status):
        raise TransientError(message, retry_after_s=retry_after_s(retry_after))
    raise PermanentError(message, _REASONS.get(status, "url_error"))


def _transport_error(error: BaseException, hop: Hop, deadline: Deadline) -> PermanentError | TransientError:
    if deadline.expired():
        return deadline.error(hop)
    if isinstance(error, ssl.SSLCertVerificationError | CertificateError):
        return PermanentError(f"cacheURI {hop.display}: TLS certificate not valid for {hop.host}", "url_not_allowed")
    if isinstance(error, urllib3.exceptions.NewConnectionError | ConnectionError):
        return TransientError(f"cacheURI {hop.display} unreachable: {type(error).__name__}")
    if isinstance(error, urllib3.exceptions.TimeoutError | TimeoutError):
        return TransientError(f"cacheURI {hop.display} timed out")
    return TransientError(f"cacheURI {hop.display} failed: {type(error).__name__}")


class _HTTPConnection(urllib3.connection.HTTPConnection):
    deadline: Deadline

    def _new_conn(self) -> socket.socket:
        sock = super()._new_conn()
        self.deadline.watch(sock)
        return sock


class _HTTPSConnection(urllib3.connection.HTTPSConnection):
    deadline: Deadline

    def _new_conn(self) -> socket.socket:  # the raw TCP socket, before the TLS handshake
        sock = super()._new_conn()
        self.deadline.watch(sock)
        return sock


def connection(hop: Hop, dial_host: str, dial_port: int, deadline: Deadline) -> urllib3.connection.HTTPConnection:
    timeout = deadline.remaining(hop)
    conn: _HTTPConnection | _HTTPSConnection
    if hop.scheme == "https":
        conn = _HTTPSConnection(
            dial_host, dial_port, timeout=timeout, cert_reqs="CERT_REQUIRED", server_hostname=hop.host
        )
    else:
        conn = _HTTPConnection(dial_host, dial_port, timeout=timeout)
    conn.deadline = deadline
    return conn


class Deadline:
    """One clock for the whole fetch (real time: network I/O, not the shared virtual clock).
    When it runs out, a watchdog shuts down every connection the fetch opened: a blocked read
    (TLS handshake, headers, a dripping body) returns at once. It shuts down duplicates of the
    sockets, which end the same TCP connections but are closed only here, so a descriptor number
    reused after a connection closed is never touched."""

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds
        self._at = time.monotonic() + seconds
        self._lock = threading.Lock()
        self._watched: list[socket.socket] = []
        self._fired = False
        self._timer = threading.Timer(seconds, self._fire)
        self._timer.daemon = True
        self._timer.start()

    def expired(self) -> bool:
        return self._fired or time.monotonic() >= self._at

    def remaining(self, hop: Hop) -> float:
        left = self._at - time.monotonic()
        if left <= 0 or self._fired:
            raise self.error(hop)
        return left

    def bounded(self, resolve: Resolver, hop: Hop) -> Resolver:
        """`resolve` within what is left of the deadline (getaddrinfo itself takes no timeout): it runs
        in a daemon thread, and a lookup still pending at the deadline is left to finish alone."""

        def within_deadline(host: str, port: int) -> list[IPAddress]:
            answer: list[Any] = []

            def lookup() -> None:
                try:
                    answer.append(list(resolve(host, port)))
                except BaseException as error:  # handed to the caller's thread below
                    answer.append(error)

            worker = threading.Thread(target=lookup, name="media-resolve", daemon=True)
            worker.start()
            worker.join(self.remaining(hop))
            if not answer:
                raise self.error(hop)
            if isinstance(answer[0], BaseException):
                raise answer[0]
            return list(answer[0])

        return within_deadline

    def error(self, hop: Hop) -> TransientError:
        return TransientError(f"cacheURI {hop.display}: the fetch took longer than {self.seconds:g} s")

    def watch(self, sock: socket.socket) -> None:
        with self._lock:  # shutdown and close never race: both happen under the lock
            self._watched.append(sock.dup())
            if self._fired:
                _shut(self._watched[-1])

    def _fire(self) -> None:
        with self._lock:
            self._fired = True
            for sock in self._watched:
                _shut(sock)

    def close(self) -> None:
        self._timer.cancel()
        with self._lock:
            for sock in self._watched:
                sock.close()
            self._watched = []


def _shut(sock: socket.socket) -> None:
    with contextlib.suppress(OSError):  # already closed by the peer
        sock.shutdown(socket.SHUT_RDWR)
