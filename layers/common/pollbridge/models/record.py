"""The task record written back for origTaskId, shaped like aiWARE's updateTask input."""

from __future__ import annotations

from typing import Any, Literal, Self

from pydantic import BaseModel, ConfigDict, model_validator

from pollbridge.models.common import CleanText, EpochMs, Identifier
from pollbridge.naming import unit_key

TaskFailureReason = Literal[
    "internal_error", "unknown", "url_not_found", "url_not_allowed", "url_timeout",
    "url_connection_refused", "url_error", "invalid_data", "rate_limited", "api_not_allowed",
    "api_authentication_error", "api_not_found", "api_error", "file_write_error",
    "system_dependency_missing", "system_error", "other",
    "external_error", "stream_read_error", "heartbeat_timeout",  # aiWARE V3 engine docs
]  # fmt: skip


class TaskRecord(BaseModel):
    model_config = ConfigDict(frozen=True, defer_build=True)

    taskId: Identifier
    jobId: Identifier
    tdoId: Identifier
    status: Literal["complete", "failed", "cancelled"]
    output: dict[str, Any] | None = None
    failureReason: TaskFailureReason | None = None
    failureMessage: CleanText | None = None
    workId: str | None = None
    chunk: str | None = None  # the chunk this record is for (chunkUUID, else chunkIndex); None: the whole task
    polls: int
    completedAtUTC: EpochMs

    @property
    def unit(self) -> str:
        """The key of the unit of work this record closes (naming.unit_key)."""
        return unit_key(self.taskId, self.chunk)

    @model_validator(mode="after")
    def _status_matches_fields(self) -> Self:
        if self.status == "complete" and self.output is None:
            raise ValueError("a complete record needs output")
        if self.status == "failed" and not (self.failureReason and self.failureMessage):
            raise ValueError("a failed record needs failureReason and failureMessage")
        return self
