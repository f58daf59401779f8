"""Fetch a chunk's bytes from its cacheURI (http, https, s3) or its inline text content."""

from __future__ import annotations

import urllib.error
import urllib.request
from typing import Any
from urllib.parse import urlsplit

from botocore.exceptions import BotoCoreError, ClientError

from pollbridge.errors import PermanentError, TransientError
from pollbridge.models import MediaChunk
from pollbridge.ports import Media


class MediaFetcher:
    def __init__(self, s3_client_factory: Any, max_bytes: int, timeout_s: float = 30.0) -> None:
        self._s3 = s3_client_factory  # called lazily: only s3:// chunks need a client
        self._max_bytes = max_bytes
        self._timeout_s = timeout_s

    def fetch(self, chunk: MediaChunk) -> Media:
        if chunk.cacheURI is None:
            body = (chunk.content or "").encode()
            return Media(self._bounded(body, "content"), chunk.mimeType or "text/plain")
        parts = urlsplit(chunk.cacheURI)
        body = (
            self._from_s3(parts.netloc, parts.path.lstrip("/"))
            if parts.scheme == "s3"
            else self._from_http(chunk.cacheURI)
        )
        return Media(body, chunk.mimeType)

    def _bounded(self, body: bytes, what: str) -> bytes:
        if len(body) > self._max_bytes:
            raise PermanentError(f"{what} is larger than MEDIA_MAX_BYTES ({self._max_bytes})", "invalid_data")
        return body

    def _from_http(self, url: str) -> bytes:
        try:
            with urllib.request.urlopen(url, timeout=self._timeout_s) as response:  # noqa: S310 (scheme checked by the model)
                body = response.read(self._max_bytes + 1)
        except urllib.error.HTTPError as error:
            if error.code in (429, 500, 502, 503, 504):
                raise TransientError(f"cacheURI answered {error.code}") from None
            reason = {404: "url_not_found", 410: "url_not_found", 401: "url_not_allowed", 403: "url_not_allowed"}
            raise PermanentError(f"cacheURI answered {error.code}", reason.get(error.code, "url_error")) from None
        except TimeoutError:
            raise TransientError("cacheURI timed out") from None
        except urllib.error.URLError as error:
            if isinstance(error.reason, ConnectionRefusedError):
                raise TransientError("cacheURI refused the connection") from None
            raise TransientError(f"cacheURI unreachable: {error.reason}") from None
        return self._bounded(body, "cacheURI media")

    def _from_s3(self, bucket: str, key: str) -> bytes:
        try:
            obj = self._s3().get_object(Bucket=bucket, Key=key)
            return self._bounded(obj["Body"].read(self._max_bytes + 1), "cacheURI media")
        except ClientError as error:
            code = error.response.get("Error", {}).get("Code", "")
            if code in ("NoSuchKey", "NoSuchBucket", "404"):
                raise PermanentError(f"s3://{bucket}/{key} does not exist", "url_not_found") from None
            if code in ("AccessDenied", "403"):
                raise PermanentError(f"s3://{bucket}/{key}: access denied", "url_not_allowed") from None
            raise TransientError(f"s3://{bucket}/{key}: {code}") from None
        except BotoCoreError as error:
            raise TransientError(f"s3://{bucket}/{key}: {error}") from None
