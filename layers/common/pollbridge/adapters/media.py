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

The http(s) machinery (`guarded_http`: urllib3's connection classes, which take the address to
dial and the server name for TLS separately) is imported on the first http(s) chunk only: a segment
with inline content or an s3:// chunk never loads it.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

from botocore.exceptions import BotoCoreError, ClientError

from pollbridge.adapters import aws
from pollbridge.adapters.address_guard import Resolver, literal_address, system_resolve, vet
from pollbridge.errors import InvalidEventError, PermanentError, TransientError
from pollbridge.models import MediaChunk
from pollbridge.ports import Media

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client

    from pollbridge.adapters.guarded_http import ConnectTo

_HTTP_SCHEMES = frozenset({"http", "https"})


class MediaFetcher:
    """`resolve(host, port)` gives a name's addresses (default: getaddrinfo). `connect_to` is for
    tests only: it maps a vetted (address, port) to where to really dial, so a test can give a fake
    public address to a server on loopback; None (production) dials the vetted address itself."""

    def __init__(
        self,
        s3_client_factory: Callable[[], S3Client],
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
            elif parts.scheme in _HTTP_SCHEMES:
                from pollbridge.adapters.guarded_http import Hop

                hop = Hop.parse(chunk.cacheURI)
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
        if parts.scheme in _HTTP_SCHEMES:
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
        from pollbridge.adapters.guarded_http import get_body  # urllib3's machinery: only for http(s) media

        return get_body(
            url,
            max_bytes=self._max_bytes,
            timeout_s=self._timeout_s,
            max_redirects=self._max_redirects,
            resolve=self._resolve,
            allow_private=self._allow_private,
            connect_to=self._connect_to,
            too_large=self._too_large,
        )

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
            code = aws.error_code(error)
            if code in ("NoSuchKey", "NoSuchBucket", "404"):
                raise PermanentError(f"s3://{bucket}/{key} does not exist", "url_not_found") from None
            if code in ("AccessDenied", "403"):
                raise PermanentError(f"s3://{bucket}/{key}: access denied", "url_not_allowed") from None
            raise aws.classify(f"s3://{bucket}/{key}", error) from None
        except BotoCoreError as error:
            raise TransientError(f"s3://{bucket}/{key}: {error}") from None
