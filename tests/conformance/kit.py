"""The provider conformance suite: what every provider must do, whatever service it wraps.

A provider passes it by subclassing `ProviderConformance` in a `test_*.py` module and giving a
`harness` fixture: its Provider wired to a stand-in for its service (a fake client, moto, a simulator)
plus the few levers the suite needs (set a service status, finish a job, make calls fail). The suite
then checks, through the provider alone and through core's real use cases:

- options: declared keys pass; unknown or credential-like keys and bad values are named, nothing called;
- submit is safe to repeat: the same idempotency key never starts a second job;
- every service status maps to exactly one seed status;
- transient service errors (throttling, 5xx) are TransientError and never fail a task;
- a finished job's result is schema-valid vtn-standard, on the TDO's timeline;
- cancel stops the job, or (where the service has no cancel) does nothing and says so;
- the task's payload stays under PAYLOAD_BOUND_BYTES, whatever the provider puts in it.
"""

from __future__ import annotations

import contextlib
import json
import sys
from abc import ABC, abstractmethod
from collections.abc import Mapping
from typing import Any, Literal

import pytest

from pollbridge import core
from pollbridge.adapters.signing_keys import HmacSigner, StaticKeys
from pollbridge.clock import ManualClock
from pollbridge.errors import InvalidEventError, TransientError
from pollbridge.models import JobStatus, MediaChunk, PollPayload
from pollbridge.naming import idempotency_key
from pollbridge.ports import Media, Provider, ResultContext
from pollbridge.timing import PollPolicy
from tests.conftest import validate_vtn
from tests.support.fakes import SIGNING_KEY, FakeScheduler, MemorySink, at_its_time

# The bound on a task's payload (the scheduler's Input), far under EventBridge Scheduler's 256 KB: what
# core refuses to exceed before submitting, and what every provider's options and work ids must fit.
PAYLOAD_BOUND_BYTES = core.MAX_PAYLOAD_BYTES  # 16 KiB
MEDIA_OFFSET_MS = 90_000  # the chunk's start within the TDO: every result time must be shifted by it

type Failure = Literal["throttling", "server_error"]


class Harness(ABC):
    """One provider and a stand-in for its service."""

    provider: Provider
    media: Media  # a chunk the service accepts
    engine_config: dict[str, Any]  # a valid engineConfig that uses the provider's options
    bad_option: tuple[str, Any]  # a declared option with a value the provider must refuse
    service_statuses: Mapping[str, JobStatus]  # every status the service documents -> the seed's
    cancel_supported: bool = True

    @abstractmethod
    def jobs_started(self) -> int:
        """How many jobs the service has started."""

    @abstractmethod
    def set_status(self, work_id: str, service_status: str) -> None:
        """Make the service report this status (its own word for it) for the job."""

    @abstractmethod
    def finish(self, work_id: str) -> None:
        """Finish the job with a realistic result."""

    @abstractmethod
    def failing(self, kind: Failure) -> contextlib.AbstractContextManager[None]:
        """Inside, every call to the service fails this way."""

    @abstractmethod
    def cancelled(self, work_id: str) -> bool:
        """Whether the service stopped (or deleted) the job."""


class _MediaOf:
    def __init__(self, media: Media) -> None:
        self.media = media

    def check(self, chunk: MediaChunk) -> None:
        pass

    def fetch(self, chunk: MediaChunk) -> Media:
        return self.media


def _ports(harness: Harness) -> tuple[core.Ports, FakeScheduler, MemorySink]:
    scheduler, sink = FakeScheduler(), MemorySink()
    ports = core.Ports(
        harness.provider,
        scheduler,
        sink,
        _MediaOf(harness.media),
        HmacSigner(StaticKeys(SIGNING_KEY)),
        PollPolicy(),
        86_400_000,
        "pollbridge",
    )
    return ports, scheduler, sink


def _chunk(harness: Harness, task_id: str = "conformance-task-1") -> MediaChunk:
    return MediaChunk.model_validate(
        {
            "type": "media_chunk",
            "taskId": task_id,
            "tdoId": "tdo-1",
            "jobId": "job-1",
            "mimeType": harness.media.media_type,
            "content": "(the media source is the harness's)",
            "startOffsetMs": MEDIA_OFFSET_MS,
            "taskPayload": harness.engine_config,
        }
    )


def _payload(outcome: core.Outcome) -> PollPayload:
    """The scheduled poll's payload, the clock moved to when it is due (an earlier delivery is stale)."""
    assert outcome.kind == "scheduled", outcome
    payload = outcome.reply()["taskPayload"]
    return at_its_time(PollPayload.model_validate(payload))


def _size(payload: PollPayload) -> int:
    return len(json.dumps(payload.model_dump(mode="json")).encode())


class ProviderConformance:
    """Subclass as `Test<Provider>Conformance` with a `harness` fixture."""

    @pytest.fixture
    def started(self, harness: Harness) -> str:
        options = harness.provider.options(harness.engine_config)
        return harness.provider.submit(harness.media, options, idempotency_key("conformance-task-1", "job"))

    # --- options ---------------------------------------------------------------------------

    def test_declared_options_pass_unknown_and_credential_like_ones_do_not(self, harness: Harness) -> None:
        options = harness.provider.options(harness.engine_config)
        assert options and json.loads(json.dumps(options)) == options  # JSON, carried in the payload
        for key in ("noSuchOption", "apiKey", "x-auth-token"):
            with pytest.raises(InvalidEventError) as caught:
                harness.provider.options({**harness.engine_config, key: "s3cr3t-value"})
            assert f"taskPayload.{key}" in str(caught.value) and "s3cr3t-value" not in str(caught.value)
        key, value = harness.bad_option
        with pytest.raises(InvalidEventError, match=f"taskPayload.{key}"):
            harness.provider.options({**harness.engine_config, key: value})
        assert harness.jobs_started() == 0  # options are checked without calling the service

    # --- submit ----------------------------------------------------------------------------

    def test_submit_is_safe_to_repeat(self, harness: Harness, started: str) -> None:
        options = harness.provider.options(harness.engine_config)
        again = harness.provider.submit(harness.media, options, idempotency_key("conformance-task-1", "job"))
        assert again == started and harness.jobs_started() == 1
        other = harness.provider.submit(harness.media, options, idempotency_key("conformance-task-2", "job"))
        assert other != started and harness.jobs_started() == 2
        assert 0 < len(started) <= 512  # a workId fits the payload's Identifier

    # --- status ----------------------------------------------------------------------------

    def test_every_service_status_maps_to_exactly_one_seed_status(self, harness: Harness, started: str) -> None:
        assert {JobStatus.COMPLETE, JobStatus.FAILED} <= set(harness.service_statuses.values())
        for service_status, seed_status in harness.service_statuses.items():
            harness.set_status(started, service_status)
            assert harness.provider.status(started).status is seed_status, service_status
            assert harness.provider.status(started).status is seed_status, service_status  # and stays so

    def test_a_failed_job_says_why(self, harness: Harness, started: str) -> None:
        failed = next(s for s, seed in harness.service_statuses.items() if seed is JobStatus.FAILED)
        harness.set_status(started, failed)
        state = harness.provider.status(started)
        assert state.status is JobStatus.FAILED and state.error_message

    @pytest.mark.parametrize("kind", ["throttling", "server_error"])
    def test_transient_service_errors_are_transient(self, harness: Harness, started: str, kind: Failure) -> None:
        with harness.failing(kind), pytest.raises(TransientError):
            harness.provider.status(started)
        harness.finish(started)
        context = ResultContext("conformance-task-1", started, MEDIA_OFFSET_MS, "pollbridge", 0)
        with harness.failing(kind), pytest.raises(TransientError):
            harness.provider.result(started, context)

    @pytest.mark.parametrize("kind", ["throttling", "server_error"])
    def test_transient_service_errors_never_fail_a_task(
        self, harness: Harness, manual_clock: ManualClock, kind: Failure
    ) -> None:
        ports, scheduler, sink = _ports(harness)
        payload = _payload(core.start_task(_chunk(harness), ports))
        for _ in range(3):
            manual_clock.advance(900_000)
            with harness.failing(kind):
                payload = _payload(core.poll(payload, ports))
        assert payload.transientErrors == 3 and sink.records == {}
        manual_clock.advance(900_000)
        harness.finish(payload.workId)
        with harness.failing(kind):  # the job is done, but the service still fails: poll again later
            payload = _payload(core.poll(payload, ports))
        manual_clock.advance(900_000)
        finished = core.poll(payload, ports)
        assert finished.kind == "complete" and sink.record_of(payload.origTaskId).status == "complete"
        assert harness.jobs_started() == 1 and list(scheduler.schedules) == []

    # --- result ----------------------------------------------------------------------------

    def test_a_finished_jobs_result_is_schema_valid_vtn_standard(
        self, harness: Harness, started: str, vtn_validators: Any
    ) -> None:
        harness.finish(started)
        assert harness.provider.status(started).status is JobStatus.COMPLETE
        context = ResultContext("conformance-task-1", started, MEDIA_OFFSET_MS, "pollbridge", 1_767_225_600_000)
        document = harness.provider.result(started, context).model_dump(mode="json", exclude_none=True)
        validate_vtn(vtn_validators, document)
        assert document["taskId"] == "conformance-task-1" and document["externalSourceId"] == started
        assert document["generatedDateUTC"] == "2026-01-01T00:00:00.000Z"
        assert document["series"], "the harness's result has content"
        assert all(MEDIA_OFFSET_MS <= s["startTimeMs"] <= s["stopTimeMs"] for s in document["series"])

    def test_a_whole_task_through_core_writes_a_valid_record(
        self, harness: Harness, manual_clock: ManualClock, vtn_validators: Any
    ) -> None:
        ports, scheduler, sink = _ports(harness)
        chunk = _chunk(harness)
        payload = _payload(core.start_task(chunk, ports))
        assert _payload(core.start_task(chunk, ports)).workId == payload.workId  # a repeated segment
        running = next(s for s, seed in harness.service_statuses.items() if not seed.finished)
        harness.set_status(payload.workId, running)
        manual_clock.advance(120_000)
        payload = _payload(core.poll(payload, ports))
        harness.finish(payload.workId)
        manual_clock.advance(900_000)
        outcome = core.poll(payload, ports)
        assert outcome.kind == "complete"
        record = sink.record_of(chunk.taskId)
        assert record.status == "complete" and record.workId == payload.workId and record.output is not None
        validate_vtn(vtn_validators, record.output)
        assert harness.jobs_started() == 1 and list(scheduler.schedules) == []

    # --- cancel ----------------------------------------------------------------------------

    def test_cancel_stops_the_job_or_is_a_documented_no_op(self, harness: Harness, started: str) -> None:
        harness.provider.cancel(started)
        assert harness.cancelled(started) is harness.cancel_supported
        harness.provider.cancel(started)  # twice: a job already stopped is no error
        if not harness.cancel_supported:  # the provider's module says what happens instead
            documented = str(sys.modules[type(harness.provider).__module__].__doc__)
            assert "cannot be stopped" in documented and "cancel" in documented

    # --- the payload -------------------------------------------------------------------------

    def test_the_payload_stays_under_its_bound(self, harness: Harness, manual_clock: ManualClock) -> None:
        ports, _, _ = _ports(harness)
        longest_id = "t" * 512  # the longest origTaskId pollbridge accepts
        payload = _payload(core.start_task(_chunk(harness, longest_id), ports))
        assert _size(payload) <= PAYLOAD_BOUND_BYTES
        running = next(s for s, seed in harness.service_statuses.items() if not seed.finished)
        harness.set_status(payload.workId, running)
        polled = 0
        for _ in range(3):  # polls change numbers only
            outcome = core.poll(payload, ports)
            if outcome.kind != "scheduled":  # a far ETA may reach the task's deadline first
                break
            payload, polled = _payload(outcome), polled + 1
        assert polled >= 1 and _size(payload) <= PAYLOAD_BOUND_BYTES
        grown = payload.model_copy(update={"pollNumber": 9_999_999, "transientErrors": 9_999_999})
        assert _size(ports.signer.sign(grown)) <= PAYLOAD_BOUND_BYTES
