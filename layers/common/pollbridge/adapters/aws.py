"""The AWS plumbing every adapter shares: one session per container, clients made on first use with
one configuration, and one reading of botocore's errors.

- **Clients**: `client(service)` from the container's one botocore session (importing boto3 would add
  ~35 ms to every cold start and nothing to a client), with short timeouts and botocore's `standard`
  retry mode: a throttle, a 5xx or a connection error is retried with backoff and jitter inside the
  call (3 attempts) before any adapter sees it. `lazy_client(service)` is the typed handle the
  adapters hold: the client is made on its first call (a running poll never touches S3, for one).
- **Errors**: what is left after those retries is one of two kinds. `TransientError`: a throttle,
  a quota or limit, a 5xx or a connection problem: worth another try later (the invocation fails
  and Lambda retries it, or a poll is scheduled); a task never fails for it. `PermanentError`: will
  fail the same way again (access denied, validation), with a failureReason. `classify` decides,
  `aws_call` runs one call and raises the right one.

Importing this module imports botocore's exceptions only; the session and its loader come on first use.
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Collection, Mapping
from functools import cache
from typing import TYPE_CHECKING, Any, Literal, overload

from botocore.exceptions import BotoCoreError, ClientError, ParamValidationError

from pollbridge.errors import PermanentError, TransientError
from pollbridge.models import TaskFailureReason

if TYPE_CHECKING:
    from botocore.config import Config
    from botocore.session import Session
    from mypy_boto3_events import EventBridgeClient
    from mypy_boto3_rekognition import RekognitionClient
    from mypy_boto3_s3 import S3Client
    from mypy_boto3_scheduler import EventBridgeSchedulerClient
    from mypy_boto3_secretsmanager import SecretsManagerClient
    from mypy_boto3_sqs import SQSClient
    from mypy_boto3_transcribe import TranscribeServiceClient

# An AWS client for a service name (`client`): the providers are given one to make theirs.
type ClientFactory = Callable[[str], Any]

# Codes that mean "not now": throttles, quotas and limits, the service's own faults.
TRANSIENT_CODES = frozenset(
    {
        "ThrottlingException", "Throttling", "ThrottledException", "TooManyRequestsException",
        "RequestLimitExceeded", "RequestThrottled", "ProvisionedThroughputExceededException", "LimitExceededException",
        "ServiceQuotaExceededException", "SlowDown", "RequestTimeout", "RequestTimeoutException",
        "PriorRequestNotComplete", "InternalFailureException", "InternalFailure", "InternalError",
        "InternalServerError", "InternalServerException", "InternalServiceError", "InternalException",
        "ServiceUnavailable", "ServiceUnavailableException",
    }
)  # fmt: skip
# Of those, the ones that say "over your quota or rate, not now": a refusal (TransientError.refusal).
REFUSAL_CODES = frozenset(
    {
        "ThrottlingException", "Throttling", "ThrottledException", "TooManyRequestsException",
        "RequestLimitExceeded", "RequestThrottled", "LimitExceededException", "ServiceQuotaExceededException",
        "ProvisionedThroughputExceededException", "SlowDown",
    }
)  # fmt: skip
PERMANENT_REASONS: dict[str, TaskFailureReason] = {
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


# --- clients ---------------------------------------------------------------------------------------


@cache
def client_config() -> Config:
    """Well under the functions' timeouts (poll 60 s): a hung call fails and is retried by the invoker
    instead of eating the invocation; `standard` retries throttles and 5xx with backoff and jitter."""
    from botocore.config import Config

    return Config(connect_timeout=3, read_timeout=10, retries={"mode": "standard", "total_max_attempts": 3})


@cache
def session() -> Session:
    """The container's one session (what boto3's default session wraps). Its data loader skips
    botocore's scan of every service folder (adapters/botocore_loader.py). The local cloud registers
    its observers on this session's events."""
    import botocore.session
    from botocore.loaders import create_loader

    from pollbridge.adapters.botocore_loader import ServiceFolderLoader

    made = botocore.session.get_session()
    # the search path botocore's own factory builds (AWS_DATA_PATH, then its defaults)
    search_paths = create_loader(made.get_config_variable("data_path")).search_paths
    made.register_component(
        "data_loader", ServiceFolderLoader(extra_search_paths=search_paths, include_default_search_paths=False)
    )
    return made


def client(service: str) -> Any:
    """botocore honours AWS_ENDPOINT_URL, so the same code runs against a local AWS emulation. Each
    client gets its own copy of the config: botocore rewrites the `retries` dict it is given."""
    return session().create_client(service, config=copy.deepcopy(client_config()))


class LazyClient:
    """An AWS client created on its first call."""

    def __init__(self, service: str) -> None:
        self._service = service
        self._client: Any = None

    def __getattr__(self, name: str) -> Any:
        if self._client is None:
            self._client = client(self._service)
        return getattr(self._client, name)


@overload
def lazy_client(service: Literal["scheduler"]) -> EventBridgeSchedulerClient: ...
@overload
def lazy_client(service: Literal["s3"]) -> S3Client: ...
@overload
def lazy_client(service: Literal["sqs"]) -> SQSClient: ...
@overload
def lazy_client(service: Literal["events"]) -> EventBridgeClient: ...
@overload
def lazy_client(service: Literal["secretsmanager"]) -> SecretsManagerClient: ...
@overload
def lazy_client(service: Literal["transcribe"]) -> TranscribeServiceClient: ...
@overload
def lazy_client(service: Literal["rekognition"]) -> RekognitionClient: ...
def lazy_client(service: str) -> Any:
    """A client made on its first call, typed as the service's boto3 client (mypy-boto3 stubs)."""
    return LazyClient(service)


# --- errors ----------------------------------------------------------------------------------------


def error_code(error: ClientError) -> str:
    return str(error.response.get("Error", {}).get("Code", ""))


def http_status(error: ClientError) -> int:
    return int(error.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0) or 0)


def is_transient(error: ClientError) -> bool:
    """A throttle, a quota, a 5xx: the same request may well succeed later."""
    status = http_status(error)
    return error_code(error) in TRANSIENT_CODES or status >= 500 or status == 429


def classify(
    what: str,
    error: ClientError,
    reasons: Mapping[str, TaskFailureReason] | None = None,
    *,
    infrastructure: bool = False,
) -> TransientError | PermanentError:
    """TransientError for throttling, limits and 5xx; else PermanentError with a fitting reason:
    `reasons` by code first, then the common ones, else api_error; with `infrastructure` (the stack's
    own resources: schedules, records, queues) always system_error, the deployment's fault, never the
    third party's. The message names `what`, the code and the service's message (500 characters)."""
    code = error_code(error)
    detail = str(error.response.get("Error", {}).get("Message", "") or "")[:500]
    message = f"{what}: {code or http_status(error)}{': ' + detail if detail else ''}"
    if is_transient(error):
        return TransientError(message, refusal=code in REFUSAL_CODES or http_status(error) == 429)
    if infrastructure:
        return PermanentError(message, "system_error")
    return PermanentError(message, {**PERMANENT_REASONS, **(reasons or {})}.get(code, "api_error"))


def aws_call[T](
    what: str,
    call: Callable[[], T],
    reasons: Mapping[str, TaskFailureReason] | None = None,
    *,
    infrastructure: bool = False,
) -> T:
    """Run one AWS call; botocore's errors come out as TransientError or PermanentError (classify)."""
    answer = aws_call_tolerating(what, call, (), reasons, infrastructure=infrastructure)
    assert answer is not None
    return answer


def aws_call_tolerating[T](
    what: str,
    call: Callable[[], T],
    tolerate: Collection[str],
    reasons: Mapping[str, TaskFailureReason] | None = None,
    *,
    infrastructure: bool = False,
) -> T | None:
    """As aws_call, but an error whose code is in `tolerate` means success without an answer (None):
    "already there", "already gone", "no such object"."""
    try:
        return call()
    except ClientError as error:
        if error_code(error) in tolerate:
            return None
        raise classify(what, error, reasons, infrastructure=infrastructure) from None
    except ParamValidationError as error:  # a request botocore refuses to send will never be sent
        raise PermanentError(f"{what}: {error}", "internal_error") from None
    except BotoCoreError as error:  # connection errors, timeouts, retries exhausted on our side
        raise TransientError(f"{what}: {error}") from None
