"""The scheduler emulator honours EventBridge Scheduler's promises, and nothing more; what happens to
an event after Lambda accepted it is Lambda's asynchronous queue's business (EventInvokeConfig)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest

from devtools.cloud.lambda_host import Invocation
from devtools.cloud.scheduler_emulator import SchedulerEmulator
from devtools.cloud.template_stack import AsyncInvokeConfig
from pollbridge.adapters.scheduler import schedule_expression
from pollbridge.clock import ManualClock
from pollbridge.naming import schedule_name
from tests.support.fakes import unit_of

FUNCTION = "arn:aws:lambda:us-east-1:123456789012:function:target"
MISSING = "arn:aws:lambda:us-east-1:123456789012:function:nobody-home"
SCHEDULER_DLQ = "arn:aws:sqs:us-east-1:123456789012:dlq"
ON_FAILURE = "arn:aws:sqs:us-east-1:123456789012:on-failure"
START = 1_767_225_600_000  # 2026-01-01T00:00:00Z


class Recorder:
    """A function that fails its first `fail_times` invocations; remembers when it ran."""

    def __init__(self, clock: ManualClock, fail_times: int = 0) -> None:
        self.clock = clock
        self.events: list[Any] = []
        self.times: list[int] = []
        self.request_ids: list[str | None] = []
        self.fail_times = fail_times

    def invoke(self, event: Any, request_id: str | None = None) -> Invocation:
        self.events.append(event)
        self.times.append(self.clock.now_ms())
        self.request_ids.append(request_id)
        if len(self.events) <= self.fail_times:
            return Invocation(False, None, "RuntimeError", "boom", stack_trace=('  File "app.py", line 1\n',))
        return Invocation(True, {"ok": True})


@pytest.fixture
def env(aws: dict[str, Any]) -> Iterator[dict[str, Any]]:
    aws["scheduler"].create_schedule_group(Name="g")
    queue = aws["sqs"].create_queue(QueueName="dlq")["QueueUrl"]
    on_failure = aws["sqs"].create_queue(QueueName="on-failure")["QueueUrl"]
    yield {**aws, "queue": queue, "on_failure": on_failure, "clock": ManualClock(START)}


def create(
    env: dict[str, Any],
    name: str,
    at_ms: int,
    retries: int = 3,
    max_age_s: int = 3600,
    action: str = "DELETE",
    target: str = FUNCTION,
) -> None:
    env["scheduler"].create_schedule(
        Name=name, GroupName="g", ScheduleExpression=schedule_expression(at_ms), ScheduleExpressionTimezone="UTC",
        FlexibleTimeWindow={"Mode": "OFF"}, ActionAfterCompletion=action,
        Target={"Arn": target, "RoleArn": "arn:aws:iam::123456789012:role/r",
                "Input": json.dumps({"n": name, "when": "<aws.scheduler.scheduled-time>",
                                     "arn": "<aws.scheduler.schedule-arn>", "attempt": "<aws.scheduler.attempt-number>",
                                     "id": "<aws.scheduler.execution-id>"}),
                "RetryPolicy": {"MaximumRetryAttempts": retries, "MaximumEventAgeInSeconds": max_age_s},
                "DeadLetterConfig": {"Arn": SCHEDULER_DLQ}},
    )  # fmt: skip


def emulator(
    env: dict[str, Any], target: Recorder, config: AsyncInvokeConfig | None = None, **options: Any
) -> SchedulerEmulator:
    configs = {FUNCTION: config or AsyncInvokeConfig(on_failure_arn=ON_FAILURE, on_failure_type="SQS")}
    return SchedulerEmulator(
        env["scheduler"], env["sqs"], "g", {FUNCTION: target}, env["clock"], async_configs=configs, **options
    )


def names(env: dict[str, Any]) -> list[str]:
    return [s["Name"] for s in env["scheduler"].list_schedules(GroupName="g")["Schedules"]]


def messages(env: dict[str, Any], queue: str) -> list[dict[str, Any]]:
    return (
        env["sqs"]
        .receive_message(QueueUrl=env[queue], MaxNumberOfMessages=10, MessageAttributeNames=["All"])
        .get("Messages", [])
    )


def run_for(env: dict[str, Any], emu: SchedulerEmulator, minutes: int) -> None:
    """Move the manual clock from one moment the emulator names to the next, for `minutes`."""
    until = env["clock"].now_ms() + minutes * 60_000
    while (upcoming := (emu.refresh(), emu.next_fire_ms())[1]) is not None and upcoming <= until:
        env["clock"].advance_to(upcoming)
        emu.fire_due(refresh=False)
    env["clock"].advance_to(until)


@pytest.mark.parametrize("seed", range(5))
def test_fires_within_the_due_minute_never_earlier(env: dict[str, Any], seed: int) -> None:
    target = Recorder(env["clock"])
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
    assert emu.next_fire_ms() is None


def test_deliveries_not_kept_are_still_counted_and_handed_on(env: dict[str, Any]) -> None:
    """keep_deliveries=False (the burst): fire_due still says how many ran (the workload's driver
    moves the clock by it: a 0 made it jump past due polls), and on_delivery still sees each."""
    target = Recorder(env["clock"])
    create(env, "s", START + 10 * 60_000)
    emu = emulator(env, target)
    seen: list[Any] = []
    emu.keep_deliveries, emu.on_delivery = False, seen.append
    [planned] = emu.refresh().values()
    env["clock"].advance_to(planned.fire_at_ms)
    assert emu.fire_due() == 1 and emu.recorded == 1
    assert emu.deliveries == [] and len(seen) == 1 and len(target.events) == 1


def test_placeholders_are_filled_and_the_schedule_deleted(env: dict[str, Any]) -> None:
    target = Recorder(env["clock"])
    create(env, "s", START + 60_000)
    emu = emulator(env, target)
    env["clock"].advance_to(START + 120_000)
    emu.fire_due()
    [event] = target.events
    assert event["when"] == "2026-01-01T00:01:00.000Z"
    assert event["arn"].endswith(":schedule/g/s")
    assert event["attempt"] == "1"
    assert len(event["id"]) == 36 and event["id"] == emu.deliveries[0].execution_id
    assert names(env) == []
    assert emu.stats.deleted == 1 and emu.stats.handoffs == 1


def test_a_kept_schedule_stays_but_does_not_fire_again(env: dict[str, Any]) -> None:
    target = Recorder(env["clock"])
    create(env, "kept", START + 60_000, action="NONE")
    emu = emulator(env, target)
    env["clock"].advance_to(START + 120_000)
    emu.fire_due()
    env["clock"].advance(3_600_000)
    emu.fire_due()
    assert len(target.events) == 1
    assert names(env) == ["kept"]
    assert emu.pending() == [] and emu.next_fire_ms() is None


@pytest.mark.parametrize("max_retries", [0, 1, 2])
def test_a_failing_function_is_retried_by_lambda_then_sent_to_on_failure(env: dict[str, Any], max_retries: int) -> None:
    """Function errors are Lambda's to retry (EventInvokeConfig), not the schedule's RetryPolicy."""
    target = Recorder(env["clock"], fail_times=100)
    create(env, "s", START + 60_000, retries=185)  # the RetryPolicy would allow 185: it must not matter
    config = AsyncInvokeConfig(max_retries=max_retries, on_failure_arn=ON_FAILURE, on_failure_type="SQS")
    emu = emulator(env, target, config)
    [planned] = emu.refresh().values()
    fired = planned.fire_at_ms
    run_for(env, emu, 15)
    # the first run at once, then a minute later, then two minutes after that (1 + MaximumRetryAttempts)
    assert target.times == [fired, fired + 60_000, fired + 180_000][: 1 + max_retries]
    assert [e["attempt"] for e in target.events] == ["1"] * (1 + max_retries)  # one hand-off, one attempt
    assert len(set(target.request_ids)) == 1  # Lambda keeps the request id across its retries
    assert [d.invoke_count for d in emu.deliveries] == list(range(1, 2 + max_retries))
    assert emu.stats.lambda_retries == max_retries and emu.stats.lambda_failures == 1
    assert emu.stats.retries == 0 and emu.stats.dead_letters == 0  # nothing for the scheduler to retry
    assert messages(env, "queue") == []
    [message] = messages(env, "on_failure")
    record = json.loads(message["Body"])
    assert record["version"] == "1.0"
    assert record["requestContext"] == {
        "requestId": target.request_ids[0],
        "functionArn": f"{FUNCTION}:$LATEST",
        "condition": "RetriesExhausted",
        "approximateInvokeCount": 1 + max_retries,
    }
    assert record["requestPayload"] == target.events[0]
    assert record["responseContext"] == {"statusCode": 200, "executedVersion": "$LATEST", "functionError": "Unhandled"}
    assert record["responsePayload"]["errorType"] == "RuntimeError"
    assert record["responsePayload"]["errorMessage"] == "boom"
    assert record["responsePayload"]["stackTrace"] == ['  File "app.py", line 1\n']
    assert record["timestamp"].endswith("Z")
    assert emu.deliveries[-1].outcome == "sent to OnFailure (RetriesExhausted)"


def test_a_delete_schedule_is_deleted_at_hand_off_even_if_the_function_fails(env: dict[str, Any]) -> None:
    target = Recorder(env["clock"], fail_times=100)
    create(env, "s", START + 60_000)
    emu = emulator(env, target)
    [planned] = emu.refresh().values()
    env["clock"].advance_to(planned.fire_at_ms)
    emu.fire_due()
    assert len(target.events) == 1 and not emu.deliveries[0].result.ok
    assert names(env) == []  # gone before Lambda's first retry
    assert emu.stats.deleted == 1
    assert emu.next_fire_ms() == planned.fire_at_ms + 60_000  # Lambda's retry is still to come
    run_for(env, emu, 5)
    assert len(target.events) == 3


def test_a_kept_schedule_is_completed_by_the_hand_off_too(env: dict[str, Any]) -> None:
    target = Recorder(env["clock"], fail_times=100)
    create(env, "kept", START + 60_000, action="NONE")
    emu = emulator(env, target)
    run_for(env, emu, 10)
    assert len(target.events) == 3  # Lambda's three attempts; the scheduler never fires it again
    assert {e["attempt"] for e in target.events} == {"1"}
    assert names(env) == ["kept"]
    assert len(messages(env, "on_failure")) == 1


def test_lambda_gives_up_when_the_event_gets_too_old(env: dict[str, Any]) -> None:
    target = Recorder(env["clock"], fail_times=100)
    create(env, "s", START + 60_000)
    config = AsyncInvokeConfig(max_retries=2, max_event_age_s=90, on_failure_arn=ON_FAILURE, on_failure_type="SQS")
    emu = emulator(env, target, config)
    run_for(env, emu, 10)
    assert len(target.events) == 2  # the second retry would be 180 s after the hand-off
    [message] = messages(env, "on_failure")
    context = json.loads(message["Body"])["requestContext"]
    assert (context["condition"], context["approximateInvokeCount"]) == ("EventAgeExceeded", 2)


def test_without_an_on_failure_destination_lambda_discards_the_event(env: dict[str, Any]) -> None:
    target = Recorder(env["clock"], fail_times=100)
    create(env, "s", START + 60_000)
    emu = emulator(env, target, AsyncInvokeConfig())
    run_for(env, emu, 10)
    assert len(target.events) == 3 and emu.stats.lambda_failures == 1
    assert messages(env, "on_failure") == [] and messages(env, "queue") == []


def test_a_failure_then_success_is_not_dead_lettered(env: dict[str, Any]) -> None:
    target = Recorder(env["clock"], fail_times=1)
    create(env, "s", START + 60_000)
    emu = emulator(env, target)
    run_for(env, emu, 10)
    assert len(target.events) == 2 and target.times[1] - target.times[0] == 60_000
    assert emu.stats.lambda_retries == 1 and emu.stats.lambda_failures == 0
    assert messages(env, "queue") == [] and messages(env, "on_failure") == []


def test_a_missing_target_follows_the_retry_policy_into_the_dead_letter_queue(env: dict[str, Any]) -> None:
    target = Recorder(env["clock"])
    create(env, "s", START + 60_000, retries=2, target=MISSING)
    emu = emulator(env, target)
    [planned] = emu.refresh().values()
    fired = planned.fire_at_ms
    run_for(env, emu, 15)
    assert target.events == []
    tries = [d for d in emu.deliveries if not d.handed_off]
    assert [d.fired_at_ms - fired for d in tries] == [0, 60_000, 180_000]  # backoff 1, then 2 min
    assert [d.result.error_type for d in tries] == ["ResourceNotFoundException"] * 3
    assert emu.stats.retries == 2 and emu.stats.dead_letters == 1 and emu.stats.handoffs == 0
    assert names(env) == []  # given up: complete, and deleted
    assert messages(env, "on_failure") == []
    [message] = messages(env, "queue")
    assert json.loads(message["Body"])["n"] == "s"
    attributes = {k: v["StringValue"] for k, v in message["MessageAttributes"].items()}
    assert attributes["ERROR_CODE"] == "ResourceNotFoundException"
    assert attributes["RETRY_ATTEMPTS"] == "2"
    assert attributes["TARGET_ARN"] == MISSING
    assert attributes["EXECUTION_ID"] == tries[0].execution_id


def test_hand_off_retries_stop_at_the_maximum_event_age(env: dict[str, Any]) -> None:
    target = Recorder(env["clock"])
    create(env, "s", START + 60_000, retries=185, max_age_s=200, target=MISSING)
    emu = emulator(env, target)
    run_for(env, emu, 30)
    assert len(emu.deliveries) <= 3
    assert emu.stats.dead_letters == 1
    assert len(messages(env, "queue")) == 1


def test_throttled_hand_offs_are_the_schedules_to_retry(env: dict[str, Any]) -> None:
    target = Recorder(env["clock"])
    create(env, "s", START + 60_000, retries=1)
    emu = emulator(env, target, throttle_rate=1.0)
    run_for(env, emu, 10)
    assert target.events == []  # Lambda never took the event
    assert emu.stats.throttled == 2 and emu.stats.retries == 1 and emu.stats.dead_letters == 1
    [message] = messages(env, "queue")
    assert message["MessageAttributes"]["ERROR_CODE"]["StringValue"] == "TooManyRequestsException"


def test_some_throttled_hand_offs_still_deliver_everything(env: dict[str, Any]) -> None:
    target = Recorder(env["clock"])
    for n in range(20):
        create(env, f"s{n}", START + 60_000)
    emu = emulator(env, target, throttle_rate=0.3, seed=4)
    run_for(env, emu, 30)
    assert emu.stats.throttled > 0 and emu.stats.dead_letters == 0
    assert sorted(e["n"] for e in target.events) == sorted(f"s{n}" for n in range(20))
    assert names(env) == []


def test_duplicate_delivery_on_purpose(env: dict[str, Any]) -> None:
    target = Recorder(env["clock"])
    for n in range(3):
        create(env, f"s{n}", START + 60_000)
    emu = emulator(env, target, duplicate_rate=1.0)
    env["clock"].advance_to(START + 120_000)
    emu.fire_due()
    assert len(target.events) == 6
    assert emu.stats.duplicates == 3 and emu.stats.handoffs == 6
    assert target.events[0] == target.events[1]  # the same event, same execution id
    assert target.request_ids[0] != target.request_ids[1]  # two hand-offs: two asynchronous requests
    assert [d.duplicate for d in emu.deliveries] == [False, True] * 3


def test_late_duplicates_arrive_minutes_later_after_the_schedule_is_gone(env: dict[str, Any]) -> None:
    target = Recorder(env["clock"])
    count = 40
    for n in range(count):
        create(env, f"s{n}", START + 60_000)
    emu = emulator(env, target, late_duplicate_rate=1.0)
    env["clock"].advance_to(START + 120_000)
    emu.fire_due()
    assert len(target.events) == count and names(env) == []
    assert emu.in_flight() == count and emu.next_fire_ms() is not None
    run_for(env, emu, 25)
    assert emu.stats.late_duplicates == count and emu.in_flight() == 0
    first = {d.event["n"]: d for d in emu.deliveries if not d.duplicate}
    late = [d for d in emu.deliveries if d.late]
    assert len(late) == count and all(d.duplicate for d in late)
    delays = [d.fired_at_ms - first[d.event["n"]].fired_at_ms for d in late]
    assert all(60_000 <= delay <= 20 * 60_000 for delay in delays)
    assert min(delays) < 5 * 60_000 < max(delays)  # spread out: often after the next poll already ran
    assert all(d.event == first[d.event["n"]].event for d in late)  # the very event, same execution id


def test_some_late_duplicates(env: dict[str, Any]) -> None:
    target = Recorder(env["clock"])
    for n in range(50):
        create(env, f"s{n}", START + 60_000)
    emu = emulator(env, target, late_duplicate_rate=0.2, seed=3)
    run_for(env, emu, 25)
    assert 3 <= emu.stats.late_duplicates <= 20
    assert len(target.events) == 50 + emu.stats.late_duplicates


def test_the_same_seed_fires_the_same_way(env: dict[str, Any]) -> None:
    def run(seed: int) -> list[tuple[Any, ...]]:
        env["clock"] = ManualClock(START)
        for n in range(10):
            create(env, f"s{n}", START + 60_000)
        target = Recorder(env["clock"], fail_times=3)
        emu = emulator(env, target, seed=seed, duplicate_rate=0.3, late_duplicate_rate=0.3, throttle_rate=0.2)
        run_for(env, emu, 25)
        return [
            (d.event["n"], d.fired_at_ms, d.duplicate, d.late, d.handed_off, d.execution_id) for d in emu.deliveries
        ]

    first, again, other = run(5), run(5), run(6)
    assert first == again
    assert first != other


def test_a_schedule_deleted_by_someone_else_is_forgotten(env: dict[str, Any]) -> None:
    target = Recorder(env["clock"])
    create(env, "s", START + 60_000)
    emu = emulator(env, target)
    emu.refresh()
    env["scheduler"].delete_schedule(Name="s", GroupName="g")
    env["clock"].advance_to(START + 120_000)
    assert emu.fire_due() == 0


def test_the_local_cloud_configures_lambda_from_the_template() -> None:
    """PollFunction's EventInvokeConfig: 2 retries, then the invocation record in PollDeadLetterQueue,
    where `ops redrive` finds the poll event again."""
    from devtools.cloud.local_cloud import LocalCloud
    from devtools.ops import poll_event_of

    with LocalCloud(manual_clock=True) as cloud:
        poll = cloud.specs["PollFunction"]
        assert poll.event_invoke == AsyncInvokeConfig(2, 21_600, cloud.plan.arn("PollDeadLetterQueue"), "SQS")
        assert cloud.specs["SegmentFunction"].event_invoke == AsyncInvokeConfig()  # Lambda's defaults
        bad = {"not": "a poll event"}
        cloud.clients["scheduler"].create_schedule(
            Name="bad", GroupName=cloud.schedule_group, ScheduleExpression=schedule_expression(cloud.clock.now_ms()),
            FlexibleTimeWindow={"Mode": "OFF"}, ActionAfterCompletion="DELETE",
            Target={"Arn": poll.arn, "RoleArn": "arn:aws:iam::123456789012:role/r", "Input": json.dumps(bad)},
        )  # fmt: skip
        cloud.run_until_idle()
        runs = cloud.emulator.deliveries
        assert [d.invoke_count for d in runs] == [1, 2, 3]
        assert all(d.result.error_type == "InvalidEventError" for d in runs)
        assert cloud.pending_schedules() == []
        url = cloud.clients["sqs"].get_queue_url(QueueName=cloud.dead_letter_queue)["QueueUrl"]
        [message] = cloud.clients["sqs"].receive_message(QueueUrl=url)["Messages"]
        record = json.loads(message["Body"])
        assert record["requestContext"]["functionArn"] == f"{poll.arn}:$LATEST"
        assert record["responsePayload"]["errorType"] == "InvalidEventError"
        assert any("app.py" in line or "entrypoint.py" in line for line in record["responsePayload"]["stackTrace"])
        assert poll_event_of(message["Body"]) == bad


def test_noticed_schedules_are_looked_up_without_listing_the_group(env: dict[str, Any]) -> None:
    target = Recorder(env["clock"])
    emu = emulator(env, target)
    create(env, "told", START + 60_000)
    create(env, "untold", START + 60_000)
    emu.notice("told", "g")
    emu.notice("elsewhere", "another-group")  # not this emulator's group: ignored
    assert list(emu.refresh(full=False)) == ["told"]
    assert sorted(emu.refresh(full=True)) == ["told", "untold"]
    env["scheduler"].delete_schedule(Name="told", GroupName="g")
    emu.notice("told")
    assert list(emu.refresh(full=False)) == ["untold"]


def test_the_local_cloud_tells_the_emulator_what_the_functions_schedule(chunk: dict[str, Any]) -> None:
    from devtools.cloud.local_cloud import LocalCloud

    with LocalCloud(manual_clock=True) as cloud:
        assert cloud.invoke("SegmentFunction", chunk).ok
        reads: list[str] = []
        cloud.clients["scheduler"].meta.events.register(
            "before-call.scheduler.GetSchedule", lambda **kwargs: reads.append(kwargs["event_name"])
        )
        assert list(cloud.emulator.refresh(full=False)) == [schedule_name(unit_of(chunk), 1)]
        assert reads == []  # told what AWS took, not left to read the schedule back
