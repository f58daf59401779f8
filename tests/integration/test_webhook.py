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

from devtools.function_url import function_url_event, poll_task_form, process_event, process_form, response_body
from devtools.local_cloud import LOCAL_WEBHOOK_TOKEN, LocalCloud
from devtools.platform_emulator import chunk_form, run_platform_workload
from devtools.vendor_simulator import SimConfig
from devtools.workload import make_tasks
from pollbridge.naming import schedule_name
from pollbridge.webhook import MAX_BODY_BYTES
from tests.fakes import unit_of

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


def test_ready_once_configuration_loads(cloud: LocalCloud) -> None:
    result = cloud.invoke("WebhookFunction", function_url_event("GET", "/ready"))
    assert result.value["statusCode"] == 200
    assert response_body(result.value) == {
        "ready": True,
        "auth": "token",
        "schedulingMode": "eventbridge",
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
    assert cloud.pending_schedules() == [schedule_name(unit_of(chunk), 1)]
    cloud.run_until_idle()
    record = cloud.records()[chunk["taskId"]]
    assert record["status"] == "complete"
    vtn_validator.validate(record["output"])

    status, again = post(cloud, body, content_type)  # a repeat of the finished task
    assert (status, again) == (200, record["output"])
    assert len(cloud.simulator.jobs) == 1 and list(cloud.record_versions().values()) == [1]


@pytest.mark.parametrize("token", [None, "", "pollbridge-local-webhook-tokeN", "x" * 4096])
def test_a_caller_without_the_token_is_401_and_leaves_nothing(
    cloud: LocalCloud, chunk: dict[str, Any], token: str | None
) -> None:
    body, content_type = chunk_form(chunk)
    status, reply = post(cloud, body, content_type, token)
    assert status == 401 and reply["error"] == "unauthorized"
    nothing_left(cloud)


def test_a_bad_form_is_400_naming_the_fields_and_leaves_nothing(cloud: LocalCloud, chunk: dict[str, Any]) -> None:
    bad = copy.deepcopy(chunk)
    bad["taskPayload"]["apiKey"] = "sneaky"  # credential-like configuration is never forwarded
    bad["taskId"] = " spaced"
    status, reply = post(cloud, *chunk_form(bad))
    assert status == 400
    assert "payload.taskId" in reply["message"]
    nothing_left(cloud)
    status, reply = post(cloud, *chunk_form({**chunk, "taskPayload": {"apiKey": "sneaky"}}))
    assert status == 400 and "apiKey looks like a credential" in reply["message"]
    nothing_left(cloud)


def test_a_body_over_the_limit_is_413_and_leaves_nothing(cloud: LocalCloud, chunk: dict[str, Any]) -> None:
    body, content_type = process_form({"taskId": "t", "jobId": "j", "recordingId": "d"}, chunk=b"\0" * MAX_BODY_BYTES)
    status, reply = post(cloud, body, content_type)
    assert status == 413 and reply["error"] == "too_large"
    nothing_left(cloud)


def test_a_forged_poll_task_is_403_and_changes_nothing(cloud: LocalCloud, chunk: dict[str, Any]) -> None:
    status, started = post(cloud, *chunk_form(chunk))
    payload = started["taskPayload"]
    calls = dict(cloud.simulator.config.stats)
    for forged in ({**payload, "deadlineUTC": 0}, {**payload, "pollNumber": 7}, {**payload, "signature": None}):
        status, reply = post(cloud, *poll_task_form(forged, "platform-poll-1"))
        assert status == 403 and "taskPayload.signature" in reply["message"]
    assert cloud.simulator.config.stats == calls
    assert cloud.pending_schedules() == [schedule_name(unit_of(chunk), 1)] and cloud.records() == {}


def test_without_a_token_configured_the_webhook_refuses_everything(chunk: dict[str, Any]) -> None:
    with LocalCloud(manual_clock=True, parameters={"WebhookTokenParameterName": ""}) as cloud:
        ready = cloud.invoke("WebhookFunction", function_url_event("GET", "/ready")).value
        assert ready["statusCode"] == 503 and "not configured" in response_body(ready)["reason"]
        for token in (None, LOCAL_WEBHOOK_TOKEN):
            status, reply = post(cloud, *chunk_form(chunk), token=token)
            assert status == 503 and reply["error"] == "not_configured"
        nothing_left(cloud)


def test_platform_mode_runs_the_whole_loop_without_a_schedule() -> None:
    sim = SimConfig(seed=4, duration_s=(30, 900), queue_s=(0, 60), failure_rate=0.2, flaky_rate=0.1)
    with LocalCloud(manual_clock=True, sim_config=sim, parameters={"SchedulingMode": "platform"}) as cloud:
        report, platform = run_platform_workload(cloud, make_tasks(12, arrival_window_ms=5 * 60_000), 0.3)
        assert report.healthy and report.missing_records == [] and report.records == 12
        assert report.records_written_twice == 0
        assert cloud.emulator.deliveries == [] and cloud.pending_schedules() == []  # nothing scheduled by us
        assert platform.stats.duplicates > 0 and report.statuses.get("failed", 0) > 0
        assert len(cloud.simulator.jobs) == 12  # one vendor job per task, duplicates and all
        polls = [p for p in platform.posts if p.kind == "poll" and not p.duplicate]
        assert polls
        # a finished task's poll task delivered again: answered with the record, nothing changes
        last = polls[-1]
        task = last.task_id
        payload = next(p for p in platform.posts if p.task_id == task and p.kind == "chunk").body["taskPayload"]
        status, again = post(cloud, *poll_task_form(payload, "late-poll"))
        record = cloud.records()[task]
        assert status == (200 if record["status"] == "complete" else 422)
        assert again == (record["output"] if record["status"] == "complete" else record)
        assert list(cloud.record_versions(task).values()) == [1]


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


def test_each_poll_reports_to_the_heartbeat_webhook(cloud: LocalCloud, chunk: dict[str, Any]) -> None:
    beats = Heartbeats()
    try:
        body, content_type = process_form(
            {"taskId": chunk["taskId"], "jobId": chunk["jobId"], "recordingId": chunk["tdoId"]},
            chunk=b"media",
            heartbeat=beats.url,
        )
        status, reply = post(cloud, body, content_type)
        assert status == 200 and reply["taskPayload"]["heartbeatWebhook"] == beats.url
        cloud.run_until_idle()
        polls = [d for d in cloud.emulator.deliveries if not d.duplicate]
        assert len(beats.received) == len(polls) >= 2
        assert all(b["status"] == "running" and b["taskId"] == chunk["taskId"] for b in beats.received)
        assert cloud.records()[chunk["taskId"]]["status"] == "complete"
    finally:
        beats.server.shutdown()
        beats.server.server_close()


def test_a_heartbeat_webhook_on_a_forbidden_address_is_refused_at_the_edge(
    cloud: LocalCloud, chunk: dict[str, Any]
) -> None:
    body, content_type = process_form(
        {"taskId": chunk["taskId"], "jobId": chunk["jobId"], "recordingId": chunk["tdoId"]},
        chunk=b"media",
        heartbeat="http://169.254.169.254/latest/meta-data/",
    )
    status, reply = post(cloud, body, content_type)
    assert status == 400 and "heartbeatWebhook" in reply["message"] and "metadata" in reply["message"]
    nothing_left(cloud)


def test_the_eventbridge_sink_tells_a_rule_once_per_task(chunk: dict[str, Any]) -> None:
    with LocalCloud(manual_clock=True, sim_config=SIM, parameters={"ResultSinks": "s3,eventbridge"}) as cloud:
        sqs, events = cloud.clients["sqs"], cloud.clients["events"]
        queue = sqs.create_queue(QueueName="finished-tasks")["QueueUrl"]
        arn = sqs.get_queue_attributes(QueueUrl=queue, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
        events.put_rule(Name="pollbridge-finished", EventPattern=json.dumps({"source": ["pollbridge"]}))
        events.put_targets(Rule="pollbridge-finished", Targets=[{"Id": "q", "Arn": arn}])
        assert post(cloud, *chunk_form(chunk))[0] == 200
        cloud.run_until_idle()
        messages = sqs.receive_message(QueueUrl=queue, MaxNumberOfMessages=10, WaitTimeSeconds=1).get("Messages", [])
        [event] = [json.loads(m["Body"]) for m in messages]
        assert event["detail-type"] == "Task Completed" and event["detail"]["taskId"] == chunk["taskId"]
        assert event["detail"]["recordUri"] == f"s3://{cloud.results_bucket}/results/{chunk['taskId']}.json"
        tags = cloud.clients["s3"].get_object_tagging(
            Bucket=cloud.results_bucket, Key=f"results/{chunk['taskId']}.json"
        )["TagSet"]
        assert [t["Key"] for t in tags] == ["pollbridge-delivered-eventbridge"]
