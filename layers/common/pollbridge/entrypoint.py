"""Builds a Lambda handler: parse -> one use case -> reply, with logs, traces and metrics.

Both functions share this so that they log, trace and count in exactly the same way. It is the one
catch-all: whatever fails is logged with the task id, counted, and re-raised as a pollbridge error
(InvalidEventError for a bad event, InternalError chaining anything unexpected) so the invoker
retries what is worth retrying and the DLQ says what went wrong. How each error is counted and logged
is pollbridge.telemetry's table, shared with the webhook.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from pollbridge.core import Outcome, Ports
from pollbridge.errors import InternalError, InvalidEventError, PollbridgeError
from pollbridge.observability import logger, metrics, tracer
from pollbridge.telemetry import loggable, observe, report
from pollbridge.wiring import container_ports

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
            outcome = use_case(parsed, container_ports())
        except (InvalidEventError, PollbridgeError) as error:
            report(error)  # counted and logged as telemetry.ERROR_TABLE says; the invoker retries
            raise
        except Exception as error:
            report(error)
            raise InternalError(f"internal error: {type(error).__name__}: {error}") from error
        observe(outcome)
        return outcome.reply()

    return handler


def _claimed_task_id(event: Any) -> str | None:
    """The task id an event claims (not yet validated), so that even a rejection is searchable."""
    if not isinstance(event, dict):
        return None
    payload = event.get("taskPayload")
    claimed = payload.get("origTaskId") if isinstance(payload, dict) else None
    claimed = claimed or event.get("origTaskId") or event.get("taskId")
    return loggable(claimed[:512]) if isinstance(claimed, str) else None
