"""Task records as JSON objects `results/{origTaskId}.json` (a named chunk's: `results/{origTaskId}/chunk-{chunk}.json`,
naming.record_key), written once with a conditional put. Records are read and tagged by unit key.

The record object also remembers which other result sinks were told (the DeliveryLedger port): one
tag `pollbridge-delivered-<sink>` per delivery, added with PutObjectTagging once the sink took the
result. Tags change no object version and need no database; a retry reads them and delivers only
to the sinks without one.
"""

from __future__ import annotations

from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from pollbridge import clock
from pollbridge.errors import PermanentError, TransientError
from pollbridge.models import TaskRecord
from pollbridge.naming import RECORD_PREFIX as PREFIX
from pollbridge.naming import record_key

__all__ = ["DELIVERED_TAG_PREFIX", "PREFIX", "S3RecordSink", "record_key"]

DELIVERED_TAG_PREFIX = "pollbridge-delivered-"
_TRANSIENT_CODES = frozenset({"SlowDown", "InternalError", "ServiceUnavailable", "RequestTimeout", "Throttling"})


class S3RecordSink:
    def __init__(self, client: Any, bucket: str) -> None:
        self._client = client
        self._bucket = bucket

    def write_once(self, record: TaskRecord) -> TaskRecord:
        try:
            self._client.put_object(
                Bucket=self._bucket,
                Key=record_key(record.unit),
                Body=record.model_dump_json(exclude_none=True).encode(),
                ContentType="application/json",
                IfNoneMatch="*",  # the first write wins; a duplicate delivery never overwrites
                Metadata={"status": record.status},
            )
        except ClientError as error:
            code = error.response.get("Error", {}).get("Code")
            if code in ("PreconditionFailed", "ConditionalRequestConflict"):
                stored = self.read(record.unit)
                if stored is None:
                    raise TransientError(f"record for {record.taskId} is being written concurrently") from error
                return stored
            raise
        return record

    def read(self, unit: str) -> TaskRecord | None:
        try:
            obj = self._client.get_object(Bucket=self._bucket, Key=record_key(unit))
        except ClientError as error:
            if error.response.get("Error", {}).get("Code") in ("NoSuchKey", "404"):
                return None
            raise
        return TaskRecord.model_validate_json(obj["Body"].read())

    # --- DeliveryLedger: which result sinks already have the task's result ---------------------

    def delivered(self, unit: str) -> set[str]:
        return {
            tag["Key"].removeprefix(DELIVERED_TAG_PREFIX)
            for tag in self._tags(unit)
            if tag["Key"].startswith(DELIVERED_TAG_PREFIX)
        }

    def mark_delivered(self, unit: str, sink: str) -> None:
        tags = [t for t in self._tags(unit) if t["Key"] != DELIVERED_TAG_PREFIX + sink]
        tags.append({"Key": DELIVERED_TAG_PREFIX + sink, "Value": str(clock.now_ms())})
        try:
            self._client.put_object_tagging(Bucket=self._bucket, Key=record_key(unit), Tagging={"TagSet": tags})
        except ClientError as error:
            raise _classified("PutObjectTagging", error) from error
        except BotoCoreError as error:
            raise TransientError(f"records bucket PutObjectTagging: {error}") from error

    def _tags(self, unit: str) -> list[dict[str, str]]:
        try:
            found = self._client.get_object_tagging(Bucket=self._bucket, Key=record_key(unit))
        except ClientError as error:
            raise _classified("GetObjectTagging", error) from error
        except BotoCoreError as error:
            raise TransientError(f"records bucket GetObjectTagging: {error}") from error
        return list(found.get("TagSet", []))


def _classified(operation: str, error: ClientError) -> TransientError | PermanentError:
    code = str(error.response.get("Error", {}).get("Code", ""))
    status = int(error.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0) or 0)
    message = f"records bucket {operation}: {code or status}"
    if code in _TRANSIENT_CODES or status >= 500 or status == 429:
        return TransientError(message)
    return PermanentError(message, "system_error")
