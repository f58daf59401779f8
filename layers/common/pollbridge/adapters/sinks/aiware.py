"""The `aiware` result sink: the task's result written back to the original task through aiWARE's
GraphQL API (`<AIWARE_API_URL>/v3/graphql`), with `updateTask` against origTaskId.

- complete: `status: complete` with the vtn-standard document as `output`;
- failed: `status: failed` with `failureReason` and `failureMessage`;
- cancelled: `status: cancelled`.

Writing the same status and output again changes nothing, so a repeated delivery is harmless.
Credentials: the deployment's API key (AIWARE_API_KEY or the SSM SecureString AIWARE_API_KEY_PARAMETER),
never the task's own token (it would have to be carried in the payload, and it expires). The URL is
the setting's, never one a caller names.

Errors: the network, a timeout, 429 and 5xx are transient (the invocation fails and is retried);
401/403, GraphQL errors that mean "not allowed" or "not found", and any other refusal are permanent
(the retries fail the same way and the invocation ends in the dead-letter queue, logged as such).
"""

from __future__ import annotations

import functools
import json
import urllib.error
import urllib.request
from collections.abc import Callable
from typing import Any

from pollbridge.errors import PermanentError, TransientError
from pollbridge.models import TaskFailureReason, TaskRecord

UPDATE_TASK = """mutation pollbridgeUpdateTask($input: UpdateTask!) {
  updateTask(input: $input) { id status }
}"""
_TRANSIENT_STATUS = frozenset({429, 500, 502, 503, 504})
_NOT_ALLOWED = ("not_allowed", "not allowed", "forbidden", "unauthorized", "unauthenticated", "permission", "denied")
_NOT_FOUND = ("not_found", "not found", "does not exist", "no task")
_TRANSIENT_WORDS = ("timeout", "timed out", "rate limit", "rate_limited", "unavailable", "try again")


def graphql_url(api_url: str) -> str:
    return api_url.rstrip("/") + "/v3/graphql"


def update_task_input(record: TaskRecord) -> dict[str, Any]:
    """The variables of updateTask for a record (aiWARE spells the status `cancelled`)."""
    task: dict[str, Any] = {"id": record.taskId, "status": record.status}
    if record.status == "complete":
        task["output"] = record.output
    if record.failureReason is not None:
        task["failureReason"] = record.failureReason
    if record.failureMessage is not None:
        task["failureMessage"] = record.failureMessage
    return task


class AiwareSink:
    name = "aiware"

    def __init__(self, api_url: str, api_key: Callable[[], str], timeout_s: float = 10.0) -> None:
        self._url = graphql_url(api_url)
        self._api_key = api_key  # called per delivery: a cached SSM read, so a rotated key is picked up
        self._timeout_s = timeout_s

    def deliver(self, record: TaskRecord) -> None:
        body = json.dumps({"query": UPDATE_TASK, "variables": {"input": update_task_input(record)}}).encode()
        request = urllib.request.Request(self._url, data=body, method="POST")  # noqa: S310 - URL from settings
        request.add_header("Content-Type", "application/json")
        request.add_header("Accept", "application/json")
        request.add_header("Authorization", f"Bearer {self._api_key()}")
        try:
            with _no_redirects().open(request, timeout=self._timeout_s) as response:
                raw = response.read()
        except urllib.error.HTTPError as error:
            raise _http_error(error) from None
        except TimeoutError:
            raise TransientError("aiWARE GraphQL updateTask timed out") from None
        except (urllib.error.URLError, ConnectionError) as error:
            raise TransientError(f"aiWARE GraphQL unreachable: {getattr(error, 'reason', error)}") from None
        try:
            answer = json.loads(raw)
        except ValueError:
            raise TransientError("aiWARE GraphQL answered with a body that is not JSON") from None
        _check(answer, record.taskId)


class _RefuseRedirects(urllib.request.HTTPRedirectHandler):
    """A redirect would carry the API key to wherever it points: it is answered as an error instead."""

    def redirect_request(self, *args: Any, **kwargs: Any) -> None:
        return None


@functools.cache
def _no_redirects() -> urllib.request.OpenerDirector:
    """Built on the first delivery: its HTTPS handler loads the CA store (~20 ms of a cold start)."""
    return urllib.request.build_opener(_RefuseRedirects)


def _http_error(error: urllib.error.HTTPError) -> TransientError | PermanentError:
    message = f"aiWARE GraphQL answered {error.code}"
    if 300 <= error.code < 400:
        return PermanentError(f"{message}, a redirect: not followed (the API key is sent to AIWARE_API_URL only)")
    if error.code in _TRANSIENT_STATUS:
        return TransientError(message)
    reasons: dict[int, TaskFailureReason] = {
        401: "api_authentication_error",
        403: "api_not_allowed",
        404: "api_not_found",
    }
    reason = reasons.get(error.code, "api_error")
    return PermanentError(message, reason)


def _check(answer: Any, task_id: str) -> None:
    if not isinstance(answer, dict):
        raise PermanentError("aiWARE GraphQL answered with something other than an object", "api_error")
    errors = answer.get("errors") or []
    if errors:
        text = "; ".join(_describe(e) for e in errors if isinstance(e, dict))[:1000] or str(errors)[:1000]
        folded = text.lower()
        if any(word in folded for word in _NOT_ALLOWED):
            raise PermanentError(f"aiWARE refused updateTask for {task_id} (not allowed): {text}", "api_not_allowed")
        if any(word in folded for word in _NOT_FOUND):
            raise PermanentError(f"aiWARE refused updateTask for {task_id} (not found): {text}", "api_not_found")
        if any(word in folded for word in _TRANSIENT_WORDS):
            raise TransientError(f"aiWARE updateTask for {task_id} failed for now: {text}")
        raise PermanentError(f"aiWARE refused updateTask for {task_id}: {text}", "api_error")
    data = answer.get("data")
    if not isinstance(data, dict) or not isinstance(data.get("updateTask"), dict):
        raise PermanentError(f"aiWARE answered updateTask for {task_id} without the task", "api_error")


def _describe(error: dict[str, Any]) -> str:
    extensions = error.get("extensions")
    code = extensions.get("code") if isinstance(extensions, dict) else None
    name = error.get("name")
    labels = " ".join(str(x) for x in (code, name) if x)
    return f"{labels}: {error.get('message', '')}" if labels else str(error.get("message", ""))
