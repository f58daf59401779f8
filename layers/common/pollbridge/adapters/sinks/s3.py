"""Task records as JSON objects `results/{origTaskId}.json`, written once with a conditional put."""

from __future__ import annotations

from typing import Any

from botocore.exceptions import ClientError

from pollbridge.errors import TransientError
from pollbridge.models import TaskRecord
from pollbridge.naming import RECORD_PREFIX as PREFIX
from pollbridge.naming import record_key

__all__ = ["PREFIX", "S3RecordSink", "record_key"]


class S3RecordSink:
    def __init__(self, client: Any, bucket: str) -> None:
        self._client = client
        self._bucket = bucket

    def write_once(self, record: TaskRecord) -> TaskRecord:
        try:
            self._client.put_object(
                Bucket=self._bucket,
                Key=record_key(record.taskId),
                Body=record.model_dump_json(exclude_none=True).encode(),
                ContentType="application/json",
                IfNoneMatch="*",  # the first write wins; a duplicate delivery never overwrites
                Metadata={"status": record.status},
            )
        except ClientError as error:
            code = error.response.get("Error", {}).get("Code")
            if code in ("PreconditionFailed", "ConditionalRequestConflict"):
                stored = self.read(record.taskId)
                if stored is None:
                    raise TransientError(f"record for {record.taskId} is being written concurrently") from error
                return stored
            raise
        return record

    def read(self, task_id: str) -> TaskRecord | None:
        try:
            obj = self._client.get_object(Bucket=self._bucket, Key=record_key(task_id))
        except ClientError as error:
            if error.response.get("Error", {}).get("Code") in ("NoSuchKey", "404"):
                return None
            raise
        return TaskRecord.model_validate_json(obj["Body"].read())
