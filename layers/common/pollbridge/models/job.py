"""What a third-party job looks like, whichever vendor runs it."""

from __future__ import annotations

from enum import StrEnum

from pydantic import BaseModel, ConfigDict, Field

from pollbridge.models.common import CleanText, EpochMs


class JobStatus(StrEnum):
    """The seed's job statuses; providers map their own onto these."""

    PENDING = "Pending"
    QUEUED = "Queued"
    RUNNING = "Running"
    COMPLETE = "Complete"
    CANCELED = "Canceled"
    FAILED = "Failed"

    @property
    def finished(self) -> bool:
        return self in (JobStatus.COMPLETE, JobStatus.CANCELED, JobStatus.FAILED)


class JobState(BaseModel):
    model_config = ConfigDict(defer_build=True)

    status: JobStatus
    progress: float | None = Field(default=None, ge=0, le=1)
    estimated_completion_utc: EpochMs | None = None
    error_code: CleanText | None = None
    error_message: CleanText | None = None
