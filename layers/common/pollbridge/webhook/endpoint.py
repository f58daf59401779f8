"""The webhook function's HTTP side: who may call, how much, which use case, which status code.

aiWARE's engine toolkit calls it through the engine image's forwarder (engine/forwarder.py, which
adds the bearer token the toolkit cannot send). The toolkit makes at most 3 calls ~0.1 s and 0.2 s
apart, ignores Retry-After, and reports any non-200 as the chunk's failure (`internal_error`,
`"<status>: <body>"`); so everything worth retrying later is answered 200 with a poll task.

`GET /ready` is 200 once the settings, the adapters and the caller check load, else 503 with the reason.
`POST /process` runs the same core use cases as the segment function, always platform-scheduled:
aiWARE schedules every poll task (this function never creates a schedule, whatever SCHEDULING_MODE
says; the segment and poll functions use that). Replies:

- 200 `schedule_poll_task` (JSON) while the job runs, while the vendor has not taken the job yet,
  and after a transient fault on a poll task (the same poll, later; bounded by the task's deadline);
- 200 with the vtn-standard document when the chunk is done, or when a finished chunk is asked again;
- 204 only for a poll task that was already answered and has nothing to report (the toolkit's "ignored");
- final failures, plain text `<failureReason>: <message>` (what aiWARE shows as the task's failure):
  400 a bad field (each named; nothing started), 401 no valid credentials, 403 a poll task whose
  signature does not verify, 413 over a size limit, 415 not multipart/form-data, 422 the chunk
  failed or was cancelled, 503 a transient fault on a new chunk or no configuration, 500 a bug.

Which error gets which status, metric and log level is pollbridge.telemetry's table.
Callers: WEBHOOK_AUTH=token (default) wants `Authorization: Bearer <token>` (WEBHOOK_TOKEN_PARAMETER,
an SSM SecureString cached 5 minutes, or WEBHOOK_TOKEN for local runs), compared in constant time;
`iam`: the Function URL's AuthType is AWS_IAM (the forwarder must sign); `aiware-token`: the form's
task token is checked with aiWARE (webhook/aiware_token.py). With none configured, /ready is 503 and
/process refuses every request.

Cold start: the routing is two paths, so this module routes them itself rather than importing
Powertools' event handler (with asyncio and every resolver, ~100 ms of the webhook's import).
"""

from __future__ import annotations

import base64
import binascii
import dataclasses
import hmac
import json
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from aws_lambda_powertools.logging import correlation_paths

from pollbridge import clock, core, decisions
from pollbridge.errors import (
    BodyTooLargeError,
    ConfigurationError,
    DeliveryError,
    InvalidEventError,
    PollbridgeError,
    TransientError,
    UnauthorizedError,
)
from pollbridge.models import PollPayload, SchedulePollTask, TaskRecord
from pollbridge.models.knobs import KNOB_NAMES
from pollbridge.naming import schedule_name
from pollbridge.observability import logger, metrics, tracer
from pollbridge.secrets import webhook_token
from pollbridge.settings import Settings, load_settings
from pollbridge.telemetry import observe, report
from pollbridge.timing import VendorHints, minute_of, next_poll_time
from pollbridge.webhook.form import (
    MAX_BODY_BYTES,
    NewChunk,
    PollTask,
    ProcessRequest,
    UploadedMedia,
    parse_form,
    to_request,
)
from pollbridge.wiring import container_ports, with_scheduling

if TYPE_CHECKING:
    from aws_lambda_powertools.utilities.typing import LambdaContext

JSON = "application/json"
TEXT = "text/plain; charset=utf-8"
# A Function URL response is at most 6 MB, counted on the JSON Lambda returns (the body escaped inside
# it), with room for the headers.
MAX_RESPONSE_BYTES = 6 * 1024 * 1024 - 16 * 1024
MIN_POLL_AHEAD_MS = core.MIN_POLL_AHEAD_MS

NOT_CONFIGURED = (
    "webhook authentication is not configured: set WEBHOOK_TOKEN_PARAMETER (an SSM SecureString), "
    "WEBHOOK_TOKEN (local runs), WEBHOOK_AUTH=iam or WEBHOOK_AUTH=aiware-token; "
    "/process refuses every request until then"
)


class NotConfiguredError(ConfigurationError):
    """No way to tell callers apart is configured: the webhook never runs as an open endpoint."""


@dataclasses.dataclass(frozen=True)
class Reply:
    """An HTTP answer, as a Function URL takes it from the function."""

    status: int
    body: str = ""
    content_type: str | None = None
    headers: dict[str, str] = dataclasses.field(default_factory=dict)

    def as_function_url(self) -> dict[str, Any]:
        headers = dict(self.headers)
        if self.content_type is not None:
            headers["Content-Type"] = self.content_type
        return {"statusCode": self.status, "headers": headers, "body": self.body, "isBase64Encoded": False}


def json_reply(status: int, body: Any, headers: dict[str, str] | None = None) -> Reply:
    return Reply(status, json.dumps(body), JSON, headers or {})


def text_reply(status: int, reason: str, message: str, headers: dict[str, str] | None = None) -> Reply:
    """A final failure as aiWARE shows it: `<failureReason>: <message>` (the toolkit reports the body)."""
    return Reply(status, f"{reason}: {message}", TEXT, headers or {})


def route(event: dict[str, Any]) -> Reply:
    """GET /ready and POST /process; anything else 404 or 405."""
    context = event.get("requestContext")
    http = context.get("http") if isinstance(context, dict) else None
    method = str(http.get("method", "")).upper() if isinstance(http, dict) else ""
    path = str(event.get("rawPath") or "")
    routes: dict[str, tuple[str, Callable[[], Reply]]] = {
        "/ready": ("GET", ready),
        "/process": ("POST", lambda: process(event)),
    }
    if path not in routes:
        return text_reply(
            404, "invalid_data", f"no such path {path[:100]!r}: the webhook serves GET /ready, POST /process"
        )
    wanted, answer = routes[path]
    if method != wanted:
        return text_reply(405, "invalid_data", f"{path} takes {wanted}", {"Allow": wanted})
    return answer()


def handler() -> Callable[[dict[str, Any], LambdaContext], dict[str, Any]]:
    """The Lambda handler: the functions' shared logs, traces and metrics around `route`."""

    @metrics.log_metrics
    @tracer.capture_lambda_handler(capture_response=False)
    @logger.inject_lambda_context(clear_state=True, correlation_id_path=correlation_paths.LAMBDA_FUNCTION_URL)
    def handle(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
        return route(event).as_function_url()

    return handle


def ready() -> Reply:
    try:
        settings = load_settings()
        container_ports()
        _caller_check(settings)
    except Exception as error:
        # Unauthenticated: say which setting is wrong (names only), never an AWS error's details.
        reason = str(error) if isinstance(error, PollbridgeError) else "a setting could not be read (see the logs)"
        logger.warning("not ready", extra={"reason": reason, "error": f"{type(error).__name__}: {error}"})
        return json_reply(503, {"ready": False, "reason": reason})
    return json_reply(
        200,
        {
            "ready": True,
            "auth": settings.webhook_auth,
            "schedulingMode": "platform",
            "resultSinks": list(settings.sinks),
        },
    )


def process(event: dict[str, Any]) -> Reply:
    request: ProcessRequest | None = None
    wired: core.Ports | None = None
    try:
        settings = load_settings()
        _authorize_header(event, settings)
        wired = webhook_ports(container_ports())
        option_names = wired.provider.option_names | KNOB_NAMES
        request = to_request(parse_form(_header(event, "content-type"), _body(event)), option_names.__contains__)
        task_id = request.payload.origTaskId if isinstance(request, PollTask) else request.chunk.taskId
        logger.set_correlation_id(task_id)
        tracer.put_annotation(key="origTaskId", value=task_id)
        if settings.webhook_auth == "aiware-token":
            _check_task_token(request, settings)
        if isinstance(request, NewChunk) and request.dropped:
            logger.info("payload keys dropped: not options of this provider", extra={"dropped": list(request.dropped)})
        outcome = _run(request, wired, settings)
    except Exception as error:
        if isinstance(request, PollTask) and wired is not None and _worth_polling_again(error):
            return _poll_again_later(request, wired, error)
        return _failure(error)
    observe(outcome)
    return _reply(outcome)


def webhook_ports(wired: core.Ports) -> core.Ports:
    """The deployment's ports as the webhook uses them: aiWARE schedules the polls (no schedule is
    created here), the reply carries the result (no `aiware` sink), and the container-local heartbeat
    and result webhooks of a V3 toolkit are never called from Lambda."""
    return dataclasses.replace(
        with_scheduling(wired, "platform"),
        notifiers=tuple(n for n in wired.notifiers if n.name != "aiware"),
        heartbeat=None,
    )


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


def _worth_polling_again(error: Exception) -> bool:
    """A fault that is not the request's (a transient AWS or vendor fault, a sink that did not take
    the result yet, a bug): the poll task is answered with itself, later, rather than failed."""
    if isinstance(error, InvalidEventError | UnauthorizedError | ConfigurationError):
        return False
    return not (isinstance(error, DeliveryError) and error.permanent)


def _poll_again_later(request: PollTask, wired: core.Ports, error: Exception) -> Reply:
    """200 with a schedule_poll_task for the same poll, later: within the task's deadline and the
    budget of consecutive faults (counted in the payload when it can be signed again). Only a payload
    whose signature verifies is handed back or signed anew: a fault while verifying (the signing key
    unreachable) must never turn a forged poll task into a signed one."""
    payload = request.payload
    try:
        wired.signer.verify(payload)
    except Exception:
        return _failure(error)
    report(error)
    now = clock.now_ms()
    faults = payload.transientErrors + 1
    deadline = decisions.capped_deadline(payload, wired.task_timeout_ms)
    if now >= deadline or faults >= decisions.MAX_CONSECUTIVE_VENDOR_ERRORS:
        why = "past its deadline" if now >= deadline else f"after {faults} consecutive faults"
        return text_reply(503, "internal_error", f"task {payload.origTaskId} could not be polled {why}; last: {error}")
    retry_after = error.retry_after_s if isinstance(error, TransientError) else None
    facts = decisions.poll_facts(payload, transient_errors=faults)
    at = max(next_poll_time(now, facts, wired.policy, VendorHints(retry_after_s=retry_after)), now + MIN_POLL_AHEAD_MS)
    again: PollPayload = payload  # still validly signed: handed back as it came when it cannot be signed anew
    try:
        again = wired.signer.sign(
            payload.next(now, vendor_error=True).model_copy(update={"notBeforeUTC": minute_of(at)})
        )
    except Exception as signing:
        logger.warning(
            "the poll task is handed back unchanged: it could not be signed anew", extra={"error": str(signing)}
        )
    message = SchedulePollTask(
        timestampUTC=now,
        nextPollTimeUTC=at,
        taskId=request.task_id or schedule_name(payload.unit, payload.pollNumber),
        taskPayload=again,
    )
    logger.info("poll task answered with itself, later", extra={"nextPollTimeUTC": at, "faults": faults})
    return json_reply(200, message.model_dump(mode="json", exclude_none=True))


def _failure(error: Exception) -> Reply:
    """A final answer for an error: its status, metric and log level from the telemetry table."""
    kind = report(error)
    if isinstance(error, DeliveryError) and error.permanent and error.record is not None:
        # The record is written and is the answer aiWARE waits for; the refusing sink is logged (above).
        return _reply_record(error.record)
    if isinstance(error, PollbridgeError) and not isinstance(error, DeliveryError):
        message = str(error)
    elif isinstance(error, DeliveryError):
        message = f"the result of task {error.task_id} was not delivered to {', '.join(error.failures)}; retry"
    else:
        message = "an unexpected error; the logs have its details"
    headers = {"WWW-Authenticate": "Bearer"} if isinstance(error, UnauthorizedError) else None
    if isinstance(error, TransientError) and error.retry_after_s:
        headers = {"Retry-After": str(int(error.retry_after_s))}
    return text_reply(kind.http_status, kind.reason, message, headers)


def _reply(outcome: core.Outcome) -> Reply:
    if isinstance(outcome.response, core.StalePoll):
        return Reply(204)
    if isinstance(outcome.response, TaskRecord) and outcome.response.status != "complete":
        return _reply_record(outcome.response)
    reply = json_reply(200, outcome.reply())
    if _response_bytes(reply) > MAX_RESPONSE_BYTES:
        # The record is complete in S3; the Function URL cannot carry it back.
        return text_reply(
            422,
            "invalid_data",
            f"the output of task {outcome.orig_task_id} is over the {MAX_RESPONSE_BYTES} bytes a Function URL can "
            "return; it is in the task's record (results/), for RESULT_SINKS or ops to deliver",
        )
    return reply


def _reply_record(record: TaskRecord) -> Reply:
    if record.status == "complete" and record.output is not None:
        return json_reply(200, record.output)
    reason = record.failureReason or "other"
    message = record.failureMessage or f"task {record.taskId} was {record.status}"
    return text_reply(422, reason, message if record.status == "failed" else f"{record.status}: {message}")


def _response_bytes(reply: Reply) -> int:
    """What Lambda returns to the Function URL: the reply as JSON, its body escaped inside."""
    return len(json.dumps(reply.as_function_url()).encode())


def _caller_check(settings: Settings) -> None:
    """Raises NotConfiguredError unless callers can be told apart."""
    if settings.webhook_auth == "token" and webhook_token(settings) is None:
        raise NotConfiguredError(NOT_CONFIGURED)


def _authorize_header(event: dict[str, Any], settings: Settings) -> None:
    """token and iam: decided by the request's headers, before its body is read."""
    try:
        if settings.webhook_auth == "iam":
            context = event.get("requestContext")
            authorizer = context.get("authorizer") if isinstance(context, dict) else None
            iam = authorizer.get("iam") if isinstance(authorizer, dict) else None
            if not (isinstance(iam, dict) and (iam.get("userArn") or iam.get("userId"))):
                # AuthType NONE by mistake: Lambda did not authenticate this caller, so neither do we.
                raise UnauthorizedError("WEBHOOK_AUTH=iam: the request was not authenticated by AWS IAM")
            return
        if settings.webhook_auth == "aiware-token":
            return  # checked once the form is read (it carries the token)
        expected = webhook_token(settings)
    except PollbridgeError:
        raise
    except Exception as error:  # the token could not be read: a fault, not the caller's
        logger.exception("could not check the caller's credentials", extra={"errorType": type(error).__name__})
        raise TransientError("the caller's credentials could not be checked; retry later") from None
    if expected is None:
        raise NotConfiguredError(NOT_CONFIGURED)
    scheme, _, given = (_header(event, "authorization") or "").partition(" ")
    if scheme.lower() != "bearer" or not hmac.compare_digest(given.strip().encode(), expected.encode()):
        raise UnauthorizedError("Authorization: a valid `Bearer <token>` is required (engine/forwarder.py adds it)")


def _check_task_token(request: ProcessRequest, settings: Settings) -> None:
    from pollbridge.webhook.aiware_token import check_task_token

    assert settings.aiware_api_url is not None  # the settings model requires it with aiware-token
    if isinstance(request, PollTask):
        check_task_token(settings.aiware_api_url, request.token, request.task_id)
    else:
        check_task_token(settings.aiware_api_url, request.token, request.chunk.taskId)


def _header(event: dict[str, Any], name: str) -> str | None:
    headers = event.get("headers")
    for key, value in (headers if isinstance(headers, dict) else {}).items():
        if isinstance(key, str) and key.lower() == name:
            return str(value)
    return None


def _body(event: dict[str, Any]) -> bytes:
    raw = event.get("body") or ""
    if not isinstance(raw, str):
        raise InvalidEventError("invalid /process request: body: missing")
    if event.get("isBase64Encoded"):
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


__all__ = [
    "Reply",
    "handler",
    "process",
    "ready",
    "route",
    "webhook_ports",
]
