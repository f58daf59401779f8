"""The result sinks against real local servers: aiWARE's GraphQL API (a server on 127.0.0.1 that
checks the mutation, its input fields and the Authorization header, or answers as scripted: huge,
slow, a redirect) and EventBridge (moto: a rule with an
SQS target receives the event); the delivery ledger on the record object's tags (moto S3)."""

from __future__ import annotations

import contextlib
import json
import re
import threading
import time
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, get_args

import boto3
import pytest
from jsonschema import Draft202012Validator

from pollbridge.adapters.sinks import AiwareSink, EventBridgeSink, S3RecordSink
from pollbridge.adapters.sinks.aiware import (
    MAX_ANSWER_BYTES,
    SENT_ENUM_VALUES,
    SENT_INPUT_FIELDS,
    post_graphql,
    update_task_input,
    upload_engine_result_input,
)
from pollbridge.errors import PermanentError, TransientError
from pollbridge.models import TaskFailureReason, TaskRecord
from tests.support.http_servers import ScriptedServer

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


# The input fields aiWARE's docs name for the two mutations (docs/aiware notes): the fake refuses any
# other, as a GraphQL server refuses an input field its schema does not define.
DOCUMENTED_INPUT_FIELDS = {
    "uploadEngineResult": {"taskId", "contentType", "assetType", "outputString", "output", "uri", "file",
                           "completeTask"},
    "updateTask": {"id", "jobId", "status", "output", "failureReason"},
}  # fmt: skip
MUTATION = re.compile(r"\b(uploadEngineResult|updateTask)\(input: \$input\)")

type Scripted = tuple[int, dict[str, Any]] | Callable[[BaseHTTPRequestHandler], None]


class GraphQL:
    """aiWARE's /v3/graphql, as far as uploadEngineResult and updateTask go: checks the key, the
    mutation and its input fields, and answers as aiWARE would, or as scripted (`answers`)."""

    def __init__(self) -> None:
        self.requests: list[dict[str, Any]] = []
        self.answers: list[Scripted] = []
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                outer.requests.append({"path": self.path, "auth": self.headers.get("Authorization"), **body})
                if self.path != "/v3/graphql" or self.headers.get("Authorization") != f"Bearer {API_KEY}":
                    self.reply(401, {"errors": [{"message": "unauthenticated"}]})
                elif outer.answers:
                    answer = outer.answers.pop(0)
                    answer(self) if callable(answer) else self.reply(*answer)
                else:
                    self.reply(*aiware_answer(body))

            def reply(self, status: int, answer: dict[str, Any]) -> None:
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
        threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()


def aiware_answer(body: dict[str, Any]) -> tuple[int, dict[str, Any]]:
    found = MUTATION.search(body["query"])
    assert found and body["query"].lstrip().startswith("mutation"), body["query"]
    mutation, task = found.group(1), body["variables"]["input"]
    unknown = sorted(set(task) - DOCUMENTED_INPUT_FIELDS[mutation])
    if unknown:
        return 400, {"errors": [{"message": f'Field "{unknown[0]}" is not defined by the input type of {mutation}'}]}
    if mutation == "uploadEngineResult":
        return 200, {"data": {"uploadEngineResult": {"id": f"asset-of-{task['taskId']}"}}}
    return 200, {"data": {"updateTask": {"id": task["id"], "status": task["status"]}}}


def streamed(total_bytes: int, declared: bool) -> Callable[[BaseHTTPRequestHandler], None]:
    """A 200 of `total_bytes` (declared in Content-Length or not: then the end is the connection's)."""

    def answer(handler: BaseHTTPRequestHandler) -> None:
        handler.send_response(200)
        handler.send_header("Content-Type", "application/json")
        if declared:
            handler.send_header("Content-Length", str(total_bytes))
        handler.end_headers()
        piece = b'{"data": {"uploadEngineResult": {"id": "' + b"x" * 65_000
        with contextlib.suppress(OSError):  # the client hangs up once it has read enough
            for _ in range(total_bytes // len(piece)):
                handler.wfile.write(piece)

    return answer


def dripping(handler: BaseHTTPRequestHandler) -> None:
    """A 200 whose body comes a byte every 50 ms, for at most 20 s: each read gets something in time."""
    handler.send_response(200)
    handler.send_header("Content-Type", "application/json")
    handler.end_headers()
    with contextlib.suppress(OSError):
        for _ in range(400):
            handler.wfile.write(b" ")
            handler.wfile.flush()
            time.sleep(0.05)


@pytest.fixture
def graphql() -> Iterator[GraphQL]:
    server = GraphQL()
    yield server
    server.server.shutdown()
    server.server.server_close()


def test_aiware_sink_completes_the_task_with_upload_engine_result(graphql: GraphQL) -> None:
    AiwareSink(graphql.url + "/", lambda: API_KEY).deliver(COMPLETE)
    [sent] = graphql.requests
    assert sent["path"] == "/v3/graphql" and sent["auth"] == f"Bearer {API_KEY}"
    assert "uploadEngineResult(input: $input)" in sent["query"] and "updateTask" not in sent["query"]
    task = sent["variables"]["input"]
    assert json.loads(task.pop("outputString")) == COMPLETE.output  # the document, as a JSON string
    assert task == {"taskId": COMPLETE.taskId, "contentType": "application/json", "assetType": "vtn-standard",
                    "completeTask": True}  # fmt: skip


@pytest.mark.parametrize("reason", ["invalid_data", "external_error", "stream_read_error", "heartbeat_timeout"])
def test_aiware_sink_reports_a_failure_with_its_job_reason_and_message(graphql: GraphQL, reason: str) -> None:
    AiwareSink(graphql.url, lambda: API_KEY).deliver(FAILED.model_copy(update={"failureReason": reason}))
    [sent] = graphql.requests
    assert "updateTask(input: $input)" in sent["query"]
    assert sent["variables"]["input"] == {
        "id": "t-failed",
        "jobId": "j",
        "status": "failed",
        "failureReason": reason,
        "output": {"error": "third-party job j_2 failed (unsupported_media)"},
    }


@pytest.mark.parametrize("message", ["cancelled by an operator", None])
def test_aiware_sink_reports_a_cancellation_without_a_reason(graphql: GraphQL, message: str | None) -> None:
    cancelled = TaskRecord(taskId="t-cancelled", jobId="job-9", tdoId="d", status="cancelled",
                           failureMessage=message, polls=2, completedAtUTC=1_764_417_600_000)  # fmt: skip
    AiwareSink(graphql.url, lambda: API_KEY).deliver(cancelled)
    expected: dict[str, Any] = {"id": "t-cancelled", "jobId": "job-9", "status": "cancelled"}
    if message is not None:
        expected["output"] = {"error": message}
    assert graphql.requests[0]["variables"]["input"] == expected


def test_the_sinks_inputs_hold_to_what_it_declares_it_sends() -> None:
    """The schema check (devtools.ops aiware-schema) compares SENT_* with a live schema: every field
    and value the inputs carry must be declared there."""
    cancelled = FAILED.model_copy(update={"status": "cancelled", "failureReason": None})
    assert set(upload_engine_result_input(COMPLETE)) == set(SENT_INPUT_FIELDS["UploadEngineResult"])
    for record in (FAILED, cancelled):
        task = update_task_input(record)
        assert set(task) <= set(SENT_INPUT_FIELDS["UpdateTask"])
        assert task["status"] in SENT_ENUM_VALUES["TaskStatus"]
    assert set(update_task_input(FAILED)) == set(SENT_INPUT_FIELDS["UpdateTask"])
    assert SENT_ENUM_VALUES["TaskFailureReason"] == get_args(TaskFailureReason)
    with pytest.raises(ValueError, match="uploadEngineResult"):
        update_task_input(COMPLETE)
    with pytest.raises(ValueError, match="updateTask"):
        upload_engine_result_input(FAILED)


@pytest.mark.parametrize(
    ("answer", "error", "reason"),
    [
        ((503, {"errors": [{"message": "try later"}]}), TransientError, None),
        ((429, {}), TransientError, None),
        ((502, {}), TransientError, None),
        ((200, {"errors": [{"message": "Not allowed to update task", "name": "not_allowed"}]}), PermanentError,
         "api_not_allowed"),
        ((200, {"errors": [{"message": "The requested object was not found", "name": "not_found"}]}),
         PermanentError, "api_not_found"),
        ((200, {"errors": [{"message": "Service unavailable, try again"}]}), TransientError, None),
        ((200, {"data": {"uploadEngineResult": None}}), PermanentError, "api_error"),
        ((200, {"data": None}), PermanentError, "api_error"),
        ((403, {}), PermanentError, "api_not_allowed"),
        ((404, {}), PermanentError, "api_not_found"),
        ((400, {"errors": [{"message": 'Field "failureMessage" is not defined by type UpdateTask'}]}),
         PermanentError, "api_error"),
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
    if answer[0] == 400:
        assert 'Field "failureMessage" is not defined' in str(raised.value)  # a refusal's errors are quoted


def test_aiware_sink_with_a_wrong_key_is_refused_for_good(graphql: GraphQL) -> None:
    with pytest.raises(PermanentError) as raised:
        AiwareSink(graphql.url, lambda: "not-the-key").deliver(COMPLETE)
    assert raised.value.reason == "api_authentication_error"
    assert "unauthenticated" in str(raised.value)


@pytest.mark.parametrize("declared", [True, False], ids=["content-length", "until-close"])
def test_aiware_sink_refuses_a_huge_answer_without_reading_it(graphql: GraphQL, declared: bool) -> None:
    """A megabyte is not aiWARE's answer to `{ id }`: refused for good, at most MAX_ANSWER_BYTES read."""
    graphql.answers.append(streamed(64 * 1024 * 1024, declared))
    started = time.monotonic()
    with pytest.raises(PermanentError, match=f"larger than {MAX_ANSWER_BYTES} bytes") as raised:
        AiwareSink(graphql.url, lambda: API_KEY, timeout_s=5).deliver(COMPLETE)
    assert raised.value.reason == "api_error"
    assert time.monotonic() - started < 2  # 64 MiB over loopback is not what took the time


def test_aiware_sink_gives_up_on_an_answer_still_coming_at_its_timeout(graphql: GraphQL) -> None:
    graphql.answers.append(dripping)
    started = time.monotonic()
    with pytest.raises(TransientError, match="timed out"):
        AiwareSink(graphql.url, lambda: API_KEY, timeout_s=1).deliver(FAILED)
    assert time.monotonic() - started < 2.5  # one piece past the deadline at most, not the 20 s of drip


@pytest.mark.parametrize("status", [302, 307, 308])
def test_aiware_sink_follows_no_redirect(status: int) -> None:
    with ScriptedServer() as api, ScriptedServer() as elsewhere:
        api.default = (status, {"Location": f"{elsewhere.url}/v3/graphql"}, b"")
        elsewhere.default = (200, {"Content-Type": "application/json"}, b'{"data": {"updateTask": {"id": "t"}}}')
        with pytest.raises(PermanentError, match="redirect: not followed"):
            AiwareSink(api.url, lambda: API_KEY, timeout_s=5).deliver(FAILED)
        assert len(api.seen) == 1 and elsewhere.seen == []


def test_aiware_sink_unreachable_is_transient() -> None:
    with pytest.raises(TransientError):
        AiwareSink("http://127.0.0.1:9", lambda: API_KEY, timeout_s=2).deliver(COMPLETE)


def test_post_graphql_opens_only_http_urls() -> None:
    with pytest.raises(PermanentError, match="not http"):
        post_graphql("file:///etc/passwd", API_KEY, "{ __typename }", {}, timeout_s=1, what="a check")


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
