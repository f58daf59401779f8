"""PrecisePolling (issue 17, item 3): the delay queue, its event source and their grants exist only
when the parameter is on; off (the default), the stack is the scheduler alone, as before."""

from __future__ import annotations

from typing import Any

from tests.template.conftest import for_parameters
from tests.template.test_template import actions_by_sid, statements

PRECISE = {"PrecisePollQueue", "PrecisePollEvents"}
QUEUE_ARN = {"Fn::GetAtt": ["PrecisePollQueue", "Arn"]}


def environment(resource: dict[str, Any]) -> dict[str, Any]:
    return resource["Properties"]["Environment"]["Variables"]  # type: ignore[no-any-return]


def test_off_by_default_nothing_of_it_is_deployed(cfn: dict[str, Any]) -> None:
    assert cfn["Parameters"]["PrecisePolling"]["Default"] == "false"
    deployed = for_parameters(cfn)
    assert not PRECISE & set(deployed["Resources"])
    for function in ("SegmentFunction", "PollFunction", "WebhookFunction"):
        assert environment(deployed["Resources"][function])["PRECISE_POLL_QUEUE_URL"] == ""
    for role in ("SegmentFunctionRole", "PollFunctionRole"):
        assert not {"SendPrecisePolls", "ReceivePrecisePolls"} & set(actions_by_sid(deployed["Resources"][role]))


def test_on_the_queue_feeds_the_poll_function_one_message_at_a_time(cfn: dict[str, Any]) -> None:
    deployed = for_parameters(cfn, PrecisePolling="true")
    resources = deployed["Resources"]
    assert set(resources) >= PRECISE
    queue = resources["PrecisePollQueue"]["Properties"]
    assert queue["SqsManagedSseEnabled"] is True
    assert queue["RedrivePolicy"]["deadLetterTargetArn"] == {"Fn::GetAtt": ["PollDeadLetterQueue", "Arn"]}
    assert queue["VisibilityTimeout"] >= 6 * 60  # the poll function's timeout, six times
    mapping = resources["PrecisePollEvents"]["Properties"]
    assert mapping["EventSourceArn"] == QUEUE_ARN and mapping["FunctionName"] == {"Ref": "PollFunction"}
    assert mapping["BatchSize"] == 1 and mapping["FunctionResponseTypes"] == ["ReportBatchItemFailures"]
    for function in ("SegmentFunction", "PollFunction"):  # the two that schedule polls
        assert environment(resources[function])["PRECISE_POLL_QUEUE_URL"] == {"Ref": "PrecisePollQueue"}
    assert environment(resources["WebhookFunction"])["PRECISE_POLL_QUEUE_URL"] == ""  # it never schedules


def test_on_the_grants_are_exactly_the_queues(cfn: dict[str, Any]) -> None:
    off = for_parameters(cfn)["Resources"]
    on = for_parameters(cfn, PrecisePolling="true")["Resources"]
    send = {"SendPrecisePolls": {"sqs:SendMessage"}}
    receive = {
        "ReceivePrecisePolls": {
            "sqs:ReceiveMessage", "sqs:DeleteMessage", "sqs:GetQueueAttributes", "sqs:ChangeMessageVisibility"
        }
    }  # fmt: skip
    assert actions_by_sid(on["SegmentFunctionRole"]) == actions_by_sid(off["SegmentFunctionRole"]) | send
    assert actions_by_sid(on["PollFunctionRole"]) == actions_by_sid(off["PollFunctionRole"]) | send | receive
    assert actions_by_sid(on["WebhookFunctionRole"]) == actions_by_sid(off["WebhookFunctionRole"])
    for role in ("SegmentFunctionRole", "PollFunctionRole"):
        for statement in statements(on[role]):
            if statement.get("Sid", "").endswith("PrecisePolls"):
                assert statement["Resource"] == QUEUE_ARN
