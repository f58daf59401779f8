"""The one catch-all: every failure is logged with the task id, counted and re-raised as a typed error.

Before the fix a raw ClientError, BotoCoreError, ValueError or OverflowError left no ERROR line, no
correlation id and no FailedInvocations metric.
"""

from __future__ import annotations

import io
import json
from typing import Any

import pytest
from botocore.exceptions import ClientError, EndpointConnectionError

from devtools.cloud.lambda_host import LambdaContext
from pollbridge import entrypoint
from pollbridge.adapters import aws
from pollbridge.errors import ForgedPayloadError, InternalError, InvalidEventError, TransientError
from pollbridge.models import parse_segment
from tests.support.fakes import World

CONTEXT = LambdaContext("pollbridge-segment", "arn:aws:lambda:us-east-1:123456789012:function:pollbridge-segment")


def emitted(capsys: pytest.CaptureFixture[str]) -> tuple[list[dict[str, Any]], set[str]]:
    """Powertools' JSON log lines, and the names of the EMF metrics flushed."""
    handler = entrypoint.logger.registered_handler
    lines = [json.loads(line) for line in (handler.stream.getvalue() + capsys.readouterr().out).splitlines() if line]
    handler.stream.seek(0)
    handler.stream.truncate()
    metrics = {
        metric["Name"]
        for line in lines
        for directive in line.get("_aws", {}).get("CloudWatchMetrics", [])
        for metric in directive["Metrics"]
    }
    return [line for line in lines if "level" in line], metrics


@pytest.fixture(autouse=True)
def log_lines(monkeypatch: pytest.MonkeyPatch) -> None:
    """The shared logger writes to the stream it was given at import: catch its JSON lines here."""
    monkeypatch.setattr(entrypoint.logger.registered_handler, "stream", io.StringIO())


def failing_handler(error: Exception, monkeypatch: pytest.MonkeyPatch) -> entrypoint.Handler:
    monkeypatch.setattr(entrypoint, "container_ports", lambda: World().ports)

    def use_case(event: Any, ports: Any) -> Any:
        raise error

    return entrypoint.lambda_handler(parse_segment, use_case, lambda e: e.origTaskId)


@pytest.mark.parametrize(
    "error",
    [
        ClientError({"Error": {"Code": "AccessDenied", "Message": "no"}}, "PutObject"),
        EndpointConnectionError(endpoint_url="https://s3.amazonaws.com"),
        ValueError("bad value"),
        OverflowError("(34, 'Numerical result out of range')"),
        KeyError("x"),
    ],
    ids=["ClientError", "BotoCoreError", "ValueError", "OverflowError", "KeyError"],
)
def test_an_unexpected_error_is_logged_counted_and_typed(
    error: Exception, chunk: dict[str, Any], monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    handler = failing_handler(error, monkeypatch)
    with pytest.raises(InternalError) as raised:
        handler(chunk, CONTEXT)
    assert raised.value.__cause__ is error
    logs, metrics = emitted(capsys)
    [failure] = [line for line in logs if line["level"] == "ERROR"]
    assert failure["correlation_id"] == chunk["taskId"]
    assert failure["errorType"] == type(error).__name__
    assert "FailedInvocations" in metrics


def test_a_pollbridge_error_keeps_its_type(
    chunk: dict[str, Any], monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    handler = failing_handler(TransientError("vendor answered 503"), monkeypatch)
    with pytest.raises(TransientError):
        handler(chunk, CONTEXT)
    logs, metrics = emitted(capsys)
    assert [line["correlation_id"] for line in logs if line["level"] == "ERROR"] == [chunk["taskId"]]
    assert "FailedInvocations" in metrics


def test_a_rejected_event_is_a_warning_with_the_claimed_task_id(
    chunk: dict[str, Any], monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    handler = failing_handler(ForgedPayloadError("invalid poll event: taskPayload.signature: forged"), monkeypatch)
    with pytest.raises(ForgedPayloadError):
        handler(chunk, CONTEXT)
    logs, metrics = emitted(capsys)
    [warning] = [line for line in logs if line["level"] == "WARNING"]
    assert warning["correlation_id"] == chunk["taskId"] and "signature" in warning["error"]
    assert {"InvalidEvents", "RejectedPayloads"} <= metrics and "FailedInvocations" not in metrics

    with pytest.raises(InvalidEventError):
        handler({**chunk, "taskId": 7}, CONTEXT)  # invalid before any use case: still searchable by what it claims
    logs, metrics = emitted(capsys)
    assert "InvalidEvents" in metrics and "RejectedPayloads" not in metrics


def test_aws_calls_time_out_well_before_the_function_and_retry_in_standard_mode() -> None:
    config = aws.client_config()
    assert config.retries == {"mode": "standard", "total_max_attempts": 3}
    worst_case_s = (config.connect_timeout + config.read_timeout) * config.retries["total_max_attempts"]
    assert worst_case_s < 60  # the poll function's timeout (template.yaml): a hung call never eats it all
