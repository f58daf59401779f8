"""EventBridge Scheduler: one one-time schedule per poll, named by origTaskId and poll number."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from botocore.exceptions import ClientError
from pydantic import ValidationError

from pollbridge.errors import PermanentError, TransientError
from pollbridge.models import PollPayload
from pollbridge.naming import schedule_name, schedule_prefix
from pollbridge.ports import ScheduledPoll
from pollbridge.timing import parse_schedule_expression, schedule_expression

# Filled in by the scheduler on each delivery; the poll function logs them (attempt, lateness).
SCHEDULER_CONTEXT = {
    "scheduleArn": "<aws.scheduler.schedule-arn>",
    "scheduledTime": "<aws.scheduler.scheduled-time>",
    "executionId": "<aws.scheduler.execution-id>",
    "attemptNumber": "<aws.scheduler.attempt-number>",
}
MAX_INPUT_BYTES = 256 * 1024  # Scheduler's limit for Target.Input


@dataclass(frozen=True)
class SchedulerTarget:
    function_arn: str
    role_arn: str
    dead_letter_arn: str
    max_event_age_s: int = 3600
    max_retries: int = 10


class EventBridgePollScheduler:
    def __init__(self, client: Any, group: str, target: SchedulerTarget) -> None:
        self._client = client
        self._group = group
        self._target = target

    def schedule(self, payload: PollPayload, at_ms: int) -> bool:
        body = json.dumps({**payload.model_dump(mode="json"), "scheduler": SCHEDULER_CONTEXT})
        if len(body.encode()) > MAX_INPUT_BYTES:
            raise PermanentError(
                f"taskPayload is {len(body.encode())} bytes; the scheduler takes {MAX_INPUT_BYTES}", "invalid_data"
            )
        try:
            self._client.create_schedule(
                Name=schedule_name(payload.origTaskId, payload.pollNumber),
                GroupName=self._group,
                ScheduleExpression=schedule_expression(at_ms),
                ScheduleExpressionTimezone="UTC",
                FlexibleTimeWindow={"Mode": "OFF"},
                ActionAfterCompletion="DELETE",
                Description=f"pollbridge poll {payload.pollNumber} of task {payload.origTaskId}"[:512],
                Target={
                    "Arn": self._target.function_arn,
                    "RoleArn": self._target.role_arn,
                    "Input": body,
                    "RetryPolicy": {
                        "MaximumEventAgeInSeconds": self._target.max_event_age_s,
                        "MaximumRetryAttempts": self._target.max_retries,
                    },
                    "DeadLetterConfig": {"Arn": self._target.dead_letter_arn},
                },
            )
        except ClientError as error:
            code = error.response.get("Error", {}).get("Code")
            if code == "ConflictException":
                return False
            if code in ("ThrottlingException", "InternalServerException", "ServiceQuotaExceededException"):
                raise TransientError(f"scheduler: {code}") from error
            raise
        return True

    def find(self, orig_task_id: str, poll_number: int) -> ScheduledPoll | None:
        return self._get(schedule_name(orig_task_id, poll_number))

    def unschedule(self, name: str) -> bool:
        try:
            self._client.delete_schedule(Name=name, GroupName=self._group)
        except ClientError as error:
            if error.response.get("Error", {}).get("Code") == "ResourceNotFoundException":
                return False
            raise
        return True

    def pending(self, orig_task_id: str | None = None) -> list[ScheduledPoll]:
        found = []
        query = {"GroupName": self._group}
        if orig_task_id is not None:
            query["NamePrefix"] = schedule_prefix(orig_task_id)
        for page in self._client.get_paginator("list_schedules").paginate(**query):
            for summary in page.get("Schedules", []):
                scheduled = self._get(summary["Name"])
                if scheduled is not None and orig_task_id in (None, scheduled.payload.origTaskId):
                    found.append(scheduled)
        return found

    def _get(self, name: str) -> ScheduledPoll | None:
        try:
            schedule = self._client.get_schedule(Name=name, GroupName=self._group)
        except ClientError as error:
            if error.response.get("Error", {}).get("Code") == "ResourceNotFoundException":
                return None
            raise
        try:
            payload = PollPayload.model_validate_json(schedule["Target"]["Input"])
            at_ms = parse_schedule_expression(schedule["ScheduleExpression"])
        except (KeyError, ValueError, ValidationError):
            return None  # not one of ours
        return ScheduledPoll(name=name, at_ms=at_ms, payload=payload)
