"""Fetch a chunk's bytes from its cacheURI (http, https, s3) or its inline text content.

An http(s) cacheURI cannot be turned inward: on every hop the host is resolved once, every address
is vetted (address_guard: no loopback, private, link-local, metadata, ... addresses), and the
connection goes to a vetted address, with the URL's name in the Host header and as the TLS server
name (SNI and certificate check). Redirects are followed by hand, http/https only, at most
`max_redirects`. One deadline covers the whole fetch (connect, TLS, headers, body, every hop): when
it runs out a watchdog shuts the connection down, so no blocking read outlives it, however slowly a
server drips. The size cap holds while streaming: never more than max_bytes + 1 bytes are read.
An s3:// cacheURI is read only from the configured media bucket: its existence and size are checked
at once (HeadObject), its bytes read on first use of `Media.body`, and the Media carries its `s3_uri`
so a provider whose service reads S3 itself can hand it the object where it lies.

urllib3 (installed with botocore, present in the Lambda runtime) makes the connections: its
connection classes take the address to dial and the server name for TLS separately.
"""

from __future__ import annotations

import contextlib
import http.client
import socket
import ssl
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any
from urllib.parse import urljoin, urlsplit

import urllib3.connection
import urllib3.exceptions
import urllib3.response
from botocore.exceptions import BotoCoreError, ClientError
from urllib3.util.ssl_match_hostname import CertificateError

from pollbridge.adapters.address_guard import IPAddress, Resolver, literal_address, system_resolve, vet
from pollbridge.errors import InvalidEventError, PermanentError, TransientError
from pollbridge.models import MediaChunk, TaskFailureReason
from pollbridge.ports import Media

type ConnectTo = Callable[[IPAddress, int], tuple[str, int]]

_REDIRECTS = frozenset({301, 302, 303, 307, 308})
_TRANSIENT = frozenset({429, 500, 502, 503, 504})
_REASONS: dict[int, TaskFailureReason] = {
    404: "url_not_found",
    410: "url_not_found",
    401: "url_not_allowed",
    403: "url_not_allowed",
}
_DEFAULT_PORTS = {"http": 80, "https": 443}
_READ_SIZE = 64 * 1024
_USER_AGENT = "pollbridge-media/1"


class MediaFetcher:
    """`resolve(host, port)` gives a name's addresses (default: getaddrinfo). `connect_to` is for
    tests only: it maps a vetted (address, port) to where to really dial, so a test can give a fake
    public address to a server on loopback; None (production) dials the vetted address itself."""

    def __init__(
        self,
        s3_client_factory: Callable[[], Any],
        max_bytes: int,
        *,
        media_bucket: str | None = None,
        allow_private_hosts: bool = False,
        timeout_s: float = 30.0,
        max_redirects: int = 3,
        resolve: Resolver | None = None,
        connect_to: ConnectTo | None = None,
    ) -> None:
        self._s3 = s3_client_factory  # called lazily: only s3:// chunks need a client
        self._max_bytes = max_bytes
        self._media_bucket = media_bucket
        self._allow_private = allow_private_hosts
        self._timeout_s = timeout_s
        self._max_redirects = max_redirects
        self._resolve: Resolver = resolve or system_resolve
        self._connect_to = connect_to

    def check(self, chunk: MediaChunk) -> None:
        """What can be refused without a network call (a literal address or loopback name, a bucket
        other than the media bucket) is refused as a bad event, before anything is started."""
        if chunk.cacheURI is None:
            return
        parts = urlsplit(chunk.cacheURI)
        try:
            if parts.scheme == "s3":
                self._allowed_bucket(parts.netloc)
            elif parts.scheme in _DEFAULT_PORTS:
                hop = _Hop.parse(chunk.cacheURI)
                if literal_address(hop.host) is not None or hop.host.rstrip(".").split(".")[-1] == "localhost":
                    vet(hop.host, hop.port, self._resolve, self._allow_private)
        except PermanentError as error:
            raise InvalidEventError(f"invalid media_chunk: cacheURI: {error}") from None

    def fetch(self, chunk: MediaChunk) -> Media:
        if chunk.cacheURI is None:
            body = (chunk.content or "").encode()
            return Media(self._bounded(body, "content"), chunk.mimeType or "text/plain")
        parts = urlsplit(chunk.cacheURI)
        if parts.scheme == "s3":
            bucket, key = parts.netloc, parts.path.lstrip("/")
            self._head_s3(bucket, key)  # refused, missing or too large: said now, without reading it
            # Read on first use only: a provider that hands the service the object where it lies never does.
            return Media(lambda: self._from_s3(bucket, key), chunk.mimeType, s3_uri=f"s3://{bucket}/{key}")
        if parts.scheme in _DEFAULT_PORTS:
            body = self._from_http(chunk.cacheURI)
        else:
            raise PermanentError(f"cacheURI scheme {parts.scheme!r} is not allowed", "url_not_allowed")
        return Media(body, chunk.mimeType)

    def _bounded(self, body: bytes, what: str) -> bytes:
        if len(body) > self._max_bytes:
            raise self._too_large(what)
        return body

    def _too_large(self, what: str) -> PermanentError:
        return PermanentError(f"{what} is larger than MEDIA_MAX_BYTES ({self._max_bytes})", "invalid_data")

    # --- http, https ---------------------------------------------------------------------------

    def _from_http(self, url: str) -> bytes:
        deadline = _Deadline(self._timeout_s)
        try:
            for _ in range(self._max_redirects + 1):
                hop = _Hop.parse(url)
                addresses = vet(hop.host, hop.port, deadline.bounded(self._resolve, hop), self._allow_private)
                conn, response = self._get(hop, addresses, deadline)
                try:
                    if response.status in _REDIRECTS:
                        url = _next_hop(url, hop, response.headers.get("Location"))
                        continue
                    _check_status(response.status, hop, response.headers.get("Retry-After"))
                    return self._read_body(response, hop, deadline)
                except (urllib3.exceptions.HTTPError, http.client.HTTPException, OSError) as error:
                    raise _transport_error(error, hop, deadline) from None
                finally:
                    response.close()
                    conn.close()
            raise PermanentError(
                f"cacheURI redirected more than {self._max_redirects} times (next: {_Hop.describe(url)})", "url_error"
            )
        finally:
            deadline.close()

    def _get(
        self, hop: _Hop, addresses: list[IPAddress], deadline: _Deadline
    ) -> tuple[urllib3.connection.HTTPConnection, urllib3.response.BaseHTTPResponse]:
        """Connects to the vetted addresses in turn (the first that answers) and sends the request."""
        unreachable: Exception | None = None
        for address in addresses:
            dial_host, dial_port = self._connect_to(address, hop.port) if self._connect_to else (str(address), hop.port)
            conn = _connection(hop, dial_host, dial_port, deadline)
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

    def _read_body(self, response: urllib3.response.BaseHTTPResponse, hop: _Hop, deadline: _Deadline) -> bytes:
        declared = response.headers.get("Content-Length", "")
        if declared.strip().isascii() and declared.strip().isdigit() and int(declared) > self._max_bytes:
            raise self._too_large(f"cacheURI media ({declared} bytes at {hop.display})")
        chunks: list[bytes] = []
        received = 0
        while data := response.read1(min(_READ_SIZE, self._max_bytes + 1 - received)):
            chunks.append(data)
            received += len(data)
            if received > self._max_bytes:
                raise self._too_large(f"cacheURI media at {hop.display}")
        if deadline.expired():  # the watchdog's shutdown can look like the end of a body
            raise deadline.error(hop)
        return b"".join(chunks)

    # --- s3 --------------------------------------------------------------------------------------

    def _allowed_bucket(self, bucket: str) -> None:
        if self._media_bucket is None:
            raise PermanentError(f"s3://{bucket}/: s3:// media is not enabled (no media bucket)", "url_not_allowed")
        if bucket != self._media_bucket:
            raise PermanentError(f"s3://{bucket}/: only the media bucket may be read", "url_not_allowed")

    def _head_s3(self, bucket: str, key: str) -> None:
        self._allowed_bucket(bucket)
        with self._s3_errors(bucket, key):
            head = self._s3().head_object(Bucket=bucket, Key=key)
            if int(head.get("ContentLength") or 0) > self._max_bytes:
                raise self._too_large(f"s3://{bucket}/{key}")

    def _from_s3(self, bucket: str, key: str) -> bytes:
        self._allowed_bucket(bucket)
        with self._s3_errors(bucket, key):
            obj = self._s3().get_object(Bucket=bucket, Key=key)
            if int(obj.get("ContentLength") or 0) > self._max_bytes:
                obj["Body"].close()
                raise self._too_large(f"s3://{bucket}/{key}")
            return self._bounded(obj["Body"].read(self._max_bytes + 1), f"s3://{bucket}/{key}")
        raise AssertionError("unreachable")

    @contextlib.contextmanager
    def _s3_errors(self, bucket: str, key: str) -> Iterator[None]:
        try:
            yield
        except ClientError as error:
            code = error.response.get("Error", {}).get("Code", "")
            if code in ("NoSuchKey", "NoSuchBucket", "404"):
                raise PermanentError(f"s3://{bucket}/{key} does not exist", "url_not_found") from None
            if code in ("AccessDenied", "403"):
                raise PermanentError(f"s3://{bucket}/{key}: access denied", "url_not_allowed") from None
            raise TransientError(f"s3://{bucket}/{key}: {code}") from None
        except BotoCoreError as error:
            raise TransientError(f"s3://{bucket}/{key}: {error}") from None


@dataclass(frozen=True)
class _Hop:
    """One request of a fetch: where it goes and how it is described (never with the query)."""

    scheme: str
    host: str  # ASCII (IDNA), lower case, no brackets
    port: int
    target: str  # path and query, as sent
    display: str  # scheme://host[:port]/path, for messages

    @classmethod
    def parse(cls, url: str) -> _Hop:
        parts = urlsplit(url)
        try:
            port = parts.port or _DEFAULT_PORTS[parts.scheme]
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
        host = name if self.port == _DEFAULT_PORTS[self.scheme] else f"{name}:{self.port}"
        return {"Host": host, "User-Agent": _USER_AGENT, "Accept": "*/*", "Accept-Encoding": "identity"}


def _next_hop(url: str, hop: _Hop, location: str | None) -> str:
    if not location:
        raise PermanentError(f"cacheURI {hop.display} redirected without a Location", "url_error")
    following = urljoin(url, location.strip())
    scheme = urlsplit(following).scheme
    if scheme not in _DEFAULT_PORTS:
        raise PermanentError(
            f"cacheURI {hop.display} redirected to {_Hop.describe(following)}: only http and https are followed",
            "url_not_allowed",
        )
    return following


def _check_status(status: int, hop: _Hop, retry_after: str | None) -> None:
    if 200 <= status < 300:
        return
    message = f"cacheURI {hop.display} answered {status}"
    if status in _TRANSIENT:
        digits = (retry_after or "").strip()
        seconds = float(digits) if digits.isascii() and digits.isdigit() else None
        raise TransientError(message, retry_after_s=seconds)
    raise PermanentError(message, _REASONS.get(status, "url_error"))


def _transport_error(error: BaseException, hop: _Hop, deadline: _Deadline) -> PermanentError | TransientError:
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
    deadline: _Deadline

    def _new_conn(self) -> socket.socket:
        sock = super()._new_conn()
        self.deadline.watch(sock)
        return sock


class _HTTPSConnection(urllib3.connection.HTTPSConnection):
    deadline: _Deadline

    def _new_conn(self) -> socket.socket:  # the raw TCP socket, before the TLS handshake
        sock = super()._new_conn()
        self.deadline.watch(sock)
        return sock


def _connection(hop: _Hop, dial_host: str, dial_port: int, deadline: _Deadline) -> urllib3.connection.HTTPConnection:
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


class _Deadline:
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

    def remaining(self, hop: _Hop) -> float:
        left = self._at - time.monotonic()
        if left <= 0 or self._fired:
            raise self.error(hop)
        return left

    def bounded(self, resolve: Resolver, hop: _Hop) -> Resolver:
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

    def error(self, hop: _Hop) -> TransientError:
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
