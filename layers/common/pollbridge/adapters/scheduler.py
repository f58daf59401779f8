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
from typing import TYPE_CHECKING, Literal, TypedDict

from pydantic import ValidationError

from pollbridge.adapters.aws import aws_call_tolerating
from pollbridge.errors import PermanentError
from pollbridge.models import PollPayload
from pollbridge.naming import schedule_name, schedule_prefix
from pollbridge.ports import ScheduledPoll

if TYPE_CHECKING:
    from mypy_boto3_scheduler import EventBridgeSchedulerClient
    from mypy_boto3_scheduler.type_defs import FlexibleTimeWindowTypeDef, TargetTypeDef

# Filled in by the scheduler on each delivery; the poll function logs them (attempt, lateness).
SCHEDULER_CONTEXT = {
    "scheduleArn": "<aws.scheduler.schedule-arn>",
    "scheduledTime": "<aws.scheduler.scheduled-time>",
    "executionId": "<aws.scheduler.execution-id>",
    "attemptNumber": "<aws.scheduler.attempt-number>",
}
MAX_INPUT_BYTES = 256 * 1024  # Scheduler's limit for Target.Input


class _Definition(TypedDict):
    """What CreateSchedule and UpdateSchedule both take (UpdateSchedule replaces all of it)."""

    Name: str
    GroupName: str
    ScheduleExpression: str
    ScheduleExpressionTimezone: str
    FlexibleTimeWindow: FlexibleTimeWindowTypeDef
    ActionAfterCompletion: Literal["NONE"]
    Description: str
    Target: TargetTypeDef


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
    """The PollScheduler port on EventBridge Scheduler. Errors: adapters.aws (a throttle or 5xx is
    retried by botocore, then TransientError; anything else PermanentError system_error)."""

    def __init__(self, client: EventBridgeSchedulerClient, group: str, target: SchedulerTarget) -> None:
        self._client = client
        self._group = group
        self._target = target

    def schedule(self, payload: PollPayload, at_ms: int) -> bool:
        definition = self._definition(payload, at_ms)
        created = aws_call_tolerating(
            "scheduler CreateSchedule",
            lambda: self._client.create_schedule(**definition, State="ENABLED"),
            ("ConflictException",),  # the name exists: this poll was created before
            infrastructure=True,
        )
        return created is not None

    def retire(self, poll: ScheduledPoll) -> bool:
        """UpdateSchedule replaces the whole definition: the same one, DISABLED."""
        definition = self._definition(poll.payload, poll.at_ms)
        updated = aws_call_tolerating(
            "scheduler UpdateSchedule",
            lambda: self._client.update_schedule(**definition, State="DISABLED"),
            ("ResourceNotFoundException",),
            infrastructure=True,
        )
        return updated is not None

    def _definition(self, payload: PollPayload, at_ms: int) -> _Definition:
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
        deleted = aws_call_tolerating(
            "scheduler DeleteSchedule",
            lambda: self._client.delete_schedule(Name=name, GroupName=self._group),
            ("ResourceNotFoundException",),
            infrastructure=True,
        )
        return deleted is not None

    def pending(self, unit: str | None = None) -> list[ScheduledPoll]:
        """For operators only (a listing, eventually consistent): never on the loop's path."""
        found = []
        listing = self._client.get_paginator("list_schedules")
        if unit is None:
            pages = listing.paginate(GroupName=self._group)
        else:
            pages = listing.paginate(GroupName=self._group, NamePrefix=schedule_prefix(unit))
        for page in pages:
            for summary in page.get("Schedules", []):
                scheduled = self._get(summary["Name"])
                if scheduled is not None and scheduled.active and unit in (None, scheduled.payload.unit):
                    found.append(scheduled)  # still to be handled (retired polls are not pending)
        return found

    def _get(self, name: str) -> ScheduledPoll | None:
        schedule = aws_call_tolerating(
            "scheduler GetSchedule",
            lambda: self._client.get_schedule(Name=name, GroupName=self._group),
            ("ResourceNotFoundException",),
            infrastructure=True,
        )
        if schedule is None:
            return None
        try:
            payload = PollPayload.model_validate_json(schedule["Target"]["Input"])
            at_ms = parse_schedule_expression(schedule["ScheduleExpression"])
        except (KeyError, ValueError, ValidationError):
            return None  # not one of ours
        return ScheduledPoll(name=name, at_ms=at_ms, payload=payload, active=schedule.get("State") != "DISABLED")
