"""The real handlers on the local cloud (moto server, vendor simulator), driven by a manual clock."""

from __future__ import annotations

import copy
from collections.abc import Iterator
from typing import Any

import pytest

from devtools.cloud.local_cloud import LocalCloud
from devtools.cloud.local_values import LOCAL_SIGNING_KEY
from devtools.standins.vendor_simulator import SimConfig
from pollbridge import signing
from pollbridge.models import PollPayload
from pollbridge.naming import schedule_name
from pollbridge.timing import minute_of
from pollbridge.wiring import container_ports
from tests.support.fakes import unit_of


@pytest.fixture
def cloud() -> Iterator[LocalCloud]:
    with LocalCloud(manual_clock=True, sim_config=SimConfig(duration_s=(200, 200), queue_s=(0, 0))) as running:
        yield running


def nothing_left(cloud: LocalCloud) -> None:
    assert cloud.pending_schedules() == []
    assert cloud.records() == {}
    assert cloud.simulator.jobs == {}


def test_one_task_segment_poll_poll_record(cloud: LocalCloud, chunk: dict[str, Any], vtn_validator: Any) -> None:
    started = cloud.invoke("SegmentFunction", chunk)
    assert started.ok, started.error_message
    assert started.value["type"] == "schedule_poll_task"
    assert cloud.pending_schedules(polls_only=True) == [schedule_name(unit_of(chunk), 1)]
    cloud.run_until_idle()
    polls = [d for d in cloud.emulator.deliveries if not d.duplicate]
    assert len(polls) >= 2  # the job takes 240 s: at least one poll finds it running
    # EventBridge Scheduler's promise: within the minute of the at() time, never before that minute
    assert all(minute_of(d.due_at_ms) <= d.fired_at_ms < minute_of(d.due_at_ms) + 60_000 for d in polls)
    assert polls[-1].result.value["taskId"] == chunk["taskId"]
    vtn_validator.validate(polls[-1].result.value)
    record = cloud.records()[chunk["taskId"]]
    assert record["status"] == "complete" and record["polls"] == len(polls)
    assert record["output"] == polls[-1].result.value
    assert cloud.pending_schedules() == []
    assert list(cloud.record_versions(chunk["taskId"]).values()) == [1]


def test_every_event_delivered_twice_changes_nothing(chunk: dict[str, Any]) -> None:
    with LocalCloud(manual_clock=True, duplicate_rate=1.0) as cloud:
        first = cloud.invoke("SegmentFunction", chunk)
        second = cloud.invoke("SegmentFunction", chunk)
        assert second.value["alreadyScheduled"] is True
        assert second.value["taskPayload"] == first.value["taskPayload"]
        assert len(cloud.simulator.jobs) == 1
        cloud.run_until_idle()
        duplicates = [d for d in cloud.emulator.deliveries if d.duplicate]
        assert duplicates and all(d.result.ok for d in duplicates)
        assert cloud.pending_schedules() == []
        assert list(cloud.records()) == [chunk["taskId"]]
        assert list(cloud.record_versions(chunk["taskId"]).values()) == [1]
        # and once more, long after the task finished: still one record
        final = next(d for d in reversed(cloud.emulator.deliveries) if not d.duplicate)
        late = cloud.invoke("PollFunction", final.event)
        assert late.ok and late.value == final.result.value
        assert list(cloud.record_versions(chunk["taskId"]).values()) == [1]


@pytest.mark.parametrize(
    "event",
    [
        None,
        [],
        "{not json",
        {"type": "media_chunk"},
        {"type": "media_chunk", "taskId": "t", "tdoId": "d", "jobId": "j", "mimeType": "audio/wav"},
        {
            "type": "media_chunk",
            "taskId": "t",
            "tdoId": "d",
            "jobId": "j",
            "mimeType": "audio/wav",
            "cacheURI": "file:///etc/passwd",
        },
        {"type": "media_chunk", "taskId": 7, "tdoId": "d", "jobId": "j", "mimeType": "audio/wav", "content": "x"},
    ],
)
def test_bad_segment_events_get_a_clear_error_and_leave_nothing(cloud: LocalCloud, event: Any) -> None:
    result = cloud.invoke("SegmentFunction", event)
    assert not result.ok
    assert result.error_type == "InvalidEventError"
    assert "invalid media_chunk" in (result.error_message or "")
    nothing_left(cloud)


def test_bad_poll_events_name_the_field_and_leave_nothing(cloud: LocalCloud, poll_event: dict[str, Any]) -> None:
    for field, value in (("origTaskId", None), ("workId", 5), ("isPollTask", "yes")):
        event = copy.deepcopy(poll_event)
        event[field] = value
        result = cloud.invoke("PollFunction", event)
        assert (result.ok, result.error_type) == (False, "InvalidEventError")
        assert field in (result.error_message or "")
    missing = {k: v for k, v in poll_event.items() if k != "origTaskId"}
    result = cloud.invoke("PollFunction", missing)
    assert "origTaskId: Field required" in (result.error_message or "")
    nothing_left(cloud)


def test_vendor_failure_and_unknown_job_write_failed_records(
    cloud: LocalCloud, chunk: dict[str, Any], poll_event: dict[str, Any]
) -> None:
    chunk["taskPayload"]["simulate"] = {"durationSeconds": 100, "outcome": "failed", "errorCode": "unsupported_media"}
    assert cloud.invoke("SegmentFunction", chunk).ok
    cloud.run_until_idle()
    record = cloud.records()[chunk["taskId"]]
    assert (record["status"], record["failureReason"]) == ("failed", "invalid_data")
    assert "unsupported_media" in record["failureMessage"]

    # A validly signed poll for a job the vendor does not know, whose schedule is pending
    ghost = PollPayload.model_validate({**poll_event, "origTaskId": "ghost-task", "workId": "j_999999"})
    ghost = signing.sign(ghost, LOCAL_SIGNING_KEY.encode())
    assert container_ports().scheduler.schedule(ghost, cloud.clock.now_ms() + 120_000)  # the functions' own adapter
    result = cloud.invoke("PollFunction", ghost.model_dump(mode="json"))
    assert result.ok and result.value["status"] == "failed"
    assert cloud.records()["ghost-task"]["failureReason"] == "api_not_found"
    assert cloud.pending_schedules() == []


def test_a_forged_or_unsigned_poll_is_rejected_and_changes_nothing(
    cloud: LocalCloud, chunk: dict[str, Any], vtn_validator: Any
) -> None:
    started = cloud.invoke("SegmentFunction", chunk).value
    payload = started["taskPayload"]
    vendor_calls = dict(cloud.simulator.config.stats)
    for forged in (
        {**payload, "deadlineUTC": 0},  # would cancel the victim's job
        {**payload, "pollNumber": 9},  # would start a second chain
        {**payload, "workId": "j_000999"},  # would write the record from another job
        {k: v for k, v in payload.items() if k != "signature"},  # unsigned
        {**payload, "signature": signing.signature(PollPayload.model_validate(payload), b"x" * 32)},  # other key
    ):
        for function, event in (("PollFunction", forged), ("SegmentFunction", {**chunk, "taskPayload": forged})):
            result = cloud.invoke(function, event)
            assert (result.ok, result.error_type) == (False, "ForgedPayloadError"), (function, forged)
            assert "taskPayload.signature" in (result.error_message or "")
    assert cloud.simulator.config.stats == vendor_calls  # nothing reached the vendor
    assert cloud.records() == {} and cloud.pending_schedules(polls_only=True) == [schedule_name(unit_of(chunk), 1)]


def test_a_missing_setting_is_named(cloud: LocalCloud, chunk: dict[str, Any], monkeypatch: pytest.MonkeyPatch) -> None:
    from devtools.cloud.container_env import forget_cached_wiring

    monkeypatch.delenv("RESULTS_BUCKET")
    forget_cached_wiring()
    result = cloud.invoke("SegmentFunction", chunk)
    assert (result.ok, result.error_type) == (False, "ConfigurationError")
    assert "RESULTS_BUCKET: missing setting" in (result.error_message or "")
    monkeypatch.undo()
    forget_cached_wiring()
    nothing_left(cloud)
