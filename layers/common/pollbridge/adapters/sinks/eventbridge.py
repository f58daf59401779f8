"""The `eventbridge` result sink: one event per finished task on EVENT_BUS_NAME (the default bus when
unset), so that the rest of an AWS estate can react to it.

source `pollbridge`, detail-type `Task Completed` | `Task Failed` | `Task Cancelled`, detail as in
docs/events/task-finished.schema.json: ids, status, failure reason, polls, completion time and the
record's S3 URI, never the output itself (an entry is at most 256 KB; the record holds the output).
EventBridge has no deduplication: a consumer that must act once keys on `detail.taskId`.
"""

from __future__ import annotations

import json
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from pollbridge.errors import PermanentError, TransientError
from pollbridge.models import TaskRecord
from pollbridge.naming import record_key

SOURCE = "pollbridge"
DETAIL_TYPES: dict[str, str] = {
    "complete": "Task Completed",
    "failed": "Task Failed",
    "cancelled": "Task Cancelled",
}
_TRANSIENT_CODES = frozenset({"ThrottlingException", "InternalException", "InternalFailure", "ServiceUnavailable"})


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

    def __init__(self, client: Any, results_bucket: str, bus_name: str | None = None) -> None:
        self._client = client
        self._bucket = results_bucket
        self._bus = bus_name or "default"

    def deliver(self, record: TaskRecord) -> None:
        entry = {
            "Source": SOURCE,
            "DetailType": DETAIL_TYPES[record.status],
            "Detail": json.dumps(task_finished_detail(record, self._bucket)),
            "EventBusName": self._bus,
            "Resources": [],
        }
        try:
            answer = self._client.put_events(Entries=[entry])
        except ClientError as error:
            code = str(error.response.get("Error", {}).get("Code", ""))
            status = int(error.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0) or 0)
            raise _classified("ServiceUnavailable" if status >= 500 else code, str(error)) from error
        except BotoCoreError as error:
            raise TransientError(f"EventBridge PutEvents: {error}") from error
        if answer.get("FailedEntryCount"):
            [failed] = answer.get("Entries") or [{}]
            raise _classified(str(failed.get("ErrorCode", "")), str(failed.get("ErrorMessage", "")))


def _classified(code: str, message: str) -> TransientError | PermanentError:
    text = f"EventBridge PutEvents on the bus: {code or 'error'}: {message}"[:1000]
    if code in _TRANSIENT_CODES:
        return TransientError(text)
    if code in ("AccessDeniedException", "NotAuthorizedForSourceException"):
        return PermanentError(text, "api_not_allowed")
    return PermanentError(text, "api_not_found" if code == "ResourceNotFoundException" else "api_error")
