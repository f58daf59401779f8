"""How pollbridge talks to a vendor's API over HTTP (the http provider's transport), over urllib3:
connections kept and reused (never one idle past IDLE_REUSE_S), redirects followed only where safe,
answers read within bounds (adapters/http_policy). The provider (adapters/providers/http.py) says
what to ask; this says how it travels."""

from __future__ import annotations

import functools
import math
import ssl
import time
from types import TracebackType
from typing import TYPE_CHECKING, Any, Self
from urllib.parse import urljoin

import urllib3

from pollbridge.adapters.http_policy import read_bounded
from pollbridge.errors import PermanentError, TransientError

if TYPE_CHECKING:
    from urllib3.connectionpool import ConnectionPool
    from urllib3.response import BaseHTTPResponse


MAX_ANSWER_BYTES = 256 * 1024  # a status, an upload, a job: a few hundred bytes
# A transcript, ~70-100 bytes a word: ~120,000 words, ~9 hours of speech (and 190,000 one-letter
# words). Converted while it is parsed (reference_result.result_to_vtn); the poll that converts
# one of this size, writes and answers it peaks at what BENCHMARKS.md's section 4 measures
# (`python -m devtools.bench memory`): within PollFunction's MemorySize with a margin.
MAX_RESULT_BYTES = 8 * 1024 * 1024
MAX_REDIRECT_BODY_BYTES = 64 * 1024  # a redirect's body is drained to reuse its connection; past this, closed
IDLE_REUSE_S = 30.0  # an idle connection older than this is not reused (see VendorConnections)


class VendorConnections:
    """The container's connections to vendors of one scheme.

    - Kept alive between calls close together (a segment's upload and job), never past IDLE_REUSE_S:
      NAT gateways and load balancers drop idle connections silently (a VPC's NAT after 350 s), and
      the next request on one fails with a reset. Polls are a minute or more apart, so each opens a
      fresh connection; the https SSL context, with the CA store loaded (~20 ms of CPU), stays.
    - Proxies: HTTP_PROXY / HTTPS_PROXY / NO_PROXY, as urllib.request and botocore read them.
    - Redirects: followed by GET and DELETE (3 at most; `Authorization` is dropped when one leaves the
      vendor's host, scheme or port; never from https to http), never by a POST, which would send the
      media or the job again to wherever the redirect points: a redirected POST is a permanent vendor
      error.
    - Bodies are read as sent (`Accept-Encoding: identity`, nothing decompressed: a small gzip body
      can expand to gigabytes), in pieces, at most `limit` bytes and within the read timeout in all.
    - Nothing is retried here: a submit retries itself (`submit_attempts`), a poll's retry is its next
      poll.

    Idle time is the sockets' real time, not pollbridge's clock (which tests and the local cloud
    compress): both the monotonic clock and the wall clock, because the monotonic one may stand still
    while Lambda freezes the container between invocations, which is exactly the idle time.
    """

    def __init__(self, https: bool) -> None:
        import urllib.request  # botocore imports it anyway; only for the proxy settings

        retries = _VendorRetry(total=None, connect=0, read=0, other=0, status=0, redirect=3)
        # One SSL context for every connection: urllib3 would build one per connection and load the CA
        # store into each. The system store; SSL_CERT_FILE is honoured.
        context = ssl.create_default_context() if https else None
        self._options: dict[str, Any] = {"num_pools": 4, "maxsize": 2, "retries": retries, "ssl_context": context}
        self._direct = urllib3.PoolManager(**self._options)
        self._proxies = urllib.request.getproxies()
        self._bypass = urllib.request.proxy_bypass
        self._via: dict[str, urllib3.ProxyManager] = {}
        self._last_used = (-math.inf, -math.inf)  # (monotonic, wall)

    def _manager(self, url: str) -> urllib3.PoolManager:
        parts = urllib3.util.parse_url(url)
        proxy = self._proxies.get(parts.scheme or "")
        if not proxy or self._bypass(parts.host or ""):
            return self._direct
        if proxy not in self._via:
            self._via[proxy] = urllib3.ProxyManager(proxy, **self._options)
        return self._via[proxy]

    def _forget_idle(self) -> None:
        now = (time.monotonic(), time.time())
        if any(t - last > IDLE_REUSE_S for t, last in zip(now, self._last_used, strict=True)):
            for manager in (self._direct, *self._via.values()):
                manager.clear()

    def send(
        self,
        method: str,
        url: str,
        path: str,
        body: bytes | None,
        headers: dict[str, str],
        timeout_s: float,
        limit: int,
    ) -> tuple[int, bytes, str | None]:
        """(status, body, Retry-After) or a TransientError / PermanentError naming what failed."""
        self._forget_idle()
        try:
            response = self._manager(url).request(
                method,
                url,
                body=body,
                headers={**headers, "Accept-Encoding": "identity"},
                timeout=urllib3.Timeout(connect=timeout_s, read=timeout_s),
                redirect=method in ("GET", "DELETE"),
                preload_content=False,
                decode_content=False,
            )
            raw = _read(response, method, path, limit, time.monotonic() + timeout_s)
        except urllib3.exceptions.MaxRetryError as error:
            raise _unreachable(method, path, error.reason) from None
        except (urllib3.exceptions.LocationValueError, ValueError) as error:  # a Location that is no URL
            invalid = f"vendor {method} {path} redirected to an invalid URL: {error}"
            raise PermanentError(invalid, "api_error") from None
        except (urllib3.exceptions.HTTPError, OSError) as error:
            raise _unreachable(method, path, error) from None
        finally:
            self._last_used = (time.monotonic(), time.time())
        return response.status, raw, response.headers.get("Retry-After")


def _read(response: BaseHTTPResponse, method: str, path: str, limit: int, deadline: float) -> bytes:
    """The body, in pieces (a chunked body read in one call is held as one object per chunk), at
    most `limit` bytes and by `deadline`; the connection goes back to the pool at its end."""
    answer = read_bounded(
        lambda size: response.read(size, decode_content=False), limit, lambda: time.monotonic() > deadline
    )
    if answer.outcome != "whole":
        response.close()  # the rest is never read: the connection cannot be reused
        if answer.outcome == "too large":
            raise PermanentError(f"vendor {method} {path} answered more than {limit} bytes", "api_error")
        raise TransientError(f"vendor {method} {path} timed out sending its answer")
    return answer.body


class _Downgraded(urllib3.exceptions.HTTPError):
    """A redirect from https to plain http."""


class _VendorRetry(urllib3.Retry):
    """urllib3's Retry, refusing a redirect from https to plain http: the vendor's answer (a status,
    a transcript) would travel in clear and could be altered on the way."""

    def increment(
        self,
        method: str | None = None,
        url: str | None = None,
        response: BaseHTTPResponse | None = None,
        error: Exception | None = None,
        _pool: ConnectionPool | None = None,
        _stacktrace: TracebackType | None = None,
    ) -> Self:
        location = response.get_redirect_location() if response is not None else None
        if location and response is not None:
            remaining = response.length_remaining
            if remaining is None or remaining > MAX_REDIRECT_BODY_BYTES:
                response.close()  # urllib3 would read it to its end to reuse the connection
        downgrade = bool(location and url and url.lower().startswith("https:"))
        if downgrade and _pool is not None and urljoin(str(url), str(location)).lower().startswith("http:"):
            raise urllib3.exceptions.MaxRetryError(_pool, url, _Downgraded("redirected from https to http"))
        return super().increment(method, url, response, error, _pool, _stacktrace)


@functools.cache
def connections(https: bool) -> VendorConnections:
    """The container's connections to the vendor (one pool, one SSL context)."""
    return VendorConnections(https)


def _unreachable(method: str, path: str, reason: Exception | None) -> TransientError | PermanentError:
    # urllib3's NewConnectionError (refused, no route) subclasses its TimeoutError: not a timeout
    timed_out = isinstance(reason, TimeoutError | urllib3.exceptions.TimeoutError)
    if timed_out and not isinstance(reason, urllib3.exceptions.NewConnectionError):
        return TransientError(f"vendor {method} {path} timed out")
    if isinstance(reason, _Downgraded):
        return PermanentError(f"vendor {method} {path} {reason}", "api_error")
    if isinstance(reason, urllib3.exceptions.ResponseError):  # too many redirects: not a network blip
        return PermanentError(f"vendor {method} {path} redirected too often", "api_error")
    return TransientError(f"vendor {method} {path} unreachable: {reason}")
