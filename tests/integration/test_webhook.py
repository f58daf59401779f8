"""The webhook function on the local cloud: Function URL events with real multipart bodies, through
the same core as the segment and poll functions, in both scheduling modes."""

from __future__ import annotations

import copy
import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from devtools.cloud.local_cloud import LocalCloud
from devtools.cloud.local_values import LOCAL_WEBHOOK_TOKEN
from devtools.load.platform_emulator import chunk_form, run_platform_workload
from devtools.load.workload import make_tasks
from devtools.standins.function_url import (
    function_url_event,
    poll_task_form,
    process_event,
    process_form,
    response_body,
)
from devtools.standins.vendor_simulator import SimConfig
from pollbridge.clock import ManualClock
from pollbridge.naming import record_key
from pollbridge.webhook.form import MAX_BODY_BYTES
from tests.support.fakes import unit_of

SIM = SimConfig(duration_s=(200, 200), queue_s=(0, 0))


@pytest.fixture
def cloud() -> Iterator[LocalCloud]:
    with LocalCloud(manual_clock=True, sim_config=SIM) as running:
        yield running


def post(cloud: LocalCloud, body: bytes, content_type: str, token: str | None = LOCAL_WEBHOOK_TOKEN) -> tuple[int, Any]:
    result = cloud.invoke("WebhookFunction", process_event(body, content_type, token))
    assert result.ok, result.error_message  # the function answers with a status; it never crashes
    return int(result.value["statusCode"]), response_body(result.value)


def nothing_left(cloud: LocalCloud) -> None:
    assert cloud.pending_schedules() == []
    assert cloud.records() == {}
    assert cloud.simulator.jobs == {}


def drive(cloud: LocalCloud, reply: Any, poll_id: str = "platform-poll") -> tuple[int, Any, int]:
    """Play aiWARE's part: run each schedule_poll_task at its nextPollTimeUTC, until the final answer.
    Returns (status, body, poll tasks run)."""
    status, polls = 200, 0
    while isinstance(reply, dict) and reply.get("type") == "schedule_poll_task":
        assert reply["nextPollTimeUTC"] >= reply["timestampUTC"] + 60_000  # the seed: at least a minute ahead
        assert isinstance(cloud.clock, ManualClock)
        cloud.clock.advance_to(reply["nextPollTimeUTC"])
        polls += 1
        status, reply = post(cloud, *poll_task_form(reply["taskPayload"], f"{poll_id}-{polls}"))
        assert polls < 100
    return status, reply, polls


def test_ready_once_configuration_loads(cloud: LocalCloud) -> None:
    result = cloud.invoke("WebhookFunction", function_url_event("GET", "/ready"))
    assert result.value["statusCode"] == 200
    assert response_body(result.value) == {
        "ready": True,
        "auth": "token",
        "schedulingMode": "platform",  # the webhook is always platform-scheduled
        "resultSinks": ["s3"],
    }


def test_a_chunk_starts_with_its_uploaded_bytes_and_polls_to_the_end(
    cloud: LocalCloud, chunk: dict[str, Any], vtn_validator: Any
) -> None:
    media = b"RIFF....WAVEfmt \x00\x01" * 64
    # cacheURI names a host that does not exist: the uploaded bytes are used, nothing is downloaded
    body, content_type = process_form(
        {"taskId": chunk["taskId"], "jobId": chunk["jobId"], "recordingId": chunk["tdoId"], **chunk["taskPayload"]},
        chunk=media,
        mime_type="audio/wav",
        cache_uri="https://cache.invalid/chunk-0.wav",
    )
    status, reply = post(cloud, body, content_type)
    assert status == 200 and reply["type"] == "schedule_poll_task"
    assert list(cloud.simulator.uploads.values()) == [media]
    assert cloud.pending_schedules() == []  # aiWARE schedules the poll task, not pollbridge
    status, output, polls = drive(cloud, reply)
    record = cloud.records()[chunk["taskId"]]
    assert status == 200 and record["status"] == "complete" and output == record["output"] and polls >= 1
    vtn_validator.validate(record["output"])

    status, again = post(cloud, body, content_type)  # a repeat of the finished chunk
    assert (status, again) == (200, record["output"])
    assert len(cloud.simulator.jobs) == 1 and list(cloud.record_versions().values()) == [1]
    assert cloud.emulator.deliveries == [] and cloud.pending_schedules() == []


@pytest.mark.parametrize("token", [None, "", "pollbridge-local-webhook-tokeN", "x" * 4096])
def test_a_caller_without_the_token_is_401_and_leaves_nothing(
    cloud: LocalCloud, chunk: dict[str, Any], token: str | None
) -> None:
    body, content_type = chunk_form(chunk)
    status, reply = post(cloud, body, content_type, token)
    assert status == 401 and reply.startswith("api_authentication_error: Authorization")
    nothing_left(cloud)


def test_a_bad_form_is_400_naming_the_fields_and_leaves_nothing(cloud: LocalCloud, chunk: dict[str, Any]) -> None:
    bad = copy.deepcopy(chunk)
    bad["taskId"] = " spaced"
    status, reply = post(cloud, *chunk_form(bad))
    assert status == 400 and reply.startswith("invalid_data: ") and "payload.taskId" in reply
    nothing_left(cloud)
    nested = {**chunk, "taskPayload": {"language": "en-US", "vocabulary": [{"apiKey": "sneaky"}]}}
    status, reply = post(cloud, *chunk_form(nested))
    assert status == 400 and "apiKey looks like a credential" in reply
    nothing_left(cloud)


def test_unknown_payload_keys_are_dropped_never_forwarded(cloud: LocalCloud, chunk: dict[str, Any]) -> None:
    added = {**chunk, "taskPayload": {**chunk["taskPayload"], "apiKey": "sneaky", "aNewPlatformKey": {"x": 1}}}
    status, reply = post(cloud, *chunk_form(added))
    assert status == 200 and reply["type"] == "schedule_poll_task"
    config = reply["taskPayload"]["engineConfig"]
    assert "apiKey" not in config and "aNewPlatformKey" not in config and config["language"] == "en-US"
    assert len(cloud.simulator.jobs) == 1


def test_a_body_over_the_limit_is_413_and_leaves_nothing(cloud: LocalCloud, chunk: dict[str, Any]) -> None:
    body, content_type = process_form({"taskId": "t", "jobId": "j", "recordingId": "d"}, chunk=b"\0" * MAX_BODY_BYTES)
    status, reply = post(cloud, body, content_type)
    assert status == 413 and reply.startswith("invalid_data: ")
    nothing_left(cloud)


def test_a_forged_poll_task_is_403_and_changes_nothing(cloud: LocalCloud, chunk: dict[str, Any]) -> None:
    status, started = post(cloud, *chunk_form(chunk))
    payload = started["taskPayload"]
    calls = dict(cloud.simulator.config.stats)
    for forged in ({**payload, "deadlineUTC": 0}, {**payload, "pollNumber": 7}, {**payload, "signature": None}):
        status, reply = post(cloud, *poll_task_form(forged, "platform-poll-1"))
        assert status == 403 and "taskPayload.signature" in reply
    assert cloud.simulator.config.stats == calls
    assert cloud.pending_schedules() == [] and cloud.records() == {}


def test_without_a_token_configured_the_webhook_refuses_everything(chunk: dict[str, Any]) -> None:
    with LocalCloud(manual_clock=True, parameters={"WebhookTokenParameterName": ""}) as cloud:
        ready = cloud.invoke("WebhookFunction", function_url_event("GET", "/ready")).value
        assert ready["statusCode"] == 503 and "not configured" in response_body(ready)["reason"]
        for token in (None, LOCAL_WEBHOOK_TOKEN):
            status, reply = post(cloud, *chunk_form(chunk), token=token)
            assert status == 503 and reply.startswith("system_error: webhook authentication is not configured")
        nothing_left(cloud)


@pytest.mark.parametrize("mode", ["eventbridge", "platform"])
def test_the_webhook_is_platform_scheduled_in_either_mode(mode: str) -> None:
    sim = SimConfig(seed=4, duration_s=(30, 900), queue_s=(0, 60), failure_rate=0.2, flaky_rate=0.1)
    with LocalCloud(manual_clock=True, sim_config=sim, parameters={"SchedulingMode": mode}) as cloud:
        report, platform = run_platform_workload(cloud, make_tasks(12, arrival_window_ms=5 * 60_000), 0.3)
        assert report.healthy and report.missing_records == [] and report.records == 12
        assert report.records_written_twice == 0
        assert cloud.emulator.deliveries == [] and cloud.pending_schedules() == []  # nothing scheduled by us
        assert platform.stats.duplicates > 0 and report.statuses.get("failed", 0) > 0
        assert len(cloud.simulator.jobs) == 12  # one vendor job per task, duplicates and all
        assert 204 not in platform.stats.statuses  # never "ignored" while a result is still to come
        polls = [p for p in platform.posts if p.kind == "poll" and not p.duplicate]
        assert polls
        # a finished task's poll task delivered again: answered with the record, nothing changes
        task = polls[-1].task_id
        payload = next(p for p in platform.posts if p.task_id == task and p.kind == "chunk").body["taskPayload"]
        status, again = post(cloud, *poll_task_form(payload, "late-poll"))
        record = cloud.records()[task]
        if record["status"] == "complete":
            assert (status, again) == (200, record["output"])
        else:
            assert status == 422 and again == f"{record['failureReason']}: {record['failureMessage']}"
        assert list(cloud.record_versions(task).values()) == [1]


def test_each_chunk_of_a_task_is_its_own_unit_of_work(cloud: LocalCloud, chunk: dict[str, Any]) -> None:
    first = {**chunk, "chunkUUID": "chunk-a", "chunkIndex": 0, "startOffsetMs": 0, "endOffsetMs": 30_000}
    second = {**chunk, "chunkUUID": "chunk-b", "chunkIndex": 1, "startOffsetMs": 30_000, "endOffsetMs": 60_000}
    failing = {**second, "taskPayload": {**chunk["taskPayload"], "simulate": {"outcome": "failed"}}}
    status_a, reply_a = post(cloud, *chunk_form(first))
    status_b, reply_b = post(cloud, *chunk_form(failing))
    assert status_a == status_b == 200 and len(cloud.simulator.jobs) == 2  # one vendor job per chunk
    assert reply_a["taskPayload"]["workId"] != reply_b["taskPayload"]["workId"]
    status_b, final_b, _ = drive(cloud, reply_b, "poll-b")
    assert status_b == 422 and final_b.startswith("invalid_data: ")  # the simulated failure
    status_a, final_a, _ = drive(cloud, reply_a, "poll-a")  # the other chunk is untouched by it
    assert status_a == 200 and all(item["startTimeMs"] >= 0 for item in final_a["series"])
    records = cloud.records()
    assert {records[f"{chunk['taskId']}/chunk-a"]["status"], records[f"{chunk['taskId']}/chunk-b"]["status"]} == {
        "complete",
        "failed",
    }
    assert post(cloud, *chunk_form(first)) == (200, final_a)  # a repeat: that chunk's own output
    third = {**chunk, "chunkUUID": "chunk-c", "chunkIndex": 2, "startOffsetMs": 60_000, "endOffsetMs": 90_000}
    status_c, reply_c = post(cloud, *chunk_form(third))  # a new chunk after completion: new work
    assert status_c == 200 and reply_c["type"] == "schedule_poll_task" and len(cloud.simulator.jobs) == 3


def test_a_vendor_refusing_the_submit_gets_a_poll_task_that_submits_again(chunk: dict[str, Any]) -> None:
    with LocalCloud(
        manual_clock=True, sim_config=SIM, parameters={"MediaBucketName": "pollbridge-media-test"}
    ) as cloud:
        cloud.simulator.config.flaky_rate = 1.0  # every request 429/503
        fetched = {k: v for k, v in chunk.items() if k != "content"}
        fetched |= {"cacheURI": f"s3://{cloud.media_bucket}/chunks/a.wav", "mimeType": "audio/wav"}
        cloud.put_sample_media(fetched)  # re-read from the cache by the poll that submits again
        status, reply = post(cloud, *chunk_form(fetched))
        assert status == 200 and reply["type"] == "schedule_poll_task"
        assert reply["taskPayload"]["awaitingSubmit"] is True and cloud.simulator.jobs == {}
        cloud.simulator.config.flaky_rate = 0.0
        status, output, polls = drive(cloud, reply)
        assert status == 200 and output["series"] and len(cloud.simulator.jobs) == 1 and polls >= 2


class Heartbeats:
    def __init__(self) -> None:
        self.received: list[dict[str, Any]] = []
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                outer.received.append(json.loads(self.rfile.read(int(self.headers["Content-Length"]))))
                self.send_response(204)
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/heartbeat/t1"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()


@pytest.mark.parametrize("where", ["local", "http://169.254.169.254/latest/meta-data/"])
def test_container_local_webhooks_are_accepted_and_never_called(
    cloud: LocalCloud, chunk: dict[str, Any], where: str
) -> None:
    beats = Heartbeats()  # what a V3 toolkit serves inside the engine's container
    try:
        url = beats.url if where == "local" else where
        body, content_type = process_form(
            {"taskId": chunk["taskId"], "jobId": chunk["jobId"], "recordingId": chunk["tdoId"]},
            chunk=b"media",
            heartbeat=url,
            extra={"resultWebhook": url, "externalCallbackWebhook": url, "maxTTL": "3600", "internalTaskId": "i-1"},
        )
        status, reply = post(cloud, body, content_type)
        assert status == 200 and "heartbeatWebhook" not in reply["taskPayload"]
        status, _, polls = drive(cloud, reply)
        assert status == 200 and polls >= 2
        assert beats.received == []  # a Lambda function cannot reach the container: it never tries
    finally:
        beats.server.shutdown()
        beats.server.server_close()


def test_the_eventbridge_sink_tells_a_rule_once_per_task(chunk: dict[str, Any]) -> None:
    with LocalCloud(manual_clock=True, sim_config=SIM, parameters={"ResultSinks": "s3,eventbridge"}) as cloud:
        sqs, events = cloud.clients["sqs"], cloud.clients["events"]
        queue = sqs.create_queue(QueueName="finished-tasks")["QueueUrl"]
        arn = sqs.get_queue_attributes(QueueUrl=queue, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
        events.put_rule(Name="pollbridge-finished", EventPattern=json.dumps({"source": ["pollbridge"]}))
        events.put_targets(Rule="pollbridge-finished", Targets=[{"Id": "q", "Arn": arn}])
        status, reply = post(cloud, *chunk_form(chunk))
        assert status == 200 and drive(cloud, reply)[0] == 200
        messages = sqs.receive_message(QueueUrl=queue, MaxNumberOfMessages=10, WaitTimeSeconds=1).get("Messages", [])
        [event] = [json.loads(m["Body"]) for m in messages]
        assert event["detail-type"] == "Task Completed" and event["detail"]["taskId"] == chunk["taskId"]
        assert event["detail"]["recordUri"] == f"s3://{cloud.results_bucket}/{record_key(unit_of(chunk))}"
        tags = cloud.clients["s3"].get_object_tagging(Bucket=cloud.results_bucket, Key=record_key(unit_of(chunk)))[
            "TagSet"
        ]
        assert [t["Key"] for t in tags] == ["pollbridge-delivered-eventbridge"]


@pytest.mark.parametrize("content_type", ["text/plain", "multipart/form-data; boundary*=''b", "multipart/form-data"])
def test_a_body_that_is_not_a_form_is_415_and_leaves_nothing(cloud: LocalCloud, content_type: str) -> None:
    status, reply = post(
        cloud, b"--b\r\nContent-Disposition: form-data; name=payload\r\n\r\n{}\r\n--b--\r\n", content_type
    )
    assert status == 415 and reply.startswith("invalid_data: invalid /process request: Content-Type")
    nothing_left(cloud)
