"""Plays the aiWARE platform's part for SCHEDULING_MODE=platform, against the webhook function.

Each media_chunk is posted to `POST /process` as the engine toolkit posts it (a Function URL event
with a multipart form, the bearer token, the chunk's bytes as the file part). Each
`schedule_poll_task` reply is scheduled here, by the platform, not by pollbridge: at its
`nextPollTimeUTC` (never earlier) the poll task is posted back to /process under a new task id, with
the returned taskPayload in `payload`. A 5xx reply is retried a minute later (three tries, as the
toolkit does); 200 with a vtn-standard document, or 422 with a failed/cancelled record, ends the task.
With `duplicate_rate`, poll tasks are sometimes posted twice, as a platform may.
"""

from __future__ import annotations

import heapq
import itertools
import random
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from devtools.cloud.clocks import ManualClock
from devtools.cloud.local_cloud import LocalCloud
from devtools.cloud.local_values import LOCAL_WEBHOOK_TOKEN
from devtools.load.workload import Progress, Report, build_report
from devtools.standins.function_url import poll_task_form, process_event, process_form, response_body

MAX_TRIES = 3
RETRY_MS = 60_000


@dataclass
class Post:
    """One request the platform made, and what the webhook answered."""

    kind: str  # "chunk" or "poll"
    task_id: str
    attempt: int
    at_ms: int
    status: int
    body: Any
    duplicate: bool = False


@dataclass
class PlatformStats:
    posts: int = 0
    polls: int = 0
    duplicates: int = 0
    retries: int = 0
    errors: int = 0
    statuses: dict[int, int] = field(default_factory=dict)


def chunk_form(chunk: dict[str, Any]) -> tuple[bytes, str]:
    """A media_chunk event as the engine toolkit posts it (identity and configuration in `payload`)."""
    payload = {
        "applicationId": "pollbridge-demo",
        "taskId": chunk["taskId"],
        "jobId": chunk["jobId"],
        "recordingId": chunk["tdoId"],
        "token": "platform-task-token-never-stored",
        **chunk.get("taskPayload", {}),
    }
    body = (chunk.get("content") or "").encode()
    return process_form(
        payload,
        chunk=body if "content" in chunk else None,
        cache_uri=chunk.get("cacheURI"),
        mime_type=chunk.get("mimeType", "text/plain"),
        chunk_index=chunk.get("chunkIndex") or 0,
        start_ms=chunk.get("startOffsetMs", 0),
        end_ms=chunk.get("endOffsetMs") or 0,
        chunk_uuid=chunk.get("chunkUUID"),
    )


class PlatformEmulator:
    def __init__(
        self,
        cloud: LocalCloud,
        token: str = LOCAL_WEBHOOK_TOKEN,
        duplicate_rate: float = 0.0,
        seed: int = 5,
        on_post: Callable[[Post], None] | None = None,
    ) -> None:
        self.cloud = cloud
        self.token = token
        self.duplicate_rate = duplicate_rate
        self._random = random.Random(seed)
        self._queue: list[tuple[int, int, str, str, dict[str, Any], int]] = []
        self._seq = itertools.count()
        self.stats = PlatformStats()
        self.posts: list[Post] = []
        self.on_post = on_post

    def submit(self, chunk: dict[str, Any], at_ms: int) -> None:
        self._push(at_ms, "chunk", chunk["taskId"], chunk, 1)

    def next_due(self) -> int | None:
        return self._queue[0][0] if self._queue else None

    def run_due(self, progress: Progress) -> int:
        ran = 0
        while self._queue and self._queue[0][0] <= self.cloud.clock.now_ms():
            _, _, kind, task_id, data, attempt = heapq.heappop(self._queue)
            self._post(kind, task_id, data, attempt, progress)
            ran += 1
            if kind == "poll" and attempt == 1 and self._random.random() < self.duplicate_rate:
                self.stats.duplicates += 1
                self._post(kind, task_id, data, attempt, progress, duplicate=True)
        return ran

    def _push(self, at_ms: int, kind: str, task_id: str, data: dict[str, Any], attempt: int) -> None:
        heapq.heappush(self._queue, (at_ms, next(self._seq), kind, task_id, data, attempt))

    def _post(
        self, kind: str, task_id: str, data: dict[str, Any], attempt: int, progress: Progress, duplicate: bool = False
    ) -> None:
        now = self.cloud.clock.now_ms()
        if kind == "chunk":
            body, content_type = chunk_form(data)
        else:
            body, content_type = poll_task_form(data["taskPayload"], data["pollTaskId"])
        result = self.cloud.invoke("WebhookFunction", process_event(body, content_type, self.token, now_ms=now))
        self.stats.posts += 1
        self.stats.polls += kind == "poll"
        status = int(result.value["statusCode"]) if result.ok else 502
        reply = response_body(result.value) if result.ok else {"error": result.error_message}
        self.stats.statuses[status] = self.stats.statuses.get(status, 0) + 1
        post = Post(kind, task_id, attempt, now, status, reply, duplicate)
        self.posts.append(post)
        if self.on_post is not None:
            self.on_post(post)
        if kind == "chunk" and attempt == 1 and not duplicate:
            progress.submitted += 1
        if duplicate:
            return
        if status == 200 and isinstance(reply, dict) and reply.get("type") == "schedule_poll_task":
            payload = reply["taskPayload"]
            poll_id = f"{payload['origTaskId']}~poll{payload['pollNumber']}"
            self._push(reply["nextPollTimeUTC"], "poll", task_id, {"taskPayload": payload, "pollTaskId": poll_id}, 1)
        elif status in (200, 422):
            progress.settle(reply)
        elif status >= 500 and attempt < MAX_TRIES:
            self.stats.retries += 1
            self._push(now + RETRY_MS * attempt, kind, task_id, data, attempt + 1)
        elif status != 204:
            self.stats.errors += 1
            progress.errors += 1


def run_platform_workload(
    cloud: LocalCloud,
    tasks: list[tuple[int, dict[str, Any]]],
    duplicate_rate: float = 0.0,
    on_post: Callable[[Post], None] | None = None,
    on_tick: Callable[[Progress, LocalCloud], None] | None = None,
    max_virtual_ms: int = 3 * 86_400_000,
) -> tuple[Report, PlatformEmulator]:
    """The whole loop with the platform scheduling: every task until it settles, then the report."""
    platform = PlatformEmulator(cloud, duplicate_rate=duplicate_rate, on_post=on_post)
    progress = Progress()
    started_real, started_virtual = time.monotonic(), cloud.clock.now_ms()
    for offset, chunk in tasks:
        platform.submit(chunk, started_virtual + offset)
    last_tick = 0.0
    while True:
        with cloud.clock.real_time():
            busy = platform.run_due(progress)
            if on_tick and time.monotonic() - last_tick >= 0.5:
                on_tick(progress, cloud)
                last_tick = time.monotonic()
            upcoming = platform.next_due()
        if upcoming is None or cloud.clock.now_ms() - started_virtual > max_virtual_ms:
            break
        if isinstance(cloud.clock, ManualClock):
            if not busy:
                cloud.clock.advance_to(upcoming)
        elif not busy:
            wait_ms = upcoming - cloud.clock.now_ms()
            time.sleep(min(max(cloud.clock.real_seconds(wait_ms), 0.0), 0.02))
    progress.polls = platform.stats.polls
    if on_tick:
        on_tick(progress, cloud)
    with cloud.clock.real_time():
        report = build_report(
            cloud,
            {chunk["taskId"] for _, chunk in tasks},
            time.monotonic() - started_real,
            (cloud.clock.now_ms() - started_virtual) / 1000,
        )
    report.duplicates_delivered = platform.stats.duplicates
    report.retries = platform.stats.retries
    report.extra["failed_invocations"] = platform.stats.errors
    report.extra["http_statuses"] = dict(platform.stats.statuses)
    return report, platform
