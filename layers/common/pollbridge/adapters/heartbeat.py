"""Heartbeats: each poll reports the task's progress to the chunk's `heartbeatWebhook`.

The URL travels in the signed taskPayload (no state anywhere else). It is a URL a caller named, so it
gets the media fetcher's protection: refused at the edge when that needs no network call (a literal
private address, a loopback name), and on every report the host is resolved once, every address
vetted (address_guard), and the vetted address dialled, under one short deadline. No redirect is
followed. The body is what aiWARE engines post to it (`status`, `infoMsg`), plus `progress` (0..1)
when the vendor gives one. Best effort: any failure is logged and dropped, never raised.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING

from pollbridge.adapters.address_guard import Resolver, literal_address, system_resolve, vet
from pollbridge.errors import InvalidEventError, PermanentError, TransientError
from pollbridge.ports import Heartbeat

if TYPE_CHECKING:
    from pollbridge.adapters.guarded_http import ConnectTo

# The media fetcher's connection machinery (urllib3) is imported where a heartbeat URL is checked or
# called, not here: every poll function builds this adapter, few tasks have a heartbeat.


def heartbeat_body(beat: Heartbeat) -> dict[str, object]:
    progress = f" ({beat.progress:.0%})" if beat.progress is not None else ""
    body: dict[str, object] = {
        "status": "running",
        "infoMsg": f"poll {beat.poll_number}: the third-party job is {beat.job_status}{progress}",
        "taskId": beat.orig_task_id,
        "pollNumber": beat.poll_number,
    }
    if beat.progress is not None:
        body["progress"] = beat.progress
    return body


class HttpHeartbeat:
    """The HeartbeatReporter port over guarded HTTP POSTs (`connect_to`: tests only, as in MediaFetcher)."""

    def __init__(
        self,
        *,
        allow_private_hosts: bool = False,
        timeout_s: float = 5.0,
        resolve: Resolver | None = None,
        connect_to: ConnectTo | None = None,
    ) -> None:
        self._allow_private = allow_private_hosts
        self._timeout_s = timeout_s
        self._resolve: Resolver = resolve or system_resolve
        self._connect_to = connect_to
        self.sent = 0
        self.failed = 0

    def check(self, url: str) -> None:
        from pollbridge.adapters.guarded_http import Hop

        try:
            hop = Hop.parse(url)
            if literal_address(hop.host) is not None or hop.host.rstrip(".").split(".")[-1] == "localhost":
                vet(hop.host, hop.port, self._resolve, self._allow_private)
        except PermanentError as error:
            raise InvalidEventError(f"invalid media_chunk: heartbeatWebhook: {_renamed(error)}") from None

    def report(self, url: str, beat: Heartbeat) -> None:
        # Imported here: the functions' Logger is made from their environment when a handler loads.
        from pollbridge.observability import logger

        try:
            status = self._post(url, json.dumps(heartbeat_body(beat)).encode())
        except Exception as error:  # best effort: a heartbeat never fails a poll
            self.failed += 1
            logger.warning("heartbeat not delivered", extra={"error": _renamed(error), "pollNumber": beat.poll_number})
            return
        if 200 <= status < 300:
            self.sent += 1
        else:
            self.failed += 1
            logger.warning("heartbeat refused", extra={"httpStatus": status, "pollNumber": beat.poll_number})

    def _post(self, url: str, body: bytes) -> int:
        import http.client

        import urllib3.exceptions

        from pollbridge.adapters.guarded_http import Deadline, Hop, connection

        hop = Hop.parse(url)
        deadline = Deadline(self._timeout_s)
        try:
            # the lookup counts against the same deadline as the call (a slow resolver held a poll 8 s)
            addresses = vet(hop.host, hop.port, deadline.bounded(self._resolve, hop), self._allow_private)
            address = addresses[0]
            dial_host, dial_port = self._connect_to(address, hop.port) if self._connect_to else (str(address), hop.port)
            conn = connection(hop, dial_host, dial_port, deadline)
            try:
                headers = {**hop.headers(), "Content-Type": "application/json", "Content-Length": str(len(body))}
                conn.request("POST", hop.target, body=body, headers=headers)
                response = conn.getresponse()
                status = response.status
                response.close()
                return status
            except (urllib3.exceptions.HTTPError, http.client.HTTPException, OSError) as error:
                raise TransientError(f"heartbeatWebhook {hop.display} failed: {type(error).__name__}") from None
            finally:
                conn.close()
        finally:
            deadline.close()


def _renamed(error: BaseException) -> str:
    """The shared guard speaks of cacheURI; here the URL is the heartbeatWebhook."""
    return str(error).replace("cacheURI", "heartbeatWebhook")
