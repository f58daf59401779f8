"""A live stack whose SchedulingMode or Provider changes keeps its in-flight tasks (issue 15, finding
10): a poll follows the chain that holds it (the payload says which), and a task whose provider went
away ends with a record instead of a dead letter without one."""

from __future__ import annotations

import dataclasses
from typing import Any

import pytest

from pollbridge import core, wiring
from pollbridge.adapters.platform_scheduler import PlatformPollScheduler
from pollbridge.clock import ManualClock
from pollbridge.models import PolledChunk, SchedulePollTask, parse_segment
from pollbridge.ports import PollScheduler
from tests.support.fakes import COMPLETE, World, at_its_time, running, start


def test_payloads_say_which_chain_holds_them(world: World, chunk: dict[str, Any]) -> None:
    eventbridge = start(world, chunk).response
    platform_world = World()
    platform_ports = dataclasses.replace(platform_world.ports, scheduler=PlatformPollScheduler(), scheduling="platform")
    platform = core.handle_segment(parse_segment(chunk), platform_ports).response
    assert isinstance(eventbridge, SchedulePollTask) and eventbridge.taskPayload.scheduledBy is None
    assert isinstance(platform, SchedulePollTask) and platform.taskPayload.scheduledBy == "platform"


def test_a_stack_switched_to_platform_mode_drains_its_eventbridge_chains(
    world: World, chunk: dict[str, Any], manual_clock: ManualClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    world.provider.states = [running(), COMPLETE]
    started = start(world, chunk).response
    assert isinstance(started, SchedulePollTask)
    # SCHEDULING_MODE is now platform: the poll function still runs (and continues) the EventBridge chain
    switched = dataclasses.replace(world.ports, scheduler=PlatformPollScheduler(), scheduling="platform")

    def chain_scheduler(scheduling: str) -> PollScheduler:
        return world.scheduler if scheduling == "eventbridge" else PlatformPollScheduler()

    monkeypatch.setattr(wiring, "_scheduler_for", chain_scheduler)
    polled = wiring.with_scheduling(switched, "eventbridge")
    payload = started.taskPayload
    while True:
        outcome = core.poll(at_its_time(payload), polled)
        if not isinstance(outcome.response, SchedulePollTask):
            break
        payload = outcome.response.taskPayload
    assert outcome.kind == "complete" and world.scheduler.schedules == {}
    assert world.sink.record_of(chunk["taskId"]).status == "complete"


def test_a_platform_poll_task_routed_back_after_a_switch_to_eventbridge_is_still_polled(
    chunk: dict[str, Any], manual_clock: ManualClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    world = World()
    world.provider.states = [COMPLETE]
    platform = dataclasses.replace(world.ports, scheduler=PlatformPollScheduler(), scheduling="platform")
    started = core.handle_segment(parse_segment(chunk), platform).response
    assert isinstance(started, SchedulePollTask)
    monkeypatch.setattr(wiring, "_scheduler_for", lambda scheduling: PlatformPollScheduler())
    routed = PolledChunk.model_validate({**chunk, "taskPayload": at_its_time(started.taskPayload).model_dump()})
    ports = wiring.segment_ports(routed, world.ports)  # SCHEDULING_MODE is eventbridge now
    assert ports.scheduling == "platform"
    outcome = core.handle_segment(routed, ports)
    assert outcome.kind == "complete"  # not dropped as stale for want of an EventBridge schedule


def test_a_task_whose_provider_was_switched_away_ends_with_a_record(
    world: World, chunk: dict[str, Any], manual_clock: ManualClock
) -> None:
    started = start(world, chunk).response
    assert isinstance(started, SchedulePollTask)
    payload = started.taskPayload.model_copy(update={"provider": "transcribe", "signature": None})
    payload = world.ports.signer.sign(payload)  # a validly signed payload of the old provider
    outcome = core.poll(at_its_time(payload), world.ports)
    record = world.sink.record_of(chunk["taskId"])
    assert outcome.kind == "failed" and record.failureReason == "system_error"
    assert "PROVIDER changed" in (record.failureMessage or "") and world.scheduler.schedules == {}
