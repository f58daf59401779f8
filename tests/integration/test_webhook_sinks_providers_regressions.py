"""Regression tests for a second red-team pass: the engine webhook, platform scheduling, heartbeats,
result sinks and the AWS providers. Each failed on the code as first reviewed; each docstring keeps
the finding as reported (what broke and why it matters).
"""

from __future__ import annotations

import base64
import dataclasses
import json
import time
from collections.abc import Iterator
from typing import Any

import pytest

from devtools.cloud.local_cloud import LocalCloud
from devtools.cloud.local_values import LOCAL_WEBHOOK_TOKEN
from devtools.load.platform_emulator import chunk_form
from devtools.standins.function_url import function_url_event, process_event, process_form, response_body
from devtools.standins.vendor_simulator import SimConfig
from pollbridge import core
from pollbridge.adapters.platform_scheduler import PlatformPollScheduler
from pollbridge.clock import ManualClock
from pollbridge.errors import DeliveryError, PermanentError
from pollbridge.models import SchedulePollTask, TaskRecord, parse_segment
from pollbridge.ports import ResultContext
from pollbridge.webhook import endpoint as webhook_http
from pollbridge.webhook.form import parse_form
from tests.support.fakes import RecordingNotifier, World
from tests.support.http_servers import ScriptedServer

SIM = SimConfig(duration_s=(200, 200), queue_s=(0, 0))


@pytest.fixture
def cloud() -> Iterator[LocalCloud]:
    with LocalCloud(manual_clock=True, sim_config=SIM) as running:
        yield running


def post_event(cloud: LocalCloud, event: dict[str, Any]) -> tuple[int, Any]:
    result = cloud.invoke("WebhookFunction", event)
    assert result.ok, result.error_message
    return int(result.value["statusCode"]), response_body(result.value)


def post(cloud: LocalCloud, body: bytes, content_type: str, token: str | None = LOCAL_WEBHOOK_TOKEN) -> tuple[int, Any]:
    return post_event(cloud, process_event(body, content_type, token))


# --- F1: platform mode, a poll task posted back early is answered 204 and the task is lost ----------


def test_platform_mode_an_early_poll_task_is_not_dropped_on_the_floor(
    chunk: dict[str, Any], manual_clock: ManualClock
) -> None:
    """SCHEDULING_MODE=platform: pollbridge has no schedule, only the platform's copy of the poll task.
    A poll task the platform posts back more than 5 s before its notBeforeUTC (its clock runs a little
    fast, it rounds the time down, or it simply posts at once) is answered with StalePoll -> HTTP 204,
    "ignored". The platform then has no poll task to schedule: nothing will ever poll the job and no
    record is ever written. In eventbridge mode the same early delivery is answered with the pending
    schedule_poll_task; in platform mode it must be answered with the poll task itself."""
    world = World()
    ports = dataclasses.replace(world.ports, scheduler=PlatformPollScheduler(), scheduling="platform")
    started = core.handle_segment(parse_segment(chunk), ports).response
    assert isinstance(started, SchedulePollTask)
    due = started.taskPayload.notBeforeUTC or started.nextPollTimeUTC
    manual_clock.advance(due - manual_clock.now_ms() - 10_000)  # 10 s before the earliest it may run
    outcome = core.poll(started.taskPayload, ports, task_id="platform-poll-1")
    status = webhook_http._reply(outcome).status
    assert status != 204 and isinstance(outcome.response, SchedulePollTask), (
        f"early poll task answered {status} {type(outcome.response).__name__}: the platform gets nothing "
        "to reschedule, the task is never polled again and never gets a record"
    )


# --- F2: two chunks of one aiWARE task: the second is silently answered with the first's state -------


def test_a_second_chunk_of_the_same_task_is_not_silently_swallowed(cloud: LocalCloud, chunk: dict[str, Any]) -> None:
    """The engine toolkit posts every chunk of a task with the task's `taskId` (chunkIndex/chunkUUID and
    the offsets tell them apart). pollbridge keys everything on taskId, so chunk 1 is taken for a
    repeated delivery of chunk 0: 200 schedule_poll_task (chunk 0's), its bytes are never sent to the
    vendor, and when chunk 0 finishes, chunk 1's poll tasks get chunk 0's transcript (its offsets). The
    caller is told "accepted"; the media is silently never processed."""
    ids = {"taskId": chunk["taskId"], "jobId": chunk["jobId"], "recordingId": chunk["tdoId"]}
    first = process_form(ids, chunk=b"chunk-zero-bytes", chunk_index=0, start_ms=0, end_ms=30_000)
    second = process_form(ids, chunk=b"chunk-one-bytes!", chunk_index=1, start_ms=30_000, end_ms=60_000)
    assert post(cloud, *first)[0] == 200
    status, reply = post(cloud, *second)
    uploads = list(cloud.simulator.uploads.values())
    assert status != 200 or b"chunk-one-bytes!" in uploads, (
        f"chunk 1 answered {status} {reply.get('type')} alreadyScheduled={reply.get('alreadyScheduled')} "
        f"with chunk 0's payload (mediaOffsetMs={reply['taskPayload']['mediaOffsetMs']}); uploads: {uploads}"
    )


# --- F3: /ready and an unauthenticated /process echo AWS error text (account id, role, parameter) ------

SSM_DENIED = (
    "An error occurred (AccessDeniedException) when calling the GetParameter operation: User: "
    "arn:aws:sts::123456789012:assumed-role/pollbridge-prod-WebhookFunctionRole-1A2B3C/pollbridge-prod-Webhook "
    "is not authorized to perform: ssm:GetParameter on resource: "
    "arn:aws:ssm:us-east-1:123456789012:parameter/pollbridge/webhook-token"
)


def test_ready_and_unauthenticated_process_do_not_leak_aws_error_details(
    cloud: LocalCloud, chunk: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    """/ready is unauthenticated and documented to say "only whether configuration loads (setting
    names, no values)". When the token parameter cannot be read, Powertools raises GetParameterError
    carrying botocore's message, and /ready returns `f"{type}: {error}"` verbatim to anyone: the
    account id, the function's role name and the parameter's ARN. /process does the same before the
    caller is authenticated, and answers 500 ("a bug") for what is a configuration/transient fault."""
    from aws_lambda_powertools.utilities.parameters.exceptions import GetParameterError

    def denied(settings: Any) -> str:
        raise GetParameterError(SSM_DENIED)

    monkeypatch.setattr(webhook_http, "webhook_token", denied)
    ready = post_event(cloud, function_url_event("GET", "/ready"))
    status, reply = post(cloud, *chunk_form(chunk), token=None)  # no credentials at all
    leaked = [text for text in (json.dumps(ready[1]), json.dumps(reply)) if "123456789012" in text]
    assert not leaked and status != 500, f"/ready -> {ready}; unauthenticated /process -> {status} {reply}"


# --- F4: multipart parser: nesting depth is unbounded -> RecursionError -> 500 -------------------------


def nested_form(depth: int) -> tuple[bytes, str]:
    head = b"".join(b"--b%d\r\nContent-Type: multipart/mixed; boundary=b%d\r\n\r\n" % (i, i + 1) for i in range(depth))
    body = b"--b0\r\nContent-Disposition: form-data; name=payload\r\n" + head[len(b"--b0\r\n") :]
    return body, "multipart/form-data; boundary=b0"


def test_a_deeply_nested_multipart_body_is_a_400_not_a_500(cloud: LocalCloud) -> None:
    """A 170 KB body of nested multipart/mixed parts makes the stdlib email parser recurse past the
    interpreter's limit: RecursionError -> 500 "internal_error" (a bug, worth retrying) for a request
    that is simply malformed. A 5xx invites the toolkit to retry it forever."""
    status, reply = post(cloud, *nested_form(3000))
    assert status == 400, f"{status} {reply}"


# --- F5: the part-count limit is checked only after the whole body was parsed ---------------------------


def test_the_part_limit_is_enforced_before_parsing_every_part() -> None:
    """MAX_PARTS (64) is checked after `email` has built every part: a body of ~300 KB of empty parts
    (40,000 of them) costs seconds of CPU before it is refused; a 4.5 MB one (the most a Function URL
    lets through) took ~60 s on this machine (webhook timeout 300 s, 1 GB). An authenticated caller
    (or a buggy toolkit) can pin the function with a few requests."""
    part = b'--b\r\nContent-Disposition: form-data; name="x"\r\n\r\n\r\n'
    body = part * 40_000 + b"--b--\r\n"
    started = time.perf_counter()
    with pytest.raises(Exception, match="at most 64 parts"):
        parse_form("multipart/form-data; boundary=b", body)
    elapsed = time.perf_counter() - started
    assert elapsed < 0.5, f"{len(body)} bytes of empty parts took {elapsed:.1f} s to refuse"


# --- F6: a body that is not base64 and holds a lone surrogate -> 500 -----------------------------------


def test_a_raw_body_with_a_lone_surrogate_is_a_400_not_a_500(cloud: LocalCloud, chunk: dict[str, Any]) -> None:
    """`_body` encodes a non-base64 body with `surrogateescape`, which only maps U+DC80..U+DCFF: any
    other lone surrogate (a JSON event may carry "\\ud800") raises UnicodeEncodeError -> 500."""
    body, content_type = chunk_form(chunk)
    event = process_event(body, content_type, LOCAL_WEBHOOK_TOKEN)
    event["isBase64Encoded"] = False
    event["body"] = base64.b64decode(event["body"]).decode("latin-1") + "\ud800"
    status, reply = post_event(cloud, event)
    assert status < 500, f"{status} {reply}"


# --- F7: the aiware sink follows redirects: the API key goes to another host, a POST becomes a GET -----


@pytest.fixture
def two_servers() -> Iterator[tuple[ScriptedServer, ScriptedServer]]:
    with ScriptedServer() as first, ScriptedServer() as second:
        yield first, second


def a_record(status: str = "complete") -> TaskRecord:
    output = {"series": []} if status == "complete" else None
    return TaskRecord(taskId="task-1", jobId="job-1", tdoId="tdo-1", status=status, output=output, polls=3,
                      completedAtUTC=1_700_000_000_000)  # fmt: skip


def test_the_aiware_sink_never_sends_its_api_key_to_a_redirect_target(
    two_servers: tuple[ScriptedServer, ScriptedServer],
) -> None:
    """AiwareSink uses urllib's default opener, which follows 301/302/303 for a POST by re-sending a
    GET to the Location, any host, any scheme (http too), with every header added by add_header:
    `Authorization: Bearer <AIWARE API key>` goes to whoever the redirect names. Worse, the GET carries
    no mutation, and if the target answers JSON with data.updateTask the delivery is counted (tagged
    `pollbridge-delivered-aiware`) although aiWARE was never told."""
    from pollbridge.adapters.sinks.aiware import AiwareSink

    api, elsewhere = two_servers
    api.default = (302, {"Location": f"http://localhost:{elsewhere.port}/collect"}, b"")
    elsewhere.default = (200, {"Content-Type": "application/json"}, b'{"data": {"updateTask": {"id": "task-1"}}}')
    sink = AiwareSink(api.url, lambda: "aiware-api-key-SECRET", timeout_s=5)
    delivered = True
    try:
        sink.deliver(a_record())
    except Exception:
        delivered = False
    leaked = [(seen.method, seen.headers.get("Authorization")) for seen in elsewhere.seen]
    assert not leaked and not delivered, f"redirect target got {leaked}; delivery counted: {delivered}"


# --- F8: the ledger's tag write failing after a successful delivery is reported as the sink refusing ----


def test_a_ledger_failure_after_a_delivery_is_not_blamed_on_the_sink(
    chunk: dict[str, Any], manual_clock: ManualClock
) -> None:
    """`_notify` runs `deliver` and `mark_delivered` in one try: when PutObjectTagging is refused
    (AccessDenied: a missing s3:PutObjectTagging grant, an SCP, a bucket policy) after EventBridge took
    the event, DeliveryError says `eventbridge` refused for good (webhook 502 "a result sink refused",
    `sinksRefused: [eventbridge]`, ResultDeliveryFailures{sink=eventbridge}), and each of Lambda's
    retries publishes the event again before the DLQ. The operator is sent to fix EventBridge, which
    works; the ledger is what failed."""
    from tests.support.fakes import COMPLETE

    world = World()
    bus = RecordingNotifier("eventbridge", world.sink)
    ports = dataclasses.replace(world.ports, notifiers=(bus,), ledger=world.sink)

    def tagging_denied(task_id: str, sink: str) -> None:
        raise PermanentError("records bucket PutObjectTagging: AccessDenied", "system_error")

    world.sink.mark_delivered = tagging_denied  # type: ignore[method-assign]
    started = core.handle_segment(parse_segment(chunk), ports).response
    assert isinstance(started, SchedulePollTask)
    manual_clock.advance_to(started.taskPayload.notBeforeUTC or 0)
    world.provider.states = [COMPLETE, COMPLETE, COMPLETE]
    blamed = []
    for _ in range(3):  # Lambda's attempt and its two retries
        with pytest.raises(DeliveryError) as failed:
            core.poll(started.taskPayload, ports)
        blamed += failed.value.permanent
    assert "eventbridge" not in blamed, (
        f"eventbridge took the event {len(bus.told)} times yet is reported as refusing: {blamed}"
    )


# --- F10: a Transcribe transcript with an infinite / out-of-range time crashes the poll (no record) -----


@pytest.mark.parametrize("start", ["Infinity", "1e999999999"])
def test_a_transcript_time_out_of_range_is_invalid_data_not_a_crash(start: str) -> None:
    """`seconds_to_ms` catches InvalidOperation/ValueError/TypeError, but round(Decimal('Infinity'))
    raises OverflowError and Decimal('1e999999999') * 1000 raises decimal.Overflow: neither is a
    ValueError, so core._complete does not turn it into an `invalid_data` record. The poll
    invocation fails, Lambda retries it twice and it ends in the DLQ without a record, breaking "no
    task ends in the DLQ without a record"."""
    from pollbridge.adapters.providers.transcribe import transcript_to_vtn

    output = {"results": {"items": [
        {"type": "pronunciation", "start_time": start, "end_time": start,
         "alternatives": [{"content": "hi", "confidence": "0.9"}]},
    ]}}  # fmt: skip
    context = ResultContext("task-1", "job-1", 0, "pollbridge", 1_700_000_000_000)
    with pytest.raises(ValueError):
        transcript_to_vtn(output, "en-US", context)


# --- F11: Transcribe job names (and Rekognition tokens) are account-wide, not per stack ------------------


def test_two_stacks_in_one_account_never_share_a_transcribe_job(monkeypatch: pytest.MonkeyPatch) -> None:
    """The job name is `pollbridge-job-<sha256(origTaskId)>`, unique per account and region, with
    nothing of the stack in it. A second deployment in the same account/region (blue/green, a staging
    stack replaying production events, two engines fed the same task ids) that gets the same task takes
    Transcribe's ConflictException for "already started" and adopts the OTHER stack's job: its result
    is then refused ("outside the staging bucket") and the task fails, and its cancel
    (DeleteTranscriptionJob, granted on `transcription-job/pollbridge-job-*`) deletes the other stack's
    job. Rekognition's ClientRequestToken has the same scope (IdempotentParameterMismatch -> failed)."""
    import boto3
    from moto import mock_aws

    from pollbridge.adapters.providers.aws import Staging
    from pollbridge.adapters.providers.transcribe import TranscribeProvider
    from pollbridge.naming import idempotency_key
    from pollbridge.ports import Media

    credentials = {"AWS_ACCESS_KEY_ID": "x", "AWS_SECRET_ACCESS_KEY": "x", "AWS_DEFAULT_REGION": "us-east-1"}
    for name, value in credentials.items():
        monkeypatch.setenv(name, value)
    monkeypatch.delenv("AWS_ENDPOINT_URL", raising=False)
    with mock_aws():
        s3, transcribe = boto3.client("s3"), boto3.client("transcribe")
        providers = []
        for bucket in ("prod-staging", "blue-staging"):
            s3.create_bucket(Bucket=bucket)
            providers.append(TranscribeProvider(Staging(lambda: s3, bucket), lambda: transcribe))
        # core scopes the key by the stack (Ports.deployment = the stack's schedule group)
        keys = [idempotency_key("aiware-task-42", "job", group) for group in ("prod-polls", "blue-polls")]
        prod, blue = (
            p.submit(Media(b"RIFF$\x00\x00\x00WAVEfmt ", "audio/wav"), p.options({"languageCode": "en-US"}), key)
            for p, key in zip(providers, keys, strict=True)
        )
        jobs = transcribe.list_transcription_jobs()["TranscriptionJobSummaries"]
        assert prod != blue and len(jobs) == 2, f"both stacks use job {prod!r}; jobs in the account: {len(jobs)}"


# --- F12: Rekognition result paging is bounded far beyond what a poll can do ----------------------------


def test_rekognition_result_paging_is_bounded_to_what_a_poll_can_finish() -> None:
    """`result` reads up to MAX_PAGES = 10,000 GetTextDetection pages (each up to 1,000 detections,
    all kept in memory; no byte cap, unlike Transcribe's 64 MiB) inside one poll invocation whose
    timeout is 60 s. At even 50 ms a call that is 500 s: a job with that many pages (or a service
    that keeps paging) is killed by the Lambda timeout, retried twice and sent to the DLQ without a
    record, instead of ending with an `invalid_data` record as the bound intends."""
    from pollbridge.adapters.providers.aws import Staging
    from pollbridge.adapters.providers.rekognition_text import RekognitionTextProvider

    calls = 0

    class EndlessPages:
        def get_text_detection(self, **request: Any) -> dict[str, Any]:
            nonlocal calls
            calls += 1
            return {"JobStatus": "SUCCEEDED", "TextDetections": [], "NextToken": f"token-{calls}"}

    provider = RekognitionTextProvider(Staging(lambda: None, "staging"), lambda: EndlessPages())
    context = ResultContext("task-1", "job-1", 0, "pollbridge", 1_700_000_000_000)
    with pytest.raises(PermanentError):
        provider.result("job-1", context)
    poll_timeout_s, call_s = 60, 0.05
    assert calls * call_s < poll_timeout_s, f"{calls} GetTextDetection calls before giving up (~{calls * call_s:.0f} s)"


# --- F13: the webhook answers with the whole vtn document: over 6 MB, a Function URL cannot return it ---


def test_a_large_result_still_fits_the_function_url_response_limit() -> None:
    """/process answers a finished task with the full vtn-standard document (and answers every
    repeat with the stored record's output). A Lambda Function URL response is at most 6 MB: above
    that, Lambda fails the invocation and the caller gets 502, every time, although the record is
    complete in S3. An hour of video with a news ticker (3 lines of 4 words a second) through the
    rekognition-text converter is about 9 MB of output."""
    from pollbridge.adapters.providers.rekognition_text import detections_to_vtn

    box = {"Polygon": [{"X": 0.1, "Y": 0.8}, {"X": 0.9, "Y": 0.8}, {"X": 0.9, "Y": 0.9}, {"X": 0.1, "Y": 0.9}]}
    detections = []
    for second in range(3600):
        for line in range(3):
            line_id = line * 5
            detections.append({"Timestamp": second * 1000, "TextDetection": {
                "Type": "LINE", "Id": line_id, "DetectedText": "BREAKING NEWS TICKER TEXT", "Confidence": 99.1,
                "Geometry": box}})  # fmt: skip
            for word in range(1, 5):
                detections.append({"Timestamp": second * 1000, "TextDetection": {
                    "Type": "WORD", "Id": line_id + word, "ParentId": line_id, "DetectedText": "WORD",
                    "Confidence": 98.7, "Geometry": box}})  # fmt: skip
    document = detections_to_vtn(detections, 3_600_000, ResultContext("task-1", "job-1", 0, "pollbridge", 0))
    outcome = core.Outcome("complete", document, "task-1", 12)
    reply = webhook_http._reply(outcome)
    size = len((reply.body or "").encode())
    assert size <= 6 * 1024 * 1024 - 64 * 1024, f"the /process reply is {size / 1e6:.1f} MB"
