"""What tools and tests look at in a local stack: its resources' names and what is in them
(records, schedules, dead letters), read through the local AWS like any client would."""

from __future__ import annotations

import io
import json
import wave
from typing import Any
from urllib.parse import urlsplit

from devtools.cloud.template_stack import StackPlan


class StackView:
    """A stack laid out by `plan`, read with `clients` (boto3 clients by service name). The local
    cloud is one: it sets both when it starts."""

    plan: StackPlan
    clients: dict[str, Any]

    @property
    def schedule_group(self) -> str:
        (lid,) = self.plan.of_type("AWS::Scheduler::ScheduleGroup")
        return self.plan.physical[lid]

    @property
    def provider(self) -> str:
        return self.plan.parameters["Provider"]

    @property
    def media_bucket(self) -> str:
        return self.plan.parameters["MediaBucketName"]

    @property
    def staging_bucket(self) -> str | None:
        return self.plan.physical.get("StagingBucket")

    @property
    def results_bucket(self) -> str:
        return self.plan.physical["ResultsBucket"]

    @property
    def dead_letter_queue(self) -> str:
        return self.plan.physical["PollDeadLetterQueue"]

    @property
    def payload_signing_secret(self) -> str:
        """The ARN of the secret that signs poll payloads (what the functions get as PAYLOAD_SIGNING_SECRET)."""
        return self.plan.arn("PayloadSigningSecret")

    def put_sample_media(self, chunk: dict[str, Any]) -> None:
        """Put a small stand-in for an s3:// chunk's media where its cacheURI points (the media bucket):
        a second of silence for audio, an MP4 header for video (moto's services read neither)."""
        parts = urlsplit(str(chunk.get("cacheURI") or ""))
        if parts.scheme != "s3":
            return
        mime = str(chunk.get("mimeType", ""))
        body = sample_wav() if mime.startswith("audio/") else b"\x00\x00\x00\x18ftypmp42\x00\x00\x00\x00mp42isom"
        self.clients["s3"].put_object(Bucket=parts.netloc, Key=parts.path.lstrip("/"), Body=body, ContentType=mime)

    def pending_schedules(self, polls_only: bool = False) -> list[str]:
        """The names of the schedules in the group; `polls_only`: without the (disabled) start markers."""
        names = []
        paginator = self.clients["scheduler"].get_paginator("list_schedules")
        for page in paginator.paginate(GroupName=self.schedule_group):
            names += [s["Name"] for s in page.get("Schedules", []) if not polls_only or s.get("State") != "DISABLED"]
        return names

    def records(self) -> dict[str, dict[str, Any]]:
        """Every record, keyed by taskId; the records of a task of several chunks by `taskId/chunk`."""
        found: list[dict[str, Any]] = []
        paginator = self.clients["s3"].get_paginator("list_objects_v2")
        for page in paginator.paginate(Bucket=self.results_bucket, Prefix="results/"):
            for obj in page.get("Contents", []):
                body = self.clients["s3"].get_object(Bucket=self.results_bucket, Key=obj["Key"])["Body"].read()
                found.append(json.loads(body))
        per_task: dict[str, int] = {}
        for record in found:
            per_task[record["taskId"]] = per_task.get(record["taskId"], 0) + 1
        return {
            record["taskId"] if per_task[record["taskId"]] == 1 else f"{record['taskId']}/{record.get('chunk')}": record
            for record in found
        }

    def record_versions(self, task_id: str | None = None) -> dict[str, int]:
        """How many times each record key was written (the bucket is versioned, as in the template)."""
        from pollbridge.naming import record_key, task_record_prefix

        prefixes = [record_key(task_id), task_record_prefix(task_id)] if task_id is not None else ["results/"]
        counts: dict[str, int] = {}
        paginator = self.clients["s3"].get_paginator("list_object_versions")
        for prefix in prefixes:
            for page in paginator.paginate(Bucket=self.results_bucket, Prefix=prefix):
                for version in page.get("Versions", []):
                    counts[version["Key"]] = counts.get(version["Key"], 0) + 1
        return counts

    def dead_letter_count(self) -> int:
        url = self.clients["sqs"].get_queue_url(QueueName=self.dead_letter_queue)["QueueUrl"]
        attributes = self.clients["sqs"].get_queue_attributes(
            QueueUrl=url, AttributeNames=["ApproximateNumberOfMessages"]
        )
        return int(attributes["Attributes"]["ApproximateNumberOfMessages"])


def sample_wav(seconds: float = 1.0, rate: int = 16_000) -> bytes:
    """A mono 16-bit PCM WAV of silence."""
    out = io.BytesIO()
    with wave.open(out, "wb") as sound:
        sound.setnchannels(1)
        sound.setsampwidth(2)
        sound.setframerate(rate)
        sound.writeframes(b"\x00\x00" * int(seconds * rate))
    return out.getvalue()
