"""An aiWARE stand-in: it holds tasks, sends their chunks through the engine toolkit (toolkit.py), runs
the poll tasks the engine asks for, and records each task's final status as aiWARE would.

Why: pollbridge's engine must work with aiWARE as aiWARE is, not as pollbridge would like it. This
platform knows nothing of pollbridge or the local cloud; it only talks HTTP to a process URL (the engine
forwarder's `/process`) and serves its own chunk cache (the `cacheURI` the toolkit downloads from).

- A task has one chunk or many (aiWARE's chunk mode splits a file into chunks of one task, each with
  its own chunkUUID, chunkIndex and offsets); each chunk goes through the toolkit on its own.
- A chunk's output of type `schedule_poll_task` is not a result: the platform creates a poll task (a
  new task id, its payload the returned taskPayload) and runs it through the toolkit at its
  `nextPollTimeUTC`, never earlier. The poll chain's final output is the original chunk's result
  (results go to origTaskId).
- A task is complete when every chunk completed (or was ignored), with each chunk's output; it is
  failed with a failed chunk's failureReason / failureMsg as the toolkit reported them.
- Time is the given clock's (devtools/cloud/clocks.py: compressed or manual), as the platform emulator
  uses it: it runs at 1x while a call is in flight, and jumps ahead (compressed) while nothing is due.
- `duplicate_rate` delivers some poll tasks twice (aiWARE's queues deliver at least once); the second
  delivery's answer is shown but never acted on, so an engine that acts on it is caught by its records.
"""

from __future__ import annotations

import heapq
import itertools
import json
import queue
import random
import secrets
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Literal, Protocol
from urllib.parse import quote, unquote

from devtools.aiware.toolkit import ChunkMessage, ChunkResult, Toolkit, task_payload
from devtools.cloud.clocks import CompressedClock, ManualClock

MAX_POLLS_PER_CHUNK = 10_000
DEFAULT_MAX_VIRTUAL_MS = 3 * 86_400_000

type ChunkStatus = Literal["queued", "running", "complete", "ignored", "failed"]


class Clock(Protocol):
    def now_ms(self) -> int: ...
    def real_seconds(self, virtual_ms: float) -> float: ...
    def real_time(self) -> AbstractContextManager[None]: ...


@dataclass
class Chunk:
    """One chunk of a task, and what aiWARE knows of it."""

    index: int
    uuid: str
    mime_type: str
    start_ms: int = 0
    end_ms: int = 0
    data: bytes | None = None  # the media, served from the platform's chunk cache
    cache_uri: str = ""  # a cacheURI given as is (used when there is no data)
    status: ChunkStatus = "queued"
    output: Any = None  # the final output (the poll chain's last answer)
    failure_reason: str | None = None
    failure_msg: str | None = None
    polls: int = 0  # poll tasks run for it
    calls: int = 0  # toolkit calls to /process for it and its poll tasks
    note: str = ""  # why it is still running at the end, when it is


@dataclass
class Task:
    """An aiWARE task: its identity, the engine's configuration (custom fields) and its chunks."""

    task_id: str
    job_id: str
    tdo_id: str
    chunks: list[Chunk]
    custom: dict[str, Any] = field(default_factory=dict)

    @property
    def status(self) -> str:
        """As aiWARE records it: failed if a chunk failed, complete when every chunk is done."""
        states = {chunk.status for chunk in self.chunks}
        if "failed" in states:
            return "failed"
        if states <= {"complete", "ignored"}:
            return "complete"
        return "queued" if states == {"queued"} else "running"

    @property
    def failed_chunk(self) -> Chunk | None:
        return next((chunk for chunk in self.chunks if chunk.status == "failed"), None)


@dataclass
class PollTask:
    """A task aiWARE created from a `schedule_poll_task` reply."""

    task_id: str
    task: Task
    chunk: Chunk
    number: int
    payload: dict[str, Any]
    due_ms: int
    status: str = "queued"


@dataclass(frozen=True)
class Delivery:
    """One chunk message through the toolkit, and what came of it (for displays and tests)."""

    kind: Literal["chunk", "poll"]
    task_id: str  # the aiWARE task that ran: the task's own, or the poll task's
    task: Task
    chunk: Chunk
    at_ms: int
    result: ChunkResult
    reply: Any  # the output as JSON (None when ignored or failed)
    duplicate: bool = False
    poll: PollTask | None = None
    scheduled: PollTask | None = None  # the poll task this answer created


@dataclass
class PlatformStats:
    deliveries: int = 0
    poll_deliveries: int = 0
    duplicates: int = 0
    calls: int = 0  # toolkit calls (attempts) in all
    retried: int = 0  # deliveries that took more than one call


class ChunkCache:
    """The platform's chunk cache on loopback: `cacheURI`s the toolkit (and the engine) can GET."""

    def __init__(self) -> None:
        self._blobs: dict[str, bytes] = {}
        blobs = self._blobs

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - the base class's name
                pass

            def do_GET(self) -> None:
                data = blobs.get(unquote(self.path.removeprefix("/chunks/")))
                self.send_response(200 if data is not None else 404)
                self.send_header("Content-Type", "application/octet-stream")
                self.send_header("Content-Length", str(len(data or b"")))
                self.end_headers()
                self.wfile.write(data or b"")

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()

    def put(self, key: str, data: bytes) -> str:
        self._blobs[key] = data
        return f"http://127.0.0.1:{self._server.server_address[1]}/chunks/{quote(key, safe='')}"

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()


@dataclass(order=True)
class _Due:
    at_ms: int
    seq: int
    kind: Literal["chunk", "poll"] = field(compare=False)
    task: Task = field(compare=False)
    chunk: Chunk = field(compare=False)
    poll: PollTask | None = field(compare=False, default=None)


class Platform:
    """`with Platform(process_url, clock=...) as platform: platform.add(task); platform.run()`."""

    def __init__(
        self,
        process_url: str,
        *,
        clock: Clock | None = None,
        speed: float = 1.0,
        v3: bool = False,
        engines: int = 1,
        duplicate_rate: float = 0.0,
        seed: int = 5,
        download_chunks: bool = True,
        api_base_url: str = "https://api.veritone.com",
        on_delivery: Callable[[Delivery], None] | None = None,
        toolkit_options: dict[str, Any] | None = None,
    ) -> None:
        self.clock: Clock = clock if clock is not None else CompressedClock(speed)
        self.engines = max(engines, 1)
        self.duplicate_rate = duplicate_rate
        self.api_base_url = api_base_url
        self.on_delivery = on_delivery
        self.tasks: dict[str, Task] = {}
        self.poll_tasks: dict[str, PollTask] = {}
        self.deliveries: list[Delivery] = []
        self.stats = PlatformStats()
        self._toolkit_args: dict[str, Any] = {"v3": v3, "download_chunks": download_chunks, **(toolkit_options or {})}
        self._process_url = process_url
        self._random = random.Random(seed)
        self._lock = threading.RLock()
        self._due: list[_Due] = []
        self._seq = itertools.count()
        self._toolkits: queue.SimpleQueue[Toolkit] = queue.SimpleQueue()
        self._all_toolkits: list[Toolkit] = []
        self._cache: ChunkCache | None = None

    def __enter__(self) -> Platform:
        self._cache = ChunkCache()
        for _ in range(self.engines):  # one toolkit per engine instance, each working one chunk at a time
            toolkit = Toolkit(self._process_url, **self._toolkit_args).__enter__()
            self._all_toolkits.append(toolkit)
            self._toolkits.put(toolkit)
        return self

    def __exit__(self, *exc: object) -> None:
        for toolkit in self._all_toolkits:
            toolkit.close()
        if self._cache is not None:
            self._cache.close()

    @property
    def toolkits(self) -> list[Toolkit]:
        return list(self._all_toolkits)

    # -- work ----------------------------------------------------------------------------------------

    def add(self, task: Task, at_ms: int | None = None) -> None:
        """A new task, its chunks due at `at_ms` (default: now)."""
        if self._cache is None:
            raise RuntimeError("use the platform as a context manager (it serves the chunk cache)")
        when = self.clock.now_ms() if at_ms is None else at_ms
        with self._lock:
            self.tasks[task.task_id] = task
            for chunk in task.chunks:
                if chunk.data is not None:
                    chunk.cache_uri = self._cache.put(f"{task.task_id}/{chunk.uuid}", chunk.data)
                self._push(_Due(when, next(self._seq), "chunk", task, chunk))

    def run(self, max_virtual_ms: int = DEFAULT_MAX_VIRTUAL_MS) -> None:
        """Until nothing is left to run (or `max_virtual_ms` has passed): due work goes to the engines."""
        started = self.clock.now_ms()
        in_flight: set[Future[None]] = set()
        with ThreadPoolExecutor(self.engines, thread_name_prefix="aiware-engine") as pool:
            while True:
                with self.clock.real_time():
                    for item in self._take_due():
                        in_flight.add(pool.submit(self._deliver, item))
                    for future in [f for f in in_flight if f.done()]:
                        in_flight.discard(future)
                        future.result()  # a bug in the stand-in surfaces here
                    upcoming = self._next_due()
                if not in_flight and upcoming is None:
                    return
                if self.clock.now_ms() - started > max_virtual_ms:
                    for future in in_flight:
                        future.result()
                    return
                if in_flight:
                    time.sleep(0.002)
                elif upcoming is not None and isinstance(self.clock, ManualClock):
                    self.clock.advance_to(upcoming)
                elif upcoming is not None:
                    time.sleep(min(max(self.clock.real_seconds(upcoming - self.clock.now_ms()), 0.0), 0.02))

    def _push(self, item: _Due) -> None:
        heapq.heappush(self._due, item)

    def _take_due(self) -> list[_Due]:
        taken = []
        with self._lock:
            now = self.clock.now_ms()
            while self._due and self._due[0].at_ms <= now:
                taken.append(heapq.heappop(self._due))
        return taken

    def _next_due(self) -> int | None:
        with self._lock:
            return self._due[0].at_ms if self._due else None

    def _deliver(self, item: _Due) -> None:
        toolkit = self._toolkits.get()
        try:
            with self.clock.real_time():
                message = self._message(item)
                self._call(toolkit, item, message, duplicate=False)
                with self._lock:
                    twice = item.kind == "poll" and self._random.random() < self.duplicate_rate
                if twice:
                    self._call(toolkit, item, message, duplicate=True)
        finally:
            self._toolkits.put(toolkit)

    def _message(self, item: _Due) -> ChunkMessage:
        task, chunk = item.task, item.chunk
        token = f"aiware-standin-task-token-{secrets.token_hex(8)}"
        if item.poll is None:
            payload = task_payload(
                job_id=task.job_id,
                task_id=task.task_id,
                recording_id=task.tdo_id,
                token=token,
                custom=task.custom,
                veritone_api_base_url=self.api_base_url,
            )
            return ChunkMessage(
                payload,
                chunk_uuid=chunk.uuid,
                chunk_index=chunk.index,
                mime_type=chunk.mime_type,
                start_offset_ms=chunk.start_ms,
                end_offset_ms=chunk.end_ms,
                cache_uri=chunk.cache_uri,
                metadata={"tdoId": task.tdo_id},
            )
        payload = task_payload(
            job_id=task.job_id,
            task_id=item.poll.task_id,
            recording_id=task.tdo_id,
            token=token,
            custom=item.poll.payload,
            veritone_api_base_url=self.api_base_url,
        )
        return ChunkMessage(payload, metadata={"tdoId": task.tdo_id})  # a poll task carries no media

    def _call(self, toolkit: Toolkit, item: _Due, message: ChunkMessage, duplicate: bool) -> Delivery:
        at_ms = self.clock.now_ms()
        with self._lock:
            if item.chunk.status == "queued":
                item.chunk.status = "running"
        result = toolkit.process(message)
        with self._lock:
            reply = _reply(result)
            scheduled = None if duplicate else self._settle(item, result, reply)
            delivery = Delivery(
                item.kind,
                item.poll.task_id if item.poll is not None else item.task.task_id,
                item.task,
                item.chunk,
                at_ms,
                result,
                reply,
                duplicate,
                item.poll,
                scheduled,
            )
            self.deliveries.append(delivery)
            self.stats.deliveries += 1
            self.stats.poll_deliveries += item.kind == "poll"
            self.stats.duplicates += duplicate
            self.stats.calls += result.attempts
            self.stats.retried += result.attempts > 1
            item.chunk.calls += result.attempts
            if self.on_delivery is not None:
                self.on_delivery(delivery)
        return delivery

    def _settle(self, item: _Due, result: ChunkResult, reply: Any) -> PollTask | None:
        """What aiWARE does with the toolkit's report: a result, a failure, or a poll task to run."""
        chunk = item.chunk
        if item.poll is not None:
            item.poll.status = result.status
        if result.status == "failed":
            chunk.status, chunk.failure_reason, chunk.failure_msg = "failed", result.failure_reason, result.failure_msg
            return None
        if result.status == "ignored":
            if item.poll is None:
                chunk.status = "ignored"
            else:  # the chain ends without a result: the original task never hears back
                chunk.note = f"poll task {item.poll.task_id} was ignored (204): no result for the task"
            return None
        if isinstance(reply, dict) and reply.get("type") == "schedule_poll_task":
            next_ms, payload = reply.get("nextPollTimeUTC"), reply.get("taskPayload")
            if not isinstance(next_ms, int) or not isinstance(payload, dict):
                chunk.status, chunk.failure_reason = "failed", "invalid_data"
                chunk.failure_msg = "schedule_poll_task without an integer nextPollTimeUTC and a taskPayload object"
                return None
            if chunk.polls >= MAX_POLLS_PER_CHUNK:
                chunk.status, chunk.failure_reason = "failed", "other"
                chunk.failure_msg = f"more than {MAX_POLLS_PER_CHUNK} poll tasks"
                return None
            chunk.polls += 1
            poll = PollTask(
                f"{item.task.task_id}-c{chunk.index}-poll{chunk.polls}",
                item.task,
                chunk,
                chunk.polls,
                payload,
                max(next_ms, self.clock.now_ms()),  # at nextPollTimeUTC, never earlier
            )
            self.poll_tasks[poll.task_id] = poll
            self._push(_Due(poll.due_ms, next(self._seq), "poll", item.task, chunk, poll))
            return poll
        chunk.status, chunk.output, chunk.note = "complete", reply, ""
        return None

    # -- what aiWARE recorded ------------------------------------------------------------------------

    def statuses(self) -> dict[str, int]:
        counts: dict[str, int] = {}
        for task in self.tasks.values():
            counts[task.status] = counts.get(task.status, 0) + 1
        return counts

    def record(self, task: Task) -> dict[str, Any]:
        """A task as aiWARE would show it: status, failure, and each chunk's outcome and output."""
        failed = task.failed_chunk
        shown: dict[str, Any] = {"taskId": task.task_id, "jobId": task.job_id, "status": task.status}
        if failed is not None:
            shown["failureReason"], shown["failureMsg"] = failed.failure_reason, failed.failure_msg
        shown["chunks"] = [_chunk_record(chunk) for chunk in task.chunks]
        return shown


def _chunk_record(chunk: Chunk) -> dict[str, Any]:
    shown: dict[str, Any] = {
        "chunkIndex": chunk.index,
        "chunkUUID": chunk.uuid,
        "status": chunk.status,
        "polls": chunk.polls,
        "calls": chunk.calls,
    }
    if chunk.output is not None:
        shown["output"] = chunk.output
    if chunk.failure_reason:
        shown["failureReason"], shown["failureMsg"] = chunk.failure_reason, chunk.failure_msg
    if chunk.note:
        shown["note"] = chunk.note
    return shown


def _reply(result: ChunkResult) -> Any:
    if result.status != "complete" or not result.output:
        return None
    try:
        return json.loads(result.output)
    except ValueError:
        return result.output
