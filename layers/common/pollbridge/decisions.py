"""What a job's state means for the task: pure functions over models, no I/O."""

from __future__ import annotations

from dataclasses import dataclass

from pollbridge.errors import PermanentError, TransientError
from pollbridge.models import JobState, JobStatus, PollPayload, TaskFailureReason
from pollbridge.timing import PollPolicy, next_poll_time

# Vendor error codes (vendor-api.md) -> aiWARE TaskFailureReason; anything else is api_error.
_VENDOR_FAILURES: dict[str, TaskFailureReason] = {
    "unsupported_media": "invalid_data",
    "invalid_media": "invalid_data",
    "media_too_large": "invalid_data",
    "media_unreachable": "url_error",
    "rate_limited": "rate_limited",
    "unauthorized": "api_authentication_error",
    "forbidden": "api_not_allowed",
    "not_found": "api_not_found",
    "internal": "api_error",
}


@dataclass(frozen=True)
class PollAgain:
    payload: PollPayload
    at_ms: int


@dataclass(frozen=True)
class FetchResult:
    pass


@dataclass(frozen=True)
class Finish:
    status: str  # "failed" | "cancelled"
    reason: TaskFailureReason | None = None
    message: str | None = None
    cancel_vendor_job: bool = False


type Decision = PollAgain | FetchResult | Finish


def vendor_failure_reason(code: str | None) -> TaskFailureReason:
    return _VENDOR_FAILURES.get(code or "", "api_error")


def _timed_out(payload: PollPayload, now_ms: int) -> Finish | None:
    if now_ms < payload.deadlineUTC:
        return None
    return Finish(
        "failed",
        "other",
        f"task timed out: the third party did not finish job {payload.workId} "
        f"within the deadline (after {payload.pollNumber} polls)",
        cancel_vendor_job=True,
    )


def after_status(state: JobState, payload: PollPayload, now_ms: int, policy: PollPolicy) -> Decision:
    if state.status is JobStatus.COMPLETE:
        return FetchResult()
    if state.status is JobStatus.FAILED:
        reason = vendor_failure_reason(state.error_code)
        detail = state.error_message or "no reason given"
        code = f" ({state.error_code})" if state.error_code else ""
        return Finish("failed", reason, f"third-party job {payload.workId} failed{code}: {detail}")
    if state.status is JobStatus.CANCELED:
        return Finish("cancelled", message=f"third-party job {payload.workId} was canceled")
    return _timed_out(payload, now_ms) or PollAgain(
        payload.next(),
        next_poll_time(now_ms, payload.pollNumber, payload.deadlineUTC, policy, eta_ms=state.estimated_completion_utc),
    )


def after_transient_error(error: TransientError, payload: PollPayload, now_ms: int, policy: PollPolicy) -> Decision:
    """A transient error never fails the task; only the deadline does."""
    return _timed_out(payload, now_ms) or PollAgain(
        payload.next(transient_error=True),
        next_poll_time(now_ms, payload.pollNumber, payload.deadlineUTC, policy, retry_after_s=error.retry_after_s),
    )


def after_permanent_error(error: PermanentError, payload: PollPayload) -> Finish:
    return Finish("failed", error.reason, f"third-party job {payload.workId}: {error}")  # type: ignore[arg-type]
