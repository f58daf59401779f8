"""What a job's state means for the task: pure functions over models, no I/O."""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Literal

from pollbridge.errors import PermanentError, TransientError
from pollbridge.models import MAX_POLLS, JobState, JobStatus, PollPayload, TaskFailureReason
from pollbridge.timing import PollFacts, PollPolicy, VendorHints, next_poll_time, next_submit_time

# A vendor that fails transiently (timeouts, 429, 5xx) or answers out of contract this many polls
# in a row is given up on: with the backoff that is about an hour and a half of trying.
MAX_CONSECUTIVE_VENDOR_ERRORS = 10

# Vendor error codes (docs/vendor-api.md) -> aiWARE TaskFailureReason; anything else is the vendor's
# own failure, external_error (aiWARE's reason for a failure on a third party's side).
_VENDOR_FAILURES: dict[str, TaskFailureReason] = {
    "unsupported_media": "invalid_data",
    "invalid_media": "invalid_data",
    "media_too_large": "invalid_data",
    "media_unreachable": "url_error",
    "rate_limited": "rate_limited",
    "unauthorized": "api_authentication_error",
    "forbidden": "api_not_allowed",
    "not_found": "api_not_found",
    "internal": "external_error",
}


# Precise polling (PRECISE_POLL_QUEUE_URL): SQS delays a message by at most 15 minutes; a poll further
# ahead is left to the scheduler alone. The schedule is set two minutes after the precise time, so the
# minute it fires in starts at least a minute after the hop's poll ran and deleted it: it fires only
# if the hop was lost (or that poll failed).
MAX_HOP_DELAY_S = 900
PRECISE_FALLBACK_MS = 120_000


def hop_delay_s(at_ms: int, now_ms: int) -> int | None:
    """Whole seconds from now to the poll's precise time when the delay queue can carry it (the
    poll then runs within a second after at_ms), else None: the scheduler alone."""
    delay = -(-(at_ms - now_ms) // 1000)  # rounded up: never before its time
    return delay if 1 <= delay <= MAX_HOP_DELAY_S else None


@dataclass(frozen=True)
class PollAgain:
    payload: PollPayload
    at_ms: int


@dataclass(frozen=True)
class FetchResult:
    pass


@dataclass(frozen=True)
class Finish:
    status: Literal["failed", "cancelled"]
    reason: TaskFailureReason | None = None
    message: str | None = None
    cancel_vendor_job: bool = False


type Decision = PollAgain | FetchResult | Finish


def vendor_failure_reason(code: str | None) -> TaskFailureReason:
    return _VENDOR_FAILURES.get(code or "", "external_error")


def capped_deadline(payload: PollPayload, task_timeout_ms: int) -> int:
    """The deadline a poll obeys: never later than origCallTimeUTC + the task timeout, even when a
    (validly signed) payload says otherwise."""
    return min(payload.deadlineUTC, payload.origCallTimeUTC + task_timeout_ms)


def first_poll_time(payload: PollPayload, now_ms: int, policy: PollPolicy) -> int:
    """When the first status poll of a job the vendor took at now_ms runs (poll 1 after the segment,
    or the poll after a deferred submit was taken: its wait counts from now, not from arrival)."""
    facts = replace(poll_facts(payload, first=True), started_ms=now_ms)
    return next_poll_time(now_ms, facts, policy)


def poll_facts(payload: PollPayload, *, transient_errors: int = 0, first: bool = False) -> PollFacts:
    """What the timing policy knows about the task, from its payload (first: the segment
    scheduling poll 1, before any poll ran). `previous` is what the vendor said on the poll at
    lastPollUTC, when it said anything (payload.next() forgets it, after_status remembers it)."""
    said = (payload.lastEtaUTC, payload.lastProgress, payload.lastQueued)
    previous = None
    if not first and any(value is not None for value in said):
        previous = VendorHints(
            eta_ms=payload.lastEtaUTC, progress=payload.lastProgress, queued=bool(payload.lastQueued)
        )
    return PollFacts(
        task_id=payload.origTaskId,
        poll_number=0 if first else payload.pollNumber,
        started_ms=payload.origCallTimeUTC,
        deadline_ms=payload.deadlineUTC,
        last_poll_ms=payload.lastPollUTC,
        media_ms=payload.mediaMs,
        max_lag_s=payload.maxLagS,
        transient_errors=transient_errors,
        previous=previous,
    )


def hints_of(state: JobState) -> VendorHints:
    queued = state.status in (JobStatus.QUEUED, JobStatus.PENDING)
    return VendorHints(eta_ms=state.estimated_completion_utc, progress=state.progress, queued=queued)


def remembered(next_payload: PollPayload, hints: VendorHints, now_ms: int) -> PollPayload:
    """The next poll's payload carrying what the vendor said on this one (at now_ms, which next()
    made its lastPollUTC), and the vendor's first ETA with when it was given (EtaAccuracy)."""
    update: dict[str, object] = {
        "lastEtaUTC": hints.eta_ms,
        "lastProgress": hints.progress,
        "lastQueued": True if hints.queued else None,
    }
    if hints.eta_ms is not None and next_payload.firstEtaUTC is None:
        update |= {"firstEtaUTC": hints.eta_ms, "firstEtaSeenUTC": now_ms}
    return next_payload.model_copy(update=update)


def eta_accuracy(payload: PollPayload, now_ms: int) -> float | None:
    """How the vendor's first ETA compared with the completion, for the EtaAccuracy metric: the time
    that ETA said was left over the time it really took, both from the poll that saw it (1: exact;
    2: twice too far, a cautious vendor; 0.5: twice too near). The completion lies between the
    previous poll and this one (now_ms, the poll that saw the job done): its midpoint is taken.
    None without an ETA, or when the first ETA had already passed when it was given."""
    eta, seen = payload.firstEtaUTC, payload.firstEtaSeenUTC
    if eta is None or seen is None or eta <= seen or now_ms <= seen:
        return None
    done = (max(payload.lastPollUTC or seen, seen) + now_ms) // 2
    return round((eta - seen) / max(done - seen, 1), 3)


def _timed_out(payload: PollPayload, now_ms: int) -> Finish | None:
    if payload.pollNumber >= MAX_POLLS:
        return Finish("failed", "other", f"task gave up after {payload.pollNumber} polls", cancel_vendor_job=True)
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
    hints = hints_of(state)
    return _timed_out(payload, now_ms) or PollAgain(
        remembered(payload.next(now_ms), hints, now_ms), next_poll_time(now_ms, poll_facts(payload), policy, hints)
    )


def after_transient_error(error: TransientError, payload: PollPayload, now_ms: int, policy: PollPolicy) -> Decision:
    """A transient error polls again later, within a budget of consecutive errors and the deadline."""
    errors = payload.transientErrors + 1
    if errors >= MAX_CONSECUTIVE_VENDOR_ERRORS:
        return Finish(
            "failed",
            "external_error",
            f"third-party job {payload.workId}: gave up after {errors} consecutive vendor errors; last: {error}",
            cancel_vendor_job=True,
        )
    facts = poll_facts(payload, transient_errors=errors)
    return _timed_out(payload, now_ms) or PollAgain(
        payload.next(now_ms, vendor_error=True),
        next_poll_time(now_ms, facts, policy, VendorHints(retry_after_s=error.retry_after_s)),
    )


def after_refused_submit(
    error: TransientError,
    payload: PollPayload,
    now_ms: int,
    policy: PollPolicy,
    *,
    first: bool = False,
    crowding: float = 1.0,
) -> PollAgain | Finish:
    """The vendor did not take a job for now (busy, over its quota, a transient fault), or its media
    could not be read for now: submit again later (timing.next_submit_time: backing off, spread, the
    longest-waiting first, honouring a finite Retry-After), until the task's deadline (no count of
    refusals fails it: a vendor at its quota is not broken).
    `first`: the segment itself was refused, and the retry is poll 1. `crowding`: how crowded the
    vendor's door looks from this container (admission.AdmissionWatch)."""
    refusals = payload.transientErrors + 1
    facts = poll_facts(payload, transient_errors=refusals)
    at = next_submit_time(now_ms, facts, policy, error.retry_after_s, crowding)
    if at >= payload.deadlineUTC or now_ms >= payload.deadlineUTC:
        return Finish(
            "failed",
            "external_error",
            f"the third party did not take the job before the task's deadline ({refusals} tries); last: {error}",
        )
    if first:
        retry = payload.model_copy(update={"transientErrors": min(refusals, MAX_POLLS), "lastPollUTC": now_ms})
        return PollAgain(retry, at)
    return PollAgain(payload.next(now_ms, vendor_error=True), at)


def after_permanent_error(error: PermanentError, payload: PollPayload, doing: str = "") -> Finish:
    """Every permanent failure inside a poll ends the task with a record, and stops the vendor job."""
    what = f" ({doing})" if doing else ""
    return Finish("failed", error.reason, f"third-party job {payload.workId}{what}: {error}", cancel_vendor_job=True)
