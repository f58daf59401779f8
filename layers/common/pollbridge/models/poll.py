"""The poll side of the seed's contract: taskPayload, schedule_poll_task, and the scheduled event."""

from __future__ import annotations

import functools
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, StrictBool, StrictInt, TypeAdapter

from pollbridge.models.common import CallbackUrl, EngineConfig, EpochMs, Identifier, MediaType, NonEmptyStr, OffsetMs
from pollbridge.naming import unit_key

MAX_POLLS = 9_999_999  # poll numbers fit the schedule names (naming.MAX_POLL_DIGITS)
# A share of the work done, as a vendor reports it (whole numbers too: a JavaScript hop writes 1.0 as 1)
Progress = Annotated[float, Field(strict=True, ge=0, le=1, allow_inf_nan=False)]

# Inline text (a chunk's `content`) a deferred submit carries in its payload, at most: with the rest of
# the payload well within core.MAX_PAYLOAD_BYTES. Larger content cannot wait for the vendor here.
MAX_CARRIED_CONTENT = 8 * 1024
# The longest vendor reference to staged media a payload carries (a longer one is sent again instead).
MAX_STAGED_REF = 1024


@functools.cache
def _work_id() -> TypeAdapter[str]:
    """The workId field's contract alone (built on first use: a segment that starts a job)."""
    return TypeAdapter(Identifier)


class PollPayload(BaseModel):
    """Everything a poll needs: state lives here and nowhere else.

    The seed's keys come first; the rest are pollbridge's own bookkeeping.
    """

    model_config = ConfigDict(frozen=True, extra="ignore", defer_build=True)

    workId: Identifier
    isPollTask: Literal[True]
    origTaskId: Identifier
    origTdoId: Identifier
    origJobId: Identifier
    origCallTimeUTC: EpochMs
    engineConfig: EngineConfig = Field(default_factory=dict)
    provider: NonEmptyStr = "http"
    pollNumber: StrictInt = Field(ge=1, le=MAX_POLLS, description="which poll this payload runs as (1 = first)")
    deadlineUTC: EpochMs = Field(description="after this the task fails as timed out")
    mediaOffsetMs: OffsetMs = Field(default=0, description="chunk start within the TDO")
    transientErrors: StrictInt = Field(default=0, ge=0, le=MAX_POLLS, description="consecutive vendor errors")
    lastPollUTC: EpochMs | None = Field(default=None, description="when the previous poll ran")
    notBeforeUTC: EpochMs | None = Field(default=None, description="an earlier delivery is a replay, not a poll")
    heartbeatWebhook: CallbackUrl | None = Field(default=None, description="the platform's URL each poll reports to")
    chunk: str | None = Field(
        default=None, max_length=128, description="the chunk the task runs (chunkUUID, else chunkIndex)"
    )
    # The timing policy's memory (pollbridge.timing); left out of the signed form while unset, so
    # payloads signed before these existed still verify.
    mediaMs: OffsetMs | None = Field(default=None, description="the chunk's media duration, when known")
    maxLagS: StrictInt | None = Field(default=None, ge=60, le=86_400, description="the task's lag budget")
    # What the vendor said on the previous poll (at lastPollUTC): with what it says now, the policy
    # reads how its estimates drift (timing.estimate_completion). Cleared by next(), set by decisions.
    lastEtaUTC: EpochMs | None = Field(default=None, description="the vendor's ETA on the previous poll")
    lastProgress: Progress | None = Field(default=None, description="the vendor's progress on the previous poll")
    lastQueued: Literal[True] | None = Field(default=None, description="the previous poll saw the job not started")
    # The vendor's first ETA and the poll that saw it, kept to the end: the EtaAccuracy metric.
    firstEtaUTC: EpochMs | None = Field(default=None, description="the first ETA the vendor gave")
    firstEtaSeenUTC: EpochMs | None = Field(default=None, description="when the vendor gave it")
    # Units of work and deferred submits (left out of the signed form while unset, as above).
    chunkScoped: Literal[True] | None = Field(
        default=None, description="the chunk is its own unit of work (its own job, schedules and record)"
    )
    awaitingSubmit: Literal[True] | None = Field(
        default=None, description="the vendor has not taken the job yet: this poll submits it again"
    )
    mediaUri: str | None = Field(default=None, max_length=4096, description="where a deferred submit reads the media")
    mediaType: MediaType | None = Field(default=None, description="the media's type, for a deferred submit")
    mediaContent: str | None = Field(
        default=None,
        max_length=MAX_CARRIED_CONTENT,
        description="a text chunk's inline content, carried for a deferred submit (it has no cacheURI to re-read)",
    )
    stagedMedia: str | None = Field(
        default=None,
        max_length=MAX_STAGED_REF,
        description="the media a refused submit left at the vendor (its upload url): the next submit starts from it",
    )
    stagedAtUTC: EpochMs | None = Field(default=None, description="when the vendor first took that media")
    scheduledBy: Literal["platform"] | None = Field(
        default=None, description="who holds the chain: the platform (its poll tasks), else EventBridge Scheduler"
    )
    signature: str | None = Field(
        default=None,
        pattern=r"^(v1|v2\.[A-Za-z0-9_-]{1,64})\.[A-Za-z0-9_-]{43}$",
        description="HMAC over the rest: v2.<key id>.<mac>, or v1.<mac> naming no key (see pollbridge.signing)",
    )

    @property
    def unit(self) -> str:
        """The key of this payload's unit of work (naming.unit_key): its chunk, or the whole task."""
        return unit_key(self.origTaskId, self.chunk if self.chunkScoped else None)

    def started(self, work_id: str) -> PollPayload:
        """This payload once the vendor took the job: its id (checked as the contract says: a
        ValueError when it cannot be carried), and nothing of the deferred submit any more."""
        return self.model_copy(
            update={
                "workId": _work_id().validate_python(work_id),
                **dict.fromkeys(
                    ("awaitingSubmit", "mediaUri", "mediaType", "mediaContent", "stagedMedia", "stagedAtUTC")
                ),
            }
        )

    def next(self, now_ms: int, *, vendor_error: bool = False) -> PollPayload:
        """The payload of the following poll (unsigned: core signs what it schedules)."""
        return self.model_copy(
            update={
                "pollNumber": min(self.pollNumber + 1, MAX_POLLS),
                "transientErrors": min(self.transientErrors + 1, MAX_POLLS) if vendor_error else 0,
                "lastPollUTC": now_ms,
                "lastEtaUTC": None,  # what this poll saw is decisions' to add (nothing after an error)
                "lastProgress": None,
                "lastQueued": None,
                "notBeforeUTC": None,
                "signature": None,
            }
        )


class SchedulerContext(BaseModel):
    """What EventBridge Scheduler fills into the Input's placeholders on each delivery."""

    model_config = ConfigDict(frozen=True, extra="ignore", defer_build=True)

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

    model_config = ConfigDict(frozen=True, defer_build=True)

    type: Literal["schedule_poll_task"] = "schedule_poll_task"
    timestampUTC: EpochMs
    nextPollTimeUTC: EpochMs
    taskId: Identifier
    taskPayload: PollPayload
    alreadyScheduled: StrictBool | None = Field(
        default=None, description="true when a repeated delivery found the schedule already made"
    )
