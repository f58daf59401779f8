"""Task records as JSON objects `results/{origTaskId}.json` (a named chunk's: `results/{origTaskId}/chunk-{chunk}.json`,
naming.record_key), written once with a conditional put. Records are read and tagged by unit key.

The record object also remembers which other result sinks were told (the DeliveryLedger port): one
tag `pollbridge-delivered-<sink>` per delivery, added with PutObjectTagging once the sink took the
result. Tags change no object version and need no database; a retry reads them and delivers only
to the sinks without one.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from botocore.exceptions import BotoCoreError, ClientError

from pollbridge import clock
from pollbridge.adapters import aws
from pollbridge.errors import TransientError
from pollbridge.models import TaskRecord
from pollbridge.naming import RECORD_PREFIX as PREFIX
from pollbridge.naming import record_key

__all__ = ["DELIVERED_TAG_PREFIX", "PREFIX", "S3RecordSink", "record_key"]

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client
    from mypy_boto3_s3.type_defs import TagTypeDef

DELIVERED_TAG_PREFIX = "pollbridge-delivered-"


class S3RecordSink:
    def __init__(self, client: S3Client, bucket: str) -> None:
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
            if aws.error_code(error) in ("PreconditionFailed", "ConditionalRequestConflict"):
                stored = self.read(record.unit)
                if stored is None:
                    raise TransientError(f"record for {record.taskId} is being written concurrently") from error
                return stored
            raise aws.classify("records bucket PutObject", error, infrastructure=True) from error
        except BotoCoreError as error:
            raise TransientError(f"records bucket PutObject: {error}") from error
        return record

    def read(self, unit: str) -> TaskRecord | None:
        obj = aws.aws_call_tolerating(
            "records bucket GetObject",
            lambda: self._client.get_object(Bucket=self._bucket, Key=record_key(unit)),
            ("NoSuchKey", "404"),
            infrastructure=True,
        )
        return None if obj is None else TaskRecord.model_validate_json(obj["Body"].read())

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
        aws.aws_call(
            "records bucket PutObjectTagging",
            lambda: self._client.put_object_tagging(
                Bucket=self._bucket, Key=record_key(unit), Tagging={"TagSet": tags}
            ),
            infrastructure=True,
        )

    def _tags(self, unit: str) -> list[TagTypeDef]:
        found = aws.aws_call(
            "records bucket GetObjectTagging",
            lambda: self._client.get_object_tagging(Bucket=self._bucket, Key=record_key(unit)),
            infrastructure=True,
        )
        return list(found.get("TagSet", []))
