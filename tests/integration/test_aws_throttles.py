"""AWS throttles at burst (issue 16): a throttled Scheduler or S3 call is retried by botocore's
`standard` mode (the clients pollbridge makes, adapters.aws.client), and what is still throttled after
its attempts reaches the adapters as a TransientError, never a failed task. The throttle is an HTTP
answer, made in botocore's `before-send` hook (the request is not sent; the answer is parsed and its
retry decided as AWS's own would be), against moto behind it."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from botocore.awsrequest import AWSResponse

from pollbridge.adapters import aws as plumbing
from pollbridge.adapters.scheduler import EventBridgePollScheduler
from pollbridge.adapters.sinks.s3 import S3RecordSink
from pollbridge.errors import TransientError
from pollbridge.models import PollPayload, TaskRecord
from tests.integration.test_aws_adapters import TARGET

PAYLOAD = PollPayload(
    workId="j_1", isPollTask=True, origTaskId="task-1", origTdoId="d", origJobId="j", origCallTimeUTC=1,
    engineConfig={}, pollNumber=1, deadlineUTC=10**13,
)  # fmt: skip
AT = 1_767_225_660_000
THROTTLES = {  # service -> (HTTP status, body) as AWS answers a throttled request
    "scheduler": (400, b'{"__type": "ThrottlingException", "message": "Rate exceeded"}'),
    "s3": (503, b"<Error><Code>SlowDown</Code><Message>Please reduce your request rate.</Message></Error>"),
}


class Throttle:
    """Answers the next `times` requests of a client with its service's throttle; counts every attempt."""

    def __init__(self, client: Any, service: str) -> None:
        self.times = 0
        self.attempts = 0
        self._status, self._body = THROTTLES[service]
        client.meta.events.register("before-send", self._before_send)

    def _before_send(self, request: Any, **_: Any) -> AWSResponse | None:
        self.attempts += 1
        if self.times <= 0:
            return None  # sent to moto
        self.times -= 1
        headers = {"Content-Type": "application/x-amz-json-1.1" if self._body.startswith(b"{") else "application/xml"}
        return AWSResponse(request.url, self._status, headers, _Raw(self._body))


class _Raw:
    def __init__(self, body: bytes) -> None:
        self._body = body

    def stream(self, **_: Any) -> Iterator[bytes]:
        yield self._body


@pytest.fixture
def clients(aws: dict[str, Any]) -> dict[str, Any]:
    """pollbridge's own clients (its session, config and retries) on this test's moto state."""
    aws["scheduler"].create_schedule_group(Name="polls")
    aws["s3"].create_bucket(Bucket="records")
    plumbing.session.cache_clear()  # a session made now reads this test's AWS_ENDPOINT_URL
    return {"scheduler": plumbing.client("scheduler"), "s3": plumbing.client("s3")}


def test_the_clients_retry_in_standard_mode_three_attempts() -> None:
    assert plumbing.client_config().retries == {"mode": "standard", "total_max_attempts": 3}


def test_a_throttled_create_schedule_is_retried_by_botocore_and_succeeds(clients: dict[str, Any]) -> None:
    throttle = Throttle(clients["scheduler"], "scheduler")
    scheduler = EventBridgePollScheduler(clients["scheduler"], "polls", TARGET)
    throttle.times = 2
    assert scheduler.schedule(PAYLOAD, AT) is True  # two throttles, then created: the adapter saw none
    assert throttle.attempts == 3
    found = scheduler.find("task-1", 1)
    assert found is not None and found.active


def test_a_scheduler_throttled_past_its_attempts_is_transient_and_changes_nothing(clients: dict[str, Any]) -> None:
    throttle = Throttle(clients["scheduler"], "scheduler")
    scheduler = EventBridgePollScheduler(clients["scheduler"], "polls", TARGET)
    throttle.times = 3
    with pytest.raises(TransientError, match="scheduler CreateSchedule: ThrottlingException"):
        scheduler.schedule(PAYLOAD, AT)
    assert throttle.attempts == 3
    assert scheduler.find("task-1", 1) is None


def test_a_throttled_record_write_is_retried_then_transient(clients: dict[str, Any]) -> None:
    throttle = Throttle(clients["s3"], "s3")
    sink = S3RecordSink(clients["s3"], "records")
    record = TaskRecord(taskId="task-1", jobId="j", tdoId="d", status="failed", failureReason="api_error",
                        failureMessage="the vendor said no", polls=1,
                        completedAtUTC=AT)  # fmt: skip
    throttle.times = 3
    with pytest.raises(TransientError, match="records bucket PutObject: SlowDown"):
        sink.write_once(record)
    assert sink.read(record.unit) is None  # nothing written
    throttle.times = 2
    assert sink.write_once(record) == record  # retried inside the call: written once
    assert sink.read(record.unit) == record
