"""What the AWS-service providers share: one error classification, the staging bucket, S3 locations.

Every call to an AWS service goes through `aws_call`, which turns botocore's errors into pollbridge's:
throttling, limits and server errors are TransientError (a poll tries again later, within the task's
error budget); anything else fails the same way again and is a PermanentError with a TaskFailureReason.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any
from urllib.parse import unquote, urlsplit

from botocore.exceptions import BotoCoreError, ClientError, ParamValidationError

from pollbridge.errors import ConfigurationError, PermanentError, TransientError
from pollbridge.models import TaskFailureReason
from pollbridge.ports import Media

if TYPE_CHECKING:
    from pollbridge.settings import Settings

# An AWS client for a service name, made by wiring.aws_client (timeouts, standard retries).
type ClientFactory = Callable[[str], Any]

TRANSIENT_CODES = frozenset(
    {
        "ThrottlingException", "Throttling", "ThrottledException", "TooManyRequestsException",
        "RequestLimitExceeded", "ProvisionedThroughputExceededException", "LimitExceededException",
        "InternalFailureException", "InternalFailure", "InternalServerError", "InternalServerException",
        "ServiceUnavailable", "ServiceUnavailableException", "SlowDown", "RequestTimeout",
        "RequestTimeoutException", "PriorRequestNotComplete",
    }
)  # fmt: skip
_PERMANENT_REASONS: dict[str, TaskFailureReason] = {
    "AccessDenied": "api_not_allowed",
    "AccessDeniedException": "api_not_allowed",
    "UnrecognizedClientException": "api_authentication_error",
    "InvalidSignatureException": "api_authentication_error",
    "ExpiredTokenException": "api_authentication_error",
    "NoSuchKey": "api_not_found",
    "NoSuchBucket": "api_not_found",
    "ResourceNotFoundException": "api_not_found",
    "ValidationException": "invalid_data",
}
# A service's output read back into memory: Transcribe's transcript. A job is at most 4 hours of audio,
# and 4 hours of fast speech with speaker labels is ~15 MB of it; this bound is ~4x that. The poll that
# converts a transcript of this size (~235,000 words), writes and answers it peaks at what BENCHMARKS.md's
# section 4 measures (`python -m devtools.bench memory`): within PollFunction's MemorySize with a margin.
MAX_RESULT_BYTES = 64 * 1024 * 1024
STAGED_MEDIA_PREFIX = "media/"  # the template's lifecycle rule expires both prefixes
OUTPUT_PREFIX = "outputs/"


def error_code(error: ClientError) -> str:
    return str(error.response.get("Error", {}).get("Code", ""))


def classify(what: str, error: ClientError, reasons: Mapping[str, TaskFailureReason] | None = None) -> Exception:
    """TransientError for throttling, limits and 5xx; else PermanentError with a fitting reason."""
    code = error_code(error)
    status = int(error.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0) or 0)
    detail = str(error.response.get("Error", {}).get("Message", "") or "")[:500]
    message = f"{what}: {code or status}{': ' + detail if detail else ''}"
    if code in TRANSIENT_CODES or status >= 500 or status == 429:
        return TransientError(message)
    return PermanentError(message, {**_PERMANENT_REASONS, **(reasons or {})}.get(code, "api_error"))


def aws_call[T](what: str, call: Callable[[], T], reasons: Mapping[str, TaskFailureReason] | None = None) -> T:
    """Run one AWS call; botocore's errors come out as TransientError or PermanentError."""
    answer = aws_call_tolerating(what, call, frozenset(), reasons)
    assert answer is not None
    return answer


def aws_call_tolerating[T](
    what: str, call: Callable[[], T], tolerate: frozenset[str], reasons: Mapping[str, TaskFailureReason] | None = None
) -> T | None:
    """As aws_call, but an error whose code is in `tolerate` means success without an answer (None):
    "already started", "already gone"."""
    try:
        return call()
    except ClientError as error:
        if error_code(error) in tolerate:
            return None
        raise classify(what, error, reasons) from None
    except ParamValidationError as error:  # a request botocore refuses to send will never be sent
        raise PermanentError(f"{what}: {error}", "internal_error") from None
    except BotoCoreError as error:  # connection errors, timeouts, retries exhausted on our side
        raise TransientError(f"{what}: {error}") from None


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

    def place(self, media: Media, name: str) -> tuple[str, str]:
        """Where the service reads the chunk: the media bucket's own object when the chunk is one
        (the function may read it, and services read with the caller's permissions), else a copy
        staged as `media/<name>` (the same name for every submit of one task: a repeat overwrites)."""
        if media.s3_uri is not None:
            return s3_location(media.s3_uri)
        key = f"{STAGED_MEDIA_PREFIX}{name}"
        aws_call(
            f"s3 PutObject s3://{self.bucket}/{key}",
            lambda: self._s3().put_object(Bucket=self.bucket, Key=key, Body=media.body, ContentType=media.media_type),
        )
        return self.bucket, key

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


def lazy_client(clients: ClientFactory, service: str) -> Callable[[], Any]:
    """The service's client, created on first use (a container that never calls it never makes it)."""
    made: list[Any] = []

    def client() -> Any:
        if not made:
            made.append(clients(service))
        return made[0]

    return client
