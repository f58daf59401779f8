"""The webhook function's HTTP side: who may call, how much, which use case, which status code.

`GET /ready` is 200 once the settings, the adapters and the caller check load, else 503 with the reason.
`POST /process` (the engine toolkit's form, see pollbridge.webhook) runs the same core use cases as
the segment function: a new chunk is started (`core.start_task`), a poll task coming back is polled
(`core.poll`, which checks its signature first). Replies:

- 200: `schedule_poll_task` while the job runs; the vtn-standard document when it is done, or when a
  finished task is asked again (the stored record's output);
- 204: a poll task already handled, with nothing newer to report (the toolkit's "ignored");
- 400: a bad field (each one named; nothing was started); 401: no valid credentials (nothing done);
  403: a poll task whose signature does not verify (forged or altered; nothing done);
  413: the body or the chunk over its limit; 415: not multipart/form-data;
  422: the task failed or was cancelled (the record: status, failureReason, failureMessage);
- 5xx only for what is worth retrying: 503 (a transient fault, or not configured yet), 502 (a result
  sink refused; the record is written and a retry delivers what is missing), 500 (a bug).

Callers: `WEBHOOK_AUTH=token` (default) wants `Authorization: Bearer <token>`, the token being
WEBHOOK_TOKEN_PARAMETER's (an SSM SecureString, cached 5 minutes) or WEBHOOK_TOKEN's (local runs),
compared in constant time. `WEBHOOK_AUTH=iam`: the Function URL's AuthType is AWS_IAM and Lambda
checks the SigV4 signature; the function still refuses an event that did not come through IAM
authentication. With neither configured, /ready is 503 and /process refuses every request.
"""

from __future__ import annotations

import base64
import binascii
import dataclasses
import hmac
import json
from collections.abc import Callable
from typing import Any

from aws_lambda_powertools.event_handler import LambdaFunctionUrlResolver, Response
from aws_lambda_powertools.logging import correlation_paths
from aws_lambda_powertools.utilities.data_classes import LambdaFunctionUrlEvent
from aws_lambda_powertools.utilities.typing import LambdaContext

from pollbridge import core
from pollbridge.entrypoint import _count, _observe, delivery_failed
from pollbridge.errors import (
    ConfigurationError,
    DeliveryError,
    ForgedPayloadError,
    InvalidEventError,
    PollbridgeError,
    TransientError,
)
from pollbridge.models import TaskRecord
from pollbridge.observability import logger, metrics, tracer
from pollbridge.secrets import webhook_token
from pollbridge.settings import Settings, load_settings
from pollbridge.webhook import (
    MAX_BODY_BYTES,
    BodyTooLargeError,
    NewChunk,
    PollTask,
    ProcessRequest,
    UploadedMedia,
    parse_form,
    to_request,
)
from pollbridge.wiring import ports

JSON = "application/json"


class UnauthorizedError(PollbridgeError):
    """The caller did not prove who it is: 401, and nothing is done."""


class NotConfiguredError(ConfigurationError):
    """No way to tell callers apart is configured: the webhook never runs as an open endpoint."""


NOT_CONFIGURED = (
    "webhook authentication is not configured: set WEBHOOK_TOKEN_PARAMETER (an SSM SecureString), "
    "WEBHOOK_TOKEN (local runs) or WEBHOOK_AUTH=iam; /process refuses every request until then"
)


def handler(app: LambdaFunctionUrlResolver) -> Callable[[dict[str, Any], LambdaContext], dict[str, Any]]:
    """The Lambda handler around the resolver: the functions' shared logs, traces and metrics."""

    @metrics.log_metrics
    @tracer.capture_lambda_handler(capture_response=False)
    @logger.inject_lambda_context(clear_state=True, correlation_id_path=correlation_paths.LAMBDA_FUNCTION_URL)
    def handle(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
        return app.resolve(event, context)

    return handle


def ready() -> Response[str]:
    try:
        settings = load_settings()
        ports()
        _caller_check(settings)
    except Exception as error:
        # Unauthenticated: say which setting is wrong (names only), never an AWS error's details.
        reason = str(error) if isinstance(error, PollbridgeError) else "a setting could not be read (see the logs)"
        logger.warning("not ready", extra={"reason": reason, "error": f"{type(error).__name__}: {error}"})
        return _json(503, {"ready": False, "reason": reason})
    return _json(
        200,
        {
            "ready": True,
            "auth": settings.webhook_auth,
            "schedulingMode": settings.scheduling_mode,
            "resultSinks": list(settings.sinks),
        },
    )


def process(event: LambdaFunctionUrlEvent) -> Response[str]:
    try:
        settings = load_settings()
        try:
            _authorize(event, settings)
        except PollbridgeError:
            raise
        except Exception as error:  # the token could not be read: a fault, not the caller's
            logger.exception("could not check the caller's credentials", extra={"errorType": type(error).__name__})
            raise TransientError("the caller's credentials could not be checked; retry later") from None
        request = to_request(parse_form(_header(event, "content-type"), _body(event)))
        task_id = request.payload.origTaskId if isinstance(request, PollTask) else request.chunk.taskId
        logger.set_correlation_id(task_id)
        tracer.put_annotation(key="origTaskId", value=task_id)
        _check_api_base_url(request, settings)
        outcome = _run(request, ports(), settings)
    except UnauthorizedError as error:
        _count("UnauthorizedRequests")
        logger.warning("refused a caller without valid credentials; nothing was done", extra={"error": str(error)})
        return _json(401, {"error": "unauthorized", "message": str(error)}, {"WWW-Authenticate": "Bearer"})
    except BodyTooLargeError as error:
        _count("InvalidEvents")
        logger.warning("refused a request over the size limit; nothing was done", extra={"error": str(error)})
        return _json(413, {"error": "too_large", "message": str(error)})
    except ForgedPayloadError as error:
        _count("InvalidEvents")
        _count("RejectedPayloads")
        logger.warning("rejected a poll task whose signature does not verify", extra={"error": str(error)})
        return _json(403, {"error": "forged_payload", "message": str(error)})
    except InvalidEventError as error:
        _count("InvalidEvents")
        logger.warning("rejected an invalid request; nothing was done", extra={"error": str(error)})
        status = 415 if "Content-Type" in str(error) else 400
        return _json(status, {"error": "invalid_request", "message": str(error)})
    except DeliveryError as error:
        delivery_failed(error)
        status = 502 if error.permanent else 503
        return _json(status, {"error": "result_not_delivered", "message": str(error), "sinks": list(error.failures)})
    except ConfigurationError as error:
        _count("FailedInvocations")
        logger.error("not configured; nothing was done", extra={"error": str(error)})
        return _json(503, {"error": "not_configured", "message": str(error)})
    except TransientError as error:
        _count("FailedInvocations")
        logger.warning("transient failure; the caller may retry", extra={"error": str(error)})
        retry = {"Retry-After": str(int(error.retry_after_s))} if error.retry_after_s else None
        return _json(503, {"error": "unavailable", "message": str(error)}, retry)
    except Exception as error:
        _count("FailedInvocations")
        logger.exception("unexpected error", extra={"errorType": type(error).__name__})
        return _json(500, {"error": "internal_error", "message": "an unexpected error; the logs have its details"})
    _observe(outcome)
    return _reply(outcome)


def _run(request: ProcessRequest, wired: core.Ports, settings: Settings) -> core.Outcome:
    match request:
        case NewChunk(chunk=chunk, media=None):
            return core.start_task(chunk, wired)
        case NewChunk(chunk=chunk, media=media) if media is not None:
            uploaded = UploadedMedia(media, settings.media_max_bytes)
            return core.start_task(chunk, dataclasses.replace(wired, media=uploaded))
        case PollTask(payload=payload, task_id=task_id):
            return core.poll(payload, wired, task_id=task_id)
    raise AssertionError(f"unhandled request {request!r}")


# A Function URL reply is at most 6 MB; keep room for headers and the JSON wrapping.
MAX_REPLY_BYTES = 6 * 1024 * 1024 - 64 * 1024


def _reply(outcome: core.Outcome) -> Response[str]:
    if isinstance(outcome.response, core.StalePoll):
        return Response(204)
    status = 422 if isinstance(outcome.response, TaskRecord) and outcome.response.status != "complete" else 200
    reply = _json(status, outcome.reply())
    if len((reply.body or "").encode()) > MAX_REPLY_BYTES:
        # The record is complete in S3 (and the aiware sink delivers it in full); the reply cannot carry it.
        return _json(422, {
            "error": "output_too_large",
            "taskId": outcome.orig_task_id,
            "message": f"the output is over the {MAX_REPLY_BYTES} bytes a Function URL can return; it is in "
            "the task's record (results/<taskId>.json), and RESULT_SINKS=s3,aiware delivers it to aiWARE",
        })  # fmt: skip
    return reply


def _caller_check(settings: Settings) -> None:
    """Raises NotConfiguredError unless callers can be told apart."""
    if settings.webhook_auth == "token" and webhook_token(settings) is None:
        raise NotConfiguredError(NOT_CONFIGURED)


def _authorize(event: LambdaFunctionUrlEvent, settings: Settings) -> None:
    if settings.webhook_auth == "iam":
        context = event.raw_event.get("requestContext")
        authorizer = context.get("authorizer") if isinstance(context, dict) else None
        iam = authorizer.get("iam") if isinstance(authorizer, dict) else None
        if not (isinstance(iam, dict) and (iam.get("userArn") or iam.get("userId"))):
            # AuthType NONE by mistake: Lambda did not authenticate this caller, so neither do we.
            raise UnauthorizedError("WEBHOOK_AUTH=iam: the request was not authenticated by AWS IAM")
        return
    expected = webhook_token(settings)
    if expected is None:
        raise NotConfiguredError(NOT_CONFIGURED)
    scheme, _, given = (_header(event, "authorization") or "").partition(" ")
    if scheme.lower() != "bearer" or not hmac.compare_digest(given.strip().encode(), expected.encode()):
        raise UnauthorizedError("Authorization: a valid `Bearer <token>` is required")


def _header(event: LambdaFunctionUrlEvent, name: str) -> str | None:
    for key, value in (event.raw_event.get("headers") or {}).items():
        if isinstance(key, str) and key.lower() == name:
            return str(value)
    return None


def _body(event: LambdaFunctionUrlEvent) -> bytes:
    raw = event.raw_event.get("body") or ""
    if not isinstance(raw, str):
        raise InvalidEventError("invalid /process request: body: missing")
    if event.raw_event.get("isBase64Encoded"):
        if len(raw) > (MAX_BODY_BYTES + 2) // 3 * 4:  # refused before decoding
            raise BodyTooLargeError(f"invalid /process request: body: larger than {MAX_BODY_BYTES} bytes")
        try:
            return base64.b64decode(raw, validate=True)
        except binascii.Error:
            raise InvalidEventError("invalid /process request: body: not valid base64") from None
    try:
        body = raw.encode("utf-8", "surrogateescape")
    except UnicodeEncodeError:
        raise InvalidEventError("invalid /process request: body: not text a form can carry") from None
    if len(body) > MAX_BODY_BYTES:
        raise BodyTooLargeError(f"invalid /process request: body: larger than {MAX_BODY_BYTES} bytes")
    return body


def _check_api_base_url(request: ProcessRequest, settings: Settings) -> None:
    """pollbridge only ever calls AIWARE_API_URL: a different veritoneApiBaseUrl is ignored, with a warning."""
    given = request.api_base_url
    if given is None or "aiware" not in settings.sinks:
        return
    if settings.aiware_api_url is None or given.rstrip("/") != settings.aiware_api_url.rstrip("/"):
        logger.warning(
            "veritoneApiBaseUrl ignored: results go to AIWARE_API_URL only",
            extra={"veritoneApiBaseUrl": given[:200], "AIWARE_API_URL": settings.aiware_api_url},
        )


def _json(status: int, body: Any, headers: dict[str, str] | None = None) -> Response[str]:
    return Response(status, JSON, json.dumps(body), headers)
