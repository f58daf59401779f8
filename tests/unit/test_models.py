from typing import Any

import pytest

from pollbridge.errors import ConfigurationError, InvalidEventError
from pollbridge.models import MediaChunk, PolledChunk, PollEvent, TaskRecord, parse_event, parse_segment
from pollbridge.settings import Settings

GOOD_ENV = {
    "SCHEDULE_GROUP_NAME": "pollbridge-polls",
    "POLL_FUNCTION_ARN": "arn:aws:lambda:us-east-1:123456789012:function:pollbridge-poll",
    "SCHEDULER_ROLE_ARN": "arn:aws:iam::123456789012:role/scheduler",
    "POLL_DLQ_ARN": "arn:aws:sqs:us-east-1:123456789012:dlq",
    "RESULTS_BUCKET": "pollbridge-results",
    "PROVIDER": "http",
    "PROVIDER_URL": "https://vendor.example.com",
    "PAYLOAD_SIGNING_KEY": "unit-test-signing-key-0123456789",
}


def test_the_shipped_segment_event_parses(chunk: dict[str, Any]) -> None:
    parsed = parse_segment(chunk)
    assert isinstance(parsed, MediaChunk)
    assert parsed.origTaskId == chunk["taskId"]


@pytest.mark.parametrize(
    ("mutate", "field"),
    [
        (lambda e: e.pop("taskId"), "taskId"),
        (lambda e: e.update(taskId=123), "taskId"),
        (lambda e: e.update(tdoId=""), "tdoId"),
        (lambda e: e.pop("content"), "cacheURI or content"),
        (lambda e: e.update(cacheURI="ftp://host/x.wav"), "cacheURI"),
        (lambda e: e.update(cacheURI="s3://bucket-only"), "cacheURI"),
        (lambda e: e.update(type="engine_heartbeat"), "type"),
        (lambda e: e.update(startOffsetMs="10"), "startOffsetMs"),
        (lambda e: e.update(taskPayload=[1, 2]), "taskPayload"),
    ],
)
def test_bad_segments_name_the_field(chunk: dict[str, Any], mutate: Any, field: str) -> None:
    mutate(chunk)
    with pytest.raises(InvalidEventError, match=field):
        parse_segment(chunk)


@pytest.mark.parametrize("event", [None, [], "not json", 42, '{"type": 1}'])
def test_non_objects_are_rejected_cleanly(event: Any) -> None:
    with pytest.raises(InvalidEventError, match="invalid media_chunk"):
        parse_segment(event)


def test_cache_uri_schemes_accepted(chunk: dict[str, Any]) -> None:
    chunk.pop("content")
    for uri in ("https://cache.example/a.wav", "http://cache.example/a.wav", "s3://bucket/key/a.wav"):
        chunk["cacheURI"] = uri
        assert parse_segment(chunk).cacheURI == uri  # type: ignore[union-attr]


def test_a_poll_routed_back_as_a_segment_is_recognised(chunk: dict[str, Any], poll_event: dict[str, Any]) -> None:
    chunk["taskPayload"] = poll_event
    chunk["taskId"] = "new-task-id-for-the-poll"
    parsed = parse_segment(chunk)
    assert isinstance(parsed, PolledChunk)
    assert parsed.origTaskId == poll_event["origTaskId"]
    chunk["taskPayload"] = {**poll_event, "origTaskId": None}
    with pytest.raises(InvalidEventError, match=r"taskPayload\.origTaskId"):
        parse_segment(chunk)


@pytest.mark.parametrize(
    ("field", "value"),
    [("origTaskId", None), ("workId", ""), ("isPollTask", False), ("pollNumber", 0), ("pollNumber", "2"),
     ("origCallTimeUTC", -1), ("engineConfig", "x")],
)  # fmt: skip
def test_bad_poll_events_name_the_field(poll_event: dict[str, Any], field: str, value: Any) -> None:
    poll_event[field] = value
    with pytest.raises(InvalidEventError, match=field):
        parse_event(poll_event, PollEvent, "poll event")


def test_poll_event_accepts_scheduler_placeholders_unfilled(poll_event: dict[str, Any]) -> None:
    poll_event["scheduler"] = {"attemptNumber": "<aws.scheduler.attempt-number>"}
    assert parse_event(poll_event, PollEvent).payload().workId == poll_event["workId"]


def test_settings_read_and_validated() -> None:
    settings = Settings.from_env(GOOD_ENV)
    assert settings.poll_min_interval_seconds == 60
    assert settings.provider_api_key is None


@pytest.mark.parametrize(
    ("change", "named"),
    [
        ({"POLL_FUNCTION_ARN": None}, "POLL_FUNCTION_ARN: missing setting"),
        ({"RESULTS_BUCKET": ""}, "RESULTS_BUCKET: missing setting"),
        ({"SCHEDULE_GROUP_NAME": "bad name!"}, "SCHEDULE_GROUP_NAME"),
        ({"PROVIDER": "smoke-signals"}, "PROVIDER"),
        ({"PROVIDER_URL": "vendor.example.com"}, "PROVIDER_URL"),
        ({"PROVIDER_URL": "https://vendor.example:99999"}, "PROVIDER_URL is not a URL: Port out of range"),
        ({"PROVIDER_URL": "https://vendor.example:abc/v1"}, "PROVIDER_URL is not a URL"),
        ({"PROVIDER_URL": "http://[::1"}, "PROVIDER_URL is not a URL"),
        ({"PROVIDER_URL": "https://:443"}, "PROVIDER_URL is not a URL: no host"),
        ({"SCHEDULER_ROLE_ARN": "arn:aws:sqs:us-east-1:1:q"}, "SCHEDULER_ROLE_ARN"),
        ({"POLL_MIN_INTERVAL_SECONDS": "30"}, "POLL_MIN_INTERVAL_SECONDS"),
        ({"POLL_MAX_INTERVAL_SECONDS": "61", "POLL_MIN_INTERVAL_SECONDS": "120"}, "POLL_MAX_INTERVAL_SECONDS"),
        ({"PAYLOAD_SIGNING_KEY": None}, "PAYLOAD_SIGNING_SECRET .* or PAYLOAD_SIGNING_KEY is required"),
        ({"PAYLOAD_SIGNING_KEY": "short"}, "PAYLOAD_SIGNING_KEY"),
        ({"ALLOW_PRIVATE_MEDIA_HOSTS": "perhaps"}, "ALLOW_PRIVATE_MEDIA_HOSTS"),
        ({"MEDIA_BUCKET": "Not_A_Bucket"}, "MEDIA_BUCKET"),
        ({"PROVIDER_EXTRA_OPTIONS": "a b"}, "PROVIDER_EXTRA_OPTIONS"),
        ({"PROVIDER_URL": None}, "PROVIDER_URL: missing setting"),
        ({"PROVIDER": "transcribe"}, "STAGING_BUCKET: missing setting"),
        ({"PROVIDER": "rekognition-text", "STAGING_BUCKET": ""}, "STAGING_BUCKET: missing setting"),
        ({"PROVIDER": "transcribe", "STAGING_BUCKET": "Not_A_Bucket"}, "STAGING_BUCKET"),
    ],
)
def test_bad_settings_name_the_variable(change: dict[str, str | None], named: str) -> None:
    env = {k: v for k, v in {**GOOD_ENV, **change}.items() if v is not None}
    with pytest.raises(ConfigurationError, match=named):
        Settings.from_env(env)


def test_record_shape_rules() -> None:
    base = {"taskId": "t", "jobId": "j", "tdoId": "d", "polls": 1, "completedAtUTC": 1}
    with pytest.raises(ValueError, match="needs output"):
        TaskRecord(status="complete", **base)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="failureReason"):
        TaskRecord(status="failed", **base)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="failureReason"):
        TaskRecord(status="failed", failureReason="not-a-reason", failureMessage="x", **base)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    "bad", ["audio/wav\x00", "audio/w\x7fav", "audio/wav\r\nX-Injected: 1", "wav", "audio/", "a b/c"]
)
def test_a_media_type_outside_rfc_6838_is_refused_naming_the_field(bad: str) -> None:
    event = {"type": "media_chunk", "taskId": "t", "tdoId": "d", "jobId": "j", "cacheURI": "https://c.example/a"}
    with pytest.raises(InvalidEventError, match="mimeType"):
        parse_segment({**event, "mimeType": bad})
    assert parse_segment({**event, "mimeType": 'audio/mp4; codecs="mp4a.40.2"'}).mimeType.startswith("audio/mp4")
