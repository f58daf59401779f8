"""Task records as JSON objects `results/{origTaskId}.json`, written once with a conditional put."""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

from botocore.exceptions import ClientError

from pollbridge.errors import TransientError
from pollbridge.models import TaskRecord

PREFIX = "results/"


def record_key(task_id: str) -> str:
    """`results/{origTaskId}.json`; characters unsafe in a key are percent-encoded."""
    return f"{PREFIX}{quote(task_id, safe='-_.~')}.json"


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
