"""The `eventbridge` result sink: one event per finished task on EVENT_BUS_NAME (the default bus when
unset), so that the rest of an AWS estate can react to it.

source `pollbridge`, detail-type `Task Completed` | `Task Failed` | `Task Cancelled`, detail as in
docs/events/task-finished.schema.json: ids, status, failure reason, polls, completion time and the
record's S3 URI, never the output itself (an entry is at most 256 KB; the record holds the output).
EventBridge has no deduplication: a consumer that must act once keys on `detail.taskId`.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from pollbridge.adapters.aws import TRANSIENT_CODES, aws_call
from pollbridge.errors import PermanentError, TransientError
from pollbridge.models import TaskFailureReason, TaskRecord
from pollbridge.naming import record_key

if TYPE_CHECKING:
    from mypy_boto3_events import EventBridgeClient
    from mypy_boto3_events.type_defs import PutEventsRequestEntryTypeDef

SOURCE = "pollbridge"
DETAIL_TYPES: dict[str, str] = {
    "complete": "Task Completed",
    "failed": "Task Failed",
    "cancelled": "Task Cancelled",
}
# A refusal of the bus (the call's error, or an entry's ErrorCode), by code.
_REASONS: dict[str, TaskFailureReason] = {
    "AccessDeniedException": "api_not_allowed",
    "NotAuthorizedForSourceException": "api_not_allowed",
    "ResourceNotFoundException": "api_not_found",
}


def task_finished_detail(record: TaskRecord, results_bucket: str) -> dict[str, Any]:
    return {
        "taskId": record.taskId,
        "jobId": record.jobId,
        "tdoId": record.tdoId,
        "status": record.status,
        "failureReason": record.failureReason,
        "polls": record.polls,
        "completedAtUTC": record.completedAtUTC,
        "recordUri": f"s3://{results_bucket}/{record_key(record.unit)}",
    }


class EventBridgeSink:
    name = "eventbridge"

    def __init__(self, client: EventBridgeClient, results_bucket: str, bus_name: str | None = None) -> None:
        self._client = client
        self._bucket = results_bucket
        self._bus = bus_name or "default"

    def deliver(self, record: TaskRecord) -> None:
        entry: PutEventsRequestEntryTypeDef = {
            "Source": SOURCE,
            "DetailType": DETAIL_TYPES[record.status],
            "Detail": json.dumps(task_finished_detail(record, self._bucket)),
            "EventBusName": self._bus,
            "Resources": [],
        }
        answer = aws_call(
            "EventBridge PutEvents on the bus", lambda: self._client.put_events(Entries=[entry]), _REASONS
        )
        if answer.get("FailedEntryCount"):
            [failed] = answer.get("Entries") or [{}]
            raise _classified(str(failed.get("ErrorCode", "")), str(failed.get("ErrorMessage", "")))


def _classified(code: str, message: str) -> TransientError | PermanentError:
    """A failed entry (the call succeeded): its ErrorCode, read as adapters.aws reads a call's."""
    text = f"EventBridge PutEvents on the bus: {code or 'error'}: {message}"[:1000]
    if code in TRANSIENT_CODES:
        return TransientError(text)
    return PermanentError(text, _REASONS.get(code, "api_error"))
