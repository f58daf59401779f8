"""`make demo MODE=aiware`: tasks as aiWARE runs them, through every hop a deployment has.

    aiWARE stand-in (platform.py) -> toolkit stand-in (toolkit.py) -> engine/forwarder.py (a process)
    -> the WebhookFunction behind a Function URL on loopback (function_url_server.py) -> vendor simulator

Why: the other demo modes call the functions directly; this one checks that pollbridge works with what
aiWARE actually sends and does with the answers (no Authorization header, 3 quick retries, poll tasks
run by the platform). The report says what aiWARE recorded for each task and whether the stack wrote
exactly one record per chunk.
"""

from __future__ import annotations

import contextlib
import json
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from devtools.aiware.forwarder_process import ForwarderProcess
from devtools.aiware.function_url_server import FunctionUrlServer
from devtools.aiware.platform import Chunk, Delivery, Platform, PlatformStats, Task
from devtools.aiware.toolkit import ready
from devtools.cloud.local_cloud import LocalCloud
from devtools.cloud.local_values import LOCAL_WEBHOOK_TOKEN

CHUNK_NAMESPACE = uuid.UUID("1b5f6b1e-6a43-4d1c-9a0e-6f1f4c1c0a11")
READY_WITHIN_S = 60.0


@dataclass
class Wiring:
    """Where each hop listens (for the demo's first line)."""

    function_url: str
    engine_url: str
    engine_pid: int | None
    ready_s: float


@dataclass
class AiwareReport:
    tasks: list[dict[str, Any]]  # what aiWARE recorded, per task (Platform.record)
    statuses: dict[str, int]
    chunks: int
    records: int
    problems: list[str]
    leftover_schedules: int
    stats: PlatformStats
    poll_tasks: int
    wall_s: float
    virtual_s: float
    wiring: Wiring | None = None
    written_twice: int = 0
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def healthy(self) -> bool:
        """Every task ended (complete or failed) and the stack wrote exactly one record per chunk."""
        ended = sum(self.statuses.get(status, 0) for status in ("complete", "failed"))
        return ended == len(self.tasks) and not self.problems and self.leftover_schedules == 0

    def summary(self) -> str:
        statuses = ", ".join(f"{name} {count}" for name, count in sorted(self.statuses.items())) or "none"
        return (
            f"aiWARE recorded {len(self.tasks)} tasks ({self.chunks} chunks): {statuses}; "
            f"records {self.records} for {self.chunks} chunks ({self.written_twice} written twice); "
            f"poll tasks {self.poll_tasks}; toolkit calls {self.stats.calls} "
            f"({self.stats.retried} deliveries retried, {self.stats.duplicates} duplicate deliveries); "
            f"schedules left {self.leftover_schedules}; virtual {_duration(self.virtual_s)}, wall {self.wall_s:.1f} s"
        )


def aiware_tasks(events: list[tuple[int, dict[str, Any]]], two_chunks_every: int = 2) -> list[tuple[int, Task]]:
    """The demo's media_chunk events as aiWARE tasks; every `two_chunks_every`-th task (the 2nd, 4th,
    ...) has two chunks, the second one following the first in the media, as chunk mode splits a file."""
    out = []
    for number, (offset, event) in enumerate(events):
        count = 2 if two_chunks_every and number % two_chunks_every == two_chunks_every - 1 else 1
        start, end = int(event.get("startOffsetMs") or 0), int(event.get("endOffsetMs") or 30_000)
        content = event.get("content")
        chunks = []
        for index in range(count):
            data = None
            if isinstance(content, str):
                data = (content if index == 0 else f"Chunk {index + 1} of the same file. {content}").encode()
            chunks.append(
                Chunk(
                    index=index,
                    uuid=str(event.get("chunkUUID")) if index == 0 and event.get("chunkUUID") else _uuid(event, index),
                    mime_type=str(event.get("mimeType") or "application/octet-stream"),
                    start_ms=start + index * (end - start),
                    end_ms=end + index * (end - start),
                    data=data,
                    cache_uri="" if data is not None else str(event.get("cacheURI") or ""),
                )
            )
        task = Task(
            task_id=str(event["taskId"]),
            job_id=str(event["jobId"]),
            tdo_id=str(event["tdoId"]),
            chunks=chunks,
            custom=dict(event.get("taskPayload") or {}),
        )
        out.append((offset, task))
    return out


def _uuid(event: dict[str, Any], index: int) -> str:
    return str(uuid.uuid5(CHUNK_NAMESPACE, f"{event['taskId']}/{index}"))


def run_aiware(
    cloud: LocalCloud,
    events: list[tuple[int, dict[str, Any]]],
    *,
    v3: bool = False,
    engines: int = 1,
    duplicate_rate: float = 0.0,
    seed: int = 5,
    log_dir: Path | None = None,
    on_wired: Callable[[Wiring], None] | None = None,
    on_delivery: Callable[[Delivery], None] | None = None,
    max_virtual_ms: int = 3 * 86_400_000,
) -> AiwareReport:
    """Serve the WebhookFunction at a Function URL, start the engine in front of it, wait for it as the
    toolkit does, run every task until aiWARE has nothing left to run, then check the records."""
    tasks = aiware_tasks(events)
    started_real = time.monotonic()
    with contextlib.ExitStack() as stack:
        with cloud.clock.real_time():  # starting the engine takes no time in the platform's story
            function_url = stack.enter_context(FunctionUrlServer(lambda event: cloud.invoke("WebhookFunction", event)))
            log_path = (log_dir / "forwarder.log") if log_dir is not None else None
            engine = stack.enter_context(ForwarderProcess(function_url.url, LOCAL_WEBHOOK_TOKEN, log_path=log_path))
            waited = time.monotonic()
            is_ready = ready(f"{engine.url}/ready", within_s=READY_WITHIN_S)
            wiring = Wiring(function_url.url, engine.url, engine.pid, time.monotonic() - waited)
            if on_wired is not None:
                on_wired(wiring)
        schemes = {urlsplit(chunk.cache_uri).scheme for _, task in tasks for chunk in task.chunks}
        platform = stack.enter_context(
            Platform(
                f"{engine.url}/process",
                clock=cloud.clock,
                v3=v3,
                engines=engines,
                duplicate_rate=duplicate_rate,
                seed=seed,
                # s3:// media (the AWS providers): cacheURI only, as with VERITONE_DISABLE_CHUNK_DOWNLOAD=true
                download_chunks=schemes <= {"", "http", "https"},
                on_delivery=on_delivery,
            )
        )
        started_virtual = cloud.clock.now_ms()
        if is_ready:
            for offset, task in tasks:
                platform.add(task, started_virtual + offset)
            platform.run(max_virtual_ms)
        virtual_s = (cloud.clock.now_ms() - started_virtual) / 1000
        wall_s = time.monotonic() - started_real
    with cloud.clock.real_time():
        report = _report(cloud, platform, [task for _, task in tasks], wall_s, virtual_s)
    report.wiring = wiring
    if not is_ready:
        report.problems.insert(0, f"GET {engine.url}/ready never answered 200 within {READY_WITHIN_S:g} s")
    return report


def _report(cloud: LocalCloud, platform: Platform, tasks: list[Task], wall_s: float, virtual_s: float) -> AiwareReport:
    """What aiWARE recorded, against the records the stack wrote (exactly one per chunk, agreeing)."""
    records = _all_records(cloud)
    by_unit: dict[tuple[str, str | None], list[dict[str, Any]]] = {}
    for record in records:
        by_unit.setdefault((str(record.get("taskId")), record.get("chunk")), []).append(record)
    problems = []
    for task in tasks:
        for chunk in task.chunks:
            found = by_unit.pop((task.task_id, chunk.uuid), [])
            where = f"task {task.task_id} chunk {chunk.index}"
            if len(found) != 1:
                problems.append(f"{where}: {len(found)} records (one expected)")
            elif chunk.status in ("complete", "failed") and _outcome(found[0]) != chunk.status:
                problems.append(f"{where}: aiWARE recorded {chunk.status}, the record says {found[0].get('status')}")
            if chunk.status in ("queued", "running"):
                problems.append(f"{where}: never finished in aiWARE ({chunk.note or 'no result came back'})")
    for (task_id, chunk_key), extra in by_unit.items():
        problems.append(f"record(s) for no chunk aiWARE ran: task {task_id} chunk {chunk_key} ({len(extra)})")
    twice = sum(1 for count in cloud.record_versions().values() if count > 1)
    if twice:
        problems.append(f"{twice} record(s) written more than once")
    return AiwareReport(
        tasks=[platform.record(task) for task in tasks],
        statuses=platform.statuses(),
        chunks=sum(len(task.chunks) for task in tasks),
        records=len(records),
        problems=problems,
        leftover_schedules=len(cloud.pending_schedules()),
        stats=platform.stats,
        poll_tasks=len(platform.poll_tasks),
        wall_s=wall_s,
        virtual_s=virtual_s,
        written_twice=twice,
        extra={"vendor": dict(cloud.simulator.config.stats)},
    )


def _outcome(record: dict[str, Any]) -> str:
    status = str(record.get("status"))
    return "failed" if status in ("failed", "cancelled", "canceled") else status


def _all_records(cloud: LocalCloud) -> list[dict[str, Any]]:
    s3 = cloud.clients["s3"]
    found = []
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=cloud.results_bucket, Prefix="results/"):
        for item in page.get("Contents", []):
            found.append(json.loads(s3.get_object(Bucket=cloud.results_bucket, Key=item["Key"])["Body"].read()))
    return found


def _duration(seconds: float) -> str:
    whole = int(seconds)
    return f"{whole // 3600:d}h{whole % 3600 // 60:02d}m{whole % 60:02d}s"
