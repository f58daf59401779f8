"""The segment side: aiWARE's media_chunk message, new work or a poll routed back as a segment."""

from __future__ import annotations

from typing import Any, Literal, Self
from urllib.parse import urlsplit

from pydantic import BaseModel, ConfigDict, Field, StrictInt, ValidationInfo, field_validator, model_validator

from pollbridge.models.common import CallbackUrl, EngineConfig, EpochMs, Identifier, MediaType, OffsetMs
from pollbridge.models.parsing import parse_event
from pollbridge.models.poll import PollPayload
from pollbridge.naming import unit_key

MEDIA_SCHEMES = ("https", "http", "s3")


class _ChunkBase(BaseModel):
    model_config = ConfigDict(frozen=True, extra="ignore", defer_build=True)

    type: Literal["media_chunk"]
    taskId: Identifier
    tdoId: Identifier
    jobId: Identifier
    mimeType: MediaType
    timestampUTC: EpochMs | None = None
    chunkUUID: str | None = None
    chunkIndex: StrictInt | None = Field(default=None, ge=0, le=10_000_000)
    startOffsetMs: OffsetMs = 0
    endOffsetMs: OffsetMs | None = None

    @property
    def chunk_key(self) -> str | None:
        """Which chunk of its task this is: chunkUUID, else chunkIndex (None when neither is given)."""
        if self.chunkUUID:
            return self.chunkUUID[:128]
        return None if self.chunkIndex is None else str(self.chunkIndex)

    @property
    def unit(self) -> str:
        """This chunk's unit of work (naming.unit_key): its own job, schedules and record."""
        return unit_key(self.taskId, self.chunk_key)

    @property
    def media_ms(self) -> int | None:
        """The chunk's media duration, when its offsets give one."""
        if self.endOffsetMs is None or self.endOffsetMs <= self.startOffsetMs:
            return None
        return self.endOffsetMs - self.startOffsetMs

    @property
    def origTaskId(self) -> str:
        """The task results are reported against."""
        payload = getattr(self, "taskPayload", None)
        return payload.origTaskId if isinstance(payload, PollPayload) else self.taskId


class MediaChunk(_ChunkBase):
    """A new segment to hand to the third party: media by `cacheURI`, or text in `content`."""

    cacheURI: str | None = Field(default=None, max_length=4096)
    content: str | None = None
    taskPayload: EngineConfig = Field(default_factory=dict)
    heartbeatWebhook: CallbackUrl | None = None

    @field_validator("cacheURI")
    @classmethod
    def _known_scheme(cls, uri: str | None) -> str | None:
        if uri is None:
            return None
        parts = urlsplit(uri)
        if parts.scheme not in MEDIA_SCHEMES or not parts.netloc:
            raise ValueError(f"must be an {', '.join(s + '://' for s in MEDIA_SCHEMES)} URI")
        if parts.scheme == "s3" and not parts.path.strip("/"):
            raise ValueError("an s3:// URI needs a key: s3://bucket/key")
        return uri

    @model_validator(mode="after")
    def _has_media(self, info: ValidationInfo) -> Self:
        # The webhook validates with context {"uploaded": True} when the request carried the bytes
        # (the `chunk` file part): a JSON event cannot set a validation context.
        uploaded = bool(info.context and info.context.get("uploaded"))
        if not self.cacheURI and self.content is None and not uploaded:
            raise ValueError("cacheURI or content is required")
        if self.cacheURI and self.content is not None:
            raise ValueError("give cacheURI or content, not both")
        return self


class PolledChunk(_ChunkBase):
    """A scheduled poll that aiWARE routed back to the engine as a new segment."""

    taskPayload: PollPayload


type SegmentEvent = MediaChunk | PolledChunk


def parse_segment(event: Any) -> SegmentEvent:
    """Pick the model by `taskPayload.isPollTask`, then validate strictly against it."""
    if isinstance(event, dict):
        payload = event.get("taskPayload")
        if isinstance(payload, dict) and payload.get("isPollTask") is True:
            return parse_event(event, PolledChunk, "poll segment")
    return parse_event(event, MediaChunk, "media_chunk")
