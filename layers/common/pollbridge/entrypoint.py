"""Builds a Lambda handler: parse -> one use case -> reply, with logs, traces and metrics.

Both functions share this so that they log, trace and count in exactly the same way.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.typing import LambdaContext

from pollbridge.core import Outcome, Ports
from pollbridge.errors import InvalidEventError, PollbridgeError
from pollbridge.observability import logger, metrics, tracer
from pollbridge.wiring import ports

type Handler = Callable[[Any, LambdaContext], dict[str, object]]


class InternalError(PollbridgeError):
    """An unexpected failure inside pollbridge; the original exception is chained."""


def lambda_handler[E](
    parse: Callable[[Any], E],
    use_case: Callable[[E, Ports], Outcome],
    correlation_id: Callable[[E], str],
) -> Handler:
    @metrics.log_metrics
    @tracer.capture_lambda_handler(capture_response=False)
    @logger.inject_lambda_context(clear_state=True)
    def handler(event: Any, context: LambdaContext) -> dict[str, object]:
        try:
            parsed = parse(event)
        except InvalidEventError as error:
            metrics.add_metric(name="InvalidEvents", unit=MetricUnit.Count, value=1)
            logger.warning("rejected an invalid event", extra={"error": str(error)})
            raise
        task_id = correlation_id(parsed)
        logger.set_correlation_id(task_id)
        tracer.put_annotation(key="origTaskId", value=task_id)
        try:
            outcome = use_case(parsed, ports())
        except PollbridgeError:
            metrics.add_metric(name="FailedInvocations", unit=MetricUnit.Count, value=1)
            logger.exception("task step failed; the invoker will retry")
            raise
        except (KeyError, TypeError, AttributeError, IndexError) as error:
            metrics.add_metric(name="FailedInvocations", unit=MetricUnit.Count, value=1)
            logger.exception("unexpected internal error")
            raise InternalError(f"internal error: {type(error).__name__}: {error}") from error
        _observe(outcome)
        return outcome.reply()

    return handler


def _observe(outcome: Outcome) -> None:
    details: dict[str, object] = {
        "outcome": outcome.kind,
        "pollNumber": outcome.poll_number,
        "repeated": outcome.repeated,
    }
    if outcome.repeated:
        metrics.add_metric(name="DuplicateDeliveries", unit=MetricUnit.Count, value=1)
    if outcome.kind == "scheduled":
        payload = getattr(outcome.response, "taskPayload", None)
        details["nextPollTimeUTC"] = getattr(outcome.response, "nextPollTimeUTC", None)
        if not outcome.repeated:
            first = outcome.poll_number == 1
            metrics.add_metric(name="TasksStarted" if first else "PollsScheduled", unit=MetricUnit.Count, value=1)
        if payload is not None and payload.transientErrors:
            metrics.add_metric(name="TransientErrors", unit=MetricUnit.Count, value=1)
        logger.info("poll scheduled", extra=details)
        return
    record = outcome.record
    if record is not None:
        details |= {"status": record.status, "polls": record.polls, "failureReason": record.failureReason}
    if not outcome.repeated:
        name = {"complete": "TasksCompleted", "failed": "TasksFailed", "cancelled": "TasksCancelled"}[outcome.kind]
        metrics.add_metric(name=name, unit=MetricUnit.Count, value=1)
        if record is not None:
            metrics.add_metric(name="PollsPerTask", unit=MetricUnit.Count, value=record.polls)
    logger.info("task finished", extra=details)
