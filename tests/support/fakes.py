"""In-memory implementations of the ports, for tests of core without AWS or a vendor."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from pollbridge import core
from pollbridge.adapters.providers.reference_result import TimedWord, TranscriptResult, to_vtn
from pollbridge.adapters.signing_keys import HmacSigner, StaticKeys
from pollbridge.admission import AdmissionWatch
from pollbridge.core import Ports
from pollbridge.errors import PermanentError, TransientError
from pollbridge.models import (
    JobState,
    JobStatus,
    MediaChunk,
    PollPayload,
    TaskRecord,
    VtnDocument,
    parse_segment,
)
from pollbridge.naming import poll_number_of, schedule_name
from pollbridge.ports import Media, ResultContext, ScheduledPoll
from pollbridge.timing import PollPolicy


def unit_of(chunk: dict[str, Any]) -> str:
    """The unit of work (naming.unit_key) a media_chunk event starts: its task and its chunk."""
    return MediaChunk.model_validate(chunk).unit


class FakeProvider:
    name = "fake"

    def __init__(self) -> None:
        self.submitted: list[tuple[Media, dict[str, Any]]] = []
        self.jobs_by_key: dict[str, str] = {}  # the vendor's idempotency: one job per key
        self.cancelled: list[str] = []
        self.states: list[JobState | Exception] = []  # answers to status(), in order; last repeats
        self.result_answer: TranscriptResult | Exception = TranscriptResult(
            language="en-US", words=[TimedWord(text="hello", start_ms=0, end_ms=300, confidence=0.9)]
        )
        self.submit_error: Exception | None = None
        self.status_calls = 0
        self.stages = False  # True: a refused submit says it left the media at the vendor (staged)
        self.staged_starts: list[str] = []  # the staged media each submit started from
        self.media_read = 0  # submits that read the media's bytes

    option_names = frozenset({"language", "diarize", "vocabulary", "simulate"})

    def options(self, engine_config: Mapping[str, Any]) -> dict[str, Any]:
        return dict(engine_config)

    def submit(self, media: Media, options: dict[str, Any], idempotency_key: str, staged: str | None = None) -> str:
        if staged is None:
            media.body  # noqa: B018 - a vendor that needs the bytes reads them (a lazy Media fetches now)
            self.media_read += 1
        else:
            self.staged_starts.append(staged)
        if self.submit_error:
            if self.stages and isinstance(self.submit_error, TransientError):
                self.submit_error.staged = staged or f"fake://uploads/{idempotency_key}"
            raise self.submit_error
        if idempotency_key not in self.jobs_by_key:
            self.submitted.append((media, options))
            self.jobs_by_key[idempotency_key] = f"work-{len(self.submitted)}"
        return self.jobs_by_key[idempotency_key]

    def status(self, work_id: str) -> JobState:
        self.status_calls += 1
        answer = self.states.pop(0) if len(self.states) > 1 else self.states[0]
        if isinstance(answer, Exception):
            raise answer
        return answer

    def result(self, work_id: str, context: ResultContext) -> VtnDocument:
        if isinstance(self.result_answer, Exception):
            raise self.result_answer
        return to_vtn(self.result_answer, context)

    def cancel(self, work_id: str) -> None:
        self.cancelled.append(work_id)


class FakeScheduler:
    """The PollScheduler port in memory. `schedules` holds the active polls, `retired` the handled
    ones whose names stay taken until the clean-up; `chain` is the tests' view of the active ones
    (core reads by name only)."""

    def __init__(self) -> None:
        self.schedules: dict[str, ScheduledPoll] = {}
        self.retired: dict[str, ScheduledPoll] = {}
        self.create_calls = 0

    def schedule(self, payload: PollPayload, at_ms: int) -> bool:
        self.create_calls += 1
        name = schedule_name(payload.unit, payload.pollNumber)
        if name in self.schedules or name in self.retired:
            return False
        self.schedules[name] = ScheduledPoll(name, at_ms, payload)
        return True

    def find(self, unit: str, poll_number: int) -> ScheduledPoll | None:
        name = schedule_name(unit, poll_number)
        found = self.schedules.get(name) or self.retired.get(name)
        return found if found is not None and found.payload.unit == unit else None

    def retire(self, poll: ScheduledPoll) -> bool:
        found = self.schedules.pop(poll.name, None)
        if found is None:
            return poll.name in self.retired
        self.retired[poll.name] = dataclasses.replace(found, active=False)
        return True

    def chain(self, unit: str) -> list[int]:
        """The tests' view (not the port's): the poll numbers of the unit's active schedules."""
        numbers = (poll_number_of(name, unit) for name in self.schedules)
        return sorted(n for n in numbers if n is not None)

    def unschedule(self, name: str) -> bool:
        found = self.schedules.pop(name, None) or self.retired.pop(name, None)
        return found is not None

    def pending(self, unit: str | None = None) -> list[ScheduledPoll]:
        return [s for s in self.schedules.values() if unit in (None, s.payload.unit)]


class MemorySink:
    def __init__(self) -> None:
        self.records: dict[str, TaskRecord] = {}
        self.write_calls = 0
        self.delivered_to: dict[str, set[str]] = {}  # the DeliveryLedger: what the S3 tags hold

    def delivered(self, task_id: str) -> set[str]:
        return set(self.delivered_to.get(task_id, set()))

    def mark_delivered(self, task_id: str, sink: str) -> None:
        self.delivered_to.setdefault(task_id, set()).add(sink)

    def write_once(self, record: TaskRecord) -> TaskRecord:
        self.write_calls += 1
        return self.records.setdefault(record.unit, record)

    def read(self, unit: str) -> TaskRecord | None:
        return self.records.get(unit)

    def record_of(self, task_id: str) -> TaskRecord:
        """The one record of a task, whichever chunk it is for (records are kept per unit of work)."""
        found = [record for record in self.records.values() if record.taskId == task_id]
        assert len(found) == 1, f"{len(found)} records of task {task_id}"
        return found[0]


class StaticMedia:
    def __init__(self, error: Exception | None = None) -> None:
        self.error = error
        self.fetched: list[str] = []

    def check(self, chunk: MediaChunk) -> None:
        pass

    def fetch(self, chunk: MediaChunk) -> Media:
        if self.error:
            raise self.error
        self.fetched.append(chunk.taskId)
        return Media(chunk.content.encode() if chunk.content is not None else b"media-bytes", chunk.mimeType)


class RecordingNotifier:
    """A result sink that records what it was told, failing with the queued errors first."""

    def __init__(self, name: str, sink: MemorySink, errors: list[Exception] | None = None) -> None:
        self.name = name
        self.sink = sink
        self.errors = list(errors or [])
        self.told: list[TaskRecord] = []

    def deliver(self, record: TaskRecord) -> None:
        assert record.unit in self.sink.records, "a sink was told before the record was written"
        if self.errors:
            raise self.errors.pop(0)
        self.told.append(record)


class RecordingHeartbeat:
    def __init__(self, error: Exception | None = None) -> None:
        self.error = error
        self.beats: list[tuple[str, Any]] = []

    def check(self, url: str) -> None:
        pass

    def report(self, url: str, beat: Any) -> None:
        if self.error:
            raise self.error
        self.beats.append((url, beat))


SIGNING_KEY = "test-signing-key-0123456789abcdef"


@dataclass
class World:
    provider: FakeProvider = field(default_factory=FakeProvider)
    scheduler: FakeScheduler = field(default_factory=FakeScheduler)
    sink: MemorySink = field(default_factory=MemorySink)
    media: StaticMedia = field(default_factory=StaticMedia)
    signer: HmacSigner = field(default_factory=lambda: HmacSigner(StaticKeys(SIGNING_KEY)))
    admission: AdmissionWatch = field(default_factory=AdmissionWatch)  # the container's, kept across calls

    @property
    def ports(self) -> Ports:
        return Ports(
            self.provider, self.scheduler, self.sink, self.media, self.signer, PollPolicy(), 86_400_000, "pollbridge",
            admission=self.admission,
        )  # fmt: skip


def start(world: World, chunk: dict[str, Any]) -> core.Outcome:
    """The segment function's use case for `chunk`, on this world's ports."""
    return core.handle_segment(parse_segment(chunk), world.ports)


def running(eta_ms: int | None = None) -> JobState:
    return JobState(status=JobStatus.RUNNING, progress=0.5, estimated_completion_utc=eta_ms)


COMPLETE = JobState(status=JobStatus.COMPLETE)
TRANSIENT = TransientError("vendor answered 503", retry_after_s=None)
PERMANENT = PermanentError("vendor answered 404 not_found", "api_not_found")


def at_its_time(payload: PollPayload) -> PollPayload:
    """Move the test's manual clock to when the scheduler would deliver this payload (a delivery
    before `notBeforeUTC` is a replay, and is answered without effect)."""
    from pollbridge import clock

    current = clock.install(clock.SystemClock())
    clock.install(current)
    if payload.notBeforeUTC is not None and current.now_ms() < payload.notBeforeUTC:
        current.advance_to(payload.notBeforeUTC)  # type: ignore[attr-defined]  # the tests' ManualClock
    return payload
