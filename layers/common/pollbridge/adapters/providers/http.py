"""The generic `http` provider: the reference vendor job API v1 (vendor-api.md), over urllib."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from collections.abc import Callable
from datetime import datetime
from typing import Any
from urllib.parse import quote

from aws_lambda_powertools import Tracer
from pydantic import ValidationError

from pollbridge import clock
from pollbridge.errors import PermanentError, TransientError
from pollbridge.models import JobState, JobStatus, TimedWord, TranscriptResult
from pollbridge.ports import Media

tracer = Tracer()  # Powertools' Tracer is shared: this is the functions' tracer, without their metrics

_STATUSES = {
    "queued": JobStatus.QUEUED,
    "pending": JobStatus.PENDING,
    "processing": JobStatus.RUNNING,
    "running": JobStatus.RUNNING,
    "completed": JobStatus.COMPLETE,
    "failed": JobStatus.FAILED,
    "canceled": JobStatus.CANCELED,
    "cancelled": JobStatus.CANCELED,
}
_TRANSIENT = {429, 500, 502, 503, 504}
_PERMANENT_REASONS = {
    400: "invalid_data",
    401: "api_authentication_error",
    403: "api_not_allowed",
    404: "api_not_found",
    409: "api_error",
    413: "invalid_data",
}


class HttpJobProvider:
    name = "http"

    def __init__(self, base_url: str, api_key: str | None, timeout_s: float = 10.0, submit_attempts: int = 3) -> None:
        self._base = base_url.rstrip("/")
        self._api_key = api_key
        self._timeout_s = timeout_s
        self._submit_attempts = submit_attempts

    @tracer.capture_method(capture_response=False)
    def submit(self, media: Media, options: dict[str, Any]) -> str:
        """Retried briefly in place: a segment has no schedule to fall back on yet. A poll never
        retries in place; it just polls again later."""
        upload = self._with_retries(lambda: self._call("POST", "/v1/uploads", media.body, media.media_type))
        request = json.dumps({"mediaUrl": upload["url"], "mediaType": media.media_type, "options": options}).encode()
        job = self._with_retries(lambda: self._call("POST", "/v1/jobs", request))
        try:
            return str(job["id"])
        except (KeyError, TypeError):
            raise PermanentError("vendor created a job but returned no id", "api_error") from None

    def _with_retries(self, call: Callable[[], Any]) -> Any:
        for attempt in range(1, self._submit_attempts + 1):
            try:
                return call()
            except TransientError as error:
                if attempt == self._submit_attempts:
                    raise
                clock.sleep(min(error.retry_after_s or 0.2 * 2**attempt, 1.0))  # a Lambda must not idle long
        raise AssertionError("unreachable")

    @tracer.capture_method(capture_response=False)
    def status(self, work_id: str) -> JobState:
        body = self._call("GET", f"/v1/jobs/{quote(work_id, safe='')}")
        status = _STATUSES.get(str(body.get("status", "")).lower())
        if status is None:
            raise TransientError(f"vendor returned an unknown status {body.get('status')!r}")
        try:
            error = body.get("error") or {}
            return JobState(
                status=status,
                progress=body.get("progress"),
                estimated_completion_utc=_epoch_ms(body.get("estimatedCompletionAt")),
                error_code=error.get("code"),
                error_message=error.get("message"),
            )
        except (AttributeError, ValidationError) as error:
            raise PermanentError(f"vendor returned a malformed status for {work_id}: {error}", "api_error") from None

    @tracer.capture_method(capture_response=False)
    def result(self, work_id: str) -> TranscriptResult:
        body = self._call("GET", f"/v1/jobs/{quote(work_id, safe='')}/result")
        try:
            words = [
                TimedWord(text=w["text"], start_ms=w["startMs"], end_ms=w["endMs"], confidence=w.get("confidence"))
                for w in body.get("words", [])
            ]
            return TranscriptResult(language=body.get("language"), duration_ms=body.get("durationMs"), words=words)
        except (KeyError, TypeError, AttributeError, ValidationError) as error:
            raise PermanentError(f"vendor returned a malformed result for {work_id}: {error}", "api_error") from None

    @tracer.capture_method(capture_response=False)
    def cancel(self, work_id: str) -> None:
        self._call("DELETE", f"/v1/jobs/{quote(work_id, safe='')}")

    def _call(self, method: str, path: str, body: bytes | None = None, content_type: str = "application/json") -> Any:
        request = urllib.request.Request(self._base + path, data=body, method=method)  # noqa: S310 - URL is validated
        request.add_header("Accept", "application/json")
        if body is not None:
            request.add_header("Content-Type", content_type)
        if self._api_key:
            request.add_header("Authorization", f"Bearer {self._api_key}")
        try:
            with urllib.request.urlopen(request, timeout=self._timeout_s) as response:  # noqa: S310 (URL from settings)
                raw = response.read()
        except urllib.error.HTTPError as error:
            raise _classify(method, path, error) from None
        except TimeoutError:
            raise TransientError(f"vendor {method} {path} timed out") from None
        except (urllib.error.URLError, ConnectionError) as error:
            raise TransientError(f"vendor {method} {path} unreachable: {getattr(error, 'reason', error)}") from None
        if not raw:
            return {}
        try:
            return json.loads(raw)
        except ValueError:
            raise TransientError(f"vendor {method} {path} returned a body that is not JSON") from None


def _classify(method: str, path: str, error: urllib.error.HTTPError) -> TransientError | PermanentError:
    detail = ""
    try:
        payload = json.loads(error.read() or b"{}").get("error") or {}
        detail = f" {payload.get('code', '')}: {payload.get('message', '')}".rstrip(": ")
    except (ValueError, AttributeError):
        pass
    message = f"vendor {method} {path} answered {error.code}{detail}"
    if error.code in _TRANSIENT:
        return TransientError(message, retry_after_s=_retry_after(error.headers.get("Retry-After")))
    return PermanentError(message, _PERMANENT_REASONS.get(error.code, "api_error"))


def _retry_after(value: str | None) -> float | None:
    try:
        return max(float(value), 0.0) if value else None
    except ValueError:
        return None


def _epoch_ms(iso: Any) -> int | None:
    if not isinstance(iso, str):
        return None
    try:
        return int(datetime.fromisoformat(iso.replace("Z", "+00:00")).timestamp() * 1000)
    except ValueError:
        return None
