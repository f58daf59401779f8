"""devtools.ops against a 'deployed' stack: outputs from CloudFormation, settings from the poll
function's own configuration (moto stands in for the AWS account)."""

from __future__ import annotations

import io
import json
import zipfile
from typing import Any

import boto3

from devtools import ops
from pollbridge.models import PollPayload

STACK_TEMPLATE = {
    "Resources": {"Dlq": {"Type": "AWS::SQS::Queue", "Properties": {"QueueName": "deployed-poll-dlq"}}},
    "Outputs": {
        "PollFunctionArn": {"Value": "arn:aws:lambda:us-east-1:123456789012:function:deployed-poll"},
        "PollDeadLetterQueueUrl": {"Value": {"Ref": "Dlq"}},
    },
}


def deploy(aws: dict[str, Any]) -> None:
    iam = boto3.client("iam")
    role = iam.create_role(RoleName="deployed-poll-role", AssumeRolePolicyDocument="{}")["Role"]["Arn"]
    code = io.BytesIO()
    with zipfile.ZipFile(code, "w") as archive:
        archive.writestr("app.py", "def handler(event, context):\n    return event\n")
    boto3.client("lambda").create_function(
        FunctionName="deployed-poll", Runtime="python3.13", Role=role, Handler="app.handler",
        Code={"ZipFile": code.getvalue()},
        Environment={"Variables": {
            "SCHEDULE_GROUP_NAME": "deployed-polls",
            "POLL_FUNCTION_ARN": "arn:aws:lambda:us-east-1:123456789012:function:deployed-poll",
            "SCHEDULER_ROLE_ARN": "arn:aws:iam::123456789012:role/deployed-scheduler",
            "POLL_DLQ_ARN": "arn:aws:sqs:us-east-1:123456789012:deployed-poll-dlq",
            "RESULTS_BUCKET": "deployed-results", "PROVIDER": "http", "PROVIDER_URL": "https://vendor.example.com",
            "PROVIDER_API_KEY_PARAMETER": "", "AWS_ENDPOINT_URL": "",
            "PAYLOAD_SIGNING_SECRET": "arn:aws:secretsmanager:us-east-1:123456789012:secret:deployed-signing-AbCdEf",
        }},
    )  # fmt: skip
    boto3.client("cloudformation").create_stack(StackName="deployed", TemplateBody=json.dumps(STACK_TEMPLATE))
    aws["scheduler"].create_schedule_group(Name="deployed-polls")
    aws["s3"].create_bucket(Bucket="deployed-results")


def test_ops_reads_the_stack_and_the_functions_settings(aws: dict[str, Any]) -> None:
    deploy(aws)
    target = ops.connect_stack("deployed")
    assert target.settings.schedule_group_name == "deployed-polls"
    assert target.settings.results_bucket == "deployed-results"
    assert target.queue_url.endswith("/deployed-poll-dlq")
    payload = PollPayload(
        workId="j_1", isPollTask=True, origTaskId="live-task", origTdoId="d", origJobId="j",
        origCallTimeUTC=0, pollNumber=3, deadlineUTC=10**13,
    )  # fmt: skip
    assert target.ports.scheduler.schedule(payload, 1_767_225_660_000)
    [row] = ops.list_in_flight(target)
    assert (row["origTaskId"], row["poll"], row["nextPollUTC"]) == ("live-task", 3, "2026-01-01T00:01:00.000Z")
    assert row["awaitingSubmit"] is False  # a running job, not a submit waiting for the vendor
    status = ops.task_status(target, "live-task")
    assert status["state"] == "schedule pending" and status["poll"] == 3
    assert ops.task_status(target, "other")["state"].startswith("unknown")


def test_dead_letters_of_both_shapes_are_unwrapped() -> None:
    event = {"workId": "j", "origTaskId": "t"}
    assert ops.poll_event_of(json.dumps(event)) == event
    assert ops.poll_event_of(json.dumps({"requestContext": {}, "requestPayload": event})) == event
