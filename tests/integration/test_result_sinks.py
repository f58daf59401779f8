"""The result sinks against real local servers: aiWARE's GraphQL API (a server on 127.0.0.1 that
checks the query, the variables and the Authorization header) and EventBridge (moto: a rule with an
SQS target receives the event); the delivery ledger on the record object's tags (moto S3)."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import boto3
import pytest
from jsonschema import Draft202012Validator

from pollbridge.adapters.sinks import AiwareSink, EventBridgeSink, S3RecordSink
from pollbridge.errors import PermanentError, TransientError
from pollbridge.models import TaskRecord

ROOT = Path(__file__).resolve().parents[2]
API_KEY = "aiware-api-key-for-tests"
COMPLETE = TaskRecord(
    taskId="19041508_Xp2bKsUAs4Rm6I8",
    jobId="19041508_Z1KQn2RJlG",
    tdoId="400001249",
    status="complete",
    output={"schemaId": "https://docs.veritone.com/schemas/vtn-standard/master.json", "series": []},
    workId="j_1",
    polls=3,
    completedAtUTC=1_764_417_600_000,
)
FAILED = TaskRecord(
    taskId="t-failed",
    jobId="j",
    tdoId="d",
    status="failed",
    failureReason="invalid_data",
    failureMessage="third-party job j_2 failed (unsupported_media)",
    polls=1,
    completedAtUTC=1_764_417_600_000,
)


class GraphQL:
    """aiWARE's /v3/graphql, as far as updateTask goes: checks what it is sent, answers as told."""

    def __init__(self) -> None:
        self.requests: list[dict[str, Any]] = []
        self.answers: list[tuple[int, dict[str, Any]]] = []
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                outer.requests.append({"path": self.path, "auth": self.headers.get("Authorization"), **body})
                if self.path != "/v3/graphql" or self.headers.get("Authorization") != f"Bearer {API_KEY}":
                    status, answer = 401, {"errors": [{"message": "unauthenticated"}]}
                elif outer.answers:
                    status, answer = outer.answers.pop(0)
                else:
                    task = body["variables"]["input"]
                    assert "mutation" in body["query"] and "updateTask(input: $input)" in body["query"]
                    status, answer = 200, {"data": {"updateTask": {"id": task["id"], "status": task["status"]}}}
                raw = json.dumps(answer).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(raw)))
                self.end_headers()
                self.wfile.write(raw)

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()


@pytest.fixture
def graphql() -> Iterator[GraphQL]:
    server = GraphQL()
    yield server
    server.server.shutdown()
    server.server.server_close()


def test_aiware_sink_updates_the_original_task_with_the_output(graphql: GraphQL) -> None:
    AiwareSink(graphql.url + "/", lambda: API_KEY).deliver(COMPLETE)
    [sent] = graphql.requests
    assert sent["path"] == "/v3/graphql" and sent["auth"] == f"Bearer {API_KEY}"
    assert sent["variables"] == {"input": {"id": COMPLETE.taskId, "status": "complete", "output": COMPLETE.output}}


def test_aiware_sink_reports_a_failure_with_its_reason(graphql: GraphQL) -> None:
    AiwareSink(graphql.url, lambda: API_KEY).deliver(FAILED)
    assert graphql.requests[0]["variables"]["input"] == {
        "id": "t-failed",
        "status": "failed",
        "failureReason": "invalid_data",
        "failureMessage": "third-party job j_2 failed (unsupported_media)",
    }


@pytest.mark.parametrize(
    ("answer", "error", "reason"),
    [
        ((503, {"errors": [{"message": "try later"}]}), TransientError, None),
        ((429, {}), TransientError, None),
        ((200, {"errors": [{"message": "Not allowed to update task", "name": "not_allowed"}]}), PermanentError,
         "api_not_allowed"),
        ((200, {"errors": [{"message": "The requested object was not found", "name": "not_found"}]}),
         PermanentError, "api_not_found"),
        ((200, {"data": {"updateTask": None}}), PermanentError, "api_error"),
    ],
)  # fmt: skip
def test_aiware_sink_tells_transient_from_permanent(
    graphql: GraphQL, answer: tuple[int, dict[str, Any]], error: type[Exception], reason: str | None
) -> None:
    graphql.answers.append(answer)
    with pytest.raises(error) as raised:
        AiwareSink(graphql.url, lambda: API_KEY).deliver(COMPLETE)
    if reason is not None:
        assert isinstance(raised.value, PermanentError) and raised.value.reason == reason


def test_aiware_sink_with_a_wrong_key_is_refused_for_good(graphql: GraphQL) -> None:
    with pytest.raises(PermanentError) as raised:
        AiwareSink(graphql.url, lambda: "not-the-key").deliver(COMPLETE)
    assert raised.value.reason == "api_authentication_error"


def test_aiware_sink_unreachable_is_transient() -> None:
    with pytest.raises(TransientError):
        AiwareSink("http://127.0.0.1:9", lambda: API_KEY, timeout_s=2).deliver(COMPLETE)


def test_eventbridge_sink_puts_one_event_a_rule_delivers_to_sqs(aws: dict[str, Any]) -> None:
    events, sqs = boto3.client("events"), aws["sqs"]
    queue = sqs.create_queue(QueueName="task-events")["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=queue, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    events.create_event_bus(Name="tasks")
    pattern = {"source": ["pollbridge"], "detail-type": ["Task Completed", "Task Failed", "Task Cancelled"]}
    events.put_rule(Name="finished", EventBusName="tasks", EventPattern=json.dumps(pattern))
    events.put_targets(Rule="finished", EventBusName="tasks", Targets=[{"Id": "q", "Arn": arn}])

    sink = EventBridgeSink(events, "results-bucket", "tasks")
    sink.deliver(COMPLETE)
    sink.deliver(FAILED)
    received = sqs.receive_message(QueueUrl=queue, MaxNumberOfMessages=10, WaitTimeSeconds=1).get("Messages", [])
    delivered = sorted((json.loads(m["Body"]) for m in received), key=lambda e: e["detail"]["taskId"])
    assert [e["detail-type"] for e in delivered] == ["Task Completed", "Task Failed"]
    schema = json.loads((ROOT / "docs" / "events" / "task-finished.schema.json").read_text())
    for event in delivered:
        Draft202012Validator(schema).validate(event)
        assert "output" not in event["detail"]
    assert delivered[0]["detail"] == {
        "taskId": COMPLETE.taskId,
        "jobId": COMPLETE.jobId,
        "tdoId": COMPLETE.tdoId,
        "status": "complete",
        "failureReason": None,
        "polls": 3,
        "completedAtUTC": COMPLETE.completedAtUTC,
        "recordUri": f"s3://results-bucket/results/{COMPLETE.taskId}.json",
    }
    assert delivered[1]["detail"]["failureReason"] == "invalid_data"


def test_eventbridge_sink_on_a_missing_bus_is_permanent(aws: dict[str, Any]) -> None:
    with pytest.raises(PermanentError):
        EventBridgeSink(boto3.client("events"), "results-bucket", "no-such-bus").deliver(COMPLETE)


def test_the_delivery_ledger_lives_in_the_record_objects_tags(aws: dict[str, Any]) -> None:
    s3 = aws["s3"]
    s3.create_bucket(Bucket="records")
    s3.put_bucket_versioning(Bucket="records", VersioningConfiguration={"Status": "Enabled"})
    sink = S3RecordSink(s3, "records")
    sink.write_once(COMPLETE)
    assert sink.delivered(COMPLETE.taskId) == set()
    sink.mark_delivered(COMPLETE.taskId, "aiware")
    sink.mark_delivered(COMPLETE.taskId, "eventbridge")
    sink.mark_delivered(COMPLETE.taskId, "aiware")  # a repeat changes nothing
    assert S3RecordSink(s3, "records").delivered(COMPLETE.taskId) == {"aiware", "eventbridge"}  # a new container
    versions = s3.list_object_versions(Bucket="records", Prefix="results/")["Versions"]
    assert len(versions) == 1  # tags are not a second write of the record
    assert sink.read(COMPLETE.taskId) == COMPLETE
