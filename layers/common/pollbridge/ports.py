"""The interfaces core needs; adapters implement them, tests fake them."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Protocol

from pollbridge.models import JobState, MediaChunk, PollPayload, TaskRecord, VtnDocument


class Media:
    """A chunk's media: its bytes and media type, and, for an s3:// chunk of the media bucket, where it
    lies (`s3_uri`). `body` may be given as a loader: it is then read on first use only, so a provider
    that hands the service the object where it lies never reads it."""

    __slots__ = ("_body", "_load", "media_type", "s3_uri")

    def __init__(self, body: bytes | Callable[[], bytes], media_type: str, s3_uri: str | None = None) -> None:
        self._body: bytes | None = body if isinstance(body, bytes) else None
        self._load: Callable[[], bytes] | None = None if isinstance(body, bytes) else body
        self.media_type = media_type
        self.s3_uri = s3_uri

    @property
    def body(self) -> bytes:
        if self._body is None:
            assert self._load is not None
            self._body = self._load()  # raises what the fetch would have (Transient/PermanentError)
        return self._body

    def __repr__(self) -> str:
        size = "unread" if self._body is None else f"{len(self._body)} bytes"
        return f"Media({self.media_type!r}, {size}, s3_uri={self.s3_uri!r})"


@dataclass(frozen=True)
class ResultContext:
    """What a provider's converter needs from the task to write its vtn-standard document."""

    orig_task_id: str
    work_id: str
    media_offset_ms: int  # the chunk's start within the TDO: every time in the document is shifted by it
    engine_name: str
    now_ms: int

    @classmethod
    def of(cls, payload: PollPayload, engine_name: str, now_ms: int) -> ResultContext:
        return cls(payload.origTaskId, payload.workId, payload.mediaOffsetMs, engine_name, now_ms)


@dataclass(frozen=True)
class ScheduledPoll:
    name: str
    at_ms: int
    payload: PollPayload
    active: bool = True  # False: retired (its poll was handled), the name kept until the clean-up


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

    @property
    def option_names(self) -> frozenset[str]:
        """The engineConfig keys this service declares (the webhook drops every other payload key)."""
        ...

    def options(self, engine_config: Mapping[str, Any]) -> dict[str, Any]:
        """The task's engineConfig validated as this service's options (only declared ones pass);
        raises InvalidEventError naming `taskPayload.<key>`. Pure: no call to the service."""
        ...

    def submit(self, media: Media, options: dict[str, Any], idempotency_key: str, staged: str | None = None) -> str:
        """Upload the media and start the job; returns the vendor's job id (workId). Safe to repeat:
        the same idempotency key never starts a second job. `staged`: the media an earlier refused
        submit of this unit left at the service (its TransientError's `staged`), to start from
        without reading `media` (a provider that stages nothing ignores it)."""
        ...

    def status(self, work_id: str) -> JobState:
        """The job's state, the service's status mapped onto exactly one seed status (JobStatus)."""
        ...

    def result(self, work_id: str, context: ResultContext) -> VtnDocument:
        """The finished job's output as this service's vtn-standard document, whose JSON validates
        against the schemas its `validationContracts` name. A ValueError (pydantic's ValidationError)
        means the output cannot be vtn-standard: the task fails as invalid_data."""
        ...

    def cancel(self, work_id: str) -> None:
        """Stop the job, or do nothing where the service cannot (the provider documents what then)."""
        ...


class PollScheduler(Protocol):
    def schedule(self, payload: PollPayload, at_ms: int) -> bool:
        """Create the one-time schedule for payload.pollNumber; False when it already existed."""
        ...

    def find(self, unit: str, poll_number: int) -> ScheduledPoll | None:
        """That poll's schedule, active or retired, only if it belongs to that unit of work
        (naming.unit_key: a task's chunk, or a whole task). Read by name, strongly consistent: the
        loop never lists (a listing lags, by as much as it likes)."""
        ...

    def retire(self, poll: ScheduledPoll) -> bool:
        """Mark a handled poll's schedule so (disabled): it never fires again and its name stays
        taken until the clean-up, so no delivery can create that poll again. False when it is gone."""
        ...

    def unschedule(self, name: str) -> bool:
        """Delete a schedule (the clean-up, by name); False when there was none."""
        ...

    def pending(self, unit: str | None = None) -> list[ScheduledPoll]:
        """Schedules still waiting in the group, of one unit or all (operations; not on the hot path)."""
        ...


class PollQueue(Protocol):
    """The precise-polling hop (PRECISE_POLL_QUEUE_URL): a delay queue whose deliveries run a poll to
    the second. Only a shortcut: the poll's schedule is the ledger and the fallback (core)."""

    def send(self, payload: PollPayload, delay_s: int) -> None:
        """Deliver the signed payload to the poll function in `delay_s` seconds (at least once)."""
        ...


class ResultNotifier(Protocol):
    """A sink told about a finished task after its record is written (RESULT_SINKS)."""

    name: str

    def deliver(self, record: TaskRecord) -> None:
        """Tell the sink; raises TransientError (worth retrying) or PermanentError (refused)."""
        ...


class DeliveryLedger(Protocol):
    """Which sinks already have a task's result, remembered beside the record (no database)."""

    def delivered(self, unit: str) -> set[str]: ...

    def mark_delivered(self, unit: str, sink: str) -> None: ...


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
        """Store the record unless one exists for its unit (TaskRecord.unit); returns the stored record."""
        ...

    def read(self, unit: str) -> TaskRecord | None:
        """The record of a unit of work (naming.unit_key), or None."""
        ...
