"""Scheduler, S3 sink and media adapters against moto in server mode (over HTTP, like AWS)."""

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from pollbridge.adapters.media import MediaFetcher
from pollbridge.adapters.scheduler import EventBridgePollScheduler, SchedulerTarget
from pollbridge.adapters.sinks.s3 import S3RecordSink, record_key
from pollbridge.errors import PermanentError, TransientError
from pollbridge.models import PollPayload, TaskRecord, parse_segment

TARGET = SchedulerTarget(
    "arn:aws:lambda:us-east-1:123456789012:function:poll",
    "arn:aws:iam::123456789012:role/scheduler",
    "arn:aws:sqs:us-east-1:123456789012:dlq",
)
PAYLOAD = PollPayload(
    workId="j_1", isPollTask=True, origTaskId="task-1", origTdoId="d", origJobId="j", origCallTimeUTC=1,
    engineConfig={"language": "en-US"}, pollNumber=2, deadlineUTC=10**13,
)  # fmt: skip
AT = 1_767_225_660_000


@pytest.fixture
def scheduler(aws: dict[str, Any]) -> EventBridgePollScheduler:
    aws["scheduler"].create_schedule_group(Name="polls")
    return EventBridgePollScheduler(aws["scheduler"], "polls", TARGET)


def test_schedule_is_a_one_time_utc_schedule_with_the_payload(
    scheduler: EventBridgePollScheduler, aws: dict[str, Any]
) -> None:
    assert scheduler.schedule(PAYLOAD, AT) is True
    stored = aws["scheduler"].get_schedule(Name="t-task-1-p2", GroupName="polls")
    assert stored["ScheduleExpression"] == "at(2026-01-01T00:01:00)"
    assert stored["ScheduleExpressionTimezone"] == "UTC"
    assert stored["FlexibleTimeWindow"] == {"Mode": "OFF"}
    assert stored["ActionAfterCompletion"] == "NONE"  # the poll function deletes it once poll n+1 exists
    target = stored["Target"]
    assert (target["Arn"], target["RoleArn"], target["DeadLetterConfig"]["Arn"]) == (
        TARGET.function_arn,
        TARGET.role_arn,
        TARGET.dead_letter_arn,
    )
    assert target["RetryPolicy"]["MaximumRetryAttempts"] >= 1
    delivered = json.loads(target["Input"])
    assert {k: delivered[k] for k in PAYLOAD.model_dump(mode="json")} == PAYLOAD.model_dump(mode="json")
    assert delivered["scheduler"]["attemptNumber"] == "<aws.scheduler.attempt-number>"


def test_a_repeated_schedule_is_a_conflict_not_a_twin(scheduler: EventBridgePollScheduler, aws: dict[str, Any]) -> None:
    assert scheduler.schedule(PAYLOAD, AT) is True
    assert scheduler.schedule(PAYLOAD, AT + 60_000) is False
    assert len(aws["scheduler"].list_schedules(GroupName="polls")["Schedules"]) == 1
    found = scheduler.find("task-1", 2)
    assert found is not None and (found.at_ms, found.payload) == (AT, PAYLOAD)
    assert scheduler.find("task-1", 3) is None
    assert [s.name for s in scheduler.pending()] == ["t-task-1-p2"]
    other = PAYLOAD.model_copy(update={"origTaskId": "task-11", "pollNumber": 1})
    scheduler.schedule(other, AT)
    lookalike = PAYLOAD.model_copy(update={"origTaskId": "task-1-p2", "pollNumber": 7})  # t-task-1-p2-p7
    scheduler.schedule(lookalike, AT)
    assert [s.name for s in scheduler.pending("task-1")] == ["t-task-1-p2"]
    assert [s.name for s in scheduler.pending("task-11")] == ["t-task-11-p1"]
    assert [s.name for s in scheduler.pending("task-1-p2")] == ["t-task-1-p2-p7"]
    assert len(scheduler.pending()) == 3
    assert scheduler.unschedule("t-task-1-p2") is True
    assert scheduler.unschedule("t-task-1-p2") is False
    assert scheduler.find("task-1", 2) is None and scheduler.pending("task-1") == []


def test_a_retired_poll_keeps_its_name_disabled_and_is_not_pending(
    scheduler: EventBridgePollScheduler, aws: dict[str, Any]
) -> None:
    assert scheduler.schedule(PAYLOAD, AT) is True
    own = scheduler.find("task-1", 2)
    assert own is not None and own.active
    assert scheduler.retire(own) is True
    stored = aws["scheduler"].get_schedule(Name="t-task-1-p2", GroupName="polls")
    assert stored["State"] == "DISABLED"  # it never fires again
    assert json.loads(stored["Target"]["Input"])["pollNumber"] == 2  # the same definition otherwise
    retired = scheduler.find("task-1", 2)
    assert retired is not None and not retired.active and retired.payload == PAYLOAD
    assert scheduler.schedule(PAYLOAD, AT) is False  # the name stays taken: no delivery makes poll 2 again
    assert scheduler.pending() == []  # operators see what is still to run
    assert scheduler.unschedule("t-task-1-p2") is True and scheduler.find("task-1", 2) is None
    assert scheduler.retire(own) is False  # gone


def test_oversized_payload_is_refused_before_calling_aws(
    scheduler: EventBridgePollScheduler, aws: dict[str, Any]
) -> None:
    huge = PAYLOAD.model_copy(update={"engineConfig": {"blob": "x" * 300_000}})
    with pytest.raises(PermanentError, match="taskPayload is"):
        scheduler.schedule(huge, AT)
    assert aws["scheduler"].list_schedules(GroupName="polls")["Schedules"] == []


def record(status: str = "complete", **extra: Any) -> TaskRecord:
    fields: dict[str, Any] = {
        "taskId": "task/1",
        "jobId": "j",
        "tdoId": "d",
        "status": status,
        "polls": 3,
        "completedAtUTC": 5,
    }
    if status == "complete":
        fields["output"] = {"series": []}
    return TaskRecord(**{**fields, **extra})


def test_the_first_record_wins(aws: dict[str, Any]) -> None:
    aws["s3"].create_bucket(Bucket="results-bucket")
    sink = S3RecordSink(aws["s3"], "results-bucket")
    first = record()
    assert sink.write_once(first) == first
    second = record("failed", failureReason="api_error", failureMessage="late duplicate")
    assert sink.write_once(second) == first
    body = aws["s3"].get_object(Bucket="results-bucket", Key="results/task%2F1.json")["Body"].read()
    assert json.loads(body)["status"] == "complete"
    assert sink.read("task/1") == first and sink.read("other") is None
    assert record_key("19041508_Xp2bKsUAs4Rm6I8") == "results/19041508_Xp2bKsUAs4Rm6I8.json"


class _Media(BaseHTTPRequestHandler):
    def log_message(self, *args: Any) -> None:
        pass

    def do_GET(self) -> None:
        code = {"/ok.wav": 200, "/missing.wav": 404, "/busy.wav": 503, "/secret.wav": 403}[self.path]
        body = b"WAVEDATA" if code == 200 else b""
        self.send_response(code)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


@pytest.fixture
def media_server() -> Any:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Media)
    threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def chunk_at(uri: str) -> Any:
    return parse_segment(
        {"type": "media_chunk", "taskId": "t", "tdoId": "d", "jobId": "j", "mimeType": "audio/wav", "cacheURI": uri}
    )


def test_media_over_http_and_its_failures(media_server: str, aws: dict[str, Any]) -> None:
    fetcher = MediaFetcher(lambda: aws["s3"], max_bytes=100, allow_private_hosts=True)  # the server is on loopback
    assert fetcher.fetch(chunk_at(f"{media_server}/ok.wav")).body == b"WAVEDATA"
    with pytest.raises(PermanentError) as missing:
        fetcher.fetch(chunk_at(f"{media_server}/missing.wav"))
    assert missing.value.reason == "url_not_found"
    with pytest.raises(PermanentError) as denied:
        fetcher.fetch(chunk_at(f"{media_server}/secret.wav"))
    assert denied.value.reason == "url_not_allowed"
    with pytest.raises(TransientError):
        fetcher.fetch(chunk_at(f"{media_server}/busy.wav"))
    with pytest.raises(PermanentError, match="MEDIA_MAX_BYTES"):
        MediaFetcher(lambda: aws["s3"], max_bytes=4, allow_private_hosts=True).fetch(chunk_at(f"{media_server}/ok.wav"))


def test_media_from_s3(aws: dict[str, Any]) -> None:
    aws["s3"].create_bucket(Bucket="media-bucket")
    aws["s3"].put_object(Bucket="media-bucket", Key="chunks/0.wav", Body=b"S3WAVE")
    fetcher = MediaFetcher(lambda: aws["s3"], max_bytes=100, media_bucket="media-bucket")
    assert fetcher.fetch(chunk_at("s3://media-bucket/chunks/0.wav")).body == b"S3WAVE"
    with pytest.raises(PermanentError) as missing:
        fetcher.fetch(chunk_at("s3://media-bucket/chunks/nope.wav"))
    assert missing.value.reason == "url_not_found"
