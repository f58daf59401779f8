"""Poll function: EventBridge Scheduler delivers a taskPayload; check the third party, then write
the record for origTaskId or schedule the next poll. Only EventBridge schedules invoke it, so it
keeps their chain whatever SCHEDULING_MODE says (a stack switched to platform mode drains).

With precise polling (PrecisePolling, PRECISE_POLL_QUEUE_URL) its delay queue invokes it too: an SQS
batch (of one) whose message is the same signed taskPayload, run exactly like a scheduled delivery.
A message that fails is reported in batchItemFailures: SQS redelivers it, then dead-letters it."""

import json
from typing import Any

from pollbridge import core
from pollbridge.entrypoint import lambda_handler
from pollbridge.models import PollEvent, parse_event
from pollbridge.wiring import with_scheduling

scheduled = lambda_handler(
    parse=lambda event: parse_event(event, PollEvent, "poll event"),
    use_case=lambda event, ports: core.poll(event.payload(), with_scheduling(ports, "eventbridge")),
    correlation_id=lambda event: event.origTaskId,
)


def handler(event: Any, context: Any) -> dict[str, object]:
    if isinstance(event, dict) and isinstance(event.get("Records"), list):
        return _queued(event["Records"], context)
    return scheduled(event, context)


def _queued(records: list[Any], context: Any) -> dict[str, object]:
    """The delay queue's batch: each message is a poll event; the failed ones are retried by SQS."""
    failures = []
    for record in records:
        message_id = record.get("messageId", "") if isinstance(record, dict) else ""
        try:
            body = json.loads(record["body"])
            scheduled(body, context)
        except Exception:  # logged and counted by the entrypoint (or a malformed record): SQS retries it
            failures.append({"itemIdentifier": message_id})
    return {"batchItemFailures": failures}
