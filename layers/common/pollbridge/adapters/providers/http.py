"""The generic `http` provider: the reference vendor job API v1 (docs/vendor-api.md), over urllib3.

urllib3 rather than urllib.request: botocore already loads it, its pool keeps the connection to the
vendor open across a segment's two calls (one TLS handshake, not two), it drops the Authorization
header on a redirect to another host (urllib.request forwards it), and it builds no SSL context for
a plain-http vendor (urllib.request's opener loads the CA store on its first call, ~20 ms of a cold
start: BENCHMARKS.md). How connections are kept, redirected and read: adapters/vendor_transport.py.
"""

from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Callable, Mapping
from datetime import datetime
from typing import Annotated, Any
from urllib.parse import quote, urlsplit

from pydantic import BaseModel, ConfigDict, Field, StrictBool, StringConstraints, ValidationError

from pollbridge import clock
from pollbridge.adapters import vendor_transport
from pollbridge.adapters.http_policy import is_transient, retry_after_s
from pollbridge.adapters.providers.reference_result import NotJsonError, TimedWord, TranscriptResult, result_to_vtn
from pollbridge.errors import InvalidEventError, PermanentError, TransientError
from pollbridge.models import JobState, JobStatus, TaskFailureReason, VtnDocument
from pollbridge.models.common import MAX_EPOCH_MS, looks_like_credential
from pollbridge.models.parsing import describe
from pollbridge.observability import tracer  # the functions' (lazy) tracer: vendor calls are subsegments
from pollbridge.ports import Media, ResultContext

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


class ReferenceJobOptions(BaseModel):
    """The job options the reference vendor API declares (docs/vendor-api.md); nothing else passes."""

    model_config = ConfigDict(extra="forbid", frozen=True, defer_build=True)

    language: Annotated[str, StringConstraints(pattern=r"^[A-Za-z]{2,3}(-[A-Za-z0-9]{1,8}){0,3}$")] | None = None
    diarize: StrictBool | None = None
    vocabulary: list[Annotated[str, StringConstraints(min_length=1, max_length=100)]] | None = Field(
        default=None, max_length=100
    )


_PERMANENT_REASONS: dict[int, TaskFailureReason] = {
    400: "invalid_data",
    401: "api_authentication_error",
    403: "api_not_allowed",
    404: "api_not_found",
    409: "api_error",
    413: "invalid_data",
}


class HttpJobProvider:
    name = "http"

    def __init__(
        self,
        base_url: str,
        api_key: str | None,
        timeout_s: float = 10.0,
        submit_attempts: int = 3,
        extra_options: tuple[str, ...] = (),
    ) -> None:
        self._base = base_url.rstrip("/")
        self._api_key = api_key
        self._timeout_s = timeout_s
        self._submit_attempts = submit_attempts
        self._extra_options = tuple(name for name in extra_options if not looks_like_credential(name))

    @property
    def option_names(self) -> frozenset[str]:
        return frozenset((*ReferenceJobOptions.model_fields, *self._extra_options))

    def options(self, engine_config: Mapping[str, Any]) -> dict[str, Any]:
        """The reference API's options, plus the extra ones the deployment declares
        (PROVIDER_EXTRA_OPTIONS) unless their names look like credentials."""
        extra = {k: v for k, v in engine_config.items() if k in self._extra_options}
        declared = {k: v for k, v in engine_config.items() if k not in extra}
        problems = []
        for name in declared:
            if name not in ReferenceJobOptions.model_fields:
                credential = looks_like_credential(name)
                why = "looks like a credential and is never forwarded" if credential else "is not an option"
                known = ", ".join(sorted([*ReferenceJobOptions.model_fields, *self._extra_options]))
                problems.append(f"taskPayload.{name}: {why} of provider {self.name} (known: {known})")
        if not problems:
            try:
                checked = ReferenceJobOptions.model_validate(declared).model_dump(exclude_none=True)
            except ValidationError as exc:
                problems.append(describe(exc, "taskPayload"))
        if problems:
            raise InvalidEventError(f"invalid media_chunk: {'; '.join(problems)}")
        return {**checked, **extra}

    @tracer.capture_method(capture_response=False)
    def submit(self, media: Media, options: dict[str, Any], idempotency_key: str, staged: str | None = None) -> str:
        """A blip (a timeout, a 5xx) is retried briefly in place; a refusal (429: the vendor at its
        quota or rate) is not: it is the scheduler's to bring back (core's admission), and asking
        again at once only spends the vendor's rate. The vendor's Idempotency-Key makes every retry,
        and every redelivery of the segment, find the same upload and job instead of starting another.
        A job not started says where its upload is (`staged`, unless its url could carry a credential):
        the next submit starts from it; should the vendor not take it (a 4xx), the media is uploaded
        again, once, under a key of its own (the first upload's key would be answered with the upload
        the vendor no longer has, for as long as it remembers the key)."""
        upload_key = f"{idempotency_key}-upload"
        if staged is not None:
            try:
                return self._start(staged, media.media_type, options, idempotency_key)
            except PermanentError:  # the upload is gone, or was never this vendor's to keep: send it again
                upload_key += "-" + hashlib.sha256(staged.encode()).hexdigest()[:16]
        upload = self._with_retries(lambda: self._call("POST", "/v1/uploads", media.body, media.media_type, upload_key))
        if not isinstance(upload, dict) or not isinstance(upload.get("url"), str):
            raise PermanentError("vendor accepted the upload but returned no url", "api_error")
        return self._start(upload["url"], media.media_type, options, idempotency_key)

    def _start(self, media_url: str, media_type: str, options: dict[str, Any], idempotency_key: str) -> str:
        """POST /v1/jobs from an upload; a job not started (refused, or a blip) names the upload for
        the next submit, unless its url has what could be a credential (a query, as a presigned url
        has, a user or password) or a fragment."""
        request = json.dumps({"mediaUrl": media_url, "mediaType": media_type, "options": options}).encode()
        try:
            job = self._with_retries(
                lambda: self._call("POST", "/v1/jobs", request, idempotency_key=f"{idempotency_key}-job")
            )
        except TransientError as error:
            parts = urlsplit(media_url)
            if not (parts.query or parts.fragment or parts.username or parts.password):
                error.staged = media_url
            raise
        work_id = job.get("id") if isinstance(job, dict) else None
        if not isinstance(work_id, str | int) or not str(work_id):
            raise PermanentError("vendor created a job but returned no id", "api_error")
        return str(work_id)

    def _with_retries(self, call: Callable[[], Any]) -> Any:
        for attempt in range(1, self._submit_attempts + 1):
            try:
                return call()
            except TransientError as error:
                if attempt == self._submit_attempts or error.refusal:
                    raise
                clock.sleep(min(error.retry_after_s or 0.2 * 2**attempt, 1.0))  # a Lambda must not idle long
        raise AssertionError("unreachable")

    @tracer.capture_method(capture_response=False)
    def status(self, work_id: str) -> JobState:
        body = self._call("GET", f"/v1/jobs/{quote(work_id, safe='')}")
        if not isinstance(body, dict):  # out of contract: counted against the task's error budget
            raise TransientError(f"vendor answered the status of {work_id} with a {type(body).__name__}, not an object")
        status = _STATUSES.get(str(body.get("status", "")).lower())
        if status is None:
            raise TransientError(f"vendor returned an unknown status {str(body.get('status'))[:100]!r}")
        raw_error = body.get("error")
        error: dict[str, Any] = raw_error if isinstance(raw_error, dict) else {}
        try:
            return JobState(
                status=status,
                progress=_fraction(body.get("progress")),
                estimated_completion_utc=_epoch_ms(body.get("estimatedCompletionAt")),
                error_code=_text(error.get("code")),
                error_message=_text(error.get("message")),
            )
        except ValidationError as error:
            raise TransientError(f"vendor returned a malformed status for {work_id}: {error}") from None

    @tracer.capture_method(capture_response=False)
    def result(self, work_id: str, context: ResultContext) -> VtnDocument:
        """The vendor's words as a vtn-standard transcript, converted by reference_result.result_to_vtn while
        the body is parsed (the words are never held twice: see result_to_vtn)."""
        path = f"/v1/jobs/{quote(work_id, safe='')}/result"
        try:
            return result_to_vtn(self._send("GET", path) or b"{}", context)
        except NotJsonError:
            raise TransientError(f"vendor GET {path} returned a body that is not JSON") from None
        except ValueError as error:
            raise PermanentError(f"vendor returned a malformed result for {work_id}: {error}", "api_error") from None

    def transcript(self, work_id: str) -> TranscriptResult:
        """The vendor's result as it answered it (GET /v1/jobs/{id}/result), as models: for tests and
        tools; a poll converts the result with `result`, which holds far less."""
        body = self._call("GET", f"/v1/jobs/{quote(work_id, safe='')}/result")
        if not isinstance(body, dict):
            raise PermanentError(f"vendor returned a result for {work_id} that is not an object", "api_error")
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

    def _call(
        self,
        method: str,
        path: str,
        body: bytes | None = None,
        content_type: str = "application/json",
        idempotency_key: str | None = None,
    ) -> Any:
        raw = self._send(method, path, body, content_type, idempotency_key)
        if not raw:
            return {}
        try:
            return json.loads(raw)
        except (ValueError, RecursionError):  # not JSON, or nested past what the parser takes
            raise TransientError(f"vendor {method} {path} returned a body that is not JSON") from None

    def _send(
        self,
        method: str,
        path: str,
        body: bytes | None = None,
        content_type: str = "application/json",
        idempotency_key: str | None = None,
    ) -> bytes:
        """The vendor's answer to a request, as sent (a 2xx), else its TransientError / PermanentError."""
        headers = {"Accept": "application/json"}
        if idempotency_key is not None:
            headers["Idempotency-Key"] = idempotency_key
        if body is not None:
            headers["Content-Type"] = content_type
        if self._api_key:
            headers["Authorization"] = f"Bearer {self._api_key}"
        limit = vendor_transport.MAX_RESULT_BYTES if path.endswith("/result") else vendor_transport.MAX_ANSWER_BYTES
        status, raw, retry_after = vendor_transport.connections(self._base.startswith("https:")).send(
            method, self._base + path, path, body, headers, self._timeout_s, limit
        )
        if not 200 <= status < 300:
            raise _classify(method, path, status, raw, retry_after)
        return raw


def _classify(
    method: str, path: str, status: int, body: bytes, retry_after: str | None
) -> TransientError | PermanentError:
    detail = ""
    try:
        payload = json.loads(body or b"{}").get("error") or {}
        detail = f" {payload.get('code', '')}: {payload.get('message', '')}".rstrip(": ")[:1000]
    except (ValueError, AttributeError, RecursionError):
        pass
    message = f"vendor {method} {path} answered {status}{detail}"
    if is_transient(status):
        return TransientError(message, retry_after_s=retry_after_s(retry_after), refusal=status == 429)
    return PermanentError(message, _PERMANENT_REASONS.get(status, "api_error"))


def _fraction(progress: Any) -> float | None:
    """The API says 0..1; vendors also send percentages (55) — read those as 0.55, drop the rest."""
    if isinstance(progress, bool) or not isinstance(progress, int | float) or not math.isfinite(progress):
        return None
    if 0 <= progress <= 1:
        return float(progress)
    if 1 < progress <= 100:
        return progress / 100
    return None


def _text(value: Any) -> str | None:
    return None if value is None else str(value)[:1000]


def _epoch_ms(iso: Any) -> int | None:
    if not isinstance(iso, str):
        return None
    try:
        epoch_ms = int(datetime.fromisoformat(iso.replace("Z", "+00:00")).timestamp() * 1000)
    except (ValueError, OverflowError):
        return None
    return epoch_ms if 0 <= epoch_ms <= MAX_EPOCH_MS else None
