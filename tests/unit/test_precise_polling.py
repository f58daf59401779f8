"""Precise polling (issue 17, item 3): near polls hop through a delay queue to run at their second;
the schedule stays the ledger (chain check, stale and duplicate deliveries) and the fallback."""

from __future__ import annotations

import dataclasses
import importlib.util
import json
from pathlib import Path
from typing import Any

import pytest

from pollbridge import core, decisions
from pollbridge.clock import ManualClock
from pollbridge.errors import TransientError
from pollbridge.models import PollPayload, SchedulePollTask, parse_segment
from tests.support.fakes import COMPLETE, World, running


class FakePollQueue:
    """The delay queue in memory: (payload, delay) per hop, or an error for every send."""

    def __init__(self, error: Exception | None = None) -> None:
        self.sent: list[tuple[PollPayload, int]] = []
        self.error = error

    def send(self, payload: PollPayload, delay_s: int) -> None:
        if self.error is not None:
            raise self.error
        self.sent.append((payload, delay_s))


def precise(world: World, queue: FakePollQueue) -> core.Ports:
    return dataclasses.replace(world.ports, precise=queue)


def begin(world: World, chunk: dict[str, Any], queue: FakePollQueue) -> SchedulePollTask:
    outcome = core.handle_segment(parse_segment(chunk), precise(world, queue))
    assert isinstance(outcome.response, SchedulePollTask)
    return outcome.response


@pytest.mark.parametrize(
    ("ahead_ms", "delay"),
    [(60_000, 60), (60_001, 61), (899_999, 900), (900_000, 900), (900_001, None), (0, None), (-5_000, None)],
)
def test_the_hop_carries_polls_up_to_fifteen_minutes_ahead_rounded_up(ahead_ms: int, delay: int | None) -> None:
    now = 1_767_225_600_123
    assert decisions.hop_delay_s(now + ahead_ms, now) == delay


def test_a_near_poll_is_sent_to_the_queue_and_its_schedule_is_the_fallback_later(
    world: World, chunk: dict[str, Any], manual_clock: ManualClock
) -> None:
    queue = FakePollQueue()
    message = begin(world, chunk, queue)
    [scheduled] = world.scheduler.pending()
    [(sent, delay)] = queue.sent
    assert sent == scheduled.payload == message.taskPayload  # the same signed payload on both paths
    assert scheduled.at_ms == message.nextPollTimeUTC + decisions.PRECISE_FALLBACK_MS
    assert manual_clock.now_ms() + delay * 1000 - message.nextPollTimeUTC in range(0, 1000)


def test_the_hops_delivery_runs_the_poll_and_later_deliveries_of_it_are_stale(
    world: World, chunk: dict[str, Any], manual_clock: ManualClock
) -> None:
    queue = FakePollQueue()
    ports = precise(world, queue)
    begin(world, chunk, queue)
    [(first, delay)] = queue.sent
    manual_clock.advance(delay * 1000)
    world.provider.states = [running()]
    ran = core.poll(first, ports)
    assert ran.kind == "scheduled" and not ran.repeated and ran.hopped is True
    unit = first.unit
    assert world.scheduler.chain(unit) == [2]  # poll 1's schedule, the fallback, is gone: it never fires
    assert [p.pollNumber for p, _ in queue.sent] == [1, 2]
    # SQS delivers at least once, and a fallback that fired before its deletion carries the same
    # payload: a second delivery of poll 1, from either path, is stale and changes nothing
    for _ in range(2):
        assert core.poll(first, ports).kind == "stale"
    assert world.scheduler.chain(unit) == [2] and len(queue.sent) == 2
    assert world.provider.status_calls == 1


def test_a_lost_hop_leaves_the_schedule_to_run_the_poll(
    world: World, chunk: dict[str, Any], manual_clock: ManualClock
) -> None:
    queue = FakePollQueue(TransientError("sqs SendMessage: ServiceUnavailable"))
    outcome = core.handle_segment(parse_segment(chunk), precise(world, queue))
    assert outcome.hopped is False  # counted (PreciseHopsFailed); the task goes on
    [scheduled] = world.scheduler.pending()
    manual_clock.advance_to(scheduled.at_ms)
    world.provider.states = [COMPLETE]
    done = core.poll(scheduled.payload, precise(world, queue))
    assert done.kind == "complete"
    assert world.scheduler.pending() == []


def test_a_far_poll_is_left_to_the_scheduler_alone(
    world: World, chunk: dict[str, Any], manual_clock: ManualClock
) -> None:
    queue = FakePollQueue()
    ports = precise(world, queue)
    begin(world, chunk, queue)
    [(first, delay)] = queue.sent
    manual_clock.advance(delay * 1000)
    world.provider.states = [running(eta_ms=manual_clock.now_ms() + 3 * 3_600_000)]
    outcome = core.poll(first, ports)
    assert isinstance(outcome.response, SchedulePollTask)
    assert outcome.hopped is None and len(queue.sent) == 1
    [scheduled] = world.scheduler.pending()
    assert scheduled.at_ms == outcome.response.nextPollTimeUTC


def test_without_a_queue_nothing_changes(world: World, chunk: dict[str, Any], manual_clock: ManualClock) -> None:
    outcome = core.handle_segment(parse_segment(chunk), world.ports)
    assert outcome.hopped is None
    [scheduled] = world.scheduler.pending()
    assert scheduled.at_ms == outcome.response.nextPollTimeUTC  # type: ignore[attr-defined]


def _poll_app() -> Any:
    path = Path(__file__).resolve().parents[2] / "functions" / "poll" / "app.py"
    spec = importlib.util.spec_from_file_location("poll_app_under_test", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_the_poll_function_runs_each_queued_message_and_reports_the_failed_ones(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    app = _poll_app()
    seen: list[Any] = []

    def scheduled(event: Any, context: Any) -> dict[str, object]:
        seen.append(event)
        if event.get("fail"):
            raise TransientError("vendor answered 503")
        return {"type": "schedule_poll_task"}

    monkeypatch.setattr(app, "scheduled", scheduled)
    records = [
        {"messageId": "m1", "body": json.dumps({"origTaskId": "a"})},
        {"messageId": "m2", "body": json.dumps({"origTaskId": "b", "fail": True})},
        {"messageId": "m3", "body": "not json"},
    ]
    answer = app.handler({"Records": records}, None)
    assert answer == {"batchItemFailures": [{"itemIdentifier": "m2"}, {"itemIdentifier": "m3"}]}
    assert [e["origTaskId"] for e in seen] == ["a", "b"]
    assert app.handler({"origTaskId": "c"}, None) == {"type": "schedule_poll_task"}  # the scheduler's delivery


def test_the_local_cloud_refuses_precise_polling_rather_than_run_every_poll_on_its_fallback() -> None:
    from devtools.cloud.local_cloud import LocalCloud

    with pytest.raises(ValueError, match="PrecisePolling"):
        LocalCloud(parameters={"PrecisePolling": "true"})


class _Client:
    def __init__(self, error: Exception | None = None) -> None:
        self.calls: list[dict[str, Any]] = []
        self.error = error

    def send_message(self, **call: Any) -> dict[str, Any]:
        if self.error is not None:
            raise self.error
        self.calls.append(call)
        return {"MessageId": "m"}


def test_the_sqs_adapter_sends_the_signed_payload_as_the_message_and_classifies_errors(
    world: World, chunk: dict[str, Any], manual_clock: ManualClock
) -> None:
    from botocore.exceptions import ClientError, EndpointConnectionError

    from pollbridge.adapters.poll_queue import SqsPollQueue
    from pollbridge.errors import PermanentError

    message = begin(world, chunk, FakePollQueue())
    client = _Client()
    SqsPollQueue(client, "https://sqs.us-east-1.amazonaws.com/123456789012/q").send(message.taskPayload, 61)
    [call] = client.calls
    assert call["DelaySeconds"] == 61
    assert PollPayload.model_validate_json(call["MessageBody"]) == message.taskPayload  # still verifies
    throttled = ClientError({"Error": {"Code": "RequestThrottled"}}, "SendMessage")
    for error in (throttled, EndpointConnectionError(endpoint_url="https://sqs")):
        with pytest.raises(TransientError):
            SqsPollQueue(_Client(error), "https://q").send(message.taskPayload, 1)
    with pytest.raises(PermanentError):
        SqsPollQueue(client, "https://q").send(message.taskPayload, 901)


def test_the_setting_names_a_queue_url_or_nothing() -> None:
    from pollbridge.errors import ConfigurationError
    from pollbridge.settings import Settings

    base = {
        "SCHEDULE_GROUP_NAME": "g", "POLL_FUNCTION_ARN": "arn:aws:lambda:us-east-1:1:function:f",
        "SCHEDULER_ROLE_ARN": "arn:aws:iam::1:role/r", "POLL_DLQ_ARN": "arn:aws:sqs:us-east-1:1:d",
        "RESULTS_BUCKET": "bucket", "PROVIDER_URL": "https://vendor.example", "PAYLOAD_SIGNING_KEY": "k" * 16,
    }  # fmt: skip
    assert Settings.from_env({**base, "PRECISE_POLL_QUEUE_URL": ""}).precise_poll_queue_url is None
    url = "https://sqs.us-east-1.amazonaws.com/123456789012/pollbridge-precise-polls"
    assert Settings.from_env({**base, "PRECISE_POLL_QUEUE_URL": url}).precise_poll_queue_url == url
    with pytest.raises(ConfigurationError, match="PRECISE_POLL_QUEUE_URL"):
        Settings.from_env({**base, "PRECISE_POLL_QUEUE_URL": "arn:aws:sqs:us-east-1:1:q"})
