"""Builds a Lambda handler: parse -> one use case -> reply, with logs, traces and metrics.

Both functions share this so that they log, trace and count in exactly the same way. It is the one
catch-all: whatever fails is logged with the task id, counted, and re-raised as a pollbridge error
(InvalidEventError for a bad event, InternalError chaining anything unexpected) so the invoker
retries what is worth retrying and the DLQ says what went wrong.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from aws_lambda_powertools.metrics import MetricUnit, single_metric

from pollbridge.core import Outcome, Ports
from pollbridge.errors import DeliveryError, ForgedPayloadError, InternalError, InvalidEventError, PollbridgeError
from pollbridge.observability import logger, metrics, tracer
from pollbridge.wiring import ports

if TYPE_CHECKING:
    from aws_lambda_powertools.utilities.typing import LambdaContext

type Handler = Callable[[Any, LambdaContext], dict[str, object]]

__all__ = ["Handler", "InternalError", "lambda_handler"]


def lambda_handler[E](
    parse: Callable[[Any], E],
    use_case: Callable[[E, Ports], Outcome],
    correlation_id: Callable[[E], str],
) -> Handler:
    @metrics.log_metrics
    @tracer.capture_lambda_handler(capture_response=False)
    @logger.inject_lambda_context(clear_state=True)
    def handler(event: Any, context: LambdaContext) -> dict[str, object]:
        logger.set_correlation_id(_claimed_task_id(event))  # until the event is validated: what it claims
        try:
            parsed = parse(event)
            task_id = correlation_id(parsed)
            logger.set_correlation_id(task_id)
            tracer.put_annotation(key="origTaskId", value=task_id)
            outcome = use_case(parsed, ports())
        except InvalidEventError as error:
            _count("InvalidEvents")
            if isinstance(error, ForgedPayloadError):
                _count("RejectedPayloads")
            logger.warning("rejected an invalid event; nothing was done", extra={"error": _loggable(str(error))})
            raise
        except DeliveryError as error:
            delivery_failed(error)
            raise
        except PollbridgeError as error:
            _count("FailedInvocations")
            logger.exception(
                "task step failed; the invoker will retry",
                extra={"errorType": type(error).__name__, "error": _loggable(str(error))},
            )
            raise
        except Exception as error:
            _count("FailedInvocations")
            logger.exception(
                "unexpected error; the invoker will retry",
                extra={"errorType": type(error).__name__, "error": _loggable(str(error))},
            )
            raise InternalError(f"internal error: {type(error).__name__}: {error}") from error
        _observe(outcome)
        return outcome.reply()

    return handler


def _claimed_task_id(event: Any) -> str | None:
    """The task id an event claims (not yet validated), so that even a rejection is searchable."""
    if not isinstance(event, dict):
        return None
    payload = event.get("taskPayload")
    claimed = payload.get("origTaskId") if isinstance(payload, dict) else None
    claimed = claimed or event.get("origTaskId") or event.get("taskId")
    return _loggable(claimed[:512]) if isinstance(claimed, str) else None


def _loggable(text: str) -> str:
    """Text a JSON log line can carry (a lone surrogate would make Powertools drop the line)."""
    return text.encode("utf-8", "backslashreplace").decode("utf-8")


def delivery_failed(error: DeliveryError) -> None:
    """A result sink did not take a written record: say clearly what happens next, per sink."""
    _count("FailedInvocations")
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


def _count(name: str, value: float = 1, unit: MetricUnit = MetricUnit.Count) -> None:
    metrics.add_metric(name=name, unit=unit, value=value)


def _observe(outcome: Outcome) -> None:
    details: dict[str, object] = {
        "outcome": outcome.kind,
        "pollNumber": outcome.poll_number,
        "repeated": outcome.repeated,
    }
    if outcome.kind == "stale":
        _count("StalePolls")
        logger.info("stale poll dropped: it was already handled", extra=details)
        return
    if outcome.repeated:
        _count("DuplicateDeliveries")
    if outcome.kind == "scheduled":
        payload = getattr(outcome.response, "taskPayload", None)
        details["nextPollTimeUTC"] = getattr(outcome.response, "nextPollTimeUTC", None)
        if not outcome.repeated:
            _count("TasksStarted" if outcome.poll_number == 1 else "PollsScheduled")
        if payload is not None and payload.transientErrors:
            _count("TransientErrors")
        logger.info("poll scheduled", extra=details)
        return
    record = outcome.record
    if record is not None:
        details |= {"status": record.status, "polls": record.polls, "failureReason": record.failureReason}
    if not outcome.repeated:
        _count({"complete": "TasksCompleted", "failed": "TasksFailed", "cancelled": "TasksCancelled"}[outcome.kind])
        if record is not None:
            _count("PollsPerTask", record.polls)
        if record is not None and record.failureReason:
            # Its own EMF blob: a dimension on the shared Metrics would apply to every metric.
            with single_metric(name="TasksFailedByReason", unit=MetricUnit.Count, value=1) as by_reason:
                by_reason.add_dimension(name="service", value=logger.service)
                by_reason.add_dimension(name="failureReason", value=record.failureReason)
        if outcome.detection_lag_ms is not None:
            _count("DetectionLagSeconds", outcome.detection_lag_ms / 1000, MetricUnit.Seconds)
    logger.info("task finished", extra=details)
