"""What the AWS-service providers share: the staging bucket, S3 locations, client request tokens.

Every call to an AWS service goes through `adapters.aws.aws_call` (the one reading of botocore's
errors): throttling, limits and server errors are TransientError (a poll tries again later, within
the task's error budget); anything else fails the same way again and is a PermanentError with a
TaskFailureReason.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from typing import TYPE_CHECKING, Any
from urllib.parse import unquote, urlsplit

from pollbridge.adapters.aws import ClientFactory, aws_call
from pollbridge.errors import ConfigurationError, PermanentError
from pollbridge.ports import Media

if TYPE_CHECKING:
    from pollbridge.settings import Settings

# A service's output read back into memory: Transcribe's transcript. A job is at most 4 hours of audio,
# and 4 hours of fast speech with speaker labels is ~15 MB of it; this bound is ~4x that. The poll that
# converts a transcript of this size (~235,000 words), writes and answers it peaks at what BENCHMARKS.md's
# section 4 measures (`python -m devtools.bench memory`): within PollFunction's MemorySize with a margin.
MAX_RESULT_BYTES = 64 * 1024 * 1024
STAGED_MEDIA_PREFIX = "media/"  # the template's lifecycle rule expires both prefixes
OUTPUT_PREFIX = "outputs/"


def s3_location(uri: str) -> tuple[str, str]:
    """(bucket, key) of `s3://bucket/key` or an S3 https URL (path or virtual-hosted style), the
    shapes services report output locations in. Raises ValueError for anything else."""
    parts = urlsplit(uri)
    path = unquote(parts.path).lstrip("/")
    if parts.scheme == "s3" and parts.netloc and path:
        return parts.netloc, path
    host = parts.hostname or ""
    if parts.scheme == "https" and host.endswith(".amazonaws.com"):
        if host.startswith("s3.") or host.startswith("s3-") or host == "s3.amazonaws.com":
            bucket, _, key = path.partition("/")  # path style: s3.<region>.amazonaws.com/<bucket>/<key>
            if bucket and key:
                return bucket, key
        elif ".s3." in host or ".s3-" in host:
            bucket = host.split(".s3", 1)[0]  # virtual-hosted: <bucket>.s3.<region>.amazonaws.com/<key>
            if bucket and path:
                return bucket, path
    raise ValueError(f"not an S3 object location: {uri[:200]!r}")


def client_request_token(idempotency_key: str) -> str:
    """A 64-character token of [0-9a-f] (services allow 1-64 of [a-zA-Z0-9-_]): the sha256 of the
    task's idempotency key, so every submit of one task carries the same token."""
    return hashlib.sha256(idempotency_key.encode()).hexdigest()


class Staging:
    """The stack's staging bucket: chunks are put under `media/` for a service to read, services
    write their output under `outputs/`. Both expire by the bucket's lifecycle rule."""

    def __init__(self, s3: Callable[[], Any], bucket: str) -> None:
        self._s3 = s3
        self.bucket = bucket

    def place(self, media: Media, name: str, staged: str | None = None) -> tuple[str, str]:
        """Where the service reads the chunk: the media bucket's own object when the chunk is one
        (the function may read it, and services read with the caller's permissions), else a copy
        staged as `media/<name>` (the same name for every submit of one task: a repeat overwrites),
        or not put again when `staged` names that copy (an earlier try put it; the lifecycle rule
        keeps it at least a day, core trusts it for 12 hours)."""
        if media.s3_uri is not None:
            return s3_location(media.s3_uri)
        key = f"{STAGED_MEDIA_PREFIX}{name}"
        if staged == self.uri(key):
            return self.bucket, key
        aws_call(
            f"s3 PutObject s3://{self.bucket}/{key}",
            lambda: self._s3().put_object(Bucket=self.bucket, Key=key, Body=media.body, ContentType=media.media_type),
        )
        return self.bucket, key

    def uri(self, key: str) -> str:
        return f"s3://{self.bucket}/{key}"

    def staged_copy(self, media: Media, bucket: str, key: str) -> str | None:
        """The s3:// uri of the copy `place` staged for `media`, None when it is the media bucket's own
        object (a later try reads that where it lies anyway)."""
        return self.uri(key) if media.s3_uri is None and bucket == self.bucket else None

    def read_output(self, bucket: str, key: str) -> bytes:
        """A service's output, read with S3 GetObject (never over plain HTTP) from the staging bucket only."""
        if bucket != self.bucket:
            raise PermanentError(f"output s3://{bucket}/{key} is outside the staging bucket", "api_error")
        what = f"s3 GetObject s3://{bucket}/{key}"
        obj = aws_call(what, lambda: self._s3().get_object(Bucket=bucket, Key=key))
        if int(obj.get("ContentLength") or 0) > MAX_RESULT_BYTES:
            obj["Body"].close()
            raise PermanentError(f"{what}: larger than {MAX_RESULT_BYTES} bytes", "invalid_data")
        return aws_call(what, lambda: bytes(obj["Body"].read(MAX_RESULT_BYTES + 1)))


def staging_bucket(settings: Settings) -> str:
    """The settings model requires STAGING_BUCKET for the providers that stage; this says so to mypy."""
    if settings.staging_bucket is None:  # pragma: no cover - Settings refuses this configuration
        raise ConfigurationError("invalid configuration: STAGING_BUCKET: missing setting")
    return settings.staging_bucket


def client_on_first_use(clients: ClientFactory, service: str) -> Callable[[], Any]:
    """The service's client, created on first use (a container that never calls it never makes it)."""
    made: list[Any] = []

    def client() -> Any:
        if not made:
            made.append(clients(service))
        return made[0]

    return client
