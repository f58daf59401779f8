"""The interfaces core needs; adapters implement them, tests fake them."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Protocol

from pollbridge.models import JobState, MediaChunk, PollPayload, TaskRecord, TranscriptResult


@dataclass(frozen=True)
class Media:
    body: bytes
    media_type: str


@dataclass(frozen=True)
class ScheduledPoll:
    name: str
    at_ms: int
    payload: PollPayload


class MediaSource(Protocol):
    def check(self, chunk: MediaChunk) -> None:
        """Refuse, as an InvalidEventError naming cacheURI, what needs no network call to refuse."""
        ...

    def fetch(self, chunk: MediaChunk) -> Media:
        """The chunk's bytes; raises TransientError or PermanentError (with a url_* reason)."""
        ...


class Provider(Protocol):
    """A third-party job service. Raises TransientError or PermanentError."""

    name: str

    def options(self, engine_config: Mapping[str, Any]) -> dict[str, Any]:
        """The task's engineConfig validated as this service's options (only declared ones pass);
        raises InvalidEventError naming `taskPayload.<key>`. Pure: no call to the service."""
        ...

    def submit(self, media: Media, options: dict[str, Any], idempotency_key: str) -> str:
        """Upload the media and start the job; returns the vendor's job id (workId). Safe to repeat:
        the same idempotency key never starts a second job."""
        ...

    def status(self, work_id: str) -> JobState: ...

    def result(self, work_id: str) -> TranscriptResult: ...

    def cancel(self, work_id: str) -> None: ...


class PollScheduler(Protocol):
    def schedule(self, payload: PollPayload, at_ms: int) -> bool:
        """Create the one-time schedule for payload.pollNumber; False when it already existed."""
        ...

    def find(self, orig_task_id: str, poll_number: int) -> ScheduledPoll | None:
        """The pending schedule of that poll, only if it belongs to that task."""
        ...

    def chain(self, orig_task_id: str) -> list[int]:
        """Poll numbers of the task's schedules still in the group (one listing; no payloads).

        A poll deletes its own schedule only after creating the next one, so from the first poll's
        scheduling until the record is written a running task always has at least one."""
        ...

    def unschedule(self, name: str) -> bool:
        """Delete a pending schedule; False when there was none."""
        ...

    def pending(self, orig_task_id: str | None = None) -> list[ScheduledPoll]:
        """Schedules still waiting in the group, of one task or all (operations; not on the hot path)."""
        ...


class ResultNotifier(Protocol):
    """A sink told about a finished task after its record is written (RESULT_SINKS)."""

    name: str

    def deliver(self, record: TaskRecord) -> None:
        """Tell the sink; raises TransientError (worth retrying) or PermanentError (refused)."""
        ...


class DeliveryLedger(Protocol):
    """Which sinks already have a task's result, remembered beside the record (no database)."""

    def delivered(self, task_id: str) -> set[str]: ...

    def mark_delivered(self, task_id: str, sink: str) -> None: ...


@dataclass(frozen=True)
class Heartbeat:
    """What a poll tells the platform's heartbeatWebhook: the task is alive, and how far it got."""

    orig_task_id: str
    poll_number: int
    job_status: str
    progress: float | None = None


class HeartbeatReporter(Protocol):
    def check(self, url: str) -> None:
        """Refuse, as an InvalidEventError naming heartbeatWebhook, what needs no network call to refuse."""
        ...

    def report(self, url: str, beat: Heartbeat) -> None:
        """Best effort: never raises (a failing heartbeat never fails a poll)."""
        ...


class PayloadSigner(Protocol):
    def sign(self, payload: PollPayload) -> PollPayload: ...

    def verify(self, payload: PollPayload) -> None:
        """Raises ForgedPayloadError unless the payload carries a valid signature."""
        ...


class RecordSink(Protocol):
    def write_once(self, record: TaskRecord) -> TaskRecord:
        """Store the record unless one exists for its taskId; returns the stored record."""
        ...

    def read(self, task_id: str) -> TaskRecord | None: ...
