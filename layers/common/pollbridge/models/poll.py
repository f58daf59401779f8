"""The poll side of the seed's contract: taskPayload, schedule_poll_task, and the scheduled event."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StrictBool, StrictInt

from pollbridge.models.common import EpochMs, NonEmptyStr


class PollPayload(BaseModel):
    """Everything a poll needs: state lives here and nowhere else.

    The seed's keys come first; the rest are pollbridge's own bookkeeping.
    """

    model_config = ConfigDict(frozen=True, extra="ignore")

    workId: NonEmptyStr
    isPollTask: Literal[True]
    origTaskId: NonEmptyStr
    origTdoId: NonEmptyStr
    origJobId: NonEmptyStr
    origCallTimeUTC: EpochMs
    engineConfig: dict[str, Any] = Field(default_factory=dict)
    provider: NonEmptyStr = "http"
    pollNumber: StrictInt = Field(ge=1, description="which poll this payload runs as (1 = first)")
    deadlineUTC: EpochMs = Field(description="after this the task fails as timed out")
    mediaOffsetMs: StrictInt = Field(default=0, ge=0, description="chunk start within the TDO")
    transientErrors: StrictInt = Field(default=0, ge=0, description="consecutive transient errors")

    def next(self, *, transient_error: bool = False) -> PollPayload:
        """The payload of the following poll."""
        return self.model_copy(
            update={
                "pollNumber": self.pollNumber + 1,
                "transientErrors": self.transientErrors + 1 if transient_error else 0,
            }
        )


class SchedulerContext(BaseModel):
    """What EventBridge Scheduler fills into the Input's placeholders on each delivery."""

    model_config = ConfigDict(frozen=True, extra="ignore")

    scheduleArn: str | None = None
    scheduledTime: str | None = None
    executionId: str | None = None
    attemptNumber: StrictInt | str | None = None


class PollEvent(PollPayload):
    """The poll function's event: the taskPayload plus the scheduler's context."""

    scheduler: SchedulerContext | None = None

    def payload(self) -> PollPayload:
        return PollPayload.model_validate(self.model_dump(exclude={"scheduler"}))


class SchedulePollTask(BaseModel):
    """The engine's reply while the work is still running (seed, step 1)."""

    model_config = ConfigDict(frozen=True)

    type: Literal["schedule_poll_task"] = "schedule_poll_task"
    timestampUTC: EpochMs
    nextPollTimeUTC: EpochMs
    taskId: NonEmptyStr
    taskPayload: PollPayload
    alreadyScheduled: StrictBool | None = Field(
        default=None, description="true when a repeated delivery found the schedule already made"
    )
