"""What both entry points (the segment/poll handlers and the webhook) log and count, in one place.

`classify` is the one table from an error's type to its metrics, its log level, the HTTP status the
webhook answers and the aiWARE failure reason its plain-text body names; `observe` logs and counts a
use case's outcome; `delivery_failed` says what happens next when a result sink did not take a record.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal

from aws_lambda_powertools.metrics import MetricUnit, single_metric

from pollbridge.errors import (
    BodyTooLargeError,
    ConfigurationError,
    DeliveryError,
    ForgedPayloadError,
    InvalidEventError,
    PollbridgeError,
    TransientError,
    UnauthorizedError,
    UnsupportedMediaTypeError,
)
from pollbridge.observability import logger, metrics

if TYPE_CHECKING:
    from pollbridge.core import Outcome
    from pollbridge.models import TaskFailureReason

__all__ = [
    "ErrorClass",
    "classify",
    "count",
    "delivery_failed",
    "loggable",
    "observe",
    "report",
]


type LogLevel = Literal["warning", "error", "exception"]


@dataclass(frozen=True)
class ErrorClass:
    """How an error is reported: counted as `metrics`, logged at `level` with `message`, answered
    `http_status` by the webhook with the plain-text body `<reason>: <error>`."""

    metrics: tuple[str, ...]
    level: LogLevel
    message: str
    http_status: int
    reason: TaskFailureReason


# First match wins: subclasses before their bases.
ERROR_TABLE: tuple[tuple[type[BaseException], ErrorClass], ...] = (
    (
        UnauthorizedError,
        ErrorClass(
            ("UnauthorizedRequests",),
            "warning",
            "refused a caller without valid credentials; nothing was done",
            401,
            "api_authentication_error",
        ),
    ),
    (
        BodyTooLargeError,
        ErrorClass(
            ("InvalidEvents",),
            "warning",
            "refused a request over the size limit; nothing was done",
            413,
            "invalid_data",
        ),
    ),
    (
        ForgedPayloadError,
        ErrorClass(
            ("InvalidEvents", "RejectedPayloads"),
            "warning",
            "rejected a payload whose signature does not verify; nothing was done",
            403,
            "api_not_allowed",
        ),
    ),
    (
        UnsupportedMediaTypeError,
        ErrorClass(
            ("InvalidEvents",), "warning", "refused a body that is not a form; nothing was done", 415, "invalid_data"
        ),
    ),
    (
        InvalidEventError,
        ErrorClass(("InvalidEvents",), "warning", "rejected an invalid event; nothing was done", 400, "invalid_data"),
    ),
    (
        DeliveryError,
        ErrorClass(
            ("FailedInvocations",),
            "error",
            "result not delivered to every sink; the record is written",
            503,
            "internal_error",
        ),
    ),
    (
        ConfigurationError,
        ErrorClass(("FailedInvocations",), "error", "not configured; nothing was done", 503, "system_error"),
    ),
    (
        TransientError,
        ErrorClass(
            ("FailedInvocations",), "exception", "transient failure; the invoker will retry", 503, "internal_error"
        ),
    ),
    (
        PollbridgeError,
        ErrorClass(
            ("FailedInvocations",), "exception", "task step failed; the invoker will retry", 503, "internal_error"
        ),
    ),
    (
        Exception,
        ErrorClass(
            ("FailedInvocations",), "exception", "unexpected error; the invoker will retry", 500, "internal_error"
        ),
    ),
)


def classify(error: BaseException) -> ErrorClass:
    return next(kind for cause, kind in ERROR_TABLE if isinstance(error, cause))


def report(error: BaseException) -> ErrorClass:
    """Count and log an error as the table says (a DeliveryError also per sink); returns its class."""
    kind = classify(error)
    if isinstance(error, DeliveryError):
        delivery_failed(error)
        return kind
    for name in kind.metrics:
        count(name)
    extra = {"errorType": type(error).__name__, "error": loggable(str(error))}
    if kind.level == "exception":
        logger.exception(kind.message, extra=extra)
    elif kind.level == "error":
        logger.error(kind.message, extra=extra)
    else:
        logger.warning(kind.message, extra=extra)
    return kind


def loggable(text: str) -> str:
    """Text a JSON log line can carry (a lone surrogate would make Powertools drop the line)."""
    return text.encode("utf-8", "backslashreplace").decode("utf-8")


def count(name: str, value: float = 1, unit: MetricUnit = MetricUnit.Count) -> None:
    metrics.add_metric(name=name, unit=unit, value=value)


def delivery_failed(error: DeliveryError) -> None:
    """A result sink did not take a written record: say clearly what happens next, per sink."""
    count("FailedInvocations")
    for sink in error.failures:
        with single_metric(name="ResultDeliveryFailures", unit=MetricUnit.Count, value=1) as by_sink:
            by_sink.add_dimension(name="service", value=logger.service)
            by_sink.add_dimension(name="sink", value=sink)
    permanent = error.permanent
    transient = [sink for sink in error.failures if sink not in permanent]
    logger.error(
        "result not delivered to every sink; the record is written and the poll's schedule kept",
        extra={
            "sinksRefused": permanent,  # not allowed / not found: every retry fails alike -> dead-letter queue
            "sinksToRetry": transient,  # network, 5xx, 429: the retry delivers them (and only them)
            "next": (
                "refused for good: Lambda's retries will fail the same way and the event lands in the "
                "dead-letter queue; fix the sink's permissions or target, then redrive"
                if permanent
                else "the invocation is retried and delivers only the sinks that had not succeeded"
            ),
            "error": str(error),
        },
    )


def observe(outcome: Outcome) -> None:
    """Log and count what a use case did (one line per invocation, searchable by origTaskId)."""
    details: dict[str, object] = {
        "outcome": outcome.kind,
        "pollNumber": outcome.poll_number,
        "repeated": outcome.repeated,
    }
    if outcome.kind == "stale":
        count("StalePolls")
        logger.info("stale poll dropped: it was already handled", extra=details)
        return
    if outcome.repeated:
        count("DuplicateDeliveries")
    if outcome.submit_deferred and not outcome.repeated:
        count("SubmitsDeferred")
    if outcome.admitted_after_ms is not None:
        count("SubmitDelaySeconds", outcome.admitted_after_ms / 1000, MetricUnit.Seconds)
        details["admittedAfterMs"] = outcome.admitted_after_ms
    if outcome.kind == "scheduled":
        payload = getattr(outcome.response, "taskPayload", None)
        details["nextPollTimeUTC"] = getattr(outcome.response, "nextPollTimeUTC", None)
        details["submitDeferred"] = outcome.submit_deferred
        if not outcome.repeated:
            count("TasksStarted" if outcome.poll_number == 1 else "PollsScheduled")
        if payload is not None and payload.transientErrors:
            count("TransientErrors")
        if outcome.hopped is not None:  # precise polling: the hop sent, or left to the schedule
            count("PreciseHops" if outcome.hopped else "PreciseHopsFailed")
            details["hopped"] = outcome.hopped
        logger.info("poll scheduled", extra=details)
        return
    record = outcome.record
    if record is not None:
        details |= {"status": record.status, "polls": record.polls, "failureReason": record.failureReason}
        if record.chunk is not None:
            details["chunk"] = record.chunk
    if not outcome.repeated:
        count({"complete": "TasksCompleted", "failed": "TasksFailed", "cancelled": "TasksCancelled"}[outcome.kind])
        if record is not None:
            count("PollsPerTask", record.polls)
        if record is not None and record.failureReason:
            # Its own EMF blob: a dimension on the shared Metrics would apply to every metric.
            with single_metric(name="TasksFailedByReason", unit=MetricUnit.Count, value=1) as by_reason:
                by_reason.add_dimension(name="service", value=logger.service)
                by_reason.add_dimension(name="failureReason", value=record.failureReason)
        if outcome.detection_lag_ms is not None:
            count("DetectionLagSeconds", outcome.detection_lag_ms / 1000, MetricUnit.Seconds)
        if outcome.eta_accuracy is not None:
            # The time the vendor's first ETA said was left over the time the job took: 1 exact,
            # 2 twice too far (a cautious vendor), 0.5 twice too near (decisions.eta_accuracy).
            count("EtaAccuracy", outcome.eta_accuracy, MetricUnit.NoUnit)
            details["etaAccuracy"] = outcome.eta_accuracy
    logger.info("task finished", extra=details)
