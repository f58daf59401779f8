"""What the webhook answers never breaks the Function URL or leaks AWS details (issue 15, findings 5,
6 and 8): the size check counts the serialised response, a sink's AWS error stays in the logs, and a
stored token with a trailing newline still lets its callers in."""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Iterator
from typing import Any

import pytest

from devtools.cloud.local_cloud import LocalCloud
from devtools.cloud.local_values import LOCAL_WEBHOOK_TOKEN
from devtools.load.platform_emulator import chunk_form
from devtools.standins.function_url import process_event, response_body
from pollbridge import core
from pollbridge.errors import DeliveryError, PermanentError, TransientError
from pollbridge.models import PollPayload, TaskRecord
from pollbridge.webhook import endpoint
from pollbridge.webhook.form import PollTask
from tests.support.fakes import World, start

FUNCTION_URL_LIMIT = 6 * 1024 * 1024
AWS_ERROR = (
    "An error occurred (AccessDeniedException) when calling the PutEvents operation: User: "
    "arn:aws:sts::123456789012:assumed-role/pollbridge-webhook-role/fn is not authorized"
)


def test_the_size_check_counts_the_serialised_response_not_the_body() -> None:
    # a 5.2 MB body (under the old body-only check) whose escaped quotes double again in Lambda's JSON
    document = {"series": [{"startTimeMs": 0, "stopTimeMs": 1, "words": [{"word": '"' * 2_600_000}]}]}
    outcome = core.Outcome("complete", core._StoredOutput.model_validate(document), "t-1", 3)
    reply = endpoint._reply(outcome)
    assert len(json.dumps(document).encode()) < FUNCTION_URL_LIMIT - 64 * 1024  # the body alone would pass
    serialised = len(json.dumps(reply.as_function_url()).encode())
    assert serialised <= FUNCTION_URL_LIMIT
    assert reply.status == 422 and reply.body.startswith("invalid_data: the output of task t-1 is over")


def test_a_sinks_aws_error_never_reaches_the_reply_body() -> None:
    record = TaskRecord(
        taskId="t-1", jobId="j-1", tdoId="d-1", status="complete", output={"series": []}, polls=2, completedAtUTC=1
    )
    refused = endpoint._failure(DeliveryError("t-1", {"eventbridge": PermanentError(AWS_ERROR)}, record))
    assert refused.status == 200 and json.loads(refused.body) == {"series": []}  # the record: what aiWARE waits for
    transient = endpoint._failure(DeliveryError("t-1", {"eventbridge": TransientError(AWS_ERROR)}))
    assert transient.status == 503 and transient.body.startswith("internal_error: ")
    for reply in (refused, transient):
        assert "123456789012" not in reply.body and "assumed-role" not in reply.body


@pytest.fixture
def cloud_with_a_newline_token() -> Iterator[LocalCloud]:
    with LocalCloud(manual_clock=True) as cloud:
        name = cloud.plan.parameters["WebhookTokenParameterName"]
        # as `aws ssm put-parameter --value file://token.txt` stores it: with the file's newline
        cloud.clients["ssm"].put_parameter(
            Name=name, Value=LOCAL_WEBHOOK_TOKEN + "\n", Type="SecureString", Overwrite=True
        )
        yield cloud


def test_a_stored_token_with_a_trailing_newline_lets_its_callers_in(
    cloud_with_a_newline_token: LocalCloud, chunk: dict[str, Any]
) -> None:
    cloud = cloud_with_a_newline_token
    result = cloud.invoke("WebhookFunction", process_event(*chunk_form(chunk), LOCAL_WEBHOOK_TOKEN))
    assert result.ok and result.value["statusCode"] == 200, response_body(result.value)
    refused = cloud.invoke("WebhookFunction", process_event(*chunk_form(chunk), LOCAL_WEBHOOK_TOKEN + "x"))
    assert refused.value["statusCode"] == 401


def test_a_fault_while_verifying_never_signs_a_forged_poll_task(chunk: dict[str, Any], manual_clock: Any) -> None:
    """A poll task is answered with itself, later, only once its signature verified: a forged one met
    while the signing key cannot be read is a 503, never a validly signed copy of what it claims."""
    world = World()
    started = start(world, chunk).response
    forged = started.taskPayload.model_copy(update={"deadlineUTC": started.taskPayload.deadlineUTC + 86_400_000})

    class Unreachable:
        def sign(self, payload: PollPayload) -> PollPayload:
            return world.signer.sign(payload)  # would sign whatever it is given

        def verify(self, payload: PollPayload) -> None:
            raise TransientError("Secrets Manager throttled")

    wired = dataclasses.replace(world.ports, signer=Unreachable())
    fault = TransientError("Secrets Manager throttled")
    reply = endpoint._poll_again_later(PollTask(forged, "poll-1", None), wired, fault)
    assert reply.status == 503 and "schedule_poll_task" not in reply.body
    honest = endpoint._poll_again_later(PollTask(started.taskPayload, "poll-1", None), world.ports, fault)
    assert honest.status == 200 and json.loads(honest.body)["type"] == "schedule_poll_task"
