"""Core with result sinks, the platform scheduling mode and heartbeats, over the in-memory ports."""

from __future__ import annotations

import dataclasses
from typing import Any

import pytest

from pollbridge import core, decisions
from pollbridge.adapters.platform_scheduler import PlatformPollScheduler
from pollbridge.clock import ManualClock
from pollbridge.errors import DeliveryError, ForgedPayloadError, PermanentError, TransientError
from pollbridge.models import JobState, JobStatus, PollPayload, SchedulePollTask, parse_segment
from pollbridge.naming import schedule_name
from pollbridge.timing import next_poll_time
from tests.support.fakes import COMPLETE, RecordingHeartbeat, RecordingNotifier, World, at_its_time, running, unit_of


def start(world: World, ports: core.Ports, chunk: dict[str, Any]) -> PollPayload:
    message = core.handle_segment(parse_segment(chunk), ports).response
    assert isinstance(message, SchedulePollTask)
    return at_its_time(message.taskPayload)


def with_sinks(world: World, *notifiers: RecordingNotifier) -> core.Ports:
    return dataclasses.replace(world.ports, notifiers=notifiers, ledger=world.sink)


def test_sinks_are_told_after_the_record_and_before_the_schedules_go(
    chunk: dict[str, Any], manual_clock: ManualClock
) -> None:
    world = World()
    aiware, bus = RecordingNotifier("aiware", world.sink), RecordingNotifier("eventbridge", world.sink)
    ports = with_sinks(world, aiware, bus)
    payload = start(world, ports, chunk)
    world.provider.states = [COMPLETE]
    outcome = core.poll(payload, ports)
    assert outcome.kind == "complete"
    assert [r.taskId for r in aiware.told] == [r.taskId for r in bus.told] == [chunk["taskId"]]
    assert world.sink.delivered(unit_of(chunk)) == {"aiware", "eventbridge"}
    assert world.scheduler.schedules == {}


def test_a_failing_sink_fails_the_poll_keeps_its_schedule_and_the_retry_repeats_only_it(
    chunk: dict[str, Any], manual_clock: ManualClock
) -> None:
    world = World()
    aiware = RecordingNotifier("aiware", world.sink, errors=[TransientError("aiWARE answered 503")])
    bus = RecordingNotifier("eventbridge", world.sink)
    ports = with_sinks(world, aiware, bus)
    payload = start(world, ports, chunk)
    world.provider.states = [COMPLETE]
    with pytest.raises(DeliveryError) as failed:
        core.poll(payload, ports)
    assert list(failed.value.failures) == ["aiware"] and failed.value.permanent == []
    assert len(bus.told) == 1  # the other sink was not held back by the failing one
    assert world.sink.record_of(chunk["taskId"]).status == "complete"  # the record is the source of truth
    assert schedule_name(unit_of(chunk), 1) in world.scheduler.schedules  # the retry will not be stale

    manual_clock.advance(60_000)
    again = core.poll(payload, ports)  # Lambda's retry of the same event, a minute later
    assert again.kind == "complete" and again.repeated
    assert len(aiware.told) == 1 and len(bus.told) == 1  # only the missing sink was told
    assert world.sink.write_calls == 2 and len(world.sink.records) == 1
    assert world.scheduler.schedules == {}


def test_a_refusing_sink_is_permanent_and_named(chunk: dict[str, Any], manual_clock: ManualClock) -> None:
    world = World()
    refused = PermanentError("aiWARE refused updateTask (not allowed)", "api_not_allowed")
    aiware = RecordingNotifier("aiware", world.sink, errors=[refused, refused, refused])
    ports = with_sinks(world, aiware)
    payload = start(world, ports, chunk)
    world.provider.states = [COMPLETE]
    for _ in range(3):  # Lambda's attempt and its two retries: each fails alike, then the DLQ
        with pytest.raises(DeliveryError) as failed:
            core.poll(payload, ports)
        assert failed.value.permanent == ["aiware"]
    assert world.sink.delivered(unit_of(chunk)) == set()


def test_nothing_is_delivered_for_a_task_whose_record_was_not_written(
    chunk: dict[str, Any], manual_clock: ManualClock
) -> None:
    world = World()
    aiware = RecordingNotifier("aiware", world.sink)
    ports = with_sinks(world, aiware)
    payload = start(world, ports, chunk)
    world.provider.states = [running()]
    core.poll(payload, ports)
    assert aiware.told == [] and world.sink.records == {}

    def broken(record: Any) -> Any:
        raise TransientError("S3 is down")

    world.sink.write_once = broken  # type: ignore[method-assign]
    world.provider.states = [COMPLETE]
    later = world.scheduler.find(unit_of(chunk), 2)
    assert later is not None
    with pytest.raises(TransientError):
        core.poll(at_its_time(later.payload), ports)
    assert aiware.told == []


def test_platform_mode_schedules_nothing_and_answers_with_the_same_timing(
    chunk: dict[str, Any], manual_clock: ManualClock
) -> None:
    world = World()
    ports = dataclasses.replace(world.ports, scheduler=PlatformPollScheduler(), scheduling="platform")
    started = core.handle_segment(parse_segment(chunk), ports)
    message = started.response
    assert isinstance(message, SchedulePollTask) and message.taskPayload.pollNumber == 1
    assert message.nextPollTimeUTC == next_poll_time(
        manual_clock.now_ms(), decisions.poll_facts(message.taskPayload, first=True), ports.policy
    )
    assert world.scheduler.create_calls == 0

    world.provider.states = [running()]
    second = core.poll(at_its_time(message.taskPayload), ports, task_id="platform-poll-1")
    assert isinstance(second.response, SchedulePollTask)
    assert second.response.taskPayload.pollNumber == 2 and second.response.taskId == "platform-poll-1"
    duplicate = core.poll(message.taskPayload, ports, task_id="platform-poll-1b")  # the platform sent it twice
    assert duplicate.kind == "scheduled"  # harmless: the vendor was only asked again

    world.provider.states = [COMPLETE]
    done = core.poll(at_its_time(second.response.taskPayload), ports)
    assert done.kind == "complete" and len(world.sink.records) == 1
    calls = world.provider.status_calls
    late = core.poll(message.taskPayload, ports)  # any poll after the record: answered with it
    assert late.kind == "stale" and late.record == world.sink.record_of(chunk["taskId"])
    assert world.provider.status_calls == calls  # without asking the vendor again
    assert len(world.provider.submitted) == 1


def test_platform_mode_still_verifies_the_signature_first(chunk: dict[str, Any], manual_clock: ManualClock) -> None:
    world = World()
    ports = dataclasses.replace(world.ports, scheduler=PlatformPollScheduler(), scheduling="platform")
    payload = start(world, ports, chunk)
    with pytest.raises(ForgedPayloadError):
        core.poll(payload.model_copy(update={"deadlineUTC": 0}), ports)
    assert world.provider.status_calls == 0 and world.sink.records == {}


def test_heartbeats_travel_in_the_signed_payload_and_never_fail_a_poll(
    chunk: dict[str, Any], manual_clock: ManualClock
) -> None:
    world = World()
    beats = RecordingHeartbeat()
    ports = dataclasses.replace(world.ports, heartbeat=beats)
    chunk["heartbeatWebhook"] = "https://platform.example/heartbeat/t1"
    payload = start(world, ports, chunk)
    assert payload.heartbeatWebhook == chunk["heartbeatWebhook"]
    with pytest.raises(ForgedPayloadError):  # the URL is covered by the signature
        core.poll(payload.model_copy(update={"heartbeatWebhook": "https://evil.example/"}), ports)
    world.provider.states = [JobState(status=JobStatus.RUNNING, progress=0.4)]
    core.poll(payload, ports)
    [(url, beat)] = beats.beats
    assert url == chunk["heartbeatWebhook"] and (beat.progress, beat.poll_number) == (0.4, 1)

    beats.error = RuntimeError("heartbeat endpoint exploded")
    following = world.scheduler.find(unit_of(chunk), 2)
    assert following is not None
    assert core.poll(at_its_time(following.payload), ports).kind == "scheduled"  # the poll went on


def test_old_payloads_without_a_heartbeat_still_verify(chunk: dict[str, Any], manual_clock: ManualClock) -> None:
    world = World()
    payload = start(world, world.ports, chunk)
    assert payload.heartbeatWebhook is None
    assert "heartbeatWebhook" not in payload.model_dump(exclude_defaults=True)
    world.signer.verify(payload)
