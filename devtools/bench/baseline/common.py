"""What both hand-written handlers share: clients, the signing key, the canonical payload."""

import base64
import contextlib
import hashlib
import hmac
import json
import os
import re
import time
import urllib.request
from datetime import UTC, datetime
from typing import Any

import boto3
from botocore.config import Config
from botocore.exceptions import ClientError

if os.environ.get("BENCH_PATCH_XRAY"):  # the X-Ray SDK on every boto3 call, as Tracing: Active users do
    from aws_xray_sdk.core import patch_all

    patch_all()
CONFIG = Config(connect_timeout=3, read_timeout=10, retries={"mode": "standard", "total_max_attempts": 3})
scheduler = boto3.client("scheduler", config=CONFIG)
s3 = boto3.client("s3", config=CONFIG)
secrets = boto3.client("secretsmanager", config=CONFIG)
GROUP = os.environ["SCHEDULE_GROUP_NAME"]
VENDOR = os.environ["PROVIDER_URL"].rstrip("/")
# pollbridge leaves fields at their default out of the signed form: so does this handler
DEFAULTS = {"engineConfig": {}, "provider": "http", "mediaOffsetMs": 0, "transientErrors": 0, "lastPollUTC": None,
            "mediaMs": None, "maxLagS": None}  # fmt: skip
_keys: list[tuple[str, bytes]] = []  # (VersionId, key): the signature names the version that made it


def keys() -> list[tuple[str, bytes]]:
    if not _keys:
        arn = os.environ["PAYLOAD_SIGNING_SECRET"]
        for stage in ("AWSCURRENT", "AWSPREVIOUS"):
            with contextlib.suppress(ClientError):  # no AWSPREVIOUS before the first rotation
                found = secrets.get_secret_value(SecretId=arn, VersionStage=stage)
                _keys.append((found["VersionId"], found["SecretString"].encode()))
    return _keys


def signature(payload: dict[str, Any], key: bytes, key_id: str) -> str:
    """v2.<key id>.<mac>, as pollbridge signs (fields at their default, or null, left out)."""
    data = {k: v for k, v in payload.items() if k != "signature" and v is not None and DEFAULTS.get(k, object()) != v}
    canonical = json.dumps(data, sort_keys=True, separators=(",", ":"), ensure_ascii=True).encode()
    head = f"v2.{key_id}."
    digest = hmac.new(key, head.encode() + canonical, hashlib.sha256).digest()
    return head + base64.urlsafe_b64encode(digest).rstrip(b"=").decode()


def unit(payload: dict[str, Any]) -> str:
    """The unit of work a payload polls: its task, or its task's chunk (pollbridge's naming.unit_key)."""
    chunk = payload.get("chunk") if payload.get("chunkScoped") else None
    return payload["origTaskId"] if chunk is None else f"{payload['origTaskId']}\x1f{chunk}"


def prefix(task_id: str) -> str:
    if re.fullmatch(r"[0-9a-zA-Z\-_.]+", task_id) and len(task_id) <= 53:
        return f"t-{task_id}-p"
    return f"h-{hashlib.sha256(task_id.encode()).hexdigest()[:40]}-p"


def vendor(method: str, path: str, body: bytes | None = None, headers: dict[str, str] | None = None) -> Any:
    request = urllib.request.Request(VENDOR + path, data=body, method=method, headers=headers or {})  # noqa: S310
    with urllib.request.urlopen(request, timeout=10) as response:  # noqa: S310
        return json.loads(response.read() or b"{}")


def schedule(payload: dict[str, Any], at_ms: int) -> None:
    scheduler.create_schedule(
        Name=f"{prefix(unit(payload))}{payload['pollNumber']}",
        GroupName=GROUP,
        ScheduleExpression=f"at({datetime.fromtimestamp(at_ms // 1000, UTC):%Y-%m-%dT%H:%M:%S})",
        ScheduleExpressionTimezone="UTC",
        FlexibleTimeWindow={"Mode": "OFF"},
        ActionAfterCompletion="NONE",
        Target={
            "Arn": os.environ["POLL_FUNCTION_ARN"],
            "RoleArn": os.environ["SCHEDULER_ROLE_ARN"],
            "Input": json.dumps(payload),
            "RetryPolicy": {"MaximumEventAgeInSeconds": 3600, "MaximumRetryAttempts": 10},
            "DeadLetterConfig": {"Arn": os.environ["POLL_DLQ_ARN"]},
        },
    )


def now_ms() -> int:
    return time.time_ns() // 1_000_000
