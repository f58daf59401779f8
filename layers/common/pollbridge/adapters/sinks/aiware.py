"""The `aiware` result sink: the task's result written straight to the original task through aiWARE's
GraphQL API (`<AIWARE_API_URL>/v3/graphql`). Only for direct callers: an engine that answers through
the engine toolkit returns its result in the toolkit's reply, and aiWARE's V3 docs say such an engine
"SHOULD NOT update task status or output directly".

- complete: `uploadEngineResult` with the vtn-standard document as `outputString` and
  `completeTask: true`: it creates the result asset and completes the task (a complete task needs its
  status, its output and an asset; `updateTask` alone gives no asset);
- failed: `updateTask` with `jobId`, `status: failed`, `failureReason` and the message as
  `output: {error: ...}` (no source names a `failureMessage` input field);
- cancelled: `updateTask` with `status: cancelled` (aiWARE's spelling), no failureReason.

What is sent, field by field and value by value, is SENT_INPUT_FIELDS / SENT_ENUM_VALUES /
MUTATION_INPUTS: `python -m devtools.ops aiware-schema` compares them with a live schema.

Repeats: updateTask with the same values changes nothing; uploadEngineResult repeated after an answer
that was lost (a timeout once the request left) may add a second asset to the task. The delivery
ledger (the record's tags) stops repeats once a delivery has been counted.
Credentials: the deployment's API key (AIWARE_API_KEY or the SSM SecureString AIWARE_API_KEY_PARAMETER),
never the task's own token (it would have to be carried in the payload, and it expires). The URL is
the setting's, never one a caller names, and no redirect is followed (the key would go along).

Errors: the network, a timeout, 429 and 5xx are transient (the invocation fails and is retried);
401/403/404, GraphQL errors that mean "not allowed" or "not found", any other refusal, and an answer
larger than MAX_ANSWER_BYTES are permanent (the retries fail the same way and the invocation ends in
the dead-letter queue, logged as such).
"""

from __future__ import annotations

import functools
import http.client
import json
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Mapping
from typing import Any, Final, get_args
from urllib.parse import urlsplit

from pollbridge.adapters.http_policy import declared_over, is_transient, read_bounded, retry_after_s
from pollbridge.errors import PermanentError, TransientError
from pollbridge.models import TaskFailureReason, TaskRecord

UPLOAD_ENGINE_RESULT = """mutation pollbridgeUploadEngineResult($input: UploadEngineResult!) {
  uploadEngineResult(input: $input) { id }
}"""
UPDATE_TASK = """mutation pollbridgeUpdateTask($input: UpdateTask!) {
  updateTask(input: $input) { id status }
}"""

# Exactly what pollbridge sends (the inputs below are built from these names; a test holds them to it).
MUTATION_INPUTS: Final[Mapping[str, str]] = {"uploadEngineResult": "UploadEngineResult", "updateTask": "UpdateTask"}
SENT_INPUT_FIELDS: Final[Mapping[str, tuple[str, ...]]] = {
    "UploadEngineResult": ("taskId", "contentType", "assetType", "outputString", "completeTask"),
    "UpdateTask": ("id", "jobId", "status", "failureReason", "output"),
}
SENT_ENUM_VALUES: Final[Mapping[str, tuple[str, ...]]] = {
    "TaskStatus": ("failed", "cancelled"),  # a complete task is completed by uploadEngineResult
    "TaskFailureReason": get_args(TaskFailureReason),  # any a record may carry
}

# The answers are `{id}` and `{id status}`: a megabyte is not aiWARE answering these mutations (a wrong
# AIWARE_API_URL, a proxy's page), so it is refused unread, as permanent: a retry gets the same answer,
# and one of uploadEngineResult, which may have been applied, would add another asset each time.
MAX_ANSWER_BYTES = 1024 * 1024
_MAX_ERROR_BYTES = 64 * 1024  # of a refusal's body, read only to quote its GraphQL errors
_STATUS_REASONS: dict[int, TaskFailureReason] = {
    401: "api_authentication_error",
    403: "api_not_allowed",
    404: "api_not_found",
}
_NOT_ALLOWED = ("not_allowed", "not allowed", "forbidden", "unauthorized", "unauthenticated", "permission", "denied")
_NOT_FOUND = ("not_found", "not found", "does not exist", "no task")
_TRANSIENT_WORDS = ("timeout", "timed out", "rate limit", "rate_limited", "unavailable", "try again")


def graphql_url(api_url: str) -> str:
    return api_url.rstrip("/") + "/v3/graphql"


def upload_engine_result_input(record: TaskRecord) -> dict[str, Any]:
    """uploadEngineResult's input for a complete record: the document travels as a JSON string
    (`outputString`), the form every input type accepts, and completes the task with it."""
    if record.status != "complete":
        raise ValueError(f"a {record.status} record is written with updateTask (update_task_input)")
    return {
        "taskId": record.taskId,
        "contentType": "application/json",
        "assetType": "vtn-standard",
        "outputString": json.dumps(record.output, separators=(",", ":")),
        "completeTask": True,
    }


def update_task_input(record: TaskRecord) -> dict[str, Any]:
    """updateTask's input for a failed or cancelled record. `jobId` is the record's aiWARE job (the
    legacy guide marks it required); the message goes in `output.error`, where aiWARE's failed tasks
    carry it."""
    if record.status == "complete":
        raise ValueError("a complete record is written with uploadEngineResult (upload_engine_result_input)")
    task: dict[str, Any] = {"id": record.taskId, "jobId": record.jobId, "status": record.status}
    if record.status == "failed":
        task["failureReason"] = record.failureReason
    if record.failureMessage is not None:
        task["output"] = {"error": record.failureMessage}
    return task


class AiwareSink:
    name = "aiware"

    def __init__(self, api_url: str, api_key: Callable[[], str], timeout_s: float = 10.0) -> None:
        self._url = graphql_url(api_url)
        self._api_key = api_key  # called per delivery: a cached SSM read, so a rotated key is picked up
        self._timeout_s = timeout_s

    def deliver(self, record: TaskRecord) -> None:
        if record.status == "complete":
            mutation, query, task = "uploadEngineResult", UPLOAD_ENGINE_RESULT, upload_engine_result_input(record)
        else:
            mutation, query, task = "updateTask", UPDATE_TASK, update_task_input(record)
        what = f"{mutation} for {record.taskId}"
        data = post_graphql(self._url, self._api_key(), query, {"input": task}, timeout_s=self._timeout_s, what=what)
        if not isinstance(data.get(mutation), dict):
            raise PermanentError(f"aiWARE answered {what} without its result", "api_error")


def post_graphql(
    url: str,
    api_key: str,
    query: str,
    variables: Mapping[str, Any],
    *,
    timeout_s: float,
    what: str,
    max_bytes: int = MAX_ANSWER_BYTES,
) -> dict[str, Any]:
    """POST one GraphQL request to aiWARE and return its `data`, or raise TransientError or
    PermanentError (with a TaskFailureReason) saying why not. The answer is read in pieces, at most
    `max_bytes`, and given up when `timeout_s` has passed since the request started (checked between
    pieces: each waits at most `timeout_s`). `what` names the call in messages."""
    if urlsplit(url).scheme not in ("http", "https"):  # urllib would open file: and ftp: URLs too
        raise PermanentError(f"aiWARE GraphQL URL {url[:200]!r} is not http(s)", "api_error")
    deadline = time.monotonic() + timeout_s
    body = json.dumps({"query": query, "variables": dict(variables)}).encode()
    request = urllib.request.Request(url, data=body, method="POST")  # noqa: S310 - http(s), checked above
    request.add_header("Content-Type", "application/json")
    request.add_header("Accept", "application/json")
    request.add_header("Authorization", f"Bearer {api_key}")
    try:
        with _no_redirects().open(request, timeout=timeout_s) as response:
            raw = _answer(response, what, max_bytes, deadline)
    except urllib.error.HTTPError as error:
        with error:
            raise _refusal(error, what, deadline) from None
    except TimeoutError:
        raise TransientError(f"aiWARE GraphQL {what} timed out") from None
    except urllib.error.URLError as error:
        raise TransientError(f"aiWARE GraphQL {what}: unreachable: {error.reason}") from None
    except (http.client.HTTPException, OSError) as error:  # reset, closed mid-answer
        raise TransientError(f"aiWARE GraphQL {what}: connection failed: {type(error).__name__}") from None
    try:
        answer = json.loads(raw)
    except (ValueError, RecursionError):
        raise TransientError(f"aiWARE GraphQL {what}: the answer is not JSON") from None
    return _data(answer, what)


def _answer(response: Any, what: str, limit: int, deadline: float) -> bytes:
    too_large = f"aiWARE GraphQL {what}: the answer is larger than {limit} bytes: not read"
    if declared_over(response.headers, limit):
        raise PermanentError(too_large, "api_error")
    answer = read_bounded(response.read1, limit, lambda: time.monotonic() > deadline)
    if answer.outcome == "too large":
        raise PermanentError(too_large, "api_error")
    if answer.outcome == "late":
        raise TransientError(f"aiWARE GraphQL {what} timed out sending its answer")
    return answer.body


class _RefuseRedirects(urllib.request.HTTPRedirectHandler):
    """A redirect would carry the API key to wherever it points: it is answered as an error instead."""

    def redirect_request(self, *args: Any, **kwargs: Any) -> None:
        return None


@functools.cache
def _no_redirects() -> urllib.request.OpenerDirector:
    """Built on the first delivery: its HTTPS handler loads the CA store (~20 ms of a cold start)."""
    return urllib.request.build_opener(_RefuseRedirects)


def _refusal(error: urllib.error.HTTPError, what: str, deadline: float) -> TransientError | PermanentError:
    message = f"aiWARE GraphQL {what}: answered {error.code}"
    if 300 <= error.code < 400:
        return PermanentError(f"{message}, a redirect: not followed (the API key is sent to AIWARE_API_URL only)")
    if is_transient(error.code):
        return TransientError(message, retry_after_s=retry_after_s(error.headers.get("Retry-After")))
    try:
        raw = read_bounded(error.read1, _MAX_ERROR_BYTES, lambda: time.monotonic() > deadline).body
        detail = _errors_text(json.loads(raw).get("errors"))
    except (OSError, http.client.HTTPException, ValueError, RecursionError, AttributeError):
        detail = ""  # the status says enough
    return PermanentError(f"{message}: {detail}" if detail else message, _STATUS_REASONS.get(error.code, "api_error"))


def _data(answer: Any, what: str) -> dict[str, Any]:
    if not isinstance(answer, dict):
        raise PermanentError(f"aiWARE GraphQL {what}: the answer is not an object", "api_error")
    errors = answer.get("errors")
    if errors:
        text = _errors_text(errors) or str(errors)[:1000]
        folded = text.lower()
        if any(word in folded for word in _NOT_ALLOWED):
            raise PermanentError(f"aiWARE refused {what} (not allowed): {text}", "api_not_allowed")
        if any(word in folded for word in _NOT_FOUND):
            raise PermanentError(f"aiWARE refused {what} (not found): {text}", "api_not_found")
        if any(word in folded for word in _TRANSIENT_WORDS):
            raise TransientError(f"aiWARE {what} failed for now: {text}")
        raise PermanentError(f"aiWARE refused {what}: {text}", "api_error")
    data = answer.get("data")
    if not isinstance(data, dict):
        raise PermanentError(f"aiWARE GraphQL {what}: the answer has no data", "api_error")
    return data


def _errors_text(errors: Any) -> str:
    if not isinstance(errors, list):
        return ""
    return "; ".join(_describe(e) for e in errors if isinstance(e, dict))[:1000]


def _describe(error: dict[str, Any]) -> str:
    extensions = error.get("extensions")
    code = extensions.get("code") if isinstance(extensions, dict) else None
    name = error.get("name")
    labels = " ".join(str(x) for x in (code, name) if x)
    return f"{labels}: {error.get('message', '')}" if labels else str(error.get("message", ""))
