"""EventBridge Scheduler: one one-time schedule per poll, named by its unit of work (a task's chunk,
naming.unit_key) and poll number.

Schedules are kept after they fire (ActionAfterCompletion NONE). Once poll n+1's schedule exists,
poll n *retires* its own: it is set DISABLED, not deleted, so its name stays taken until the task's
clean-up deletes every name 1..n+1. An ENABLED schedule says "this poll has not been handled yet";
a disabled one says it was (a late or repeated delivery is stale), and since no name is ever free
while the task runs, no delivery can create a poll a second time (no fork), and schedule 1 tells a
repeated segment that its unit started, whichever poll the chain has reached.

The loop reads only by name (GetSchedule, strongly consistent) and learns of a concurrent duplicate
from CreateSchedule's name conflict; it never lists. AWS promises nothing about when ListSchedules
catches up, so a listing serves operators only (`pending`, for `ops`).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError
from pydantic import ValidationError

from pollbridge.errors import PermanentError, TransientError
from pollbridge.models import PollPayload
from pollbridge.naming import schedule_name, schedule_prefix
from pollbridge.ports import ScheduledPoll

# Filled in by the scheduler on each delivery; the poll function logs them (attempt, lateness).
SCHEDULER_CONTEXT = {
    "scheduleArn": "<aws.scheduler.schedule-arn>",
    "scheduledTime": "<aws.scheduler.scheduled-time>",
    "executionId": "<aws.scheduler.execution-id>",
    "attemptNumber": "<aws.scheduler.attempt-number>",
}
MAX_INPUT_BYTES = 256 * 1024  # Scheduler's limit for Target.Input
# Worth another try (the invocation fails and Lambda retries it); any other error code is permanent.
_TRANSIENT_CODES = frozenset(
    {"ThrottlingException", "InternalServerException", "ServiceQuotaExceededException", "ServiceUnavailable"}
)


@dataclass(frozen=True)
class SchedulerTarget:
    function_arn: str
    role_arn: str
    dead_letter_arn: str
    max_event_age_s: int = 3600
    max_retries: int = 10


def schedule_expression(at_ms: int) -> str:
    """EventBridge Scheduler's one-time expression, in UTC, to the second `at_ms` falls in. The
    scheduler honours only the minute (it fires anywhere within it), and rounding down to the second
    never leaves the minute: at_ms 10:01:59.400 is at(10:01:59), not at(10:02:00), a minute later.
    The timing policy's times are whole seconds, but for its least one (exactly a minute after now)."""
    return f"at({datetime.fromtimestamp(at_ms // 1000, UTC).strftime('%Y-%m-%dT%H:%M:%S')})"


def parse_schedule_expression(expression: str) -> int:
    """Inverse of schedule_expression (epoch ms, whole seconds); raises ValueError on anything else."""
    if not (expression.startswith("at(") and expression.endswith(")")):
        raise ValueError(f"not a one-time expression: {expression!r}")
    moment = datetime.strptime(expression[3:-1], "%Y-%m-%dT%H:%M:%S").replace(tzinfo=UTC)
    return int(moment.timestamp() * 1000)


class EventBridgePollScheduler:
    def __init__(self, client: Any, group: str, target: SchedulerTarget) -> None:
        self._client = client
        self._group = group
        self._target = target

    def schedule(self, payload: PollPayload, at_ms: int) -> bool:
        try:
            self._client.create_schedule(**self._definition(payload, at_ms), State="ENABLED")
        except ClientError as error:
            if _code(error) == "ConflictException":
                return False
            raise _classified("CreateSchedule", error) from error
        except BotoCoreError as error:
            raise TransientError(f"scheduler CreateSchedule: {error}") from error
        return True

    def retire(self, poll: ScheduledPoll) -> bool:
        """UpdateSchedule replaces the whole definition: the same one, DISABLED."""
        try:
            self._client.update_schedule(**self._definition(poll.payload, poll.at_ms), State="DISABLED")
        except ClientError as error:
            if _code(error) == "ResourceNotFoundException":
                return False
            raise _classified("UpdateSchedule", error) from error
        except BotoCoreError as error:
            raise TransientError(f"scheduler UpdateSchedule: {error}") from error
        return True

    def _definition(self, payload: PollPayload, at_ms: int) -> dict[str, Any]:
        body = json.dumps({**payload.model_dump(mode="json"), "scheduler": SCHEDULER_CONTEXT})
        if len(body.encode()) > MAX_INPUT_BYTES:
            raise PermanentError(
                f"taskPayload is {len(body.encode())} bytes; the scheduler takes {MAX_INPUT_BYTES}", "invalid_data"
            )
        return {
            "Name": schedule_name(payload.unit, payload.pollNumber),
            "GroupName": self._group,
            "ScheduleExpression": schedule_expression(at_ms),
            "ScheduleExpressionTimezone": "UTC",
            "FlexibleTimeWindow": {"Mode": "OFF"},
            "ActionAfterCompletion": "NONE",
            "Description": f"pollbridge poll {payload.pollNumber} of task {payload.origTaskId}"[:512],
            "Target": {
                "Arn": self._target.function_arn,
                "RoleArn": self._target.role_arn,
                "Input": body,
                "RetryPolicy": {
                    "MaximumEventAgeInSeconds": self._target.max_event_age_s,
                    "MaximumRetryAttempts": self._target.max_retries,
                },
                "DeadLetterConfig": {"Arn": self._target.dead_letter_arn},
            },
        }

    def find(self, unit: str, poll_number: int) -> ScheduledPoll | None:
        """Active or retired (ScheduledPoll.active)."""
        found = self._get(schedule_name(unit, poll_number))
        if found is None or found.payload.unit != unit or found.payload.pollNumber != poll_number:
            return None  # not this task's (a name can only be shared by tampering; never trust it)
        return found

    def unschedule(self, name: str) -> bool:
        try:
            self._client.delete_schedule(Name=name, GroupName=self._group)
        except ClientError as error:
            if _code(error) == "ResourceNotFoundException":
                return False
            raise _classified("DeleteSchedule", error) from error
        except BotoCoreError as error:
            raise TransientError(f"scheduler DeleteSchedule: {error}") from error
        return True

    def pending(self, unit: str | None = None) -> list[ScheduledPoll]:
        """For operators only (a listing, eventually consistent): never on the loop's path."""
        found = []
        query = {"GroupName": self._group}
        if unit is not None:
            query["NamePrefix"] = schedule_prefix(unit)
        for page in self._client.get_paginator("list_schedules").paginate(**query):
            for summary in page.get("Schedules", []):
                scheduled = self._get(summary["Name"])
                if scheduled is not None and scheduled.active and unit in (None, scheduled.payload.unit):
                    found.append(scheduled)  # still to be handled (retired polls are not pending)
        return found

    def _get(self, name: str) -> ScheduledPoll | None:
        try:
            schedule = self._client.get_schedule(Name=name, GroupName=self._group)
        except ClientError as error:
            if _code(error) == "ResourceNotFoundException":
                return None
            raise _classified("GetSchedule", error) from error
        except BotoCoreError as error:
            raise TransientError(f"scheduler GetSchedule: {error}") from error
        try:
            payload = PollPayload.model_validate_json(schedule["Target"]["Input"])
            at_ms = parse_schedule_expression(schedule["ScheduleExpression"])
        except (KeyError, ValueError, ValidationError):
            return None  # not one of ours
        return ScheduledPoll(name=name, at_ms=at_ms, payload=payload, active=schedule.get("State") != "DISABLED")


def _code(error: ClientError) -> str:
    return str(error.response.get("Error", {}).get("Code", ""))


def _classified(operation: str, error: ClientError) -> TransientError | PermanentError:
    """Throttling and server errors are transient; anything else (AccessDenied, validation) will
    fail the same way again."""
    code = _code(error)
    status = int(error.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0) or 0)
    message = f"scheduler {operation}: {code or status}"
    if code in _TRANSIENT_CODES or status >= 500 or status == 429:
        return TransientError(message)
    return PermanentError(message, "system_error")
