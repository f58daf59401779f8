"""The scheduler emulator honours EventBridge Scheduler's promises, and nothing more."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest

from devtools.clocks import ManualClock
from devtools.lambda_host import Invocation
from devtools.scheduler_emulator import SchedulerEmulator
from pollbridge.timing import schedule_expression

FUNCTION = "arn:aws:lambda:us-east-1:123456789012:function:target"
START = 1_767_225_600_000  # 2026-01-01T00:00:00Z


class Recorder:
    def __init__(self, fail_times: int = 0) -> None:
        self.events: list[Any] = []
        self.fail_times = fail_times

    def invoke(self, event: Any) -> Invocation:
        self.events.append(event)
        if len(self.events) <= self.fail_times:
            return Invocation(False, None, "RuntimeError", "boom")
        return Invocation(True, {"ok": True})


@pytest.fixture
def env(aws: dict[str, Any]) -> Iterator[dict[str, Any]]:
    aws["scheduler"].create_schedule_group(Name="g")
    queue = aws["sqs"].create_queue(QueueName="dlq")["QueueUrl"]
    yield {**aws, "queue": queue, "clock": ManualClock(START)}


def create(
    env: dict[str, Any], name: str, at_ms: int, retries: int = 3, max_age_s: int = 3600, action: str = "DELETE"
) -> None:
    env["scheduler"].create_schedule(
        Name=name, GroupName="g", ScheduleExpression=schedule_expression(at_ms), ScheduleExpressionTimezone="UTC",
        FlexibleTimeWindow={"Mode": "OFF"}, ActionAfterCompletion=action,
        Target={"Arn": FUNCTION, "RoleArn": "arn:aws:iam::123456789012:role/r",
                "Input": json.dumps({"n": name, "when": "<aws.scheduler.scheduled-time>",
                                     "arn": "<aws.scheduler.schedule-arn>", "attempt": "<aws.scheduler.attempt-number>",
                                     "id": "<aws.scheduler.execution-id>"}),
                "RetryPolicy": {"MaximumRetryAttempts": retries, "MaximumEventAgeInSeconds": max_age_s},
                "DeadLetterConfig": {"Arn": "arn:aws:sqs:us-east-1:123456789012:dlq"}},
    )  # fmt: skip


def emulator(env: dict[str, Any], target: Recorder, **options: Any) -> SchedulerEmulator:
    return SchedulerEmulator(env["scheduler"], env["sqs"], "g", {FUNCTION: target}, env["clock"], **options)


def names(env: dict[str, Any]) -> list[str]:
    return [s["Name"] for s in env["scheduler"].list_schedules(GroupName="g")["Schedules"]]


@pytest.mark.parametrize("seed", range(5))
def test_fires_within_the_due_minute_never_earlier(env: dict[str, Any], seed: int) -> None:
    target = Recorder()
    at = START + 10 * 60_000 + 30_000  # 00:10:30 -> fires somewhere in 00:10:00-00:10:59
    create(env, "s", at)
    emu = emulator(env, target, seed=seed)
    [planned] = emu.refresh().values()
    assert START + 10 * 60_000 <= planned.fire_at_ms < START + 11 * 60_000
    env["clock"].advance_to(planned.fire_at_ms - 1)
    assert emu.fire_due() == 0 and target.events == []
    env["clock"].advance_to(planned.fire_at_ms)
    assert emu.fire_due() == 1
    assert emu.deliveries[0].fired_at_ms == planned.fire_at_ms
    assert emu.deliveries[0].due_at_ms == at
    env["clock"].advance(3_600_000)
    assert emu.fire_due() == 0  # once only


def test_placeholders_are_filled_and_the_schedule_deleted(env: dict[str, Any]) -> None:
    target = Recorder()
    create(env, "s", START + 60_000)
    emu = emulator(env, target)
    env["clock"].advance_to(START + 120_000)
    emu.fire_due()
    [event] = target.events
    assert event["when"] == "2026-01-01T00:01:00.000Z"
    assert event["arn"].endswith(":schedule/g/s")
    assert event["attempt"] == "1"
    assert len(event["id"]) == 36
    assert names(env) == []
    assert emu.stats.deleted == 1


def test_a_kept_schedule_stays_but_does_not_fire_again(env: dict[str, Any]) -> None:
    target = Recorder()
    create(env, "kept", START + 60_000, action="NONE")
    emu = emulator(env, target)
    env["clock"].advance_to(START + 120_000)
    emu.fire_due()
    env["clock"].advance(3_600_000)
    emu.fire_due()
    assert len(target.events) == 1
    assert names(env) == ["kept"]


def test_failures_are_retried_then_dead_lettered_and_deleted(env: dict[str, Any]) -> None:
    target = Recorder(fail_times=100)
    create(env, "s", START + 60_000, retries=2)
    emu = emulator(env, target)
    for _ in range(10):
        env["clock"].advance(15 * 60_000)
        emu.fire_due()
    assert [e["attempt"] for e in target.events] == ["1", "2", "3"]  # the first try and two retries
    assert emu.stats.retries == 2 and emu.stats.dead_letters == 1
    assert names(env) == []
    [message] = env["sqs"].receive_message(QueueUrl=env["queue"], MessageAttributeNames=["All"])["Messages"]
    assert json.loads(message["Body"])["n"] == "s"
    attributes = {k: v["StringValue"] for k, v in message["MessageAttributes"].items()}
    assert attributes["ERROR_CODE"] == "RuntimeError" and attributes["RETRY_ATTEMPTS"] == "2"


def test_retries_stop_at_the_maximum_event_age(env: dict[str, Any]) -> None:
    target = Recorder(fail_times=100)
    create(env, "s", START + 60_000, retries=185, max_age_s=200)
    emu = emulator(env, target)
    for _ in range(20):
        env["clock"].advance(5 * 60_000)
        emu.fire_due()
    assert len(target.events) <= 3
    assert emu.stats.dead_letters == 1


def test_a_failure_then_success_is_not_dead_lettered(env: dict[str, Any]) -> None:
    target = Recorder(fail_times=1)
    create(env, "s", START + 60_000)
    emu = emulator(env, target)
    for _ in range(5):
        env["clock"].advance(5 * 60_000)
        emu.fire_due()
    assert len(target.events) == 2 and emu.stats.dead_letters == 0
    assert "Messages" not in env["sqs"].receive_message(QueueUrl=env["queue"])


def test_duplicate_delivery_on_purpose(env: dict[str, Any]) -> None:
    target = Recorder()
    for n in range(3):
        create(env, f"s{n}", START + 60_000)
    emu = emulator(env, target, duplicate_rate=1.0)
    env["clock"].advance_to(START + 120_000)
    emu.fire_due()
    assert len(target.events) == 6
    assert emu.stats.duplicates == 3
    assert target.events[0] == target.events[1]  # the same event, same execution id


def test_a_schedule_deleted_by_someone_else_is_forgotten(env: dict[str, Any]) -> None:
    target = Recorder()
    create(env, "s", START + 60_000)
    emu = emulator(env, target)
    emu.refresh()
    env["scheduler"].delete_schedule(Name="s", GroupName="g")
    env["clock"].advance_to(START + 120_000)
    assert emu.fire_due() == 0
